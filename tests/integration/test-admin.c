/*
 * The admin operations (server/ops/admin.c) and sockbrokerctl, against the
 * real daemon: who may ask (root, or an identity of the "admin" section;
 * anyone else EACCES), and the figures they report for a known workload:
 * sessions and handles per identity, a parked accept, per-rule decisions,
 * quota use, and the handles of one session as ss(8) would show them.
 *
 * The admin in these cases is a tcp:// session with the token "ops", so
 * that they run as any user: a tcp:// session has no uid, and the token "ci"
 * is no admin's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "fixture.h"
#include "sockbroker.h"

/* Two tokens and their SHA-256, as `printf %s TOKEN | sha256sum` prints them. */
#define CI_TOKEN "ci-token-1f8a04c2"
#define CI_HASH "91b39df0b0457b3fd948384f9ef9ec161d624ca44c606458b2a88e4d447fccdd"
#define OPS_TOKEN "ops-token-77b2e9d1"
#define OPS_HASH "4d3ce9b645d5406581251eda948784d65dd0880a4895d70f9a4aac1907a46eeb"

#define CONFIG \
	"{\"auth\": {\"tokens\": [{\"name\": \"ci\", \"sha256\": \"" CI_HASH "\"}, " \
	"{\"name\": \"ops\", \"sha256\": \"" OPS_HASH "\"}]}, " \
	"\"admin\": {\"tokens\": [\"ops\"]}, " \
	"\"policy\": {\"rules\": [" \
	"{\"name\": \"no-udp\", \"allow\": false, \"ops\": [\"create\"], " \
	"\"types\": [\"SOCK_DGRAM\"]}, " \
	"{\"name\": \"allow-rest\", \"allow\": true}], " \
	"\"quotas\": [{\"name\": \"everyone\", \"max_handles\": 50, \"max_parked\": 20}]}}"

/* How long the workload's parked accept may take to show (an upper bound). */
#define WAIT_MS 10000
/* How long sockbrokerctl may run. */
#define CTL_TIMEOUT_S 30

static char tcp_url[64];
static char token_file[320];

static uint16_t
free_tcp_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

static void
setup(void)
{
	client = NULL;
	snprintf(tcp_url, sizeof(tcp_url), "tcp://127.0.0.1:%u", free_tcp_port());
	test_daemon_start_listening(&daemon_under_test, CONFIG, tcp_url);
	fixture_connect("test-admin");
	snprintf(token_file, sizeof(token_file), "%s/ops.token", daemon_under_test.dir);
	FILE *f = fopen(token_file, "w");
	ck_assert_ptr_nonnull(f);
	fputs(OPS_TOKEN "\n", f);
	ck_assert_int_eq(fclose(f), 0);
}

static void
teardown(void)
{
	unlink(token_file);
	fixture_stop();
}

static struct sb_client *
connect_tcp(const char *token, const char *name)
{
	struct sb_client_options options = {
		.url = tcp_url,
		.client_name = name,
		.token = token,
	};
	struct sb_client *c = NULL;
	struct sb_error err;

	ck_assert_msg(sb_client_new_with(&c, &options, &err) == 0, "%s", err.message);
	return c;
}

/* Each admin operation refuses `c` with EACCES, kind denied, rule "admin". */
static void
assert_refused(struct sb_client *c)
{
	struct sb_admin_status *status = NULL;
	struct sb_admin_session *sessions = NULL;
	struct sb_admin_handle *handles = NULL;
	struct sb_error err;
	size_t n;

	ck_assert_int_eq(sb_admin_status(c, &status, &err), -EACCES);
	ck_assert_int_eq(err.kind, SB_ERR_DENIED);
	ck_assert_str_eq(err.errno_name, "EACCES");
	ck_assert_str_eq(err.rule, "admin");
	ck_assert_msg(strstr(err.message, "admin_status is for admins of the daemon only"), "%s",
		      err.message);
	ck_assert_ptr_null(status);
	ck_assert_int_eq(sb_admin_sessions(c, &sessions, &n, &err), -EACCES);
	ck_assert_int_eq(err.kind, SB_ERR_DENIED);
	ck_assert_ptr_null(sessions);
	ck_assert_int_eq(sb_admin_handles(c, 0, &handles, &n, &err), -EACCES);
	ck_assert_int_eq(err.kind, SB_ERR_DENIED);
	ck_assert_ptr_null(handles);
}

