/*
 * Poll, create_connection, create_server and has_dualstack_ipv6 against the
 * real daemon: readiness of real sockets (readable, writable, hangup),
 * timeouts that answer empty, wake-ups from other threads, Cancel, handles
 * closed and sessions ended while a Poll waits, a Poll over 5000 handles;
 * connections tried address by address (refused, timed out, every error
 * listed, from a source address); listening servers with the reference's
 * options; and the bad-input path of each. The daemon's fd count must come
 * back to where it started: failed attempts and abandoned waits leave
 * nothing behind.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "fixture.h"
#include "raw.h"
#include "servers.h"
#include "sockbroker.h"

/* Enough for the Poll over many handles, with room for the test's others. */
#define MANY_HANDLES 5000
#define CONFIG "{\"limits\": {\"max_handles_per_session\": 10000}}"

static int baseline_fds;

static void
connect_client(void)
{
	fixture_connect("test-poll");
	/* The fixture's readiness probe is a connection too, which the daemon
	 * drops a moment later: count once the number holds still. */
	baseline_fds = test_daemon_fd_count(&daemon_under_test);
	for (int i = 0; i < 40; i++) {
		test_sleep_ms(50);
		int count = test_daemon_fd_count(&daemon_under_test);
		if (count == baseline_fds)
			break;
		baseline_fds = count;
	}
	ck_assert_int_gt(baseline_fds, 0);
}

static void
setup(void)
{
	test_daemon_start(&daemon_under_test, CONFIG);
	connect_client();
}

/* The daemon with dual-hosts preloaded (see dual-hosts.c). */
static void
setup_dual_hosts(void)
{
	const char *lib = getenv("SOCKBROKER_TEST_DUAL_HOSTS_LIB");
	ck_assert_msg(lib, "SOCKBROKER_TEST_DUAL_HOSTS_LIB must name the dual-hosts module");
	const char *old = getenv("LD_PRELOAD");
	char *saved = old ? strdup(old) : NULL;
	setenv("LD_PRELOAD", lib, 1);
	test_daemon_start(&daemon_under_test, CONFIG);
	if (saved)
		setenv("LD_PRELOAD", saved, 1);
	else
		unsetenv("LD_PRELOAD");
	free(saved);
	connect_client();
}

static void
teardown(void)
{
	fixture_stop();
}

static double
now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The daemon's fds must come back to what they were after setup(). */
static void
assert_fds_back_to_baseline(void)
{
	int count = test_daemon_wait_fd_count(&daemon_under_test, baseline_fds, 5000);
	ck_assert_msg(count == baseline_fds, "the daemon has %d fds, %d before the test", count,
		      baseline_fds);
}

/* A datagram from a direct socket to 127.0.0.1:port. */
static void
send_datagram(uint16_t port, const char *text)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(sendto(fd, text, strlen(text), 0, (struct sockaddr *)&sin, sizeof(sin)),
			 (ssize_t)strlen(text));
	close(fd);
}

/* A direct TCP listener on 127.0.0.1 (or ::1); its port in *port. */
static int
direct_listener(int family, uint16_t *port)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*sin);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 16) < 0) {
		close(fd);
		return -1;
	}
	getsockname(fd, (struct sockaddr *)&ss, &len);
	*port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					 : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

/* A direct connect to 127.0.0.1:port or [::1]:port; the fd or -errno. */
static int
direct_connect(int family, uint16_t port)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_addr = in6addr_loopback;
		len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*sin);
	}
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* A brokered TCP socket connected to a direct listener, and the direct end
 * of that connection. */
static sb_handle
brokered_tcp_pair(int *direct_end)
{
	struct sb_addr addr;
	struct sb_error err;
	uint16_t port;
	int listener = direct_listener(AF_INET, &port);
	ck_assert_int_ge(listener, 0);
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	sb_addr_inet(&addr, "127.0.0.1", port);
	ck_assert_int_eq(sb_connect(client, h, &addr, &err), 0);
	*direct_end = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(*direct_end, 0);
	close(listener);
	return h;
}

/* An sb_poll() on its own thread. */
struct poll_job {
	struct sb_client *client;
	struct sb_pollitem *items;
	size_t n;
	double timeout;
	int result;
	size_t n_ready;
	struct sb_error err;
	double returned_at;
};

static void *
poll_thread(void *arg)
{
	struct poll_job *job = arg;
	job->result =
		sb_poll(job->client, job->items, job->n, job->timeout, &job->n_ready, &job->err);
	job->returned_at = now_seconds();
	return NULL;
}

/*
 * A second session spoken to directly over NNG contexts, for what the
 * library never does: a request left waiting while a Cancel naming its seq
 * goes out beside it.
 */
struct raw_session {
	nng_socket socket;
	uint64_t next_seq;
};

struct raw_pending {
	nng_ctx ctx;
	nng_aio *aio;
	uint64_t seq;
};

static void
raw_start(struct raw_session *session, Sockbroker__V1__Request *request,
	  struct raw_pending *pending)
{
	nng_msg *msg;
	request->has_seq = true;
	request->seq = pending->seq = session->next_seq++;
	size_t len = sockbroker__v1__request__get_packed_size(request);
	ck_assert_int_eq(nng_msg_alloc(&msg, len), 0);
	sockbroker__v1__request__pack(request, nng_msg_body(msg));
	ck_assert_int_eq(nng_ctx_open(&pending->ctx, session->socket), 0);
	ck_assert_int_eq(nng_aio_alloc(&pending->aio, NULL, NULL), 0);
	nng_aio_set_timeout(pending->aio, 10000);
	nng_aio_set_msg(pending->aio, msg);
	nng_ctx_send(pending->ctx, pending->aio);
	nng_aio_wait(pending->aio);
	ck_assert_int_eq(nng_aio_result(pending->aio), 0);
	nng_ctx_recv(pending->ctx, pending->aio);
}

static Sockbroker__V1__Reply *
raw_finish(struct raw_pending *pending)
{
	nng_aio_wait(pending->aio);
	int rv = nng_aio_result(pending->aio);
	ck_assert_msg(rv == 0, "no reply to request %llu: %s", (unsigned long long)pending->seq,
		      nng_strerror(rv));
	nng_msg *msg = nng_aio_get_msg(pending->aio);
	Sockbroker__V1__Reply *reply =
		sockbroker__v1__reply__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	nng_msg_free(msg);
	nng_aio_free(pending->aio);
	nng_ctx_close(pending->ctx);
	ck_assert(reply);
	return reply;
}

static void
raw_session_open(struct raw_session *session)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HelloRequest hello = SOCKBROKER__V1__HELLO_REQUEST__INIT;
	struct raw_pending pending;

	ck_assert_int_eq(nng_req0_open(&session->socket), 0);
	ck_assert_int_eq(
		nng_socket_set_ms(session->socket, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE),
		0);
	ck_assert_int_eq(nng_dial(session->socket, daemon_under_test.url, NULL, 0), 0);
	session->next_seq = 1;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HELLO;
	request.hello = &hello;
	raw_start(session, &request, &pending);
	Sockbroker__V1__Reply *reply = raw_finish(&pending);
	ck_assert(!reply->error);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
}

