/*
 * Unit tests of server/transport.c, in-process: a transport listens on an ipc:// path in a
 * fresh temporary directory with callbacks that record what they see, and the tests talk to
 * it as clients: plain NNG req0 sockets, or raw SP clients connected from a child process
 * (tests/support/sp.h) where the peer must be another process.
 *
 * The callbacks run on NNG's threads: they only record, under a lock, and never assert. An
 * empty request is the transport's own watchdog probing its listener: it is answered at once
 * and not recorded (every request of these tests has a body). Requests are answered from the
 * test thread. Every wait is bounded.
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
#include <time.h>
#include <unistd.h>

#include "sp.h"
#include "clock.h"
#include "transport.h"

#define WAIT_MS 10000
#define POOL_SIZE 2
#define MAX_MESSAGE_SIZE 4096
#define BIG_REPLY (4u * 1024 * 1024) /* far more than a socket buffer holds */
#define MAX_SEEN 256
#define MAX_CLIENTS 16

/* ---- what the callbacks saw --------------------------------------------------------------- */

struct seen_request {
	struct tx *tx;
	uint32_t pipe_id;
	uint32_t tx_pipe; /* transport_tx_pipe(tx) during the call */
	size_t len;
	uint8_t body[128]; /* the first bytes */
	bool answered;
};

struct seen_pipe {
	uint32_t pipe_id;
	struct peer_identity identity;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t changed; /* with lock, CLOCK_MONOTONIC */
	struct seen_request requests[MAX_SEEN];
	size_t n_requests;
	struct seen_pipe added[MAX_SEEN];
	size_t n_added;
	uint32_t removed[MAX_SEEN];
	size_t n_removed;
	bool overflowed; /* more than MAX_SEEN of something: the test is wrong */
} seen = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void
on_pipe_added(void *userdata, uint32_t pipe_id, const struct peer_identity *identity)
{
	pthread_mutex_lock(&seen.lock);
	if (seen.n_added < MAX_SEEN)
		seen.added[seen.n_added++] = (struct seen_pipe){pipe_id, *identity};
	else
		seen.overflowed = true;
	pthread_cond_broadcast(&seen.changed);
	pthread_mutex_unlock(&seen.lock);
}

static void
on_pipe_removed(void *userdata, uint32_t pipe_id)
{
	pthread_mutex_lock(&seen.lock);
	if (seen.n_removed < MAX_SEEN)
		seen.removed[seen.n_removed++] = pipe_id;
	else
		seen.overflowed = true;
	pthread_cond_broadcast(&seen.changed);
	pthread_mutex_unlock(&seen.lock);
}

static void
on_request(void *userdata, struct tx *tx, uint32_t pipe_id, const void *body, size_t len)
{
	if (len == 0) {
		/* The watchdog's probe: it must be answered, or the listener is restarted. */
		transport_reply_send(tx);
		return;
	}
	pthread_mutex_lock(&seen.lock);
	if (seen.n_requests < MAX_SEEN) {
		struct seen_request *r = &seen.requests[seen.n_requests];
		r->tx = tx;
		r->pipe_id = pipe_id;
		r->tx_pipe = transport_tx_pipe(tx);
		r->len = len;
		memcpy(r->body, body, len < sizeof(r->body) ? len : sizeof(r->body));
		r->answered = false;
		seen.n_requests++;
	} else {
		seen.overflowed = true;
		transport_reply_send(tx);
	}
	pthread_cond_broadcast(&seen.changed);
	pthread_mutex_unlock(&seen.lock);
}

static const struct transport_callbacks callbacks = {
	.pipe_added = on_pipe_added,
	.pipe_removed = on_pipe_removed,
	.request = on_request,
};

