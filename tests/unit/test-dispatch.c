/*
 * Unit tests of server/dispatch.c, in-process and deterministic: the test puts together the
 * state dispatch works on (a configuration in code, the session and handle tables, a reactor
 * that is never run) with no transport, no listener and no other thread, and dispatch
 * answers through a reply sink that records each reply. A "connection" is a pipe id of the
 * test's; its requests are packed protobuf, decoded as the daemon decodes them, and handed
 * to dispatch_request() on this thread, so that every reply a request gets at once is
 * recorded when the call returns, and "no further reply" is an empty queue, not a wait.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "daemon.h"
#include "dispatch.h"
#include "handle.h"
#include "idmap.h"
#include "quota.h"
#include "reactor.h"
#include "session.h"
#include "sockbroker.pb-c.h"
#include "wire.h"

/* Room the daemon leaves in a message for the envelope around a payload (daemon.c). */
#define ENVELOPE_ROOM 4096
#define MAX_REPLIES 64

typedef Sockbroker__V1__Request Request;
typedef Sockbroker__V1__Reply Reply;

/* ---- the reply sink ------------------------------------------------------------------------ */

/* One request being answered: what the sink is handed as `tx`. */
struct tx {
	uint32_t conn;
	uint32_t id; /* the request's SP id, as the transport would keep it */
	uint8_t *buf;
	size_t len;
};

static struct {
	uint32_t conn, id;
	Reply *reply; /* NULL: an empty reply */
} replies[MAX_REPLIES];
static size_t n_replies;
static uint32_t disconnected; /* the last connection the sink was told to end */

static void *
sink_buffer(void *userdata, struct tx *tx, size_t len)
{
	free(tx->buf);
	tx->buf = malloc(len ? len : 1);
	tx->len = len;
	return tx->buf;
}

static void
sink_send(void *userdata, struct tx *tx)
{
	ck_assert_uint_lt(n_replies, MAX_REPLIES);
	replies[n_replies].conn = tx->conn;
	replies[n_replies].id = tx->id;
	replies[n_replies].reply = tx->buf ? sockbroker__v1__reply__unpack(NULL, tx->len, tx->buf)
					   : NULL;
	ck_assert_msg(!tx->buf || replies[n_replies].reply,
		      "a reply (%zu bytes) that is not a sockbroker.v1.Reply", tx->len);
	n_replies++;
	free(tx->buf);
	free(tx);
}

static void
sink_disconnect(void *userdata, uint32_t conn)
{
	disconnected = conn;
}

static bool
sink_can_pass_fds(void *userdata, const struct tx *tx)
{
	return false;
}

static void
sink_attach_fd(void *userdata, struct tx *tx, int fd)
{
	ck_abort_msg("a descriptor attached to a reply that cannot carry one");
}

/* ---- allocation failures on demand -------------------------------------------------------- */

/* The test links with --wrap=idmap_put,--wrap=reactor_timer_arm: dispatch's calls come here,
 * and fail with ENOMEM while the count for them is not zero. */
static unsigned fail_idmap_put, fail_timer_arm;

int __real_idmap_put(struct idmap *map, uint64_t id, void *value);
int __wrap_idmap_put(struct idmap *map, uint64_t id, void *value);
int __real_reactor_timer_arm(struct reactor *reactor, struct reactor_timer *timer,
			     uint64_t deadline_ns);
int __wrap_reactor_timer_arm(struct reactor *reactor, struct reactor_timer *timer,
			     uint64_t deadline_ns);

int
__wrap_idmap_put(struct idmap *map, uint64_t id, void *value)
{
	if (fail_idmap_put) {
		fail_idmap_put--;
		return -ENOMEM;
	}
	return __real_idmap_put(map, id, value);
}

int
__wrap_reactor_timer_arm(struct reactor *reactor, struct reactor_timer *timer,
			 uint64_t deadline_ns)
{
	if (fail_timer_arm) {
		fail_timer_arm--;
		return -ENOMEM;
	}
	return __real_reactor_timer_arm(reactor, timer, deadline_ns);
}

/* ---- what dispatch works on ---------------------------------------------------------------- */

static struct config config;
static struct daemon state;

