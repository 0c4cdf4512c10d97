/*
 * Identity through the real daemon: access tokens in Hello (auth.tokens, auth.require_token)
 * and TLS client certificates (tls+tcp://). A right token names the session; a wrong one, or
 * none where one is required, is refused with DENIED/EACCES while the session stays open for
 * a Hello with the right one; a TLS client without a certificate from the configured CA never
 * gets a session. In every case the daemon goes on serving everyone else, the refusal is in
 * its log and its audit records, and the token itself appears nowhere. A Hello that asks to
 * resume a session is BAD_REQUEST/ESTALE (this daemon resumes none), and a plain Hello on the
 * same connection then starts afresh.
 *
 * The TLS cases make a throwaway CA and certificates with the openssl tool in a temporary
 * directory of their own; without the tool they say SKIP on stderr. Every daemon is stopped
 * by pid and every wait is bounded; traffic stays on loopback.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "certs.h"
#include "daemon.h"
#include "fixture.h"
#include "raw.h"
#include "sockbroker.h"

/* Two tokens and their SHA-256, as `printf %s TOKEN | sha256sum` prints them. */
#define CI_TOKEN "ci-token-1f8a04c2"
#define CI_HASH "91b39df0b0457b3fd948384f9ef9ec161d624ca44c606458b2a88e4d447fccdd"
#define OPS_TOKEN "ops-token-77b2e9d1"
#define OPS_HASH "4d3ce9b645d5406581251eda948784d65dd0880a4895d70f9a4aac1907a46eeb"
#define WRONG_TOKEN "wrong-token-5d0c3a"

#define TOKENS_JSON \
	"\"tokens\": [{\"name\": \"ci\", \"sha256\": \"" CI_HASH "\"}, " \
	"{\"name\": \"ops\", \"sha256\": \"" OPS_HASH "\"}]"

/* Debug logging, so that even the most detailed log is shown to lack the tokens. */
#define CONFIG_TOKENS "{\"log_level\": \"debug\", \"auth\": {" TOKENS_JSON "}}"
#define CONFIG_IPC_REQUIRES_A_TOKEN \
	"{\"log_level\": \"debug\", \"auth\": {" TOKENS_JSON ", \"require_token\": [\"ipc\"]}}"

/* How long a closed connection may take to be gone from the daemon. */
#define SETTLE_MS 5000

static void
setup(void)
{
	client = NULL;
	cert_dir[0] = '\0';
}

static void
teardown(void)
{
	/* A case that skipped started no daemon. */
	if (daemon_under_test.pid > 0) {
		fixture_stop();
	} else {
		sb_client_free(client);
		client = NULL;
	}
	if (cert_dir[0])
		remove_certificates();
}

static void
start_daemon(const char *config_json)
{
	test_daemon_start(&daemon_under_test, config_json);
}

/* A client of `url` (NULL: the daemon's ipc:// URL) with these settings; returns what
 * sb_client_new_with() returned. */
static int
connect_with(struct sb_client **out, const char *url, const char *token, const char *ca_file,
	     const char *cert_key_file, struct sb_error *err)
{
	struct sb_client_options options = {
		.url = url ? url : daemon_under_test.url,
		.client_name = "test-identity",
		.token = token,
		.tls_ca_file = ca_file,
		.tls_cert_key_file = cert_key_file,
	};
	*out = NULL;
	return sb_client_new_with(out, &options, err);
}

/* Close `client` and wait until the daemon holds `fds` descriptors again:
 * refused sessions and connections left nothing behind. */
static void
assert_back_to(int fds)
{
	sb_client_free(client);
	client = NULL;
	ck_assert_int_eq(test_daemon_wait_fd_count(&daemon_under_test, fds, SETTLE_MS), fds);
}

/* A socketpair round trip: the client's session serves operations. */
static void
assert_serves(struct sb_client *c)
{
	sb_handle pair[2];
	struct sb_error err;
	char buf[16];

	ck_assert_msg(sb_socketpair(c, AF_UNIX, SOCK_STREAM, 0, pair, &err) == 0, "%s",
		      err.message);
	ck_assert_int_eq(sb_send(c, pair[0], "ping", 4, 0, &err), 4);
	ck_assert_int_eq(sb_recv(c, pair[1], buf, sizeof(buf), 0, &err), 4);
	ck_assert_mem_eq(buf, "ping", 4);
	ck_assert_int_eq(sb_close(c, pair[0], &err), 0);
	ck_assert_int_eq(sb_close(c, pair[1], &err), 0);
}