/* Wait up to WAIT_MS until at least `n` requests were seen. */
static bool
wait_requests(size_t n)
{
	struct timespec deadline;
	test_deadline_after_ms(&deadline, WAIT_MS);
	pthread_mutex_lock(&seen.lock);
	int r = 0;
	while (seen.n_requests < n && r == 0)
		r = pthread_cond_timedwait(&seen.changed, &seen.lock, &deadline);
	bool done = seen.n_requests >= n;
	pthread_mutex_unlock(&seen.lock);
	return done;
}

/* The first request seen from `pipe_id`, waiting up to WAIT_MS for it; NULL if none came. */
static struct seen_request *
wait_request_from(uint32_t pipe_id)
{
	struct timespec deadline;
	struct seen_request *found = NULL;
	test_deadline_after_ms(&deadline, WAIT_MS);
	pthread_mutex_lock(&seen.lock);
	for (int r = 0; !found && r == 0;) {
		for (size_t i = 0; i < seen.n_requests && !found; i++)
			if (seen.requests[i].pipe_id == pipe_id)
				found = &seen.requests[i];
		if (!found)
			r = pthread_cond_timedwait(&seen.changed, &seen.lock, &deadline);
	}
	pthread_mutex_unlock(&seen.lock);
	return found;
}

/* The pipe announced for a connection made by process `pid`, waiting up to WAIT_MS; 0 if
 * none was. */
static uint32_t
wait_added_by(pid_t pid, struct peer_identity *identity)
{
	struct timespec deadline;
	uint32_t pipe_id = 0;
	test_deadline_after_ms(&deadline, WAIT_MS);
	pthread_mutex_lock(&seen.lock);
	for (int r = 0; !pipe_id && r == 0;) {
		for (size_t i = 0; i < seen.n_added && !pipe_id; i++) {
			if (seen.added[i].identity.pid == pid) {
				pipe_id = seen.added[i].pipe_id;
				if (identity)
					*identity = seen.added[i].identity;
			}
		}
		if (!pipe_id)
			r = pthread_cond_timedwait(&seen.changed, &seen.lock, &deadline);
	}
	pthread_mutex_unlock(&seen.lock);
	return pipe_id;
}

static bool
was_removed_locked(uint32_t pipe_id)
{
	for (size_t i = 0; i < seen.n_removed; i++)
		if (seen.removed[i] == pipe_id)
			return true;
	return false;
}

/* Wait up to `ms` until `pipe_id` was removed. */
static bool
wait_removed(uint32_t pipe_id, int ms)
{
	struct timespec deadline;
	test_deadline_after_ms(&deadline, ms);
	pthread_mutex_lock(&seen.lock);
	int r = 0;
	while (!was_removed_locked(pipe_id) && r == 0)
		r = pthread_cond_timedwait(&seen.changed, &seen.lock, &deadline);
	bool removed = was_removed_locked(pipe_id);
	pthread_mutex_unlock(&seen.lock);
	return removed;
}

static bool
was_added(uint32_t pipe_id)
{
	bool added = false;
	pthread_mutex_lock(&seen.lock);
	for (size_t i = 0; i < seen.n_added; i++)
		added |= seen.added[i].pipe_id == pipe_id;
	pthread_mutex_unlock(&seen.lock);
	return added;
}

static size_t
requests_from(uint32_t pipe_id)
{
	size_t n = 0;
	pthread_mutex_lock(&seen.lock);
	for (size_t i = 0; i < seen.n_requests; i++)
		n += seen.requests[i].pipe_id == pipe_id;
	pthread_mutex_unlock(&seen.lock);
	return n;
}

/* Answer a recorded request with `len` bytes of `data` (NULL: `len` bytes of 'r'). */
static void
answer(struct seen_request *request, const void *data, size_t len)
{
	pthread_mutex_lock(&seen.lock);
	ck_assert(!request->answered);
	request->answered = true;
	pthread_mutex_unlock(&seen.lock);
	uint8_t *buf = transport_reply_buffer(request->tx, len);
	ck_assert(buf);
	if (data)
		memcpy(buf, data, len);
	else
		memset(buf, 'r', len);
	transport_reply_send(request->tx);
}