static void
setup(void)
{
	char err[512] = "";
	/* Everything allowed: these tests are about dispatch, not the policy. */
	static const char json[] =
		"{\"limits\": {\"max_message_size\": 65536}, "
		"\"policy\": {\"rules\": [{\"name\": \"tests-allow-all\", \"allow\": true}]}}";

	config_init(&config);
	int r = config_load_string(&config, json, "test", err, sizeof(err));
	ck_assert_msg(r == 0, "%s", err);
	ck_assert_msg(config_validate(&config, err, sizeof(err)) == 0, "%s", err);

	memset(&state, 0, sizeof(state));
	state.config = &config;
	state.policy = config.policy;
	state.limits.max_data_size = config.max_message_size - ENVELOPE_ROOM;
	session_table_init(&state.sessions);
	quota_table_init(&state.quotas);
	budget_init(&state.budget, config.memory_per_identity, config.memory_total);
	ck_assert_int_eq(reactor_new(&state.reactor), 0);
	handle_table_init(&state.handles, state.reactor, dispatch_handle_ready);
	state.scratch_len = state.limits.max_data_size;
	state.scratch = malloc(state.scratch_len);
	ck_assert_ptr_nonnull(state.scratch);
	state.sink = (struct reply_sink){
		.buffer = sink_buffer,
		.send = sink_send,
		.disconnect = sink_disconnect,
		.can_pass_fds = sink_can_pass_fds,
		.attach_fd = sink_attach_fd,
	};
	dispatch_context_init(&state);
	n_replies = 0;
	disconnected = 0;
	fail_idmap_put = fail_timer_arm = 0;
}

static void
teardown(void)
{
	dispatch_end_all_sessions(&state);
	reactor_drain(state.reactor);
	handle_table_fini(&state.handles);
	session_table_fini(&state.sessions);
	quota_table_fini(&state.quotas);
	budget_fini(&state.budget);
	reactor_free(state.reactor);
	free(state.scratch);
	for (size_t i = 0; i < n_replies; i++)
		if (replies[i].reply)
			sockbroker__v1__reply__free_unpacked(replies[i].reply, NULL);
	n_replies = 0;
	config_fini(&config);
}

/* ---- connections and requests -------------------------------------------------------------- */

/* A connection from a local process, as the transport would add it. */
static uint32_t
connect_client(uint32_t conn)
{
	struct peer_identity identity = { .has_credentials = true, .uid = 1000, .gid = 1000,
					  .pid = 4242, .transport = POLICY_TRANSPORT_IPC };

	snprintf(identity.peer, sizeof(identity.peer), "ipc");
	dispatch_session_added(&state, conn, &identity);
	ck_assert_ptr_nonnull(session_find(&state.sessions, conn));
	return conn;
}

/* What the daemon does with a request's bytes (daemon.c): decode, then dispatch. */
static void
send_bytes(uint32_t conn, uint32_t id, const uint8_t *buf, size_t len)
{
	struct tx *tx = calloc(1, sizeof(*tx));
	struct request *request;
	struct wire_error error;

	ck_assert_ptr_nonnull(tx);
	tx->conn = conn;
	tx->id = id;
	if (wire_decode_request(buf, len, &state.limits, &request, &error) < 0) {
		dispatch_reply_bad_request(&state, tx, &error);
		return;
	}
	dispatch_request(&state, tx, conn, request);
}

static void
send_request(uint32_t conn, uint32_t id, const Request *request)
{
	size_t len = sockbroker__v1__request__get_packed_size(request);
	uint8_t *buf = malloc(len ? len : 1);

	ck_assert(buf);
	sockbroker__v1__request__pack(request, buf);
	send_bytes(conn, id, buf, len);
	free(buf);
}

/* The first recorded reply to connection `conn`, taken off the record (*id says which
 * request it answers). Free it with free_reply(). */
static Reply *
next_reply(uint32_t conn, uint32_t *id)
{
	for (size_t i = 0; i < n_replies; i++) {
		if (replies[i].conn != conn)
			continue;
		Reply *reply = replies[i].reply;
		*id = replies[i].id;
		memmove(&replies[i], &replies[i + 1], (n_replies - i - 1) * sizeof(replies[0]));
		n_replies--;
		ck_assert_msg(reply, "request %u got an empty reply", *id);
		return reply;
	}
	ck_abort_msg("connection %u has no reply", conn);
	return NULL;
}