/* Cancel request `target` of the session; whether the daemon found it. */
static bool
raw_cancel(struct raw_session *session, uint64_t target)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__CancelRequest cancel = SOCKBROKER__V1__CANCEL_REQUEST__INIT;
	struct raw_pending pending;
	cancel.has_target_seq = true;
	cancel.target_seq = target;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_CANCEL;
	request.cancel = &cancel;
	raw_start(session, &request, &pending);
	Sockbroker__V1__Reply *reply = raw_finish(&pending);
	ck_assert(!reply->error && reply->cancel);
	bool cancelled = reply->cancel->cancelled;
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	return cancelled;
}

/* A handle of the raw session: a UDP socket on 127.0.0.1, unbound. */
static uint64_t
raw_udp_socket(struct raw_session *session)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SocketRequest socket_args = SOCKBROKER__V1__SOCKET_REQUEST__INIT;
	struct raw_pending pending;
	socket_args.has_family = socket_args.has_type = true;
	socket_args.family = AF_INET;
	socket_args.type = SOCK_DGRAM;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SOCKET;
	request.socket = &socket_args;
	raw_start(session, &request, &pending);
	Sockbroker__V1__Reply *reply = raw_finish(&pending);
	ck_assert(!reply->error && reply->socket);
	uint64_t handle = reply->socket->handle;
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	return handle;
}

/* Expect a BAD_REQUEST whose message contains `fragment`. */
static void
assert_bad_request(Sockbroker__V1__Reply *reply, const char *fragment)
{
	ck_assert(reply);
	ck_assert_msg(reply->error, "expected an error naming '%s'", fragment);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__BAD_REQUEST);
	ck_assert_msg(strstr(reply->error->message, fragment), "message '%s' does not name '%s'",
		      reply->error->message, fragment);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
}

/* ---- Poll: readiness ------------------------------------------------------ */

START_TEST(poll_reports_the_readable_one_of_two_udp_sockets)
{
	struct sb_error err;
	uint16_t port_a, port_b;
	sb_handle a = fixture_bound_udp(AF_INET, &port_a), b = fixture_bound_udp(AF_INET, &port_b);
	send_datagram(port_b, "for b");
	struct sb_pollitem items[] = {
		{.handle = a, .events = SB_POLL_READABLE},
		{.handle = b, .events = SB_POLL_READABLE},
	};
	size_t n_ready = 99;
	ck_assert_int_eq(sb_poll(client, items, 2, 5.0, &n_ready, &err), 0);
	ck_assert_uint_eq(n_ready, 1);
	ck_assert_uint_eq(items[0].revents, 0);
	ck_assert_uint_eq(items[1].revents, SB_POLL_READABLE);

	/* Read, and it is no longer ready. */
	char buf[16];
	ck_assert_int_eq(sb_recv(client, b, buf, sizeof(buf), 0, &err), 5);
	ck_assert_int_eq(sb_poll(client, items, 2, 0.0, &n_ready, &err), 0);
	ck_assert_uint_eq(n_ready, 0);
	ck_assert_uint_eq(items[1].revents, 0);
}
END_TEST

START_TEST(poll_reports_a_connected_tcp_socket_writable_and_not_readable)
{
	struct sb_error err;
	int peer;
	sb_handle h = brokered_tcp_pair(&peer);
	struct sb_pollitem items[] = {
		{.handle = h, .events = SB_POLL_READABLE | SB_POLL_WRITABLE},
	};
	size_t n_ready;
	ck_assert_int_eq(sb_poll(client, items, 1, 0.0, &n_ready, &err), 0);
	ck_assert_uint_eq(n_ready, 1);
	ck_assert_uint_eq(items[0].revents, SB_POLL_WRITABLE);
	close(peer);
}
END_TEST

START_TEST(poll_wakes_when_a_nonblocking_connect_completes)
{
	struct sb_error err;
	struct sb_addr addr;
	uint16_t port;
	int listener = direct_listener(AF_INET, &port);
	ck_assert_int_ge(listener, 0);
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	ck_assert_int_eq(sb_setblocking(client, h, false, &err), 0);
	sb_addr_inet(&addr, "127.0.0.1", port);
	int r = sb_connect(client, h, &addr, &err);
	ck_assert_msg(r == 0 || r == -EINPROGRESS, "connect: %d %s", r, err.message);

	struct sb_pollitem item = {.handle = h, .events = SB_POLL_WRITABLE};
	size_t n_ready;
	ck_assert_int_eq(sb_poll(client, &item, 1, 5.0, &n_ready, &err), 0);
	ck_assert_uint_eq(n_ready, 1);
	ck_assert_uint_eq(item.revents, SB_POLL_WRITABLE);
	int error = -1;
	ck_assert_int_eq(sb_getsockopt_int(client, h, SOL_SOCKET, SO_ERROR, &error, &err), 0);
	ck_assert_int_eq(error, 0);
	close(listener);
}
END_TEST

START_TEST(poll_wakes_with_hangup_and_error_when_the_peer_resets)
{
	int peer;
	sb_handle h = brokered_tcp_pair(&peer);
	struct sb_pollitem item = {.handle = h, .events = SB_POLL_WRITABLE};
	/* Writable at once: ask for readable only, so that the poll parks. */
	item.events = SB_POLL_READABLE;
	struct poll_job job = {
		.client = client, .items = &item, .n = 1, .timeout = SB_TIMEOUT_NONE};
	pthread_t thread;
	pthread_create(&thread, NULL, poll_thread, &job);
	test_sleep_ms(200);
	struct linger linger = {.l_onoff = 1, .l_linger = 0};
	setsockopt(peer, SOL_SOCKET, SO_LINGER, &linger, sizeof(linger));
	close(peer);
	pthread_join(thread, NULL);
	ck_assert_msg(job.result == 0, "poll: %s", job.err.message);
	ck_assert_uint_eq(job.n_ready, 1);
	/* ERROR and HANGUP come unasked, as poll(2) reports them. */
	ck_assert_msg(item.revents & SB_POLL_HANGUP, "revents 0x%x", item.revents);
	ck_assert_msg(item.revents & SB_POLL_ERROR, "revents 0x%x", item.revents);
}
END_TEST

START_TEST(poll_reports_an_unconnected_tcp_socket_as_hung_up)
{
	struct sb_error err;
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	struct sb_pollitem item = {.handle = h, .events = SB_POLL_READABLE};
	size_t n_ready;
	ck_assert_int_eq(sb_poll(client, &item, 1, 0.0, &n_ready, &err), 0);
	ck_assert_uint_eq(n_ready, 1);
	ck_assert_uint_eq(item.revents, SB_POLL_HANGUP);
}
END_TEST

START_TEST(poll_merges_a_handle_listed_twice)
{
	struct sb_error err;
	uint16_t port;
	sb_handle h = fixture_bound_udp(AF_INET, &port);
	send_datagram(port, "x");
	struct sb_pollitem items[] = {
		{.handle = h, .events = SB_POLL_READABLE},
		{.handle = h, .events = SB_POLL_WRITABLE},
		{.handle = h, .events = 0},
	};
	size_t n_ready;
	ck_assert_int_eq(sb_poll(client, items, 3, 1.0, &n_ready, &err), 0);
	ck_assert_uint_eq(n_ready, 2);
	ck_assert_uint_eq(items[0].revents, SB_POLL_READABLE);
	ck_assert_uint_eq(items[1].revents, SB_POLL_WRITABLE);
	ck_assert_uint_eq(items[2].revents, 0);
}
END_TEST

