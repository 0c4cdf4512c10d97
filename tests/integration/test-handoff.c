/*
 * Handoff against the real daemon: a connected or accepted socket's descriptor travels with
 * the reply's frame (SCM_RIGHTS on the ipc:// connection) and works natively; what the
 * policy or the transport does not let go stays brokered. The client here is the raw SP one
 * of tests/support/sp.h, which keeps the descriptors that arrive with replies.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "fixture.h"
#include "raw.h"
#include "servers.h"
#include "sockbroker.h"
#include "sockbroker.pb-c.h"
#include "sp.h"

typedef Sockbroker__V1__Request Request;
typedef Sockbroker__V1__Reply Reply;

#define WAIT_MS 10000

static struct sp_client sp;
static uint32_t next_id;
static int server_fd = -1;
static uint16_t server_port;

/* ---- helpers ------------------------------------------------------------------------------ */

static Reply *
call(const Request *request)
{
	size_t len = sockbroker__v1__request__get_packed_size(request);
	uint8_t *buf = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(buf);
	sockbroker__v1__request__pack(request, buf);
	uint32_t id = ++next_id;
	ck_assert_int_eq(sp_send(&sp, id, buf, len), 0);
	free(buf);
	uint32_t got;
	uint8_t *body;
	size_t body_len;
	ck_assert_int_eq(sp_recv(&sp, &got, &body, &body_len, WAIT_MS), 0);
	ck_assert_uint_eq(got, id);
	Reply *reply = sockbroker__v1__reply__unpack(NULL, body_len, body);
	free(body);
	ck_assert_ptr_nonnull(reply);
	return reply;
}

static Reply *
hello(void)
{
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HelloRequest args = SOCKBROKER__V1__HELLO_REQUEST__INIT;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HELLO;
	request.hello = &args;
	Reply *reply = call(&request);
	ck_assert_msg(!reply->error, "hello: %s", reply->error->message);
	return reply;
}

static uint64_t
open_socket(int type)
{
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SocketRequest args = SOCKBROKER__V1__SOCKET_REQUEST__INIT;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SOCKET;
	request.socket = &args;
	args.has_family = args.has_type = true;
	args.family = AF_INET;
	args.type = type;
	Reply *reply = call(&request);
	ck_assert_msg(!reply->error, "socket: %s", reply->error->message);
	uint64_t handle = reply->socket->handle;
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	return handle;
}

static Reply *
connect_to(uint64_t handle, const char *host, uint16_t port, bool handoff)
{
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__ConnectRequest args = SOCKBROKER__V1__CONNECT_REQUEST__INIT;
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__InetAddress inet = SOCKBROKER__V1__INET_ADDRESS__INIT;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_CONNECT;
	request.connect = &args;
	args.has_handle = true;
	args.handle = handle;
	args.address = &address;
	args.has_handoff = handoff;
	args.handoff = handoff;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET;
	address.af_inet = &inet;
	inet.host = (char *)host;
	inet.has_port = true;
	inet.port = port;
	return call(&request);
}

static Reply *
handle_op(Sockbroker__V1__Request__OpCase op, uint64_t handle)
{
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HandleRequest args = SOCKBROKER__V1__HANDLE_REQUEST__INIT;
	args.has_handle = true;
	args.handle = handle;
	request.op_case = op;
	/* Every HandleRequest member of the oneof shares the same storage. */
	request.handoff = &args;
	return call(&request);
}

static void
assert_error(Reply *reply, Sockbroker__V1__ErrorKind kind, const char *errno_name)
{
	ck_assert_msg(reply->error, "expected an error %s", errno_name);
	ck_assert_int_eq(reply->error->kind, kind);
	ck_assert_str_eq(reply->error->errno_name, errno_name);
}

