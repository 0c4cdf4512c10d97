/*
 * sbcat: connect stdin and stdout to one socket that sockbrokerd opens, in
 * the manner of socat. One thread copies stdin to the socket; the main
 * thread copies the socket to stdout and decides when it is over: a stream
 * ends when the peer closes, a datagram socket when stdin has ended and a
 * -t period passes without a datagram.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sockbroker.h"
#include "tokenfile.h"

#define EXIT_OPERATION 1
#define EXIT_USAGE 2
#define BUFFER_SIZE (64 * 1024)

static const char usage_text[] =
	"NAME\n"
	"    sbcat - connect stdin and stdout to a socket opened by sockbrokerd\n"
	"\n"
	"SYNOPSIS\n"
	"    sbcat [--broker URL] [--token-file FILE] [-t SECONDS] [-w SECONDS]\n"
	"          [--no-handoff] [-v]\n"
	"          ADDRESS\n"
	"    sbcat --help\n"
	"\n"
	"DESCRIPTION\n"
	"    sbcat asks the socket broker, sockbrokerd, to open one socket and copies\n"
	"    bytes both ways: stdin to the socket, the socket to stdout. sbcat itself\n"
	"    needs no network of its own, only a way to reach the broker (a unix\n"
	"    socket mounted into a sandbox, say).\n"
	"\n"
	"    On a stream, when stdin ends sbcat shuts down the socket's sending side\n"
	"    and keeps printing what arrives; it exits once the peer has closed,\n"
	"    whether or not stdin has ended.\n"
	"\n"
	"    Where the broker hands the connected TCP socket over (a local broker\n"
	"    whose policy allows it), sbcat copies the bytes on that socket itself,\n"
	"    at the kernel's speed; elsewhere every byte goes through the broker.\n"
	"\n"
	"ADDRESSES\n"
	"    tcp:HOST:PORT\n"
	"        Connect a TCP stream. HOST is a name or an address, resolved by the\n"
	"        broker; put IPv6 addresses in brackets: tcp:[::1]:8080.\n"
	"    tcp-listen:[HOST:]PORT\n"
	"        Listen (on 0.0.0.0 unless HOST is given), accept one connection and\n"
	"        bridge it. With PORT 0 the port the kernel chose is printed on\n"
	"        stderr: \"sbcat: listening on 0.0.0.0:PORT\".\n"
	"    udp:HOST:PORT\n"
	"        A connected UDP socket: each read from stdin is sent as one\n"
	"        datagram, and each datagram received is printed.\n"
	"    udp-listen:[HOST:]PORT\n"
	"        Receive datagrams and print them; what stdin gives is sent to the\n"
	"        last peer heard from (sbcat waits for a first datagram).\n"
	"    unix:PATH, unix:@NAME\n"
	"        Connect a unix stream socket; @NAME is a Linux abstract name.\n"
	"    unix-listen:PATH, unix-listen:@NAME\n"
	"        Listen on a unix stream socket and bridge the first connection.\n"
	"    tcp6:, tcp6-listen:, udp6:, udp6-listen:\n"
	"        The same over IPv6 (also chosen by a bracketed or IPv6 HOST).\n"
	"\n"
	"OPTIONS\n"
	"    --broker URL\n"
	"        The broker to use: ipc://PATH, abstract://NAME, tcp://HOST:PORT or\n"
	"        tls+tcp://HOST:PORT. Default: $SOCKBROKER_URL, else for root\n"
	"        ipc:///run/sockbroker/sockbroker.sock, else\n"
	"        ipc://$XDG_RUNTIME_DIR/sockbroker/sockbroker.sock, else\n"
	"        ipc:///tmp/sockbroker-UID/sockbroker.sock.\n"
	"    --token-file FILE\n"
	"        Give the broker the access token in FILE (a trailing line break is\n"
	"        not part of it), for brokers configured with tokens. Default:\n"
	"        $SOCKBROKER_TOKEN. There is no option for the token itself: other\n"
	"        users of the machine can read a command line.\n"
	"    -t SECONDS\n"
	"        The socket's timeout: a connect, accept, send or recv that takes\n"
	"        longer fails (\"sbcat: recv: timed out\"). On a datagram socket whose\n"
	"        stdin has ended, such a quiet period ends sbcat successfully.\n"
	"    -w SECONDS\n"
	"        A timeout for the connect alone.\n"
	"    --no-handoff\n"
	"        Keep every byte on the broker's path, even where the socket could be\n"
	"        handed over.\n"
	"    -v\n"
	"        Report progress on stderr.\n"
	"    -h, --help\n"
	"        Print this text.\n"
	"\n"
	"ENVIRONMENT\n"
	"    SOCKBROKER_URL                 the broker's URL (see --broker)\n"
	"    SOCKBROKER_TOKEN               the access token (see --token-file)\n"
	"    SOCKBROKER_TLS_CA_FILE         CA certificates for tls+tcp:// brokers\n"
	"    SOCKBROKER_TLS_CERT_KEY_FILE   client certificate and key for tls+tcp://\n"
	"\n"
	"EXIT STATUS\n"
	"    0 when the exchange ended normally, 1 when an operation failed (the\n"
	"    message names it: \"sbcat: connect 127.0.0.1:1: Connection refused\n"
	"    (ECONNREFUSED)\"), 2 for a usage error.\n"
	"\n"
	"EXAMPLES\n"
	"    echo hi | sbcat tcp:example.org:80\n"
	"    printf 'GET / HTTP/1.0\\r\\n\\r\\n' | sbcat -w 5 tcp:example.org:80\n"
	"    sbcat -v tcp-listen:8080\n"
	"    echo ping | sbcat -t 2 udp:[::1]:5353\n"
	"    SOCKBROKER_URL=ipc:///run/sockbroker/sockbroker.sock \\\n"
	"        unshare -n sbcat tcp:127.0.0.1:8080\n";

struct target {
	const char *spec;
	int family; /* the client's AF_*, as in struct sb_addr */
	bool stream;
	bool listen;
	struct sb_addr addr;
};