/* ---- Poll: timeouts, wake-ups, cancel ------------------------------------- */

START_TEST(poll_with_timeout_zero_answers_at_once_with_nothing)
{
	struct sb_error err;
	uint16_t port;
	sb_handle h = fixture_bound_udp(AF_INET, &port);
	struct sb_pollitem item = {.handle = h, .events = SB_POLL_READABLE, .revents = 77};
	size_t n_ready = 99;
	int64_t start = test_now_ms();
	ck_assert_int_eq(sb_poll(client, &item, 1, 0.0, &n_ready, &err), 0);
	ck_assert_int_lt(test_now_ms() - start, 2000);
	ck_assert_uint_eq(n_ready, 0);
	ck_assert_uint_eq(item.revents, 0);
	ck_assert_int_eq(err.kind, SB_ERR_NONE);
}
END_TEST

START_TEST(poll_with_a_short_timeout_answers_empty_after_it)
{
	struct sb_error err;
	uint16_t port;
	sb_handle h = fixture_bound_udp(AF_INET, &port);
	struct sb_pollitem item = {.handle = h, .events = SB_POLL_READABLE};
	size_t n_ready = 99;
	int64_t start = test_now_ms();
	ck_assert_int_eq(sb_poll(client, &item, 1, 0.2, &n_ready, &err), 0);
	int64_t elapsed = test_now_ms() - start;
	ck_assert_int_ge(elapsed, 190);
	ck_assert_uint_eq(n_ready, 0);
	ck_assert_uint_eq(item.revents, 0);

	/* No items at all: the reference's select([], [], [], t) sleeps. */
	start = test_now_ms();
	ck_assert_int_eq(sb_poll(client, NULL, 0, 0.1, &n_ready, &err), 0);
	ck_assert_int_ge(test_now_ms() - start, 90);
	ck_assert_uint_eq(n_ready, 0);
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	assert_fds_back_to_baseline();
}
END_TEST

START_TEST(poll_wakes_when_data_arrives_from_another_thread)
{
	uint16_t port_a, port_b;
	sb_handle a = fixture_bound_udp(AF_INET, &port_a), b = fixture_bound_udp(AF_INET, &port_b);
	struct sb_pollitem items[] = {
		{.handle = a, .events = SB_POLL_READABLE},
		{.handle = b, .events = SB_POLL_READABLE},
	};
	struct poll_job job = {
		.client = client, .items = items, .n = 2, .timeout = SB_TIMEOUT_NONE};
	pthread_t thread;
	pthread_create(&thread, NULL, poll_thread, &job);
	test_sleep_ms(200);
	double sent_at = now_seconds();
	send_datagram(port_a, "wake up");
	pthread_join(thread, NULL);
	ck_assert_msg(job.result == 0, "poll: %s", job.err.message);
	ck_assert_uint_eq(job.n_ready, 1);
	ck_assert_uint_eq(items[0].revents, SB_POLL_READABLE);
	ck_assert_uint_eq(items[1].revents, 0);
	fprintf(stderr, "MEASURE poll over 2 handles: woken %.3f ms after the datagram\n",
		(job.returned_at - sent_at) * 1e3);
}
END_TEST

/* Two handles of one socket (dup) turn readable on the same kernel event: the waiting Poll
 * answers once, with both, not with whichever edge came first. */
START_TEST(a_waiting_poll_answers_every_handle_that_turned_ready_in_the_same_turn)
{
	uint16_t port;
	struct sb_error err;
	sb_handle a = fixture_bound_udp(AF_INET, &port), twin;
	ck_assert_int_eq(sb_dup(client, a, &twin, &err), 0);
	struct sb_pollitem items[] = {
		{.handle = a, .events = SB_POLL_READABLE},
		{.handle = twin, .events = SB_POLL_READABLE},
	};
	struct poll_job job = {
		.client = client, .items = items, .n = 2, .timeout = SB_TIMEOUT_NONE};
	pthread_t thread;
	pthread_create(&thread, NULL, poll_thread, &job);
	test_sleep_ms(200);
	send_datagram(port, "both");
	pthread_join(thread, NULL);
	ck_assert_msg(job.result == 0, "poll: %s", job.err.message);
	ck_assert_uint_eq(job.n_ready, 2);
	ck_assert_uint_eq(items[0].revents, SB_POLL_READABLE);
	ck_assert_uint_eq(items[1].revents, SB_POLL_READABLE);
}
END_TEST

START_TEST(cancel_polls_completes_a_parked_poll_with_ecanceled)
{
	struct sb_error err;
	uint16_t port;
	sb_handle h = fixture_bound_udp(AF_INET, &port);
	struct sb_pollitem item = {.handle = h, .events = SB_POLL_READABLE};
	struct poll_job job = {
		.client = client, .items = &item, .n = 1, .timeout = SB_TIMEOUT_NONE};
	pthread_t thread;
	pthread_create(&thread, NULL, poll_thread, &job);

	/* A poll waits on no single handle: cancelling the handle's calls
	 * leaves it alone. */
	unsigned cancelled = 99;
	test_sleep_ms(100);
	ck_assert_int_eq(sb_cancel_handle(client, h, &cancelled, &err), 0);
	ck_assert_uint_eq(cancelled, 0);

	cancelled = 0;
	for (int i = 0; i < 100 && cancelled == 0; i++) {
		ck_assert_int_eq(sb_cancel_polls(client, &cancelled, &err), 0);
		if (cancelled == 0)
			test_sleep_ms(20);
	}
	pthread_join(thread, NULL);
	ck_assert_uint_eq(cancelled, 1);
	ck_assert_int_eq(job.result, -ECANCELED);
	ck_assert_int_eq(job.err.kind, SB_ERR_CANCELLED);
	ck_assert_msg(strstr(job.err.message, "poll was cancelled"), "%s", job.err.message);

	/* Nothing is left waiting on the handle: data, a recv, a close. */
	send_datagram(port, "after");
	char buf[8];
	ck_assert_int_eq(sb_recv(client, h, buf, sizeof(buf), 0, &err), 5);
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	assert_fds_back_to_baseline();
}
END_TEST

START_TEST(cancel_by_seq_completes_a_parked_poll_and_a_later_one_parks_again)
{
	struct raw_session session;
	raw_session_open(&session);
	uint64_t h = raw_udp_socket(&session);

	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__PollRequest poll_args = SOCKBROKER__V1__POLL_REQUEST__INIT;
	Sockbroker__V1__PollItem item = SOCKBROKER__V1__POLL_ITEM__INIT;
	Sockbroker__V1__PollItem *item_ptrs[] = {&item};
	item.has_handle = item.has_events = true;
	item.handle = h;
	item.events = SOCKBROKER__V1__POLL_EVENTS__POLL_READABLE;
	poll_args.n_items = 1;
	poll_args.items = item_ptrs;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_POLL;
	request.poll = &poll_args;

	for (int round = 0; round < 2; round++) {
		struct raw_pending pending;
		raw_start(&session, &request, &pending);
		bool cancelled = false;
		for (int i = 0; i < 100 && !cancelled; i++) {
			test_sleep_ms(20);
			cancelled = raw_cancel(&session, pending.seq);
		}
		ck_assert(cancelled);
		Sockbroker__V1__Reply *reply = raw_finish(&pending);
		ck_assert(reply->error);
		ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__CANCELLED);
		ck_assert_str_eq(reply->error->errno_name, "ECANCELED");
		ck_assert_uint_eq(reply->seq, pending.seq);
		sockbroker__v1__reply__free_unpacked(reply, NULL);
		/* Cancelled already: a second Cancel finds nothing. */
		ck_assert(!raw_cancel(&session, pending.seq));
	}
	nng_close(session.socket);
	assert_fds_back_to_baseline();
}
END_TEST

