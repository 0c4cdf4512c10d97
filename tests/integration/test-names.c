/*
 * The name service, the host's name and its interfaces, through the real
 * daemon: getaddrinfo, getnameinfo, gethostbyname(_ex), gethostbyaddr,
 * getfqdn, gethostname, sethostname, getprotobyname, getservbyname,
 * getservbyport and if_nameindex/if_nametoindex/if_indextoname, each with
 * its success path, its OS, gai or herror path, and its bad-input path.
 *
 * The daemon runs on this host, so most answers are checked against what
 * this process's own libc says for the same call: the test holds on any
 * machine, with or without a network, whatever /etc/hosts says.
 *
 * Two seams keep the rest deterministic:
 *   - sethostname runs against a daemon in a UTS namespace of its own: this
 *     program re-executes itself as the daemon's wrapper
 *     (`test-names --in-new-uts-namespace CMD...` unshares the UTS namespace
 *     and execs CMD), so the host's own name is never touched;
 *   - names-gate (preloaded into the daemon) holds a lookup of a name under
 *     .gate.sockbroker.test pending until the test opens the gate, so that
 *     Cancel, the end of a session, the parked quota and a hung lookup can
 *     be tested without a network and without timing guesses.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "fixture.h"
#include "raw.h"
#include "sockbroker.h"

#define UTS_WRAPPER_FLAG "--in-new-uts-namespace"
#define GATED_NAME "pending.gate.sockbroker.test"
#define RAW_TIMEOUT_MS 10000

static char gate_dir[64];

/* ---- daemon start-up variants --------------------------------------------------------- */

static void
connect_client(void)
{
	fixture_connect("test-names");
}

/* Set (value non-NULL) or unset `name`, returning a copy of its old value. */
static char *
swap_env(const char *name, const char *value)
{
	const char *old = getenv(name);
	char *saved = old ? strdup(old) : NULL;
	if (value)
		setenv(name, value, 1);
	else
		unsetenv(name);
	return saved;
}

static void
restore_env(const char *name, char *saved)
{
	if (saved)
		setenv(name, saved, 1);
	else
		unsetenv(name);
	free(saved);
}

static void
setup(void)
{
	test_daemon_start(&daemon_under_test, NULL);
	connect_client();
}

static void
open_gate(void)
{
	char path[128];
	if (!gate_dir[0])
		return;
	snprintf(path, sizeof(path), "%s/open", gate_dir);
	FILE *f = fopen(path, "w");
	if (f)
		fclose(f);
}

static void
teardown(void)
{
	/* A lookup still held at the gate would keep the daemon from stopping. */
	open_gate();
	fixture_stop();
	if (gate_dir[0]) {
		char path[128];
		snprintf(path, sizeof(path), "%s/open", gate_dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/reached", gate_dir);
		unlink(path);
		rmdir(gate_dir);
		gate_dir[0] = '\0';
	}
}

/* Start the daemon with names-gate preloaded (the default fixture is
 * replaced). */
static void
start_gated(const char *config_json)
{
	const char *lib = getenv("SOCKBROKER_TEST_GATE_LIB");
	ck_assert_msg(lib, "SOCKBROKER_TEST_GATE_LIB must name the names-gate module");
	fixture_stop();

	snprintf(gate_dir, sizeof(gate_dir), "/tmp/sockbroker-gate-XXXXXX");
	ck_assert(mkdtemp(gate_dir));
	/* A sanitizer build wants its runtime first among the preloads; the seam only
	 * interposes getaddrinfo(), so ASan may let it go first. */
	const char *asan = getenv("ASAN_OPTIONS");
	char asan_options[512];
	snprintf(asan_options, sizeof(asan_options), "%s%sverify_asan_link_order=0",
		 asan ? asan : "", asan && *asan ? ":" : "");
	char *old_preload = swap_env("LD_PRELOAD", lib);
	char *old_gate = swap_env("SOCKBROKER_TEST_GATE", gate_dir);
	char *old_asan = swap_env("ASAN_OPTIONS", asan_options);
	test_daemon_start(&daemon_under_test, config_json);
	restore_env("LD_PRELOAD", old_preload);
	restore_env("SOCKBROKER_TEST_GATE", old_gate);
	restore_env("ASAN_OPTIONS", old_asan);
	connect_client();
}

/* Wait (at most 10 s) until `n` lookups reached the gate. */
static void
wait_for_gate_n(int n)
{
	char path[128];
	struct stat st;
	int64_t deadline = test_now_ms() + 10000;
	snprintf(path, sizeof(path), "%s/reached", gate_dir);
	while (stat(path, &st) < 0 || st.st_size < n) {
		ck_assert_msg(test_now_ms() < deadline, "%d lookups did not reach the gate within 10 s",
			      n);
		struct timespec pause = {0, 5000000L};
		nanosleep(&pause, NULL);
	}
}

static void
wait_for_gate(void)
{
	wait_for_gate_n(1);
}

/* Whether this process may create a UTS namespace (CAP_SYS_ADMIN). Tried in
 * a child, so that this process keeps its own. */
static bool
can_unshare_uts(char *why, size_t len)
{
	int status;
	pid_t child = fork();
	ck_assert(child >= 0);
	if (child == 0)
		_exit(unshare(CLONE_NEWUTS) == 0 ? 0 : errno);
	waitpid(child, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	snprintf(why, len, "unshare(CLONE_NEWUTS): %s",
		 WIFEXITED(status) ? strerror(WEXITSTATUS(status)) : "the probe died");
	return false;
}

/* Start the daemon in a UTS namespace of its own, through this program as
 * its wrapper. Returns false (after saying SKIP) when that is not possible. */
static bool
start_in_new_uts_namespace(const char *test)
{
	char why[128], self[PATH_MAX], wrapper[PATH_MAX + 512];
	if (!can_unshare_uts(why, sizeof(why))) {
		test_skip(test, "%s", why);
		return false;
	}
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	ck_assert(n > 0);
	self[n] = '\0';
	ck_assert_msg(!strchr(self, ' '), "the test's path must not contain spaces: %s", self);

	fixture_stop();
	const char *inner = getenv("SOCKBROKERD_WRAPPER");
	snprintf(wrapper, sizeof(wrapper), "%s %s%s%s", self, UTS_WRAPPER_FLAG,
		 inner && *inner ? " " : "", inner && *inner ? inner : "");
	char *saved = swap_env("SOCKBROKERD_WRAPPER", wrapper);
	test_daemon_start(&daemon_under_test, NULL);
	restore_env("SOCKBROKERD_WRAPPER", saved);
	connect_client();
	return true;
}

/* ---- a raw session with several requests in flight ------------------------------------ */

struct raw_session {
	nng_socket socket;
};

static nng_ctx raw_send(struct raw_session *s, const Sockbroker__V1__Request *request);
static Sockbroker__V1__Reply *raw_receive(nng_ctx ctx);

static void
raw_open(struct raw_session *s)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HelloRequest hello = SOCKBROKER__V1__HELLO_REQUEST__INIT;

	ck_assert_int_eq(nng_req0_open(&s->socket), 0);
	ck_assert_int_eq(
		nng_socket_set_ms(s->socket, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE), 0);
	int rv = nng_dial(s->socket, daemon_under_test.url, NULL, 0);
	ck_assert_msg(rv == 0, "dial: %s", nng_strerror(rv));
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HELLO;
	request.hello = &hello;
	Sockbroker__V1__Reply *reply = raw_receive(raw_send(s, &request));
	ck_assert(reply && !reply->error);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
}

/* Send `request` on a context of its own; its reply is raw_receive()'s. */
static nng_ctx
raw_send(struct raw_session *s, const Sockbroker__V1__Request *request)
{
	nng_ctx ctx;
	nng_msg *msg;
	nng_aio *aio;
	size_t len = sockbroker__v1__request__get_packed_size(request);

	ck_assert_int_eq(nng_ctx_open(&ctx, s->socket), 0);
	ck_assert_int_eq(nng_msg_alloc(&msg, len), 0);
	sockbroker__v1__request__pack(request, nng_msg_body(msg));
	ck_assert_int_eq(nng_aio_alloc(&aio, NULL, NULL), 0);
	nng_aio_set_timeout(aio, RAW_TIMEOUT_MS);
	nng_aio_set_msg(aio, msg);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	int rv = nng_aio_result(aio);
	if (rv != 0)
		nng_msg_free(msg);
	nng_aio_free(aio);
	ck_assert_msg(rv == 0, "send: %s", nng_strerror(rv));
	return ctx;
}

/* The reply on `ctx` (at most 10 s), which is then closed. */
static Sockbroker__V1__Reply *
raw_receive(nng_ctx ctx)
{
	nng_aio *aio;
	ck_assert_int_eq(nng_aio_alloc(&aio, NULL, NULL), 0);
	nng_aio_set_timeout(aio, RAW_TIMEOUT_MS);
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	int rv = nng_aio_result(aio);
	ck_assert_msg(rv == 0, "no reply from the daemon: %s", nng_strerror(rv));
	nng_msg *msg = nng_aio_get_msg(aio);
	nng_aio_free(aio);
	Sockbroker__V1__Reply *reply =
		sockbroker__v1__reply__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	nng_msg_free(msg);
	nng_ctx_close(ctx);
	ck_assert_msg(reply, "the reply is not a Reply message");
	return reply;
}

static nng_ctx
raw_send_getaddrinfo(struct raw_session *s, uint64_t seq, const char *host)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__GetAddrInfoRequest args = SOCKBROKER__V1__GET_ADDR_INFO_REQUEST__INIT;
	args.host = (char *)host;
	args.has_family = true;
	args.family = AF_INET;
	request.has_seq = true;
	request.seq = seq;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETADDRINFO;
	request.getaddrinfo = &args;
	return raw_send(s, &request);
}