/* The daemon's log (its stderr, where the audit records go too), NUL-terminated. */
static char *
read_log(void)
{
	FILE *f = fopen(daemon_under_test.log, "r");
	char *text = NULL;
	size_t len = 0, cap = 0;

	ck_assert_msg(f, "cannot open the daemon's log %s", daemon_under_test.log);
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? 2 * cap : 65536;
			text = realloc(text, cap);
			ck_assert_ptr_nonnull(text);
		}
		size_t n = fread(text + len, 1, cap - len - 1, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	text[len] = '\0';
	return text;
}

/* Wait (bounded) until the daemon's log has a line containing both parts. */
static void
assert_log_line(const char *part, const char *other_part)
{
	int64_t deadline = test_now_ms() + 5000;
	for (;;) {
		char *log = read_log();
		bool found = false;
		for (char *line = strtok(log, "\n"); line && !found; line = strtok(NULL, "\n"))
			found = strstr(line, part) && (!other_part || strstr(line, other_part));
		free(log);
		if (found)
			return;
		if (test_now_ms() > deadline) {
			test_daemon_dump_log(&daemon_under_test);
			ck_abort_msg("the daemon's log has no line with \"%s\"%s%s%s", part,
				     other_part ? " and \"" : "", other_part ? other_part : "",
				     other_part ? "\"" : "");
		}
		test_sleep_ms(20);
	}
}

/* No token, right or wrong, is in the log or the audit records. */
static void
assert_log_has_no_token(void)
{
	char *log = read_log();
	ck_assert_msg(!strstr(log, CI_TOKEN) && !strstr(log, OPS_TOKEN) &&
			      !strstr(log, WRONG_TOKEN),
		      "a token is in the daemon's log:\n%s", log);
	free(log);
}

/* A Hello on a raw session, with `token` (NULL: none). */
static Sockbroker__V1__Reply *
raw_hello(struct raw_client *raw, const char *token)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HelloRequest hello = SOCKBROKER__V1__HELLO_REQUEST__INIT;

	hello.has_protocol_version = true;
	hello.protocol_version = 1;
	hello.client_name = "test-identity raw";
	hello.token = (char *)token;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HELLO;
	request.hello = &hello;
	Sockbroker__V1__Reply *reply = raw_call(raw, &request);
	ck_assert_ptr_nonnull(reply);
	return reply;
}

static void
assert_denied(const Sockbroker__V1__Reply *reply, const char *message_part)
{
	ck_assert_msg(reply->error, "Hello was not refused");
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__DENIED);
	ck_assert_str_eq(reply->error->errno_name, "EACCES");
	ck_assert_msg(strstr(reply->error->message, message_part), "message \"%s\" lacks \"%s\"",
		      reply->error->message, message_part);
}

/* A Hello that succeeded, with the token name the daemon reported ("" for none). */
static void
assert_hello_ok(const Sockbroker__V1__Reply *reply, const char *token_name)
{
	ck_assert_msg(!reply->error, "Hello refused: %s", reply->error->message);
	ck_assert_int_eq(reply->result_case, SOCKBROKER__V1__REPLY__RESULT_HELLO);
	ck_assert_ptr_nonnull(reply->hello->identity);
	const char *name = reply->hello->identity->token_name;
	ck_assert_str_eq(name ? name : "", token_name);
}

/* A Socket request on a raw session: its reply. */
static Sockbroker__V1__Reply *
raw_socket(struct raw_client *raw)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SocketRequest socket_request = SOCKBROKER__V1__SOCKET_REQUEST__INIT;

	socket_request.has_family = true;
	socket_request.family = AF_INET;
	socket_request.has_type = true;
	socket_request.type = SOCK_DGRAM;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SOCKET;
	request.socket = &socket_request;
	Sockbroker__V1__Reply *reply = raw_call(raw, &request);
	ck_assert_ptr_nonnull(reply);
	return reply;
}

/* ---- tokens ------------------------------------------------------------- */