START_TEST(poll_of_a_foreign_or_unknown_handle_is_ebadf_naming_it)
{
	struct sb_client *other;
	struct sb_error err;
	uint16_t port;
	sb_handle mine = fixture_bound_udp(AF_INET, &port);
	ck_assert_int_eq(sb_client_new(&other, daemon_under_test.url, "other", &err), 0);
	sb_handle theirs;
	ck_assert_int_eq(sb_socket(other, AF_INET, SOCK_DGRAM, 0, &theirs, &err), 0);

	struct sb_pollitem items[] = {
		{.handle = mine, .events = SB_POLL_READABLE},
		{.handle = theirs, .events = SB_POLL_READABLE},
	};
	size_t n_ready;
	ck_assert_int_eq(sb_poll(client, items, 2, 0.0, &n_ready, &err), -EBADF);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_HANDLE);
	ck_assert_str_eq(err.errno_name, "EBADF");
	char name[32];
	snprintf(name, sizeof(name), "handle %llu", (unsigned long long)theirs);
	ck_assert_msg(strstr(err.message, name), "'%s' does not name %s", err.message, name);

	items[1].handle = 987654321;
	ck_assert_int_eq(sb_poll(client, items, 2, SB_TIMEOUT_NONE, &n_ready, &err), -EBADF);
	ck_assert_msg(strstr(err.message, "987654321"), "%s", err.message);
	sb_client_free(other);

	/* The session goes on. */
	ck_assert_int_eq(sb_poll(client, items, 1, 0.0, &n_ready, &err), 0);
}
END_TEST

START_TEST(poll_bad_input_is_a_bad_request_naming_the_field)
{
	struct raw_client *raw = raw_connect(daemon_under_test.url, 1);
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__PollRequest poll_args = SOCKBROKER__V1__POLL_REQUEST__INIT;
	Sockbroker__V1__PollItem item = SOCKBROKER__V1__POLL_ITEM__INIT;
	Sockbroker__V1__PollItem *item_ptrs[] = {&item};
	request.op_case = SOCKBROKER__V1__REQUEST__OP_POLL;
	request.poll = &poll_args;
	poll_args.n_items = 1;
	poll_args.items = item_ptrs;

	/* No handle. */
	assert_bad_request(raw_call(raw, &request), "poll.items[0].handle is required");
	/* Bits the protocol does not define. */
	item.has_handle = item.has_events = true;
	item.handle = 1;
	item.events = 0x10 | SOCKBROKER__V1__POLL_EVENTS__POLL_READABLE;
	assert_bad_request(raw_call(raw, &request), "poll.items[0].events");
	/* A negative timeout, as the reference refuses it. */
	item.events = SOCKBROKER__V1__POLL_EVENTS__POLL_READABLE;
	poll_args.has_timeout = true;
	poll_args.timeout = -1.0;
	assert_bad_request(raw_call(raw, &request), "Timeout value out of range");
	poll_args.has_timeout = false;

	/* Far more items than the session has sockets (it has none), and more
	 * than any Poll may list. */
	size_t sizes[] = {1000, 65537};
	const char *fragments[] = {"list each socket once", "more than the 65536"};
	for (size_t s = 0; s < 2; s++) {
		Sockbroker__V1__PollItem **many = calloc(sizes[s], sizeof(*many));
		ck_assert(many);
		for (size_t i = 0; i < sizes[s]; i++)
			many[i] = &item;
		poll_args.n_items = sizes[s];
		poll_args.items = many;
		assert_bad_request(raw_call(raw, &request), fragments[s]);
		free(many);
	}
	raw_close(raw);

	/* The daemon is still serving. */
	struct sb_error err;
	size_t n_ready;
	ck_assert_int_eq(sb_poll(client, NULL, 0, 0.0, &n_ready, &err), 0);
}
END_TEST

/* ---- Poll: closes and session ends ----------------------------------------- */

START_TEST(closing_a_handle_during_a_poll_reports_it_as_error_and_hangup)
{
	struct sb_error err;
	uint16_t port_a, port_b;
	sb_handle a = fixture_bound_udp(AF_INET, &port_a), b = fixture_bound_udp(AF_INET, &port_b);
	struct sb_pollitem items[] = {
		{.handle = a, .events = SB_POLL_READABLE},
		{.handle = b, .events = SB_POLL_READABLE},
	};
	struct poll_job job = {
		.client = client, .items = items, .n = 2, .timeout = SB_TIMEOUT_NONE};
	pthread_t thread;
	pthread_create(&thread, NULL, poll_thread, &job);
	test_sleep_ms(200);
	ck_assert_int_eq(sb_close(client, a, &err), 0);
	pthread_join(thread, NULL);
	ck_assert_msg(job.result == 0, "poll: %s", job.err.message);
	ck_assert_uint_eq(job.n_ready, 1);
	ck_assert_uint_eq(items[0].revents, SB_POLL_ERROR | SB_POLL_HANGUP);
	ck_assert_uint_eq(items[1].revents, 0);
	char buf[8];
	ck_assert_int_eq(sb_recv(client, a, buf, sizeof(buf), 0, &err), -EBADF);

	/* The other handle's waiter went with the poll: a new poll on it works,
	 * and closing it after that poll answered finds nothing dangling. */
	send_datagram(port_b, "b");
	ck_assert_int_eq(sb_poll(client, &items[1], 1, 5.0, &job.n_ready, &err), 0);
	ck_assert_uint_eq(items[1].revents, SB_POLL_READABLE);
	ck_assert_int_eq(sb_close(client, b, &err), 0);
	assert_fds_back_to_baseline();
}
END_TEST

START_TEST(a_session_ending_during_a_poll_leaves_nothing_behind)
{
	struct sb_client *other;
	struct sb_error err;
	ck_assert_int_eq(sb_client_new(&other, daemon_under_test.url, "doomed", &err), 0);
	struct sb_pollitem items[8];
	for (size_t i = 0; i < 8; i++) {
		ck_assert_int_eq(sb_socket(other, AF_INET, SOCK_DGRAM, 0, &items[i].handle, &err),
				 0);
		items[i].events = SB_POLL_READABLE;
	}
	struct poll_job job = {.client = other, .items = items, .n = 8, .timeout = SB_TIMEOUT_NONE};
	pthread_t thread;
	pthread_create(&thread, NULL, poll_thread, &job);
	test_sleep_ms(200);
	sb_client_free(other);
	pthread_join(thread, NULL);
	ck_assert_int_eq(job.result, -ECONNRESET);
	assert_fds_back_to_baseline();
}
END_TEST

