/*
 * The per-operation matrix, against the real daemon: for each operation the
 * cases test-daemon.c leaves out of its success path, its OS-error path (the
 * kernel's errno, checked by name) and its bad-input path (BAD_REQUEST naming
 * the field, after which the session and the daemon go on serving). Requests
 * the C library would never send go through the raw wire client, and the
 * ones that must be in flight together (a parked recv and the Cancel that
 * names it) through NNG contexts of a raw connection of this file's own.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "fixture.h"
#include "raw.h"
#include "servers.h"
#include "sockbroker.h"

typedef Sockbroker__V1__Request Request;
typedef Sockbroker__V1__Reply Reply;

#define OP(name) SOCKBROKER__V1__REQUEST__OP_##name
#define BAD_REQUEST SOCKBROKER__V1__ERROR_KIND__BAD_REQUEST

/*
 * The daemon of the running case, in a page shared across Check's fork: a
 * case that fails in a forked process ends there without its teardown, and
 * the next setup (or the end of the run) stops that daemon by pid and
 * removes its directory.
 */
struct case_daemon {
	pid_t pid;
	char dir[256];
};
static struct case_daemon *left_behind;

static void
stop_left_behind(void)
{
	if (left_behind->pid > 0) {
		kill(left_behind->pid, SIGKILL);
		waitpid(left_behind->pid, NULL, 0);
		char path[320];
		const char *names[] = { "config.json", "daemon.log", "sockbroker.sock" };
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", left_behind->dir, names[i]);
			unlink(path);
		}
		rmdir(left_behind->dir);
	}
	left_behind->pid = 0;
}

static void
note_daemon(void)
{
	left_behind->pid = daemon_under_test.pid;
	snprintf(left_behind->dir, sizeof(left_behind->dir), "%s", daemon_under_test.dir);
}

static void
start_with(const char *config_json)
{
	fixture_start(config_json, "test-ops");
	note_daemon();
}

static void
setup(void)
{
	stop_left_behind();
	start_with(NULL);
}

static void
teardown(void)
{
	/* The fixture stops its daemon by pid, and says if it did not exit 0. */
	left_behind->pid = 0;
	fixture_stop();
}

/* ---- through the C library ---------------------------------------------- */

/* A brokered TCP listener on 127.0.0.1, its port in *port. */
static sb_handle
new_listener(uint16_t *port)
{
	struct sb_addr addr, bound;
	struct sb_error err;
	sb_handle listener = fixture_socket(AF_INET, SOCK_STREAM);
	sb_addr_inet(&addr, "127.0.0.1", 0);
	ck_assert_int_eq(sb_bind(client, listener, &addr, &err), 0);
	ck_assert_int_eq(sb_listen(client, listener, 4, &err), 0);
	ck_assert_int_eq(sb_getsockname(client, listener, &bound, &err), 0);
	*port = bound.port;
	return listener;
}

/* Two brokered TCP sockets connected to each other. */
static void
connected_pair(sb_handle *a, sb_handle *b)
{
	struct sb_addr addr;
	struct sb_error err;
	uint16_t port;
	sb_handle listener = new_listener(&port);
	*a = fixture_socket(AF_INET, SOCK_STREAM);
	sb_addr_inet(&addr, "127.0.0.1", port);
	ck_assert_int_eq(sb_connect(client, *a, &addr, &err), 0);
	ck_assert_int_eq(sb_accept(client, listener, b, NULL, &err), 0);
	ck_assert_int_eq(sb_close(client, listener, &err), 0);
}

static void
expect_os_error(int r, const struct sb_error *err, int errnum, const char *name)
{
	ck_assert_msg(r == -errnum, "expected -%s, got %d (%s: %s)", name, r, err->errno_name,
		      err->message);
	ck_assert_int_eq(err->kind, SB_ERR_OS);
	ck_assert_str_eq(err->errno_name, name);
	ck_assert_str_eq(err->message, strerror(errnum));
}

static void
expect_client_bad_request(int r, const struct sb_error *err, const char *name, const char *says)
{
	ck_assert_msg(r < 0, "expected a bad request, got %d", r);
	ck_assert_int_eq(err->kind, SB_ERR_BAD_REQUEST);
	ck_assert_str_eq(err->errno_name, name);
	ck_assert_msg(strstr(err->message, says), "message \"%s\" does not say \"%s\"",
		      err->message, says);
}

/* ---- through the raw wire client ---------------------------------------- */

static struct raw_client *
raw_session(void)
{
	return raw_connect(daemon_under_test.url, 1);
}

static uint64_t
raw_socket(struct raw_client *raw, int family, int type)
{
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SocketRequest args = SOCKBROKER__V1__SOCKET_REQUEST__INIT;
	args.has_family = args.has_type = true;
	args.family = family;
	args.type = type;
	request.op_case = OP(SOCKET);
	request.socket = &args;
	Reply *reply = raw_call(raw, &request);
	ck_assert_ptr_nonnull(reply);
	ck_assert_msg(!reply->error, "socket: %s", reply->error ? reply->error->message : "");
	ck_assert_ptr_nonnull(reply->socket);
	uint64_t handle = reply->socket->handle;
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	return handle;
}

/* One of the requests that carry only a handle. */
static Reply *
raw_handle_op(struct raw_client *raw, Sockbroker__V1__Request__OpCase op, bool has_handle,
	      uint64_t handle)
{
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HandleRequest args = SOCKBROKER__V1__HANDLE_REQUEST__INIT;
	args.has_handle = has_handle;
	args.handle = handle;
	request.op_case = op;
	switch (op) {
	case OP(CLOSE):
		request.close = &args;
		break;
	case OP(GETSOCKNAME):
		request.getsockname = &args;
		break;
	case OP(GETPEERNAME):
		request.getpeername = &args;
		break;
	case OP(GETTIMEOUT):
		request.gettimeout = &args;
		break;
	default:
		ck_abort_msg("operation %d takes more than a handle", (int)op);
	}
	return raw_call(raw, &request);
}

static Reply *
raw_settimeout(struct raw_client *raw, bool has_handle, uint64_t handle, double timeout)
{
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SetTimeoutRequest args = SOCKBROKER__V1__SET_TIMEOUT_REQUEST__INIT;
	args.has_handle = has_handle;
	args.handle = handle;
	args.has_timeout = true;
	args.timeout = timeout;
	request.op_case = OP(SETTIMEOUT);
	request.settimeout = &args;
	return raw_call(raw, &request);
}

/* An AF_INET (host, port) of the wire, built in caller storage. */
static Sockbroker__V1__Address *
wire_inet(Sockbroker__V1__Address *address, Sockbroker__V1__InetAddress *inet, const char *host,
	  uint32_t port)
{
	sockbroker__v1__address__init(address);
	sockbroker__v1__inet_address__init(inet);
	inet->host = (char *)host;
	inet->has_port = true;
	inet->port = port;
	address->family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET;
	address->af_inet = inet;
	return address;
}

/* A BAD_REQUEST with this errno whose message says `says`; frees reply. */
static void
expect_bad_request(Reply *reply, const char *errno_name, const char *says)
{
	ck_assert_ptr_nonnull(reply);
	ck_assert_msg(reply->error, "expected a bad_request error, got result %d",
		      (int)reply->result_case);
	ck_assert_msg(reply->error->kind == BAD_REQUEST, "expected bad_request, got kind %d (%s)",
		      (int)reply->error->kind, reply->error->message);
	ck_assert_str_eq(reply->error->errno_name, errno_name);
	ck_assert_msg(strstr(reply->error->message, says), "message \"%s\" does not say \"%s\"",
		      reply->error->message, says);
	ck_assert(reply->result_case == SOCKBROKER__V1__REPLY__RESULT__NOT_SET);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
}

