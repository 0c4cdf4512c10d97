/*
 * Greed: the ways a merely greedy local client could make the daemon hold
 * memory without bound, each run against a fresh daemon with the default
 * memory budget (limits.memory_per_identity 64 MiB), while a well-behaved
 * client of another identity (token "ci") echoes through a TCP server the
 * whole time. Each case asserts the bound held (the daemon's peak RSS above
 * its start), that the greedy client was told what it passed, and that the
 * well-behaved client was served throughout (never starved: see stress.h);
 * it prints its figures (peak RSS, the slowest echo of the well-behaved
 * client against the 100 ms target).
 *
 * The greedy clients speak the wire protocol themselves (tests/support/sp.h),
 * so that nothing between them and the daemon splits or paces what they ask.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "servers.h"
#include "sockbroker.h"
#include "sockbroker.pb-c.h"
#include "sp.h"
#include "fixture.h"
#include "stress.h"

#define MIB (1024ull * 1024)
#define BIG (16 * MIB)  /* limits.max_message_size, the default */
#define BUDGET (64 * MIB) /* limits.memory_per_identity, the default */
/* What the daemon may hold above its start besides the budget: the one
 * request being decoded (its protobuf copy, which the budget charges only
 * once the decode is done), the receive buffer, allocator slack. */
#define SLACK (40 * MIB)

#define CI_TOKEN "ci-token-1f8a04c2"
#define CI_HASH "91b39df0b0457b3fd948384f9ef9ec161d624ca44c606458b2a88e4d447fccdd"
#define CONFIG(extra)                                                                   \
	"{\"limits\": {\"frame_timeout_ms\": 3000, \"reply_timeout_ms\": 3000" extra "}, " \
	"\"auth\": {\"tokens\": [{\"name\": \"ci\", \"sha256\": \"" CI_HASH "\"}]}}"

static struct test_daemon pressed_daemon;

/* ---- the well-behaved client ------------------------------------------- */

struct prober {
	struct echo_server echo;
	struct sb_client *client;
	sb_handle handle;
	pthread_t thread;
	atomic_bool stop;
	atomic_llong worst_ms;
	atomic_int probes, failures;
	char failure[320];
};

static void
probe_once(struct prober *p)
{
	struct sb_error err;
	char out[64], in[64];
	memset(out, 'a' + p->probes % 26, sizeof(out));
	int64_t t0 = test_now_ms();
	int r = sb_sendall(p->client, p->handle, out, sizeof(out), 0, &err);
	ssize_t n = r == 0 ? sb_recv(p->client, p->handle, in, sizeof(in), MSG_WAITALL, &err) : -1;
	int64_t ms = test_now_ms() - t0;
	if (n != (ssize_t)sizeof(in) || memcmp(in, out, sizeof(in)) != 0) {
		if (!p->failures++)
			snprintf(p->failure, sizeof(p->failure), "echo failed: %s", err.message);
		return;
	}
	if (ms > p->worst_ms)
		p->worst_ms = ms;
	p->probes++;
}

static void *
prober_run(void *arg)
{
	struct prober *p = arg;
	/* Bounded: a case stops it long before this. */
	for (int i = 0; i < 20000 && !p->stop; i++) {
		probe_once(p);
		test_sleep_ms(10);
	}
	return NULL;
}

static void
prober_start(struct prober *p)
{
	memset(p, 0, sizeof(*p));
	ck_assert_int_eq(echo_server_start(&p->echo, AF_INET, SOCK_STREAM), 0);
	struct sb_client_options options = { .url = pressed_daemon.url,
					     .client_name = "well-behaved", .token = CI_TOKEN };
	struct sb_error err;
	ck_assert_msg(sb_client_new_with(&p->client, &options, &err) == 0, "%s", err.message);
	ck_assert_int_eq(sb_socket(p->client, AF_INET, SOCK_STREAM, 0, &p->handle, &err), 0);
	struct sb_addr addr;
	ck_assert_int_eq(sb_addr_inet(&addr, "127.0.0.1", p->echo.port), 0);
	ck_assert_msg(sb_connect(p->client, p->handle, &addr, &err) == 0, "%s", err.message);
	ck_assert_int_eq(pthread_create(&p->thread, NULL, prober_run, p), 0);
}