/* ---- Poll: many handles ------------------------------------------------------ */

START_TEST(poll_over_5000_udp_sockets_answers_the_one_made_readable)
{
	struct sb_error err;
	struct rlimit limit;
	getrlimit(RLIMIT_NOFILE, &limit);
	if (limit.rlim_cur < MANY_HANDLES + 200) {
		test_skip("poll over many handles", "%d handles need more than the fd limit %llu",
			  MANY_HANDLES, (unsigned long long)limit.rlim_cur);
		return;
	}
	struct sb_pollitem *items = calloc(MANY_HANDLES, sizeof(*items));
	ck_assert(items);
	for (size_t i = 0; i < MANY_HANDLES; i++) {
		int r = sb_socket(client, AF_INET, SOCK_DGRAM, 0, &items[i].handle, &err);
		ck_assert_msg(r == 0, "socket %zu: %s", i, err.message);
		items[i].events = SB_POLL_READABLE;
	}
	/* One of them, in the middle, gets an address to be reached at. */
	size_t chosen = MANY_HANDLES / 2 + 17;
	struct sb_addr addr, local;
	sb_addr_inet(&addr, "127.0.0.1", 0);
	ck_assert_int_eq(sb_bind(client, items[chosen].handle, &addr, &err), 0);
	ck_assert_int_eq(sb_getsockname(client, items[chosen].handle, &local, &err), 0);

	/* Nothing ready: the whole-set check alone. */
	size_t n_ready = 99;
	double start = now_seconds();
	ck_assert_int_eq(sb_poll(client, items, MANY_HANDLES, 0.0, &n_ready, &err), 0);
	double empty_check = now_seconds() - start;
	ck_assert_uint_eq(n_ready, 0);

	/* Parked on all of them, woken by one datagram. */
	struct poll_job job = {
		.client = client, .items = items, .n = MANY_HANDLES, .timeout = SB_TIMEOUT_NONE};
	pthread_t thread;
	pthread_create(&thread, NULL, poll_thread, &job);
	test_sleep_ms(500);
	double sent_at = now_seconds();
	send_datagram(local.port, "the one");
	pthread_join(thread, NULL);
	ck_assert_msg(job.result == 0, "poll: %s", job.err.message);
	ck_assert_uint_eq(job.n_ready, 1);
	for (size_t i = 0; i < MANY_HANDLES; i++)
		ck_assert_uint_eq(items[i].revents, i == chosen ? SB_POLL_READABLE : 0);
	double woken = job.returned_at - sent_at;

	/* Ready at the start: answered by the first check. */
	start = now_seconds();
	ck_assert_int_eq(sb_poll(client, items, MANY_HANDLES, SB_TIMEOUT_NONE, &n_ready, &err), 0);
	double ready_at_start = now_seconds() - start;
	ck_assert_uint_eq(n_ready, 1);
	ck_assert_uint_eq(items[chosen].revents, SB_POLL_READABLE);

	fprintf(stderr,
		"MEASURE poll over %d handles: nothing ready (timeout 0) %.3f ms round trip; "
		"parked, woken %.3f ms after the datagram; one ready at the start %.3f ms "
		"round trip\n",
		MANY_HANDLES, empty_check * 1e3, woken * 1e3, ready_at_start * 1e3);
	free(items);
}
END_TEST

/* ---- create_connection ----------------------------------------------------- */

START_TEST(create_connection_connects_and_reports_the_peer)
{
	struct echo_server server;
	struct sb_error err;
	struct sb_addr peer;
	sb_handle h;
	double timeout;
	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_STREAM), 0);

	ck_assert_int_eq(sb_create_connection(client, "127.0.0.1", server.port, SB_TIMEOUT_NONE,
					      NULL, &h, &peer, NULL, NULL, &err),
			 0);
	ck_assert_int_eq(peer.family, AF_INET);
	ck_assert_str_eq(peer.host, "127.0.0.1");
	ck_assert_uint_eq(peer.port, server.port);
	ck_assert_int_eq(sb_gettimeout(client, h, &timeout, &err), 0);
	ck_assert(timeout == SB_TIMEOUT_NONE);
	fixture_echo(h, "created");
	ck_assert_int_eq(sb_close(client, h, &err), 0);

	/* By name, in timeout mode: the handle keeps the timeout. */
	ck_assert_int_eq(sb_create_connection(client, "localhost", server.port, 5.0, NULL, &h,
					      &peer, NULL, NULL, &err),
			 0);
	ck_assert_str_eq(peer.host, "127.0.0.1");
	ck_assert_int_eq(sb_gettimeout(client, h, &timeout, &err), 0);
	ck_assert(timeout == 5.0);
	fixture_echo(h, "by name");
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	echo_server_stop(&server);
	assert_fds_back_to_baseline();
}
END_TEST

START_TEST(create_connection_to_a_closed_port_is_econnrefused)
{
	struct sb_error err;
	sb_handle h = 0;
	ck_assert_int_eq(sb_create_connection(client, "127.0.0.1", closed_tcp_port(),
					      SB_TIMEOUT_NONE, NULL, &h, NULL, NULL, NULL, &err),
			 -ECONNREFUSED);
	ck_assert_int_eq(err.kind, SB_ERR_OS);
	ck_assert_str_eq(err.errno_name, "ECONNREFUSED");
	ck_assert_str_eq(err.message, strerror(ECONNREFUSED));
	ck_assert_uint_eq(h, 0);
	assert_fds_back_to_baseline();
}
END_TEST

/*
 * create_connection to `host` on a port closed on both loopback addresses,
 * with all_errors: one error per address `host` has, in its order.
 */
static void
check_all_errors(const char *host, size_t expected, size_t ipv4_at)
{
	/* A port closed on 127.0.0.1 that nothing holds on ::1 either. */
	uint16_t port = closed_tcp_port();
	int probe = direct_connect(AF_INET6, port);
	if (probe >= 0) {
		close(probe);
		test_skip("all_errors", "[::1]:%u happens to be open", port);
		return;
	}

	struct sb_error errors[4], err;
	size_t n_errors = 4;
	sb_handle h;
	int r = sb_create_connection(client, host, port, 2.0, NULL, &h, NULL, errors, &n_errors,
				     &err);
	ck_assert_int_lt(r, 0);
	ck_assert_uint_eq(n_errors, expected);
	ck_assert_int_eq(errors[ipv4_at].kind, SB_ERR_OS);
	ck_assert_str_eq(errors[ipv4_at].errno_name, "ECONNREFUSED");
	for (size_t i = 0; i < n_errors; i++)
		ck_assert_msg(errors[i].errno_name[0], "attempt %zu has no errno name", i);
	/* err is the last attempt's, as without all_errors. */
	ck_assert_str_eq(err.errno_name, errors[n_errors - 1].errno_name);
	ck_assert_int_eq(r, -errors[n_errors - 1].errno_number);

	char last[32];
	snprintf(last, sizeof(last), "%s", errors[n_errors - 1].errno_name);

	/* Room for one: the count still says how many failed. */
	n_errors = 1;
	r = sb_create_connection(client, host, port, 2.0, NULL, &h, NULL, errors, &n_errors, &err);
	ck_assert_int_lt(r, 0);
	ck_assert_uint_eq(n_errors, expected);

	/* Without all_errors: the last attempt's error alone. */
	r = sb_create_connection(client, host, port, 2.0, NULL, &h, NULL, NULL, NULL, &err);
	ck_assert_int_lt(r, 0);
	ck_assert_str_eq(err.errno_name, last);
	assert_fds_back_to_baseline();
}