static Sockbroker__V1__Reply *
raw_cancel(struct raw_session *s, uint64_t seq, uint64_t target)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__CancelRequest args = SOCKBROKER__V1__CANCEL_REQUEST__INIT;
	args.has_target_seq = true;
	args.target_seq = target;
	request.has_seq = true;
	request.seq = seq;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_CANCEL;
	request.cancel = &args;
	return raw_receive(raw_send(s, &request));
}

/* ---- raw requests with arguments the C library would not send ------------------------- */

/* Send one request on a fresh raw session and return its reply. */
static Sockbroker__V1__Reply *
raw_once(const Sockbroker__V1__Request *request)
{
	struct raw_client *raw = raw_connect(daemon_under_test.url, 1);
	Sockbroker__V1__Reply *reply = raw_call(raw, request);
	raw_close(raw);
	ck_assert_ptr_nonnull(reply);
	return reply;
}

/* The reply must be a BAD_REQUEST with `errno_name` whose message has `text`. */
static void
expect_bad_request(Sockbroker__V1__Reply *reply, const char *errno_name, const char *text)
{
	ck_assert_ptr_nonnull(reply->error);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__BAD_REQUEST);
	ck_assert_str_eq(reply->error->errno_name, errno_name);
	ck_assert_msg(strstr(reply->error->message, text), "message \"%s\" lacks \"%s\"",
		      reply->error->message, text);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
}

static char *
long_string(size_t len, char c)
{
	char *s = malloc(len + 1);
	ck_assert(s);
	memset(s, c, len);
	s[len] = '\0';
	return s;
}

/* The daemon's fd count once it stops changing (the fixture's readiness probe and earlier
 * sessions go away asynchronously). */
static int
stable_fd_count(void)
{
	struct timespec pause = {0, 100000000L};
	int64_t deadline = test_now_ms() + 5000;
	int count = test_daemon_fd_count(&daemon_under_test);
	for (;;) {
		nanosleep(&pause, NULL);
		int again = test_daemon_fd_count(&daemon_under_test);
		if (again == count || test_now_ms() > deadline)
			return again;
		count = again;
	}
}

/* The daemon still answers, and holds as many fds as before. */
static void
expect_daemon_serving(int baseline_fds)
{
	char host[64];
	struct sb_error err;
	ck_assert_int_eq(sb_gethostbyname(client, "127.0.0.1", host, sizeof(host), &err), 0);
	ck_assert_str_eq(host, "127.0.0.1");
	if (baseline_fds > 0)
		ck_assert_int_eq(test_daemon_wait_fd_count(&daemon_under_test, baseline_fds, 5000),
				 baseline_fds);
}

/* ---- getaddrinfo ------------------------------------------------------------------------ */

static void
format_sockaddr(const struct sockaddr *sa, char *host, size_t len, unsigned *port)
{
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, (socklen_t)len);
		*port = ntohs(sin6->sin6_port);
	} else {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, host, (socklen_t)len);
		*port = ntohs(sin->sin_port);
	}
}

/* The daemon's getaddrinfo() must give what this process's libc gives, entry by entry.
 * Returns the number of entries. */
static size_t
expect_getaddrinfo_as_libc(const char *host, const char *port, int family, int type, int flags)
{
	struct addrinfo hints = {.ai_family = family, .ai_socktype = type, .ai_flags = flags};
	struct addrinfo *local = NULL;
	struct sb_addrinfo *results = NULL;
	struct sb_error err;
	size_t count = 0, i = 0;

	int gai = getaddrinfo(host, port, &hints, &local);
	ck_assert_msg(gai == 0, "libc getaddrinfo(%s, %s): %s", host, port, gai_strerror(gai));
	int r = sb_getaddrinfo(client, host, port, family, type, 0, flags, &results, &count, &err);
	ck_assert_msg(r == 0, "getaddrinfo(%s, %s): %s", host, port, err.message);
	for (const struct addrinfo *ai = local; ai; ai = ai->ai_next, i++) {
		char want[INET6_ADDRSTRLEN];
		unsigned want_port;
		ck_assert_uint_lt(i, count);
		format_sockaddr(ai->ai_addr, want, sizeof(want), &want_port);
		ck_assert_int_eq(results[i].family, ai->ai_family);
		ck_assert_int_eq(results[i].type, ai->ai_socktype);
		ck_assert_int_eq(results[i].proto, ai->ai_protocol);
		ck_assert_int_eq(results[i].addr.family, ai->ai_family);
		ck_assert_str_eq(results[i].addr.host, want);
		ck_assert_uint_eq(results[i].addr.port, want_port);
		ck_assert_str_eq(results[i].canonname, ai->ai_canonname ? ai->ai_canonname : "");
	}
	ck_assert_uint_eq(count, i);
	freeaddrinfo(local);
	sb_addrinfo_free(results);
	return count;
}