static void
assert_allowed(struct sb_client *c)
{
	struct sb_admin_status *status = NULL;
	struct sb_error err;

	ck_assert_msg(sb_admin_status(c, &status, &err) == 0, "%s", err.message);
	ck_assert_str_eq(status->version, SOCKBROKER_VERSION);
	ck_assert_int_eq(status->pid, daemon_under_test.pid);
	sb_admin_status_free(status);
}

/* Run sockbrokerctl with `args` (bounded by timeout(1)); its standard output
 * and error in `out`, its exit status returned. */
static int
run_ctl(const char *args, char *out, size_t len)
{
	const char *ctl = getenv("SOCKBROKERCTL");
	char command[1024];
	size_t n = 0;

	ck_assert_msg(ctl, "set SOCKBROKERCTL to the sockbrokerctl program");
	snprintf(command, sizeof(command), "timeout %d %s %s 2>&1", CTL_TIMEOUT_S, ctl, args);
	FILE *p = popen(command, "r");
	ck_assert_ptr_nonnull(p);
	while (n + 1 < len) {
		size_t got = fread(out + n, 1, len - 1 - n, p);
		if (got == 0)
			break;
		n += got;
	}
	out[n] = '\0';
	/* Drain what did not fit, so that the program is not stuck on a full pipe. */
	char rest[4096];
	while (fread(rest, 1, sizeof(rest), p) > 0) {
	}
	int status = pclose(p);
	ck_assert_msg(status != -1 && WIFEXITED(status), "%s did not exit", command);
	return WEXITSTATUS(status);
}

START_TEST(only_an_admin_identity_may_use_the_admin_operations)
{
	struct sb_client *anonymous = connect_tcp("", "anonymous");
	struct sb_client *ci = connect_tcp(CI_TOKEN, "ci");
	struct sb_client *ops = connect_tcp(OPS_TOKEN, "ops");
	struct sb_error err;
	sb_handle h;

	/* Root on ipc:// is an admin without being listed; anyone else is not. */
	if (getuid() == 0)
		assert_allowed(client);
	else
		assert_refused(client);
	assert_refused(anonymous);
	assert_refused(ci);
	assert_allowed(ops);

	/* A refused session goes on being served. */
	ck_assert_msg(sb_socket(anonymous, AF_INET, SOCK_STREAM, 0, &h, &err) == 0, "%s",
		      err.message);
	ck_assert_int_eq(sb_close(anonymous, h, &err), 0);

	/* The same through sockbrokerctl: exit 1 and the daemon's reason. */
	char out[8192], args[1024];
	snprintf(args, sizeof(args), "--broker %s status", tcp_url);
	ck_assert_int_eq(run_ctl(args, out, sizeof(out)), 1);
	ck_assert_msg(strstr(out, "sockbrokerctl: status: admin_status is for admins of the "
				  "daemon only") && strstr(out, "(EACCES)"),
		      "%s", out);
	snprintf(args, sizeof(args), "--broker %s --token-file %s status", tcp_url, token_file);
	ck_assert_int_eq(run_ctl(args, out, sizeof(out)), 0);
	ck_assert_msg(strncmp(out, "sockbrokerd " SOCKBROKER_VERSION ", pid ", 20) == 0, "%s",
		      out);
	/* Usage errors are 2. */
	ck_assert_int_eq(run_ctl("frobnicate", out, sizeof(out)), 2);
	ck_assert_msg(strstr(out, "unknown command 'frobnicate'"), "%s", out);
	ck_assert_int_eq(run_ctl("handles zero", out, sizeof(out)), 2);

	sb_client_free(ops);
	sb_client_free(ci);
	sb_client_free(anonymous);
}
END_TEST

struct accept_call {
	sb_handle listener, accepted;
	int result;
	struct sb_error err;
};

static void *
accept_thread(void *arg)
{
	struct accept_call *call = arg;
	call->result = sb_accept(client, call->listener, &call->accepted, NULL, &call->err);
	return NULL;
}