START_TEST(create_connection_with_all_errors_lists_both_localhost_attempts)
{
	/* dual.sockbroker.test is ::1 then 127.0.0.1 (dual-hosts.c). */
	check_all_errors("dual.sockbroker.test", 2, 1);
}
END_TEST

START_TEST(create_connection_with_all_errors_to_localhost_lists_its_addresses)
{
	/* As the host's own resolver has it: one address or two. */
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *result;
	ck_assert_int_eq(getaddrinfo("localhost", NULL, &hints, &result), 0);
	size_t expected = 0, ipv4_at = 0;
	for (struct addrinfo *ai = result; ai; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET)
			ipv4_at = expected;
		expected++;
	}
	freeaddrinfo(result);
	ck_assert_uint_le(expected, 4);
	check_all_errors("localhost", expected, ipv4_at);
}
END_TEST

/* A port on 127.0.0.1 that is free now (bound, then closed). */
static uint16_t
free_tcp_port(void)
{
	return closed_tcp_port();
}

START_TEST(create_connection_binds_the_source_address_first)
{
	struct echo_server server;
	struct sb_error err;
	struct sb_addr source, local;
	sb_handle h;
	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_STREAM), 0);

	uint16_t source_port = free_tcp_port();
	sb_addr_inet(&source, "127.0.0.1", source_port);
	ck_assert_int_eq(sb_create_connection(client, "127.0.0.1", server.port, 5.0, &source, &h,
					      NULL, NULL, NULL, &err),
			 0);
	ck_assert_int_eq(sb_getsockname(client, h, &local, &err), 0);
	ck_assert_str_eq(local.host, "127.0.0.1");
	ck_assert_uint_eq(local.port, source_port);
	fixture_echo(h, "from a chosen port");
	sb_close(client, h, NULL);

	/* "" and 0 leave both to the system. */
	sb_addr_inet(&source, "", 0);
	ck_assert_int_eq(sb_create_connection(client, "127.0.0.1", server.port, 5.0, &source, &h,
					      NULL, NULL, NULL, &err),
			 0);
	sb_close(client, h, NULL);

	/* A name is resolved in the daemon, as bind() resolves it. */
	sb_addr_inet(&source, "localhost", 0);
	ck_assert_int_eq(sb_create_connection(client, "127.0.0.1", server.port, 5.0, &source, &h,
					      NULL, NULL, NULL, &err),
			 0);
	ck_assert_int_eq(sb_getsockname(client, h, &local, &err), 0);
	ck_assert_str_eq(local.host, "127.0.0.1");
	sb_close(client, h, NULL);

	/* A source in use: the kernel's EADDRINUSE from bind. */
	uint16_t busy_port;
	int busy = direct_listener(AF_INET, &busy_port);
	ck_assert_int_ge(busy, 0);
	sb_addr_inet(&source, "127.0.0.1", busy_port);
	ck_assert_int_eq(sb_create_connection(client, "127.0.0.1", server.port, 5.0, &source, &h,
					      NULL, NULL, NULL, &err),
			 -EADDRINUSE);
	ck_assert_str_eq(err.errno_name, "EADDRINUSE");
	close(busy);

	/* A source of the other family cannot be bound: the reference's
	 * gaierror for an address of the wrong family. */
	sb_addr_inet6(&source, "::1", 0, 0, 0);
	int r = sb_create_connection(client, "127.0.0.1", server.port, 5.0, &source, &h, NULL, NULL,
				     NULL, &err);
	ck_assert_int_lt(r, 0);
	ck_assert_int_eq(err.kind, SB_ERR_GAI);
	ck_assert_int_eq(err.gai_code, EAI_ADDRFAMILY);
	echo_server_stop(&server);
	assert_fds_back_to_baseline();
}
END_TEST

/*
 * A listener whose accept queue is full drops new SYNs, so a connect to it
 * hangs: a non-answering address that stays on loopback.
 */
static int
full_listener(uint16_t *port, int *fillers, int *n_fillers)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 0), 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	*port = ntohs(sin.sin_port);
	*n_fillers = 0;
	for (int i = 0; i < 8; i++) {
		int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		connect(c, (struct sockaddr *)&sin, sizeof(sin));
		fillers[(*n_fillers)++] = c;
		struct pollfd pfd = {.fd = c, .events = POLLOUT};
		if (poll(&pfd, 1, 200) == 0)
			break; /* this one hangs: the queue is full */
	}
	return fd;
}

static void
close_full_listener(int listener, int *fillers, int n_fillers)
{
	for (int i = 0; i < n_fillers; i++)
		close(fillers[i]);
	close(listener);
}

START_TEST(create_connection_with_a_timeout_to_a_non_answering_address_times_out)
{
	int fillers[8], n_fillers;
	uint16_t port;
	int listener = full_listener(&port, fillers, &n_fillers);
	struct sb_error err;
	sb_handle h;
	int64_t start = test_now_ms();
	ck_assert_int_eq(sb_create_connection(client, "127.0.0.1", port, 0.3, NULL, &h, NULL, NULL,
					      NULL, &err),
			 -ETIMEDOUT);
	ck_assert_int_ge(test_now_ms() - start, 290);
	ck_assert_int_eq(err.kind, SB_ERR_TIMEOUT);
	ck_assert_str_eq(err.message, "timed out");

	/* In non-blocking mode each attempt fails at once with EINPROGRESS, as
	 * the reference's connect does. */
	ck_assert_int_eq(sb_create_connection(client, "127.0.0.1", port, 0.0, NULL, &h, NULL, NULL,
					      NULL, &err),
			 -EINPROGRESS);
	close_full_listener(listener, fillers, n_fillers);
	assert_fds_back_to_baseline();
}
END_TEST

START_TEST(create_connection_cancelled_midway_leaves_nothing_behind)
{
	int fillers[8], n_fillers;
	uint16_t port;
	int listener = full_listener(&port, fillers, &n_fillers);
	struct raw_session session;
	raw_session_open(&session);

	/* Blocking: it would wait for the kernel's own connect timeout. */
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__CreateConnectionRequest args =
		SOCKBROKER__V1__CREATE_CONNECTION_REQUEST__INIT;
	args.host = "127.0.0.1";
	args.has_port = true;
	args.port = port;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_CREATE_CONNECTION;
	request.create_connection = &args;
	struct raw_pending pending;
	raw_start(&session, &request, &pending);
	/* Its attempt socket is open in the daemon while it waits. */
	int64_t deadline = test_now_ms() + 5000;
	while (test_daemon_fd_count(&daemon_under_test) < baseline_fds + 2 &&
	       test_now_ms() < deadline)
		test_sleep_ms(10);
	ck_assert(raw_cancel(&session, pending.seq));
	Sockbroker__V1__Reply *reply = raw_finish(&pending);
	ck_assert(reply->error);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__CANCELLED);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	nng_close(session.socket);
	assert_fds_back_to_baseline();

	/* The same, ended by the session going away. */
	raw_session_open(&session);
	raw_start(&session, &request, &pending);
	deadline = test_now_ms() + 5000;
	while (test_daemon_fd_count(&daemon_under_test) < baseline_fds + 2 &&
	       test_now_ms() < deadline)
		test_sleep_ms(10);
	nng_close(session.socket);
	nng_aio_free(pending.aio);
	assert_fds_back_to_baseline();
	close_full_listener(listener, fillers, n_fillers);
}
END_TEST

