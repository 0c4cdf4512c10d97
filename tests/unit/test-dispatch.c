/*
 * Unit tests of server/dispatch.c, in-process: a daemon built with daemon_new() from a
 * configuration in code listens on an ipc:// path in a fresh temporary directory, runs
 * daemon_run() on its own thread, and is stopped with daemon_stop() from the test thread.
 * Clients send raw protobuf requests through raw SP connections made from a child process
 * (tests/support/sp.h): the transport makes no session for a connection from its own
 * process. Every wait is bounded.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "clock.h"
#include "daemon.h"
#include "sockbroker.pb-c.h"
#include "sp.h"

#define WAIT_MS 10000
#define QUIET_MS 300 /* how long "no further reply" is watched for */
#define GAP_MS 250   /* how long dispatch waits for a missing seq (GAP_TIMEOUT_NS) */
#define MAX_CLIENTS 8

typedef Sockbroker__V1__Request Request;
typedef Sockbroker__V1__Reply Reply;

/* ---- the daemon under test ----------------------------------------------------------------- */

static struct config config;
static struct daemon *daemon_under_test;
static char dir[64];
static char url[128];

static pthread_t daemon_thread;
static bool daemon_running;
static struct {
	pthread_mutex_t lock;
	pthread_cond_t returned_cond; /* with lock, CLOCK_MONOTONIC */
	bool returned;
	int result; /* daemon_run()'s */
} run = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct sp_client clients[MAX_CLIENTS];
static size_t n_clients;

static void *
run_daemon(void *arg)
{
	int r = daemon_run(arg);
	pthread_mutex_lock(&run.lock);
	run.result = r;
	run.returned = true;
	pthread_cond_broadcast(&run.returned_cond);
	pthread_mutex_unlock(&run.lock);
	return NULL;
}

/* daemon_stop() from this thread; daemon_run() must return within WAIT_MS. Returns its
 * result. */
static int
stop_daemon(void)
{
	struct timespec deadline;
	ck_assert(daemon_running);
	daemon_stop(daemon_under_test);
	test_deadline_after_ms(&deadline, WAIT_MS);
	pthread_mutex_lock(&run.lock);
	int r = 0;
	while (!run.returned && r == 0)
		r = pthread_cond_timedwait(&run.returned_cond, &run.lock, &deadline);
	bool returned = run.returned;
	int result = run.result;
	pthread_mutex_unlock(&run.lock);
	ck_assert_msg(returned, "daemon_run() did not return within %d ms of daemon_stop()",
		      WAIT_MS);
	pthread_join(daemon_thread, NULL);
	daemon_running = false;
	return result;
}

static void
setup(void)
{
	char err[512] = "";
	char json[512];

	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&run.returned_cond, &attr);
	pthread_condattr_destroy(&attr);
	run.returned = false;
	n_clients = 0;

	snprintf(dir, sizeof(dir), "/tmp/sockbroker-dispatch-XXXXXX");
	ck_assert_msg(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(url, sizeof(url), "ipc://%s/sockbroker.sock", dir);
	/* Everything allowed: these tests are about dispatch, not the policy. */
	snprintf(json, sizeof(json),
		 "{\"listen\": [\"%s\"], \"limits\": {\"max_message_size\": 65536}, "
		 "\"policy\": {\"rules\": [{\"name\": \"tests-allow-all\", \"allow\": true}]}}",
		 url);
	config_init(&config);
	int r = config_load_string(&config, json, "test", err, sizeof(err));
	ck_assert_msg(r == 0, "%s", err);
	ck_assert_msg(config_validate(&config, err, sizeof(err)) == 0, "%s", err);
	r = daemon_new(&daemon_under_test, &config, NULL, err, sizeof(err));
	ck_assert_msg(r == 0, "daemon_new: %s", err);
	ck_assert_int_eq(pthread_create(&daemon_thread, NULL, run_daemon, daemon_under_test), 0);
	daemon_running = true;
}

static void
teardown(void)
{
	if (daemon_running)
		ck_assert_int_eq(stop_daemon(), 0);
	for (size_t i = 0; i < n_clients; i++)
		sp_close(&clients[i]);
	n_clients = 0;
	daemon_free(daemon_under_test);
	daemon_under_test = NULL;
	config_fini(&config);
	char path[sizeof(url)];
	snprintf(path, sizeof(path), "%s", url + 6);
	unlink(path);
	rmdir(dir);
	pthread_cond_destroy(&run.returned_cond);
}