/* The peer of a handed-off socket echoes through it: it is the real, connected one. */
static void
assert_talks(int fd)
{
	int peer = accept(server_fd, NULL, NULL);
	ck_assert_int_ge(peer, 0);
	ck_assert_int_eq(send(fd, "ping", 4, MSG_NOSIGNAL), 4);
	char buf[8];
	ck_assert_int_eq(recv(peer, buf, sizeof(buf), 0), 4);
	ck_assert_int_eq(send(peer, "pong", 4, MSG_NOSIGNAL), 4);
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int flags = 0;
	/* The descriptor arrives non-blocking (the daemon's mode): wait for the answer. */
	for (int i = 0; i < 1000; i++) {
		ssize_t n = recv(fd, buf, sizeof(buf), flags);
		if (n == 4)
			break;
		ck_assert_msg(n < 0 && errno == EAGAIN, "recv: %s", strerror(errno));
		usleep(1000);
	}
	ck_assert(memcmp(buf, "pong", 4) == 0);
	close(peer);
}

/* A tcp:// URL on a loopback port nothing listens on now. */
static void
free_tcp_url(char *url, size_t len)
{
	int probe = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sin_len = sizeof(sin);
	ck_assert_int_eq(bind(probe, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(probe, (struct sockaddr *)&sin, &sin_len), 0);
	close(probe);
	snprintf(url, len, "tcp://127.0.0.1:%u", ntohs(sin.sin_port));
}

static void
start(const char *config, bool builtin)
{
	if (builtin)
		test_daemon_start_builtin_policy(&daemon_under_test, config);
	else
		test_daemon_start(&daemon_under_test, config);
	sp_connect(&sp, daemon_under_test.url);
	next_id = 0;
}

static void
setup(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	server_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(server_fd, 0);
	ck_assert_int_eq(bind(server_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(server_fd, 64), 0);
	ck_assert_int_eq(getsockname(server_fd, (struct sockaddr *)&sin, &len), 0);
	server_port = ntohs(sin.sin_port);
	sp.fd = -1;
	sp.n_fds = 0;
}

static void
teardown(void)
{
	sp_close(&sp);
	if (daemon_under_test.pid > 0)
		ck_assert_int_eq(test_daemon_stop(&daemon_under_test), 0);
	close(server_fd);
	server_fd = -1;
}

/* ---- tests -------------------------------------------------------------------------------- */

START_TEST(a_connected_tcp_socket_goes_to_the_client_and_its_handle_is_gone)
{
	start(NULL, true);
	Reply *reply = hello();
	ck_assert(reply->hello->has_handoff && reply->hello->handoff);
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	uint64_t handle = open_socket(SOCK_STREAM);
	reply = connect_to(handle, "127.0.0.1", server_port, true);
	ck_assert_msg(!reply->error, "connect: %s", reply->error->message);
	ck_assert(reply->has_handed_off && reply->handed_off);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	int fd = sp_take_fd(&sp);
	ck_assert_int_ge(fd, 0);
	assert_talks(fd);
	close(fd);

	reply = handle_op(SOCKBROKER__V1__REQUEST__OP_GETSOCKNAME, handle);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__BAD_HANDLE, "EBADF");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	ck_assert(test_daemon_wait_log(&daemon_under_test, "\"sockbroker.handoff\"", WAIT_MS));
	ck_assert_int_eq(sp_take_fd(&sp), -1);
}
END_TEST

START_TEST(the_handoff_operation_passes_a_socket_connected_earlier)
{
	start(NULL, true);
	sockbroker__v1__reply__free_unpacked(hello(), NULL);
	uint64_t handle = open_socket(SOCK_STREAM);
	Reply *reply = connect_to(handle, "127.0.0.1", server_port, false);
	ck_assert_msg(!reply->error, "connect: %s", reply->error->message);
	ck_assert(!reply->handed_off);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	ck_assert_int_eq(sp_take_fd(&sp), -1);

	reply = handle_op(SOCKBROKER__V1__REQUEST__OP_HANDOFF, handle);
	ck_assert_msg(!reply->error, "handoff: %s", reply->error->message);
	ck_assert(reply->handed_off);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	int fd = sp_take_fd(&sp);
	ck_assert_int_ge(fd, 0);
	assert_talks(fd);
	close(fd);
}
END_TEST

START_TEST(an_unconnected_udp_or_unconnected_tcp_socket_is_never_handed_off)
{
	start(NULL, true);
	sockbroker__v1__reply__free_unpacked(hello(), NULL);
	uint64_t udp = open_socket(SOCK_DGRAM), tcp = open_socket(SOCK_STREAM);
	Reply *reply = handle_op(SOCKBROKER__V1__REQUEST__OP_HANDOFF, udp);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__DENIED, "EACCES");
	ck_assert_ptr_nonnull(strstr(reply->error->message, "not connected"));
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	reply = handle_op(SOCKBROKER__V1__REQUEST__OP_HANDOFF, tcp);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__DENIED, "EACCES");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	/* Both stay usable, and nothing came. */
	reply = handle_op(SOCKBROKER__V1__REQUEST__OP_GETTIMEOUT, udp);
	ck_assert(!reply->error);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	ck_assert_int_eq(sp_take_fd(&sp), -1);
	/* A handle that does not exist is a bad handle. */
	reply = handle_op(SOCKBROKER__V1__REQUEST__OP_HANDOFF, 999999);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__BAD_HANDLE, "EBADF");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
}
END_TEST