/* ---- the transport and its clients -------------------------------------------------------- */

static struct transport *transport;
static char dir[64];
static char url[128];
static int n_listens;

static nng_socket nng_clients[MAX_CLIENTS];
static size_t n_nng_clients;
static struct sp_client sp_clients[MAX_CLIENTS];
static size_t n_sp_clients;

static const struct transport_config default_config = {
	.max_message_size = MAX_MESSAGE_SIZE,
	.reply_timeout_ms = 20000,
	.ipc_mode = 0600,
	.pool_size = POOL_SIZE,
};

static void
start_transport(const struct transport_config *config)
{
	char err[512] = "";
	/* A fresh path each time: nothing depends on NNG removing the last one. */
	snprintf(url, sizeof(url), "ipc://%s/transport-%d.sock", dir, ++n_listens);
	ck_assert_int_eq(transport_new(&transport, config, &callbacks, NULL), 0);
	int r = transport_listen(transport, url, err, sizeof(err));
	ck_assert_msg(r == 0, "transport_listen: %s", err);
	ck_assert_int_eq(transport_start(transport), 0);
}

/* Stop and free the transport; requests still held are answered after the stop (the replies
 * are dropped), as transport_free() requires. */
static void
stop_transport(void)
{
	if (!transport)
		return;
	transport_stop(transport);
	pthread_mutex_lock(&seen.lock);
	for (size_t i = 0; i < seen.n_requests; i++) {
		if (!seen.requests[i].answered) {
			seen.requests[i].answered = true;
			transport_reply_send(seen.requests[i].tx);
		}
	}
	pthread_mutex_unlock(&seen.lock);
	transport_free(transport);
	transport = NULL;
	char path[sizeof(url)];
	snprintf(path, sizeof(path), "%s", url + 6);
	unlink(path);
}

static void
reset_seen(void)
{
	pthread_mutex_lock(&seen.lock);
	seen.n_requests = 0;
	seen.n_added = 0;
	seen.n_removed = 0;
	seen.overflowed = false;
	pthread_mutex_unlock(&seen.lock);
}

static void
setup(void)
{
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&seen.changed, &attr);
	pthread_condattr_destroy(&attr);
	reset_seen();
	n_nng_clients = 0;
	n_sp_clients = 0;
	snprintf(dir, sizeof(dir), "/tmp/sockbroker-transport-XXXXXX");
	ck_assert_msg(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	start_transport(&default_config);
}

static void
teardown(void)
{
	/* Clients first, so that none of them keeps redialling a stopped listener. */
	for (size_t i = 0; i < n_nng_clients; i++)
		nng_close(nng_clients[i]);
	n_nng_clients = 0;
	for (size_t i = 0; i < n_sp_clients; i++)
		sp_close(&sp_clients[i]);
	n_sp_clients = 0;
	stop_transport();
	rmdir(dir);
	ck_assert_msg(!seen.overflowed, "the test saw more than %d events of one kind", MAX_SEEN);
	pthread_cond_destroy(&seen.changed);
}

/* A plain NNG req0 client of this process, dialled and ready. */
static nng_socket
nng_client(void)
{
	nng_socket socket;
	ck_assert_uint_lt(n_nng_clients, MAX_CLIENTS);
	ck_assert_int_eq(nng_req0_open(&socket), 0);
	nng_clients[n_nng_clients++] = socket;
	ck_assert_int_eq(nng_socket_set_ms(socket, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE),
			 0);
	ck_assert_int_eq(nng_socket_set_ms(socket, NNG_OPT_RECVTIMEO, WAIT_MS), 0);
	ck_assert_int_eq(nng_socket_set_ms(socket, NNG_OPT_SENDTIMEO, WAIT_MS), 0);
	int rv = nng_dial(socket, url, NULL, 0);
	ck_assert_msg(rv == 0, "dial %s: %s", url, nng_strerror(rv));
	return socket;
}

/* A raw client connected from another process, with the pipe the transport announced for
 * it. */