START_TEST(a_right_token_names_the_session)
{
	struct sb_server_info info;
	struct sb_error err;
	struct sb_client *ops;

	start_daemon(CONFIG_TOKENS);
	ck_assert_msg(connect_with(&client, NULL, CI_TOKEN, NULL, NULL, &err) == 0, "%s",
		      err.message);
	sb_client_info(client, &info);
	ck_assert_str_eq(info.token_name, "ci");
	ck_assert(info.has_credentials);
	ck_assert_int_eq(info.uid, (int64_t)getuid());
	ck_assert_int_eq(info.pid, (int64_t)getpid());
	ck_assert(!info.tls_verified);
	ck_assert_str_eq(info.peer, "ipc");
	assert_serves(client);

	ck_assert_msg(connect_with(&ops, NULL, OPS_TOKEN, NULL, NULL, &err) == 0, "%s",
		      err.message);
	sb_client_info(ops, &info);
	ck_assert_str_eq(info.token_name, "ops");
	sb_client_free(ops);

	/* Without a token, where none is required: a session without a token name. */
	ck_assert_msg(connect_with(&ops, NULL, "", NULL, NULL, &err) == 0, "%s", err.message);
	sb_client_info(ops, &info);
	ck_assert_str_eq(info.token_name, "");
	sb_client_free(ops);

	/* The audit record of the Hello names the token, never shows it. */
	assert_log_line("\"sockbroker.hello\"", "\"ci\"");
	assert_log_has_no_token();
}
END_TEST

START_TEST(the_token_comes_from_sockbroker_token_in_the_environment)
{
	struct sb_server_info info;
	struct sb_error err;

	start_daemon(CONFIG_TOKENS);
	ck_assert_int_eq(setenv(SB_TOKEN_ENV, OPS_TOKEN, 1), 0);
	int r = sb_client_new(&client, daemon_under_test.url, "test-identity", &err);
	unsetenv(SB_TOKEN_ENV);
	ck_assert_msg(r == 0, "%s", err.message);
	sb_client_info(client, &info);
	ck_assert_str_eq(info.token_name, "ops");
	sb_client_free(client);
	client = NULL;

	/* An explicit token wins over the environment; "" means none at all. */
	ck_assert_int_eq(setenv(SB_TOKEN_ENV, WRONG_TOKEN, 1), 0);
	r = connect_with(&client, NULL, CI_TOKEN, NULL, NULL, &err);
	ck_assert_msg(r == 0, "%s", err.message);
	sb_client_info(client, &info);
	ck_assert_str_eq(info.token_name, "ci");
	sb_client_free(client);
	r = connect_with(&client, NULL, "", NULL, NULL, &err);
	unsetenv(SB_TOKEN_ENV);
	ck_assert_msg(r == 0, "%s", err.message);
	sb_client_info(client, &info);
	ck_assert_str_eq(info.token_name, "");
}
END_TEST

START_TEST(a_wrong_token_is_eacces_and_the_session_may_say_hello_again)
{
	struct sb_server_info info;
	struct sb_error err;
	struct sb_client *other;

	start_daemon(CONFIG_TOKENS);
	int fds = test_daemon_fd_count(&daemon_under_test);

	/* The C library gives up on the connection. */
	ck_assert_int_eq(connect_with(&other, NULL, WRONG_TOKEN, NULL, NULL, &err), -EACCES);
	ck_assert_ptr_null(other);
	ck_assert_int_eq(err.kind, SB_ERR_DENIED);
	ck_assert_str_eq(err.errno_name, "EACCES");
	ck_assert_str_eq(err.message, "the token given in Hello is not valid for this daemon; "
				      "check the token or ask the operator for one");

	/* One session: a wrong token, a request before a good Hello, then the right token. */
	struct raw_client *raw = raw_connect(daemon_under_test.url, 0);
	Sockbroker__V1__Reply *reply = raw_hello(raw, WRONG_TOKEN);
	assert_denied(reply, "not valid for this daemon");
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	reply = raw_socket(raw);
	ck_assert_ptr_nonnull(reply->error);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__BAD_REQUEST);
	ck_assert_msg(strstr(reply->error->message, "before Hello"), "%s", reply->error->message);
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	/* Meanwhile another session is served. */
	ck_assert_msg(connect_with(&client, NULL, OPS_TOKEN, NULL, NULL, &err) == 0, "%s",
		      err.message);
	assert_serves(client);

	reply = raw_hello(raw, CI_TOKEN);
	assert_hello_ok(reply, "ci");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	reply = raw_socket(raw);
	ck_assert_msg(!reply->error, "%s", reply->error ? reply->error->message : "");
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	/* A later Hello changes nothing: not with another valid token, not with a wrong one. */
	reply = raw_hello(raw, OPS_TOKEN);
	assert_hello_ok(reply, "ci");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	reply = raw_hello(raw, WRONG_TOKEN);
	assert_hello_ok(reply, "ci");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	raw_close(raw);

	assert_serves(client);
	sb_client_info(client, &info);
	ck_assert_str_eq(info.token_name, "ops");

	/* Logged at warn level and audited as a denial, without the token. */
	assert_log_line("Hello refused (auth.tokens): the token given in Hello is not valid",
			NULL);
	assert_log_line("\"sockbroker.hello\"", "\"deny\"");
	assert_log_has_no_token();
	assert_back_to(fds);
}
END_TEST