static void
free_reply(Reply *reply)
{
	sockbroker__v1__reply__free_unpacked(reply, NULL);
}

/* Send and take the reply to this request. */
static Reply *
call(uint32_t conn, uint32_t id, const Request *request)
{
	uint32_t reply_id;
	send_request(conn, id, request);
	Reply *reply = next_reply(conn, &reply_id);
	ck_assert_uint_eq(reply_id, id);
	return reply;
}

static void
assert_no_reply(uint32_t conn)
{
	for (size_t i = 0; i < n_replies; i++)
		ck_assert_msg(replies[i].conn != conn, "an unexpected reply (to request %u)",
			      replies[i].id);
}

static void
assert_error(const Reply *reply, Sockbroker__V1__ErrorKind kind, const char *errno_name)
{
	ck_assert_msg(reply->error, "the reply is not an error");
	ck_assert_int_eq(reply->error->kind, kind);
	ck_assert_str_eq(reply->error->errno_name, errno_name);
	ck_assert(reply->error->message && reply->error->message[0]);
}

/* A connection that has said Hello (without a seq). */
static uint32_t
client_with_hello(uint32_t conn)
{
	connect_client(conn);

	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HelloRequest hello = SOCKBROKER__V1__HELLO_REQUEST__INIT;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HELLO;
	request.hello = &hello;
	Reply *reply = call(conn, 1000, &request);
	ck_assert_msg(!reply->error, "Hello failed: %s", reply->error->message);
	ck_assert_int_eq(reply->result_case, SOCKBROKER__V1__REPLY__RESULT_HELLO);
	free_reply(reply);
	return conn;
}

/* socket(AF_INET, SOCK_STREAM) with `seq` (0: none); returns the handle. */
static uint64_t
open_socket(uint32_t conn, uint32_t id, uint64_t seq)
{
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SocketRequest socket_request = SOCKBROKER__V1__SOCKET_REQUEST__INIT;
	request.has_seq = seq != 0;
	request.seq = seq;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SOCKET;
	request.socket = &socket_request;
	socket_request.has_family = true;
	socket_request.family = AF_INET;
	socket_request.has_type = true;
	socket_request.type = SOCK_STREAM;
	Reply *reply = call(conn, id, &request);
	ck_assert_msg(!reply->error, "socket failed: %s", reply->error->message);
	ck_assert_int_eq(reply->result_case, SOCKBROKER__V1__REPLY__RESULT_SOCKET);
	uint64_t handle = reply->socket->handle;
	ck_assert_uint_ne(handle, 0);
	free_reply(reply);
	return handle;
}

static void
send_has_ipv6(uint32_t conn, uint32_t id, uint64_t seq)
{
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__Empty empty = SOCKBROKER__V1__EMPTY__INIT;
	request.has_seq = seq != 0;
	request.seq = seq;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HAS_IPV6;
	request.has_ipv6 = &empty;
	send_request(conn, id, &request);
}

/* A socketpair (request `id`, and `id` again for settimeout when `timeout` > 0: the socket
 * in timeout mode), then a recv (request id + 1, with `seq`; 0: none) on its first socket,
 * which has nothing to read: it would wait. `*failures` (when not NULL) is set to 1 just
 * before the recv goes. Returns the recv's request id. */