static struct sp_client *
sp_client(uint32_t *pipe_id)
{
	ck_assert_uint_lt(n_sp_clients, MAX_CLIENTS);
	struct sp_client *client = &sp_clients[n_sp_clients++];
	client->fd = -1;
	sp_connect(client, url);
	*pipe_id = wait_added_by(client->peer_pid, NULL);
	ck_assert_msg(*pipe_id != 0, "no connection of process %d was announced",
		      (int)client->peer_pid);
	return client;
}

/* Receive one reply on an NNG client and compare it with `expected`. */
static void
assert_nng_reply(nng_socket socket, const char *expected)
{
	char *buf = NULL;
	size_t len = 0;
	int rv = nng_recv(socket, &buf, &len, NNG_FLAG_ALLOC);
	ck_assert_msg(rv == 0, "no reply: %s", nng_strerror(rv));
	ck_assert_uint_eq(len, strlen(expected));
	ck_assert(len == 0 || memcmp(buf, expected, len) == 0);
	nng_free(buf, len);
}

/* Receive one reply on a raw client: its id must be `id` and its body `expected`. */
static void
assert_sp_reply(struct sp_client *client, uint32_t id, const char *expected)
{
	uint32_t reply_id;
	uint8_t *body;
	size_t len;
	int r = sp_recv(client, &reply_id, &body, &len, WAIT_MS);
	ck_assert_msg(r == 0, "no reply: %s", strerror(-r));
	ck_assert_uint_eq(reply_id, id);
	ck_assert_uint_eq(len, strlen(expected));
	ck_assert(memcmp(body, expected, len) == 0);
	free(body);
}

/* ---- requests and replies ----------------------------------------------------------------- */

START_TEST(transport_delivers_a_request_and_its_reply_reaches_the_client)
{
	nng_socket client = nng_client();
	ck_assert_int_eq(nng_send(client, "ping", 4, 0), 0);
	ck_assert(wait_requests(1));
	struct seen_request *request = &seen.requests[0];
	ck_assert_uint_eq(request->len, 4);
	ck_assert(memcmp(request->body, "ping", 4) == 0);
	ck_assert_uint_ne(request->pipe_id, 0);
	ck_assert_uint_eq(request->tx_pipe, request->pipe_id);
	answer(request, "pong", 4);
	assert_nng_reply(client, "pong");

	/* The connection goes on: its next request comes from the same pipe. */
	ck_assert_int_eq(nng_send(client, "again", 5, 0), 0);
	ck_assert(wait_requests(2));
	ck_assert_uint_eq(seen.requests[1].pipe_id, request->pipe_id);
	answer(&seen.requests[1], "", 0);
	assert_nng_reply(client, "");
}
END_TEST

START_TEST(transport_tells_connections_apart_by_pipe_id)
{
	nng_socket first = nng_client(), second = nng_client();
	ck_assert_int_eq(nng_send(first, "first", 5, 0), 0);
	ck_assert(wait_requests(1));
	ck_assert_int_eq(nng_send(second, "second", 6, 0), 0);
	ck_assert(wait_requests(2));
	ck_assert(memcmp(seen.requests[0].body, "first", 5) == 0);
	ck_assert(memcmp(seen.requests[1].body, "second", 6) == 0);
	ck_assert_uint_ne(seen.requests[0].pipe_id, seen.requests[1].pipe_id);
	/* Answered in the other order: each reply goes to the connection of its request. */
	answer(&seen.requests[1], "to second", 9);
	answer(&seen.requests[0], "to first", 8);
	assert_nng_reply(first, "to first");
	assert_nng_reply(second, "to second");
}
END_TEST

/* ---- connections -------------------------------------------------------------------------- */