struct options {
	const char *broker_url;
	const char *token_file;
	double timeout;
	double connect_timeout;
	bool verbose;
	bool no_handoff;
	struct target target;
};

struct bridge {
	struct sb_client *client;
	sb_handle handle;
	const struct target *target;
	atomic_bool stdin_done;

	pthread_mutex_t lock;
	pthread_cond_t peer_known;
	bool have_peer; /* udp-listen: somebody to answer */
	struct sb_addr peer;
};

static pthread_mutex_t exit_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Leave at once, from whichever thread gets here first (the others wait
 * here until the process is gone): the stdin thread may sit in a read
 * that never returns, and the broker closes the session's sockets when
 * the connection drops.
 */
static _Noreturn void
finish(int status)
{
	pthread_mutex_lock(&exit_lock);
	fflush(stdout);
	fflush(stderr);
	_exit(status);
}

static _Noreturn void
usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static _Noreturn void
usage_error(const char *fmt, ...)
{
	va_list args;

	fputs("sbcat: ", stderr);
	va_start(args, fmt);
	vfprintf(stderr, fmt, args);
	va_end(args);
	fputs("\nUsage: sbcat [--broker URL] [-t SECONDS] [-w SECONDS] [-v] ADDRESS\n"
	      "Try 'sbcat --help' for more.\n",
	      stderr);
	exit(EXIT_USAGE);
}

/* "sbcat: connect 127.0.0.1:1: Connection refused (ECONNREFUSED)" */
static void
report(const char *op, const struct sb_addr *where, const struct sb_error *err)
{
	char address[512] = "";

	if (where != NULL) {
		address[0] = ' ';
		sb_addr_format(where, address + 1, sizeof(address) - 1);
	}
	if (err->errno_name[0] != '\0')
		fprintf(stderr, "sbcat: %s%s: %s (%s)\n", op, address, err->message,
			err->errno_name);
	else
		fprintf(stderr, "sbcat: %s%s: %s\n", op, address, err->message);
}

static double
parse_seconds(const char *option, const char *text)
{
	char *end;
	double seconds;

	errno = 0;
	seconds = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || !isfinite(seconds) || seconds <= 0.0)
		usage_error("%s wants a positive number of seconds, not '%s'", option, text);
	return seconds;
}

static unsigned
parse_port(const char *spec, const char *text)
{
	char *end;
	unsigned long port;

	errno = 0;
	port = strtoul(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || port > 65535)
		usage_error("bad port '%s' in '%s'", text, spec);
	return (unsigned)port;
}