static void
expect_done(Reply *reply)
{
	ck_assert_ptr_nonnull(reply);
	ck_assert_msg(!reply->error, "expected done, got: %s", reply->error->message);
	ck_assert_int_eq(reply->result_case, SOCKBROKER__V1__REPLY__RESULT_DONE);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
}

/* After a bad request: the raw session goes on, and so does everyone
 * else's. */
static void
expect_still_serving(struct raw_client *raw)
{
	uint64_t h = raw_socket(raw, AF_INET, SOCK_STREAM);
	expect_done(raw_handle_op(raw, OP(CLOSE), true, h));
	struct sb_error err;
	sb_handle mine = fixture_socket(AF_INET, SOCK_STREAM);
	ck_assert_int_eq(sb_close(client, mine, &err), 0);
	ck_assert_int_eq(kill(daemon_under_test.pid, 0), 0);
}

/* ---- socket ---------------------------------------------------------------- */

START_TEST(socket_reports_its_type_without_the_mode_flags_and_the_mode_they_ask_for)
{
	struct raw_client *raw = raw_session();
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SocketRequest args = SOCKBROKER__V1__SOCKET_REQUEST__INIT;
	args.has_family = args.has_type = true;
	args.family = AF_INET;
	args.type = SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC;
	request.op_case = OP(SOCKET);
	request.socket = &args;
	Reply *reply = raw_call(raw, &request);
	ck_assert_ptr_nonnull(reply);
	ck_assert_ptr_null(reply->error);
	ck_assert_ptr_nonnull(reply->socket);
	ck_assert_uint_ne(reply->socket->handle, 0);
	ck_assert_int_eq(reply->socket->family, AF_INET);
	ck_assert_int_eq(reply->socket->type, SOCK_STREAM);
	ck_assert_int_eq(reply->socket->proto, 0);
	ck_assert(reply->socket->has_timeout && reply->socket->timeout == 0.0);
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	/* Nothing given: AF_INET, SOCK_STREAM, blocking. */
	Sockbroker__V1__SocketRequest defaults = SOCKBROKER__V1__SOCKET_REQUEST__INIT;
	request.socket = &defaults;
	reply = raw_call(raw, &request);
	ck_assert_ptr_null(reply->error);
	ck_assert_int_eq(reply->socket->family, AF_INET);
	ck_assert_int_eq(reply->socket->type, SOCK_STREAM);
	ck_assert(!reply->socket->has_timeout);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	raw_close(raw);
}
END_TEST

START_TEST(socket_with_a_protocol_or_type_the_kernel_refuses_is_its_errno_by_name)
{
	struct sb_error err;
	sb_handle h;
	expect_os_error(sb_socket(client, AF_INET, SOCK_STREAM, IPPROTO_UDP, &h, &err), &err,
			EPROTONOSUPPORT, "EPROTONOSUPPORT");
	/* A type number out of range goes to the kernel, which judges it. */
	expect_os_error(sb_socket(client, AF_INET, 4242, 0, &h, &err), &err, EINVAL, "EINVAL");
	h = fixture_socket(AF_INET, SOCK_STREAM);
	ck_assert_int_eq(sb_close(client, h, &err), 0);
}
END_TEST

START_TEST(socket_with_a_negative_nan_or_huge_timeout_is_a_bad_request)
{
	struct sb_error err;
	sb_handle h;
	/* The client's default timeout is what socket() sends. */
	sb_client_set_default_timeout(client, -3.0);
	int r = sb_socket(client, AF_INET, SOCK_STREAM, 0, &h, &err);
	expect_client_bad_request(r, &err, "EINVAL", "socket.timeout: Timeout value out of range");
	sb_client_set_default_timeout(client, NAN);
	r = sb_socket(client, AF_INET, SOCK_STREAM, 0, &h, &err);
	expect_client_bad_request(r, &err, "EINVAL", "socket.timeout: Timeout value out of range");
	sb_client_set_default_timeout(client, 1e12);
	r = sb_socket(client, AF_INET, SOCK_STREAM, 0, &h, &err);
	expect_client_bad_request(r, &err, "EOVERFLOW", "socket.timeout: timeout doesn't fit");
	sb_client_set_default_timeout(client, SB_TIMEOUT_NONE);

	/* -1.0, which the C library sends as "none", is refused on the wire. */
	struct raw_client *raw = raw_session();
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SocketRequest args = SOCKBROKER__V1__SOCKET_REQUEST__INIT;
	args.has_timeout = true;
	args.timeout = -1.0;
	request.op_case = OP(SOCKET);
	request.socket = &args;
	expect_bad_request(raw_call(raw, &request), "EINVAL", "Timeout value out of range");
	expect_still_serving(raw);
	raw_close(raw);
}
END_TEST

/* ---- close ------------------------------------------------------------------ */

START_TEST(close_twice_is_ebadf_of_kind_bad_handle)
{
	struct sb_error err;
	sb_handle h = fixture_socket(AF_INET, SOCK_DGRAM);
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	ck_assert_int_eq(sb_close(client, h, &err), -EBADF);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_HANDLE);
	ck_assert_str_eq(err.errno_name, "EBADF");
	/* Other operations on it are EBADF too. */
	struct sb_addr addr;
	ck_assert_int_eq(sb_getsockname(client, h, &addr, &err), -EBADF);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_HANDLE);
	/* Ids are never reused: a new socket has another. */
	sb_handle next = fixture_socket(AF_INET, SOCK_DGRAM);
	ck_assert_uint_ne(next, h);
	ck_assert_int_eq(sb_close(client, next, &err), 0);
}
END_TEST

START_TEST(close_without_a_handle_is_a_bad_request_and_of_an_unknown_one_bad_handle)
{
	struct raw_client *raw = raw_session();
	expect_bad_request(raw_handle_op(raw, OP(CLOSE), false, 0), "EINVAL",
			   "close.handle is required");
	Reply *reply = raw_handle_op(raw, OP(CLOSE), true, 0x7fffffffffffULL);
	ck_assert_ptr_nonnull(reply->error);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__BAD_HANDLE);
	ck_assert_str_eq(reply->error->errno_name, "EBADF");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	expect_still_serving(raw);
	raw_close(raw);
}
END_TEST

/* ---- listen ----------------------------------------------------------------- */

START_TEST(listen_on_a_udp_socket_is_eopnotsupp_by_name)
{
	struct sb_error err;
	uint16_t port;
	sb_handle u = fixture_bound_udp(AF_INET, &port);
	expect_os_error(sb_listen(client, u, 1, &err), &err, EOPNOTSUPP, "EOPNOTSUPP");
	/* The socket is untouched: it still receives. */
	struct sb_addr to;
	char buf[8];
	sb_addr_inet(&to, "127.0.0.1", port);
	ck_assert_int_eq(sb_sendto(client, u, "self", 4, 0, &to, &err), 4);
	ck_assert_int_eq(sb_recv(client, u, buf, sizeof(buf), 0, &err), 4);
	ck_assert_int_eq(sb_close(client, u, &err), 0);
}
END_TEST

