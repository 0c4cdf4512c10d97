/* sockbrokerd: arguments, configuration, run. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "config.h"
#include "config-check.h"
#include "daemon.h"
#include "log.h"
#include "monitor.h"
#include "paths.h"
#include "privileges.h"
#include "systemd.h"
#include "sha256.h"
#include "wire.h"
#include "policy.h"

static void
usage(FILE *out)
{
	fprintf(out,
		"Usage: sockbrokerd [OPTIONS]\n"
		"\n"
		"Own real sockets and run socket operations for clients without a network of\n"
		"their own, over NNG request/reply (see the project's README).\n"
		"\n"
		"Options:\n"
		"  -l, --listen URL      listen on URL (repeatable): ipc://PATH, abstract://NAME,\n"
		"                        tcp://HOST:PORT (loopback only, unless\n"
		"                        auth.require_token lists tcp), tls+tcp://HOST:PORT\n"
		"  -c, --config FILE     read the JSON configuration FILE\n"
		"                        (schema/config.schema.json describes it)\n"
		"      --check-config    validate the configuration, print it, and exit\n"
		"      --hash-token      read an access token from standard input and print\n"
		"                        its SHA-256, for auth.tokens, and exit\n"
		"      --log-level LEVEL error, warn, info (default) or debug\n"
		"  -V, --version         print the version and exit\n"
		"  -h, --help            print this help and exit\n"
		"\n"
		"With no --listen and no \"listen\" in the configuration, the daemon listens on\n"
		"ipc:///run/sockbroker/sockbroker.sock as root, else on\n"
		"ipc://$XDG_RUNTIME_DIR/sockbroker/sockbroker.sock, else in /tmp/sockbroker-UID/.\n"
		"Clients find it through $SOCKBROKER_URL or the same default.\n");
}

/* Every client socket is an fd of the daemon: take the whole hard limit, as
 * network daemons do, so that the per-session quotas and not a low default
 * soft limit (often 1024) decide how many sockets clients may hold. */
static void
raise_fd_limit(void)
{
	struct rlimit limit;
	if (getrlimit(RLIMIT_NOFILE, &limit) < 0 || limit.rlim_cur >= limit.rlim_max)
		return;
	rlim_t wanted = limit.rlim_max;
	limit.rlim_cur = wanted;
	if (setrlimit(RLIMIT_NOFILE, &limit) < 0)
		log_warn("cannot raise the open-file limit to %llu: %s; clients may get EMFILE "
			 "before their quota", (unsigned long long)wanted, strerror(errno));
	else
		log_debug("open-file limit raised to %llu", (unsigned long long)wanted);
}

/* --hash-token: the SHA-256 of a token read from standard input (never from
 * the command line, where other users could see it), as sha256sum prints it.
 * One trailing line break is not part of the token, so that `echo` and a
 * token typed at a terminal hash like `printf %s "$TOKEN" | sha256sum`. */
static int
hash_token(void)
{
	char token[WIRE_TOKEN_MAX + 3];
	uint8_t digest[SHA256_DIGEST_LEN];
	char hex[SHA256_HEX_LEN + 1];
	size_t len = fread(token, 1, sizeof(token), stdin);
	int status = EXIT_FAILURE;

	if (ferror(stdin)) {
		fprintf(stderr, "sockbrokerd: --hash-token: cannot read standard input: %s\n",
			strerror(errno));
		goto out;
	}
	if (len > 0 && token[len - 1] == '\n')
		len--;
	if (len > 0 && token[len - 1] == '\r')
		len--;
	if (len == 0) {
		fprintf(stderr, "sockbrokerd: --hash-token: standard input holds no token; "
				"write the token to it, as in: printf %%s \"$TOKEN\" | "
				"sockbrokerd --hash-token\n");
		goto out;
	}
	if (len > WIRE_TOKEN_MAX || memchr(token, '\0', len)) {
		fprintf(stderr, "sockbrokerd: --hash-token: a token is at most %d bytes long "
				"and holds no NUL byte\n",
			WIRE_TOKEN_MAX);
		goto out;
	}
	sha256_digest(token, len, digest);
	sha256_to_hex(digest, hex);
	printf("%s\n", hex);
	status = EXIT_SUCCESS;
out:
	explicit_bzero(token, sizeof(token));
	return status;
}

/* What the command line asks for. */
struct args {
	char **listen; /* --listen URLs: they replace the file's, applied after it is read */
	size_t n_listen;
	const char *config_path, *log_level;
	bool check_only;
};

/* Read the command line into *args. Returns -1 to go on, or the exit status (--help,
 * --version, --hash-token, a usage error). */