/* ---- raw requests -------------------------------------------------------------------------- */

static void
send_request(struct sp_client *client, uint32_t id, const Request *request)
{
	size_t len = sockbroker__v1__request__get_packed_size(request);
	uint8_t *buf = malloc(len ? len : 1);
	ck_assert(buf);
	sockbroker__v1__request__pack(request, buf);
	int r = sp_send(client, id, buf, len);
	free(buf);
	ck_assert_msg(r == 0, "send: %s", strerror(-r));
}

/* The next reply, whichever request it answers (*id says). Free it with free_reply(). */
static Reply *
next_reply(struct sp_client *client, uint32_t *id)
{
	uint8_t *body;
	size_t len;
	int r = sp_recv(client, id, &body, &len, WAIT_MS);
	ck_assert_msg(r == 0, "no reply within %d ms: %s", WAIT_MS, strerror(-r));
	Reply *reply = sockbroker__v1__reply__unpack(NULL, len, body);
	free(body);
	ck_assert_msg(reply, "a reply (%zu bytes) that is not a sockbroker.v1.Reply", len);
	return reply;
}

static void
free_reply(Reply *reply)
{
	sockbroker__v1__reply__free_unpacked(reply, NULL);
}

/* Send and wait for the reply to this request. */
static Reply *
call(struct sp_client *client, uint32_t id, const Request *request)
{
	uint32_t reply_id;
	send_request(client, id, request);
	Reply *reply = next_reply(client, &reply_id);
	ck_assert_uint_eq(reply_id, id);
	return reply;
}

static void
assert_no_reply_within(struct sp_client *client, int ms)
{
	uint32_t id;
	uint8_t *body;
	size_t len;
	int r = sp_recv(client, &id, &body, &len, ms);
	if (r == 0)
		free(body);
	ck_assert_msg(r == -ETIMEDOUT, "an unexpected reply (to request %u) or close (%d)",
		      r == 0 ? id : 0, r);
}

static void
assert_error(const Reply *reply, Sockbroker__V1__ErrorKind kind, const char *errno_name)
{
	ck_assert_msg(reply->error, "the reply is not an error");
	ck_assert_int_eq(reply->error->kind, kind);
	ck_assert_str_eq(reply->error->errno_name, errno_name);
	ck_assert(reply->error->message && reply->error->message[0]);
}

/* A connection from another process that has said Hello (without a seq). */
static struct sp_client *
client_with_hello(void)
{
	ck_assert_uint_lt(n_clients, MAX_CLIENTS);
	struct sp_client *client = &clients[n_clients++];
	client->fd = -1;
	sp_connect(client, url);

	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HelloRequest hello = SOCKBROKER__V1__HELLO_REQUEST__INIT;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HELLO;
	request.hello = &hello;
	Reply *reply = call(client, 1000, &request);
	ck_assert_msg(!reply->error, "Hello failed: %s", reply->error->message);
	ck_assert_int_eq(reply->result_case, SOCKBROKER__V1__REPLY__RESULT_HELLO);
	free_reply(reply);
	return client;
}

/* socket(AF_INET, SOCK_STREAM) with `seq` (0: none); returns the handle. */
static uint64_t
open_socket(struct sp_client *client, uint32_t id, uint64_t seq)
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
	Reply *reply = call(client, id, &request);
	ck_assert_msg(!reply->error, "socket failed: %s", reply->error->message);
	ck_assert_int_eq(reply->result_case, SOCKBROKER__V1__REPLY__RESULT_SOCKET);
	uint64_t handle = reply->socket->handle;
	ck_assert_uint_ne(handle, 0);
	free_reply(reply);
	return handle;
}

/* ---- one reply per request ----------------------------------------------------------------- */

enum expected { EXPECT_OK, EXPECT_BAD_REQUEST, EXPECT_BAD_HANDLE };

#define BURST 36
#define BURST_FIRST_ID 100

