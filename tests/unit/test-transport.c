/*
 * Unit tests of server/transport.c, in-process: a transport listens in a fresh temporary
 * directory, its reactor runs on a thread of its own, and the tests talk to it as clients:
 * raw SP clients (tests/support/sp.h, connected from a child process so that the peer's
 * credentials are another process's), raw sockets for broken peers, and plain NNG req0
 * sockets for interoperability.
 *
 * The callbacks run on the reactor thread. They record what they see under a lock and
 * answer at once, as the request's first byte says: 'e' echoes the body, 'b' answers with
 * BIG_REPLY bytes, 'd' disconnects the connection and answers nothing more. Every wait is
 * bounded.
 */
#include <check.h>
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "reactor.h"
#include "sp.h"
#include "transport.h"

#define WAIT_MS 10000
#define MAX_MESSAGE_SIZE (64u * 1024)
#define BIG_REPLY (1024u * 1024)
#define REPLY_TIMEOUT_MS 1000
#define HANDSHAKE_TIMEOUT_MS 2000
#define FRAME_TIMEOUT_MS 1500
#define MAX_CONNECTIONS 8
#define MAX_SEEN 512

/* ---- what the callbacks saw --------------------------------------------------------------- */

static struct {
	pthread_mutex_t lock;
	size_t n_requests;
	struct {
		uint32_t id;
		struct peer_identity identity;
	} added[MAX_SEEN];
	size_t n_added;
	uint32_t removed[MAX_SEEN];
	size_t n_removed;
} seen = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct transport *transport;
static struct reactor *reactor;
static pthread_t reactor_thread;
static char dir[64];
static char url[128];

static void
on_added(void *userdata, uint32_t conn_id, const struct peer_identity *identity)
{
	pthread_mutex_lock(&seen.lock);
	if (seen.n_added < MAX_SEEN) {
		seen.added[seen.n_added].id = conn_id;
		seen.added[seen.n_added++].identity = *identity;
	}
	pthread_mutex_unlock(&seen.lock);
}

static void
on_removed(void *userdata, uint32_t conn_id)
{
	pthread_mutex_lock(&seen.lock);
	if (seen.n_removed < MAX_SEEN)
		seen.removed[seen.n_removed++] = conn_id;
	pthread_mutex_unlock(&seen.lock);
}

static void
on_request(void *userdata, struct tx *tx, uint32_t conn_id, const void *body, size_t len)
{
	const uint8_t *bytes = body;
	pthread_mutex_lock(&seen.lock);
	seen.n_requests++;
	pthread_mutex_unlock(&seen.lock);

	if (len > 0 && bytes[0] == 'b') {
		uint8_t *reply = transport_reply_buffer(tx, BIG_REPLY);
		if (reply)
			memset(reply, 'x', BIG_REPLY);
	} else if (len > 0 && bytes[0] == 'd') {
		transport_disconnect(transport, conn_id);
	} else {
		uint8_t *reply = transport_reply_buffer(tx, len);
		if (reply && len)
			memcpy(reply, body, len);
	}
	transport_reply_send(tx);
}

static const struct transport_callbacks callbacks = {
	.connection_added = on_added,
	.connection_removed = on_removed,
	.request = on_request,
};

static size_t
count_removed(void)
{
	pthread_mutex_lock(&seen.lock);
	size_t n = seen.n_removed;
	pthread_mutex_unlock(&seen.lock);
	return n;
}

static size_t
count_requests(void)
{
	pthread_mutex_lock(&seen.lock);
	size_t n = seen.n_requests;
	pthread_mutex_unlock(&seen.lock);
	return n;
}

static bool
wait_removed(size_t n)
{
	int64_t deadline = test_now_ms() + WAIT_MS;
	while (count_removed() < n && test_now_ms() < deadline)
		usleep(2000);
	return count_removed() >= n;
}

static void *
run_reactor(void *arg)
{
	reactor_run(reactor);
	return NULL;
}