START_TEST(getaddrinfo_of_localhost_and_numeric_hosts_is_libcs_answer)
{
	struct sb_addrinfo *results;
	struct sb_error err;
	size_t count;

	ck_assert_uint_ge(expect_getaddrinfo_as_libc("localhost", "80", AF_INET, SOCK_STREAM, 0),
			  1);
	expect_getaddrinfo_as_libc("localhost", NULL, AF_UNSPEC, 0, 0);
	expect_getaddrinfo_as_libc("127.0.0.1", "8080", AF_UNSPEC, 0, AI_NUMERICHOST);
	expect_getaddrinfo_as_libc("::1", "443", AF_INET6, SOCK_DGRAM, AI_NUMERICHOST);
	expect_getaddrinfo_as_libc("localhost", "80", AF_INET, SOCK_STREAM, AI_CANONNAME);
	expect_getaddrinfo_as_libc(NULL, "8080", AF_INET, SOCK_STREAM, AI_PASSIVE);
	expect_getaddrinfo_as_libc(NULL, "8080", AF_INET, SOCK_STREAM, 0);

	/* The reference's shapes, spelled out. */
	ck_assert_int_eq(sb_getaddrinfo(client, "127.0.0.1", "80", AF_INET, SOCK_STREAM, 0,
					AI_NUMERICHOST, &results, &count, &err),
			 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_int_eq(results[0].family, AF_INET);
	ck_assert_int_eq(results[0].type, SOCK_STREAM);
	ck_assert_int_eq(results[0].proto, IPPROTO_TCP);
	ck_assert_str_eq(results[0].canonname, "");
	ck_assert_str_eq(results[0].addr.host, "127.0.0.1");
	ck_assert_uint_eq(results[0].addr.port, 80);
	sb_addrinfo_free(results);

	ck_assert_int_eq(sb_getaddrinfo(client, "fe80::1%lo", "53", AF_INET6, SOCK_DGRAM, 0,
					AI_NUMERICHOST, &results, &count, &err),
			 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_str_eq(results[0].addr.host, "fe80::1");
	ck_assert_uint_eq(results[0].addr.scope_id, if_nametoindex("lo"));
	sb_addrinfo_free(results);

	ck_assert_int_eq(sb_getaddrinfo(client, NULL, "8080", AF_INET, SOCK_STREAM, 0, AI_PASSIVE,
					&results, &count, &err),
			 0);
	ck_assert_str_eq(results[0].addr.host, "0.0.0.0");
	sb_addrinfo_free(results);

	ck_assert_int_eq(sb_getaddrinfo(client, "localhost", NULL, AF_INET, SOCK_STREAM, 0,
					AI_CANONNAME, &results, &count, &err),
			 0);
	ck_assert_str_eq(results[0].canonname, "localhost");
	sb_addrinfo_free(results);
}
END_TEST

START_TEST(getaddrinfo_takes_service_names)
{
	struct servent *local = getservbyname("http", "tcp");
	if (!local) {
		test_skip("getaddrinfo_takes_service_names",
			  "this host's services database has no http/tcp");
		return;
	}
	struct sb_addrinfo *results;
	struct sb_error err;
	size_t count;
	ck_assert_int_eq(sb_getaddrinfo(client, "127.0.0.1", "http", AF_INET, SOCK_STREAM, 0,
					AI_NUMERICHOST, &results, &count, &err),
			 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_uint_eq(results[0].addr.port, 80);
	sb_addrinfo_free(results);
	expect_getaddrinfo_as_libc("localhost", "http", AF_UNSPEC, 0, 0);
}
END_TEST

/* The daemon's getaddrinfo() must fail as this process's libc does, as a gaierror. */
static void
expect_gai_error(const char *host, const char *port, int family, int type, int flags)
{
	struct addrinfo hints = {.ai_family = family, .ai_socktype = type, .ai_flags = flags};
	struct addrinfo *local = NULL;
	struct sb_addrinfo *results = NULL;
	struct sb_error err;
	size_t count;

	int gai = getaddrinfo(host, port, &hints, &local);
	ck_assert_msg(gai != 0 && gai != EAI_SYSTEM, "libc getaddrinfo(%s, %s) gave %d", host, port,
		      gai);
	int r = sb_getaddrinfo(client, host, port, family, type, 0, flags, &results, &count, &err);
	ck_assert_int_eq(r, -ENOENT);
	ck_assert_int_eq(err.kind, SB_ERR_GAI);
	ck_assert_int_eq(err.gai_code, gai);
	ck_assert_str_eq(err.message, gai_strerror(gai));
	ck_assert_ptr_null(results);
}

START_TEST(getaddrinfo_failures_are_gai_errors)
{
	struct sb_addrinfo *results = NULL;
	struct sb_error err;
	size_t count;

	/* .invalid never resolves (RFC 6761): EAI_NONAME, or EAI_AGAIN without a network. */
	int r = sb_getaddrinfo(client, "name.invalid", "80", AF_UNSPEC, 0, 0, 0, &results, &count,
			       &err);
	ck_assert_int_eq(r, -ENOENT);
	ck_assert_int_eq(err.kind, SB_ERR_GAI);
	ck_assert_msg(err.gai_code == EAI_NONAME || err.gai_code == EAI_AGAIN, "gai_code %d (%s)",
		      err.gai_code, err.message);
	ck_assert_str_eq(err.message, gai_strerror(err.gai_code));

	expect_gai_error("localhost", "80", AF_UNSPEC, 0, AI_NUMERICHOST);
	expect_gai_error(NULL, NULL, AF_UNSPEC, 0, 0);
	expect_gai_error("127.0.0.1", "no-such-service-here", AF_INET, SOCK_STREAM, 0);
	expect_gai_error("127.0.0.1", "80", 4242, 0, 0);
	expect_gai_error("127.0.0.1", "80", AF_INET, 4242, 0);
	expect_gai_error("127.0.0.1", "80", AF_INET, 0, 0x40000000);
	expect_daemon_serving(0);
}
END_TEST

START_TEST(getaddrinfo_bad_input_names_the_field)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__GetAddrInfoRequest args = SOCKBROKER__V1__GET_ADDR_INFO_REQUEST__INIT;
	int baseline = stable_fd_count();
	char *host = long_string(1025, 'a'), *port = long_string(256, '8');

	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETADDRINFO;
	request.getaddrinfo = &args;
	args.host = host;
	expect_bad_request(raw_once(&request), "EINVAL", "getaddrinfo.host");
	args.host = "localhost";
	args.port = port;
	expect_bad_request(raw_once(&request), "EINVAL", "getaddrinfo.port");
	free(host);
	free(port);

	/* The C library refuses what it cannot send. */
	struct sb_error err;
	size_t count;
	ck_assert_int_eq(sb_getaddrinfo(client, "localhost", NULL, 0, 0, 0, 0, NULL, &count, &err),
			 -EINVAL);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_REQUEST);
	expect_daemon_serving(baseline);
}
END_TEST

/* ---- getnameinfo ------------------------------------------------------------------------ */

/* The daemon's getnameinfo() of (host, port[, flowinfo, scope_id]) must give what this
 * process's libc gives for the same sockaddr. */
static void
expect_getnameinfo_as_libc(const struct sb_addr *addr, int flags, const char *want_host)
{
	char host[1025], serv[32], local_host[1025], local_serv[32];
	struct sockaddr_storage ss = {0};
	socklen_t len;
	struct sb_error err;

	if (addr->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(addr->port);
		sin6->sin6_scope_id = addr->scope_id;
		ck_assert_int_eq(inet_pton(AF_INET6, addr->host, &sin6->sin6_addr), 1);
		len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(addr->port);
		ck_assert_int_eq(inet_pton(AF_INET, addr->host, &sin->sin_addr), 1);
		len = sizeof(*sin);
	}
	ck_assert_int_eq(getnameinfo((struct sockaddr *)&ss, len, local_host, sizeof(local_host),
				     local_serv, sizeof(local_serv), flags),
			 0);
	int r = sb_getnameinfo(client, addr, flags, host, sizeof(host), serv, sizeof(serv), &err);
	ck_assert_msg(r == 0, "getnameinfo(%s): %s", addr->host, err.message);
	ck_assert_str_eq(host, local_host);
	ck_assert_str_eq(serv, local_serv);
	if (want_host)
		ck_assert_str_eq(host, want_host);
}

START_TEST(getnameinfo_gives_host_and_service_as_libc)
{
	struct sb_addr addr;
	char host[64], serv[32], link_local[64];
	struct sb_error err;
	unsigned lo = if_nametoindex("lo");

	sb_addr_inet(&addr, "127.0.0.1", 80);
	expect_getnameinfo_as_libc(&addr, NI_NUMERICHOST | NI_NUMERICSERV, "127.0.0.1");
	expect_getnameinfo_as_libc(&addr, 0, NULL);
	expect_getnameinfo_as_libc(&addr, NI_DGRAM | NI_NUMERICHOST, NULL);
	sb_addr_inet6(&addr, "::1", 443, 0, 0);
	expect_getnameinfo_as_libc(&addr, NI_NUMERICHOST | NI_NUMERICSERV, "::1");

	/* A link-local address with a scope comes back with "%interface", as the reference's. */
	ck_assert_uint_ne(lo, 0);
	snprintf(link_local, sizeof(link_local), "fe80::1%%lo");
	sb_addr_inet6(&addr, "fe80::1", 80, 0, lo);
	expect_getnameinfo_as_libc(&addr, NI_NUMERICHOST | NI_NUMERICSERV, link_local);
	/* A "%scope" suffix on the host sets the scope too... */
	sb_addr_inet6(&addr, "fe80::1%lo", 80, 0, 0);
	ck_assert_int_eq(sb_getnameinfo(client, &addr, NI_NUMERICHOST | NI_NUMERICSERV, host,
					sizeof(host), serv, sizeof(serv), &err),
			 0);
	ck_assert_str_eq(host, link_local);
	ck_assert_str_eq(serv, "80");
	/* ...and without any scope there is no suffix. */
	sb_addr_inet6(&addr, "fe80::1", 80, 0, 0);
	ck_assert_int_eq(sb_getnameinfo(client, &addr, NI_NUMERICHOST, host, sizeof(host), serv,
					sizeof(serv), &err),
			 0);
	ck_assert_str_eq(host, "fe80::1");

	/* A buffer too small is said so, not cut short. */
	sb_addr_inet(&addr, "127.0.0.1", 80);
	ck_assert_int_eq(
		sb_getnameinfo(client, &addr, NI_NUMERICHOST, host, 4, serv, sizeof(serv), &err),
		-ERANGE);
}
END_TEST

START_TEST(getnameinfo_failures_are_gai_or_os_errors)
{
	struct sb_addr addr;
	char host[1025], serv[32];
	struct sb_error err;

	/* The host must be numeric. */
	sb_addr_inet(&addr, "localhost", 80);
	ck_assert_int_eq(
		sb_getnameinfo(client, &addr, 0, host, sizeof(host), serv, sizeof(serv), &err),
		-ENOENT);
	ck_assert_int_eq(err.kind, SB_ERR_GAI);
	ck_assert_int_eq(err.gai_code, EAI_NONAME);
	ck_assert_str_eq(err.message, gai_strerror(EAI_NONAME));

	/* Flags libc does not know. */
	sb_addr_inet(&addr, "127.0.0.1", 80);
	ck_assert_int_eq(sb_getnameinfo(client, &addr, 0x40000000, host, sizeof(host), serv,
					sizeof(serv), &err),
			 -ENOENT);
	ck_assert_int_eq(err.kind, SB_ERR_GAI);
	ck_assert_int_eq(err.gai_code, EAI_BADFLAGS);

	/* A name required where there is none (TEST-NET-1 has no reverse entry): EAI_NONAME,
	 * or EAI_AGAIN without a network. */
	sb_addr_inet(&addr, "192.0.2.1", 80);
	ck_assert_int_eq(sb_getnameinfo(client, &addr, NI_NAMEREQD, host, sizeof(host), serv,
					sizeof(serv), &err),
			 -ENOENT);
	ck_assert_int_eq(err.kind, SB_ERR_GAI);
	ck_assert_msg(err.gai_code == EAI_NONAME || err.gai_code == EAI_AGAIN, "gai_code %d",
		      err.gai_code);

	/* An IPv4 host in the IPv6 form: the reference's OSError. */
	sb_addr_inet6(&addr, "127.0.0.1", 80, 0, 0);
	ck_assert_int_eq(
		sb_getnameinfo(client, &addr, 0, host, sizeof(host), serv, sizeof(serv), &err),
		-EINVAL);
	ck_assert_int_eq(err.kind, SB_ERR_OS);
	ck_assert_str_eq(err.message, "IPv4 sockaddr must be 2 tuple");
}
END_TEST

START_TEST(getnameinfo_bad_input_names_the_field)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__GetNameInfoRequest args = SOCKBROKER__V1__GET_NAME_INFO_REQUEST__INIT;
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__UnixAddress un;
	Sockbroker__V1__Inet6Address in6 = SOCKBROKER__V1__INET6_ADDRESS__INIT;
	int baseline = stable_fd_count();

	sockbroker__v1__unix_address__init(&un);

	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETNAMEINFO;
	request.getnameinfo = &args;
	expect_bad_request(raw_once(&request), "EINVAL", "getnameinfo.address is required");

	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_UNIX;
	address.af_unix = &un;
	args.address = &address;
	expect_bad_request(raw_once(&request), "EINVAL", "getnameinfo.address must be an af_inet");

	in6.host = "::1";
	in6.has_port = true;
	in6.port = 80;
	in6.has_flowinfo = true;
	in6.flowinfo = 0x100000;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET6;
	address.af_inet6 = &in6;
	expect_bad_request(raw_once(&request), "EOVERFLOW", "flowinfo must be 0-1048575");

	in6.flowinfo = 0;
	in6.port = 65536;
	expect_bad_request(raw_once(&request), "EOVERFLOW", "port must be 0-65535");
	expect_daemon_serving(baseline);
}
END_TEST