/* A socket of `type` connected to the test's server with handoff asked: it
 * must stay brokered (no descriptor comes); then the Handoff operation is
 * asked for it, and its reply returned. */
static Reply *
connect_then_ask_handoff(int type, uint64_t *handle)
{
	*handle = open_socket(type);
	Reply *reply = connect_to(*handle, "127.0.0.1", server_port, true);
	ck_assert_msg(!reply->error, "connect: %s", reply->error->message);
	ck_assert(!reply->handed_off);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	ck_assert_int_eq(sp_take_fd(&sp), -1);
	return handle_op(SOCKBROKER__V1__REQUEST__OP_HANDOFF, *handle);
}

START_TEST(a_connected_udp_socket_is_not_handed_off_by_the_default_policy)
{
	start(NULL, true);
	sockbroker__v1__reply__free_unpacked(hello(), NULL);
	uint64_t udp;
	Reply *reply = connect_then_ask_handoff(SOCK_DGRAM, &udp);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__DENIED, "EACCES");
	ck_assert_str_eq(reply->error->rule, "default-deny");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
}
END_TEST

/* Even where the policy allows every handoff: a connected UDP socket could
 * still send anywhere with sendto(), so it stays brokered. */
START_TEST(a_connected_udp_socket_is_never_handed_off_even_where_the_policy_allows_it)
{
	start("{\"policy\": {\"rules\": [{\"name\": \"everything\", \"allow\": true}]}}",
	      false);
	sockbroker__v1__reply__free_unpacked(hello(), NULL);
	uint64_t udp;
	Reply *reply = connect_then_ask_handoff(SOCK_DGRAM, &udp);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__DENIED, "EACCES");
	ck_assert_msg(strstr(reply->error->message, "connectionless"), "message: %s",
		      reply->error->message);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	/* Still the daemon's: it answers for it. */
	reply = handle_op(SOCKBROKER__V1__REQUEST__OP_GETTIMEOUT, udp);
	ck_assert_msg(!reply->error, "gettimeout: %s", reply->error->message);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
}
END_TEST