START_TEST(a_token_is_refused_by_a_daemon_without_tokens)
{
	struct sb_error err;

	start_daemon("{}");
	ck_assert_int_eq(connect_with(&client, NULL, CI_TOKEN, NULL, NULL, &err), -EACCES);
	ck_assert_int_eq(err.kind, SB_ERR_DENIED);
	ck_assert_msg(connect_with(&client, NULL, "", NULL, NULL, &err) == 0, "%s", err.message);
	assert_serves(client);
	assert_log_has_no_token();
}
END_TEST

START_TEST(require_token_on_ipc_refuses_a_hello_without_one)
{
	struct sb_server_info info;
	struct sb_error err;
	struct sb_client *other;

	start_daemon(CONFIG_IPC_REQUIRES_A_TOKEN);
	ck_assert_int_eq(connect_with(&other, NULL, "", NULL, NULL, &err), -EACCES);
	ck_assert_int_eq(err.kind, SB_ERR_DENIED);
	ck_assert_str_eq(err.errno_name, "EACCES");
	ck_assert_str_eq(err.message, "this daemon requires a token on ipc connections; pass one "
				      "in Hello (SOCKBROKER_TOKEN)");
	ck_assert_int_eq(connect_with(&other, NULL, WRONG_TOKEN, NULL, NULL, &err), -EACCES);
	ck_assert_msg(strstr(err.message, "not valid"), "%s", err.message);

	/* The same session: refused without a token, served with one. */
	struct raw_client *raw = raw_connect(daemon_under_test.url, 0);
	Sockbroker__V1__Reply *reply = raw_hello(raw, NULL);
	assert_denied(reply, "requires a token on ipc connections");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	reply = raw_hello(raw, OPS_TOKEN);
	assert_hello_ok(reply, "ops");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	reply = raw_socket(raw);
	ck_assert_msg(!reply->error, "%s", reply->error ? reply->error->message : "");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	raw_close(raw);

	ck_assert_msg(connect_with(&client, NULL, CI_TOKEN, NULL, NULL, &err) == 0, "%s",
		      err.message);
	sb_client_info(client, &info);
	ck_assert_str_eq(info.token_name, "ci");
	assert_serves(client);

	assert_log_line("Hello refused (auth.require_token)", NULL);
	assert_log_line("\"sockbroker.hello\"", "\"auth.require_token\"");
	assert_log_has_no_token();
}
END_TEST

START_TEST(an_overlong_token_is_a_bad_request_naming_the_field)
{
	struct sb_error err;
	char *token = malloc(4098);

	ck_assert_ptr_nonnull(token);
	memset(token, 't', 4097);
	token[4097] = '\0';
	start_daemon(CONFIG_TOKENS);
	struct raw_client *raw = raw_connect(daemon_under_test.url, 0);
	Sockbroker__V1__Reply *reply = raw_hello(raw, token);
	ck_assert_ptr_nonnull(reply->error);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__BAD_REQUEST);
	ck_assert_str_eq(reply->error->message, "hello.token: 4097 bytes, longer than the 4096 "
						"bytes a token may have");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	reply = raw_hello(raw, CI_TOKEN);
	assert_hello_ok(reply, "ci");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	raw_close(raw);
	free(token);

	ck_assert_msg(connect_with(&client, NULL, OPS_TOKEN, NULL, NULL, &err) == 0, "%s",
		      err.message);
	assert_serves(client);
}
END_TEST

/* ---- TLS client certificates --------------------------------------------- */

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

