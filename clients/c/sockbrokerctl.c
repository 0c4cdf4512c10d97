/*
 * sockbrokerctl: show what a running sockbrokerd is doing, through the admin
 * operations of libsockbroker (status, sessions, handles) as tables, JSON
 * or Prometheus text. It changes nothing in the daemon.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "family.h"
#include "sockbroker.h"
#include "tokenfile.h"

#define EXIT_OPERATION 1
#define EXIT_USAGE 2

static const char usage_text[] =
	"Usage: sockbrokerctl [--broker URL] [--token-file FILE] [--json] COMMAND\n"
	"\n"
	"Show what a running sockbrokerd is doing. The daemon answers only an admin:\n"
	"root, or a uid, group or token of its configuration's \"admin\" section.\n"
	"\n"
	"Commands:\n"
	"  status            version, uptime, listeners, sessions, handles and waiting\n"
	"                    operations per identity, quota use, per-rule decisions\n"
	"  sessions          one line per session\n"
	"  handles [SESSION] one line per handle (of SESSION only, when given)\n"
	"  metrics           the status figures as Prometheus text\n"
	"\n"
	"Options:\n"
	"  --broker URL      the daemon (default: $SOCKBROKER_URL, else its default path)\n"
	"  --token-file FILE give the daemon the token in FILE (default: $SOCKBROKER_TOKEN)\n"
	"  --json            one JSON object instead of a table (status, sessions, handles)\n"
	"  -h, --help        print this help\n"
	"\n"
	"Exit status: 0 on success, 1 when the daemon cannot be reached or refuses,\n"
	"2 on a usage error. See sockbrokerctl(8).\n";

static void
usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("sockbrokerctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'sockbrokerctl --help'.\n", stderr);
	exit(EXIT_USAGE);
}

/* ---- names and numbers --------------------------------------------------- */

static const char *
type_name(int type)
{
	switch (type) {
	case SOCK_STREAM: return "stream";
	case SOCK_DGRAM: return "dgram";
	case SOCK_SEQPACKET: return "seqpacket";
	case SOCK_RAW: return "raw";
	case SOCK_RDM: return "rdm";
	default: return NULL;
	}
}

static void
format_number_or_name(char *buf, size_t len, const char *name, int number)
{
	if (name)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%d", number);
}

/* "3d 4h", "2h 3m 4s", "5m 6s", "7s". */
static void
format_duration(char *buf, size_t len, double seconds)
{
	unsigned long s = seconds > 0 ? (unsigned long)seconds : 0;
	unsigned long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;

	if (d)
		snprintf(buf, len, "%lud %luh %lum", d, h, m);
	else if (h)
		snprintf(buf, len, "%luh %lum %lus", h, m, s % 60);
	else if (m)
		snprintf(buf, len, "%lum %lus", m, s % 60);
	else
		snprintf(buf, len, "%lus", s % 60);
}

/* "4/1024", or "4" when there is no limit. */
static void
format_use(char *buf, size_t len, uint64_t used, uint64_t limit)
{
	if (limit)
		snprintf(buf, len, "%llu/%llu", (unsigned long long)used,
			 (unsigned long long)limit);
	else
		snprintf(buf, len, "%llu", (unsigned long long)used);
}

/* ---- JSON ------------------------------------------------------------------ */