/* A TCP socket listening on 127.0.0.1, for a connection that must never be made. */
static int
listener_nobody_should_reach(uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* The client holds a handed-off TCP socket: disconnected (connect to AF_UNSPEC) and
 * connected again elsewhere, it never completes a connection, and the filter that holds
 * it to its peer cannot be taken off. Its own peer it still talks to. */
START_TEST(a_handed_off_socket_connected_again_elsewhere_never_connects)
{
	start(NULL, true);
	sockbroker__v1__reply__free_unpacked(hello(), NULL);
	uint64_t handle = open_socket(SOCK_STREAM);
	Reply *reply = connect_to(handle, "127.0.0.1", server_port, true);
	ck_assert_msg(!reply->error, "connect: %s", reply->error->message);
	ck_assert(reply->handed_off);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	int fd = sp_take_fd(&sp);
	ck_assert_int_ge(fd, 0);
	assert_talks(fd);

	int one = 1;
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &one, sizeof(one)), -1);
	ck_assert_int_eq(errno, EPERM);
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	ck_assert_int_eq(connect(fd, &unspec, sizeof(unspec)), 0);

	uint16_t port;
	int other = listener_nobody_should_reach(&port);
	struct sockaddr_in elsewhere = { .sin_family = AF_INET, .sin_port = htons(port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	int r = connect(fd, (struct sockaddr *)&elsewhere, sizeof(elsewhere));
	ck_assert_msg(r < 0 && errno == EINPROGRESS, "connect elsewhere: %d (%s)", r,
		      strerror(errno));
	/* On loopback a handshake takes microseconds: a second without one is none. */
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	ck_assert_int_eq(poll(&p, 1, 1000), 0);
	ck_assert_int_eq(accept(other, NULL, NULL), -1);
	ck_assert_int_eq(errno, EAGAIN);
	close(other);
	close(fd);
}
END_TEST

/* MSG_FASTOPEN would connect a TCP socket as a send: the broker refuses it, and the socket
 * stays unconnected. */
START_TEST(a_send_with_msg_fastopen_is_refused)
{
	start(NULL, true);
	sockbroker__v1__reply__free_unpacked(hello(), NULL);
	uint64_t handle = open_socket(SOCK_STREAM);
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SendRequest args = SOCKBROKER__V1__SEND_REQUEST__INIT;
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__InetAddress inet = SOCKBROKER__V1__INET_ADDRESS__INIT;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SENDTO;
	request.sendto = &args;
	args.has_handle = args.has_data = args.has_flags = true;
	args.handle = handle;
	args.data.data = (uint8_t *)"GET";
	args.data.len = 3;
	args.flags = MSG_FASTOPEN;
	args.address = &address;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET;
	address.af_inet = &inet;
	inet.host = "127.0.0.1";
	inet.has_port = true;
	inet.port = server_port;
	Reply *reply = call(&request);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__OS, "EOPNOTSUPP");
	ck_assert_msg(strstr(reply->error->message, "MSG_FASTOPEN"), "message: %s",
		      reply->error->message);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	reply = handle_op(SOCKBROKER__V1__REQUEST__OP_GETPEERNAME, handle);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__OS, "ENOTCONN");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
}
END_TEST

START_TEST(a_policy_that_forbids_handoff_keeps_the_rpc_path)
{
	start("{\"policy\": {\"rules\": [{\"name\": \"no-handoff\", \"allow\": false, "
	      "\"ops\": [\"handoff\"]}, {\"name\": \"the-rest\", \"allow\": true}]}}",
	      false);
	sockbroker__v1__reply__free_unpacked(hello(), NULL);
	uint64_t handle;
	Reply *reply = connect_then_ask_handoff(SOCK_STREAM, &handle);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__DENIED, "EACCES");
	ck_assert_str_eq(reply->error->rule, "no-handoff");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	/* The brokered socket still works. */
	reply = handle_op(SOCKBROKER__V1__REQUEST__OP_GETPEERNAME, handle);
	ck_assert_msg(!reply->error, "getpeername: %s", reply->error->message);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
}
END_TEST

START_TEST(a_denied_destination_is_never_handed_off)
{
	start(NULL, true);
	sockbroker__v1__reply__free_unpacked(hello(), NULL);
	uint64_t handle = open_socket(SOCK_STREAM);
	Reply *reply = connect_to(handle, "169.254.169.254", 80, true);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__DENIED, "EACCES");
	ck_assert(!reply->handed_off);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	ck_assert_int_eq(sp_take_fd(&sp), -1);
}
END_TEST