static uint32_t
send_waiting_recv(uint32_t conn, uint32_t id, uint64_t seq, double timeout, unsigned *failures)
{
	Request pair = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SocketPairRequest pair_args = SOCKBROKER__V1__SOCKET_PAIR_REQUEST__INIT;
	pair.op_case = SOCKBROKER__V1__REQUEST__OP_SOCKETPAIR;
	pair.socketpair = &pair_args;
	Reply *reply = call(conn, id, &pair);
	ck_assert_msg(!reply->error, "socketpair: %s", reply->error->message);
	ck_assert_int_eq(reply->result_case, SOCKBROKER__V1__REPLY__RESULT_SOCKETPAIR);
	uint64_t handle = reply->socketpair->first->handle;
	free_reply(reply);

	if (timeout > 0) {
		Request set = SOCKBROKER__V1__REQUEST__INIT;
		Sockbroker__V1__SetTimeoutRequest set_args =
			SOCKBROKER__V1__SET_TIMEOUT_REQUEST__INIT;
		set.op_case = SOCKBROKER__V1__REQUEST__OP_SETTIMEOUT;
		set.settimeout = &set_args;
		set_args.has_handle = true;
		set_args.handle = handle;
		set_args.has_timeout = true;
		set_args.timeout = timeout;
		reply = call(conn, id, &set);
		ck_assert_msg(!reply->error, "settimeout: %s", reply->error->message);
		free_reply(reply);
	}

	Request recv_request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__RecvRequest recv_args = SOCKBROKER__V1__RECV_REQUEST__INIT;
	recv_request.has_seq = seq != 0;
	recv_request.seq = seq;
	recv_request.op_case = SOCKBROKER__V1__REQUEST__OP_RECV;
	recv_request.recv = &recv_args;
	recv_args.has_handle = true;
	recv_args.handle = handle;
	recv_args.has_bufsize = true;
	recv_args.bufsize = 64;
	if (failures)
		*failures = 1;
	send_request(conn, id + 1, &recv_request);
	return id + 1;
}

/* A socketpair (request `id`), then a blocking recv on its first socket (request id + 1,
 * with `seq`; 0: none), which has nothing to read: it parks. */
static void
park_a_recv(uint32_t conn, uint32_t id, uint64_t seq)
{
	send_waiting_recv(conn, id, seq, 0, NULL);
	assert_no_reply(conn);
	ck_assert_uint_eq(session_find(&state.sessions, conn)->n_parked, 1);
}

/* ---- one reply per request ----------------------------------------------------------------- */

enum expected { EXPECT_OK, EXPECT_BAD_REQUEST, EXPECT_BAD_HANDLE };

#define BURST 36
#define BURST_FIRST_ID 100

/* Request i of the burst (i % 6 says which kind) in *request, with its expected answer. */
static enum expected
burst_request(int i, uint64_t seq, Request *request, Sockbroker__V1__Empty *empty,
	      Sockbroker__V1__HandleRequest *handle, Sockbroker__V1__CmsgSizeRequest *cmsg)
{
	request->has_seq = true;
	request->seq = seq;
	switch (i % 6) {
	case 1:
		request->op_case = SOCKBROKER__V1__REQUEST__OP_HAS_IPV6;
		request->has_ipv6 = empty;
		return EXPECT_OK;
	case 2: /* no operation at all */
		return EXPECT_BAD_REQUEST;
	case 3:
		request->op_case = SOCKBROKER__V1__REQUEST__OP_GETSOCKNAME;
		request->getsockname = handle;
		handle->has_handle = true;
		handle->handle = 424242;
		return EXPECT_BAD_HANDLE;
	case 4: /* cmsg_size.length is required */
		request->op_case = SOCKBROKER__V1__REQUEST__OP_CMSG_SIZE;
		request->cmsg_size = cmsg;
		return EXPECT_BAD_REQUEST;
	default:
		request->op_case = SOCKBROKER__V1__REQUEST__OP_CMSG_SIZE;
		request->cmsg_size = cmsg;
		cmsg->has_length = true;
		cmsg->length = 8;
		return EXPECT_OK;
	}
}