/* ---- gethostbyname, gethostbyname_ex, gethostbyaddr --------------------------------------- */

START_TEST(gethostbyname_gives_the_ipv4_address)
{
	char address[64];
	struct sb_error err;

	ck_assert_int_eq(sb_gethostbyname(client, "localhost", address, sizeof(address), &err), 0);
	ck_assert_str_eq(address, "127.0.0.1");
	ck_assert_int_eq(sb_gethostbyname(client, "127.0.0.1", address, sizeof(address), &err), 0);
	ck_assert_str_eq(address, "127.0.0.1");
	/* The reference's special names. */
	ck_assert_int_eq(sb_gethostbyname(client, "", address, sizeof(address), &err), 0);
	ck_assert_str_eq(address, "0.0.0.0");
	ck_assert_int_eq(sb_gethostbyname(client, "<broadcast>", address, sizeof(address), &err),
			 0);
	ck_assert_str_eq(address, "255.255.255.255");

	/* A name that does not resolve is a gaierror, as the reference raises it. */
	ck_assert_int_eq(sb_gethostbyname(client, "name.invalid", address, sizeof(address), &err),
			 -ENOENT);
	ck_assert_int_eq(err.kind, SB_ERR_GAI);
	ck_assert_msg(err.gai_code == EAI_NONAME || err.gai_code == EAI_AGAIN, "gai_code %d",
		      err.gai_code);
	/* An IPv6 address is no IPv4 address. */
	ck_assert_int_eq(sb_gethostbyname(client, "::1", address, sizeof(address), &err), -ENOENT);
	ck_assert_int_eq(err.kind, SB_ERR_GAI);
}
END_TEST

/* libc's gethostbyname_r()/gethostbyaddr_r() for the comparison; NULL with *herr set. */
static struct hostent *
local_hostent(const char *name, int family, struct hostent *entry, char *buf, size_t len, int *herr)
{
	struct hostent *h = NULL;
	if (family == AF_UNSPEC) {
		gethostbyname_r(name, entry, buf, len, &h, herr);
	} else {
		unsigned char address[16];
		ck_assert_int_eq(inet_pton(family, name, address), 1);
		gethostbyaddr_r(address, family == AF_INET ? 4 : 16, family, entry, buf, len, &h,
				herr);
	}
	return h;
}

static void
expect_hostent(const struct sb_hostent *got, const struct hostent *want)
{
	size_t n = 0;
	char text[INET6_ADDRSTRLEN];

	ck_assert_str_eq(got->name, want->h_name);
	for (n = 0; want->h_aliases[n]; n++) {
		ck_assert_uint_lt(n, got->n_aliases);
		ck_assert_str_eq(got->aliases[n], want->h_aliases[n]);
	}
	ck_assert_uint_eq(got->n_aliases, n);
	ck_assert_ptr_null(got->aliases[n]);
	for (n = 0; want->h_addr_list[n]; n++) {
		ck_assert_uint_lt(n, got->n_addresses);
		inet_ntop(want->h_addrtype, want->h_addr_list[n], text, sizeof(text));
		ck_assert_str_eq(got->addresses[n], text);
	}
	ck_assert_uint_eq(got->n_addresses, n);
	ck_assert_ptr_null(got->addresses[n]);
}