START_TEST(listen_with_a_negative_backlog_is_taken_as_zero_and_still_accepts)
{
	struct sb_addr addr, bound;
	struct sb_error err;
	sb_handle listener = fixture_socket(AF_INET, SOCK_STREAM), conn, accepted;
	sb_addr_inet(&addr, "127.0.0.1", 0);
	ck_assert_int_eq(sb_bind(client, listener, &addr, &err), 0);
	ck_assert_int_eq(sb_listen(client, listener, -5, &err), 0);
	ck_assert_int_eq(sb_getsockname(client, listener, &bound, &err), 0);
	conn = fixture_socket(AF_INET, SOCK_STREAM);
	sb_addr_inet(&addr, "127.0.0.1", bound.port);
	ck_assert_int_eq(sb_connect(client, conn, &addr, &err), 0);
	ck_assert_int_eq(sb_accept(client, listener, &accepted, NULL, &err), 0);
	/* And the default backlog (none given) works as well. */
	sb_handle other = fixture_socket(AF_INET, SOCK_STREAM);
	sb_addr_inet(&addr, "127.0.0.1", 0);
	ck_assert_int_eq(sb_bind(client, other, &addr, &err), 0);
	ck_assert_int_eq(sb_listen(client, other, SB_BACKLOG_DEFAULT, &err), 0);
}
END_TEST

START_TEST(listen_without_a_handle_is_a_bad_request)
{
	struct raw_client *raw = raw_session();
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__ListenRequest args = SOCKBROKER__V1__LISTEN_REQUEST__INIT;
	args.has_backlog = true;
	args.backlog = 5;
	request.op_case = OP(LISTEN);
	request.listen = &args;
	expect_bad_request(raw_call(raw, &request), "EINVAL", "listen.handle is required");
	expect_still_serving(raw);
	raw_close(raw);
}
END_TEST

/* ---- accept ----------------------------------------------------------------- */

START_TEST(accept_on_a_socket_that_is_not_listening_is_einval_by_name)
{
	struct sb_error err;
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM), conn;
	/* Blocking mode: the error comes at once, it does not park. */
	int64_t start = test_now_ms();
	expect_os_error(sb_accept(client, h, &conn, NULL, &err), &err, EINVAL, "EINVAL");
	ck_assert_int_lt(test_now_ms() - start, 5000);
	sb_handle u = fixture_socket(AF_INET, SOCK_DGRAM);
	expect_os_error(sb_accept(client, u, &conn, NULL, &err), &err, EOPNOTSUPP, "EOPNOTSUPP");
}
END_TEST

START_TEST(accept_with_a_negative_default_timeout_or_no_handle_is_a_bad_request)
{
	struct sb_error err;
	uint16_t port;
	sb_handle listener = new_listener(&port), conn;
	sb_client_set_default_timeout(client, -2.0);
	int r = sb_accept(client, listener, &conn, NULL, &err);
	sb_client_set_default_timeout(client, SB_TIMEOUT_NONE);
	expect_client_bad_request(r, &err, "EINVAL",
				  "accept.default_timeout: Timeout value out of range");

	struct raw_client *raw = raw_session();
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__AcceptRequest args = SOCKBROKER__V1__ACCEPT_REQUEST__INIT;
	request.op_case = OP(ACCEPT);
	request.accept = &args;
	expect_bad_request(raw_call(raw, &request), "EINVAL", "accept.handle is required");
	expect_still_serving(raw);
	raw_close(raw);

	/* The listener still accepts. */
	struct sb_addr addr;
	sb_handle c = fixture_socket(AF_INET, SOCK_STREAM);
	sb_addr_inet(&addr, "127.0.0.1", port);
	ck_assert_int_eq(sb_connect(client, c, &addr, &err), 0);
	ck_assert_int_eq(sb_accept(client, listener, &conn, NULL, &err), 0);
}
END_TEST

/* ---- connect_ex ----------------------------------------------------------- */

START_TEST(connect_ex_to_a_listening_server_gives_result_0_and_connects)
{
	struct echo_server server;
	struct sb_addr addr, peer;
	struct sb_error err;
	char buf[16];
	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_STREAM), 0);
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	sb_addr_inet(&addr, "127.0.0.1", server.port);
	int result = -1;
	ck_assert_int_eq(sb_connect_ex(client, h, &addr, &result, &err), 0);
	ck_assert_int_eq(result, 0);
	ck_assert_int_eq(sb_getpeername(client, h, &peer, &err), 0);
	ck_assert_uint_eq(peer.port, server.port);
	ck_assert_int_eq(sb_sendall(client, h, "ex", 2, 0, &err), 0);
	ck_assert_int_eq(sb_recv(client, h, buf, sizeof(buf), MSG_WAITALL, &err), 2);
	ck_assert(memcmp(buf, "ex", 2) == 0);

	/* On the wire: a ConnectReply with errno 0 and no name. */
	struct raw_client *raw = raw_session();
	uint64_t r = raw_socket(raw, AF_INET, SOCK_STREAM);
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__ConnectRequest args = SOCKBROKER__V1__CONNECT_REQUEST__INIT;
	Sockbroker__V1__Address address;
	Sockbroker__V1__InetAddress inet;
	args.has_handle = args.has_ex = args.ex = true;
	args.handle = r;
	args.address = wire_inet(&address, &inet, "127.0.0.1", server.port);
	request.op_case = OP(CONNECT);
	request.connect = &args;
	Reply *reply = raw_call(raw, &request);
	ck_assert_ptr_null(reply->error);
	ck_assert_int_eq(reply->result_case, SOCKBROKER__V1__REPLY__RESULT_CONNECT);
	ck_assert(reply->connect->has_errno_number);
	ck_assert_int_eq(reply->connect->errno_number, 0);
	ck_assert_ptr_null(reply->connect->errno_name);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	raw_close(raw);
	sb_close(client, h, NULL);
	echo_server_stop(&server);
}
END_TEST

START_TEST(connect_ex_with_a_bad_address_is_a_bad_request_not_a_result)
{
	struct raw_client *raw = raw_session();
	uint64_t h = raw_socket(raw, AF_INET, SOCK_STREAM);
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__ConnectRequest args = SOCKBROKER__V1__CONNECT_REQUEST__INIT;
	Sockbroker__V1__Address address;
	Sockbroker__V1__InetAddress inet;
	args.has_handle = args.has_ex = args.ex = true;
	args.handle = h;
	args.address = wire_inet(&address, &inet, "127.0.0.1", 65536);
	request.op_case = OP(CONNECT);
	request.connect = &args;
	expect_bad_request(raw_call(raw, &request), "EOVERFLOW", "port must be 0-65535");
	args.address = NULL;
	expect_bad_request(raw_call(raw, &request), "EINVAL", "connect.address is required");
	/* An address of no family at all. */
	sockbroker__v1__address__init(&address);
	args.address = &address;
	expect_bad_request(raw_call(raw, &request), "EINVAL", "names no address family");
	expect_still_serving(raw);
	raw_close(raw);
}
END_TEST

/* ---- shutdown --------------------------------------------------------------- */

START_TEST(shutdown_of_an_unconnected_tcp_socket_is_enotconn_by_name)
{
	struct sb_error err;
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	expect_os_error(sb_shutdown(client, h, SHUT_RDWR, &err), &err, ENOTCONN, "ENOTCONN");
	/* A connected one shuts down; both directions may be shut in turn. */
	sb_handle a, b;
	char buf[4];
	connected_pair(&a, &b);
	ck_assert_int_eq(sb_shutdown(client, a, SHUT_RD, &err), 0);
	ck_assert_int_eq(sb_shutdown(client, a, SHUT_WR, &err), 0);
	ck_assert_int_eq(sb_recv(client, b, buf, sizeof(buf), 0, &err), 0);
}
END_TEST