START_TEST(dispatch_answers_each_request_of_a_mixed_burst_exactly_once)
{
	uint32_t client = client_with_hello(1);
	static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					  0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	enum expected expected[BURST];
	uint64_t expected_seq[BURST];
	uint64_t seq = 0;

	/* Good and malformed requests, sequenced ones among them, all sent before any reply is
	 * read. A malformed request with a readable seq must still take its turn. */
	for (int i = 0; i < BURST; i++) {
		Request request = SOCKBROKER__V1__REQUEST__INIT;
		Sockbroker__V1__Empty empty = SOCKBROKER__V1__EMPTY__INIT;
		Sockbroker__V1__HandleRequest handle = SOCKBROKER__V1__HANDLE_REQUEST__INIT;
		Sockbroker__V1__CmsgSizeRequest cmsg = SOCKBROKER__V1__CMSG_SIZE_REQUEST__INIT;
		uint32_t id = BURST_FIRST_ID + (uint32_t)i;

		if (i % 6 == 0) {
			send_bytes(client, id, garbage, sizeof(garbage));
			expected[i] = EXPECT_BAD_REQUEST;
			expected_seq[i] = 0;
			continue;
		}
		expected_seq[i] = ++seq;
		expected[i] = burst_request(i, seq, &request, &empty, &handle, &cmsg);
		send_request(client, id, &request);
	}

	bool answered[BURST] = {false};
	for (int n = 0; n < BURST; n++) {
		uint32_t id;
		Reply *reply = next_reply(client, &id);
		ck_assert_msg(id >= BURST_FIRST_ID && id < BURST_FIRST_ID + BURST,
			      "a reply to request %u, which was never sent", id);
		int i = (int)(id - BURST_FIRST_ID);
		ck_assert_msg(!answered[i], "request %u was answered twice", id);
		answered[i] = true;
		ck_assert_uint_eq(reply->seq, expected_seq[i]);
		switch (expected[i]) {
		case EXPECT_OK:
			ck_assert_msg(!reply->error, "request %u: %s", id, reply->error->message);
			ck_assert_int_eq(reply->result_case,
					 i % 6 == 1 ? SOCKBROKER__V1__REPLY__RESULT_FLAG
						    : SOCKBROKER__V1__REPLY__RESULT_CMSG_SIZE);
			break;
		case EXPECT_BAD_REQUEST:
			assert_error(reply, SOCKBROKER__V1__ERROR_KIND__BAD_REQUEST, "EINVAL");
			break;
		case EXPECT_BAD_HANDLE:
			assert_error(reply, SOCKBROKER__V1__ERROR_KIND__BAD_HANDLE, "EBADF");
			break;
		}
		free_reply(reply);
	}
	assert_no_reply(client);
}
END_TEST

START_TEST(dispatch_answers_an_unknown_operation_with_bad_request)
{
	uint32_t client = client_with_hello(1);
	/* What a newer client would send: seq 1, then an operation in a field this daemon
	 * does not know (field 120, an empty message). */
	static const uint8_t newer_op[] = {0x08, 0x01, 0xc2, 0x07, 0x00};
	send_bytes(client, 1, newer_op, sizeof(newer_op));
	uint32_t id;
	Reply *reply = next_reply(client, &id);
	ck_assert_uint_eq(id, 1);
	ck_assert_uint_eq(reply->seq, 1);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__BAD_REQUEST, "EINVAL");
	ck_assert_msg(strstr(reply->error->message, "no operation"), "message: %s",
		      reply->error->message);
	free_reply(reply);

	/* The session goes on, and seq 1 took its turn: seq 2 runs at once. */
	send_has_ipv6(client, 2, 2);
	reply = next_reply(client, &id);
	ck_assert_uint_eq(id, 2);
	ck_assert(!reply->error);
	ck_assert_int_eq(reply->result_case, SOCKBROKER__V1__REPLY__RESULT_FLAG);
	free_reply(reply);
}
END_TEST

START_TEST(dispatch_answers_a_request_before_hello_with_bad_request_eproto)
{
	uint32_t client = connect_client(1);
	uint32_t id;

	send_has_ipv6(client, 1, 0);
	Reply *reply = next_reply(client, &id);
	ck_assert_uint_eq(id, 1);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__BAD_REQUEST, "EPROTO");
	free_reply(reply);
}
END_TEST

/* ---- ordering ------------------------------------------------------------------------------ */