START_TEST(gethostbyname_ex_gives_the_host_entry)
{
	struct hostent entry, *want;
	struct sb_hostent *got;
	struct sb_error err;
	char buf[4096];
	int herr;

	want = local_hostent("localhost", AF_UNSPEC, &entry, buf, sizeof(buf), &herr);
	ck_assert_ptr_nonnull(want);
	ck_assert_int_eq(sb_gethostbyname_ex(client, "localhost", &got, &err), 0);
	expect_hostent(got, want);
	sb_hostent_free(got);

	ck_assert_int_eq(sb_gethostbyname_ex(client, "127.0.0.1", &got, &err), 0);
	ck_assert_str_eq(got->name, "127.0.0.1");
	ck_assert_uint_eq(got->n_addresses, 1);
	ck_assert_str_eq(got->addresses[0], "127.0.0.1");
	sb_hostent_free(got);

	/* The name is resolved first: one that does not resolve is a gaierror. */
	ck_assert_int_eq(sb_gethostbyname_ex(client, "name.invalid", &got, &err), -ENOENT);
	ck_assert_int_eq(err.kind, SB_ERR_GAI);

	/* "<broadcast>" is an address to the reference but no name to gethostbyname_r(): the
	 * host-entry lookup fails, an herror with h_errno as this host's libc sets it. */
	want = local_hostent("<broadcast>", AF_UNSPEC, &entry, buf, sizeof(buf), &herr);
	ck_assert_ptr_null(want);
	ck_assert_int_eq(sb_gethostbyname_ex(client, "<broadcast>", &got, &err), -ENOENT);
	ck_assert_int_eq(err.kind, SB_ERR_HERROR);
	ck_assert_int_eq(err.herror_code, herr);
	ck_assert_str_eq(err.message, hstrerror(herr));
}
END_TEST

START_TEST(gethostbyaddr_gives_the_host_entry_or_an_herror)
{
	struct hostent entry, *want;
	struct sb_hostent *got;
	struct sb_error err;
	char buf[4096];
	int herr = 0;

	want = local_hostent("127.0.0.1", AF_INET, &entry, buf, sizeof(buf), &herr);
	if (want) {
		ck_assert_int_eq(sb_gethostbyaddr(client, "127.0.0.1", &got, &err), 0);
		expect_hostent(got, want);
		sb_hostent_free(got);
		/* A name is looked up first, then its address. */
		ck_assert_int_eq(sb_gethostbyaddr(client, "localhost", &got, &err), 0);
		ck_assert_str_eq(got->name, want->h_name);
		sb_hostent_free(got);
	} else {
		fprintf(stderr,
			"SKIP gethostbyaddr of 127.0.0.1: this host has no reverse entry "
			"for it (h_errno %d)\n",
			herr);
	}

	/* TEST-NET-1 has no name: an herror, with h_errno and hstrerror() as this host's libc
	 * says (HOST_NOT_FOUND, or TRY_AGAIN without a network). */
	want = local_hostent("192.0.2.1", AF_INET, &entry, buf, sizeof(buf), &herr);
	ck_assert_ptr_null(want);
	ck_assert_int_eq(sb_gethostbyaddr(client, "192.0.2.1", &got, &err), -ENOENT);
	ck_assert_int_eq(err.kind, SB_ERR_HERROR);
	ck_assert_int_eq(err.herror_code, herr);
	ck_assert_str_eq(err.message, hstrerror(herr));

	/* An IPv6 address works the same way. */
	want = local_hostent("::1", AF_INET6, &entry, buf, sizeof(buf), &herr);
	int r = sb_gethostbyaddr(client, "::1", &got, &err);
	if (want) {
		ck_assert_int_eq(r, 0);
		expect_hostent(got, want);
		sb_hostent_free(got);
	} else {
		ck_assert_int_eq(r, -ENOENT);
		ck_assert_int_eq(err.kind, SB_ERR_HERROR);
		ck_assert_int_eq(err.herror_code, herr);
	}

	/* A name that does not resolve is a gaierror, before any reverse lookup. */
	ck_assert_int_eq(sb_gethostbyaddr(client, "name.invalid", &got, &err), -ENOENT);
	ck_assert_int_eq(err.kind, SB_ERR_GAI);
}
END_TEST

START_TEST(host_lookups_bad_input_names_the_field)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HostNameRequest args = SOCKBROKER__V1__HOST_NAME_REQUEST__INIT;
	int baseline = stable_fd_count();
	char *name = long_string(1025, 'h');

	request.gethostbyname = &args; /* the same member for each: a union */
	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETHOSTBYNAME;
	expect_bad_request(raw_once(&request), "EINVAL", "gethostbyname.name is required");
	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETHOSTBYNAME_EX;
	expect_bad_request(raw_once(&request), "EINVAL", "gethostbyname_ex.name is required");
	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETHOSTBYADDR;
	expect_bad_request(raw_once(&request), "EINVAL", "gethostbyaddr.name is required");
	args.name = name;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETHOSTBYNAME;
	expect_bad_request(raw_once(&request), "EINVAL", "gethostbyname.name: 1025 bytes");
	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETFQDN;
	expect_bad_request(raw_once(&request), "EINVAL", "getfqdn.name: 1025 bytes");
	free(name);

	struct sb_error err;
	struct sb_hostent *got;
	ck_assert_int_eq(sb_gethostbyname_ex(client, NULL, &got, &err), -EINVAL);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_REQUEST);
	expect_daemon_serving(baseline);
}
END_TEST

/* ---- getfqdn ----------------------------------------------------------------------------- */

/* The reference's getfqdn() over this process's libc. */
static void
local_getfqdn(const char *name, char *out, size_t len)
{
	struct addrinfo hints = {0}, *res = NULL;
	struct hostent entry, *h = NULL;
	char buf[4096], host[256];
	int herr;

	if (!*name || strcmp(name, "0.0.0.0") == 0 || strcmp(name, "::") == 0) {
		ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
		name = host;
	}
	snprintf(out, len, "%s", name);
	if (getaddrinfo(name, NULL, &hints, &res) != 0)
		return;
	if (res->ai_family == AF_INET)
		gethostbyaddr_r(&((struct sockaddr_in *)res->ai_addr)->sin_addr, 4, AF_INET, &entry,
				buf, sizeof(buf), &h, &herr);
	else
		gethostbyaddr_r(&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, 16, AF_INET6,
				&entry, buf, sizeof(buf), &h, &herr);
	freeaddrinfo(res);
	if (!h)
		return;
	snprintf(out, len, "%s", h->h_name);
	if (strchr(h->h_name, '.'))
		return;
	for (size_t i = 0; h->h_aliases[i]; i++) {
		if (strchr(h->h_aliases[i], '.')) {
			snprintf(out, len, "%s", h->h_aliases[i]);
			return;
		}
	}
}

START_TEST(getfqdn_follows_the_reference)
{
	char got[1025], want[1025];
	struct sb_error err;

	local_getfqdn("", want, sizeof(want));
	ck_assert_int_eq(sb_getfqdn(client, NULL, got, sizeof(got), &err), 0);
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(sb_getfqdn(client, "0.0.0.0", got, sizeof(got), &err), 0);
	ck_assert_str_eq(got, want);

	local_getfqdn("localhost", want, sizeof(want));
	ck_assert_int_eq(sb_getfqdn(client, "localhost", got, sizeof(got), &err), 0);
	ck_assert_str_eq(got, want);
	/* Surrounding white space is stripped, as the reference strips it. */
	ck_assert_int_eq(sb_getfqdn(client, "  localhost\t", got, sizeof(got), &err), 0);
	ck_assert_str_eq(got, want);

	/* A name that does not resolve comes back unchanged: getfqdn() does not fail. */
	ck_assert_int_eq(sb_getfqdn(client, "name.invalid", got, sizeof(got), &err), 0);
	ck_assert_str_eq(got, "name.invalid");
	ck_assert_int_eq(sb_getfqdn(client, "name.invalid", got, 5, &err), -ERANGE);
}
END_TEST

/* ---- gethostname, sethostname -------------------------------------------------------------- */

START_TEST(gethostname_is_the_daemons_host_name)
{
	char got[256], want[256];
	struct sb_error err;

	ck_assert_int_eq(gethostname(want, sizeof(want)), 0);
	ck_assert_int_eq(sb_gethostname(client, got, sizeof(got), &err), 0);
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(sb_gethostname(client, got, 1, &err), -ERANGE);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_REQUEST);
}
END_TEST