static const struct sb_admin_identity *
find_identity(const struct sb_admin_status *s, const char *name)
{
	for (size_t i = 0; i < s->n_identities; i++)
		if (strcmp(s->identities[i].identity, name) == 0)
			return &s->identities[i];
	ck_abort_msg("status lists no identity \"%s\"", name);
	return NULL;
}

static const struct sb_admin_rule *
find_rule(const struct sb_admin_status *s, const char *name)
{
	for (size_t i = 0; i < s->n_rules; i++)
		if (strcmp(s->rules[i].name, name) == 0)
			return &s->rules[i];
	ck_abort_msg("status lists no rule \"%s\"", name);
	return NULL;
}

static const struct sb_admin_quota *
find_quota(const struct sb_admin_status *s, const char *account)
{
	for (size_t i = 0; i < s->n_quotas; i++)
		if (strcmp(s->quotas[i].account, account) == 0)
			return &s->quotas[i];
	ck_abort_msg("status lists no quota account \"%s\"", account);
	return NULL;
}

static const struct sb_admin_handle *
find_handle(const struct sb_admin_handle *rows, size_t n, sb_handle id)
{
	for (size_t i = 0; i < n; i++)
		if (rows[i].handle == id)
			return &rows[i];
	ck_abort_msg("handles lists no handle %llu", (unsigned long long)id);
	return NULL;
}