static void
json_string(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void
json_key(const char *key, bool first)
{
	if (!first)
		putchar(',');
	json_string(key);
	putchar(':');
}

static void
json_u64(const char *key, uint64_t value, bool first)
{
	json_key(key, first);
	printf("%llu", (unsigned long long)value);
}

static void
json_str(const char *key, const char *value, bool first)
{
	json_key(key, first);
	json_string(value);
}

/* ---- status ---------------------------------------------------------------- */

static void
print_status(const struct sb_admin_status *s)
{
	char uptime[64];

	format_duration(uptime, sizeof(uptime), s->uptime);
	printf("sockbrokerd %s, pid %lld, up %s", s->version, (long long)s->pid, uptime);
	if (s->rss_bytes)
		printf(", %.1f MiB resident", (double)s->rss_bytes / (1024.0 * 1024.0));
	putchar('\n');
	for (size_t i = 0; i < s->n_listeners; i++)
		printf("listening on %s\n", s->listeners[i]);
	printf("sessions %llu (at most %llu), handles %llu, waiting operations %llu, "
	       "requests %llu\n",
	       (unsigned long long)s->sessions, (unsigned long long)s->max_sessions,
	       (unsigned long long)s->handles, (unsigned long long)s->parked,
	       (unsigned long long)s->requests);

	printf("\n%-28s %8s %8s %8s\n", "IDENTITY", "SESSIONS", "HANDLES", "WAITING");
	for (size_t i = 0; i < s->n_identities; i++) {
		const struct sb_admin_identity *id = &s->identities[i];
		printf("%-28s %8llu %8llu %8llu\n", id->identity, (unsigned long long)id->sessions,
		       (unsigned long long)id->handles, (unsigned long long)id->parked);
	}

	printf("\n%-28s %-7s %10s %10s\n", "RULE", "VERDICT", "ALLOWED", "DENIED");
	for (size_t i = 0; i < s->n_rules; i++) {
		const struct sb_admin_rule *rule = &s->rules[i];
		printf("%-28s %-7s %10llu %10llu\n", rule->name, rule->allow ? "allow" : "deny",
		       (unsigned long long)rule->allowed, (unsigned long long)rule->denied);
	}

	if (s->n_quotas == 0) {
		printf("\nquotas: none in use (per session: %llu handles, %llu waiting "
		       "operations)\n",
		       (unsigned long long)s->max_handles_per_session,
		       (unsigned long long)s->max_parked_per_session);
		return;
	}
	printf("\n%-16s %-20s %8s %14s %14s\n", "QUOTA", "ACCOUNT", "SESSIONS", "HANDLES",
	       "WAITING");
	for (size_t i = 0; i < s->n_quotas; i++) {
		const struct sb_admin_quota *q = &s->quotas[i];
		char handles[48], parked[48];
		format_use(handles, sizeof(handles), q->handles, q->max_handles);
		format_use(parked, sizeof(parked), q->parked, q->max_parked);
		printf("%-16s %-20s %8llu %14s %14s\n", q->quota, q->account,
		       (unsigned long long)q->sessions, handles, parked);
	}
}

static void
print_status_json(const struct sb_admin_status *s)
{
	putchar('{');
	json_str("version", s->version, true);
	json_key("pid", false);
	printf("%lld", (long long)s->pid);
	json_key("uptime", false);
	printf("%.3f", s->uptime);
	json_key("listeners", false);
	putchar('[');
	for (size_t i = 0; i < s->n_listeners; i++) {
		if (i)
			putchar(',');
		json_string(s->listeners[i]);
	}
	putchar(']');
	json_u64("sessions", s->sessions, false);
	json_u64("handles", s->handles, false);
	json_u64("parked", s->parked, false);
	json_u64("requests", s->requests, false);
	json_u64("rss_bytes", s->rss_bytes, false);
	json_key("limits", false);
	putchar('{');
	json_u64("max_sessions", s->max_sessions, true);
	json_u64("max_handles_per_session", s->max_handles_per_session, false);
	json_u64("max_parked_per_session", s->max_parked_per_session, false);
	putchar('}');
	json_key("identities", false);
	putchar('[');
	for (size_t i = 0; i < s->n_identities; i++) {
		const struct sb_admin_identity *id = &s->identities[i];
		printf(i ? ",{" : "{");
		json_str("identity", id->identity, true);
		json_u64("sessions", id->sessions, false);
		json_u64("handles", id->handles, false);
		json_u64("parked", id->parked, false);
		putchar('}');
	}
	putchar(']');
	json_key("rules", false);
	putchar('[');
	for (size_t i = 0; i < s->n_rules; i++) {
		const struct sb_admin_rule *rule = &s->rules[i];
		printf(i ? ",{" : "{");
		json_str("name", rule->name, true);
		json_key("allow", false);
		fputs(rule->allow ? "true" : "false", stdout);
		json_u64("allowed", rule->allowed, false);
		json_u64("denied", rule->denied, false);
		putchar('}');
	}
	putchar(']');
	json_key("quotas", false);
	putchar('[');
	for (size_t i = 0; i < s->n_quotas; i++) {
		const struct sb_admin_quota *q = &s->quotas[i];
		printf(i ? ",{" : "{");
		json_str("quota", q->quota, true);
		json_str("account", q->account, false);
		json_u64("sessions", q->sessions, false);
		json_u64("handles", q->handles, false);
		json_u64("max_handles", q->max_handles, false);
		json_u64("parked", q->parked, false);
		json_u64("max_parked", q->max_parked, false);
		putchar('}');
	}
	puts("]}");
}

/* A Prometheus label value: backslash, double quote and line feed escaped. */
static void
prom_label(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			printf("\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", stdout);
		else
			putchar(*s);
	}
	putchar('"');
}