START_TEST(a_tcp_client_gets_the_rpc_path)
{
	char tcp_url[64];
	free_tcp_url(tcp_url, sizeof(tcp_url));
	test_daemon_start_listening(&daemon_under_test, NULL, tcp_url);

	struct raw_client *remote = raw_connect(tcp_url, 0);
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HelloRequest hello_args = SOCKBROKER__V1__HELLO_REQUEST__INIT;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HELLO;
	request.hello = &hello_args;
	Reply *reply = raw_call(remote, &request);
	ck_assert(!reply->error);
	ck_assert(!reply->hello->handoff);
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	Sockbroker__V1__SocketRequest socket_args = SOCKBROKER__V1__SOCKET_REQUEST__INIT;
	socket_args.has_family = socket_args.has_type = true;
	socket_args.family = AF_INET;
	socket_args.type = SOCK_STREAM;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SOCKET;
	request.socket = &socket_args;
	reply = raw_call(remote, &request);
	ck_assert(!reply->error);
	uint64_t handle = reply->socket->handle;
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	Sockbroker__V1__HandleRequest handle_args = SOCKBROKER__V1__HANDLE_REQUEST__INIT;
	handle_args.has_handle = true;
	handle_args.handle = handle;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HANDOFF;
	request.handoff = &handle_args;
	reply = raw_call(remote, &request);
	assert_error(reply, SOCKBROKER__V1__ERROR_KIND__UNSUPPORTED, "EOPNOTSUPP");
	ck_assert_ptr_nonnull(strstr(reply->error->message, "ipc://"));
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	raw_close(remote);
}
END_TEST

START_TEST(a_thousand_handoffs_leave_the_daemon_at_its_descriptor_baseline)
{
	start(NULL, true);
	sockbroker__v1__reply__free_unpacked(hello(), NULL);
	int baseline = test_daemon_fd_count(&daemon_under_test);
	for (int i = 0; i < 1000; i++) {
		uint64_t handle = open_socket(SOCK_STREAM);
		Reply *reply = connect_to(handle, "127.0.0.1", server_port, true);
		ck_assert_msg(!reply->error && reply->handed_off, "handoff %d", i);
		sockbroker__v1__reply__free_unpacked(reply, NULL);
		int fd = sp_take_fd(&sp);
		ck_assert_int_ge(fd, 0);
		close(fd);
		int peer = accept(server_fd, NULL, NULL);
		ck_assert_int_ge(peer, 0);
		close(peer);
	}
	ck_assert_int_eq(test_daemon_wait_fd_count(&daemon_under_test, baseline, 5000), baseline);
}
END_TEST

/* ---- the C client ------------------------------------------------------------------------- */

static struct sb_client *
c_client(const char *url)
{
	struct sb_client *c = NULL;
	struct sb_error err;
	ck_assert_msg(sb_client_new(&c, url, "test-handoff", &err) == 0, "%s", err.message);
	return c;
}

START_TEST(the_c_client_gets_a_descriptor_from_create_connection_and_sb_handoff)
{
	start(NULL, true);
	struct sb_client *c = c_client(daemon_under_test.url);
	struct sb_server_info info;
	struct sb_error err;
	sb_client_info(c, &info);
	ck_assert(info.handoff);

	int fd;
	sb_handle h = 42;
	struct sb_addr peer;
	ck_assert_msg(sb_create_connection_fd(c, "127.0.0.1", server_port, SB_TIMEOUT_NONE, NULL,
					      &fd, &h, &peer, &err) == 0,
		      "%s", err.message);
	ck_assert_int_ge(fd, 0);
	ck_assert_uint_eq(h, 0);
	ck_assert_uint_eq(peer.port, server_port);
	assert_talks(fd);
	close(fd);

	ck_assert_int_eq(sb_socket(c, AF_INET, SOCK_STREAM, 0, &h, &err), 0);
	struct sb_addr addr;
	ck_assert_int_eq(sb_addr_inet(&addr, "127.0.0.1", server_port), 0);
	ck_assert_int_eq(sb_connect(c, h, &addr, &err), 0);
	ck_assert_msg(sb_handoff(c, h, &fd, &err) == 0, "%s", err.message);
	ck_assert_int_ge(fd, 0);
	assert_talks(fd);
	close(fd);
	ck_assert_int_eq(sb_getsockname(c, h, &addr, &err), -EBADF);
	sb_client_free(c);
}
END_TEST