START_TEST(shutdown_without_how_or_handle_is_a_bad_request)
{
	struct raw_client *raw = raw_session();
	uint64_t h = raw_socket(raw, AF_INET, SOCK_STREAM);
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__ShutdownRequest args = SOCKBROKER__V1__SHUTDOWN_REQUEST__INIT;
	args.has_handle = true;
	args.handle = h;
	request.op_case = OP(SHUTDOWN);
	request.shutdown = &args;
	expect_bad_request(raw_call(raw, &request), "EINVAL", "shutdown.how is required");
	args.has_handle = false;
	args.has_how = true;
	args.how = SHUT_WR;
	expect_bad_request(raw_call(raw, &request), "EINVAL", "shutdown.handle is required");
	expect_still_serving(raw);
	raw_close(raw);
}
END_TEST

/* ---- getsockname, getpeername ---------------------------------------------- */

START_TEST(getsockname_of_an_unbound_socket_is_the_any_address_and_port_0)
{
	struct sb_addr addr;
	struct sb_error err;
	sb_handle h = fixture_socket(AF_INET, SOCK_DGRAM);
	ck_assert_int_eq(sb_getsockname(client, h, &addr, &err), 0);
	ck_assert_int_eq(addr.family, AF_INET);
	ck_assert_str_eq(addr.host, "0.0.0.0");
	ck_assert_uint_eq(addr.port, 0);
}
END_TEST

START_TEST(getpeername_of_an_unconnected_socket_is_enotconn_by_name)
{
	struct sb_addr addr;
	struct sb_error err;
	sb_handle t = fixture_socket(AF_INET, SOCK_STREAM);
	expect_os_error(sb_getpeername(client, t, &addr, &err), &err, ENOTCONN, "ENOTCONN");
	uint16_t port;
	sb_handle u = fixture_bound_udp(AF_INET, &port);
	expect_os_error(sb_getpeername(client, u, &addr, &err), &err, ENOTCONN, "ENOTCONN");
	/* The handle goes on. */
	ck_assert_int_eq(sb_getsockname(client, u, &addr, &err), 0);
	ck_assert_uint_eq(addr.port, port);
}
END_TEST

START_TEST(getsockname_and_getpeername_without_a_handle_are_bad_requests)
{
	struct raw_client *raw = raw_session();
	expect_bad_request(raw_handle_op(raw, OP(GETSOCKNAME), false, 0), "EINVAL",
			   "getsockname.handle is required");
	expect_bad_request(raw_handle_op(raw, OP(GETPEERNAME), false, 0), "EINVAL",
			   "getpeername.handle is required");
	/* A handle of the C client's session is not this session's. */
	sb_handle theirs = fixture_socket(AF_INET, SOCK_STREAM);
	Reply *reply = raw_handle_op(raw, OP(GETSOCKNAME), true, theirs);
	ck_assert_ptr_nonnull(reply->error);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__BAD_HANDLE);
	ck_assert_str_eq(reply->error->errno_name, "EBADF");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	expect_still_serving(raw);
	raw_close(raw);
}
END_TEST

/* ---- send, sendall ---------------------------------------------------------- */

/* More than one request can carry: send takes a part, as a partial send; sendto refuses. */
START_TEST(send_over_max_data_size_is_a_partial_send_and_sendto_is_emsgsize)
{
	struct sb_error err;
	struct sb_server_info info;
	sb_handle a, b, udp;
	uint16_t port;

	fixture_stop();
	start_with("{\"limits\": {\"max_message_size\": 65536}}");
	sb_client_info(client, &info);
	size_t max = (size_t)info.max_data_size;
	ck_assert_uint_lt(max, 65536);
	size_t len = max + 1000;
	char *data = calloc(1, len);
	ck_assert_ptr_nonnull(data);

	connected_pair(&a, &b);
	ck_assert_int_eq(sb_send(client, a, data, len, 0, &err), (ssize_t)max);
	udp = fixture_bound_udp(AF_INET, &port);
	struct sb_addr to;
	sb_addr_inet(&to, "127.0.0.1", port);
	ck_assert_int_eq(sb_sendto(client, udp, data, len, 0, &to, &err), -EMSGSIZE);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_REQUEST);
	ck_assert_msg(strstr(err.message, "max_data_size"), "%s", err.message);
	/* The session goes on: the bytes that went arrive, and sendall takes the rest. */
	ck_assert_int_eq(sb_sendall(client, a, data, len, 0, &err), 0);
	size_t got = 0;
	char *in = malloc(len);
	ck_assert_ptr_nonnull(in);
	while (got < max + len) {
		ssize_t n = sb_recv(client, b, in, len, 0, &err);
		ck_assert_msg(n > 0, "recv: %s", err.message);
		got += (size_t)n;
	}
	ck_assert_uint_eq(got, max + len);
	free(in);
	free(data);
}
END_TEST

START_TEST(send_on_an_unconnected_tcp_socket_is_epipe_and_the_daemon_survives_it)
{
	struct sb_error err;
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	/* The kernel's EPIPE, not a SIGPIPE that would stop the daemon. */
	expect_os_error((int)sb_send(client, h, "x", 1, 0, &err), &err, EPIPE, "EPIPE");
	expect_os_error(sb_sendall(client, h, "xyz", 3, 0, &err), &err, EPIPE, "EPIPE");
	ck_assert_int_eq(kill(daemon_under_test.pid, 0), 0);
	h = fixture_socket(AF_INET, SOCK_STREAM);
	ck_assert_int_eq(sb_close(client, h, &err), 0);
}
END_TEST

START_TEST(send_and_sendall_after_shutdown_of_the_sending_side_are_epipe)
{
	struct sb_error err;
	sb_handle a, b;
	connected_pair(&a, &b);
	ck_assert_int_eq(sb_sendall(client, a, "before", 6, 0, &err), 0);
	ck_assert_int_eq(sb_shutdown(client, a, SHUT_WR, &err), 0);
	expect_os_error((int)sb_send(client, a, "after", 5, 0, &err), &err, EPIPE, "EPIPE");
	expect_os_error(sb_sendall(client, a, "after", 5, 0, &err), &err, EPIPE, "EPIPE");
	/* What went before arrives, then the end of the stream. */
	char buf[16];
	ck_assert_int_eq(sb_recv(client, b, buf, sizeof(buf), MSG_WAITALL, &err), 6);
	ck_assert(memcmp(buf, "before", 6) == 0);
	ck_assert_int_eq(sb_recv(client, b, buf, sizeof(buf), 0, &err), 0);
}
END_TEST

START_TEST(send_on_an_unconnected_udp_socket_is_edestaddrreq_by_name)
{
	struct sb_error err;
	sb_handle u = fixture_socket(AF_INET, SOCK_DGRAM);
	expect_os_error((int)sb_send(client, u, "x", 1, 0, &err), &err, EDESTADDRREQ,
			"EDESTADDRREQ");
	expect_os_error(sb_sendall(client, u, "x", 1, 0, &err), &err, EDESTADDRREQ, "EDESTADDRREQ");
}
END_TEST