static void
prober_stop(struct prober *p, const char *name, long long peak_rss)
{
	p->stop = true;
	pthread_join(p->thread, NULL);
	probe_once(p); /* served after the greed too */
	sb_close(p->client, p->handle, &(struct sb_error){ 0 });
	sb_client_free(p->client);
	echo_server_stop(&p->echo);
	printf("greed %-16s peak RSS %6.1f MiB above start; well-behaved client: %d echoes, "
	       "slowest %lld ms (target %d)\n",
	       name, (double)peak_rss / (double)MIB, p->probes, (long long)p->worst_ms,
	       STRESS_TARGET_MS);
	fflush(stdout);
	ck_assert_msg(p->failures == 0, "the well-behaved client: %s", p->failure);
	ck_assert_int_gt(p->probes, 0);
	ck_assert_msg(!stress_measured() || p->worst_ms < STRESS_SERVED_MS,
		      "the well-behaved client waited %lld ms for an echo",
		      (long long)p->worst_ms);
}

/* ---- raw requests -------------------------------------------------------- */

static uint32_t next_id = 1;

static void
raw_send(struct sp_client *c, const Sockbroker__V1__Request *request)
{
	size_t len = sockbroker__v1__request__get_packed_size(request);
	uint8_t *buf = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(buf);
	sockbroker__v1__request__pack(request, buf);
	int r = sp_send(c, next_id++, buf, len);
	free(buf);
	ck_assert_int_eq(r, 0);
}

static Sockbroker__V1__Reply *
raw_reply(struct sp_client *c, int timeout_ms)
{
	uint32_t id;
	uint8_t *body;
	size_t len;
	if (sp_recv(c, &id, &body, &len, timeout_ms) < 0)
		return NULL;
	Sockbroker__V1__Reply *reply = sockbroker__v1__reply__unpack(NULL, len, body);
	free(body);
	ck_assert_ptr_nonnull(reply);
	return reply;
}

static Sockbroker__V1__Reply *
raw_call(struct sp_client *c, const Sockbroker__V1__Request *request)
{
	raw_send(c, request);
	Sockbroker__V1__Reply *reply = raw_reply(c, 10000);
	ck_assert_msg(reply != NULL, "no reply within 10 s");
	ck_assert_msg(!reply->error, "%s", reply->error ? reply->error->message : "");
	return reply;
}

static void
raw_hello(struct sp_client *c)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HelloRequest hello = SOCKBROKER__V1__HELLO_REQUEST__INIT;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HELLO;
	request.hello = &hello;
	sockbroker__v1__reply__free_unpacked(raw_call(c, &request), NULL);
}

/* A connected TCP socket of the greedy session, to 127.0.0.1:port. */
static uint64_t
raw_tcp_connect(struct sp_client *c, unsigned port)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SocketRequest sock = SOCKBROKER__V1__SOCKET_REQUEST__INIT;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SOCKET;
	request.socket = &sock;
	sock.has_family = sock.has_type = true;
	sock.family = AF_INET;
	sock.type = SOCK_STREAM;
	Sockbroker__V1__Reply *reply = raw_call(c, &request);
	ck_assert_ptr_nonnull(reply->socket);
	uint64_t handle = reply->socket->handle;
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	Sockbroker__V1__Request connect = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__ConnectRequest conn = SOCKBROKER__V1__CONNECT_REQUEST__INIT;
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__InetAddress inet = SOCKBROKER__V1__INET_ADDRESS__INIT;
	inet.host = "127.0.0.1";
	inet.has_port = true;
	inet.port = port;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET;
	address.af_inet = &inet;
	conn.has_handle = true;
	conn.handle = handle;
	conn.address = &address;
	connect.op_case = SOCKBROKER__V1__REQUEST__OP_CONNECT;
	connect.connect = &conn;
	sockbroker__v1__reply__free_unpacked(raw_call(c, &connect), NULL);
	return handle;
}