static void
prom_header(const char *name, const char *type, const char *help)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
print_metrics(const struct sb_admin_status *s)
{
	prom_header("sockbroker_info", "gauge", "The daemon's version (always 1).");
	fputs("sockbroker_info{version=", stdout);
	prom_label(s->version);
	puts("} 1");
	prom_header("sockbroker_uptime_seconds", "gauge", "Seconds since the daemon began to serve.");
	printf("sockbroker_uptime_seconds %.3f\n", s->uptime);
	prom_header("sockbroker_resident_memory_bytes", "gauge", "The daemon's resident memory.");
	printf("sockbroker_resident_memory_bytes %llu\n", (unsigned long long)s->rss_bytes);
	prom_header("sockbroker_requests_total", "counter", "Requests started.");
	printf("sockbroker_requests_total %llu\n", (unsigned long long)s->requests);
	prom_header("sockbroker_sessions", "gauge", "Client sessions (connections).");
	printf("sockbroker_sessions %llu\n", (unsigned long long)s->sessions);
	prom_header("sockbroker_handles", "gauge", "Open handles (sockets) of every session.");
	printf("sockbroker_handles %llu\n", (unsigned long long)s->handles);
	prom_header("sockbroker_parked_operations", "gauge", "Operations waiting in every session.");
	printf("sockbroker_parked_operations %llu\n", (unsigned long long)s->parked);

	static const char *const per_identity[][2] = {
		{ "sockbroker_identity_sessions", "Sessions of one identity." },
		{ "sockbroker_identity_handles", "Open handles of one identity." },
		{ "sockbroker_identity_parked_operations", "Waiting operations of one identity." },
	};
	for (size_t m = 0; m < 3; m++) {
		prom_header(per_identity[m][0], "gauge", per_identity[m][1]);
		for (size_t i = 0; i < s->n_identities; i++) {
			const struct sb_admin_identity *id = &s->identities[i];
			uint64_t v = m == 0 ? id->sessions : m == 1 ? id->handles : id->parked;
			printf("%s{identity=", per_identity[m][0]);
			prom_label(id->identity);
			printf("} %llu\n", (unsigned long long)v);
		}
	}

	prom_header("sockbroker_rule_decisions_total", "counter",
		    "Requests each policy rule decided, by decision.");
	for (size_t i = 0; i < s->n_rules; i++) {
		for (int deny = 0; deny < 2; deny++) {
			fputs("sockbroker_rule_decisions_total{rule=", stdout);
			prom_label(s->rules[i].name);
			printf(",decision=\"%s\"} %llu\n", deny ? "deny" : "allow",
			       (unsigned long long)(deny ? s->rules[i].denied
							 : s->rules[i].allowed));
		}
	}

	static const char *const per_quota[][2] = {
		{ "sockbroker_quota_handles", "Handles an account holds." },
		{ "sockbroker_quota_max_handles", "The account's handle limit (0: none)." },
		{ "sockbroker_quota_parked_operations", "Waiting operations of an account." },
		{ "sockbroker_quota_max_parked_operations", "The account's limit of waiting "
							    "operations (0: none)." },
	};
	for (size_t m = 0; m < 4; m++) {
		prom_header(per_quota[m][0], "gauge", per_quota[m][1]);
		for (size_t i = 0; i < s->n_quotas; i++) {
			const struct sb_admin_quota *q = &s->quotas[i];
			uint64_t v = m == 0 ? q->handles : m == 1 ? q->max_handles
					  : m == 2 ? q->parked : q->max_parked;
			printf("%s{quota=", per_quota[m][0]);
			prom_label(q->quota);
			fputs(",account=", stdout);
			prom_label(q->account);
			printf("} %llu\n", (unsigned long long)v);
		}
	}
}

/* ---- sessions and handles ---------------------------------------------------- */

static void
describe_identity(const struct sb_admin_session *s, char *buf, size_t len)
{
	int n = 0;

	if (s->has_credentials)
		n = snprintf(buf, len, "uid %lld gid %lld pid %lld", (long long)s->uid,
			     (long long)s->gid, (long long)s->pid);
	else
		n = snprintf(buf, len, "%s", s->peer);
	if (s->token_name[0] && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " token %s", s->token_name);
}