START_TEST(send_and_sendall_with_an_address_or_without_a_handle_are_bad_requests)
{
	struct raw_client *raw = raw_session();
	uint64_t h = raw_socket(raw, AF_INET, SOCK_DGRAM);
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SendRequest args = SOCKBROKER__V1__SEND_REQUEST__INIT;
	Sockbroker__V1__Address address;
	Sockbroker__V1__InetAddress inet;
	args.has_handle = args.has_data = true;
	args.handle = h;
	args.data.data = (uint8_t *)"x";
	args.data.len = 1;
	args.address = wire_inet(&address, &inet, "127.0.0.1", 9);
	request.op_case = OP(SEND);
	request.send = &args;
	expect_bad_request(raw_call(raw, &request), "EINVAL", "send takes no address (use sendto)");
	request.op_case = OP(SENDALL);
	request.sendall = &args;
	expect_bad_request(raw_call(raw, &request), "EINVAL",
			   "sendall takes no address (use sendto)");
	args.address = NULL;
	args.has_handle = false;
	expect_bad_request(raw_call(raw, &request), "EINVAL", "sendall.handle is required");
	request.op_case = OP(SEND);
	request.send = &args;
	expect_bad_request(raw_call(raw, &request), "EINVAL", "send.handle is required");
	expect_still_serving(raw);
	raw_close(raw);
}
END_TEST

/* ---- sendto ----------------------------------------------------------------- */

START_TEST(sendto_an_ipv6_address_from_an_ipv4_socket_is_eafnosupport_by_name)
{
	struct sb_addr to;
	struct sb_error err;
	sb_handle u = fixture_socket(AF_INET, SOCK_DGRAM);
	sb_addr_inet6(&to, "::1", 9, 0, 0);
	expect_os_error((int)sb_sendto(client, u, "x", 1, 0, &to, &err), &err, EAFNOSUPPORT,
			"EAFNOSUPPORT");
	/* The socket still sends where it can. */
	struct echo_server server;
	char buf[8];
	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_DGRAM), 0);
	sb_addr_inet(&to, "127.0.0.1", server.port);
	ck_assert_int_eq(sb_sendto(client, u, "v4", 2, 0, &to, &err), 2);
	ck_assert_int_eq(sb_recv(client, u, buf, sizeof(buf), 0, &err), 2);
	sb_close(client, u, NULL);
	echo_server_stop(&server);
}
END_TEST

START_TEST(sendto_on_an_unconnected_tcp_socket_is_epipe_by_name)
{
	struct sb_addr to;
	struct sb_error err;
	sb_handle t = fixture_socket(AF_INET, SOCK_STREAM);
	sb_addr_inet(&to, "127.0.0.1", closed_tcp_port());
	expect_os_error((int)sb_sendto(client, t, "x", 1, 0, &to, &err), &err, EPIPE, "EPIPE");
}
END_TEST

START_TEST(sendto_a_port_out_of_range_or_no_address_is_a_bad_request)
{
	struct raw_client *raw = raw_session();
	uint64_t h = raw_socket(raw, AF_INET, SOCK_DGRAM);
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SendRequest args = SOCKBROKER__V1__SEND_REQUEST__INIT;
	Sockbroker__V1__Address address;
	Sockbroker__V1__InetAddress inet;
	args.has_handle = args.has_data = true;
	args.handle = h;
	args.data.data = (uint8_t *)"x";
	args.data.len = 1;
	args.address = wire_inet(&address, &inet, "127.0.0.1", 70000);
	request.op_case = OP(SENDTO);
	request.sendto = &args;
	expect_bad_request(raw_call(raw, &request), "EOVERFLOW",
			   "sendto.address.port: port must be 0-65535, got 70000");
	inet.has_port = false;
	expect_bad_request(raw_call(raw, &request), "EINVAL", "sendto.address.port is required");
	args.address = NULL;
	expect_bad_request(raw_call(raw, &request), "EINVAL", "sendto.address is required");
	expect_still_serving(raw);
	raw_close(raw);
}
END_TEST

/* ---- recvfrom --------------------------------------------------------------- */

START_TEST(recvfrom_names_the_sender_of_each_datagram)
{
	struct sb_addr to, from, first_name, second_name;
	struct sb_error err;
	char buf[16];
	uint16_t port, first_port, second_port;
	sb_handle receiver = fixture_bound_udp(AF_INET, &port);
	sb_handle first = fixture_bound_udp(AF_INET, &first_port), second = fixture_bound_udp(AF_INET, &second_port);
	sb_getsockname(client, first, &first_name, &err);
	sb_getsockname(client, second, &second_name, &err);
	sb_addr_inet(&to, "127.0.0.1", port);
	ck_assert_int_eq(sb_sendto(client, first, "one", 3, 0, &to, &err), 3);
	ck_assert_int_eq(sb_sendto(client, second, "two", 3, 0, &to, &err), 3);
	ck_assert_int_eq(sb_recvfrom(client, receiver, buf, sizeof(buf), 0, &from, &err), 3);
	ck_assert(memcmp(buf, "one", 3) == 0);
	ck_assert_str_eq(from.host, "127.0.0.1");
	ck_assert_uint_eq(from.port, first_port);
	ck_assert_int_eq(sb_recvfrom(client, receiver, buf, sizeof(buf), 0, &from, &err), 3);
	ck_assert(memcmp(buf, "two", 3) == 0);
	ck_assert_uint_eq(from.port, second_port);

	/* On a stream it gives the data. */
	sb_handle a, b;
	connected_pair(&a, &b);
	ck_assert_int_eq(sb_sendall(client, a, "stream", 6, 0, &err), 0);
	ck_assert_int_eq(sb_recvfrom(client, b, buf, 6, MSG_WAITALL, NULL, &err), 6);
	ck_assert(memcmp(buf, "stream", 6) == 0);
}
END_TEST

START_TEST(recvfrom_on_an_unconnected_tcp_socket_is_enotconn_by_name)
{
	struct sb_addr from;
	struct sb_error err;
	char buf[8];
	sb_handle t = fixture_socket(AF_INET, SOCK_STREAM);
	int64_t start = test_now_ms();
	expect_os_error((int)sb_recvfrom(client, t, buf, sizeof(buf), 0, &from, &err), &err,
			ENOTCONN, "ENOTCONN");
	expect_os_error((int)sb_recv(client, t, buf, sizeof(buf), 0, &err), &err, ENOTCONN,
			"ENOTCONN");
	/* An error, not a wait. */
	ck_assert_int_lt(test_now_ms() - start, 5000);
}
END_TEST

START_TEST(recvfrom_with_a_negative_or_no_bufsize_is_a_bad_request)
{
	struct raw_client *raw = raw_session();
	uint64_t h = raw_socket(raw, AF_INET, SOCK_DGRAM);
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__RecvRequest args = SOCKBROKER__V1__RECV_REQUEST__INIT;
	args.has_handle = args.has_bufsize = true;
	args.handle = h;
	args.bufsize = -1;
	request.op_case = OP(RECVFROM);
	request.recvfrom = &args;
	expect_bad_request(raw_call(raw, &request), "EINVAL", "negative buffersize in recvfrom");
	args.bufsize = INT64_MIN;
	expect_bad_request(raw_call(raw, &request), "EINVAL", "negative buffersize in recvfrom");
	args.has_bufsize = false;
	expect_bad_request(raw_call(raw, &request), "EINVAL", "recvfrom.bufsize is required");
	args.has_bufsize = true;
	args.bufsize = 8;
	args.has_handle = false;
	expect_bad_request(raw_call(raw, &request), "EINVAL", "recvfrom.handle is required");
	expect_still_serving(raw);
	raw_close(raw);
}
END_TEST

/* ---- setsockopt, getsockopt ------------------------------------------------- */