/* HOST:PORT, [HOST]:PORT, or with `port_only` a bare PORT (host ""). */
static void
parse_inet(struct target *target, const char *rest, bool port_only, bool ipv6)
{
	char host[256];
	const char *port_text;
	bool bracketed = false;
	size_t host_len;
	unsigned port;
	int r;

	if (rest[0] == '[') {
		const char *close = strchr(rest, ']');

		if (close == NULL || close[1] != ':')
			usage_error("bad address '%s': expected [HOST]:PORT", target->spec);
		host_len = (size_t)(close - rest - 1);
		if (host_len >= sizeof(host))
			usage_error("host name too long in '%s'", target->spec);
		memcpy(host, rest + 1, host_len);
		port_text = close + 2;
		bracketed = true;
	} else {
		const char *colon = strrchr(rest, ':');

		if (colon == NULL) {
			if (!port_only)
				usage_error("bad address '%s': expected HOST:PORT", target->spec);
			host_len = 0;
			port_text = rest;
		} else {
			host_len = (size_t)(colon - rest);
			if (host_len >= sizeof(host))
				usage_error("host name too long in '%s'", target->spec);
			memcpy(host, rest, host_len);
			port_text = colon + 1;
		}
	}
	host[host_len] = '\0';
	if (!port_only && host_len == 0)
		usage_error("bad address '%s': the host is missing", target->spec);
	port = parse_port(target->spec, port_text);

	if (ipv6 || bracketed || strchr(host, ':') != NULL) {
		target->family = AF_INET6;
		r = sb_addr_inet6(&target->addr, host, port, 0, 0);
	} else {
		target->family = AF_INET;
		r = sb_addr_inet(&target->addr, host, port);
	}
	if (r < 0)
		usage_error("bad address '%s'", target->spec);
}

static void
parse_unix(struct target *target, const char *rest)
{
	int r;

	if (rest[0] == '\0')
		usage_error("bad address '%s': the path is missing", target->spec);
	target->family = AF_UNIX;
	if (rest[0] == '@')
		r = sb_addr_abstract(&target->addr, rest + 1, strlen(rest + 1));
	else
		r = sb_addr_unix(&target->addr, rest);
	if (r < 0)
		usage_error("path too long in '%s'", target->spec);
}

static void
parse_target(struct target *target, const char *spec)
{
	static const struct {
		const char *prefix;
		bool stream, listen, ipv6, is_unix;
	} kinds[] = {
		{ "tcp:", true, false, false, false },
		{ "tcp6:", true, false, true, false },
		{ "tcp-listen:", true, true, false, false },
		{ "tcp6-listen:", true, true, true, false },
		{ "udp:", false, false, false, false },
		{ "udp6:", false, false, true, false },
		{ "udp-listen:", false, true, false, false },
		{ "udp6-listen:", false, true, true, false },
		{ "unix:", true, false, false, true },
		{ "unix-listen:", true, true, false, true },
	};

	memset(target, 0, sizeof(*target));
	target->spec = spec;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t len = strlen(kinds[i].prefix);

		if (strncmp(spec, kinds[i].prefix, len) != 0)
			continue;
		target->stream = kinds[i].stream;
		target->listen = kinds[i].listen;
		if (kinds[i].is_unix)
			parse_unix(target, spec + len);
		else
			parse_inet(target, spec + len, kinds[i].listen, kinds[i].ipv6);
		return;
	}
	usage_error("unknown address '%s' (tcp:, tcp-listen:, udp:, udp-listen:, unix:, "
		    "unix-listen:)",
		    spec);
}

static void
parse_options(struct options *options, int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "broker", required_argument, NULL, 'b' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "no-handoff", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int option;

	options->broker_url = NULL;
	options->token_file = NULL;
	options->timeout = SB_TIMEOUT_NONE;
	options->connect_timeout = SB_TIMEOUT_NONE;
	options->verbose = false;
	options->no_handoff = false;
	opterr = 0;
	while ((option = getopt_long(argc, argv, "+t:w:vh", long_options, NULL)) != -1) {
		switch (option) {
		case 'b':
			options->broker_url = optarg;
			break;
		case 'T':
			options->token_file = optarg;
			break;
		case 't':
			options->timeout = parse_seconds("-t", optarg);
			break;
		case 'w':
			options->connect_timeout = parse_seconds("-w", optarg);
			break;
		case 'v':
			options->verbose = true;
			break;
		case 'N':
			options->no_handoff = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(EXIT_SUCCESS);
		default:
			if (optopt != 0 && strchr("tw", optopt) != NULL)
				usage_error("-%c wants a number of seconds", optopt);
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind == argc)
		usage_error("no ADDRESS given");
	if (optind + 1 < argc)
		usage_error("one ADDRESS only, not '%s' too", argv[optind + 1]);
	parse_target(&options->target, argv[optind]);
}

/* The daemon's number for a constant; this host's if it announced none. */
static int
constant(struct sb_client *client, const char *name, int fallback)
{
	int64_t value;

	return sb_constant(client, name, &value) == 0 ? (int)value : fallback;
}

static int
family_constant(struct sb_client *client, int family)
{
	switch (family) {
	case AF_INET6:
		return constant(client, "AF_INET6", AF_INET6);
	case AF_UNIX:
		return constant(client, "AF_UNIX", AF_UNIX);
	default:
		return constant(client, "AF_INET", AF_INET);
	}
}

static void
write_all(const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "sbcat: write to stdout: %s\n", strerror(errno));
			finish(EXIT_OPERATION);
		}
		p += n;
		len -= (size_t)n;
	}
}