START_TEST(dispatch_answers_each_request_of_a_mixed_burst_exactly_once)
{
	struct sp_client *client = client_with_hello();
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
		int kind = i % 6;

		if (kind == 0) {
			ck_assert_int_eq(sp_send(client, id, garbage, sizeof(garbage)), 0);
			expected[i] = EXPECT_BAD_REQUEST;
			expected_seq[i] = 0;
			continue;
		}
		request.has_seq = true;
		request.seq = ++seq;
		expected_seq[i] = seq;
		switch (kind) {
		case 1:
			request.op_case = SOCKBROKER__V1__REQUEST__OP_HAS_IPV6;
			request.has_ipv6 = &empty;
			expected[i] = EXPECT_OK;
			break;
		case 2: /* no operation at all */
			expected[i] = EXPECT_BAD_REQUEST;
			break;
		case 3:
			request.op_case = SOCKBROKER__V1__REQUEST__OP_GETSOCKNAME;
			request.getsockname = &handle;
			handle.has_handle = true;
			handle.handle = 424242;
			expected[i] = EXPECT_BAD_HANDLE;
			break;
		case 4: /* cmsg_size.length is required */
			request.op_case = SOCKBROKER__V1__REQUEST__OP_CMSG_SIZE;
			request.cmsg_size = &cmsg;
			expected[i] = EXPECT_BAD_REQUEST;
			break;
		default:
			request.op_case = SOCKBROKER__V1__REQUEST__OP_CMSG_SIZE;
			request.cmsg_size = &cmsg;
			cmsg.has_length = true;
			cmsg.length = 8;
			expected[i] = EXPECT_OK;
			break;
		}
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
	assert_no_reply_within(client, QUIET_MS);
}
END_TEST

START_TEST(dispatch_answers_an_unknown_operation_with_bad_request)
{
	struct sp_client *client = client_with_hello();
	/* What a newer client would send: seq 1, then an operation in a field this daemon
	 * does not know (field 120, an empty message). */
	static const uint8_t newer_op[] = {0x08, 0x01, 0xc2, 0x07, 0x00};
	ck_assert_int_eq(sp_send(client, 1, newer_op, sizeof(newer_op)), 0);
	uint32_t id;
	Reply *reply = next_reply(client, &id);
	ck_assert_uint_eq(id, 1);
	ck_assert_uint_eq(reply->seq, 1);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__BAD_REQUEST, "EINVAL");
	ck_assert_msg(strstr(reply->error->message, "no operation"), "message: %s",
		      reply->error->message);
	free_reply(reply);

	/* The session goes on, and seq 1 took its turn: seq 2 runs at once. */
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__Empty empty = SOCKBROKER__V1__EMPTY__INIT;
	request.has_seq = true;
	request.seq = 2;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HAS_IPV6;
	request.has_ipv6 = &empty;
	reply = call(client, 2, &request);
	ck_assert(!reply->error);
	ck_assert_int_eq(reply->result_case, SOCKBROKER__V1__REPLY__RESULT_FLAG);
	free_reply(reply);
}
END_TEST

START_TEST(dispatch_answers_a_request_before_hello_with_bad_request_eproto)
{
	ck_assert_uint_lt(n_clients, MAX_CLIENTS);
	struct sp_client *client = &clients[n_clients++];
	client->fd = -1;
	sp_connect(client, url);
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__Empty empty = SOCKBROKER__V1__EMPTY__INIT;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HAS_IPV6;
	request.has_ipv6 = &empty;
	Reply *reply = call(client, 1, &request);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__BAD_REQUEST, "EPROTO");
	free_reply(reply);
}
END_TEST

/* ---- ordering ------------------------------------------------------------------------------ */