START_TEST(setsockopt_of_an_unknown_option_is_enoprotoopt_by_name)
{
	struct sb_error err;
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	expect_os_error(sb_setsockopt_int(client, h, SOL_SOCKET, 4242, 1, &err), &err,
			ENOPROTOOPT, "ENOPROTOOPT");
	expect_os_error(sb_setsockopt_int(client, h, IPPROTO_TCP, 4242, 1, &err), &err,
			ENOPROTOOPT, "ENOPROTOOPT");
	int value = 0;
	expect_os_error(sb_getsockopt_int(client, h, IPPROTO_TCP, 4242, &value, &err), &err,
			ENOPROTOOPT, "ENOPROTOOPT");
	/* A known one still reads back. */
	ck_assert_int_eq(sb_getsockopt_int(client, h, SOL_SOCKET, SO_TYPE, &value, &err), 0);
	ck_assert_int_eq(value, SOCK_STREAM);
}
END_TEST

START_TEST(setsockopt_values_beyond_the_documented_limits_are_bad_requests)
{
	struct sb_error err;
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	/* At most 1024 bytes. */
	static uint8_t value[1025];
	int r = sb_setsockopt(client, h, SOL_SOCKET, SO_LINGER, value, sizeof(value), &err);
	expect_client_bad_request(r, &err, "EINVAL",
				  "setsockopt: value of 1025 bytes is longer than 1024");

	struct raw_client *raw = raw_session();
	uint64_t mine = raw_socket(raw, AF_INET, SOCK_STREAM);
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SetSockOptRequest args = SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__INIT;
	args.has_handle = args.has_level = args.has_optname = true;
	args.handle = mine;
	args.level = SOL_SOCKET;
	args.optname = SO_REUSEADDR;
	args.value_case = SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__VALUE_INT_VALUE;
	args.int_value = (int64_t)INT32_MAX + 1;
	request.op_case = OP(SETSOCKOPT);
	request.setsockopt = &args;
	expect_bad_request(raw_call(raw, &request), "EOVERFLOW", "does not fit a C int");
	args.int_value = (int64_t)INT32_MIN - 1;
	expect_bad_request(raw_call(raw, &request), "EOVERFLOW", "does not fit a C int");
	args.value_case = SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__VALUE__NOT_SET;
	expect_bad_request(raw_call(raw, &request), "EINVAL", "setsockopt needs a value");
	args.value_case = SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__VALUE_INT_VALUE;
	args.int_value = 1;
	args.has_level = false;
	expect_bad_request(raw_call(raw, &request), "EINVAL",
			   "setsockopt.level and .optname are required");
	expect_still_serving(raw);
	raw_close(raw);
	/* Exactly 1024 bytes is the kernel's to judge. */
	r = sb_setsockopt(client, h, SOL_SOCKET, SO_LINGER, value, 1024, &err);
	ck_assert_int_eq(r, 0);
}
END_TEST

START_TEST(getsockopt_buflen_out_of_range_is_a_bad_request)
{
	struct sb_error err;
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	size_t len = 0;
	int r = sb_getsockopt(client, h, SOL_SOCKET, SO_TYPE, NULL, &len, &err);
	expect_client_bad_request(r, &err, "EINVAL",
				  "getsockopt buflen out of range (must be 1-1024, got 0)");
	static char big[1025];
	len = sizeof(big);
	r = sb_getsockopt(client, h, SOL_SOCKET, SO_TYPE, big, &len, &err);
	expect_client_bad_request(r, &err, "EINVAL", "must be 1-1024, got 1025");

	struct raw_client *raw = raw_session();
	uint64_t mine = raw_socket(raw, AF_INET, SOCK_STREAM);
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__GetSockOptRequest args = SOCKBROKER__V1__GET_SOCK_OPT_REQUEST__INIT;
	args.has_handle = args.has_level = args.has_optname = args.has_buflen = true;
	args.handle = mine;
	args.level = SOL_SOCKET;
	args.optname = SO_TYPE;
	args.buflen = -4;
	request.op_case = OP(GETSOCKOPT);
	request.getsockopt = &args;
	expect_bad_request(raw_call(raw, &request), "EINVAL", "must be 1-1024, got -4");
	args.has_buflen = false;
	args.has_optname = false;
	expect_bad_request(raw_call(raw, &request), "EINVAL",
			   "getsockopt.level and .optname are required");
	expect_still_serving(raw);
	raw_close(raw);

	/* In range, the bytes come back. */
	int type = 0;
	len = sizeof(type);
	ck_assert_int_eq(sb_getsockopt(client, h, SOL_SOCKET, SO_TYPE, &type, &len, &err), 0);
	ck_assert_uint_eq(len, sizeof(type));
	ck_assert_int_eq(type, SOCK_STREAM);
}
END_TEST

/* ---- settimeout ------------------------------------------------------------- */

START_TEST(settimeout_values_the_c_library_never_sends_are_bad_requests)
{
	struct raw_client *raw = raw_session();
	uint64_t h = raw_socket(raw, AF_INET, SOCK_STREAM);
	/* -1.0 is the C library's "none", never sent as a number. */
	expect_bad_request(raw_settimeout(raw, true, h, -1.0), "EINVAL",
			   "settimeout.timeout: Timeout value out of range");
	expect_bad_request(raw_settimeout(raw, true, h, -INFINITY), "EINVAL",
			   "Timeout value out of range");
	expect_bad_request(raw_settimeout(raw, true, h, INFINITY), "EOVERFLOW",
			   "settimeout.timeout: timeout doesn't fit into C timeval");
	expect_bad_request(raw_settimeout(raw, true, h, 5e9), "EOVERFLOW",
			   "timeout doesn't fit into C timeval");
	expect_bad_request(raw_settimeout(raw, false, 0, 1.0), "EINVAL",
			   "settimeout.handle is required");
	/* The handle is untouched: still blocking. */
	Reply *reply = raw_handle_op(raw, OP(GETTIMEOUT), true, h);
	ck_assert_ptr_null(reply->error);
	ck_assert_ptr_nonnull(reply->timeout);
	ck_assert(!reply->timeout->has_timeout);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	/* The largest accepted value is taken. */
	expect_done(raw_settimeout(raw, true, h, 4e9));
	expect_still_serving(raw);
	raw_close(raw);
}
END_TEST

/* ---- Cancel ------------------------------------------------------------------ */

static Reply *
raw_cancel(struct raw_client *raw, bool has_target, uint64_t target_seq)
{
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__CancelRequest args = SOCKBROKER__V1__CANCEL_REQUEST__INIT;
	args.has_target_seq = has_target;
	args.target_seq = target_seq;
	request.op_case = OP(CANCEL);
	request.cancel = &args;
	return raw_call(raw, &request);
}

START_TEST(cancel_of_a_sequence_number_that_is_not_parked_answers_not_cancelled)
{
	struct raw_client *raw = raw_session();
	Reply *reply = raw_cancel(raw, true, 12345);
	ck_assert_ptr_nonnull(reply);
	ck_assert_ptr_null(reply->error);
	ck_assert_int_eq(reply->result_case, SOCKBROKER__V1__REPLY__RESULT_CANCEL);
	ck_assert(reply->cancel->has_cancelled);
	ck_assert(!reply->cancel->cancelled);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	/* 0, "no sequence number", names nothing either. */
	reply = raw_cancel(raw, true, 0);
	ck_assert_ptr_null(reply->error);
	ck_assert(!reply->cancel->cancelled);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	expect_bad_request(raw_cancel(raw, false, 0), "EINVAL", "cancel.target_seq is required");
	expect_still_serving(raw);
	raw_close(raw);
}
END_TEST

/*
 * Requests in flight together on one connection: each on an NNG context of
 * its own, as the C library sends them.
 */
struct wire_call {
	nng_ctx ctx;
	nng_aio *aio;
};