START_TEST(transport_announces_a_peer_with_its_credentials_and_its_removal)
{
	uint32_t pipe_id;
	struct sp_client *client = sp_client(&pipe_id);
	struct peer_identity identity;
	ck_assert_uint_eq(wait_added_by(client->peer_pid, &identity), pipe_id);
	ck_assert(identity.has_credentials);
	ck_assert_uint_eq(identity.uid, geteuid());
	ck_assert_uint_eq(identity.gid, getegid());
	ck_assert_int_eq(identity.pid, client->peer_pid);
	ck_assert(!identity.tls_verified);
	ck_assert_int_eq(identity.transport, POLICY_TRANSPORT_IPC);
	ck_assert_str_eq(identity.peer, "ipc");

	/* Its requests come from the pipe that was announced, after the announcement. */
	ck_assert_int_eq(sp_send(client, 7, "from a child", 12), 0);
	struct seen_request *request = wait_request_from(pipe_id);
	ck_assert(request);
	ck_assert_uint_eq(request->len, 12);
	ck_assert(memcmp(request->body, "from a child", 12) == 0);
	answer(request, "hello child", 11);
	assert_sp_reply(client, 7, "hello child");

	ck_assert(!wait_removed(pipe_id, 0));
	sp_close(client);
	ck_assert_msg(wait_removed(pipe_id, WAIT_MS), "pipe %u was not removed", pipe_id);
}
END_TEST

START_TEST(transport_does_not_announce_a_peer_of_its_own_process_but_serves_it)
{
	/* The watchdog dials from inside the daemon, so a peer with the daemon's own pid is not
	 * a client: no session is made for it. Its requests are still delivered. */
	nng_socket client = nng_client();
	ck_assert_int_eq(nng_send(client, "own", 3, 0), 0);
	ck_assert(wait_requests(1));
	ck_assert(!was_added(seen.requests[0].pipe_id));
	answer(&seen.requests[0], "served", 6);
	assert_nng_reply(client, "served");
}
END_TEST

START_TEST(transport_disconnect_closes_only_that_client_connection)
{
	uint32_t doomed_pipe, other_pipe;
	struct sp_client *doomed = sp_client(&doomed_pipe);
	struct sp_client *other = sp_client(&other_pipe);
	ck_assert_uint_ne(doomed_pipe, other_pipe);

	transport_disconnect(transport, doomed_pipe);
	ck_assert_msg(sp_wait_closed(doomed, WAIT_MS), "the connection stayed open");
	ck_assert(wait_removed(doomed_pipe, WAIT_MS));

	ck_assert_int_eq(sp_send(other, 1, "still here", 10), 0);
	struct seen_request *request = wait_request_from(other_pipe);
	ck_assert(request);
	answer(request, "yes", 3);
	assert_sp_reply(other, 1, "yes");
	ck_assert(!wait_removed(other_pipe, 0));
}
END_TEST

/* ---- the receive pool ---------------------------------------------------------------------- */

#define HELD (POOL_SIZE * 6)
#define MAX_IDLE 64 /* transport.c's MAX_IDLE_TX: idle contexts kept for reuse */
#define HELD_MANY (MAX_IDLE + POOL_SIZE + 16)

/* Send `n` requests on contexts of one client and wait until all of them were delivered
 * while none was answered; then answer them (in reverse) and check that each context gets
 * the reply to its own request. */