START_TEST(sethostname_renames_the_daemons_uts_namespace_only)
{
	char ours[256], got[256], name[80];
	struct sb_error err;

	if (!start_in_new_uts_namespace("sethostname_renames_the_daemons_uts_namespace_only"))
		return;
	ck_assert_int_eq(gethostname(ours, sizeof(ours)), 0);
	snprintf(name, sizeof(name), "sockbroker-test-%d", (int)getpid());
	ck_assert_int_eq(sb_sethostname(client, name, strlen(name), &err), 0);
	ck_assert_int_eq(sb_gethostname(client, got, sizeof(got), &err), 0);
	ck_assert_str_eq(got, name);

	/* This process's host name did not change. */
	ck_assert_int_eq(gethostname(got, sizeof(got)), 0);
	ck_assert_str_eq(got, ours);

	/* The kernel's limit: 64 bytes pass, 65 are EINVAL. */
	memset(name, 'n', 64);
	ck_assert_int_eq(sb_sethostname(client, name, 64, &err), 0);
	ck_assert_int_eq(sb_gethostname(client, got, sizeof(got), &err), 0);
	ck_assert_uint_eq(strlen(got), 64);
	memset(name, 'x', 65);
	ck_assert_int_eq(sb_sethostname(client, name, 65, &err), -EINVAL);
	ck_assert_int_eq(err.kind, SB_ERR_OS);
	ck_assert_str_eq(err.errno_name, "EINVAL");
	ck_assert_int_eq(sb_gethostname(client, got, sizeof(got), &err), 0);
	ck_assert_uint_eq(strlen(got), 64);

	/* Linux takes an empty name. */
	ck_assert_int_eq(sb_sethostname(client, "", 0, &err), 0);
	ck_assert_int_eq(sb_gethostname(client, got, sizeof(got), &err), 0);
	ck_assert_str_eq(got, "");

	ck_assert_int_eq(gethostname(got, sizeof(got)), 0);
	ck_assert_str_eq(got, ours);
}
END_TEST

START_TEST(sethostname_bad_input_names_the_field)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SetHostNameRequest args = SOCKBROKER__V1__SET_HOST_NAME_REQUEST__INIT;
	char ours[256], got[256];
	struct sb_error err;

	ck_assert_int_eq(gethostname(ours, sizeof(ours)), 0);
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SETHOSTNAME;
	request.sethostname = &args;
	expect_bad_request(raw_once(&request), "EINVAL", "sethostname.name is required");
	ck_assert_int_eq(sb_sethostname(client, NULL, 3, &err), -EINVAL);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_REQUEST);
	/* Neither reached the kernel (this daemon shares the host's UTS namespace). */
	ck_assert_int_eq(gethostname(got, sizeof(got)), 0);
	ck_assert_str_eq(got, ours);
}
END_TEST

/* ---- protocols and services ----------------------------------------------------------------- */

START_TEST(getprotobyname_gives_the_number_or_protocol_not_found)
{
	struct protoent *local = getprotobyname("tcp");
	struct sb_error err;
	int proto = -1;

	if (!local) {
		fprintf(stderr, "SKIP getprotobyname(tcp): this host's protocols database has no "
				"tcp\n");
	} else {
		ck_assert_int_eq(sb_getprotobyname(client, "tcp", &proto, &err), 0);
		ck_assert_int_eq(proto, IPPROTO_TCP);
		ck_assert_int_eq(sb_getprotobyname(client, "udp", &proto, &err), 0);
		ck_assert_int_eq(proto, IPPROTO_UDP);
	}
	ck_assert_int_eq(sb_getprotobyname(client, "no-such-protocol", &proto, &err), -ENOENT);
	ck_assert_int_eq(err.kind, SB_ERR_OS);
	ck_assert_str_eq(err.errno_name, "ENOENT");
	ck_assert_str_eq(err.message, "protocol not found");
}
END_TEST

START_TEST(getservbyname_and_getservbyport_follow_the_services_database)
{
	struct servent *local = getservbyname("http", "tcp");
	char name[64];
	struct sb_error err;
	int port = -1;

	if (!local) {
		fprintf(stderr, "SKIP getservbyname(http): this host's services database has no "
				"http/tcp\n");
	} else {
		ck_assert_int_eq(sb_getservbyname(client, "http", "tcp", &port, &err), 0);
		ck_assert_int_eq(port, 80);
		ck_assert_int_eq(sb_getservbyname(client, "http", NULL, &port, &err), 0);
		ck_assert_int_eq(port, 80);
		local = getservbyport(htons(80), "tcp");
		ck_assert_ptr_nonnull(local);
		ck_assert_int_eq(sb_getservbyport(client, 80, "tcp", name, sizeof(name), &err), 0);
		ck_assert_str_eq(name, local->s_name);
		ck_assert_int_eq(sb_getservbyport(client, 80, NULL, name, sizeof(name), &err), 0);
		ck_assert_str_eq(name, local->s_name);
		ck_assert_int_eq(sb_getservbyport(client, 80, NULL, name, 2, &err), -ERANGE);
	}
	ck_assert_int_eq(sb_getservbyname(client, "no-such-service", NULL, &port, &err), -ENOENT);
	ck_assert_int_eq(err.kind, SB_ERR_OS);
	ck_assert_str_eq(err.message, "service/proto not found");
	ck_assert_int_eq(sb_getservbyname(client, "http", "no-such-proto", &port, &err), -ENOENT);
	ck_assert_str_eq(err.message, "service/proto not found");

	/* A port no service of this host uses. */
	int unused = 0;
	for (int p = 65000; p < 65535 && !unused; p++)
		if (!getservbyport(htons((uint16_t)p), NULL))
			unused = p;
	ck_assert_int_ne(unused, 0);
	ck_assert_int_eq(sb_getservbyport(client, unused, NULL, name, sizeof(name), &err), -ENOENT);
	ck_assert_int_eq(err.kind, SB_ERR_OS);
	ck_assert_str_eq(err.message, "port/proto not found");
}
END_TEST

START_TEST(service_lookups_bad_input_names_the_field)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__GetServByNameRequest byname =
		SOCKBROKER__V1__GET_SERV_BY_NAME_REQUEST__INIT;
	Sockbroker__V1__GetServByPortRequest byport =
		SOCKBROKER__V1__GET_SERV_BY_PORT_REQUEST__INIT;
	Sockbroker__V1__GetProtoByNameRequest proto =
		SOCKBROKER__V1__GET_PROTO_BY_NAME_REQUEST__INIT;
	int baseline = stable_fd_count();
	char *long_name = long_string(256, 's');
	struct sb_error err;
	char name[64];

	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETSERVBYNAME;
	request.getservbyname = &byname;
	expect_bad_request(raw_once(&request), "EINVAL", "getservbyname.name is required");
	byname.name = "http";
	byname.proto = long_name;
	expect_bad_request(raw_once(&request), "EINVAL", "getservbyname.proto: 256 bytes");

	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETSERVBYPORT;
	request.getservbyport = &byport;
	expect_bad_request(raw_once(&request), "EINVAL", "getservbyport.port is required");

	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETPROTOBYNAME;
	request.getprotobyname = &proto;
	expect_bad_request(raw_once(&request), "EINVAL", "getprotobyname.name is required");
	proto.name = long_name;
	expect_bad_request(raw_once(&request), "EINVAL", "getprotobyname.name: 256 bytes");
	free(long_name);

	/* Ports outside 0-65535 are the reference's OverflowError. */
	ck_assert_int_eq(sb_getservbyport(client, 65536, NULL, name, sizeof(name), &err),
			 -EOVERFLOW);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_REQUEST);
	ck_assert(strstr(err.message, "port must be 0-65535"));
	ck_assert_int_eq(sb_getservbyport(client, -1, NULL, name, sizeof(name), &err), -EOVERFLOW);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_REQUEST);
	expect_daemon_serving(baseline);
}
END_TEST

/* ---- interfaces ------------------------------------------------------------------------------ */

START_TEST(if_nameindex_lists_the_interfaces_with_lo)
{
	struct if_nameindex *local = if_nameindex();
	struct sb_interface *got;
	struct sb_error err;
	size_t count, n = 0;
	bool found_lo = false;

	ck_assert_ptr_nonnull(local);
	ck_assert_int_eq(sb_if_nameindex(client, &got, &count, &err), 0);
	for (n = 0; local[n].if_index; n++) {
		ck_assert_uint_lt(n, count);
		ck_assert_uint_eq(got[n].index, local[n].if_index);
		ck_assert_str_eq(got[n].name, local[n].if_name);
		if (strcmp(got[n].name, "lo") == 0)
			found_lo = true;
	}
	ck_assert_uint_eq(count, n);
	ck_assert(found_lo);
	if_freenameindex(local);
	sb_if_nameindex_free(got);
}
END_TEST