START_TEST(dispatch_runs_a_connections_requests_in_arrival_order_whatever_their_seq)
{
	uint32_t client = client_with_hello(1);
	uint64_t handle = open_socket(client, 1, 1);

	Request set = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SetTimeoutRequest set_args = SOCKBROKER__V1__SET_TIMEOUT_REQUEST__INIT;
	set.has_seq = true;
	set.seq = 9;
	set.op_case = SOCKBROKER__V1__REQUEST__OP_SETTIMEOUT;
	set.settimeout = &set_args;
	set_args.has_handle = true;
	set_args.handle = handle;
	set_args.has_timeout = true;
	set_args.timeout = 2.5;

	Request get = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HandleRequest get_args = SOCKBROKER__V1__HANDLE_REQUEST__INIT;
	get.has_seq = true;
	get.seq = 4;
	get.op_case = SOCKBROKER__V1__REQUEST__OP_GETTIMEOUT;
	get.gettimeout = &get_args;
	get_args.has_handle = true;
	get_args.handle = handle;

	/* Sent back to back: the lower seq must not overtake the request before it. */
	send_request(client, 2, &set);
	send_request(client, 3, &get);

	uint32_t id;
	Reply *reply = next_reply(client, &id);
	ck_assert_msg(id == 2, "the reply to request %u came first", id);
	ck_assert_msg(!reply->error, "settimeout: %s", reply->error->message);
	ck_assert_uint_eq(reply->seq, 9);
	free_reply(reply);

	reply = next_reply(client, &id);
	ck_assert_uint_eq(id, 3);
	ck_assert_msg(!reply->error, "gettimeout: %s", reply->error->message);
	ck_assert_uint_eq(reply->seq, 4);
	ck_assert_int_eq(reply->result_case, SOCKBROKER__V1__REPLY__RESULT_TIMEOUT);
	ck_assert_msg(reply->timeout->has_timeout, "gettimeout ran before settimeout");
	ck_assert(reply->timeout->timeout == 2.5);
	free_reply(reply);
}
END_TEST

/* ---- sessions ------------------------------------------------------------------------------ */

static Reply *
getsockname_call(uint32_t conn, uint32_t id, uint64_t handle)
{
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HandleRequest args = SOCKBROKER__V1__HANDLE_REQUEST__INIT;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETSOCKNAME;
	request.getsockname = &args;
	args.has_handle = true;
	args.handle = handle;
	return call(conn, id, &request);
}

START_TEST(dispatch_answers_bad_handle_for_a_handle_of_another_session)
{
	uint32_t owner = client_with_hello(1);
	uint32_t other = client_with_hello(2);
	uint64_t handle = open_socket(owner, 1, 0);

	Reply *reply = getsockname_call(other, 1, handle);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__BAD_HANDLE, "EBADF");
	free_reply(reply);

	Request close_request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HandleRequest close_args = SOCKBROKER__V1__HANDLE_REQUEST__INIT;
	close_request.op_case = SOCKBROKER__V1__REQUEST__OP_CLOSE;
	close_request.close = &close_args;
	close_args.has_handle = true;
	close_args.handle = handle;
	reply = call(other, 2, &close_request);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__BAD_HANDLE, "EBADF");
	free_reply(reply);

	/* The owner's handle is untouched by the other session's attempts. */
	reply = getsockname_call(owner, 2, handle);
	ck_assert_msg(!reply->error, "getsockname: %s", reply->error->message);
	ck_assert_int_eq(reply->result_case, SOCKBROKER__V1__REPLY__RESULT_ADDRESS);
	free_reply(reply);
}
END_TEST

/* ---- stopping ------------------------------------------------------------------------------ */

START_TEST(dispatch_stopping_answers_a_parked_recv_before_the_session_ends)
{
	uint32_t client = client_with_hello(1);
	uint32_t id;

	park_a_recv(client, 1, 0);

	/* What daemon_run() does once its loop returns. */
	state.stopping = true;
	dispatch_end_all_sessions(&state);

	Reply *reply = next_reply(client, &id);
	ck_assert_uint_eq(id, 2);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__OS, "ECONNRESET");
	ck_assert_msg(strstr(reply->error->message, "daemon is stopping"), "message: %s",
		      reply->error->message);
	free_reply(reply);
	ck_assert_ptr_null(session_find(&state.sessions, client));
	ck_assert_uint_eq(state.handles.count, 0);
}
END_TEST

START_TEST(dispatch_ends_a_session_that_disconnects_with_operations_waiting)
{
	uint32_t leaving = client_with_hello(1);
	uint32_t id;

	/* A parked recv: the session's end answers it (to nobody) and frees it; valgrind and
	 * ASan check that nothing leaks. */
	park_a_recv(leaving, 1, 0);
	send_has_ipv6(leaving, 3, 0);
	Reply *reply = next_reply(leaving, &id);
	ck_assert_uint_eq(id, 3);
	free_reply(reply);
	dispatch_session_removed(&state, leaving);

	reply = next_reply(leaving, &id);
	ck_assert_uint_eq(id, 2);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__OS, "ECONNRESET");
	free_reply(reply);
	ck_assert_ptr_null(session_find(&state.sessions, leaving));
	ck_assert_uint_eq(state.handles.count, 0);

	/* Dispatch serves on. */
	uint32_t other = client_with_hello(2);
	send_has_ipv6(other, 1, 0);
	reply = next_reply(other, &id);
	ck_assert_uint_eq(id, 1);
	ck_assert_msg(!reply->error, "has_ipv6: %s", reply->error->message);
	free_reply(reply);
}
END_TEST