static void
wait_for_peer(struct bridge *bridge, struct sb_addr *peer)
{
	pthread_mutex_lock(&bridge->lock);
	while (!bridge->have_peer)
		pthread_cond_wait(&bridge->peer_known, &bridge->lock);
	*peer = bridge->peer;
	pthread_mutex_unlock(&bridge->lock);
}

static void *
stdin_to_socket(void *arg)
{
	struct bridge *bridge = arg;
	const struct target *target = bridge->target;
	static char buf[BUFFER_SIZE];
	struct sb_error err;
	ssize_t n;
	int r;

	for (;;) {
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "sbcat: read from stdin: %s\n", strerror(errno));
			finish(EXIT_OPERATION);
		}
		if (n == 0)
			break;

		if (target->stream) {
			r = sb_sendall(bridge->client, bridge->handle, buf, (size_t)n, 0, &err);
		} else if (target->listen) {
			struct sb_addr peer;

			wait_for_peer(bridge, &peer);
			r = (int)sb_sendto(bridge->client, bridge->handle, buf, (size_t)n, 0, &peer,
					   &err);
		} else {
			r = (int)sb_send(bridge->client, bridge->handle, buf, (size_t)n, 0, &err);
		}
		if (r < 0) {
			report("send", NULL, &err);
			finish(EXIT_OPERATION);
		}
	}

	if (target->stream) {
		r = sb_shutdown(bridge->client, bridge->handle,
				constant(bridge->client, "SHUT_WR", SHUT_WR), &err);
		/* The peer may have closed first; its EOF ends sbcat anyway. */
		if (r < 0 && r != -ENOTCONN) {
			report("shutdown", NULL, &err);
			finish(EXIT_OPERATION);
		}
	}
	atomic_store(&bridge->stdin_done, true);
	return NULL;
}

/* Returns when the exchange is over; failures end the process. */
static void
socket_to_stdout(struct bridge *bridge)
{
	const struct target *target = bridge->target;
	static char buf[BUFFER_SIZE];
	struct sb_addr from;
	struct sb_error err;
	ssize_t n;

	for (;;) {
		if (target->listen && !target->stream)
			n = sb_recvfrom(bridge->client, bridge->handle, buf, sizeof(buf), 0, &from,
					&err);
		else
			n = sb_recv(bridge->client, bridge->handle, buf, sizeof(buf), 0, &err);
		if (n < 0) {
			if (!target->stream && err.kind == SB_ERR_TIMEOUT &&
			    atomic_load(&bridge->stdin_done))
				return;
			report("recv", NULL, &err);
			finish(EXIT_OPERATION);
		}
		/* An empty datagram is data; only a stream ends with 0. */
		if (n == 0 && target->stream)
			return;
		if (target->listen && !target->stream) {
			pthread_mutex_lock(&bridge->lock);
			bridge->peer = from;
			bridge->have_peer = true;
			pthread_cond_broadcast(&bridge->peer_known);
			pthread_mutex_unlock(&bridge->lock);
		}
		write_all(buf, (size_t)n);
	}
}

/*
 * The stream was handed over: copy stdin to `fd` and `fd` to stdout here, as
 * the RPC path does (stdin's end shuts the sending side; the peer's end
 * ends sbcat). `timeout` bounds each wait, as -t does on the broker's path.
 */