START_TEST(status_sessions_and_handles_report_a_known_workload)
{
	struct sb_client *admin = connect_tcp(OPS_TOKEN, "admin");
	struct sb_server_info info;
	struct sb_admin_status *s;
	struct sb_admin_session *sessions;
	struct sb_admin_handle *rows;
	struct accept_call call = { 0 };
	struct sb_addr addr, local;
	struct sb_error err;
	sb_handle udp, conn;
	pthread_t thread;
	size_t n;
	char uid_key[32];

	sb_client_info(client, &info);
	snprintf(uid_key, sizeof(uid_key), "uid %lu", (unsigned long)getuid());

	/* The workload: a denied UDP socket, a listener with an accept waiting
	 * on it, then a connection to it. */
	ck_assert_int_eq(sb_socket(client, AF_INET, SOCK_DGRAM, 0, &udp, &err), -EPERM);
	ck_assert_str_eq(err.rule, "no-udp");
	call.listener = fixture_socket(AF_INET, SOCK_STREAM);
	sb_addr_inet(&addr, "127.0.0.1", 0);
	ck_assert_msg(sb_bind(client, call.listener, &addr, &err) == 0, "%s", err.message);
	ck_assert_msg(sb_listen(client, call.listener, 4, &err) == 0, "%s", err.message);
	ck_assert_int_eq(sb_getsockname(client, call.listener, &local, &err), 0);
	ck_assert_int_eq(sb_settimeout(client, call.listener, 30.0, &err), 0);
	ck_assert_int_eq(pthread_create(&thread, NULL, accept_thread, &call), 0);

	/* The accept shows as parked, on the listener's read queue. */
	int64_t deadline = test_now_ms() + WAIT_MS;
	for (;;) {
		ck_assert_msg(sb_admin_status(admin, &s, &err) == 0, "%s", err.message);
		if (s->parked == 1 || test_now_ms() > deadline)
			break;
		sb_admin_status_free(s);
		test_sleep_ms(20);
	}
	ck_assert_uint_eq(s->parked, 1);
	ck_assert_uint_eq(s->sessions, 2);
	ck_assert_uint_eq(s->handles, 1);
	ck_assert_uint_eq(find_identity(s, uid_key)->parked, 1);
	sb_admin_status_free(s);
	ck_assert_msg(sb_admin_handles(admin, info.session_id, &rows, &n, &err) == 0, "%s",
		      err.message);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(rows[0].state, "listening");
	ck_assert_uint_eq(rows[0].queued_reads, 1);
	ck_assert_uint_eq(rows[0].queued_writes, 0);
	ck_assert_int_eq(rows[0].family, AF_INET);
	ck_assert_int_eq(rows[0].type, SOCK_STREAM);
	ck_assert_str_eq(rows[0].local.host, "127.0.0.1");
	ck_assert_uint_eq(rows[0].local.port, local.port);
	ck_assert(!rows[0].has_peer);
	ck_assert_double_eq(rows[0].timeout, 30.0);
	sb_admin_handles_free(rows, n);

	conn = fixture_socket(AF_INET, SOCK_STREAM);
	sb_addr_inet(&addr, "127.0.0.1", local.port);
	ck_assert_msg(sb_connect(client, conn, &addr, &err) == 0, "%s", err.message);
	ck_assert_int_eq(pthread_join(thread, NULL), 0);
	ck_assert_msg(call.result == 0, "accept: %s", call.err.message);

	/* Status: the figures of the workload, exactly. */
	ck_assert_msg(sb_admin_status(admin, &s, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(s->sessions, 2);
	ck_assert_uint_eq(s->handles, 3);
	ck_assert_uint_eq(s->parked, 0);
	ck_assert_uint_eq(s->n_listeners, 2);
	ck_assert_str_eq(s->listeners[0], daemon_under_test.url);
	ck_assert_str_eq(s->listeners[1], tcp_url);
	const struct sb_admin_identity *mine = find_identity(s, uid_key);
	ck_assert_uint_eq(mine->sessions, 1);
	ck_assert_uint_eq(mine->handles, 3);
	ck_assert_uint_eq(find_identity(s, "token ops")->sessions, 1);
	ck_assert_uint_eq(find_identity(s, "token ops")->handles, 0);
	ck_assert_uint_eq(s->n_rules, 3);
	ck_assert_str_eq(s->rules[0].name, "no-udp");
	ck_assert(!s->rules[0].allow);
	ck_assert_uint_eq(s->rules[0].allowed, 0);
	ck_assert_uint_eq(s->rules[0].denied, 1);
	/* socket, bind, listen, socket, connect */
	ck_assert_uint_eq(find_rule(s, "allow-rest")->allowed, 5);
	ck_assert_uint_eq(find_rule(s, "allow-rest")->denied, 0);
	ck_assert_str_eq(s->rules[2].name, "default-deny");
	ck_assert_uint_eq(s->rules[2].allowed + s->rules[2].denied, 0);
	const struct sb_admin_quota *quota = find_quota(s, uid_key);
	ck_assert_str_eq(quota->quota, "everyone");
	ck_assert_uint_eq(quota->sessions, 1);
	ck_assert_uint_eq(quota->handles, 3);
	ck_assert_uint_eq(quota->max_handles, 50);
	ck_assert_uint_eq(quota->parked, 0);
	ck_assert_uint_eq(quota->max_parked, 20);
	ck_assert_uint_eq(find_quota(s, "token ops")->handles, 0);
	sb_admin_status_free(s);

	/* Sessions: ours by its uid over ipc, the admin's by its token over tcp. */
	ck_assert_msg(sb_admin_sessions(admin, &sessions, &n, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(sessions[0].id, info.session_id);
	ck_assert(sessions[0].has_credentials);
	ck_assert_int_eq(sessions[0].uid, getuid());
	ck_assert_int_eq(sessions[0].pid, getpid());
	ck_assert_str_eq(sessions[0].transport, "ipc");
	ck_assert_str_eq(sessions[0].client_name, "test-admin");
	ck_assert_str_eq(sessions[0].token_name, "");
	ck_assert_uint_eq(sessions[0].handles, 3);
	ck_assert_uint_eq(sessions[0].parked, 0);
	/* hello, socket (denied), socket, bind, listen, getsockname, settimeout,
	 * accept, socket, connect */
	ck_assert_uint_eq(sessions[0].requests, 10);
	ck_assert(!sessions[1].has_credentials);
	ck_assert_str_eq(sessions[1].transport, "tcp");
	ck_assert_str_eq(sessions[1].token_name, "ops");
	ck_assert_str_eq(sessions[1].client_name, "admin");
	ck_assert(sessions[0].age >= sessions[1].age);
	sb_admin_sessions_free(sessions, n);

	/* Handles: the three sockets as ss would show them. */
	ck_assert_msg(sb_admin_handles(admin, 0, &rows, &n, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(n, 3);
	const struct sb_admin_handle *listener = find_handle(rows, n, call.listener);
	const struct sb_admin_handle *client_end = find_handle(rows, n, conn);
	const struct sb_admin_handle *server_end = find_handle(rows, n, call.accepted);
	ck_assert_str_eq(listener->state, "listening");
	ck_assert_uint_eq(listener->queued_reads, 0);
	ck_assert_str_eq(client_end->state, "connected");
	ck_assert_str_eq(client_end->peer.host, "127.0.0.1");
	ck_assert_uint_eq(client_end->peer.port, local.port);
	ck_assert_str_eq(server_end->state, "connected");
	ck_assert_uint_eq(server_end->local.port, local.port);
	ck_assert_uint_eq(server_end->peer.port, client_end->local.port);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(rows[i].session, info.session_id);
	sb_admin_handles_free(rows, n);
	/* A session that does not exist has no handles. */
	ck_assert_int_eq(sb_admin_handles(admin, info.session_id + 1000, &rows, &n, &err), 0);
	ck_assert_uint_eq(n, 0);
	sb_admin_handles_free(rows, n);

	/* The same figures through sockbrokerctl. */
	char out[16384], args[1024], line[256];
	snprintf(args, sizeof(args), "--broker %s --token-file %s status", tcp_url, token_file);
	ck_assert_int_eq(run_ctl(args, out, sizeof(out)), 0);
	snprintf(line, sizeof(line), "%-28s %-7s %10d %10d\n", "allow-rest", "allow", 5, 0);
	ck_assert_msg(strstr(out, line), "no line \"%s\" in:\n%s", line, out);
	snprintf(line, sizeof(line), "%-28s %8d %8d %8d\n", uid_key, 1, 3, 0);
	ck_assert_msg(strstr(out, line), "no line \"%s\" in:\n%s", line, out);
	/* sockbrokerctl's own session is the third. */
	ck_assert_msg(strstr(out, "sessions 3 (at most 4096), handles 3, waiting operations 0"),
		      "%s", out);

	snprintf(args, sizeof(args), "--broker %s --token-file %s handles %llu", tcp_url,
		 token_file, (unsigned long long)info.session_id);
	ck_assert_int_eq(run_ctl(args, out, sizeof(out)), 0);
	size_t lines = 0;
	for (const char *p = out; (p = strchr(p, '\n')); p++)
		lines++;
	ck_assert_msg(lines == 4, "a header and 3 handles expected:\n%s", out);
	ck_assert_msg(strstr(out, "listening"), "%s", out);

	snprintf(args, sizeof(args), "--broker %s --token-file %s --json sessions", tcp_url,
		 token_file);
	ck_assert_int_eq(run_ctl(args, out, sizeof(out)), 0);
	ck_assert_msg(strncmp(out, "{\"sessions\":[{\"id\":", 19) == 0, "%s", out);
	ck_assert_msg(strstr(out, "\"transport\":\"ipc\",\"client\":\"test-admin\",\"handles\":3,"
				  "\"parked\":0"),
		      "%s", out);

	snprintf(args, sizeof(args), "--broker %s --token-file %s metrics", tcp_url, token_file);
	ck_assert_int_eq(run_ctl(args, out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "\nsockbroker_rule_decisions_total{rule=\"no-udp\","
				  "decision=\"deny\"} 1\n"),
		      "%s", out);
	ck_assert_msg(strstr(out, "\nsockbroker_handles 3\n"), "%s", out);
	snprintf(line, sizeof(line), "\nsockbroker_quota_max_handles{quota=\"everyone\","
				     "account=\"%s\"} 50\n", uid_key);
	ck_assert_msg(strstr(out, line), "%s", out);

	sb_client_free(admin);
}
END_TEST

static Suite *
admin_suite(void)
{
	Suite *s = suite_create("admin");
	const struct fixture_case cases[] = {
		{ "admin-only", only_an_admin_identity_may_use_the_admin_operations },
		{ "figures", status_sessions_and_handles_report_a_known_workload },
	};
	fixture_add_cases(s, cases, sizeof(cases) / sizeof(cases[0]), setup, teardown, 120);
	return s;
}

int
main(void)
{
	return fixture_run(admin_suite());
}