START_TEST(the_c_client_keeps_the_handle_where_the_policy_or_transport_says_no)
{
	char tcp_url[64];
	free_tcp_url(tcp_url, sizeof(tcp_url));
	test_daemon_start_listening(&daemon_under_test,
				    "{\"policy\": {\"rules\": [{\"name\": \"no-handoff\", "
				    "\"allow\": false, \"ops\": [\"handoff\"]}, {\"name\": "
				    "\"the-rest\", \"allow\": true}]}}",
				    tcp_url);
	struct sb_error err;
	int fd;
	sb_handle h;

	/* The policy keeps it: the brokered connection comes back instead. */
	struct sb_client *local = c_client(daemon_under_test.url);
	ck_assert_int_eq(sb_create_connection_fd(local, "127.0.0.1", server_port, SB_TIMEOUT_NONE,
						 NULL, &fd, &h, NULL, &err), 0);
	ck_assert_int_eq(fd, -1);
	ck_assert_uint_ne(h, 0);
	ck_assert_int_eq(sb_handoff(local, h, &fd, &err), -EACCES);
	ck_assert_int_eq(err.kind, SB_ERR_DENIED);
	ck_assert_str_eq(err.rule, "no-handoff");
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(sb_send(local, h, "ping", 4, 0, &err), 4);
	sb_client_free(local);

	/* A tcp:// client cannot take descriptors. */
	struct sb_client *remote = c_client(tcp_url);
	struct sb_server_info info;
	sb_client_info(remote, &info);
	ck_assert(!info.handoff);
	ck_assert_int_eq(sb_create_connection_fd(remote, "127.0.0.1", server_port, SB_TIMEOUT_NONE,
						 NULL, &fd, &h, NULL, &err), 0);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(sb_handoff(remote, h, &fd, &err), -EOPNOTSUPP);
	ck_assert_int_eq(err.kind, SB_ERR_UNSUPPORTED);
	ck_assert_int_eq(sb_handoff(remote, h, NULL, &err), -EINVAL);
	sb_client_free(remote);
}
END_TEST

/*
 * connect_ex with handoff on a non-blocking handle whose handshake cannot end yet (the
 * listener's accept queue is full, so its SYN is dropped): the socket comes over in SYN_SENT
 * with EINPROGRESS, and finishes its handshake in the client's hands once the queue drains.
 */
START_TEST(a_connect_in_progress_goes_with_its_handshake_under_way)
{
	start(NULL, true);
	struct sb_client *c = c_client(daemon_under_test.url);
	struct sb_error err;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int full = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(full, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(full, 0), 0);
	ck_assert_int_eq(getsockname(full, (struct sockaddr *)&sin, &len), 0);
	/* Backlog 0 holds one connection: this one fills the queue. */
	int first = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(first, (struct sockaddr *)&sin, sizeof(sin)), 0);

	sb_handle h;
	struct sb_addr addr;
	int result, fd;
	ck_assert_int_eq(sb_socket(c, AF_INET, SOCK_STREAM, 0, &h, &err), 0);
	ck_assert_int_eq(sb_setblocking(c, h, false, &err), 0);
	ck_assert_int_eq(sb_addr_inet(&addr, "127.0.0.1", ntohs(sin.sin_port)), 0);
	ck_assert_msg(sb_connect_fd(c, h, &addr, &result, &fd, &err) == 0, "%s", err.message);
	ck_assert_int_eq(result, EINPROGRESS);
	ck_assert_msg(fd >= 0, "no descriptor came with the connect in progress");
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	ck_assert_int_eq(sb_getsockname(c, h, &addr, &err), -EBADF);

	/* The queue drains: the retransmitted SYN is answered, on the client's socket. */
	int accepted = accept(full, NULL, NULL);
	ck_assert_int_ge(accepted, 0);
	ck_assert_int_eq(poll(&pfd, 1, WAIT_MS), 1);
	int error = -1;
	socklen_t error_len = sizeof(error);
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_len), 0);
	ck_assert_int_eq(error, 0);
	struct sockaddr_in peer;
	socklen_t peer_len = sizeof(peer);
	ck_assert_int_eq(getpeername(fd, (struct sockaddr *)&peer, &peer_len), 0);
	ck_assert_uint_eq(peer.sin_port, sin.sin_port);
	close(fd);
	close(accepted);
	close(first);
	close(full);
	sb_client_free(c);
}
END_TEST

/* sb_connect_fd()'s other answers: a refused connect and a blocking handle that connected keep
 * or hand over as connect does; a denied destination is the policy's errno, with nothing
 * handed over and the handle still there; bad arguments are EINVAL. */