static void
relay_native(int fd, double timeout)
{
	static char buf[BUFFER_SIZE];
	bool stdin_open = true;
	int wait_ms = timeout == SB_TIMEOUT_NONE ? -1 : (int)(timeout * 1000);

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	for (;;) {
		struct pollfd fds[2] = { { .fd = fd, .events = POLLIN },
					 { .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN } };
		int n = poll(fds, 2, wait_ms);
		ssize_t got;

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			fprintf(stderr, "sbcat: recv: timed out\n");
			finish(EXIT_OPERATION);
		}
		if (fds[0].revents != 0) {
			got = recv(fd, buf, sizeof(buf), 0);
			if (got < 0 && errno != EINTR && errno != EAGAIN) {
				fprintf(stderr, "sbcat: recv: %s\n", strerror(errno));
				finish(EXIT_OPERATION);
			}
			if (got == 0)
				return;
			if (got > 0)
				write_all(buf, (size_t)got);
		}
		if (stdin_open && fds[1].revents != 0) {
			got = read(STDIN_FILENO, buf, sizeof(buf));
			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0) {
				fprintf(stderr, "sbcat: read from stdin: %s\n", strerror(errno));
				finish(EXIT_OPERATION);
			}
			if (got == 0) {
				stdin_open = false;
				shutdown(fd, SHUT_WR);
				continue;
			}
			for (ssize_t off = 0; off < got;) {
				ssize_t sent = send(fd, buf + off, (size_t)(got - off), MSG_NOSIGNAL);

				if (sent < 0 && errno == EINTR)
					continue;
				if (sent < 0) {
					fprintf(stderr, "sbcat: send: %s\n", strerror(errno));
					finish(EXIT_OPERATION);
				}
				off += sent;
			}
		}
	}
}

static void
fail(struct sb_client *client, const char *op, const struct sb_addr *where,
     const struct sb_error *err)
{
	report(op, where, err);
	sb_client_free(client);
	exit(EXIT_OPERATION);
}

/* Open the socket a listening ADDRESS names and wait for its peer. */
static sb_handle
open_listening(struct sb_client *client, const struct options *options)
{
	const struct target *target = &options->target;
	int type = target->stream ? constant(client, "SOCK_STREAM", SOCK_STREAM)
				  : constant(client, "SOCK_DGRAM", SOCK_DGRAM);
	char address[512];
	struct sb_addr local, peer;
	struct sb_error err;
	sb_handle listener, conn;

	if (sb_socket(client, family_constant(client, target->family), type, 0, &listener,
		      &err) < 0)
		fail(client, "socket", &target->addr, &err);
	if (target->family != AF_UNIX &&
	    sb_setsockopt_int(client, listener, constant(client, "SOL_SOCKET", SOL_SOCKET),
			      constant(client, "SO_REUSEADDR", SO_REUSEADDR), 1, &err) < 0)
		fail(client, "setsockopt SO_REUSEADDR", &target->addr, &err);
	if (sb_bind(client, listener, &target->addr, &err) < 0)
		fail(client, "bind", &target->addr, &err);
	if (target->stream && sb_listen(client, listener, 1, &err) < 0)
		fail(client, "listen", &target->addr, &err);
	if (sb_getsockname(client, listener, &local, &err) < 0)
		fail(client, "getsockname", &target->addr, &err);
	sb_addr_format(&local, address, sizeof(address));
	/* A chosen port is news that scripts wait for, -v or not. */
	if (options->verbose || (target->family != AF_UNIX && target->addr.port == 0))
		fprintf(stderr, "sbcat: listening on %s\n", address);
	if (!target->stream)
		return listener;

	if (sb_accept(client, listener, &conn, &peer, &err) < 0)
		fail(client, "accept", &local, &err);
	if (options->verbose) {
		sb_addr_format(&peer, address, sizeof(address));
		fprintf(stderr, "sbcat: accepted a connection from %s\n", address);
	}
	if (sb_close(client, listener, &err) < 0)
		fail(client, "close", &local, &err);
	return conn;
}

static sb_handle
open_connected(struct sb_client *client, const struct options *options, const char *url)
{
	const struct target *target = &options->target;
	int type = target->stream ? constant(client, "SOCK_STREAM", SOCK_STREAM)
				  : constant(client, "SOCK_DGRAM", SOCK_DGRAM);
	char address[512];
	struct sb_error err;
	sb_handle handle;

	if (sb_socket(client, family_constant(client, target->family), type, 0, &handle, &err) <
	    0)
		fail(client, "socket", &target->addr, &err);
	if (options->connect_timeout != SB_TIMEOUT_NONE &&
	    sb_settimeout(client, handle, options->connect_timeout, &err) < 0)
		fail(client, "settimeout", &target->addr, &err);
	if (sb_connect(client, handle, &target->addr, &err) < 0)
		fail(client, "connect", &target->addr, &err);
	if (options->connect_timeout != SB_TIMEOUT_NONE &&
	    sb_settimeout(client, handle, options->timeout, &err) < 0)
		fail(client, "settimeout", &target->addr, &err);
	if (options->verbose) {
		sb_addr_format(&target->addr, address, sizeof(address));
		fprintf(stderr, "sbcat: connected to %s through %s\n", address, url);
	}
	return handle;
}