START_TEST(a_tls_client_with_a_certificate_is_verified_and_one_without_is_refused)
{
	char tls_url[64], config[1024], ca[128], server[128], client_pem[128], stranger[128];
	struct sb_server_info info;
	struct sb_error err;
	struct sb_client *other;

	if (!make_certificates("tls", TEST_CERTS_SERVER_SAN))
		return;
	snprintf(ca, sizeof(ca), "%s/ca.crt", cert_dir);
	snprintf(server, sizeof(server), "%s/server.pem", cert_dir);
	snprintf(client_pem, sizeof(client_pem), "%s/client.pem", cert_dir);
	snprintf(stranger, sizeof(stranger), "%s/stranger.pem", cert_dir);
	snprintf(tls_url, sizeof(tls_url), "tls+tcp://127.0.0.1:%u", free_tcp_port());
	/* Tokens required on tls+tcp:// too: the transport is told apart from tcp://. */
	snprintf(config, sizeof(config),
		 "{\"tls\": {\"cert_key_file\": \"%s\", \"ca_file\": \"%s\"}, "
		 "\"auth\": {" TOKENS_JSON ", \"require_token\": [\"tls+tcp\"]}}",
		 server, ca);
	test_daemon_start_listening(&daemon_under_test, config, tls_url);
	int fds = test_daemon_fd_count(&daemon_under_test);

	ck_assert_msg(connect_with(&client, tls_url, CI_TOKEN, ca, client_pem, &err) == 0,
		      "%s", err.message);
	sb_client_info(client, &info);
	ck_assert(info.tls_verified);
	ck_assert(!info.has_credentials);
	ck_assert_str_eq(info.token_name, "ci");
	ck_assert_msg(strncmp(info.peer, "tcp 127.0.0.1:", 14) == 0, "peer \"%s\"", info.peer);
	assert_serves(client);

	/* A verified certificate without the required token. */
	ck_assert_int_eq(connect_with(&other, tls_url, "", ca, client_pem, &err), -EACCES);
	ck_assert_int_eq(err.kind, SB_ERR_DENIED);
	ck_assert_str_eq(err.message, "this daemon requires a token on tls+tcp connections; pass "
				      "one in Hello (SOCKBROKER_TOKEN)");

	/* No certificate, or one from another CA: the connection itself is refused. */
	ck_assert_int_lt(connect_with(&other, tls_url, CI_TOKEN, ca, "", &err), 0);
	ck_assert_ptr_null(other);
	ck_assert_int_eq(err.kind, SB_ERR_TRANSPORT);
	ck_assert_int_lt(connect_with(&other, tls_url, CI_TOKEN, ca, stranger, &err), 0);
	ck_assert_int_eq(err.kind, SB_ERR_TRANSPORT);

	/* Peers that drop during the TLS handshake (before it, halfway through a ClientHello,
	 * or with garbage) stop neither the listener nor the other sessions. */
	unsigned port = (unsigned)atoi(strrchr(tls_url, ':') + 1);
	for (int i = 0; i < 30; i++) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
					   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
		static const uint8_t hello_start[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 };
		if (i % 3 == 1)
			send(fd, hello_start, sizeof(hello_start), MSG_NOSIGNAL);
		if (i % 3 == 2)
			send(fd, "\0SP\0\0\x30\0\0", 8, MSG_NOSIGNAL);
		close(fd);
	}
	assert_serves(client);
	ck_assert_msg(connect_with(&other, tls_url, CI_TOKEN, ca, client_pem, &err) == 0, "%s",
		      err.message);
	assert_serves(other);
	sb_client_free(other);

	/* The daemon goes on serving, over TLS and ipc alike; ipc needs no token here. */
	assert_serves(client);
	ck_assert_msg(connect_with(&other, NULL, "", NULL, NULL, &err) == 0, "%s", err.message);
	sb_client_info(other, &info);
	ck_assert(!info.tls_verified);
	ck_assert_str_eq(info.token_name, "");
	assert_serves(other);
	sb_client_free(other);
	ck_assert_msg(connect_with(&other, tls_url, OPS_TOKEN, ca, client_pem, &err) == 0,
		      "%s", err.message);
	assert_serves(other);
	sb_client_free(other);

	assert_log_has_no_token();
	assert_back_to(fds);
}
END_TEST

/* ---- session resume ------------------------------------------------------ */

/* A Hello on a raw session that asks to resume the session of `secret`. */
static Sockbroker__V1__Reply *
raw_hello_resuming(struct raw_client *raw, const uint8_t *secret, size_t len)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HelloRequest hello = SOCKBROKER__V1__HELLO_REQUEST__INIT;

	hello.has_protocol_version = true;
	hello.protocol_version = 1;
	hello.client_name = "test-identity resume";
	hello.has_resume_secret = true;
	hello.resume_secret.data = (uint8_t *)secret;
	hello.resume_secret.len = len;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HELLO;
	request.hello = &hello;
	Sockbroker__V1__Reply *reply = raw_call(raw, &request);
	ck_assert_ptr_nonnull(reply);
	return reply;
}