static void
setup(void)
{
	char err[256];
	snprintf(dir, sizeof(dir), "/tmp/sbtest-transport-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(url, sizeof(url), "ipc://%s/t.sock", dir);
	memset(&seen, 0, sizeof(seen));
	pthread_mutex_init(&seen.lock, NULL);

	ck_assert_int_eq(reactor_new(&reactor), 0);
	struct transport_config config = {
		.max_message_size = MAX_MESSAGE_SIZE,
		.reply_timeout_ms = REPLY_TIMEOUT_MS,
		.handshake_timeout_ms = HANDSHAKE_TIMEOUT_MS,
		.frame_timeout_ms = FRAME_TIMEOUT_MS,
		.max_connections = MAX_CONNECTIONS,
		.ipc_mode = 0600,
	};
	ck_assert_int_eq(transport_new(&transport, reactor, &config, &callbacks, NULL), 0);
	int r = transport_listen(transport, url, err, sizeof(err));
	ck_assert_msg(r == 0, "listen: %s", err);
	ck_assert_int_eq(transport_start(transport), 0);
	ck_assert_int_eq(pthread_create(&reactor_thread, NULL, run_reactor, NULL), 0);
}

static void
teardown(void)
{
	reactor_stop(reactor);
	pthread_join(reactor_thread, NULL);
	transport_flush(transport, 100);
	transport_stop(transport);
	reactor_drain(reactor);
	transport_free(transport);
	reactor_free(reactor);
	char path[160];
	snprintf(path, sizeof(path), "%s/t.sock", dir);
	ck_assert_msg(access(path, F_OK) < 0, "the socket file was left behind");
	rmdir(dir);
}

/* A raw unix stream socket connected to the listener, nothing sent. */
static int
raw_connect(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	ck_assert_uint_lt(strlen(url + 6), sizeof(sun.sun_path));
	memcpy(sun.sun_path, url + 6, strlen(url + 6) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* Whether the server closed `fd` within WAIT_MS (replies before the end are skipped). */
static bool
closed_by_server(int fd)
{
	struct timeval tv = { .tv_sec = WAIT_MS / 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char buf[4096];
	for (int i = 0; i < 100000; i++) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0)
			return false;
	}
	return false;
}

static void
echo_round_trip(struct sp_client *client, uint32_t id, const char *text)
{
	ck_assert_int_eq(sp_send(client, id, text, strlen(text)), 0);
	uint32_t got;
	uint8_t *body;
	size_t len;
	ck_assert_int_eq(sp_recv(client, &got, &body, &len, WAIT_MS), 0);
	ck_assert_uint_eq(got, id);
	ck_assert_uint_eq(len, strlen(text));
	ck_assert(memcmp(body, text, len) == 0);
	free(body);
}

/* ---- tests -------------------------------------------------------------------------------- */

START_TEST(transport_echoes_a_request_under_its_request_id_and_names_the_peer)
{
	struct sp_client client;
	sp_connect(&client, url);
	echo_round_trip(&client, 7, "ehello");
	pthread_mutex_lock(&seen.lock);
	ck_assert_uint_eq(seen.n_added, 1);
	struct peer_identity identity = seen.added[0].identity;
	pthread_mutex_unlock(&seen.lock);
	ck_assert(identity.has_credentials);
	ck_assert_int_eq(identity.uid, getuid());
	ck_assert_int_eq(identity.pid, client.peer_pid);
	ck_assert_int_eq(identity.transport, POLICY_TRANSPORT_IPC);
	ck_assert_str_eq(identity.peer, "ipc");
	sp_close(&client);
	ck_assert(wait_removed(1));
	pthread_mutex_lock(&seen.lock);
	ck_assert_uint_eq(seen.removed[0], seen.added[0].id);
	pthread_mutex_unlock(&seen.lock);
}
END_TEST

START_TEST(transport_serves_a_plain_nng_req0_socket)
{
	nng_socket socket;
	ck_assert_int_eq(nng_req0_open(&socket), 0);
	ck_assert_int_eq(nng_socket_set_ms(socket, NNG_OPT_RECVTIMEO, WAIT_MS), 0);
	int rv = nng_dial(socket, url, NULL, 0);
	ck_assert_msg(rv == 0, "dial: %s", nng_strerror(rv));
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(nng_send(socket, "eping", 5, 0), 0);
		char *body = NULL;
		size_t len = 0;
		rv = nng_recv(socket, &body, &len, NNG_FLAG_ALLOC);
		ck_assert_msg(rv == 0, "recv: %s", nng_strerror(rv));
		ck_assert_uint_eq(len, 5);
		ck_assert(memcmp(body, "eping", 5) == 0);
		nng_free(body, len);
	}
	nng_close(socket);
}
END_TEST

START_TEST(transport_answers_a_connections_pipelined_requests_in_arrival_order)
{
	struct sp_client client;
	sp_connect(&client, url);
	char text[32];
	for (uint32_t id = 1; id <= 200; id++) {
		snprintf(text, sizeof(text), "e%u", id);
		ck_assert_int_eq(sp_send(&client, id, text, strlen(text)), 0);
	}
	for (uint32_t id = 1; id <= 200; id++) {
		uint32_t got;
		uint8_t *body;
		size_t len;
		ck_assert_int_eq(sp_recv(&client, &got, &body, &len, WAIT_MS), 0);
		ck_assert_uint_eq(got, id);
		snprintf(text, sizeof(text), "e%u", id);
		ck_assert(len == strlen(text) && memcmp(body, text, len) == 0);
		free(body);
	}
	sp_close(&client);
}
END_TEST

START_TEST(transport_delivers_a_frame_larger_than_its_read_buffer_intact)
{
	struct sp_client client;
	sp_connect(&client, url);
	size_t size = MAX_MESSAGE_SIZE - 4;
	char *text = malloc(size + 1);
	for (size_t i = 0; i < size; i++)
		text[i] = (char)('a' + i % 26);
	text[0] = 'e';
	text[size] = '\0';
	echo_round_trip(&client, 1, text);
	free(text);
	sp_close(&client);
}
END_TEST

START_TEST(transport_closes_a_peer_that_does_not_speak_sp_and_serves_others)
{
	int fd = raw_connect();
	const char *http = "GET / HTTP/1.0\r\n\r\n";
	ck_assert_int_eq(send(fd, http, strlen(http), MSG_NOSIGNAL), (ssize_t)strlen(http));
	ck_assert(closed_by_server(fd));
	close(fd);

	/* A rep0 peer talking to a rep0 daemon is refused too. */
	fd = raw_connect();
	const uint8_t rep[8] = { 0, 'S', 'P', 0, 0, 0x31, 0, 0 };
	ck_assert_int_eq(send(fd, rep, sizeof(rep), MSG_NOSIGNAL), 8);
	ck_assert(closed_by_server(fd));
	close(fd);

	struct sp_client client;
	sp_connect(&client, url);
	echo_round_trip(&client, 1, "estill");
	sp_close(&client);
	ck_assert_uint_eq(count_requests(), 1);
}
END_TEST

START_TEST(transport_keeps_serving_after_100_connections_drop_mid_handshake)
{
	struct sp_client worker;
	sp_connect(&worker, url);
	for (int i = 0; i < 100; i++) {
		int fd = raw_connect();
		/* Nothing, part of the handshake, or all of it and half a frame. */
		const uint8_t hs[8] = { 0, 'S', 'P', 0, 0, 0x30, 0, 0 };
		const uint8_t half[5] = { 1, 0, 0, 0, 0 };
		if (i % 3 == 1)
			send(fd, hs, 3, MSG_NOSIGNAL);
		if (i % 3 == 2) {
			send(fd, hs, sizeof(hs), MSG_NOSIGNAL);
			send(fd, half, sizeof(half), MSG_NOSIGNAL);
		}
		close(fd);
		if (i % 10 == 0)
			echo_round_trip(&worker, (uint32_t)i + 1, "eworking");
	}
	int64_t started = test_now_ms();
	struct sp_client fresh;
	sp_connect(&fresh, url);
	echo_round_trip(&fresh, 1, "efresh");
	int64_t took = test_now_ms() - started;
	ck_assert_msg(took < 1000, "a new client waited %lld ms", (long long)took);
	echo_round_trip(&worker, 1000, "eafter");
	sp_close(&fresh);
	sp_close(&worker);
}
END_TEST

START_TEST(transport_closes_a_connection_announcing_a_frame_over_the_maximum)
{
	struct sp_client client;
	sp_connect(&client, url);
	uint8_t header[9] = { 1, 0, 0, 0x01, 0, 0, 0, 0, 0 }; /* 2^40 bytes */
	ck_assert_int_eq(send(client.fd, header, sizeof(header), MSG_NOSIGNAL), 9);
	ck_assert(closed_by_server(client.fd));
	sp_close(&client);
	ck_assert_uint_eq(count_requests(), 0);
	ck_assert(wait_removed(1));
}
END_TEST

START_TEST(transport_drops_a_truncated_frame_when_its_peer_goes_away)
{
	struct sp_client client;
	sp_connect(&client, url);
	uint8_t header[9] = { 1, 0, 0, 0, 0, 0, 0, 0, 100 };
	ck_assert_int_eq(send(client.fd, header, sizeof(header), MSG_NOSIGNAL), 9);
	ck_assert_int_eq(send(client.fd, "\x80\0\0\1eabcdef", 11, MSG_NOSIGNAL), 11);
	sp_close(&client);
	ck_assert(wait_removed(1));
	ck_assert_uint_eq(count_requests(), 0);
}
END_TEST

START_TEST(transport_closes_a_connection_whose_request_stays_incomplete)
{
	struct sp_client stalled, slow;
	sp_connect(&stalled, url);
	sp_connect(&slow, url);
	/* 100 bytes announced, 11 sent, and then nothing. */
	uint8_t header[9] = { 1, 0, 0, 0, 0, 0, 0, 0, 100 };
	ck_assert_int_eq(send(stalled.fd, header, sizeof(header), MSG_NOSIGNAL), 9);
	ck_assert_int_eq(send(stalled.fd, "\x80\0\0\1eabcdef", 11, MSG_NOSIGNAL), 11);
	int64_t started = test_now_ms();

	/* A request sent in two halves well within the deadline is served. */
	uint8_t slow_header[13] = { 1, 0, 0, 0, 0, 0, 0, 0, 9, 0x80, 0, 0, 7 };
	ck_assert_int_eq(send(slow.fd, slow_header, sizeof(slow_header), MSG_NOSIGNAL), 13);
	usleep(200 * 1000);
	ck_assert_int_eq(send(slow.fd, "eslow", 5, MSG_NOSIGNAL), 5);
	uint32_t id;
	uint8_t *body;
	size_t len;
	ck_assert_int_eq(sp_recv(&slow, &id, &body, &len, WAIT_MS), 0);
	ck_assert_uint_eq(id, 7);
	ck_assert(len == 5 && memcmp(body, "eslow", 5) == 0);
	free(body);

	ck_assert(closed_by_server(stalled.fd));
	ck_assert_int_ge(test_now_ms() - started, FRAME_TIMEOUT_MS - 100);
	ck_assert_uint_eq(count_requests(), 1);
	/* The other connection lives on. */
	echo_round_trip(&slow, 8, "estill");
	sp_close(&stalled);
	sp_close(&slow);
}
END_TEST

START_TEST(transport_closes_a_silent_connection_at_the_handshake_deadline)
{
	int fd = raw_connect();
	int64_t started = test_now_ms();
	ck_assert(closed_by_server(fd));
	ck_assert_int_ge(test_now_ms() - started, HANDSHAKE_TIMEOUT_MS - 50);
	close(fd);
	pthread_mutex_lock(&seen.lock);
	ck_assert_uint_eq(seen.n_added, 0);
	pthread_mutex_unlock(&seen.lock);
}
END_TEST

START_TEST(transport_ends_a_connection_that_does_not_read_its_replies)
{
	struct sp_client greedy, polite;
	sp_connect(&greedy, url);
	sp_connect(&polite, url);
	/* Far more reply bytes than the socket takes, never read. */
	for (uint32_t id = 1; id <= 16; id++)
		if (sp_send(&greedy, id, "b", 1) < 0)
			break;
	for (uint32_t id = 1; id <= 5; id++)
		echo_round_trip(&polite, id, "epolite");
	ck_assert(wait_removed(1));
	pthread_mutex_lock(&seen.lock);
	uint32_t removed = seen.removed[0], greedy_id = seen.added[0].id;
	pthread_mutex_unlock(&seen.lock);
	ck_assert_uint_eq(removed, greedy_id);
	/* It stopped reading the greedy one's requests once over its bound. */
	ck_assert_uint_lt(count_requests(), 16 + 5);
	echo_round_trip(&polite, 99, "estill");
	ck_assert(closed_by_server(greedy.fd));
	sp_close(&greedy);
	sp_close(&polite);
}
END_TEST

START_TEST(transport_refuses_connections_over_its_limit_and_serves_again_below_it)
{
	struct sp_client clients[MAX_CONNECTIONS];
	for (int i = 0; i < MAX_CONNECTIONS; i++)
		sp_connect(&clients[i], url);
	int fd = raw_connect();
	ck_assert(closed_by_server(fd));
	close(fd);
	sp_close(&clients[0]);
	ck_assert(wait_removed(1));
	sp_connect(&clients[0], url);
	echo_round_trip(&clients[0], 1, "eagain");
	for (int i = 0; i < MAX_CONNECTIONS; i++)
		sp_close(&clients[i]);
}
END_TEST

START_TEST(transport_disconnect_closes_only_that_connection)
{
	struct sp_client leaving, staying;
	sp_connect(&leaving, url);
	sp_connect(&staying, url);
	ck_assert_int_eq(sp_send(&leaving, 1, "d", 1), 0);
	ck_assert(sp_wait_closed(&leaving, WAIT_MS));
	ck_assert(wait_removed(1));
	echo_round_trip(&staying, 2, "estaying");
	sp_close(&leaving);
	sp_close(&staying);
}
END_TEST

START_TEST(transport_listen_refuses_a_path_where_a_listener_answers)
{
	char err[256];
	ck_assert_int_eq(transport_listen(transport, url, err, sizeof(err)), -EADDRINUSE);
	ck_assert_ptr_nonnull(strstr(err, "another daemon"));
	ck_assert_int_eq(transport_listen(transport, "udp://x", err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "ipc://PATH"));
	ck_assert_int_eq(transport_listen(transport, "tcp://127.0.0.1", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(transport_listen(transport, "tls+tcp://127.0.0.1:0", err, sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "tls.cert_key_file"));
}
END_TEST

struct add_listeners {
	struct reactor_task task;
	const char *url;
	int result;
	bool done;
	char err[256];
};

static pthread_cond_t task_done = PTHREAD_COND_INITIALIZER;

static void
add_listeners(struct reactor_task *base)
{
	struct add_listeners *task = (struct add_listeners *)(void *)base;
	int r = transport_listen(transport, task->url, task->err, sizeof(task->err));
	if (r == 0)
		r = transport_listen(transport, "tcp://127.0.0.1:0", task->err, sizeof(task->err));
	if (r == 0)
		r = transport_start(transport);
	pthread_mutex_lock(&seen.lock);
	task->result = r;
	task->done = true;
	pthread_cond_broadcast(&task_done);
	pthread_mutex_unlock(&seen.lock);
}

START_TEST(transport_listens_on_abstract_and_tcp_for_nng_peers)
{
	char abstract_url[96];
	snprintf(abstract_url, sizeof(abstract_url), "abstract://sbtest-%d", (int)getpid());
	/* The transport belongs to the reactor thread: the listeners are added there. */
	struct add_listeners task = { .task.run = add_listeners, .url = abstract_url };
	pthread_mutex_lock(&seen.lock);
	reactor_post(reactor, &task.task);
	while (!task.done)
		pthread_cond_wait(&task_done, &seen.lock);
	pthread_mutex_unlock(&seen.lock);
	ck_assert_msg(task.result == 0, "%s", task.err);

	nng_socket socket;
	ck_assert_int_eq(nng_req0_open(&socket), 0);
	ck_assert_int_eq(nng_socket_set_ms(socket, NNG_OPT_RECVTIMEO, WAIT_MS), 0);
	int rv = nng_dial(socket, abstract_url, NULL, 0);
	ck_assert_msg(rv == 0, "dial %s: %s", abstract_url, nng_strerror(rv));
	ck_assert_int_eq(nng_send(socket, "eabs", 4, 0), 0);
	char *body = NULL;
	size_t len = 0;
	rv = nng_recv(socket, &body, &len, NNG_FLAG_ALLOC);
	ck_assert_msg(rv == 0, "recv: %s", nng_strerror(rv));
	ck_assert(len == 4 && memcmp(body, "eabs", 4) == 0);
	nng_free(body, len);
	nng_close(socket);
	pthread_mutex_lock(&seen.lock);
	ck_assert_int_eq(seen.added[0].identity.transport, POLICY_TRANSPORT_ABSTRACT);
	ck_assert(seen.added[0].identity.has_credentials);
	pthread_mutex_unlock(&seen.lock);
}
END_TEST

/* CPU time this process used, in milliseconds. */
static int64_t
cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(transport_refuses_connections_without_spinning_when_out_of_descriptors)
{
	struct rlimit saved;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
	struct sp_client held;
	sp_connect(&held, url);
	/* The clients' sockets exist before the limit: only the accepts run out. */
	int fds[2];
	size_t n_fds = 2;
	for (size_t i = 0; i < n_fds; i++) {
		fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(fds[i], 0);
	}
	int probe = dup(0);
	ck_assert_int_ge(probe, 0);
	close(probe);
	struct rlimit low = { .rlim_cur = (rlim_t)probe, .rlim_max = saved.rlim_max };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	memcpy(sun.sun_path, url + 6, strlen(url + 6) + 1);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	for (size_t i = 0; i < n_fds; i++)
		ck_assert_int_eq(connect(fds[i], (struct sockaddr *)&sun, sizeof(sun)), 0);
	bool refused = closed_by_server(fds[1]);
	int64_t cpu_before = cpu_ms();
	usleep(500 * 1000);
	int64_t cpu_used = cpu_ms() - cpu_before;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
	ck_assert_msg(refused, "a connection over the descriptor limit was left hanging");
	ck_assert_msg(cpu_used < 250, "the loop used %lld ms of CPU in 500 ms while out of "
		      "descriptors", (long long)cpu_used);
	for (size_t i = 0; i < n_fds; i++)
		close(fds[i]);
	/* With descriptors again, clients are served. */
	echo_round_trip(&held, 1, "eheld");
	struct sp_client fresh;
	int64_t deadline = test_now_ms() + WAIT_MS;
	sp_connect(&fresh, url);
	while (test_now_ms() < deadline && sp_send(&fresh, 2, "ex", 2) < 0)
		usleep(10000);
	uint32_t id;
	uint8_t *body;
	size_t len;
	ck_assert_int_eq(sp_recv(&fresh, &id, &body, &len, WAIT_MS), 0);
	free(body);
	sp_close(&fresh);
	sp_close(&held);
}
END_TEST

static Suite *
transport_suite(void)
{
	Suite *s = suite_create("transport");
	TCase *tc = tcase_create("transport");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, transport_echoes_a_request_under_its_request_id_and_names_the_peer);
	tcase_add_test(tc, transport_serves_a_plain_nng_req0_socket);
	tcase_add_test(tc, transport_answers_a_connections_pipelined_requests_in_arrival_order);
	tcase_add_test(tc, transport_delivers_a_frame_larger_than_its_read_buffer_intact);
	tcase_add_test(tc, transport_closes_a_peer_that_does_not_speak_sp_and_serves_others);
	tcase_add_test(tc, transport_keeps_serving_after_100_connections_drop_mid_handshake);
	tcase_add_test(tc, transport_closes_a_connection_announcing_a_frame_over_the_maximum);
	tcase_add_test(tc, transport_drops_a_truncated_frame_when_its_peer_goes_away);
	tcase_add_test(tc, transport_closes_a_silent_connection_at_the_handshake_deadline);
	tcase_add_test(tc, transport_closes_a_connection_whose_request_stays_incomplete);
	tcase_add_test(tc, transport_ends_a_connection_that_does_not_read_its_replies);
	tcase_add_test(tc, transport_refuses_connections_over_its_limit_and_serves_again_below_it);
	tcase_add_test(tc, transport_disconnect_closes_only_that_connection);
	tcase_add_test(tc, transport_listen_refuses_a_path_where_a_listener_answers);
	tcase_add_test(tc, transport_listens_on_abstract_and_tcp_for_nng_peers);
	tcase_add_test(tc, transport_refuses_connections_without_spinning_when_out_of_descriptors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(transport_suite());
	srunner_run_all(runner, CK_NORMAL);
	int failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