START_TEST(dispatch_cancel_answers_the_parked_op_and_then_itself)
{
	uint32_t client = client_with_hello(1);
	uint32_t id;

	/* The recv parks with seq 7; Cancel names it. */
	park_a_recv(client, 1, 7);

	Request cancel = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__CancelRequest cancel_args = SOCKBROKER__V1__CANCEL_REQUEST__INIT;
	cancel.op_case = SOCKBROKER__V1__REQUEST__OP_CANCEL;
	cancel.cancel = &cancel_args;
	cancel_args.has_target_seq = true;
	cancel_args.target_seq = 7;
	send_request(client, 3, &cancel);

	Reply *reply = next_reply(client, &id);
	ck_assert_uint_eq(id, 2);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__CANCELLED, "ECANCELED");
	free_reply(reply);
	reply = next_reply(client, &id);
	ck_assert_uint_eq(id, 3);
	ck_assert_msg(!reply->error, "cancel: %s", reply->error->message);
	free_reply(reply);
	ck_assert_uint_eq(session_find(&state.sessions, client)->n_parked, 0);
}
END_TEST


/* ---- out of memory to wait --------------------------------------------------------------- */

/* The op that cannot be kept waiting is answered ENOMEM at once, nothing of it stays parked,
 * and the same seq parks on the next try. */
static void
check_enomem_to_wait(unsigned *failures, double timeout)
{
	uint32_t client = client_with_hello(1);
	uint32_t reply_id;

	uint32_t id = send_waiting_recv(client, 10, 7, timeout, failures);
	Reply *reply = next_reply(client, &reply_id);
	ck_assert_uint_eq(reply_id, id);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__OS, "ENOMEM");
	ck_assert_msg(strstr(reply->error->message, "out of memory"), "message: %s",
		      reply->error->message);
	free_reply(reply);
	struct session *session = session_find(&state.sessions, client);
	ck_assert_uint_eq(session->n_parked, 0);
	ck_assert_ptr_null(idmap_get(&session->parked_by_seq, 7)); /* Cancel finds nothing */
	ck_assert_uint_eq(fail_idmap_put + fail_timer_arm, 0);

	/* Memory is back: the same seq is free and the recv waits. */
	send_waiting_recv(client, 20, 7, timeout, NULL);
	assert_no_reply(client);
	ck_assert_uint_eq(session->n_parked, 1);
}

START_TEST(dispatch_answers_enomem_when_the_seq_table_cannot_grow)
{
	check_enomem_to_wait(&fail_idmap_put, 0);
}
END_TEST

START_TEST(dispatch_answers_enomem_when_the_deadline_cannot_be_armed)
{
	check_enomem_to_wait(&fail_timer_arm, 30.0);
}
END_TEST

static Suite *
dispatch_suite(void)
{
	Suite *s = suite_create("dispatch");
	TCase *tc = tcase_create("dispatch");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, dispatch_answers_each_request_of_a_mixed_burst_exactly_once);
	tcase_add_test(tc, dispatch_answers_an_unknown_operation_with_bad_request);
	tcase_add_test(tc, dispatch_answers_a_request_before_hello_with_bad_request_eproto);
	tcase_add_test(tc, dispatch_runs_a_connections_requests_in_arrival_order_whatever_their_seq);
	tcase_add_test(tc, dispatch_answers_bad_handle_for_a_handle_of_another_session);
	tcase_add_test(tc, dispatch_ends_a_session_that_disconnects_with_operations_waiting);
	tcase_add_test(tc, dispatch_stopping_answers_a_parked_recv_before_the_session_ends);
	tcase_add_test(tc, dispatch_cancel_answers_the_parked_op_and_then_itself);
	tcase_add_test(tc, dispatch_answers_enomem_when_the_seq_table_cannot_grow);
	tcase_add_test(tc, dispatch_answers_enomem_when_the_deadline_cannot_be_armed);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(dispatch_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
