/*
 * Remote clients (tcp:// and tls+tcp://) against the real daemon: dead-peer
 * detection with TCP keepalive; refused TLS handshakes, logged and audited with
 * their reason and explained to the client; a daemon reached by IP address
 * with a certificate that names only the IP, from the C client and sbcat;
 * create_connection to a numeric host without the `resolve` permission, and
 * one audit record for its denial; sessions resumed over a new connection
 * after the link was reset (wan-relay), with operations in flight, and a
 * resume secret refused to another identity.
 *
 * A client "vanishes" as a crashed host or a NAT that forgot the flow does:
 * its end of the connection disappears without a FIN or a reset. The test
 * does this with TCP_REPAIR (root or CAP_NET_ADMIN): a socket closed in
 * repair mode goes away silently. Only the daemon's keepalive probes can
 * then notice the peer is gone.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "certs.h"
#include "clock.h"
#include "fixture.h"
#include "raw.h"
#include "servers.h"
#include "sockbroker.h"

/* Probes after 1 s of silence, one every second, the first unanswered one ends the
 * connection; its session is then kept 1 s for a resume. */
#define KEEPALIVE_CONFIG \
	"{\"remote\": {\"keepalive_idle_s\": 1, \"keepalive_interval_s\": 1, " \
	"\"keepalive_count\": 1, \"resume_grace_tcp_s\": 1}}"

/* How long a vanished client's session may take to end: keepalive and grace (about 3 s
 * here) with ample room for a loaded machine; the default keepalive (30 s idle) exceeds
 * it. */
#define VANISH_WAIT_MS 15000

static char tcp_url[64];
static uint16_t daemon_port;

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
start(const char *config)
{
	client = NULL;
	daemon_port = free_tcp_port();
	snprintf(tcp_url, sizeof(tcp_url), "tcp://127.0.0.1:%u", daemon_port);
	test_daemon_start_listening(&daemon_under_test, config, tcp_url);
}

static void stop_relay(void);
static int log_count(const char *text);

static void
setup(void)
{
	cert_dir[0] = '\0';
	daemon_under_test.pid = 0;
}

static void
teardown(void)
{
	stop_relay();
	/* A case that skipped started no daemon. */
	if (daemon_under_test.pid > 0)
		fixture_stop();
	if (cert_dir[0])
		remove_certificates();
}

static struct sb_client *
connect_tcp(const char *name)
{
	struct sb_client_options options = { .url = tcp_url, .client_name = name };
	struct sb_client *c = NULL;
	struct sb_error err;

	ck_assert_msg(sb_client_new_with(&c, &options, &err) == 0, "%s", err.message);
	return c;
}

/* The descriptor of this process's TCP connection to the daemon, or -1. */
static int
daemon_connection_fd(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1;

	if (!dir)
		return -1;
	while (found < 0 && (e = readdir(dir))) {
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);
		int fd = atoi(e->d_name);

		if (e->d_name[0] == '.' || fd == dirfd(dir))
			continue;
		if (getpeername(fd, (struct sockaddr *)&peer, &len) == 0 &&
		    peer.sin_family == AF_INET && ntohs(peer.sin_port) == daemon_port)
			found = fd;
	}
	closedir(dir);
	return found;
}

/* The vanishing child's client: reachable from here when it exits without freeing it
 * (valgrind counts that as neither lost nor an error). */
static struct sb_client *volatile vanished;

/* In a child: connect over tcp://, open a TCP listener through the daemon, write its port
 * to `out` (0 when the connection cannot be made to vanish), and vanish. */
static void
vanishing_client(int out)
{
	struct sb_client *c = connect_tcp("vanishing");
	struct sb_error err;
	struct sb_addr addr, local;
	sb_handle h;
	uint16_t port = 0;
	int one = 1;

	sb_addr_inet(&addr, "127.0.0.1", 0);
	if (sb_socket(c, AF_INET, SOCK_STREAM, 0, &h, &err) < 0 ||
	    sb_bind(c, h, &addr, &err) < 0 || sb_listen(c, h, 4, &err) < 0)
		_exit(2);
	/* The last reply is acknowledged now (TCP_QUICKACK sends a delayed ACK still
	 * pending): else the daemon would retransmit it, get a reset and notice without
	 * keepalive. */
	int fd = daemon_connection_fd();
	if (fd < 0 || sb_getsockname(c, h, &local, &err) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one)) < 0)
		_exit(2);
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &one, sizeof(one)) == 0)
		port = local.port;
	if (write(out, &port, sizeof(port)) != (ssize_t)sizeof(port))
		_exit(3);
	/* The process goes, its connection without a FIN (in repair mode), the client
	 * never freed (freeing it would shut the connection down). */
	vanished = c;
	_exit(0);
}