START_TEST(if_nametoindex_and_if_indextoname_or_the_kernels_errors)
{
	unsigned lo = if_nametoindex("lo"), index = 0, unused = 0;
	char name[IF_NAMESIZE];
	struct sb_error err;

	ck_assert_uint_ne(lo, 0);
	ck_assert_int_eq(sb_if_nametoindex(client, "lo", &index, &err), 0);
	ck_assert_uint_eq(index, lo);
	ck_assert_int_eq(sb_if_indextoname(client, lo, name, sizeof(name), &err), 0);
	ck_assert_str_eq(name, "lo");

	ck_assert_int_eq(sb_if_nametoindex(client, "no-such-if0", &index, &err), -ENODEV);
	ck_assert_int_eq(err.kind, SB_ERR_OS);
	ck_assert_str_eq(err.errno_name, "ENODEV");
	ck_assert_str_eq(err.message, "no interface with this name");
	/* Longer than any interface name can be. */
	ck_assert_int_eq(sb_if_nametoindex(client, "an-interface-name-too-long", &index, &err),
			 -ENODEV);

	char probe[IF_NAMESIZE];
	for (unsigned i = 1000; i < 100000 && !unused; i++)
		if (!if_indextoname(i, probe))
			unused = i;
	ck_assert_int_eq(sb_if_indextoname(client, unused, name, sizeof(name), &err), -ENXIO);
	ck_assert_int_eq(err.kind, SB_ERR_OS);
	ck_assert_str_eq(err.errno_name, "ENXIO");
	ck_assert_int_eq(sb_if_indextoname(client, 0, name, sizeof(name), &err), -ENXIO);
	ck_assert_int_eq(sb_if_indextoname(client, lo, name, 2, &err), -ERANGE);
}
END_TEST

START_TEST(interface_bad_input_names_the_field)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__IfNameToIndexRequest toindex =
		SOCKBROKER__V1__IF_NAME_TO_INDEX_REQUEST__INIT;
	Sockbroker__V1__IfIndexToNameRequest toname =
		SOCKBROKER__V1__IF_INDEX_TO_NAME_REQUEST__INIT;
	int baseline = stable_fd_count();
	struct sb_error err;
	char name[IF_NAMESIZE];

	request.op_case = SOCKBROKER__V1__REQUEST__OP_IF_NAMETOINDEX;
	request.if_nametoindex = &toindex;
	expect_bad_request(raw_once(&request), "EINVAL", "if_nametoindex.name is required");
	request.op_case = SOCKBROKER__V1__REQUEST__OP_IF_INDEXTONAME;
	request.if_indextoname = &toname;
	expect_bad_request(raw_once(&request), "EINVAL", "if_indextoname.index is required");

	/* Negative and oversize indexes: the reference's OverflowError. */
	ck_assert_int_eq(sb_if_indextoname(client, -1, name, sizeof(name), &err), -EOVERFLOW);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_REQUEST);
	ck_assert(strstr(err.message, "if_indextoname.index"));
	ck_assert_int_eq(sb_if_indextoname(client, (int64_t)UINT_MAX + 1, name, sizeof(name), &err),
			 -EOVERFLOW);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_REQUEST);
	expect_daemon_serving(baseline);
}
END_TEST

/* ---- waiting lookups: Cancel, the end of a session, quotas, concurrency -------------------- */

START_TEST(cancel_completes_a_pending_lookup_once_and_drops_its_result)
{
	struct raw_session s;
	Sockbroker__V1__Reply *reply;

	start_gated(NULL);
	int baseline = stable_fd_count();
	raw_open(&s);
	nng_ctx pending = raw_send_getaddrinfo(&s, 1, GATED_NAME);
	/* The lookup is on a worker, held there: nothing can complete it but Cancel. */
	wait_for_gate();

	reply = raw_cancel(&s, 2, 1);
	ck_assert_ptr_null(reply->error);
	ck_assert_ptr_nonnull(reply->cancel);
	ck_assert(reply->cancel->cancelled);
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	reply = raw_receive(pending);
	ck_assert_ptr_nonnull(reply->error);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__CANCELLED);
	ck_assert_str_eq(reply->error->errno_name, "ECANCELED");
	ck_assert_str_eq(reply->error->message, "getaddrinfo was cancelled by the client");
	ck_assert_uint_eq(reply->seq, 1);
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	/* Cancelled once: a second Cancel finds nothing waiting. */
	reply = raw_cancel(&s, 3, 1);
	ck_assert(!reply->cancel->cancelled);
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	/* The lookup ends later; its result goes nowhere, and the session goes on. */
	open_gate();
	reply = raw_receive(raw_send_getaddrinfo(&s, 4, "127.0.0.1"));
	ck_assert_ptr_null(reply->error);
	ck_assert_uint_ge(reply->getaddrinfo->n_results, 1);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	nng_close(s.socket);
	expect_daemon_serving(baseline);
}
END_TEST

START_TEST(a_session_that_ends_during_a_lookup_leaves_nothing_behind)
{
	struct raw_session s;

	start_gated(NULL);
	int baseline = stable_fd_count();
	raw_open(&s);
	raw_send_getaddrinfo(&s, 1, GATED_NAME);
	wait_for_gate();
	ck_assert_int_eq(test_daemon_wait_fd_count(&daemon_under_test, baseline + 1, 5000),
			 baseline + 1);

	/* The client goes away with its lookup still held on a worker. */
	nng_close(s.socket);
	ck_assert_int_eq(test_daemon_wait_fd_count(&daemon_under_test, baseline, 5000), baseline);
	open_gate();
	expect_daemon_serving(baseline);

	/* The daemon answered the waiting lookup when the session ended. */
	char line[512];
	bool said = false;
	FILE *log = fopen(daemon_under_test.log, "r");
	ck_assert_ptr_nonnull(log);
	while (!said && fgets(line, sizeof(line), log))
		said = strstr(line, "closed 0 sockets and 1 waiting operations") != NULL;
	fclose(log);
	ck_assert_msg(said, "the daemon's log does not say the lookup was answered");
	/* Stopping now must be clean (under valgrind: the dropped job was freed). */
}
END_TEST

START_TEST(a_hung_lookup_stalls_neither_its_session_nor_others)
{
	struct raw_session s;
	struct sb_addrinfo *results;
	struct sb_error err;
	size_t count;
	Sockbroker__V1__Reply *reply;

	start_gated(NULL);
	raw_open(&s);
	nng_ctx pending = raw_send_getaddrinfo(&s, 1, GATED_NAME);
	wait_for_gate();

	/* Another session is served... */
	ck_assert_int_eq(sb_getaddrinfo(client, "localhost", "80", AF_INET, SOCK_STREAM, 0, 0,
					&results, &count, &err),
			 0);
	sb_addrinfo_free(results);
	/* ...and so is the same session's next request. */
	reply = raw_receive(raw_send_getaddrinfo(&s, 2, "127.0.0.1"));
	ck_assert_ptr_null(reply->error);
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	open_gate();
	reply = raw_receive(pending);
	ck_assert_ptr_nonnull(reply->error);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__GAI);
	ck_assert_int_eq(reply->error->gai_code, EAI_NONAME);
	ck_assert_str_eq(reply->error->gai_name, "EAI_NONAME");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	nng_close(s.socket);
}
END_TEST

/* One session's hung lookups fill every resolver thread the daemon started with, and one more
 * waits behind them: another session's lookups are still answered (the pool grows for them),
 * and the waiting one runs once its session's share is free. */