static void
exchange_held_requests(int n)
{
	nng_socket client = nng_client();
	nng_ctx *ctx = calloc((size_t)n, sizeof(*ctx));
	nng_aio **aio = calloc((size_t)n, sizeof(*aio));
	char text[32];
	ck_assert(ctx && aio);
	size_t already = seen.n_requests;

	for (int i = 0; i < n; i++) {
		nng_msg *msg;
		ck_assert_int_eq(nng_ctx_open(&ctx[i], client), 0);
		ck_assert_int_eq(nng_aio_alloc(&aio[i], NULL, NULL), 0);
		ck_assert_int_eq(nng_msg_alloc(&msg, 0), 0);
		snprintf(text, sizeof(text), "request %d", i);
		ck_assert_int_eq(nng_msg_append(msg, text, strlen(text)), 0);
		nng_aio_set_msg(aio[i], msg);
		nng_aio_set_timeout(aio[i], WAIT_MS);
		nng_ctx_send(ctx[i], aio[i]);
		nng_aio_wait(aio[i]);
		ck_assert_int_eq(nng_aio_result(aio[i]), 0);
	}
	/* None is answered, yet every one arrives: each takes a context out of the pool, and
	 * a fresh one replaces it. */
	ck_assert_msg(wait_requests(already + (size_t)n),
		      "%zu of %d requests arrived while they were held", seen.n_requests - already,
		      n);

	for (int i = n - 1; i >= 0; i--) {
		struct seen_request *request = &seen.requests[already + (size_t)i];
		char reply[48];
		snprintf(reply, sizeof(reply), "reply to %.*s", (int)request->len,
			 (const char *)request->body);
		answer(request, reply, strlen(reply));
	}
	for (int i = 0; i < n; i++) {
		nng_aio_set_timeout(aio[i], WAIT_MS);
		nng_ctx_recv(ctx[i], aio[i]);
		nng_aio_wait(aio[i]);
		ck_assert_int_eq(nng_aio_result(aio[i]), 0);
		nng_msg *msg = nng_aio_get_msg(aio[i]);
		snprintf(text, sizeof(text), "reply to request %d", i);
		ck_assert_uint_eq(nng_msg_len(msg), strlen(text));
		ck_assert(memcmp(nng_msg_body(msg), text, strlen(text)) == 0);
		nng_msg_free(msg);
		nng_ctx_close(ctx[i]);
		nng_aio_free(aio[i]);
	}
	free(aio);
	free(ctx);
}

START_TEST(transport_delivers_more_waiting_requests_than_its_receive_pool_holds)
{
	exchange_held_requests(HELD);
}
END_TEST

START_TEST(transport_keeps_serving_after_retiring_contexts_beyond_its_idle_cache)
{
	/* More replies complete at once than idle contexts are kept: the surplus is closed
	 * and freed (valgrind and ASan watch), and the pool serves on with what is kept. */
	exchange_held_requests(HELD_MANY);
	exchange_held_requests(HELD);
}
END_TEST

/* ---- stopping ------------------------------------------------------------------------------ */

START_TEST(transport_drops_a_reply_sent_after_transport_stop_without_leaking)
{
	nng_socket client = nng_client();
	ck_assert_int_eq(nng_send(client, "late", 4, 0), 0);
	ck_assert(wait_requests(1));
	struct seen_request *request = &seen.requests[0];

	transport_stop(transport);
	/* A buffer replaced by another, then sent: both are freed (valgrind checks). */
	ck_assert(transport_reply_buffer(request->tx, 1000));
	uint8_t *buf = transport_reply_buffer(request->tx, 5);
	ck_assert(buf);
	memcpy(buf, "never", 5);
	request->answered = true;
	transport_reply_send(request->tx);

	char *reply = NULL;
	size_t len = 0;
	ck_assert_int_eq(nng_socket_set_ms(client, NNG_OPT_RECVTIMEO, 300), 0);
	ck_assert_int_ne(nng_recv(client, &reply, &len, NNG_FLAG_ALLOC), 0);
}
END_TEST

START_TEST(transport_stop_twice_is_harmless)
{
	transport_stop(transport);
	transport_stop(transport);
}
END_TEST

/* ---- flushing ------------------------------------------------------------------------------ */

START_TEST(transport_flush_returns_at_once_when_no_reply_is_pending)
{
	int64_t start = test_now_ms();
	transport_flush(transport, 20000);
	ck_assert_int_lt(test_now_ms() - start, 5000);

	/* And after a reply went out. */
	nng_socket client = nng_client();
	ck_assert_int_eq(nng_send(client, "one", 3, 0), 0);
	ck_assert(wait_requests(1));
	answer(&seen.requests[0], "done", 4);
	assert_nng_reply(client, "done");
	start = test_now_ms();
	transport_flush(transport, 20000);
	ck_assert_int_lt(test_now_ms() - start, 5000);
}
END_TEST