START_TEST(keepalive_ends_a_vanished_clients_session)
{
	int pipefd[2], status;
	uint16_t port = 0;

	start(KEEPALIVE_CONFIG);
	int fds_before = test_daemon_fd_count(&daemon_under_test);
	ck_assert_int_eq(pipe(pipefd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(pipefd[0]);
		vanishing_client(pipefd[1]);
	}
	close(pipefd[1]);
	ssize_t n = read(pipefd[0], &port, sizeof(port));
	close(pipefd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the vanishing client failed before it vanished (status %d)", status);
	ck_assert_int_eq(n, (ssize_t)sizeof(port));
	if (port == 0) {
		test_skip("keepalive_ends_a_vanished_clients_session",
			  "TCP_REPAIR is not allowed here (needs CAP_NET_ADMIN)");
		return;
	}

	/* The session's connection and listener live until the daemon notices the client
	 * is gone. */
	ck_assert_int_eq(test_daemon_fd_count(&daemon_under_test), fds_before + 2);
	int fds = test_daemon_wait_fd_count(&daemon_under_test, fds_before, VANISH_WAIT_MS);
	ck_assert_msg(fds == fds_before,
		      "the session of a vanished client still holds its connection and listener "
		      "after %d ms (%d descriptors open, %d before)",
		      VANISH_WAIT_MS, fds, fds_before);
	/* Detached first, for a resume that did not come, then ended. */
	ck_assert(test_daemon_wait_log(&daemon_under_test, "detached with 1 sockets", 1000));
	ck_assert(test_daemon_wait_log(&daemon_under_test, "\"event\": \"sockbroker.session.detach\"",
				       1000));
	ck_assert(test_daemon_wait_log(&daemon_under_test, "not resumed within its grace period",
				       1000));
}
END_TEST

/* ---- resuming sessions -------------------------------------------------------- */

/* The relay between the client and the daemon (wan-relay): its pid and port. */
static pid_t relay_pid;
static uint16_t relay_port;

/* Start wan-relay towards the daemon's tcp:// port with `delay_ms` each way. */
static void
start_relay(int delay_ms)
{
	const char *path = getenv("WAN_RELAY");
	char port[16], delay[16];
	int out[2];

	ck_assert_msg(path, "WAN_RELAY must name the wan-relay program");
	snprintf(port, sizeof(port), "%u", daemon_port);
	snprintf(delay, sizeof(delay), "%d", delay_ms);
	ck_assert_int_eq(pipe(out), 0);
	relay_pid = fork();
	ck_assert_int_ge(relay_pid, 0);
	if (relay_pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		close(out[0]);
		close(out[1]);
		execl(path, path, "127.0.0.1", port, delay, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	char line[16] = "";
	size_t n = 0;
	/* Bounded by the relay: it prints its port at once, or exits (EOF). */
	while (n + 1 < sizeof(line)) {
		ssize_t r = read(out[0], line + n, 1);
		if (r <= 0 || line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	close(out[0]);
	relay_port = (uint16_t)atoi(line);
	ck_assert_msg(relay_port != 0, "wan-relay did not start (%s)", path);
}

static void
stop_relay(void)
{
	if (relay_pid > 0) {
		kill(relay_pid, SIGTERM);
		waitpid(relay_pid, NULL, 0);
		relay_pid = 0;
	}
}

/* How many operations session `name` has waiting, as the admin operations see it. */
static uint64_t
parked_of(const char *name)
{
	struct sb_admin_session *sessions = NULL;
	struct sb_error err;
	size_t n = 0;
	uint64_t parked = 0;

	ck_assert_msg(sb_admin_sessions(client, &sessions, &n, &err) == 0, "%s", err.message);
	for (size_t i = 0; i < n; i++)
		if (sessions[i].client_name && strcmp(sessions[i].client_name, name) == 0)
			parked = sessions[i].parked;
	sb_admin_sessions_free(sessions, n);
	return parked;
}

#define BULK_BYTES (6 * 1024 * 1024)

/* The byte at offset `i` of the bulk stream: a pattern in which a lost or repeated chunk
 * shows. */
static uint8_t
bulk_byte(size_t i)
{
	return (uint8_t)((i * 2654435761u) >> 13);
}

struct in_flight {
	struct sb_client *c;
	sb_handle listener, stream;
	sb_handle accepted;
	int accept_r, sendall_r;
	ssize_t recv_n;
	char recv_buf[64];
	uint8_t *bulk;
	struct sb_error accept_err, recv_err, sendall_err;
};

static void *
accept_thread(void *arg)
{
	struct in_flight *f = arg;
	f->accept_r = sb_accept(f->c, f->listener, &f->accepted, NULL, &f->accept_err);
	return NULL;
}

static void *
recv_thread(void *arg)
{
	struct in_flight *f = arg;
	f->recv_n = sb_recv(f->c, f->stream, f->recv_buf, sizeof(f->recv_buf) - 1, 0,
			    &f->recv_err);
	return NULL;
}

static void *
sendall_thread(void *arg)
{
	struct in_flight *f = arg;
	f->sendall_r = sb_sendall(f->c, f->stream, f->bulk, BULK_BYTES, 0, &f->sendall_err);
	return NULL;
}

/* A direct loopback listener of the test's own (not through the daemon). */
static int
direct_listener(uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static int
direct_connect(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

START_TEST(a_reset_link_resumes_with_the_same_handles_and_every_byte_once)
{
	struct in_flight f = { 0 };
	struct sb_error err;
	struct sb_addr addr, local;
	char url[64];
	uint16_t peer_port;
	pthread_t accepting, receiving, sending;

	start("{\"log_level\": \"debug\"}");
	fixture_connect("test-remote admin");
	start_relay(1);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", relay_port);
	struct sb_client_options options = { .url = url, .client_name = "resuming" };
	ck_assert_msg(sb_client_new_with(&f.c, &options, &err) == 0, "%s", err.message);

	/* A listener with an accept waiting, a stream with a recv waiting and a sendall of
	 * more than the kernel takes at once, all through the relay. */
	sb_addr_inet(&addr, "127.0.0.1", 0);
	ck_assert_int_eq(sb_socket(f.c, AF_INET, SOCK_STREAM, 0, &f.listener, &err), 0);
	ck_assert_int_eq(sb_bind(f.c, f.listener, &addr, &err), 0);
	ck_assert_int_eq(sb_listen(f.c, f.listener, 4, &err), 0);
	ck_assert_int_eq(sb_getsockname(f.c, f.listener, &local, &err), 0);
	int peer_listener = direct_listener(&peer_port);
	ck_assert_int_eq(sb_socket(f.c, AF_INET, SOCK_STREAM, 0, &f.stream, &err), 0);
	sb_addr_inet(&addr, "127.0.0.1", peer_port);
	ck_assert_msg(sb_connect(f.c, f.stream, &addr, &err) == 0, "%s", err.message);
	int peer = accept(peer_listener, NULL, NULL);
	ck_assert_int_ge(peer, 0);
	f.bulk = malloc(BULK_BYTES);
	ck_assert_ptr_nonnull(f.bulk);
	for (size_t i = 0; i < BULK_BYTES; i++)
		f.bulk[i] = bulk_byte(i);
	ck_assert_int_eq(pthread_create(&accepting, NULL, accept_thread, &f), 0);
	ck_assert_int_eq(pthread_create(&receiving, NULL, recv_thread, &f), 0);
	ck_assert_int_eq(pthread_create(&sending, NULL, sendall_thread, &f), 0);
	/* The three wait in the daemon (the peer reads nothing yet). */
	int64_t deadline = test_now_ms() + 10000;
	while (parked_of("resuming") < 3 && test_now_ms() < deadline)
		test_sleep_ms(10);
	ck_assert_uint_eq(parked_of("resuming"), 3);

	/* The link is reset, both ways, as a NAT that dropped the flow. */
	ck_assert_int_eq(kill(relay_pid, SIGUSR1), 0);
	ck_assert(test_daemon_wait_log(&daemon_under_test, "detached with 2 sockets", 10000));

	/* The operations complete as if nothing happened. */
	int incoming = direct_connect(local.port);
	ck_assert_int_eq(send(peer, "after the reset", 15, 0), 15);
	size_t got = 0;
	uint8_t buf[65536];
	while (got < BULK_BYTES) {
		ssize_t n = recv(peer, buf, sizeof(buf), 0);
		ck_assert_msg(n > 0 && got + (size_t)n <= BULK_BYTES,
			      "the peer's stream ended or overran after %zu of %d bytes", got,
			      BULK_BYTES);
		if (memcmp(buf, f.bulk + got, (size_t)n) != 0) {
			size_t i = 0;
			while (buf[i] == f.bulk[got + i])
				i++;
			ck_abort_msg("byte %zu of the sendall is wrong: lost or repeated data",
				     got + i);
		}
		got += (size_t)n;
	}
	ck_assert_int_eq(pthread_join(sending, NULL), 0);
	ck_assert_int_eq(pthread_join(receiving, NULL), 0);
	ck_assert_int_eq(pthread_join(accepting, NULL), 0);
	ck_assert_msg(f.sendall_r == 0, "sendall: %s", f.sendall_err.message);
	ck_assert_msg(f.recv_n == 15, "recv: %zd %s", f.recv_n, f.recv_err.message);
	ck_assert(memcmp(f.recv_buf, "after the reset", 15) == 0);
	ck_assert_msg(f.accept_r == 0, "accept: %s", f.accept_err.message);
	ck_assert(test_daemon_wait_log(&daemon_under_test, "resumed on a new connection", 1000));
	ck_assert(test_daemon_wait_log(&daemon_under_test,
				       "\"event\": \"sockbroker.session.resume\"", 1000));

	/* The same handles go on: nothing more on the peer's stream, the accepted one
	 * works, the listener is where it was. */
	struct sb_addr again;
	ck_assert_int_eq(sb_getsockname(f.c, f.listener, &again, &err), 0);
	ck_assert_uint_eq(again.port, local.port);
	ck_assert_int_eq(sb_sendall(f.c, f.accepted, "ok", 2, 0, &err), 0);
	ck_assert_int_eq(recv(incoming, buf, sizeof(buf), 0), 2);
	ck_assert_int_eq(sb_close(f.c, f.stream, &err), 0);
	ck_assert_int_eq(recv(peer, buf, sizeof(buf), 0), 0);

	sb_client_free(f.c);
	free(f.bulk);
	close(incoming);
	close(peer);
	close(peer_listener);
	stop_relay();
}
END_TEST

#define CI_TOKEN "ci-token-1f8a04c2"
#define CI_HASH "91b39df0b0457b3fd948384f9ef9ec161d624ca44c606458b2a88e4d447fccdd"
#define OPS_TOKEN "ops-token-77b2e9d1"
#define OPS_HASH "4d3ce9b645d5406581251eda948784d65dd0880a4895d70f9a4aac1907a46eeb"

static Sockbroker__V1__Reply *
raw_hello(struct raw_client *raw, const char *token, const uint8_t *secret)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HelloRequest hello = SOCKBROKER__V1__HELLO_REQUEST__INIT;

	hello.client_name = "raw";
	hello.token = (char *)token;
	if (secret) {
		hello.has_resume_secret = true;
		hello.resume_secret.data = (uint8_t *)secret;
		hello.resume_secret.len = 16;
	}
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HELLO;
	request.hello = &hello;
	Sockbroker__V1__Reply *reply = raw_call(raw, &request);
	ck_assert_ptr_nonnull(reply);
	return reply;
}

START_TEST(another_identitys_secret_is_refused_and_the_same_identity_resumes)
{
	uint8_t secret[16];

	start("{\"auth\": {\"tokens\": [{\"name\": \"ci\", \"sha256\": \"" CI_HASH "\"}, "
	      "{\"name\": \"ops\", \"sha256\": \"" OPS_HASH "\"}]}}");
	/* A session with the token "ci" says Hello and its connection goes away. */
	struct raw_client *first = raw_connect(tcp_url, 0);
	Sockbroker__V1__Reply *reply = raw_hello(first, CI_TOKEN, NULL);
	ck_assert_msg(!reply->error, "%s", reply->error ? reply->error->message : "");
	ck_assert_uint_eq(reply->hello->resume_secret.len, 16);
	ck_assert_uint_eq(reply->hello->resume_grace_ms, 60000);
	memcpy(secret, reply->hello->resume_secret.data, 16);
	uint64_t session = reply->hello->session_id;
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	raw_close(first);
	ck_assert(test_daemon_wait_log(&daemon_under_test, "detached with 0 sockets", 10000));

	/* Another token with its secret: refused, audited, and that connection may go on. */
	struct raw_client *other = raw_connect(tcp_url, 0);
	reply = raw_hello(other, OPS_TOKEN, secret);
	ck_assert_ptr_nonnull(reply->error);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__DENIED);
	ck_assert_int_eq(reply->error->errno_number, EACCES);
	ck_assert_msg(strstr(reply->error->message, "belongs to another identity"), "%s",
		      reply->error->message);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	ck_assert(test_daemon_wait_log(&daemon_under_test, "\"rule\": \"resume\"", 10000));
	/* No token at all: refused the same way. */
	reply = raw_hello(other, NULL, secret);
	ck_assert_ptr_nonnull(reply->error);
	ck_assert_int_eq(reply->error->errno_number, EACCES);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	raw_close(other);

	/* A secret of no session: ESTALE. */
	struct raw_client *third = raw_connect(tcp_url, 0);
	uint8_t wrong[16] = { 1, 2, 3 };
	reply = raw_hello(third, CI_TOKEN, wrong);
	ck_assert_ptr_nonnull(reply->error);
	ck_assert_int_eq(reply->error->errno_number, ESTALE);
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	/* The same token resumes it, on the connection that was refused before. */
	reply = raw_hello(third, CI_TOKEN, secret);
	ck_assert_msg(!reply->error, "%s", reply->error ? reply->error->message : "");
	ck_assert(reply->hello->resumed);
	ck_assert_uint_eq(reply->hello->session_id, session);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	raw_close(third);
}
END_TEST

START_TEST(detached_sessions_are_bounded_by_max_sessions)
{
	start("{\"limits\": {\"max_sessions\": 2}}");
	for (int i = 0; i < 3; i++) {
		struct raw_client *raw = raw_connect(tcp_url, 1);
		raw_close(raw);
		/* The daemon has seen each end before the next session starts. */
		int64_t deadline = test_now_ms() + 10000;
		while (i < 2 && log_count("detached with 0 sockets") < i + 1 &&
		       test_now_ms() < deadline)
			test_sleep_ms(10);
		ck_assert_int_eq(log_count("detached with 0 sockets"), i < 2 ? i + 1 : 2);
	}
	ck_assert(test_daemon_wait_log(&daemon_under_test,
				       "session 3: connection lost; not kept for a resume: 2 sessions "
				       "are detached already",
				       10000));
}
END_TEST

/* Kept replies count in the identity's memory: with remote.resume_buffer_bytes above
 * limits.memory_per_identity, the oldest are dropped at the identity's bound (the requests
 * still succeed), so the reply to the first request can no longer be handed over; the
 * newest can. */
#define BUDGET_REQUESTS 15000

static Sockbroker__V1__Reply *
resume_hello(struct raw_client *raw, const uint8_t *secret, uint64_t pending)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HelloRequest hello = SOCKBROKER__V1__HELLO_REQUEST__INIT;

	hello.client_name = "raw";
	hello.has_resume_secret = true;
	hello.resume_secret.data = (uint8_t *)secret;
	hello.resume_secret.len = 16;
	hello.n_resume_pending_seqs = 1;
	hello.resume_pending_seqs = &pending;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HELLO;
	request.hello = &hello;
	Sockbroker__V1__Reply *reply = raw_call(raw, &request);
	ck_assert_ptr_nonnull(reply);
	return reply;
}

START_TEST(kept_replies_count_in_the_identitys_memory)
{
	uint8_t secret[16];

	start("{\"limits\": {\"memory_per_identity\": 1048576, \"max_message_size\": 524288}, "
	      "\"remote\": {\"resume_buffer_bytes\": 8388608}}");
	struct raw_client *first = raw_connect(tcp_url, 0);
	Sockbroker__V1__Reply *reply = raw_hello(first, NULL, NULL);
	ck_assert_msg(!reply->error, "%s", reply->error ? reply->error->message : "");
	memcpy(secret, reply->hello->resume_secret.data, 16);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	for (uint64_t seq = 1; seq <= BUDGET_REQUESTS; seq++) {
		Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
		request.has_seq = true;
		request.seq = seq;
		reply = raw_call(first, &request);
		ck_assert_ptr_nonnull(reply);
		/* Answered as always (no operation), never refused for memory. */
		ck_assert_ptr_nonnull(reply->error);
		ck_assert_msg(!strstr(reply->error->message, "memory_per_identity"), "%s",
			      reply->error->message);
		sockbroker__v1__reply__free_unpacked(reply, NULL);
	}
	raw_close(first);
	ck_assert(test_daemon_wait_log(&daemon_under_test, "detached with 0 sockets", 10000));

	struct raw_client *second = raw_connect(tcp_url, 0);
	reply = resume_hello(second, secret, 1);
	ck_assert_ptr_nonnull(reply->error);
	ck_assert_int_eq(reply->error->errno_number, ESTALE);
	ck_assert_msg(strstr(reply->error->message, "the reply to request 1 is no longer kept"),
		      "%s", reply->error->message);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	reply = resume_hello(second, secret, BUDGET_REQUESTS);
	ck_assert_msg(!reply->error, "%s", reply->error ? reply->error->message : "");
	ck_assert(reply->hello->resumed);
	ck_assert_uint_eq(reply->hello->n_missed_replies, 1);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	raw_close(second);
}
END_TEST

/* One identity (here one peer address) keeps at most limits.max_sessions_per_identity
 * sessions detached, whatever limits.max_sessions allows. */
START_TEST(detached_sessions_are_bounded_per_identity)
{
	start("{\"limits\": {\"max_sessions\": 8, \"max_sessions_per_identity\": 1}}");
	struct raw_client *raw = raw_connect(tcp_url, 1);
	raw_close(raw);
	ck_assert(test_daemon_wait_log(&daemon_under_test, "detached with 0 sockets", 10000));
	raw = raw_connect(tcp_url, 1);
	raw_close(raw);
	ck_assert(test_daemon_wait_log(&daemon_under_test,
				       "not kept for a resume: 1 sessions of its identity are "
				       "detached already (limits.max_sessions_per_identity)",
				       10000));
	ck_assert_int_eq(log_count("detached with 0 sockets"), 1);
}
END_TEST

/* The new connection of a resumed session is counted as the session's identity (its
 * token), as a Hello counts the connection that says it: not under its address, where it
 * would take one of the connections the address's clients may have before they say
 * Hello. */
START_TEST(a_resumed_connection_is_counted_as_its_identity)
{
	uint8_t secret[16];

	start("{\"limits\": {\"max_sessions_per_identity\": 2}, "
	      "\"auth\": {\"tokens\": [{\"name\": \"ci\", \"sha256\": \"" CI_HASH "\"}]}}");
	struct raw_client *first = raw_connect(tcp_url, 0);
	Sockbroker__V1__Reply *reply = raw_hello(first, CI_TOKEN, NULL);
	ck_assert_msg(!reply->error, "%s", reply->error ? reply->error->message : "");
	memcpy(secret, reply->hello->resume_secret.data, 16);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	/* Closed first: a connection the take-over ended would be dialled again. */
	raw_close(first);
	ck_assert(test_daemon_wait_log(&daemon_under_test, "detached with 0 sockets", 10000));
	/* Resumed on a second connection, which then counts under "ci", not 127.0.0.1. */
	struct raw_client *second = raw_connect(tcp_url, 0);
	reply = raw_hello(second, CI_TOKEN, secret);
	ck_assert_msg(!reply->error, "%s", reply->error ? reply->error->message : "");
	ck_assert(reply->hello->resumed);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	/* So 127.0.0.1 may still open two connections, and both are answered. */
	struct raw_client *third = raw_connect(tcp_url, 0);
	struct raw_client *fourth = raw_connect(tcp_url, 0);
	reply = raw_hello(fourth, CI_TOKEN, NULL);
	ck_assert_msg(!reply->error, "%s", reply->error ? reply->error->message : "");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	ck_assert_int_eq(log_count("refusing connections of"), 0);
	raw_close(fourth);
	raw_close(third);
	raw_close(second);
}
END_TEST

/* A Hello that names the newest kept reply 65,536 times over a kept list of thousands is
 * answered with that one reply, without walking the kept list once per named seq (that took
 * seconds of the daemon's loop; under valgrind, past raw_call's 10 s). */
#define FILL_REQUESTS 10000
#define REPEATS 65536

START_TEST(a_hello_repeating_one_seq_many_times_is_answered_at_once)
{
	uint8_t secret[16];

	start(NULL);
	struct raw_client *first = raw_connect(tcp_url, 0);
	Sockbroker__V1__Reply *reply = raw_hello(first, NULL, NULL);
	ck_assert_msg(!reply->error, "%s", reply->error ? reply->error->message : "");
	memcpy(secret, reply->hello->resume_secret.data, 16);
	uint64_t session = reply->hello->session_id;
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	/* Tiny requests (no operation: each answered with an error) fill the kept list. */
	for (uint64_t seq = 1; seq <= FILL_REQUESTS; seq++) {
		Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
		request.has_seq = true;
		request.seq = seq;
		reply = raw_call(first, &request);
		ck_assert_ptr_nonnull(reply);
		sockbroker__v1__reply__free_unpacked(reply, NULL);
	}

	uint64_t *pending = malloc(REPEATS * sizeof(*pending));
	ck_assert_ptr_nonnull(pending);
	for (size_t i = 0; i < REPEATS; i++)
		pending[i] = FILL_REQUESTS;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HelloRequest hello = SOCKBROKER__V1__HELLO_REQUEST__INIT;
	hello.client_name = "raw";
	hello.has_resume_secret = true;
	hello.resume_secret.data = secret;
	hello.resume_secret.len = 16;
	hello.n_resume_pending_seqs = REPEATS;
	hello.resume_pending_seqs = pending;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HELLO;
	request.hello = &hello;
	struct raw_client *second = raw_connect(tcp_url, 0);
	int64_t began = test_now_ms();
	reply = raw_call(second, &request);
	int64_t took = test_now_ms() - began;
	free(pending);
	ck_assert_ptr_nonnull(reply);
	ck_assert_msg(!reply->error, "%s", reply->error ? reply->error->message : "");
	ck_assert(reply->hello->resumed);
	ck_assert_uint_eq(reply->hello->session_id, session);
	ck_assert_uint_eq(reply->hello->n_missed_replies, 1);
	ck_assert_uint_eq(reply->hello->resume_next_seq, FILL_REQUESTS + 1);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	/* raw_call bounds it at 10 s; the repeats are walked once, not 65,536 times: the
	 * take-over counts one pending seq (its audit record says how many it looked up). */
	ck_assert_msg(took < 10000, "the resuming Hello took %lld ms", (long long)took);
	ck_assert(test_daemon_wait_log(&daemon_under_test,
				       "\"event\": \"sockbroker.session.resume\"", 10000));
	ck_assert_int_eq(log_count("\"args\": {\"missed_replies\": 1, \"pending\": 1}"), 1);
	raw_close(second);
	raw_close(first);
}
END_TEST

/* ---- create_connection ----------------------------------------------------- */

/* No `resolve` anywhere: names cannot be looked up; 127.0.0.2 may not be reached. */
#define NO_RESOLVE_CONFIG \
	"{\"policy\": {\"rules\": [" \
	"{\"name\": \"no-second\", \"allow\": false, \"ops\": [\"connect\"], " \
	"\"addresses\": [\"127.0.0.2/32\"]}, " \
	"{\"name\": \"tcp\", \"allow\": true, \"ops\": [\"create\", \"connect\"], " \
	"\"families\": [\"AF_INET\", \"AF_INET6\"]}]}, " \
	"\"audit\": {\"events\": [\"socket.connect\"]}}"

/* How many lines of the daemon's log contain `text`. */
static int
log_count(const char *text)
{
	FILE *f = fopen(daemon_under_test.log, "r");
	char line[4096];
	int n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, text) != NULL;
	fclose(f);
	return n;
}

START_TEST(create_connection_to_a_numeric_host_needs_no_resolve_and_audits_once)
{
	struct echo_server echo;
	struct sb_error err;
	struct sb_addr peer;
	sb_handle h;

	test_daemon_start(&daemon_under_test, NO_RESOLVE_CONFIG);
	fixture_connect("test-remote");
	ck_assert_int_eq(echo_server_start(&echo, AF_INET, SOCK_STREAM), 0);

	/* A literal address connects, as connect() to it would. */
	ck_assert_msg(sb_create_connection(client, "127.0.0.1", echo.port, -1, NULL, &h, &peer,
					   NULL, NULL, &err) == 0,
		      "%s", err.message);
	fixture_echo(h, "numeric");
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	/* A name still needs `resolve`. */
	ck_assert_int_eq(sb_create_connection(client, "localhost", echo.port, -1, NULL, &h, &peer,
					      NULL, NULL, &err),
			 -EACCES);
	ck_assert_msg(strstr(err.message, "default-deny"), "%s", err.message);

	/* A denied address: one record, the denial, and none that says "allow". */
	ck_assert_int_eq(sb_create_connection(client, "127.0.0.2", echo.port, -1, NULL, &h, &peer,
					      NULL, NULL, &err),
			 -EACCES);
	ck_assert_str_eq(err.rule, "no-second");
	ck_assert(test_daemon_wait_log(&daemon_under_test, "\"rule\": \"no-second\"", 10000));
	/* A sync point: a later call's record comes after every earlier one. */
	ck_assert_msg(sb_create_connection(client, "127.0.0.1", echo.port, -1, NULL, &h, &peer,
					   NULL, NULL, &err) == 0,
		      "%s", err.message);
	int64_t deadline = test_now_ms() + 10000;
	/* Records: the first connection, the name's refusal, the denial, the last one. */
	while (log_count("\"event\": \"socket.connect\"") < 4 && test_now_ms() < deadline)
		test_sleep_ms(10);
	ck_assert_int_eq(log_count("\"host\": \"127.0.0.2\""), 1);
	ck_assert_int_eq(log_count("\"event\": \"socket.connect\""), 4);
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	echo_server_stop(&echo);
}
END_TEST

/* ---- TLS ------------------------------------------------------------------ */

static char tls_url[64];
static char ca[128], server_pem[128], client_pem[128], stranger_pem[128];

/* Certificates whose server certificate names only `san`, and a daemon serving tls+tcp:// on
 * 127.0.0.1 with them. False when the case skipped. */
static bool
start_tls(const char *test, const char *san)
{
	char config[1024];

	if (!make_certificates(test, san))
		return false;
	snprintf(ca, sizeof(ca), "%s/ca.crt", cert_dir);
	snprintf(server_pem, sizeof(server_pem), "%s/server.pem", cert_dir);
	snprintf(client_pem, sizeof(client_pem), "%s/client.pem", cert_dir);
	snprintf(stranger_pem, sizeof(stranger_pem), "%s/stranger.pem", cert_dir);
	snprintf(tls_url, sizeof(tls_url), "tls+tcp://127.0.0.1:%u", free_tcp_port());
	snprintf(config, sizeof(config),
		 "{\"tls\": {\"cert_key_file\": \"%s\", \"ca_file\": \"%s\"}}", server_pem, ca);
	client = NULL;
	test_daemon_start_listening(&daemon_under_test, config, tls_url);
	return true;
}

static int
connect_tls(struct sb_client **out, const char *ca_file, const char *cert_key_file,
	    struct sb_error *err)
{
	struct sb_client_options options = {
		.url = tls_url,
		.client_name = "test-remote",
		.tls_ca_file = ca_file,
		.tls_cert_key_file = cert_key_file,
	};
	*out = NULL;
	return sb_client_new_with(out, &options, err);
}

START_TEST(a_refused_tls_handshake_is_logged_audited_and_explained)
{
	struct sb_client *c;
	struct sb_error err;

	if (!start_tls("refused-tls", TEST_CERTS_SERVER_SAN))
		return;

	/* No client certificate. */
	ck_assert_int_lt(connect_tls(&c, ca, "", &err), 0);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(err.kind, SB_ERR_TRANSPORT);
	ck_assert_msg(strstr(err.message, "SOCKBROKER_TLS_CERT_KEY_FILE"), "%s", err.message);
	ck_assert_msg(test_daemon_wait_log(&daemon_under_test,
					   "\"event\": \"sockbroker.tls.refused\"", 10000),
		      "no audit record of the refused handshake");
	ck_assert(test_daemon_wait_log(&daemon_under_test, "the client sent no certificate", 10000));
	ck_assert(test_daemon_wait_log(&daemon_under_test, "\"transport\": \"tls+tcp\"", 10000));
	ck_assert(test_daemon_wait_log(&daemon_under_test, "\"rule\": \"tls\"", 10000));

	/* A certificate another CA signed. */
	ck_assert_int_lt(connect_tls(&c, ca, stranger_pem, &err), 0);
	ck_assert_int_eq(err.kind, SB_ERR_TRANSPORT);
	ck_assert_msg(strstr(err.message, "refused the client certificate of ") &&
			      strstr(err.message, stranger_pem),
		      "%s", err.message);
	ck_assert(test_daemon_wait_log(&daemon_under_test,
				       "the client certificate was refused: unable to get local "
				       "issuer certificate",
				       10000));

	/* A server certificate the client's CA file does not vouch for. */
	ck_assert_int_lt(connect_tls(&c, stranger_pem, client_pem, &err), 0);
	ck_assert_int_eq(err.kind, SB_ERR_TRANSPORT);
	ck_assert_msg(strstr(err.message, "SOCKBROKER_TLS_CA_FILE"), "%s", err.message);

	/* A certificate file that does not exist is named. */
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/missing.pem", cert_dir);
	ck_assert_int_lt(connect_tls(&c, ca, missing, &err), 0);
	ck_assert_msg(strstr(err.message, missing), "%s", err.message);

	/* The daemon serves the right certificate still. */
	ck_assert_msg(connect_tls(&client, ca, client_pem, &err) == 0, "%s", err.message);
}
END_TEST

/* Run sbcat with `args` under `env` (NULL-terminated "NAME=value"), stdin from `input`;
 * its stdout to `out` (len bytes), stderr to `errout`. Returns its exit status, or -1 when
 * it did not end within 30 s (then it is killed). */
static int
run_program(const char *path, const char *const *args, const char *const *env,
	    const char *input, char *out, size_t len, char *errout, size_t errlen)
{
	int in[2], o[2], e[2];

	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_eq(pipe(o), 0);
	ck_assert_int_eq(pipe(e), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		const char *argv[16];
		int argc = 0;

		dup2(in[0], STDIN_FILENO);
		dup2(o[1], STDOUT_FILENO);
		dup2(e[1], STDERR_FILENO);
		/* Only the duplicates stay: stdin must end when the parent closes its end. */
		for (int i = 0; i < 2; i++) {
			close(in[i]);
			close(o[i]);
			close(e[i]);
		}
		argv[argc++] = path;
		for (size_t i = 0; args[i] && argc < 15; i++)
			argv[argc++] = args[i];
		argv[argc] = NULL;
		execve(path, (char **)argv, (char **)env);
		_exit(127);
	}
	close(in[0]);
	close(o[1]);
	close(e[1]);
	ck_assert_int_eq(write(in[1], input, strlen(input)), (ssize_t)strlen(input));
	close(in[1]);
	fcntl(o[0], F_SETFL, O_NONBLOCK);
	fcntl(e[0], F_SETFL, O_NONBLOCK);
	size_t n_out = 0, n_err = 0;
	int status = -1;
	int64_t deadline = test_now_ms() + 30000;
	for (;;) {
		ssize_t n;
		while (n_out + 1 < len && (n = read(o[0], out + n_out, len - 1 - n_out)) > 0)
			n_out += (size_t)n;
		while (n_err + 1 < errlen && (n = read(e[0], errout + n_err, errlen - 1 - n_err)) > 0)
			n_err += (size_t)n;
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		if (test_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			status = -1;
			break;
		}
		test_sleep_ms(10);
	}
	ssize_t n;
	while (n_out + 1 < len && (n = read(o[0], out + n_out, len - 1 - n_out)) > 0)
		n_out += (size_t)n;
	while (n_err + 1 < errlen && (n = read(e[0], errout + n_err, errlen - 1 - n_err)) > 0)
		n_err += (size_t)n;
	out[n_out] = '\0';
	errout[n_err] = '\0';
	close(o[0]);
	close(e[0]);
	return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int
run_sbcat(const char *const *args, const char *const *env, const char *input, char *out,
	  size_t len, char *errout, size_t errlen)
{
	const char *path = getenv("SBCAT");

	ck_assert_msg(path, "SBCAT must name the sbcat binary under test");
	return run_program(path, args, env, input, out, len, errout, errlen);
}

START_TEST(check_config_fails_on_a_tls_file_it_cannot_load_and_warns_of_shadowed_rules)
{
	char dir[] = "/tmp/sockbroker-check-XXXXXX", config[128], missing[128], out[16384],
	     errout[8192];
	const char *daemon = getenv("SOCKBROKERD");
	const char *env[] = { NULL };

	ck_assert_ptr_nonnull(daemon);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(config, sizeof(config), "%s/config.json", dir);
	snprintf(missing, sizeof(missing), "%s/missing.pem", dir);
	FILE *f = fopen(config, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "{\"tls\": {\"cert_key_file\": \"%s\", \"ca_file\": \"%s\"}}", missing,
		missing);
	ck_assert_int_eq(fclose(f), 0);
	const char *args[] = { "--check-config", "--config", config, NULL };
	int status = run_program(daemon, args, env, "", out, sizeof(out), errout, sizeof(errout));
	ck_assert_int_eq(status, 1);
	ck_assert_msg(strstr(errout, "tls.cert_key_file: cannot open ") && strstr(errout, missing),
		      "%s", errout);

	/* A valid file whose second rule can never decide: a warning, and exit 0. */
	f = fopen(config, "w");
	ck_assert_ptr_nonnull(f);
	fputs("{\"policy\": {\"rules\": [{\"name\": \"all\", \"allow\": true}, "
	      "{\"name\": \"raw\", \"allow\": false, \"types\": [\"SOCK_RAW\"], "
	      "\"protocols\": [\"IPPROTO_ICMP\"]}]}}",
	      f);
	ck_assert_int_eq(fclose(f), 0);
	status = run_program(daemon, args, env, "", out, sizeof(out), errout, sizeof(errout));
	ck_assert_msg(status == 0, "%s", errout);
	ck_assert_msg(strstr(errout, "warning: policy: rule 2 \"raw\" never decides anything"),
		      "%s", errout);
	ck_assert_msg(strstr(out, "\"IPPROTO_ICMP\""), "%s", out);
	unlink(config);
	rmdir(dir);
}
END_TEST

START_TEST(the_c_client_and_sbcat_reach_a_daemon_by_ip_with_an_ip_certificate)
{
	struct echo_server echo, echo2;
	struct sb_error err;
	char url[96], ca_env[160], cert_env[160], target[64], out[256], errout[1024];

	/* The server certificate names 127.0.0.1 as an IP address and nothing else. */
	if (!start_tls("ip-certificate", "IP:127.0.0.1"))
		return;
	ck_assert_msg(connect_tls(&client, ca, client_pem, &err) == 0, "%s", err.message);
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	ck_assert_int_eq(echo_server_start(&echo, AF_INET, SOCK_STREAM), 0);
	struct sb_addr addr;
	sb_addr_inet(&addr, "127.0.0.1", echo.port);
	ck_assert_msg(sb_connect(client, h, &addr, &err) == 0, "%s", err.message);
	fixture_echo(h, "over TLS by IP");
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	/* sbcat gets an echo server of its own: the close above may still be written behind. */
	ck_assert_int_eq(echo_server_start(&echo2, AF_INET, SOCK_STREAM), 0);

	snprintf(url, sizeof(url), "SOCKBROKER_URL=%s", tls_url);
	snprintf(ca_env, sizeof(ca_env), "SOCKBROKER_TLS_CA_FILE=%s", ca);
	snprintf(cert_env, sizeof(cert_env), "SOCKBROKER_TLS_CERT_KEY_FILE=%s", client_pem);
	snprintf(target, sizeof(target), "tcp:127.0.0.1:%u", echo2.port);
	const char *args[] = { "-t", "10", target, NULL };
	const char *env[] = { url, ca_env, cert_env, NULL };
	int status = run_sbcat(args, env, "ping\n", out, sizeof(out), errout, sizeof(errout));
	ck_assert_msg(status == 0, "sbcat exited %d: %s", status, errout);
	ck_assert_str_eq(out, "ping\n");

	/* Without a certificate sbcat says which is missing and where it goes. */
	const char *no_cert_env[] = { url, ca_env, NULL };
	status = run_sbcat(args, no_cert_env, "ping\n", out, sizeof(out), errout, sizeof(errout));
	ck_assert_int_ne(status, 0);
	ck_assert_msg(strstr(errout, "SOCKBROKER_TLS_CERT_KEY_FILE"), "%s", errout);
	ck_assert_msg(!strstr(errout, "is sockbrokerd running"), "%s", errout);
	echo_server_stop(&echo);
	echo_server_stop(&echo2);
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("remote");
	const struct fixture_case cases[] = {
		{ "keepalive_ends_a_vanished_clients_session",
		  keepalive_ends_a_vanished_clients_session },
		{ "refused-tls", a_refused_tls_handshake_is_logged_audited_and_explained },
		{ "numeric-host", create_connection_to_a_numeric_host_needs_no_resolve_and_audits_once },
		{ "resume", a_reset_link_resumes_with_the_same_handles_and_every_byte_once },
		{ "resume-identity", another_identitys_secret_is_refused_and_the_same_identity_resumes },
		{ "resume-bound", detached_sessions_are_bounded_by_max_sessions },
		{ "resume-repeats", a_hello_repeating_one_seq_many_times_is_answered_at_once },
		{ "resume-identity-count", a_resumed_connection_is_counted_as_its_identity },
		{ "resume-memory", kept_replies_count_in_the_identitys_memory },
		{ "resume-bound-identity", detached_sessions_are_bounded_per_identity },
		{ "check-config", check_config_fails_on_a_tls_file_it_cannot_load_and_warns_of_shadowed_rules },
		{ "ip-certificate", the_c_client_and_sbcat_reach_a_daemon_by_ip_with_an_ip_certificate },
	};

	fixture_add_cases(suite, cases, sizeof(cases) / sizeof(cases[0]), setup, teardown, 120);
	return fixture_run(suite);
}