static void
wire_call_send(struct wire_call *call, nng_socket socket, const Request *request)
{
	ck_assert_int_eq(nng_ctx_open(&call->ctx, socket), 0);
	ck_assert_int_eq(nng_aio_alloc(&call->aio, NULL, NULL), 0);
	nng_aio_set_timeout(call->aio, 10000);
	size_t len = sockbroker__v1__request__get_packed_size(request);
	nng_msg *msg;
	ck_assert_int_eq(nng_msg_alloc(&msg, len), 0);
	sockbroker__v1__request__pack(request, nng_msg_body(msg));
	nng_aio_set_msg(call->aio, msg);
	nng_ctx_send(call->ctx, call->aio);
	nng_aio_wait(call->aio);
	int rv = nng_aio_result(call->aio);
	if (rv != 0)
		nng_msg_free(msg);
	ck_assert_msg(rv == 0, "send: %s", nng_strerror(rv));
}

/* Wait (at most 10 s) for the call's reply, and end the call. */
static Reply *
wire_call_reply(struct wire_call *call)
{
	nng_ctx_recv(call->ctx, call->aio);
	nng_aio_wait(call->aio);
	int rv = nng_aio_result(call->aio);
	ck_assert_msg(rv == 0, "no reply from the daemon: %s", nng_strerror(rv));
	nng_msg *msg = nng_aio_get_msg(call->aio);
	Reply *reply = sockbroker__v1__reply__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	nng_msg_free(msg);
	nng_aio_free(call->aio);
	nng_ctx_close(call->ctx);
	ck_assert_ptr_nonnull(reply);
	return reply;
}

static Reply *
wire_call(nng_socket socket, const Request *request)
{
	struct wire_call call;
	wire_call_send(&call, socket, request);
	return wire_call_reply(&call);
}

START_TEST(cancel_by_seq_completes_a_parked_recvfrom_with_cancelled)
{
	nng_socket socket;
	ck_assert_int_eq(nng_req0_open(&socket), 0);
	ck_assert_int_eq(nng_socket_set_ms(socket, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE),
			 0);
	ck_assert_int_eq(nng_dial(socket, daemon_under_test.url, NULL, 0), 0);

	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HelloRequest hello = SOCKBROKER__V1__HELLO_REQUEST__INIT;
	request.op_case = OP(HELLO);
	request.hello = &hello;
	Reply *reply = wire_call(socket, &request);
	ck_assert_ptr_null(reply->error);
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	Sockbroker__V1__SocketRequest socket_args = SOCKBROKER__V1__SOCKET_REQUEST__INIT;
	socket_args.has_family = socket_args.has_type = true;
	socket_args.family = AF_INET;
	socket_args.type = SOCK_DGRAM;
	request.op_case = OP(SOCKET);
	request.socket = &socket_args;
	reply = wire_call(socket, &request);
	ck_assert_ptr_null(reply->error);
	uint64_t h = reply->socket->handle;
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	Sockbroker__V1__BindRequest bind_args = SOCKBROKER__V1__BIND_REQUEST__INIT;
	Sockbroker__V1__Address address;
	Sockbroker__V1__InetAddress inet;
	bind_args.has_handle = true;
	bind_args.handle = h;
	bind_args.address = wire_inet(&address, &inet, "127.0.0.1", 0);
	request.op_case = OP(BIND);
	request.bind = &bind_args;
	reply = wire_call(socket, &request);
	ck_assert_ptr_null(reply->error);
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	/* A blocking recvfrom, numbered 1: it parks, nobody sends. */
	Request recv_request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__RecvRequest recv_args = SOCKBROKER__V1__RECV_REQUEST__INIT;
	recv_args.has_handle = recv_args.has_bufsize = true;
	recv_args.handle = h;
	recv_args.bufsize = 64;
	recv_request.has_seq = true;
	recv_request.seq = 1;
	recv_request.op_case = OP(RECVFROM);
	recv_request.recvfrom = &recv_args;
	struct wire_call parked;
	wire_call_send(&parked, socket, &recv_request);

	/* Cancel (unnumbered: it starts when it arrives) until it finds it. */
	Sockbroker__V1__CancelRequest cancel_args = SOCKBROKER__V1__CANCEL_REQUEST__INIT;
	cancel_args.has_target_seq = true;
	cancel_args.target_seq = 1;
	request.op_case = OP(CANCEL);
	request.cancel = &cancel_args;
	bool cancelled = false;
	for (int i = 0; i < 100 && !cancelled; i++) {
		test_sleep_ms(20);
		reply = wire_call(socket, &request);
		ck_assert_ptr_null(reply->error);
		ck_assert_int_eq(reply->result_case, SOCKBROKER__V1__REPLY__RESULT_CANCEL);
		cancelled = reply->cancel->cancelled;
		sockbroker__v1__reply__free_unpacked(reply, NULL);
	}
	ck_assert_msg(cancelled, "the recvfrom was never found parked");

	reply = wire_call_reply(&parked);
	ck_assert_uint_eq(reply->seq, 1);
	ck_assert_ptr_nonnull(reply->error);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__CANCELLED);
	ck_assert_str_eq(reply->error->errno_name, "ECANCELED");
	ck_assert_msg(strstr(reply->error->message, "recvfrom was cancelled by the client"),
		      "message: %s", reply->error->message);
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	/* Answered, it is no longer parked. */
	reply = wire_call(socket, &request);
	ck_assert_ptr_null(reply->error);
	ck_assert(!reply->cancel->cancelled);
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	/* The handle goes on: a datagram to itself arrives. */
	request.op_case = OP(GETSOCKNAME);
	Sockbroker__V1__HandleRequest name_args = SOCKBROKER__V1__HANDLE_REQUEST__INIT;
	name_args.has_handle = true;
	name_args.handle = h;
	request.getsockname = &name_args;
	reply = wire_call(socket, &request);
	ck_assert_ptr_null(reply->error);
	uint32_t port = reply->address->address->af_inet->port;
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	Sockbroker__V1__SendRequest send_args = SOCKBROKER__V1__SEND_REQUEST__INIT;
	send_args.has_handle = send_args.has_data = true;
	send_args.handle = h;
	send_args.data.data = (uint8_t *)"again";
	send_args.data.len = 5;
	send_args.address = wire_inet(&address, &inet, "127.0.0.1", port);
	request.op_case = OP(SENDTO);
	request.sendto = &send_args;
	reply = wire_call(socket, &request);
	ck_assert_ptr_null(reply->error);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	recv_request.seq = 2;
	reply = wire_call(socket, &recv_request);
	ck_assert_ptr_null(reply->error);
	ck_assert_uint_eq(reply->seq, 2);
	ck_assert_uint_eq(reply->recv->data.len, 5);
	ck_assert(memcmp(reply->recv->data.data, "again", 5) == 0);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	nng_close(socket);
}
END_TEST

/* ---- the transport's message size limit ------------------------------------ */