/*
 * Two big replies to a raw client that does not read: the first is written into the
 * connection until the socket buffers are full, the second waits behind it, unsent. Returns
 * the client; its two requests have ids 1 and 2.
 */
static struct sp_client *
client_with_a_reply_stuck(uint32_t *pipe_id)
{
	struct sp_client *client = sp_client(pipe_id);
	ck_assert_int_eq(sp_send(client, 1, "first", 5), 0);
	ck_assert_int_eq(sp_send(client, 2, "second", 6), 0);
	ck_assert(wait_requests(2));
	ck_assert_uint_eq(requests_from(*pipe_id), 2);
	answer(&seen.requests[0], NULL, BIG_REPLY);
	answer(&seen.requests[1], NULL, BIG_REPLY);
	return client;
}

/* Read the two big replies of client_with_a_reply_stuck(), whole, one to each request (in
 * the order they were answered, which need not be the order the requests were sent in: the
 * callbacks run on several threads). */
static void
read_stuck_replies(struct sp_client *client)
{
	bool answered[3] = {false};
	for (int n = 0; n < 2; n++) {
		uint32_t id;
		uint8_t *body;
		size_t len;
		int r = sp_recv(client, &id, &body, &len, WAIT_MS);
		ck_assert_msg(r == 0, "reply %d: %s", n + 1, strerror(-r));
		ck_assert_msg((id == 1 || id == 2) && !answered[id], "a reply to request %u", id);
		answered[id] = true;
		ck_assert_uint_eq(len, BIG_REPLY);
		ck_assert(body[0] == 'r' && body[len - 1] == 'r');
		free(body);
	}
}

START_TEST(transport_flush_gives_up_after_its_timeout_when_a_reply_stays_unsent)
{
	uint32_t pipe_id;
	struct sp_client *client = client_with_a_reply_stuck(&pipe_id);
	int64_t start = test_now_ms();
	transport_flush(transport, 300);
	int64_t waited = test_now_ms() - start;
	ck_assert_msg(waited >= 290, "transport_flush returned after %lld ms, with a reply unsent",
		      (long long)waited);
	ck_assert_int_lt(waited, 10000);
	/* Unsent is not lost: the client still gets both replies once it reads. */
	read_stuck_replies(client);
}
END_TEST

struct flush_call {
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	bool done;
};

static void *
flush_thread(void *arg)
{
	struct flush_call *call = arg;
	transport_flush(transport, 60000);
	pthread_mutex_lock(&call->lock);
	call->done = true;
	pthread_cond_broadcast(&call->done_cond);
	pthread_mutex_unlock(&call->lock);
	return NULL;
}

START_TEST(transport_flush_waits_until_a_pending_reply_is_sent)
{
	uint32_t pipe_id;
	struct sp_client *client = client_with_a_reply_stuck(&pipe_id);

	struct flush_call call = {.lock = PTHREAD_MUTEX_INITIALIZER, .done = false};
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&call.done_cond, &attr);
	pthread_condattr_destroy(&attr);
	pthread_t thread;
	ck_assert_int_eq(pthread_create(&thread, NULL, flush_thread, &call), 0);

	test_sleep_ms(200);
	pthread_mutex_lock(&call.lock);
	bool returned_early = call.done;
	pthread_mutex_unlock(&call.lock);

	read_stuck_replies(client);

	/* Well inside its 60 s: it returned because the replies went out. */
	struct timespec deadline;
	test_deadline_after_ms(&deadline, WAIT_MS);
	pthread_mutex_lock(&call.lock);
	int r = 0;
	while (!call.done && r == 0)
		r = pthread_cond_timedwait(&call.done_cond, &call.lock, &deadline);
	bool returned = call.done;
	pthread_mutex_unlock(&call.lock);
	ck_assert_msg(returned, "transport_flush still waits after the replies were read");
	pthread_join(thread, NULL);
	pthread_cond_destroy(&call.done_cond);
	ck_assert_msg(!returned_early, "transport_flush returned while a reply was unsent");
}
END_TEST