static int
parse_args(int argc, char **argv, struct args *args)
{
	static const struct option options[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "hash-token", no_argument, NULL, 'H' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "l:c:Vh", options, NULL)) != -1) {
		switch (opt) {
		case 'l':
			args->listen[args->n_listen++] = optarg;
			break;
		case 'c':
			args->config_path = optarg;
			break;
		case 'C':
			args->check_only = true;
			break;
		case 'L':
			args->log_level = optarg;
			break;
		case 'H':
			return hash_token();
		case 'V':
			printf("sockbrokerd %s\n", SOCKBROKER_VERSION);
			return EXIT_SUCCESS;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sockbrokerd: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	return -1;
}

/* The configuration: the file, then --listen, the default listen URL and --log-level, then
 * validated. Returns -1 to go on, or the exit status. */
static int
load_config(const struct args *args, struct config *config)
{
	char err[1024];

	if (args->config_path &&
	    config_load_file(config, args->config_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "sockbrokerd: %s\n", err);
		return EXIT_FAILURE;
	}
	if (args->n_listen) {
		for (size_t i = 0; i < config->n_listen_urls; i++)
			free(config->listen_urls[i]);
		config->n_listen_urls = 0;
		for (size_t i = 0; i < args->n_listen; i++) {
			if (config_add_listen(config, args->listen[i], err, sizeof(err)) < 0) {
				fprintf(stderr, "sockbrokerd: --listen: %s\n", err);
				return EXIT_FAILURE;
			}
		}
	}
	/* Started by socket activation with no listener of its own configured:
	 * the passed sockets are all it serves. */
	if (config->n_listen_urls == 0 && systemd_listen_count() == 0) {
		char url[4200];
		paths_default_listen_url(url, sizeof(url));
		if (config_add_listen(config, url, err, sizeof(err)) < 0) {
			fprintf(stderr, "sockbrokerd: default listen URL: %s\n", err);
			return EXIT_FAILURE;
		}
	}
	if (args->log_level && log_level_from_name(args->log_level, &config->log_level) < 0) {
		fprintf(stderr, "sockbrokerd: --log-level: unknown level '%s' (error, warn, info, "
				"debug)\n",
			args->log_level);
		return 2;
	}
	if (config_validate(config, err, sizeof(err)) < 0) {
		fprintf(stderr, "sockbrokerd: %s\n", err);
		return EXIT_FAILURE;
	}
	return -1;
}

/* --check-config: the file form on stdout (it loads back), the effective rules as an
 * operator reads them on stderr. */
static int
print_config(const struct config *config)
{
	struct policy builtin = { 0 };
	char err[1024];

	if (config_check_files(config, stderr, err, sizeof(err)) < 0) {
		fprintf(stderr, "sockbrokerd: %s\n", err);
		return EXIT_FAILURE;
	}
	config_print(config, stdout);
	if (config->policy || policy_init_default(&builtin) == 0)
		policy_print(config->policy ? config->policy : &builtin, stderr);
	config_check_policy(config->policy, stderr);
	policy_fini(&builtin);
	return EXIT_SUCCESS;
}

/* Start the daemon and serve until it is told to stop. Returns the exit status. */
static int
serve(const struct config *config, const struct privileges_config *privileges)
{
	struct daemon *daemon;
	char err[1024];
	int status = EXIT_FAILURE;

	log_set_level(config->log_level);
	raise_fd_limit();
	if (daemon_new(&daemon, config, privileges, err, sizeof(err)) < 0) {
		log_error("cannot start: %s", err);
		return EXIT_FAILURE;
	}
	for (size_t i = 0; i < config->n_listen_urls; i++)
		fprintf(stderr, "sockbrokerd: listening on %s\n", config->listen_urls[i]);
	if (daemon_run(daemon) == 0 && !monitor_lost())
		status = EXIT_SUCCESS;
	daemon_free(daemon);
	return status;
}

int
main(int argc, char **argv)
{
	struct args args = { 0 };
	struct config config;
	struct privileges_config privileges;
	char err[1024];
	int status;

	config_init(&config);
	args.listen = calloc((size_t)argc, sizeof(*args.listen));
	if (!args.listen) {
		fprintf(stderr, "sockbrokerd: out of memory\n");
		return EXIT_FAILURE;
	}
	if ((status = parse_args(argc, argv, &args)) < 0 &&
	    (status = load_config(&args, &config)) < 0) {
		/* Users and groups are looked up once, before anything listens; a name
		 * that does not exist stops --check-config too. */
		if (privileges_resolve(&config, &privileges, err, sizeof(err)) < 0) {
			fprintf(stderr, "sockbrokerd: %s\n", err);
			status = EXIT_FAILURE;
		} else if (args.check_only) {
			status = print_config(&config);
		} else {
			status = serve(&config, &privileges);
		}
	}
	free(args.listen);
	config_fini(&config);
	return status;
}