START_TEST(a_request_over_the_max_message_size_drops_only_its_own_connection)
{
	/* A daemon of its own with a small limit, leak checking on. */
	sb_client_free(client);
	left_behind->pid = 0;
	ck_assert_int_eq(test_daemon_stop(&daemon_under_test), 0);
	test_daemon_start(&daemon_under_test, "{\"limits\": {\"max_message_size\": 65536}}");
	note_daemon();
	fixture_connect("test-ops");

	nng_socket socket;
	ck_assert_int_eq(nng_req0_open(&socket), 0);
	ck_assert_int_eq(nng_socket_set_ms(socket, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE),
			 0);
	ck_assert_int_eq(nng_socket_set_ms(socket, NNG_OPT_RECVTIMEO, 2000), 0);
	/* No second connection after the drop: NNG 1.5 leaks a connection
	 * the dialer is still setting up when the socket closes. */
	ck_assert_int_eq(nng_socket_set_ms(socket, NNG_OPT_RECONNMINT, 60000), 0);
	ck_assert_int_eq(nng_socket_set_ms(socket, NNG_OPT_RECONNMAXT, 60000), 0);
	ck_assert_int_eq(nng_dial(socket, daemon_under_test.url, NULL, 0), 0);

	/* A sendall of 100 KiB: more than the daemon reads in one message. */
	static uint8_t data[100 * 1024];
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SendRequest args = SOCKBROKER__V1__SEND_REQUEST__INIT;
	args.has_handle = args.has_data = true;
	args.handle = 1;
	args.data.data = data;
	args.data.len = sizeof(data);
	request.op_case = OP(SENDALL);
	request.sendall = &args;
	size_t len = sockbroker__v1__request__get_packed_size(&request);
	uint8_t *buf = malloc(len);
	ck_assert_ptr_nonnull(buf);
	sockbroker__v1__request__pack(&request, buf);
	ck_assert_int_eq(nng_send(socket, buf, len, 0), 0);
	free(buf);
	/* The transport drops the connection: no reply comes, the request
	 * fails with the connection (or, were it sent again, times out). */
	nng_msg *msg = NULL;
	int rv = nng_recvmsg(socket, &msg, 0);
	if (msg)
		nng_msg_free(msg);
	ck_assert_msg(rv == NNG_ECONNRESET || rv == NNG_ETIMEDOUT,
		      "expected the connection to drop, got: %s",
		      rv ? nng_strerror(rv) : "a reply");
	nng_close(socket);

	/* The daemon is up; the session already open goes on, and a new
	 * client is served. */
	ck_assert_int_eq(kill(daemon_under_test.pid, 0), 0);
	struct sb_error err;
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	/* The listener serves on: a new client is served at once. */
	struct sb_client *late = NULL;
	ck_assert_msg(sb_client_new(&late, daemon_under_test.url, "late", &err) == 0,
		      "no new client was served: %s", err.message);
	struct sb_server_info info;
	sb_client_info(late, &info);
	ck_assert_uint_eq(info.max_message_size, 65536);
	ck_assert_int_eq(sb_socket(late, AF_INET, SOCK_DGRAM, 0, &h, &err), 0);
	/* A request just under the limit is served. */
	struct sb_addr to;
	uint16_t port;
	sb_handle receiver = fixture_bound_udp(AF_INET, &port);
	sb_addr_inet(&to, "127.0.0.1", port);
	size_t fits = info.max_data_size < 60000 ? info.max_data_size : 60000;
	ck_assert_int_eq(sb_sendto(late, h, data, fits, 0, &to, &err), (ssize_t)fits);
	static uint8_t got[65536];
	ck_assert_int_eq(sb_recv(client, receiver, got, sizeof(got), 0, &err), (ssize_t)fits);
	sb_client_free(late);
}
END_TEST

static Suite *
ops_suite(void)
{
	Suite *s = suite_create("ops");
	const struct fixture_case cases[] = {
		{ "socket-reply",
		  socket_reports_its_type_without_the_mode_flags_and_the_mode_they_ask_for },
		{ "socket-os-error",
		  socket_with_a_protocol_or_type_the_kernel_refuses_is_its_errno_by_name },
		{ "socket-bad-timeout",
		  socket_with_a_negative_nan_or_huge_timeout_is_a_bad_request },
		{ "close-twice", close_twice_is_ebadf_of_kind_bad_handle },
		{ "close-bad-input",
		  close_without_a_handle_is_a_bad_request_and_of_an_unknown_one_bad_handle },
		{ "listen-udp", listen_on_a_udp_socket_is_eopnotsupp_by_name },
		{ "listen-negative-backlog",
		  listen_with_a_negative_backlog_is_taken_as_zero_and_still_accepts },
		{ "listen-bad-input", listen_without_a_handle_is_a_bad_request },
		{ "accept-not-listening",
		  accept_on_a_socket_that_is_not_listening_is_einval_by_name },
		{ "accept-bad-input",
		  accept_with_a_negative_default_timeout_or_no_handle_is_a_bad_request },
		{ "connect-ex", connect_ex_to_a_listening_server_gives_result_0_and_connects },
		{ "connect-ex-bad-input",
		  connect_ex_with_a_bad_address_is_a_bad_request_not_a_result },
		{ "shutdown-unconnected",
		  shutdown_of_an_unconnected_tcp_socket_is_enotconn_by_name },
		{ "shutdown-bad-input", shutdown_without_how_or_handle_is_a_bad_request },
		{ "getsockname-unbound",
		  getsockname_of_an_unbound_socket_is_the_any_address_and_port_0 },
		{ "getpeername-unconnected",
		  getpeername_of_an_unconnected_socket_is_enotconn_by_name },
		{ "names-bad-input",
		  getsockname_and_getpeername_without_a_handle_are_bad_requests },
		{ "send-unconnected",
		  send_on_an_unconnected_tcp_socket_is_epipe_and_the_daemon_survives_it },
		{ "send-after-shutdown",
		  send_and_sendall_after_shutdown_of_the_sending_side_are_epipe },
		{ "send-udp-unconnected",
		  send_on_an_unconnected_udp_socket_is_edestaddrreq_by_name },
		{ "send-bad-input",
		  send_and_sendall_with_an_address_or_without_a_handle_are_bad_requests },
		{ "sendto-family",
		  sendto_an_ipv6_address_from_an_ipv4_socket_is_eafnosupport_by_name },
		{ "sendto-tcp-unconnected", sendto_on_an_unconnected_tcp_socket_is_epipe_by_name },
		{ "sendto-bad-input", sendto_a_port_out_of_range_or_no_address_is_a_bad_request },
		{ "recvfrom", recvfrom_names_the_sender_of_each_datagram },
		{ "recvfrom-unconnected",
		  recvfrom_on_an_unconnected_tcp_socket_is_enotconn_by_name },
		{ "recvfrom-bad-input", recvfrom_with_a_negative_or_no_bufsize_is_a_bad_request },
		{ "setsockopt-unknown", setsockopt_of_an_unknown_option_is_enoprotoopt_by_name },
		{ "setsockopt-bad-input",
		  setsockopt_values_beyond_the_documented_limits_are_bad_requests },
		{ "getsockopt-bad-input", getsockopt_buflen_out_of_range_is_a_bad_request },
		{ "settimeout-bad-input",
		  settimeout_values_the_c_library_never_sends_are_bad_requests },
		{ "cancel-not-parked",
		  cancel_of_a_sequence_number_that_is_not_parked_answers_not_cancelled },
		{ "cancel-parked", cancel_by_seq_completes_a_parked_recvfrom_with_cancelled },
		{ "oversize", a_request_over_the_max_message_size_drops_only_its_own_connection },
		{ "send-over-max", send_over_max_data_size_is_a_partial_send_and_sendto_is_emsgsize },
	};
	fixture_add_cases(s, cases, sizeof(cases) / sizeof(cases[0]), setup, teardown, 60);
	return s;
}

int
main(void)
{
	left_behind = mmap(NULL, sizeof(*left_behind), PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (left_behind == MAP_FAILED) {
		perror("mmap");
		return EXIT_FAILURE;
	}
	memset(left_behind, 0, sizeof(*left_behind));
	int status = fixture_run(ops_suite());
	stop_left_behind();
	munmap(left_behind, sizeof(*left_behind));
	return status;
}