/* ---- limits -------------------------------------------------------------------------------- */

START_TEST(transport_drops_a_connection_whose_request_exceeds_the_maximum_size)
{
	uint32_t big_pipe, small_pipe;
	struct sp_client *big = sp_client(&big_pipe);
	struct sp_client *small = sp_client(&small_pipe);

	/* Under the limit first: delivered. */
	ck_assert_int_eq(sp_send(big, 1, "small", 5), 0);
	struct seen_request *request = wait_request_from(big_pipe);
	ck_assert(request);
	answer(request, "ok", 2);
	assert_sp_reply(big, 1, "ok");

	/* Over it: the connection is dropped and the request never delivered. The body may
	 * not all be written before the server hangs up: any result of the send will do. */
	size_t len = 2 * MAX_MESSAGE_SIZE;
	uint8_t *body = malloc(len);
	ck_assert(body);
	memset(body, 'x', len);
	(void)sp_send(big, 2, body, len);
	free(body);
	ck_assert_msg(sp_wait_closed(big, WAIT_MS), "the connection stayed open");
	ck_assert(wait_removed(big_pipe, WAIT_MS));
	ck_assert_uint_eq(requests_from(big_pipe), 1);

	/* Another client is served as before. */
	ck_assert_int_eq(sp_send(small, 9, "after", 5), 0);
	request = wait_request_from(small_pipe);
	ck_assert(request);
	answer(request, "served", 6);
	assert_sp_reply(small, 9, "served");
}
END_TEST

START_TEST(transport_closes_a_connection_that_does_not_read_its_replies_in_time)
{
	stop_transport();
	reset_seen();
	struct transport_config config = default_config;
	config.reply_timeout_ms = 300;
	start_transport(&config);

	uint32_t pipe_id;
	(void)client_with_a_reply_stuck(&pipe_id);
	ck_assert_msg(wait_removed(pipe_id, WAIT_MS),
		      "a client that reads no replies kept its connection");
	/* The reply that timed out was dropped with its connection: nothing is pending. */
	int64_t start = test_now_ms();
	transport_flush(transport, 20000);
	ck_assert_int_lt(test_now_ms() - start, 5000);
}
END_TEST

static Suite *
transport_suite(void)
{
	Suite *s = suite_create("transport");
	TCase *tc = tcase_create("transport");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, transport_delivers_a_request_and_its_reply_reaches_the_client);
	tcase_add_test(tc, transport_tells_connections_apart_by_pipe_id);
	tcase_add_test(tc, transport_announces_a_peer_with_its_credentials_and_its_removal);
	tcase_add_test(tc, transport_does_not_announce_a_peer_of_its_own_process_but_serves_it);
	tcase_add_test(tc, transport_disconnect_closes_only_that_client_connection);
	tcase_add_test(tc, transport_delivers_more_waiting_requests_than_its_receive_pool_holds);
	tcase_add_test(tc, transport_keeps_serving_after_retiring_contexts_beyond_its_idle_cache);
	tcase_add_test(tc, transport_drops_a_reply_sent_after_transport_stop_without_leaking);
	tcase_add_test(tc, transport_stop_twice_is_harmless);
	tcase_add_test(tc, transport_flush_returns_at_once_when_no_reply_is_pending);
	tcase_add_test(tc, transport_flush_gives_up_after_its_timeout_when_a_reply_stays_unsent);
	tcase_add_test(tc, transport_flush_waits_until_a_pending_reply_is_sent);
	tcase_add_test(tc, transport_drops_a_connection_whose_request_exceeds_the_maximum_size);
	tcase_add_test(tc, transport_closes_a_connection_that_does_not_read_its_replies_in_time);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(transport_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