static void
assert_cannot_resume(const Sockbroker__V1__Reply *reply)
{
	ck_assert_msg(reply->error, "a Hello with a resume secret was not refused");
	ck_assert_int_eq(reply->result_case, SOCKBROKER__V1__REPLY__RESULT__NOT_SET);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__BAD_REQUEST);
	ck_assert_int_eq(reply->error->errno_number, ESTALE);
	ck_assert_str_eq(reply->error->errno_name, "ESTALE");
	/* An ipc:// session ends with its connection (no grace period by default). */
	ck_assert_msg(strncmp(reply->error->message, "hello.resume_secret: ", 21) == 0 &&
			      (strstr(reply->error->message, "no session of this daemon has this "
							     "secret") ||
			       strstr(reply->error->message, "has said Hello already")),
		      "%s", reply->error->message);
}

START_TEST(a_resume_secret_is_estale_and_a_plain_hello_then_starts_afresh)
{
	struct sb_error err;
	uint8_t secret[64];
	size_t secret_len;

	start_daemon("{}");
	int fds = test_daemon_fd_count(&daemon_under_test);

	/* A session that had a socket open, and the secret its Hello gave, before its
	 * connection went away. */
	struct raw_client *first = raw_connect(daemon_under_test.url, 0);
	Sockbroker__V1__Reply *reply = raw_hello(first, NULL);
	assert_hello_ok(reply, "");
	ck_assert(reply->hello->has_resume_secret);
	secret_len = reply->hello->resume_secret.len;
	ck_assert_uint_gt(secret_len, 0);
	ck_assert_uint_le(secret_len, sizeof(secret));
	memcpy(secret, reply->hello->resume_secret.data, secret_len);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	reply = raw_socket(first);
	ck_assert_msg(!reply->error, "%s", reply->error ? reply->error->message : "");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	raw_close(first);

	/* A new connection asking to resume it: refused, and it has not said Hello. */
	struct raw_client *raw = raw_connect(daemon_under_test.url, 0);
	reply = raw_hello_resuming(raw, secret, secret_len);
	assert_cannot_resume(reply);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	reply = raw_socket(raw);
	ck_assert_ptr_nonnull(reply->error);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__BAD_REQUEST);
	ck_assert_msg(strstr(reply->error->message, "before Hello"), "%s", reply->error->message);
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	/* A plain Hello on the same connection starts afresh, and the session serves. */
	reply = raw_hello(raw, NULL);
	assert_hello_ok(reply, "");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	reply = raw_socket(raw);
	ck_assert_msg(!reply->error, "%s", reply->error ? reply->error->message : "");
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	/* Once Hello succeeded, a resume secret is still refused and changes nothing. */
	reply = raw_hello_resuming(raw, secret, secret_len);
	assert_cannot_resume(reply);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	reply = raw_socket(raw);
	ck_assert_msg(!reply->error, "%s", reply->error ? reply->error->message : "");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	raw_close(raw);

	/* The daemon goes on serving, and nothing of either session is left behind. */
	ck_assert_msg(connect_with(&client, NULL, "", NULL, NULL, &err) == 0, "%s", err.message);
	assert_serves(client);
	assert_back_to(fds);
}
END_TEST

static Suite *
identity_suite(void)
{
	Suite *s = suite_create("identity");
	const struct fixture_case cases[] = {
		{ "right-token", a_right_token_names_the_session },
		{ "token-env", the_token_comes_from_sockbroker_token_in_the_environment },
		{ "wrong-token", a_wrong_token_is_eacces_and_the_session_may_say_hello_again },
		{ "token-without-tokens", a_token_is_refused_by_a_daemon_without_tokens },
		{ "require-token", require_token_on_ipc_refuses_a_hello_without_one },
		{ "overlong-token", an_overlong_token_is_a_bad_request_naming_the_field },
		{ "tls", a_tls_client_with_a_certificate_is_verified_and_one_without_is_refused },
		{ "resume-secret", a_resume_secret_is_estale_and_a_plain_hello_then_starts_afresh },
	};
	fixture_add_cases(s, cases, sizeof(cases) / sizeof(cases[0]), setup, teardown, 120);
	return s;
}

int
main(void)
{
	return fixture_run(identity_suite());
}