START_TEST(create_connection_bad_input_and_lookup_failures)
{
	struct sb_error err;
	sb_handle h;
	/* A name that does not resolve: the lookup's gaierror. */
	ck_assert_int_lt(sb_create_connection(client, "no-such-host.invalid", 80, 5.0, NULL, &h,
					      NULL, NULL, NULL, &err),
			 0);
	ck_assert_int_eq(err.kind, SB_ERR_GAI);
	ck_assert_int_ne(err.gai_code, 0);
	/* A port out of range. */
	ck_assert_int_eq(sb_create_connection(client, "127.0.0.1", 70000, 5.0, NULL, &h, NULL, NULL,
					      NULL, &err),
			 -EOVERFLOW);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_REQUEST);
	ck_assert_msg(strstr(err.message, "create_connection.port"), "%s", err.message);
	/* A negative timeout. */
	ck_assert_int_eq(sb_create_connection(client, "127.0.0.1", 80, -2.0, NULL, &h, NULL, NULL,
					      NULL, &err),
			 -EINVAL);
	ck_assert_msg(strstr(err.message, "Timeout value out of range"), "%s", err.message);
	/* A source that is no (host, port). */
	struct sb_addr source;
	sb_addr_unix(&source, "/nowhere");
	ck_assert_int_eq(sb_create_connection(client, "127.0.0.1", 80, 5.0, &source, &h, NULL, NULL,
					      NULL, &err),
			 -EINVAL);
	ck_assert_msg(strstr(err.message, "create_connection.source_address"), "%s", err.message);

	/* What the library never sends: no host, no port. */
	struct raw_client *raw = raw_connect(daemon_under_test.url, 1);
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__CreateConnectionRequest args =
		SOCKBROKER__V1__CREATE_CONNECTION_REQUEST__INIT;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_CREATE_CONNECTION;
	request.create_connection = &args;
	assert_bad_request(raw_call(raw, &request), "create_connection.host is required");
	args.host = "127.0.0.1";
	assert_bad_request(raw_call(raw, &request), "create_connection.port is required");
	raw_close(raw);
	assert_fds_back_to_baseline();
}
END_TEST

/* ---- create_server and has_dualstack_ipv6 ------------------------------------ */

static uint16_t
port_of(sb_handle h)
{
	struct sb_addr local;
	struct sb_error err;
	ck_assert_int_eq(sb_getsockname(client, h, &local, &err), 0);
	return local.port;
}

START_TEST(create_server_listens_with_reuseaddr)
{
	struct sb_error err;
	struct sb_addr addr, peer;
	sb_handle server, conn;
	int value = 0;
	sb_addr_inet(&addr, "127.0.0.1", 0);
	ck_assert_int_eq(
		sb_create_server(client, &addr, 0, SB_BACKLOG_DEFAULT, false, false, &server, &err),
		0);
	ck_assert_int_eq(sb_getsockopt_int(client, server, SOL_SOCKET, SO_REUSEADDR, &value, &err),
			 0);
	ck_assert_int_ne(value, 0);
	ck_assert_int_eq(sb_getsockopt_int(client, server, SOL_SOCKET, SO_ACCEPTCONN, &value, &err),
			 0);
	ck_assert_int_ne(value, 0);
	int fd = direct_connect(AF_INET, port_of(server));
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(sb_accept(client, server, &conn, &peer, &err), 0);
	ck_assert_str_eq(peer.host, "127.0.0.1");
	close(fd);
	sb_close(client, conn, NULL);

	/* By name, with a backlog. */
	sb_addr_inet(&addr, "localhost", 0);
	sb_handle named;
	ck_assert_int_eq(sb_create_server(client, &addr, AF_INET, 5, false, false, &named, &err),
			 0);
	ck_assert_uint_ne(port_of(named), 0);
	sb_close(client, named, NULL);
	sb_close(client, server, NULL);
	assert_fds_back_to_baseline();
}
END_TEST

START_TEST(create_server_with_reuse_port_shares_the_port)
{
	struct sb_error err;
	struct sb_addr addr;
	sb_handle first, second, plain;
	int value = 0;
	sb_addr_inet(&addr, "127.0.0.1", 0);
	ck_assert_int_eq(
		sb_create_server(client, &addr, 0, SB_BACKLOG_DEFAULT, true, false, &first, &err),
		0);
	ck_assert_int_eq(sb_getsockopt_int(client, first, SOL_SOCKET, SO_REUSEPORT, &value, &err),
			 0);
	ck_assert_int_ne(value, 0);
	sb_addr_inet(&addr, "127.0.0.1", port_of(first));
	ck_assert_int_eq(
		sb_create_server(client, &addr, 0, SB_BACKLOG_DEFAULT, true, false, &second, &err),
		0);
	/* Without reuse_port the port is taken: the kernel's errno, and the
	 * reference's message naming the address. */
	ck_assert_int_eq(
		sb_create_server(client, &addr, 0, SB_BACKLOG_DEFAULT, false, false, &plain, &err),
		-EADDRINUSE);
	ck_assert_int_eq(err.kind, SB_ERR_OS);
	ck_assert_str_eq(err.errno_name, "EADDRINUSE");
	char where[96];
	snprintf(where, sizeof(where), "%s (while attempting to bind on address ('127.0.0.1', %u))",
		 strerror(EADDRINUSE), addr.port);
	ck_assert_str_eq(err.message, where);
	sb_close(client, first, NULL);
	sb_close(client, second, NULL);
	assert_fds_back_to_baseline();
}
END_TEST

START_TEST(create_server_on_an_address_in_use_is_eaddrinuse)
{
	struct sb_error err;
	struct sb_addr addr;
	sb_handle h;
	uint16_t port;
	int busy = direct_listener(AF_INET, &port);
	ck_assert_int_ge(busy, 0);
	sb_addr_inet(&addr, "127.0.0.1", port);
	ck_assert_int_eq(
		sb_create_server(client, &addr, 0, SB_BACKLOG_DEFAULT, false, false, &h, &err),
		-EADDRINUSE);
	ck_assert_msg(strstr(err.message, "while attempting to bind on address"), "%s",
		      err.message);
	close(busy);
	/* The socket it made for the attempt is gone. */
	assert_fds_back_to_baseline();
}
END_TEST