/* Whether `reply` is the budget's refusal. */
static bool
over_budget(const Sockbroker__V1__Reply *reply)
{
	if (!reply->error)
		return false;
	ck_assert_msg(reply->error->kind == SOCKBROKER__V1__ERROR_KIND__QUOTA &&
			      reply->error->errno_number == ENOBUFS &&
			      strstr(reply->error->message, "limits.memory_per_identity"),
		      "an error other than the budget's: %s", reply->error->message);
	return true;
}

/* ---- a TCP server that never reads, and one that writes without end ------ */

struct tcp_peer {
	int listen_fd, fd;
	unsigned port;
	bool writes; /* write zeros (bounded) instead of never reading */
	pthread_t thread;
	atomic_bool stop;
	atomic_llong written;
};

static void *
tcp_peer_run(void *arg)
{
	struct tcp_peer *p = arg;
	struct pollfd pfd = { .fd = p->listen_fd, .events = POLLIN };
	if (poll(&pfd, 1, 10000) != 1)
		return NULL;
	p->fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (p->fd < 0 || !p->writes)
		return NULL;
	/* Blocking sends, each waiting at most 100 ms, so that `stop` is seen. */
	struct timeval tv = { .tv_usec = 100000 };
	setsockopt(p->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	static char zeros[256 * 1024];
	/* At most 60 s and 1 GiB: a case stops it long before. */
	int64_t deadline = test_now_ms() + 60000;
	while (!p->stop && test_now_ms() < deadline && p->written < (1ll << 30)) {
		ssize_t n = send(p->fd, zeros, sizeof(zeros), MSG_NOSIGNAL);
		if (n > 0)
			p->written += n;
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			break;
	}
	return NULL;
}

static void
tcp_peer_start(struct tcp_peer *p, bool writes)
{
	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->writes = writes;
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(in);
	p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(p->listen_fd, 0);
	ck_assert_int_eq(bind(p->listen_fd, (struct sockaddr *)&in, sizeof(in)), 0);
	ck_assert_int_eq(listen(p->listen_fd, 1), 0);
	ck_assert_int_eq(getsockname(p->listen_fd, (struct sockaddr *)&in, &len), 0);
	p->port = ntohs(in.sin_port);
	ck_assert_int_eq(pthread_create(&p->thread, NULL, tcp_peer_run, p), 0);
}

static void
tcp_peer_stop(struct tcp_peer *p)
{
	p->stop = true;
	pthread_join(p->thread, NULL);
	if (p->fd >= 0)
		close(p->fd);
	close(p->listen_fd);
}

/* ---- the cases ----------------------------------------------------------- */

static long long start_rss;

static void
start_case(const char *config)
{
	test_daemon_start(&pressed_daemon, config);
	start_rss = stress_rss_bytes(pressed_daemon.pid, "VmRSS:");
}

static long long
peak_above_start(void)
{
	return stress_rss_bytes(pressed_daemon.pid, "VmHWM:") - start_rss;
}

static void
stop_case(void)
{
	ck_assert_int_eq(test_daemon_stop(&pressed_daemon), 0);
}

/* 20 connections each send 16 MiB - 1 of a 16 MiB frame and stall. */
START_TEST(stalled_partial_frames)
{
	enum { N = 20 };
	start_case(CONFIG(""));
	struct prober prober;
	prober_start(&prober);
	struct sp_client greedy[N];
	size_t sent[N];
	static char chunk[256 * 1024];
	for (int i = 0; i < N; i++) {
		sp_connect(&greedy[i], pressed_daemon.url);
		uint8_t header[9 + 4] = { 0x01 };
		for (int b = 0; b < 8; b++)
			header[1 + b] = (uint8_t)(BIG >> (56 - 8 * b));
		header[9] = 0x80; /* the request id, then the body's bytes */
		ck_assert_int_eq(send(greedy[i].fd, header, sizeof(header), MSG_NOSIGNAL),
				 (ssize_t)sizeof(header));
		sent[i] = 4;
		fcntl(greedy[i].fd, F_SETFL, O_NONBLOCK);
	}
	/* Push what the daemon takes, until nobody's bytes move for 300 ms. */
	int64_t quiet_since = test_now_ms(), deadline = test_now_ms() + 20000;
	while (test_now_ms() - quiet_since < 300 && test_now_ms() < deadline) {
		bool moved = false;
		for (int i = 0; i < N; i++) {
			size_t want = BIG - 1 - sent[i];
			if (want > sizeof(chunk))
				want = sizeof(chunk);
			if (!want)
				continue;
			ssize_t n = send(greedy[i].fd, chunk, want, MSG_NOSIGNAL);
			if (n > 0) {
				sent[i] += (size_t)n;
				moved = true;
			}
		}
		if (moved)
			quiet_since = test_now_ms();
		else
			test_sleep_ms(20);
	}
	long long peak = peak_above_start();
	/* While they stall, a new client of another identity (the same uid, its
	 * own token) connects and is served. */
	int64_t t0 = test_now_ms();
	struct sb_client *late;
	struct sb_error err;
	struct sb_client_options options = { .url = pressed_daemon.url,
					     .client_name = "late", .token = CI_TOKEN };
	ck_assert_msg(sb_client_new_with(&late, &options, &err) == 0, "%s", err.message);
	sb_handle h;
	ck_assert_int_eq(sb_socket(late, AF_INET, SOCK_STREAM, 0, &h, &err), 0);
	ck_assert_int_eq(sb_close(late, h, &err), 0);
	sb_client_free(late);
	long long late_ms = test_now_ms() - t0;
	printf("greed partial-frames: a new client was served in %lld ms\n", late_ms);
	ck_assert_msg(!stress_measured() || late_ms < STRESS_SERVED_MS,
		      "a new client waited %lld ms", late_ms);
	/* The frame deadline ends every stalled connection. */
	for (int i = 0; i < N; i++) {
		ck_assert_msg(sp_wait_closed(&greedy[i], 15000), "connection %d still open", i);
		sp_close(&greedy[i]);
	}
	ck_assert(test_daemon_wait_log(&pressed_daemon, "waited 3000 ms", 1000) ||
		  test_daemon_wait_log(&pressed_daemon, "stayed incomplete", 1000));
	prober_stop(&prober, "partial-frames", peak);
	ck_assert_msg(!stress_measured() || peak < (long long)(BUDGET + SLACK), "peak RSS %lld MiB above start",
		      peak / (long long)MIB);
	stop_case();
}
END_TEST

struct pipeline {
	struct sp_client *c;
	Sockbroker__V1__Request *request;
	int n;
	pthread_t thread;
};

static void *
pipeline_run(void *arg)
{
	struct pipeline *p = arg;
	size_t len = sockbroker__v1__request__get_packed_size(p->request);
	uint8_t *buf = malloc(len);
	if (!buf)
		return NULL;
	sockbroker__v1__request__pack(p->request, buf);
	for (int i = 0; i < p->n; i++)
		if (sp_send(p->c, 0x1000u + (uint32_t)i, buf, len) < 0)
			break;
	free(buf);
	return NULL;
}

/* `n` pipelined sendall(16 MiB) from one session on a socket whose peer
 * never reads; returns how many were refused, the session closed. */
static int
flood_parked_sendall(int n)
{
	struct tcp_peer sink;
	tcp_peer_start(&sink, false);
	struct sp_client greedy;
	sp_connect(&greedy, pressed_daemon.url);
	raw_hello(&greedy);
	uint64_t handle = raw_tcp_connect(&greedy, sink.port);

	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SendRequest send_request = SOCKBROKER__V1__SEND_REQUEST__INIT;
	uint8_t *data = calloc(1, BIG - 4096);
	ck_assert_ptr_nonnull(data);
	send_request.has_handle = send_request.has_data = true;
	send_request.handle = handle;
	send_request.data.data = data;
	send_request.data.len = BIG - 4096;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SENDALL;
	request.sendall = &send_request;
	struct pipeline pipeline = { .c = &greedy, .request = &request, .n = n };
	ck_assert_int_eq(pthread_create(&pipeline.thread, NULL, pipeline_run, &pipeline), 0);
	/* The refusals come back; the ones let through wait for a reader that
	 * never comes. */
	int refused = 0;
	Sockbroker__V1__Reply *reply;
	while ((reply = raw_reply(&greedy, 5000))) {
		refused += over_budget(reply);
		sockbroker__v1__reply__free_unpacked(reply, NULL);
	}
	pthread_join(pipeline.thread, NULL);
	free(data);
	sp_close(&greedy);
	tcp_peer_stop(&sink);
	return refused;
}

/* 30 pipelined sendall(16 MiB) on a socket whose peer never reads. */
START_TEST(parked_sendall)
{
	enum { N = 30 };
	start_case(CONFIG(""));
	struct prober prober;
	prober_start(&prober);
	int refused = flood_parked_sendall(N);
	long long peak = peak_above_start();
	printf("greed parked-sendall: %d of %d refused with ENOBUFS\n", refused, N);
	prober_stop(&prober, "parked-sendall", peak);
	ck_assert_int_ge(refused, N - (int)(BUDGET / BIG));
	ck_assert_msg(!stress_measured() || peak < (long long)(BUDGET + SLACK), "peak RSS %lld MiB above start",
		      peak / (long long)MIB);
	stop_case();
}
END_TEST

/* A burst of large messages (a budget raised to 1 GiB lets 30 sendall of
 * 16 MiB wait at once), then the session ends: the daemon's memory goes back
 * near where it started. */
START_TEST(memory_returns_after_a_burst)
{
	start_case(CONFIG(", \"memory_per_identity\": 1073741824, "
			  "\"memory_total\": 2147483648"));
	ck_assert_int_eq(flood_parked_sendall(30), 0);
	long long peak = peak_above_start();
	/* The session's end frees what it held; RSS follows (bounded wait). */
	long long rss = -1;
	for (int i = 0; i < 50; i++) {
		rss = stress_rss_bytes(pressed_daemon.pid, "VmRSS:") - start_rss;
		if (rss < (long long)(16 * MIB))
			break;
		test_sleep_ms(100);
	}
	printf("greed burst            peak RSS %6.1f MiB above start; %.1f MiB above start "
	       "after it\n", (double)peak / (double)MIB, (double)rss / (double)MIB);
	ck_assert_msg(!stress_measured() || peak > (long long)(256 * MIB), "no burst: peak %lld MiB",
		      peak / (long long)MIB);
	ck_assert_msg(!stress_measured() || rss < (long long)(16 * MIB), "the daemon kept %lld MiB after the burst",
		      rss / (long long)MIB);
	stop_case();
}
END_TEST

/* 24 pipelined recv(16 MiB, MSG_WAITALL) from a fast sender, whose replies
 * the client never reads (as if stopped with SIGSTOP). */
START_TEST(waitall_replies_unread)
{
	enum { N = 24 };
	start_case(CONFIG(""));
	struct prober prober;
	prober_start(&prober);
	struct tcp_peer source;
	tcp_peer_start(&source, true);
	struct sp_client greedy;
	sp_connect(&greedy, pressed_daemon.url);
	raw_hello(&greedy);
	uint64_t handle = raw_tcp_connect(&greedy, source.port);

	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__RecvRequest recv_request = SOCKBROKER__V1__RECV_REQUEST__INIT;
	recv_request.has_handle = recv_request.has_bufsize = recv_request.has_flags = true;
	recv_request.handle = handle;
	recv_request.bufsize = (int64_t)(BIG - 4096);
	recv_request.flags = MSG_WAITALL;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_RECV;
	request.recv = &recv_request;
	for (int i = 0; i < N; i++)
		raw_send(&greedy, &request);
	/* Nothing is read: the reply deadline ends the session. */
	ck_assert_msg(test_daemon_wait_log(&pressed_daemon, "did not read its replies", 20000),
		      "the session outlived its reply deadline");
	long long peak = peak_above_start();
	printf("greed waitall-unread: the source wrote %.1f MiB before the session ended\n",
	       (double)source.written / (double)MIB);
	sp_close(&greedy);
	tcp_peer_stop(&source);
	prober_stop(&prober, "waitall-unread", peak);
	ck_assert_msg(!stress_measured() || peak < (long long)(BUDGET + SLACK), "peak RSS %lld MiB above start",
		      peak / (long long)MIB);
	stop_case();
}
END_TEST

/* CPU time the daemon used so far, in milliseconds (utime + stime). */
static long long
daemon_cpu_ms(void)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pressed_daemon.pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	unsigned long long utime = 0, stime = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
			 &stime) != 2)
		return -1;
	return (long long)(utime + stime) * 1000 / sysconf(_SC_CLK_TCK);
}