START_TEST(dispatch_runs_a_connections_requests_in_arrival_order_whatever_their_seq)
{
	struct sp_client *client = client_with_hello();
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

static void
send_has_ipv6(struct sp_client *client, uint32_t id, uint64_t seq)
{
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__Empty empty = SOCKBROKER__V1__EMPTY__INIT;
	request.has_seq = true;
	request.seq = seq;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HAS_IPV6;
	request.has_ipv6 = &empty;
	send_request(client, id, &request);
}

/* ---- sessions ------------------------------------------------------------------------------ */

static Reply *
getsockname_call(struct sp_client *client, uint32_t id, uint64_t handle)
{
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HandleRequest args = SOCKBROKER__V1__HANDLE_REQUEST__INIT;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETSOCKNAME;
	request.getsockname = &args;
	args.has_handle = true;
	args.handle = handle;
	return call(client, id, &request);
}

START_TEST(dispatch_answers_bad_handle_for_a_handle_of_another_session)
{
	struct sp_client *owner = client_with_hello();
	struct sp_client *other = client_with_hello();
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

START_TEST(daemon_stop_ends_daemon_run_with_0_and_answers_a_parked_recv_first)
{
	struct sp_client *client = client_with_hello();

	Request pair = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SocketPairRequest pair_args = SOCKBROKER__V1__SOCKET_PAIR_REQUEST__INIT;
	pair.op_case = SOCKBROKER__V1__REQUEST__OP_SOCKETPAIR;
	pair.socketpair = &pair_args;
	Reply *reply = call(client, 1, &pair);
	ck_assert_msg(!reply->error, "socketpair: %s", reply->error->message);
	ck_assert_int_eq(reply->result_case, SOCKBROKER__V1__REPLY__RESULT_SOCKETPAIR);
	uint64_t handle = reply->socketpair->first->handle;
	free_reply(reply);

	/* Blocking, and nothing to read: it parks. */
	Request recv_request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__RecvRequest recv_args = SOCKBROKER__V1__RECV_REQUEST__INIT;
	recv_request.op_case = SOCKBROKER__V1__REQUEST__OP_RECV;
	recv_request.recv = &recv_args;
	recv_args.has_handle = true;
	recv_args.handle = handle;
	recv_args.has_bufsize = true;
	recv_args.bufsize = 64;
	send_request(client, 2, &recv_request);
	assert_no_reply_within(client, QUIET_MS);

	ck_assert_int_eq(stop_daemon(), 0);

	uint32_t id;
	reply = next_reply(client, &id);
	ck_assert_uint_eq(id, 2);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__OS, "ECONNRESET");
	ck_assert_msg(strstr(reply->error->message, "daemon is stopping"), "message: %s",
		      reply->error->message);
	free_reply(reply);
	ck_assert_msg(sp_wait_closed(client, WAIT_MS),
		      "the connection stayed open after the daemon stopped");
}
END_TEST

START_TEST(dispatch_ends_a_session_that_disconnects_with_operations_waiting)
{
	struct sp_client *leaving = client_with_hello();

	Request pair = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SocketPairRequest pair_args = SOCKBROKER__V1__SOCKET_PAIR_REQUEST__INIT;
	pair.op_case = SOCKBROKER__V1__REQUEST__OP_SOCKETPAIR;
	pair.socketpair = &pair_args;
	Reply *reply = call(leaving, 1, &pair);
	ck_assert_msg(!reply->error, "socketpair: %s", reply->error->message);
	uint64_t handle = reply->socketpair->first->handle;
	free_reply(reply);

	/* A parked recv: the session's end answers it (to nobody) and frees it; valgrind and
	 * ASan check that nothing leaks. */
	Request recv_request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__RecvRequest recv_args = SOCKBROKER__V1__RECV_REQUEST__INIT;
	recv_request.op_case = SOCKBROKER__V1__REQUEST__OP_RECV;
	recv_request.recv = &recv_args;
	recv_args.has_handle = true;
	recv_args.handle = handle;
	recv_args.has_bufsize = true;
	recv_args.bufsize = 64;
	send_request(leaving, 2, &recv_request);
	send_has_ipv6(leaving, 3, 0);
	uint32_t id;
	reply = next_reply(leaving, &id);
	ck_assert_uint_eq(id, 3);
	free_reply(reply);
	sp_close(leaving);

	/* The daemon serves on. */
	struct sp_client *other = client_with_hello();
	send_has_ipv6(other, 1, 0);
	reply = next_reply(other, &id);
	ck_assert_uint_eq(id, 1);
	ck_assert_msg(!reply->error, "has_ipv6: %s", reply->error->message);
	free_reply(reply);
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
	tcase_add_test(tc, daemon_stop_ends_daemon_run_with_0_and_answers_a_parked_recv_first);
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