static void
print_sessions(const struct sb_admin_session *list, size_t n, bool json)
{
	if (json) {
		fputs("{\"sessions\":[", stdout);
		for (size_t i = 0; i < n; i++) {
			const struct sb_admin_session *s = &list[i];
			printf(i ? ",{" : "{");
			json_u64("id", s->id, true);
			if (s->has_credentials) {
				json_key("uid", false);
				printf("%lld", (long long)s->uid);
				json_key("gid", false);
				printf("%lld", (long long)s->gid);
				json_key("pid", false);
				printf("%lld", (long long)s->pid);
			}
			json_key("token", false);
			if (s->token_name[0])
				json_string(s->token_name);
			else
				fputs("null", stdout);
			json_key("tls_verified", false);
			fputs(s->tls_verified ? "true" : "false", stdout);
			json_str("peer", s->peer, false);
			json_str("transport", s->transport, false);
			json_str("client", s->client_name, false);
			json_u64("handles", s->handles, false);
			json_u64("parked", s->parked, false);
			json_u64("requests", s->requests, false);
			json_key("age", false);
			printf("%.3f}", s->age);
		}
		puts("]}");
		return;
	}
	printf("%-6s %-34s %-9s %-20s %7s %7s %8s %s\n", "ID", "IDENTITY", "TRANSPORT", "CLIENT",
	       "HANDLES", "WAITING", "REQUESTS", "AGE");
	for (size_t i = 0; i < n; i++) {
		const struct sb_admin_session *s = &list[i];
		char who[160], age[64];
		describe_identity(s, who, sizeof(who));
		format_duration(age, sizeof(age), s->age);
		printf("%-6llu %-34s %-9s %-20s %7llu %7llu %8llu %s\n", (unsigned long long)s->id,
		       who, s->transport, s->client_name[0] ? s->client_name : "-",
		       (unsigned long long)s->handles, (unsigned long long)s->parked,
		       (unsigned long long)s->requests, age);
	}
}

static void
print_handles(const struct sb_admin_handle *list, size_t n, bool json)
{
	if (json) {
		fputs("{\"handles\":[", stdout);
		for (size_t i = 0; i < n; i++) {
			const struct sb_admin_handle *h = &list[i];
			char family[32], type[32], local[320], peer[320];
			format_number_or_name(family, sizeof(family), family_short_name(h->family),
					      h->family);
			format_number_or_name(type, sizeof(type), type_name(h->type), h->type);
			printf(i ? ",{" : "{");
			json_u64("session", h->session, true);
			json_u64("handle", h->handle, false);
			json_str("family", family, false);
			json_str("type", type, false);
			json_key("proto", false);
			printf("%d", h->proto);
			json_str("state", h->state, false);
			json_key("local", false);
			if (h->has_local) {
				sb_addr_format(&h->local, local, sizeof(local));
				json_string(local);
			} else {
				fputs("null", stdout);
			}
			json_key("peer", false);
			if (h->has_peer) {
				sb_addr_format(&h->peer, peer, sizeof(peer));
				json_string(peer);
			} else {
				fputs("null", stdout);
			}
			json_u64("queued_reads", h->queued_reads, false);
			json_u64("queued_writes", h->queued_writes, false);
			json_u64("bytes_in", h->bytes_in, false);
			json_u64("bytes_out", h->bytes_out, false);
			json_key("timeout", false);
			if (h->timeout < 0)
				fputs("null}", stdout);
			else
				printf("%g}", h->timeout);
		}
		puts("]}");
		return;
	}
	printf("%-7s %-7s %-6s %-6s %-11s %-24s %-24s %6s %6s\n", "SESSION", "HANDLE", "FAMILY",
	       "TYPE", "STATE", "LOCAL", "PEER", "READS", "WRITES");
	for (size_t i = 0; i < n; i++) {
		const struct sb_admin_handle *h = &list[i];
		char family[32], type[32], local[320] = "-", peer[320] = "-";
		format_number_or_name(family, sizeof(family), family_short_name(h->family), h->family);
		format_number_or_name(type, sizeof(type), type_name(h->type), h->type);
		if (h->has_local)
			sb_addr_format(&h->local, local, sizeof(local));
		if (h->has_peer)
			sb_addr_format(&h->peer, peer, sizeof(peer));
		printf("%-7llu %-7llu %-6s %-6s %-11s %-24s %-24s %6u %6u\n",
		       (unsigned long long)h->session, (unsigned long long)h->handle, family, type,
		       h->state, local[0] ? local : "-", peer[0] ? peer : "-", h->queued_reads,
		       h->queued_writes);
	}
}

/* ---- main ------------------------------------------------------------------ */