/* One client opens 1,014 connections (over TCP, from one address) to a
 * daemon limited to 1,024 descriptors. */
START_TEST(a_thousand_connections_under_a_low_descriptor_limit)
{
	enum { N = 1014, LIMIT = 1024 };
	char url[64];
	unsigned port = closed_tcp_port();
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", port);
	/* The daemon alone gets the low limit (prlimit execs it in place). */
	char wrapper[64];
	snprintf(wrapper, sizeof(wrapper), "prlimit --nofile=%d:%d", LIMIT, LIMIT);
	ck_assert_int_eq(setenv("SOCKBROKERD_WRAPPER", wrapper, 1), 0);
	test_daemon_start_listening(&pressed_daemon, CONFIG(""), url);
	unsetenv("SOCKBROKERD_WRAPPER");
	start_rss = stress_rss_bytes(pressed_daemon.pid, "VmRSS:");
	struct prober prober;
	prober_start(&prober);
	int fds_before = test_daemon_fd_count(&pressed_daemon);

	static int greedy[N];
	static const uint8_t handshake[8] = { 0, 'S', 'P', 0, 0, 0x30, 0, 0 };
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int connected = 0;
	for (int i = 0; i < N; i++) {
		greedy[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(greedy[i], 0);
		if (connect(greedy[i], (struct sockaddr *)&in, sizeof(in)) == 0 &&
		    send(greedy[i], handshake, sizeof(handshake), MSG_NOSIGNAL) == 8)
			connected++;
	}
	/* Let the daemon take them all off its queue: its count settles. */
	int fds = -1, last = -2;
	for (int i = 0; i < 100 && fds != last; i++) {
		last = fds;
		test_sleep_ms(100);
		fds = test_daemon_fd_count(&pressed_daemon);
	}
	long long cpu0 = daemon_cpu_ms();
	test_sleep_ms(1000);
	long long cpu_ms = daemon_cpu_ms() - cpu0;

	/* A new client of another identity is served, and opens sockets. */
	struct sb_client *late;
	struct sb_error err;
	struct sb_client_options options = { .url = pressed_daemon.url,
					     .client_name = "late", .token = CI_TOKEN };
	int r = sb_client_new_with(&late, &options, &err);
	ck_assert_msg(r == 0, "a new client was not served: %s", err.message);
	sb_handle handles[8];
	for (int i = 0; i < 8; i++)
		ck_assert_msg(sb_socket(late, AF_INET, SOCK_STREAM, 0, &handles[i], &err) == 0,
			      "socket() failed for a well-behaved client: %s", err.message);
	for (int i = 0; i < 8; i++)
		sb_close(late, handles[i], &err);
	sb_client_free(late);

	printf("greed fd-exhaustion: %d connections made, the daemon holds %d descriptors "
	       "(%d before), %lld ms of CPU in the next second\n",
	       connected, fds, fds_before, cpu_ms);
	for (int i = 0; i < N; i++)
		close(greedy[i]);
	prober_stop(&prober, "fd-exhaustion", peak_above_start());
	ck_assert_msg(fds < LIMIT - 64, "the daemon holds %d of its %d descriptors", fds, LIMIT);
	ck_assert(!stress_measured() || cpu_ms <= 500);
	stop_case();
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("greed");
	TCase *tc = tcase_create("greed");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, stalled_partial_frames);
	tcase_add_test(tc, parked_sendall);
	tcase_add_test(tc, waitall_replies_unread);
	tcase_add_test(tc, a_thousand_connections_under_a_low_descriptor_limit);
	tcase_add_test(tc, memory_returns_after_a_burst);
	suite_add_tcase(suite, tc);
	return fixture_run(suite);
}