START_TEST(connect_fd_answers_a_refusal_a_denial_and_bad_arguments)
{
	start("{\"policy\": {\"rules\": [{\"name\": \"no-port-9\", \"allow\": false, "
	      "\"ops\": [\"connect\"], \"ports\": [9]}, {\"name\": \"the-rest\", "
	      "\"allow\": true}]}}",
	      false);
	struct sb_client *c = c_client(daemon_under_test.url);
	struct sb_error err;
	struct sb_addr addr;
	sb_handle h;
	int result, fd;

	ck_assert_int_eq(sb_socket(c, AF_INET, SOCK_STREAM, 0, &h, &err), 0);
	ck_assert_int_eq(sb_addr_inet(&addr, "127.0.0.1", server_port), 0);
	ck_assert_msg(sb_connect_fd(c, h, &addr, &result, &fd, &err) == 0, "%s", err.message);
	ck_assert_int_eq(result, 0);
	ck_assert_int_ge(fd, 0);
	assert_talks(fd);
	close(fd);

	ck_assert_int_eq(sb_socket(c, AF_INET, SOCK_STREAM, 0, &h, &err), 0);
	ck_assert_int_eq(sb_addr_inet(&addr, "127.0.0.1", closed_tcp_port()), 0);
	ck_assert_int_eq(sb_connect_fd(c, h, &addr, &result, &fd, &err), 0);
	ck_assert_int_eq(result, ECONNREFUSED);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(sb_close(c, h, &err), 0);

	ck_assert_int_eq(sb_socket(c, AF_INET, SOCK_STREAM, 0, &h, &err), 0);
	ck_assert_int_eq(sb_addr_inet(&addr, "127.0.0.1", 9), 0);
	ck_assert_int_eq(sb_connect_fd(c, h, &addr, &result, &fd, &err), -EACCES);
	ck_assert_int_eq(err.kind, SB_ERR_DENIED);
	ck_assert_str_eq(err.rule, "no-port-9");
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(sb_close(c, h, &err), 0);

	ck_assert_int_eq(sb_connect_fd(c, h, NULL, &result, &fd, &err), -EINVAL);
	ck_assert_int_eq(sb_connect_fd(c, h, &addr, NULL, &fd, &err), -EINVAL);
	ck_assert_int_eq(sb_connect_fd(c, h, &addr, &result, NULL, &err), -EINVAL);
	ck_assert_int_eq(sb_connect_fd(c, 999999, &addr, &result, &fd, &err), -EBADF);
	sb_client_free(c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("handoff");
	const struct fixture_case cases[] = {
		{ "connect", a_connected_tcp_socket_goes_to_the_client_and_its_handle_is_gone },
		{ "operation", the_handoff_operation_passes_a_socket_connected_earlier },
		{ "unconnected", an_unconnected_udp_or_unconnected_tcp_socket_is_never_handed_off },
		{ "udp", a_connected_udp_socket_is_not_handed_off_by_the_default_policy },
		{ "udp-allowed", a_connected_udp_socket_is_never_handed_off_even_where_the_policy_allows_it },
		{ "pinned", a_handed_off_socket_connected_again_elsewhere_never_connects },
		{ "fastopen", a_send_with_msg_fastopen_is_refused },
		{ "policy", a_policy_that_forbids_handoff_keeps_the_rpc_path },
		{ "denied", a_denied_destination_is_never_handed_off },
		{ "tcp-transport", a_tcp_client_gets_the_rpc_path },
		{ "thousand", a_thousand_handoffs_leave_the_daemon_at_its_descriptor_baseline },
		{ "c-client", the_c_client_gets_a_descriptor_from_create_connection_and_sb_handoff },
		{ "c-client-kept", the_c_client_keeps_the_handle_where_the_policy_or_transport_says_no },
		{ "in-progress", a_connect_in_progress_goes_with_its_handshake_under_way },
		{ "connect-fd", connect_fd_answers_a_refusal_a_denial_and_bad_arguments },
	};
	fixture_add_cases(s, cases, sizeof(cases) / sizeof(cases[0]), setup, teardown, 120);
	return fixture_run(s);
}