enum command { CMD_STATUS, CMD_SESSIONS, CMD_HANDLES, CMD_METRICS };

static int
fail(const char *what, const struct sb_error *err)
{
	fprintf(stderr, "sockbrokerctl: %s: %s%s%s%s\n", what, err->message,
		err->errno_name[0] ? " (" : "", err->errno_name, err->errno_name[0] ? ")" : "");
	return EXIT_OPERATION;
}

/* The command and its argument, after the options: exits on a usage error. */
static enum command
parse_command(int argc, char **argv, uint64_t *session)
{
	enum command command;

	if (optind >= argc)
		usage_error("a command is missing: status, sessions, handles or metrics");
	const char *name = argv[optind++];
	if (strcmp(name, "status") == 0)
		command = CMD_STATUS;
	else if (strcmp(name, "sessions") == 0)
		command = CMD_SESSIONS;
	else if (strcmp(name, "handles") == 0)
		command = CMD_HANDLES;
	else if (strcmp(name, "metrics") == 0)
		command = CMD_METRICS;
	else
		usage_error("unknown command '%s': use status, sessions, handles or metrics", name);
	if (command == CMD_HANDLES && optind < argc) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(argv[optind], &end, 10);
		if (errno || *end || end == argv[optind] || v == 0 || argv[optind][0] == '-')
			usage_error("handles: '%s' is not a session id (a number from "
				    "'sockbrokerctl sessions')",
				    argv[optind]);
		*session = v;
		optind++;
	}
	if (optind < argc)
		usage_error("unexpected argument '%s' after '%s'", argv[optind], name);
	return command;
}

/* Ask the daemon what `command` shows and print it. Returns the exit status. */
static int
run_command(struct sb_client *client, enum command command, uint64_t session, bool json)
{
	struct sb_error err;
	int status = EXIT_SUCCESS;

	switch (command) {
	case CMD_STATUS:
	case CMD_METRICS: {
		struct sb_admin_status *s;
		if (sb_admin_status(client, &s, &err) < 0) {
			status = fail("status", &err);
			break;
		}
		if (command == CMD_METRICS)
			print_metrics(s);
		else if (json)
			print_status_json(s);
		else
			print_status(s);
		sb_admin_status_free(s);
		break;
	}
	case CMD_SESSIONS: {
		struct sb_admin_session *list;
		size_t n;
		if (sb_admin_sessions(client, &list, &n, &err) < 0) {
			status = fail("sessions", &err);
			break;
		}
		print_sessions(list, n, json);
		sb_admin_sessions_free(list, n);
		break;
	}
	case CMD_HANDLES: {
		struct sb_admin_handle *list;
		size_t n;
		if (sb_admin_handles(client, session, &list, &n, &err) < 0) {
			status = fail("handles", &err);
			break;
		}
		print_handles(list, n, json);
		sb_admin_handles_free(list, n);
		break;
	}
	}
	return status;
}

int
main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "broker", required_argument, NULL, 'b' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sb_client_options client_options = {
		.client_name = "sockbrokerctl/" SOCKBROKER_VERSION,
	};
	const char *broker = NULL, *token_file = NULL;
	char default_url[4096], token[TOKENFILE_BUF_LEN];
	bool json = false;
	uint64_t session = 0;
	enum command command;
	struct sb_client *client;
	struct sb_error err;
	int opt, r, status = EXIT_SUCCESS;

	while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
		switch (opt) {
		case 'b':
			broker = optarg;
			break;
		case 'T':
			token_file = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_SUCCESS;
		default:
			fputs("Try 'sockbrokerctl --help'.\n", stderr);
			return EXIT_USAGE;
		}
	}
	command = parse_command(argc, argv, &session);
	if (command == CMD_METRICS && json)
		usage_error("metrics are Prometheus text; --json is for status, sessions and "
			    "handles");

	client_options.url = broker ? broker : sb_default_url(default_url, sizeof(default_url));
	if (token_file) {
		if (tokenfile_read("sockbrokerctl", token_file, token, sizeof(token)) < 0)
			return EXIT_OPERATION;
		client_options.token = token;
	}
	r = sb_client_new_with(&client, &client_options, &err);
	explicit_bzero(token, sizeof(token));
	if (r < 0)
		return fail(client_options.url, &err);

	status = run_command(client, command, session, json);
	sb_client_free(client);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "sockbrokerctl: writing the output: %s\n", strerror(errno));
		status = EXIT_OPERATION;
	}
	return status;
}