/* A client of the broker that `options` name (with its token), its default timeout set;
 * *url says where. Exits on failure. */
static struct sb_client *
connect_to_broker(const struct options *options, char *default_url, size_t len,
		  const char **url)
{
	char token[TOKENFILE_BUF_LEN];
	struct sb_client_options client_options = { .client_name = "sbcat/" SOCKBROKER_VERSION };
	struct sb_client *client;
	struct sb_error err;
	int r;

	*url = options->broker_url != NULL ? options->broker_url
					    : sb_default_url(default_url, len);
	client_options.url = *url;
	if (options->token_file != NULL) {
		if (tokenfile_read("sbcat", options->token_file, token, sizeof(token)) < 0)
			exit(EXIT_OPERATION);
		client_options.token = token;
	}
	r = sb_client_new_with(&client, &client_options, &err);
	explicit_bzero(token, sizeof(token));
	if (r < 0) {
		fprintf(stderr, "sbcat: %s\n", err.message);
		exit(EXIT_OPERATION);
	}
	/* Sockets and accepted connections start with the -t timeout. */
	sb_client_set_default_timeout(client, options->timeout);
	if (options->verbose) {
		struct sb_server_info info;

		sb_client_info(client, &info);
		fprintf(stderr, "sbcat: session %llu with %s at %s%s%s%s\n",
			(unsigned long long)info.session_id,
			info.server_version[0] != '\0' ? info.server_version : "the broker", *url,
			info.token_name[0] != '\0' ? " (token \"" : "", info.token_name,
			info.token_name[0] != '\0' ? "\")" : "");
	}
	return client;
}

int
main(int argc, char **argv)
{
	struct options options;
	struct bridge bridge;
	char default_url[4096];
	const char *url;
	struct sb_client *client;
	struct sb_error err;
	pthread_t stdin_thread;
	int r;

	parse_options(&options, argc, argv);
	/* Failed writes to stdout are reported, not fatal signals. */
	signal(SIGPIPE, SIG_IGN);

	client = connect_to_broker(&options, default_url, sizeof(default_url), &url);
	memset(&bridge, 0, sizeof(bridge));
	bridge.client = client;
	bridge.target = &options.target;
	atomic_init(&bridge.stdin_done, false);
	pthread_mutex_init(&bridge.lock, NULL);
	pthread_cond_init(&bridge.peer_known, NULL);
	if (options.target.listen)
		bridge.handle = open_listening(client, &options);
	else
		bridge.handle = open_connected(client, &options, url);

	if (options.target.stream && options.target.family != AF_UNIX && !options.no_handoff) {
		struct sb_server_info info;
		int fd = -1;

		sb_client_info(client, &info);
		if (info.handoff && sb_handoff(client, bridge.handle, &fd, &err) == 0) {
			if (options.verbose)
				fprintf(stderr, "sbcat: the broker handed the socket over\n");
			relay_native(fd, options.timeout);
			close(fd);
			sb_client_free(client);
			return EXIT_SUCCESS;
		}
		if (info.handoff && options.verbose)
			fprintf(stderr, "sbcat: the socket stays on the broker's path: %s\n",
				err.message);
	}

	r = pthread_create(&stdin_thread, NULL, stdin_to_socket, &bridge);
	if (r != 0) {
		fprintf(stderr, "sbcat: cannot start a thread: %s\n", strerror(r));
		finish(EXIT_OPERATION);
	}
	socket_to_stdout(&bridge);

	if (!atomic_load(&bridge.stdin_done))
		finish(EXIT_SUCCESS);
	pthread_join(stdin_thread, NULL);
	if (sb_close(client, bridge.handle, &err) < 0) {
		report("close", NULL, &err);
		finish(EXIT_OPERATION);
	}
	sb_client_free(client);
	pthread_cond_destroy(&bridge.peer_known);
	pthread_mutex_destroy(&bridge.lock);
	return EXIT_SUCCESS;
}