START_TEST(create_server_dualstack_accepts_ipv4_and_ipv6)
{
	struct sb_error err;
	struct sb_addr addr, peer;
	sb_handle server, conn;
	bool dualstack = false;
	ck_assert_int_eq(sb_has_dualstack_ipv6(client, &dualstack, &err), 0);
	int probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int off = 0;
	bool expected =
		probe >= 0 && setsockopt(probe, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) == 0;
	if (probe >= 0)
		close(probe);
	ck_assert_int_eq(dualstack, expected);
	if (!dualstack) {
		test_skip("dualstack", "no dual-stack IPv6 on this host");
		return;
	}
	sb_addr_inet6(&addr, "", 0, 0, 0);
	int r = sb_create_server(client, &addr, AF_INET6, SB_BACKLOG_DEFAULT, false, true, &server,
				 &err);
	ck_assert_msg(r == 0, "create_server: %s", err.message);
	int value = 1;
	ck_assert_int_eq(sb_getsockopt_int(client, server, IPPROTO_IPV6, IPV6_V6ONLY, &value, &err),
			 0);
	ck_assert_int_eq(value, 0);
	uint16_t port = port_of(server);

	int v4 = direct_connect(AF_INET, port);
	ck_assert_msg(v4 >= 0, "connect over 127.0.0.1: %s", strerror(-v4));
	ck_assert_int_eq(sb_accept(client, server, &conn, &peer, &err), 0);
	ck_assert_int_eq(peer.family, AF_INET6);
	ck_assert_str_eq(peer.host, "::ffff:127.0.0.1");
	sb_close(client, conn, NULL);
	close(v4);

	int v6 = direct_connect(AF_INET6, port);
	if (v6 < 0) {
		fprintf(stderr, "SKIP dualstack over ::1: %s\n", strerror(-v6));
	} else {
		ck_assert_int_eq(sb_accept(client, server, &conn, &peer, &err), 0);
		ck_assert_str_eq(peer.host, "::1");
		sb_close(client, conn, NULL);
		close(v6);
	}
	sb_close(client, server, NULL);

	/* Without dualstack an AF_INET6 server is IPv6 only, explicitly. */
	ck_assert_int_eq(sb_create_server(client, &addr, AF_INET6, SB_BACKLOG_DEFAULT, false, false,
					  &server, &err),
			 0);
	ck_assert_int_eq(sb_getsockopt_int(client, server, IPPROTO_IPV6, IPV6_V6ONLY, &value, &err),
			 0);
	ck_assert_int_eq(value, 1);
	sb_close(client, server, NULL);
	assert_fds_back_to_baseline();
}
END_TEST

START_TEST(create_server_bad_input_is_the_references_valueerror)
{
	struct sb_error err;
	struct sb_addr addr;
	sb_handle h;
	sb_addr_inet(&addr, "127.0.0.1", 0);
	ck_assert_int_eq(
		sb_create_server(client, &addr, AF_INET, SB_BACKLOG_DEFAULT, false, true, &h, &err),
		-EINVAL);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_REQUEST);
	ck_assert_str_eq(err.message, "dualstack_ipv6 requires AF_INET6 family");

	/* An AF_UNIX address with family AF_INET fits neither. */
	sb_addr_unix(&addr, "/nowhere");
	ck_assert_int_eq(sb_create_server(client, &addr, AF_INET, SB_BACKLOG_DEFAULT, false, false,
					  &h, &err),
			 -EINVAL);
	ck_assert_msg(strstr(err.message, "create_server.family"), "%s", err.message);

	/* An inet host read as IPv6 (family AF_INET6) does not resolve. */
	sb_addr_inet(&addr, "127.0.0.1", 0);
	ck_assert_int_lt(sb_create_server(client, &addr, AF_INET6, SB_BACKLOG_DEFAULT, false, false,
					  &h, &err),
			 0);
	ck_assert_int_eq(err.kind, SB_ERR_GAI);

	struct raw_client *raw = raw_connect(daemon_under_test.url, 1);
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__CreateServerRequest args = SOCKBROKER__V1__CREATE_SERVER_REQUEST__INIT;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_CREATE_SERVER;
	request.create_server = &args;
	assert_bad_request(raw_call(raw, &request), "create_server.address is required");
	raw_close(raw);
	assert_fds_back_to_baseline();
}
END_TEST

static Suite *
poll_suite(void)
{
	Suite *s = suite_create("poll");
	const struct fixture_case cases[] = {
		{"readable", poll_reports_the_readable_one_of_two_udp_sockets},
		{"writable", poll_reports_a_connected_tcp_socket_writable_and_not_readable},
		{"connect-wake", poll_wakes_when_a_nonblocking_connect_completes},
		{"hangup", poll_wakes_with_hangup_and_error_when_the_peer_resets},
		{"unconnected", poll_reports_an_unconnected_tcp_socket_as_hung_up},
		{"duplicates", poll_merges_a_handle_listed_twice},
		{"timeout-zero", poll_with_timeout_zero_answers_at_once_with_nothing},
		{"timeout", poll_with_a_short_timeout_answers_empty_after_it},
		{"wake", poll_wakes_when_data_arrives_from_another_thread},
		{"wake-together", a_waiting_poll_answers_every_handle_that_turned_ready_in_the_same_turn},
		{"cancel", cancel_polls_completes_a_parked_poll_with_ecanceled},
		{"cancel-seq", cancel_by_seq_completes_a_parked_poll_and_a_later_one_parks_again},
		{"foreign", poll_of_a_foreign_or_unknown_handle_is_ebadf_naming_it},
		{"bad-input", poll_bad_input_is_a_bad_request_naming_the_field},
		{"close", closing_a_handle_during_a_poll_reports_it_as_error_and_hangup},
		{"session-end", a_session_ending_during_a_poll_leaves_nothing_behind},
		{"many", poll_over_5000_udp_sockets_answers_the_one_made_readable},
		{"cc", create_connection_connects_and_reports_the_peer},
		{"cc-refused", create_connection_to_a_closed_port_is_econnrefused},
		{"cc-all-errors-localhost",
		 create_connection_with_all_errors_to_localhost_lists_its_addresses},
		{"cc-source", create_connection_binds_the_source_address_first},
		{"cc-timeout",
		 create_connection_with_a_timeout_to_a_non_answering_address_times_out},
		{"cc-cancel", create_connection_cancelled_midway_leaves_nothing_behind},
		{"cc-bad-input", create_connection_bad_input_and_lookup_failures},
		{"cs", create_server_listens_with_reuseaddr},
		{"cs-reuse-port", create_server_with_reuse_port_shares_the_port},
		{"cs-in-use", create_server_on_an_address_in_use_is_eaddrinuse},
		{"cs-dualstack", create_server_dualstack_accepts_ipv4_and_ipv6},
		{"cs-bad-input", create_server_bad_input_is_the_references_valueerror},
	};
	fixture_add_cases(s, cases, sizeof(cases) / sizeof(cases[0]), setup, teardown, 300);
	/* With a name that has both loopback addresses on every machine. */
	TCase *tc = tcase_create("cc-all-errors");
	tcase_add_checked_fixture(tc, setup_dual_hosts, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, create_connection_with_all_errors_lists_both_localhost_attempts);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	/* The daemon inherits the limit: the Poll over many handles needs
	 * room for them. */
	struct rlimit limit;
	if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
		limit.rlim_cur = limit.rlim_max;
		setrlimit(RLIMIT_NOFILE, &limit);
	}
	return fixture_run(poll_suite());
}