START_TEST(hung_lookups_filling_the_pool_stall_only_their_own_session)
{
	enum { THREADS = 2 };
	struct raw_session s;
	struct sb_addrinfo *results;
	struct sb_error err;
	size_t count;
	nng_ctx pending[THREADS + 1];

	start_gated("{\"resolver_threads\": 2}");
	raw_open(&s);
	for (int i = 0; i < THREADS + 1; i++)
		pending[i] = raw_send_getaddrinfo(&s, (uint64_t)i + 1, GATED_NAME);
	wait_for_gate_n(THREADS);

	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(sb_getaddrinfo(client, "localhost", "80", AF_INET, SOCK_STREAM, 0,
						0, &results, &count, &err),
				 0);
		ck_assert_uint_ge(count, 1);
		sb_addrinfo_free(results);
	}
	/* The threads the pool grew by run libc on names clients chose: like every thread
	 * of the serving process (the policy's capabilities are its monitor's), they hold
	 * no capability. */
	char holder[128];
	int threads;
	ck_assert_msg(test_threads_with_caps(daemon_under_test.pid, true, &threads, holder,
					     sizeof(holder)) == 0,
		      "%s", holder);
	ck_assert_int_gt(threads, THREADS);

	/* Only its share ran: the third lookup never reached the gate. */
	char path[128];
	struct stat st;
	snprintf(path, sizeof(path), "%s/reached", gate_dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, THREADS);

	open_gate();
	for (int i = 0; i < THREADS + 1; i++) {
		Sockbroker__V1__Reply *reply = raw_receive(pending[i]);
		ck_assert_ptr_nonnull(reply->error);
		ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__GAI);
		ck_assert_int_eq(reply->error->gai_code, EAI_NONAME);
		sockbroker__v1__reply__free_unpacked(reply, NULL);
	}
	nng_close(s.socket);
}
END_TEST

START_TEST(a_pending_lookup_counts_against_the_parked_quota)
{
	struct raw_session s;
	Sockbroker__V1__Reply *reply;

	start_gated("{\"limits\": {\"max_parked_per_session\": 1}}");
	raw_open(&s);
	nng_ctx pending = raw_send_getaddrinfo(&s, 1, GATED_NAME);
	wait_for_gate();

	reply = raw_receive(raw_send_getaddrinfo(&s, 2, "127.0.0.1"));
	ck_assert_ptr_nonnull(reply->error);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__QUOTA);
	ck_assert_str_eq(reply->error->errno_name, "ENOBUFS");
	ck_assert(strstr(reply->error->message, "max_parked_per_session"));
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	open_gate();
	reply = raw_receive(pending);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__GAI);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	/* The slot is free again. */
	reply = raw_receive(raw_send_getaddrinfo(&s, 3, "127.0.0.1"));
	ck_assert_ptr_null(reply->error);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	nng_close(s.socket);
}
END_TEST

enum { LOOKUP_THREADS = 4, LOOKUPS_PER_THREAD = 25 };

struct lookup_worker {
	struct sb_client *client;
	int index;
	int done;
	char failure[256];
};

static void *
lookup_many(void *arg)
{
	static const char *const hosts[] = {"localhost", "127.0.0.1", "::1"};
	struct lookup_worker *w = arg;

	for (int i = 0; i < LOOKUPS_PER_THREAD; i++) {
		const char *host = hosts[(w->index + i) % 3];
		char port[16];
		struct sb_addrinfo *results;
		struct sb_error err;
		size_t count;

		snprintf(port, sizeof(port), "%d", 1000 + w->index * 100 + i);
		int r = sb_getaddrinfo(w->client, host, port, host[0] == ':' ? AF_INET6 : AF_INET,
				       SOCK_STREAM, 0, 0, &results, &count, &err);
		if (r < 0) {
			snprintf(w->failure, sizeof(w->failure), "%s: %.200s", host, err.message);
			return NULL;
		}
		if (count < 1 || results[0].addr.port != atoi(port)) {
			snprintf(w->failure, sizeof(w->failure), "%s:%s came back wrong", host,
				 port);
			sb_addrinfo_free(results);
			return NULL;
		}
		sb_addrinfo_free(results);
		w->done++;
	}
	return NULL;
}

START_TEST(many_concurrent_lookups_from_two_sessions_all_complete)
{
	struct sb_client *second;
	struct sb_error err;
	struct lookup_worker workers[2 * LOOKUP_THREADS] = {0};
	pthread_t threads[2 * LOOKUP_THREADS];

	ck_assert_int_eq(sb_client_new(&second, daemon_under_test.url, "second", &err), 0);
	for (int i = 0; i < 2 * LOOKUP_THREADS; i++) {
		workers[i].client = i < LOOKUP_THREADS ? client : second;
		workers[i].index = i;
		ck_assert_int_eq(pthread_create(&threads[i], NULL, lookup_many, &workers[i]), 0);
	}
	for (int i = 0; i < 2 * LOOKUP_THREADS; i++)
		pthread_join(threads[i], NULL);
	for (int i = 0; i < 2 * LOOKUP_THREADS; i++) {
		ck_assert_msg(!workers[i].failure[0], "worker %d: %s", i, workers[i].failure);
		ck_assert_int_eq(workers[i].done, LOOKUPS_PER_THREAD);
	}
	sb_client_free(second);
}
END_TEST

/* ---- the rest ---------------------------------------------------------------------------- */

static Suite *
names_suite(void)
{
	Suite *s = suite_create("names");
	const struct fixture_case cases[] = {
		{"getaddrinfo", getaddrinfo_of_localhost_and_numeric_hosts_is_libcs_answer},
		{"getaddrinfo-service", getaddrinfo_takes_service_names},
		{"getaddrinfo-errors", getaddrinfo_failures_are_gai_errors},
		{"getaddrinfo-bad", getaddrinfo_bad_input_names_the_field},
		{"getnameinfo", getnameinfo_gives_host_and_service_as_libc},
		{"getnameinfo-errors", getnameinfo_failures_are_gai_or_os_errors},
		{"getnameinfo-bad", getnameinfo_bad_input_names_the_field},
		{"gethostbyname", gethostbyname_gives_the_ipv4_address},
		{"gethostbyname-ex", gethostbyname_ex_gives_the_host_entry},
		{"gethostbyaddr", gethostbyaddr_gives_the_host_entry_or_an_herror},
		{"host-bad", host_lookups_bad_input_names_the_field},
		{"getfqdn", getfqdn_follows_the_reference},
		{"gethostname", gethostname_is_the_daemons_host_name},
		{"sethostname", sethostname_renames_the_daemons_uts_namespace_only},
		{"sethostname-bad", sethostname_bad_input_names_the_field},
		{"getprotobyname", getprotobyname_gives_the_number_or_protocol_not_found},
		{"getserv", getservbyname_and_getservbyport_follow_the_services_database},
		{"getserv-bad", service_lookups_bad_input_names_the_field},
		{"if-nameindex", if_nameindex_lists_the_interfaces_with_lo},
		{"if-name-index", if_nametoindex_and_if_indextoname_or_the_kernels_errors},
		{"if-bad", interface_bad_input_names_the_field},
		{"cancel", cancel_completes_a_pending_lookup_once_and_drops_its_result},
		{"session-end", a_session_that_ends_during_a_lookup_leaves_nothing_behind},
		{"hung", a_hung_lookup_stalls_neither_its_session_nor_others},
		{"hung-pool", hung_lookups_filling_the_pool_stall_only_their_own_session},
		{"quota", a_pending_lookup_counts_against_the_parked_quota},
		{"concurrent", many_concurrent_lookups_from_two_sessions_all_complete},
	};
	fixture_add_cases(s, cases, sizeof(cases) / sizeof(cases[0]), setup, teardown, 60);
	return s;
}

/* `test-names --in-new-uts-namespace CMD...`: the daemon's wrapper for the sethostname
 * test. */
static int
exec_in_new_uts_namespace(char **argv)
{
	if (unshare(CLONE_NEWUTS) < 0) {
		fprintf(stderr, "test-names: unshare(CLONE_NEWUTS): %s\n", strerror(errno));
		return 126;
	}
	execvp(argv[0], argv);
	fprintf(stderr, "test-names: cannot run %s: %s\n", argv[0], strerror(errno));
	return 127;
}

int
main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], UTS_WRAPPER_FLAG) == 0)
		return exec_in_new_uts_namespace(argv + 2);

	return fixture_run(names_suite());
}
