/*
 * Unit tests of server/wire.c. Requests are built with the generated protobuf-c API and packed,
 * exactly as a client sends them, then decoded; replies are encoded and unpacked again, and
 * every field is checked. The only other includer of the generated header is wire.c itself.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "sockbroker.pb-c.h"
#include "wire.h"

typedef Sockbroker__V1__Request Request;
typedef Sockbroker__V1__Reply Reply;

#define OP(name) SOCKBROKER__V1__REQUEST__OP_##name
#define RESULT(name) SOCKBROKER__V1__REPLY__RESULT_##name
#define KIND(name) SOCKBROKER__V1__ERROR_KIND__##name
#define MAX_DATA 65536

static const struct wire_limits limits = {.max_data_size = MAX_DATA};

static int
decode_bytes(const void *buf, size_t len, struct request **out, struct wire_error *error)
{
	*out = NULL;
	return wire_decode_request(buf, len, &limits, out, error);
}

/* Pack `msg` as a client would and decode it. The packed bytes are gone by the time this
 * returns: whatever the request points into must be its own. */
static int
decode(const Request *msg, struct request **out, struct wire_error *error)
{
	size_t len = sockbroker__v1__request__get_packed_size(msg);
	uint8_t *buf = malloc(len + 1);
	int r;

	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(sockbroker__v1__request__pack(msg, buf), len);
	r = decode_bytes(buf, len, out, error);
	memset(buf, 0xee, len);
	free(buf);
	return r;
}

static struct request *
decode_ok(const Request *msg)
{
	struct request *req;
	struct wire_error error;
	int r = decode(msg, &req, &error);

	ck_assert_msg(r == 0, "decode failed (%d): %s", r, error.message);
	ck_assert_ptr_nonnull(req);
	return req;
}

/* Decoding `msg` must fail with BAD_REQUEST, `errnum`, and a message containing `needle`. */
static struct wire_error
decode_invalid(const Request *msg, int errnum, const char *needle)
{
	struct request *req = (struct request *)&req;
	struct wire_error error;

	ck_assert_int_eq(decode(msg, &req, &error), -EINVAL);
	ck_assert_ptr_null(req);
	ck_assert_int_eq(error.kind, ERROR_BAD_REQUEST);
	ck_assert_int_eq(error.errnum, errnum);
	ck_assert_msg(strstr(error.message, needle), "message \"%s\" does not contain \"%s\"",
		      error.message, needle);
	return error;
}

/* ---- decoding: valid requests ----------------------------------------------------------- */

START_TEST(wire_decodes_socket_with_every_argument)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SocketRequest m = SOCKBROKER__V1__SOCKET_REQUEST__INIT;
	struct request *req;

	m.has_family = m.has_type = m.has_proto = m.has_timeout = true;
	m.family = AF_INET6;
	m.type = SOCK_DGRAM;
	m.proto = IPPROTO_UDP;
	m.timeout = 2.5;
	msg.has_seq = true;
	msg.seq = 3;
	msg.op_case = OP(SOCKET);
	msg.socket = &m;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_SOCKET);
	ck_assert_uint_eq(req->seq, 3);
	ck_assert_int_eq(req->socket.family, AF_INET6);
	ck_assert_int_eq(req->socket.type, SOCK_DGRAM);
	ck_assert_int_eq(req->socket.proto, IPPROTO_UDP);
	ck_assert_int_eq(req->socket.timeout_ns, 2500000000LL);
	/* Nothing points into the message: it is not kept. */
	ck_assert_ptr_null(req->message);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_decodes_socket_defaults_as_the_reference)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SocketRequest m = SOCKBROKER__V1__SOCKET_REQUEST__INIT;
	struct request *req;

	msg.op_case = OP(SOCKET);
	msg.socket = &m;
	req = decode_ok(&msg);
	ck_assert_uint_eq(req->seq, 0);
	ck_assert_int_eq(req->socket.family, AF_INET);
	ck_assert_int_eq(req->socket.type, SOCK_STREAM);
	ck_assert_int_eq(req->socket.proto, 0);
	ck_assert_int_eq(req->socket.timeout_ns, TIMEOUT_NONE);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_decodes_socketpair_defaulting_to_af_unix)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SocketPairRequest m = SOCKBROKER__V1__SOCKET_PAIR_REQUEST__INIT;
	struct request *req;

	m.has_timeout = true;
	m.timeout = 0.0;
	msg.op_case = OP(SOCKETPAIR);
	msg.socketpair = &m;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_SOCKETPAIR);
	ck_assert_int_eq(req->socket.family, AF_UNIX);
	ck_assert_int_eq(req->socket.type, SOCK_STREAM);
	/* 0.0 is non-blocking mode, not None. */
	ck_assert_int_eq(req->socket.timeout_ns, 0);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_decodes_connect_with_an_inet_address)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__ConnectRequest m = SOCKBROKER__V1__CONNECT_REQUEST__INIT;
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__InetAddress in = SOCKBROKER__V1__INET_ADDRESS__INIT;
	struct request *req;

	in.host = "example.org";
	in.has_port = true;
	in.port = 443;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET;
	address.af_inet = &in;
	m.has_handle = true;
	m.handle = 5;
	m.address = &address;
	msg.op_case = OP(CONNECT);
	msg.connect = &m;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_CONNECT);
	ck_assert_uint_eq(req->handle, 5);
	ck_assert(!req->addr.ex);
	ck_assert_int_eq(req->addr.address.family, AF_INET);
	ck_assert_str_eq(req->addr.address.inet.host, "example.org");
	ck_assert_uint_eq(req->addr.address.inet.port, 443);
	wire_request_free(req);

	m.has_ex = m.ex = true;
	in.host = NULL; /* absent host: "" */
	req = decode_ok(&msg);
	ck_assert(req->addr.ex);
	ck_assert_str_eq(req->addr.address.inet.host, "");
	wire_request_free(req);
}
END_TEST

START_TEST(wire_decodes_connect_with_an_inet6_address)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__ConnectRequest m = SOCKBROKER__V1__CONNECT_REQUEST__INIT;
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__Inet6Address in6 = SOCKBROKER__V1__INET6_ADDRESS__INIT;
	struct request *req;

	in6.host = "fe80::1%lo";
	in6.has_port = in6.has_flowinfo = in6.has_scope_id = true;
	in6.port = 0;
	in6.flowinfo = 0xfffff;
	in6.scope_id = 7;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET6;
	address.af_inet6 = &in6;
	m.has_handle = true;
	m.handle = 9;
	m.address = &address;
	msg.op_case = OP(CONNECT);
	msg.connect = &m;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->addr.address.family, AF_INET6);
	ck_assert_str_eq(req->addr.address.inet.host, "fe80::1%lo");
	ck_assert_uint_eq(req->addr.address.inet.port, 0);
	ck_assert_uint_eq(req->addr.address.inet.flowinfo, 0xfffff);
	ck_assert_uint_eq(req->addr.address.inet.scope_id, 7);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_decodes_bind_with_unix_paths_and_abstract_names)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__BindRequest m = SOCKBROKER__V1__BIND_REQUEST__INIT;
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__UnixAddress un;
	uint8_t longest[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct request *req;

	/* The _INIT macro of a message whose oneof starts with bytes trips -Wmissing-braces. */
	sockbroker__v1__unix_address__init(&un);
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_UNIX;
	address.af_unix = &un;
	m.has_handle = true;
	m.handle = 1;
	m.address = &address;
	msg.op_case = OP(BIND);
	msg.bind = &m;

	un.name_case = SOCKBROKER__V1__UNIX_ADDRESS__NAME_PATH;
	un.path.data = (uint8_t *)"/run/x";
	un.path.len = 6;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_BIND);
	ck_assert_int_eq(req->addr.address.family, AF_UNIX);
	ck_assert(!req->addr.address.un.abstract);
	ck_assert_uint_eq(req->addr.address.un.len, 6);
	ck_assert_mem_eq(req->addr.address.un.path, "/run/x", 6);
	wire_request_free(req);

	/* A path may fill sun_path entirely. */
	memset(longest, 'a', sizeof(longest));
	un.path.data = longest;
	un.path.len = sizeof(longest);
	req = decode_ok(&msg);
	ck_assert_uint_eq(req->addr.address.un.len, sizeof(longest));
	wire_request_free(req);

	un.name_case = SOCKBROKER__V1__UNIX_ADDRESS__NAME_ABSTRACT;
	un.abstract.data = (uint8_t *)"n\0m";
	un.abstract.len = 3;
	req = decode_ok(&msg);
	ck_assert(req->addr.address.un.abstract);
	ck_assert_uint_eq(req->addr.address.un.len, 3);
	ck_assert_mem_eq(req->addr.address.un.path, "n\0m", 3);
	wire_request_free(req);

	/* Neither: an unnamed address (autobind). */
	un.name_case = SOCKBROKER__V1__UNIX_ADDRESS__NAME__NOT_SET;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->addr.address.family, AF_UNIX);
	ck_assert_uint_eq(req->addr.address.un.len, 0);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_decodes_send_with_data_kept_in_the_request)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SendRequest m = SOCKBROKER__V1__SEND_REQUEST__INIT;
	struct request *req;

	m.has_handle = m.has_data = m.has_flags = true;
	m.handle = 12;
	m.data.data = (uint8_t *)"hello";
	m.data.len = 5;
	m.flags = MSG_NOSIGNAL;
	msg.op_case = OP(SEND);
	msg.send = &m;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_SEND);
	ck_assert_uint_eq(req->handle, 12);
	ck_assert_uint_eq(req->send.len, 5);
	ck_assert_mem_eq(req->send.data, "hello", 5);
	ck_assert_int_eq(req->send.flags, MSG_NOSIGNAL);
	ck_assert(!req->send.has_address);
	ck_assert_ptr_nonnull(req->message);
	wire_request_free(req);

	/* sendall decodes the same way; no data is an empty send. */
	m.has_data = false;
	msg.op_case = OP(SENDALL);
	msg.sendall = &m;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_SENDALL);
	ck_assert_uint_eq(req->send.len, 0);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_decodes_sendto_with_its_address)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SendRequest m = SOCKBROKER__V1__SEND_REQUEST__INIT;
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__InetAddress in = SOCKBROKER__V1__INET_ADDRESS__INIT;
	struct request *req;

	in.host = "<broadcast>";
	in.has_port = true;
	in.port = 9;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET;
	address.af_inet = &in;
	m.has_handle = m.has_data = true;
	m.handle = 2;
	m.data.data = (uint8_t *)"dgram";
	m.data.len = 5;
	m.address = &address;
	msg.op_case = OP(SENDTO);
	msg.sendto = &m;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_SENDTO);
	ck_assert(req->send.has_address);
	ck_assert_str_eq(req->send.address.inet.host, "<broadcast>");
	ck_assert_uint_eq(req->send.address.inet.port, 9);
	ck_assert_mem_eq(req->send.data, "dgram", 5);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_decodes_recv_and_recvfrom)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__RecvRequest m = SOCKBROKER__V1__RECV_REQUEST__INIT;
	struct request *req;

	m.has_handle = m.has_bufsize = m.has_flags = true;
	m.handle = 4;
	m.bufsize = 1000;
	m.flags = MSG_PEEK;
	msg.op_case = OP(RECV);
	msg.recv = &m;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_RECV);
	ck_assert_uint_eq(req->handle, 4);
	ck_assert_uint_eq(req->recv.bufsize, 1000);
	ck_assert_int_eq(req->recv.flags, MSG_PEEK);
	ck_assert_ptr_null(req->message);
	wire_request_free(req);

	m.bufsize = 0;
	m.has_flags = false;
	msg.op_case = OP(RECVFROM);
	msg.recvfrom = &m;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_RECVFROM);
	ck_assert_uint_eq(req->recv.bufsize, 0);
	ck_assert_int_eq(req->recv.flags, 0);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_clamps_recv_bufsize_above_max_data_size)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__RecvRequest m = SOCKBROKER__V1__RECV_REQUEST__INIT;
	struct request *req;

	m.has_handle = m.has_bufsize = true;
	m.handle = 4;
	m.bufsize = MAX_DATA + 1;
	msg.op_case = OP(RECV);
	msg.recv = &m;
	req = decode_ok(&msg);
	ck_assert_uint_eq(req->recv.bufsize, MAX_DATA);
	wire_request_free(req);

	m.bufsize = INT64_MAX;
	req = decode_ok(&msg);
	ck_assert_uint_eq(req->recv.bufsize, MAX_DATA);
	wire_request_free(req);

	m.bufsize = MAX_DATA;
	req = decode_ok(&msg);
	ck_assert_uint_eq(req->recv.bufsize, MAX_DATA);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_decodes_setsockopt_int_bytes_and_null_forms)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SetSockOptRequest m = SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__INIT;
	const uint8_t linger[8] = {1, 0, 0, 0, 5, 0, 0, 0};
	struct request *req;

	m.has_handle = m.has_level = m.has_optname = true;
	m.handle = 6;
	m.level = SOL_SOCKET;
	m.optname = SO_REUSEADDR;
	m.value_case = SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__VALUE_INT_VALUE;
	m.int_value = INT_MIN;
	msg.op_case = OP(SETSOCKOPT);
	msg.setsockopt = &m;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_SETSOCKOPT);
	ck_assert_uint_eq(req->handle, 6);
	ck_assert_int_eq(req->setsockopt.level, SOL_SOCKET);
	ck_assert_int_eq(req->setsockopt.optname, SO_REUSEADDR);
	ck_assert_int_eq(req->setsockopt.kind, SOCKOPT_INT);
	ck_assert_int_eq(req->setsockopt.int_value, INT_MIN);
	wire_request_free(req);

	m.value_case = SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__VALUE_BYTES_VALUE;
	m.bytes_value.data = (uint8_t *)linger;
	m.bytes_value.len = sizeof(linger);
	req = decode_ok(&msg);
	ck_assert_int_eq(req->setsockopt.kind, SOCKOPT_BYTES);
	ck_assert_uint_eq(req->setsockopt.len, sizeof(linger));
	ck_assert_mem_eq(req->setsockopt.bytes, linger, sizeof(linger));
	ck_assert_ptr_nonnull(req->message);
	wire_request_free(req);

	m.value_case = SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__VALUE_NULL_OPTLEN;
	m.null_optlen = 8;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->setsockopt.kind, SOCKOPT_NULL);
	ck_assert_uint_eq(req->setsockopt.len, 8);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_decodes_getsockopt_with_and_without_buflen)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__GetSockOptRequest m = SOCKBROKER__V1__GET_SOCK_OPT_REQUEST__INIT;
	struct request *req;

	m.has_handle = m.has_level = m.has_optname = true;
	m.handle = 3;
	m.level = IPPROTO_TCP;
	m.optname = 1;
	msg.op_case = OP(GETSOCKOPT);
	msg.getsockopt = &m;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_GETSOCKOPT);
	ck_assert_int_eq(req->getsockopt.level, IPPROTO_TCP);
	ck_assert_int_eq(req->getsockopt.optname, 1);
	ck_assert(!req->getsockopt.has_buflen);
	wire_request_free(req);

	m.has_buflen = true;
	m.buflen = SOCKOPT_MAX_LEN;
	req = decode_ok(&msg);
	ck_assert(req->getsockopt.has_buflen);
	ck_assert_int_eq(req->getsockopt.buflen, SOCKOPT_MAX_LEN);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_decodes_settimeout_none_zero_and_seconds)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SetTimeoutRequest m = SOCKBROKER__V1__SET_TIMEOUT_REQUEST__INIT;
	struct request *req;

	m.has_handle = true;
	m.handle = 8;
	msg.op_case = OP(SETTIMEOUT);
	msg.settimeout = &m;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_SETTIMEOUT);
	ck_assert_uint_eq(req->handle, 8);
	ck_assert_int_eq(req->settimeout.timeout_ns, TIMEOUT_NONE);
	wire_request_free(req);

	m.has_timeout = true;
	m.timeout = 0.0;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->settimeout.timeout_ns, 0);
	wire_request_free(req);

	m.timeout = 0.25;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->settimeout.timeout_ns, 250000000);
	wire_request_free(req);

	/* A tiny positive timeout is timeout mode, never non-blocking. */
	m.timeout = 1e-12;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->settimeout.timeout_ns, 1);
	wire_request_free(req);

	m.timeout = TIMEOUT_MAX_SECONDS;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->settimeout.timeout_ns, (int64_t)(TIMEOUT_MAX_SECONDS * 1e9));
	wire_request_free(req);
}
END_TEST

START_TEST(wire_decodes_hello_with_a_truncated_client_name)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HelloRequest m = SOCKBROKER__V1__HELLO_REQUEST__INIT;
	char name[200];
	struct request *req;

	memset(name, 'c', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	m.client_name = name;
	msg.op_case = OP(HELLO);
	msg.hello = &m;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_HELLO);
	ck_assert_uint_eq(req->hello.protocol_version, 1);
	ck_assert_uint_eq(strlen(req->hello.client_name), sizeof(req->hello.client_name) - 1);
	wire_request_free(req);

	m.has_protocol_version = true;
	m.protocol_version = 2;
	m.client_name = "python-sockbroker/0.1";
	req = decode_ok(&msg);
	ck_assert_uint_eq(req->hello.protocol_version, 2);
	ck_assert_str_eq(req->hello.client_name, "python-sockbroker/0.1");
	wire_request_free(req);
}
END_TEST

START_TEST(wire_decodes_a_negative_listen_backlog_as_zero)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__ListenRequest m = SOCKBROKER__V1__LISTEN_REQUEST__INIT;
	struct request *req;

	m.has_handle = m.has_backlog = true;
	m.handle = 1;
	m.backlog = -5;
	msg.op_case = OP(LISTEN);
	msg.listen = &m;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_LISTEN);
	ck_assert(req->listen.has_backlog);
	ck_assert_int_eq(req->listen.backlog, 0);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_decodes_cancel_with_its_target)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__CancelRequest m = SOCKBROKER__V1__CANCEL_REQUEST__INIT;
	struct request *req;

	m.has_target_seq = true;
	m.target_seq = UINT64_MAX;
	msg.op_case = OP(CANCEL);
	msg.cancel = &m;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_CANCEL);
	ck_assert_uint_eq(req->cancel.target_seq, UINT64_MAX);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_request_free_of_null_is_a_noop)
{
	wire_request_free(NULL);
}
END_TEST

/* ---- decoding: invalid requests --------------------------------------------------------- */

START_TEST(wire_rejects_recv_without_a_handle_naming_the_field)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__RecvRequest m = SOCKBROKER__V1__RECV_REQUEST__INIT;
	struct wire_error error;

	m.has_bufsize = true;
	m.bufsize = 10;
	msg.has_seq = true;
	msg.seq = 42;
	msg.op_case = OP(RECV);
	msg.recv = &m;
	error = decode_invalid(&msg, EINVAL, "recv.handle is required");
	/* The reply to a bad request still carries its seq and operation. */
	ck_assert_uint_eq(error.seq, 42);
	ck_assert_int_eq(error.op, OP_RECV);
}
END_TEST

START_TEST(wire_rejects_operations_on_a_handle_without_one)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HandleRequest h = SOCKBROKER__V1__HANDLE_REQUEST__INIT;
	Sockbroker__V1__SetTimeoutRequest st = SOCKBROKER__V1__SET_TIMEOUT_REQUEST__INIT;
	Sockbroker__V1__SendRequest s = SOCKBROKER__V1__SEND_REQUEST__INIT;

	msg.op_case = OP(CLOSE);
	msg.close = &h;
	decode_invalid(&msg, EINVAL, "close.handle is required");
	msg.op_case = OP(GETPEERNAME);
	msg.getpeername = &h;
	decode_invalid(&msg, EINVAL, "getpeername.handle is required");
	msg.op_case = OP(SETTIMEOUT);
	msg.settimeout = &st;
	decode_invalid(&msg, EINVAL, "settimeout.handle is required");
	msg.op_case = OP(SEND);
	msg.send = &s;
	decode_invalid(&msg, EINVAL, "send.handle is required");
}
END_TEST

START_TEST(wire_rejects_negative_recv_bufsize_naming_the_field)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__RecvRequest m = SOCKBROKER__V1__RECV_REQUEST__INIT;

	m.has_handle = m.has_bufsize = true;
	m.handle = 1;
	m.bufsize = -1;
	msg.op_case = OP(RECV);
	msg.recv = &m;
	decode_invalid(&msg, EINVAL, "negative buffersize in recv");
	msg.op_case = OP(RECVFROM);
	msg.recvfrom = &m;
	m.bufsize = INT64_MIN;
	decode_invalid(&msg, EINVAL, "negative buffersize in recvfrom");
}
END_TEST

START_TEST(wire_rejects_recv_without_a_bufsize)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__RecvRequest m = SOCKBROKER__V1__RECV_REQUEST__INIT;

	m.has_handle = true;
	m.handle = 1;
	msg.op_case = OP(RECV);
	msg.recv = &m;
	decode_invalid(&msg, EINVAL, "recv.bufsize is required");
}
END_TEST

/* A connect request on handle 1 to `address`. */
static void
connect_to(Request *msg, Sockbroker__V1__ConnectRequest *m, Sockbroker__V1__Address *address)
{
	m->has_handle = true;
	m->handle = 1;
	m->address = address;
	msg->op_case = OP(CONNECT);
	msg->connect = m;
}

START_TEST(wire_rejects_port_70000_with_eoverflow)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__ConnectRequest m = SOCKBROKER__V1__CONNECT_REQUEST__INIT;
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__InetAddress in = SOCKBROKER__V1__INET_ADDRESS__INIT;
	Sockbroker__V1__Inet6Address in6 = SOCKBROKER__V1__INET6_ADDRESS__INIT;

	in.host = "127.0.0.1";
	in.has_port = true;
	in.port = 70000;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET;
	address.af_inet = &in;
	connect_to(&msg, &m, &address);
	decode_invalid(&msg, EOVERFLOW, "connect.address.port");

	in.port = 65536;
	decode_invalid(&msg, EOVERFLOW, "connect.address.port");

	in6.host = "::1";
	in6.has_port = true;
	in6.port = 70000;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET6;
	address.af_inet6 = &in6;
	decode_invalid(&msg, EOVERFLOW, "connect.address.port");
}
END_TEST

START_TEST(wire_rejects_an_inet_address_without_a_port)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__ConnectRequest m = SOCKBROKER__V1__CONNECT_REQUEST__INIT;
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__InetAddress in = SOCKBROKER__V1__INET_ADDRESS__INIT;

	in.host = "127.0.0.1";
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET;
	address.af_inet = &in;
	connect_to(&msg, &m, &address);
	decode_invalid(&msg, EINVAL, "connect.address.port is required");
}
END_TEST

START_TEST(wire_rejects_a_host_longer_than_255_bytes)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__ConnectRequest m = SOCKBROKER__V1__CONNECT_REQUEST__INIT;
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__InetAddress in = SOCKBROKER__V1__INET_ADDRESS__INIT;
	char host[ADDRESS_HOST_MAX + 1];
	struct request *req;

	memset(host, 'h', sizeof(host));
	host[ADDRESS_HOST_MAX] = '\0';
	in.host = host;
	in.has_port = true;
	in.port = 1;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET;
	address.af_inet = &in;
	connect_to(&msg, &m, &address);
	decode_invalid(&msg, EINVAL, "connect.address.host");

	host[ADDRESS_HOST_MAX - 1] = '\0';
	req = decode_ok(&msg);
	ck_assert_uint_eq(strlen(req->addr.address.inet.host), ADDRESS_HOST_MAX - 1);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_rejects_flowinfo_above_0xfffff)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__ConnectRequest m = SOCKBROKER__V1__CONNECT_REQUEST__INIT;
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__Inet6Address in6 = SOCKBROKER__V1__INET6_ADDRESS__INIT;

	in6.host = "::1";
	in6.has_port = in6.has_flowinfo = true;
	in6.port = 80;
	in6.flowinfo = 0x100000;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET6;
	address.af_inet6 = &in6;
	connect_to(&msg, &m, &address);
	decode_invalid(&msg, EOVERFLOW, "connect.address.flowinfo");
}
END_TEST

START_TEST(wire_rejects_a_unix_path_of_200_bytes)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__BindRequest m = SOCKBROKER__V1__BIND_REQUEST__INIT;
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__UnixAddress un;
	uint8_t path[200];

	sockbroker__v1__unix_address__init(&un);
	memset(path, 'p', sizeof(path));
	un.name_case = SOCKBROKER__V1__UNIX_ADDRESS__NAME_PATH;
	un.path.data = path;
	un.path.len = sizeof(path);
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_UNIX;
	address.af_unix = &un;
	m.has_handle = true;
	m.handle = 1;
	m.address = &address;
	msg.op_case = OP(BIND);
	msg.bind = &m;
	decode_invalid(&msg, EINVAL, "bind.address: AF_UNIX path too long");

	/* An abstract name has room for one byte less than a path: its leading NUL. */
	un.name_case = SOCKBROKER__V1__UNIX_ADDRESS__NAME_ABSTRACT;
	un.abstract.data = path;
	un.abstract.len = sizeof(((struct sockaddr_un *)0)->sun_path);
	decode_invalid(&msg, EINVAL, "AF_UNIX path too long");
}
END_TEST

START_TEST(wire_rejects_connect_without_an_address)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__ConnectRequest m = SOCKBROKER__V1__CONNECT_REQUEST__INIT;
	Sockbroker__V1__Address empty = SOCKBROKER__V1__ADDRESS__INIT;

	connect_to(&msg, &m, NULL);
	decode_invalid(&msg, EINVAL, "connect.address is required");
	/* An Address with no family set. */
	m.address = &empty;
	decode_invalid(&msg, EINVAL, "connect.address names no address family");
}
END_TEST

START_TEST(wire_rejects_sendto_without_an_address_and_send_with_one)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SendRequest m = SOCKBROKER__V1__SEND_REQUEST__INIT;
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__InetAddress in = SOCKBROKER__V1__INET_ADDRESS__INIT;

	m.has_handle = true;
	m.handle = 1;
	msg.op_case = OP(SENDTO);
	msg.sendto = &m;
	decode_invalid(&msg, EINVAL, "sendto.address is required");

	in.has_port = true;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET;
	address.af_inet = &in;
	m.address = &address;
	msg.op_case = OP(SEND);
	msg.send = &m;
	decode_invalid(&msg, EINVAL, "send takes no address");
}
END_TEST

START_TEST(wire_rejects_a_raw_address_for_a_family_that_has_its_own_member)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__ConnectRequest m = SOCKBROKER__V1__CONNECT_REQUEST__INIT;
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__RawAddress raw = SOCKBROKER__V1__RAW_ADDRESS__INIT;
	uint8_t data[ADDRESS_RAW_MAX + 1] = {0};
	struct request *req;

	raw.has_family = raw.has_data = true;
	raw.family = AF_INET;
	raw.data.data = data;
	raw.data.len = 14;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_RAW;
	address.raw = &raw;
	connect_to(&msg, &m, &address);
	decode_invalid(&msg, EINVAL, "use the af_inet/af_inet6/af_unix member");

	raw.family = 0x10000;
	decode_invalid(&msg, EINVAL, "connect.address.raw.family");
	raw.has_family = false;
	decode_invalid(&msg, EINVAL, "connect.address.raw.family");

	raw.has_family = true;
	raw.family = AF_APPLETALK;
	raw.data.len = sizeof(data);
	decode_invalid(&msg, EINVAL, "connect.address.raw.data");

	raw.data.len = ADDRESS_RAW_MAX;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->addr.address.family, AF_APPLETALK);
	ck_assert_uint_eq(req->addr.address.raw.len, ADDRESS_RAW_MAX);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_answers_unsupported_for_a_netlink_address)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__ConnectRequest m = SOCKBROKER__V1__CONNECT_REQUEST__INIT;
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__NetlinkAddress nl = SOCKBROKER__V1__NETLINK_ADDRESS__INIT;
	struct request *req = NULL;
	struct wire_error error;

	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_NETLINK;
	address.af_netlink = &nl;
	connect_to(&msg, &m, &address);
	msg.has_seq = true;
	msg.seq = 77;
	ck_assert_int_eq(decode(&msg, &req, &error), -EINVAL);
	ck_assert_ptr_null(req);
	ck_assert_int_eq(error.kind, ERROR_UNSUPPORTED);
	ck_assert_int_eq(error.errnum, ENOSYS);
	ck_assert_ptr_nonnull(strstr(error.message, "connect.address"));
	ck_assert_uint_eq(error.seq, 77);
	ck_assert_int_eq(error.op, OP_CONNECT);
}
END_TEST

START_TEST(wire_rejects_negative_and_nan_timeouts_as_out_of_range)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SetTimeoutRequest m = SOCKBROKER__V1__SET_TIMEOUT_REQUEST__INIT;
	Sockbroker__V1__SocketRequest s = SOCKBROKER__V1__SOCKET_REQUEST__INIT;

	m.has_handle = m.has_timeout = true;
	m.handle = 1;
	m.timeout = -0.5;
	msg.op_case = OP(SETTIMEOUT);
	msg.settimeout = &m;
	decode_invalid(&msg, EINVAL, "settimeout.timeout: Timeout value out of range");
	m.timeout = NAN;
	decode_invalid(&msg, EINVAL, "Timeout value out of range");
	m.timeout = -INFINITY;
	decode_invalid(&msg, EINVAL, "Timeout value out of range");

	s.has_timeout = true;
	s.timeout = -1;
	msg.op_case = OP(SOCKET);
	msg.socket = &s;
	decode_invalid(&msg, EINVAL, "socket.timeout: Timeout value out of range");
}
END_TEST

START_TEST(wire_rejects_a_timeout_of_1e300_with_eoverflow)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SetTimeoutRequest m = SOCKBROKER__V1__SET_TIMEOUT_REQUEST__INIT;
	Sockbroker__V1__AcceptRequest a = SOCKBROKER__V1__ACCEPT_REQUEST__INIT;

	m.has_handle = m.has_timeout = true;
	m.handle = 1;
	m.timeout = 1e300;
	msg.op_case = OP(SETTIMEOUT);
	msg.settimeout = &m;
	decode_invalid(&msg, EOVERFLOW, "settimeout.timeout");
	m.timeout = INFINITY;
	decode_invalid(&msg, EOVERFLOW, "settimeout.timeout");
	m.timeout = TIMEOUT_MAX_SECONDS * 2;
	decode_invalid(&msg, EOVERFLOW, "settimeout.timeout");

	a.has_handle = a.has_default_timeout = true;
	a.handle = 1;
	a.default_timeout = 1e300;
	msg.op_case = OP(ACCEPT);
	msg.accept = &a;
	decode_invalid(&msg, EOVERFLOW, "accept.default_timeout");
}
END_TEST

START_TEST(wire_rejects_getsockopt_buflen_0_and_2000)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__GetSockOptRequest m = SOCKBROKER__V1__GET_SOCK_OPT_REQUEST__INIT;

	m.has_handle = m.has_level = m.has_optname = m.has_buflen = true;
	m.handle = 1;
	m.level = SOL_SOCKET;
	m.optname = SO_TYPE;
	m.buflen = 0;
	msg.op_case = OP(GETSOCKOPT);
	msg.getsockopt = &m;
	decode_invalid(&msg, EINVAL, "getsockopt buflen out of range");
	m.buflen = 2000;
	decode_invalid(&msg, EINVAL, "getsockopt buflen out of range");
	m.buflen = -1;
	decode_invalid(&msg, EINVAL, "getsockopt buflen out of range");

	m.has_buflen = false;
	m.has_optname = false;
	decode_invalid(&msg, EINVAL, "getsockopt.level and .optname are required");
}
END_TEST

START_TEST(wire_rejects_a_setsockopt_int_value_of_2_to_the_40_with_eoverflow)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SetSockOptRequest m = SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__INIT;

	m.has_handle = m.has_level = m.has_optname = true;
	m.handle = 1;
	m.level = SOL_SOCKET;
	m.optname = SO_RCVBUF;
	m.value_case = SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__VALUE_INT_VALUE;
	m.int_value = INT64_C(1) << 40;
	msg.op_case = OP(SETSOCKOPT);
	msg.setsockopt = &m;
	decode_invalid(&msg, EOVERFLOW, "does not fit a C int");
	m.int_value = (int64_t)INT_MAX + 1;
	decode_invalid(&msg, EOVERFLOW, "does not fit a C int");
	m.int_value = (int64_t)INT_MIN - 1;
	decode_invalid(&msg, EOVERFLOW, "does not fit a C int");
}
END_TEST

START_TEST(wire_rejects_setsockopt_without_a_value)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SetSockOptRequest m = SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__INIT;
	uint8_t big[SOCKOPT_MAX_LEN + 1] = {0};

	m.has_handle = m.has_level = m.has_optname = true;
	m.handle = 1;
	m.level = SOL_SOCKET;
	m.optname = SO_KEEPALIVE;
	msg.op_case = OP(SETSOCKOPT);
	msg.setsockopt = &m;
	decode_invalid(&msg, EINVAL, "setsockopt needs a value");

	m.value_case = SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__VALUE_BYTES_VALUE;
	m.bytes_value.data = big;
	m.bytes_value.len = sizeof(big);
	decode_invalid(&msg, EINVAL, "longer than 1024");
}
END_TEST

START_TEST(wire_rejects_shutdown_without_how_and_cancel_without_target)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__ShutdownRequest sh = SOCKBROKER__V1__SHUTDOWN_REQUEST__INIT;
	Sockbroker__V1__CancelRequest c = SOCKBROKER__V1__CANCEL_REQUEST__INIT;

	sh.has_handle = true;
	sh.handle = 1;
	msg.op_case = OP(SHUTDOWN);
	msg.shutdown = &sh;
	decode_invalid(&msg, EINVAL, "shutdown.how is required");
	msg.op_case = OP(CANCEL);
	msg.cancel = &c;
	decode_invalid(&msg, EINVAL, "cancel.target_seq is required");
}
END_TEST

START_TEST(wire_rejects_a_cmsg_size_out_of_range_with_eoverflow)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__CmsgSizeRequest m = SOCKBROKER__V1__CMSG_SIZE_REQUEST__INIT;
	struct request *req;

	m.has_length = true;
	m.length = -1;
	msg.op_case = OP(CMSG_SIZE);
	msg.cmsg_size = &m;
	decode_invalid(&msg, EOVERFLOW, "CMSG_LEN() argument out of range");
	m.length = 16;
	req = decode_ok(&msg);
	ck_assert_uint_eq(req->cmsg_size.length, 16);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_rejects_garbage_bytes_as_not_a_request)
{
	static const struct {
		const char *bytes;
		size_t len;
	} garbage[] = {
		{"\x08\xff\xff", 3},             /* seq: a varint that never ends */
		{"\xa2\x01\x10\x08", 4},         /* socket: 16 bytes announced, 1 there */
		{"\xff\xff\xff\xff\xff\xff", 6}, /* a tag that never ends */
		{"\x0f", 1},                     /* field 1, wire type 7 (none such) */
	};

	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		struct request *req = NULL;
		struct wire_error error;

		ck_assert_int_eq(decode_bytes(garbage[i].bytes, garbage[i].len, &req, &error),
				 -EINVAL);
		ck_assert_ptr_null(req);
		ck_assert_int_eq(error.kind, ERROR_BAD_REQUEST);
		ck_assert_int_eq(error.errnum, EINVAL);
		ck_assert_ptr_nonnull(strstr(error.message, "not a valid sockbroker.v1.Request"));
		ck_assert_uint_eq(error.seq, 0);
	}
}
END_TEST

START_TEST(wire_rejects_an_empty_request_as_naming_no_operation)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	struct request *req = NULL;
	struct wire_error error;

	/* Zero bytes are a valid, empty message. */
	ck_assert_int_eq(decode_bytes("", 0, &req, &error), -EINVAL);
	ck_assert_ptr_null(req);
	ck_assert_int_eq(error.kind, ERROR_BAD_REQUEST);
	ck_assert_int_eq(error.errnum, EINVAL);
	ck_assert_ptr_nonnull(strstr(error.message, "names no operation"));
	ck_assert_int_eq(error.op, OP_UNKNOWN);

	msg.has_seq = true;
	msg.seq = 5;
	error = decode_invalid(&msg, EINVAL, "names no operation");
	ck_assert_uint_eq(error.seq, 5);
}
END_TEST

START_TEST(wire_rejects_a_request_with_only_an_unknown_field)
{
	/* Field 99 (varint 1): an operation of a newer protocol. */
	static const uint8_t unknown[] = {0x98, 0x06, 0x01};
	/* The same after seq = 7. */
	static const uint8_t with_seq[] = {0x08, 0x07, 0x98, 0x06, 0x01};
	struct request *req = NULL;
	struct wire_error error;

	ck_assert_int_eq(decode_bytes(unknown, sizeof(unknown), &req, &error), -EINVAL);
	ck_assert_ptr_null(req);
	ck_assert_int_eq(error.kind, ERROR_BAD_REQUEST);
	ck_assert_int_eq(error.errnum, EINVAL);
	ck_assert_ptr_nonnull(strstr(error.message, "names no operation"));
	ck_assert_uint_eq(error.seq, 0);

	ck_assert_int_eq(decode_bytes(with_seq, sizeof(with_seq), &req, &error), -EINVAL);
	ck_assert_ptr_null(req);
	ck_assert_uint_eq(error.seq, 7);
}
END_TEST

/* ---- encoding replies ------------------------------------------------------------------- */

struct out_buf {
	uint8_t *data;
	size_t len;
	int calls;
};

static void *
alloc_buf(void *userdata, size_t len)
{
	struct out_buf *out = userdata;

	free(out->data);
	out->data = malloc(len + 1);
	out->len = len;
	out->calls++;
	return out->data;
}

static void *
alloc_fails(void *userdata, size_t len)
{
	(*(int *)userdata)++;
	return NULL;
}

static struct reply *
new_reply(uint64_t seq, enum reply_shape shape)
{
	struct reply *reply = calloc(1, sizeof(*reply));

	ck_assert_ptr_nonnull(reply);
	reply->seq = seq;
	reply->shape = shape;
	return reply;
}

/* Encode `reply`, unpack the bytes, and free `reply`. */
static Reply *
encode(struct reply *reply)
{
	struct out_buf out = {NULL, 0, 0};
	Reply *msg;

	ck_assert_int_eq(wire_encode_reply(reply, alloc_buf, &out), 0);
	ck_assert_int_eq(out.calls, 1);
	free(reply);
	msg = sockbroker__v1__reply__unpack(NULL, out.len, out.data);
	free(out.data);
	ck_assert_ptr_nonnull(msg);
	return msg;
}

static void
set_sockaddr_in6(struct sockaddr_buf *buf, const char *host, uint16_t port, uint32_t flowinfo,
		 uint32_t scope_id)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&buf->ss;

	memset(buf, 0, sizeof(*buf));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	sin6->sin6_flowinfo = htonl(flowinfo);
	sin6->sin6_scope_id = scope_id;
	ck_assert_int_eq(inet_pton(AF_INET6, host, &sin6->sin6_addr), 1);
	buf->len = sizeof(*sin6);
}

START_TEST(wire_encodes_an_os_error_with_the_errno_name)
{
	struct reply *reply = new_reply(12, REPLY_DONE);
	Reply *msg;

	reply->op = OP_CONNECT;
	reply->error.kind = ERROR_OS;
	reply->error.errnum = ECONNREFUSED;
	snprintf(reply->error.message, sizeof(reply->error.message), "Connection refused");
	msg = encode(reply);
	ck_assert(msg->has_seq);
	ck_assert_uint_eq(msg->seq, 12);
	ck_assert_int_eq(msg->result_case, SOCKBROKER__V1__REPLY__RESULT__NOT_SET);
	ck_assert_ptr_nonnull(msg->error);
	ck_assert(msg->error->has_kind);
	ck_assert_int_eq(msg->error->kind, KIND(OS));
	ck_assert(msg->error->has_errno_number);
	ck_assert_int_eq(msg->error->errno_number, ECONNREFUSED);
	ck_assert_str_eq(msg->error->errno_name, "ECONNREFUSED");
	ck_assert_str_eq(msg->error->message, "Connection refused");
	ck_assert(!msg->error->has_gai_code);
	ck_assert_ptr_null(msg->error->gai_name);
	ck_assert(!msg->error->has_herror_code);
	ck_assert_ptr_null(msg->error->rule);
	ck_assert_ptr_null(msg->error->operation);
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

START_TEST(wire_encodes_an_unknown_errno_number_as_eunknown)
{
	struct reply *reply = new_reply(1, REPLY_DONE);
	Reply *msg;

	reply->error.kind = ERROR_OS;
	reply->error.errnum = 4000;
	msg = encode(reply);
	ck_assert_int_eq(msg->error->errno_number, 4000);
	ck_assert_str_eq(msg->error->errno_name, "EUNKNOWN");
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

START_TEST(wire_encodes_a_gai_error_with_its_code_and_name)
{
	struct reply *reply = new_reply(2, REPLY_DONE);
	Reply *msg;

	reply->error.kind = ERROR_GAI;
	reply->error.gai_code = EAI_NONAME;
	snprintf(reply->error.message, sizeof(reply->error.message), "%s",
		 gai_strerror(EAI_NONAME));
	msg = encode(reply);
	ck_assert_int_eq(msg->error->kind, KIND(GAI));
	/* No errno: neither number nor name. */
	ck_assert(!msg->error->has_errno_number);
	ck_assert_ptr_null(msg->error->errno_name);
	ck_assert(msg->error->has_gai_code);
	ck_assert_int_eq(msg->error->gai_code, EAI_NONAME);
	ck_assert_str_eq(msg->error->gai_name, "EAI_NONAME");
	ck_assert_str_eq(msg->error->message, gai_strerror(EAI_NONAME));
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

START_TEST(wire_encodes_the_rule_of_a_denial_and_the_operation_of_an_unsupported)
{
	struct reply *reply = new_reply(3, REPLY_DONE);
	Reply *msg;

	reply->error.kind = ERROR_DENIED;
	reply->error.errnum = EACCES;
	reply->error.rule = "no-raw-sockets";
	msg = encode(reply);
	ck_assert_int_eq(msg->error->kind, KIND(DENIED));
	ck_assert_str_eq(msg->error->errno_name, "EACCES");
	ck_assert_str_eq(msg->error->rule, "no-raw-sockets");
	ck_assert_ptr_null(msg->error->operation);
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	reply = new_reply(4, REPLY_DONE);
	reply->error.kind = ERROR_UNSUPPORTED;
	reply->error.errnum = ENOSYS;
	reply->error.operation = "sendmsg_afalg";
	msg = encode(reply);
	ck_assert_int_eq(msg->error->kind, KIND(UNSUPPORTED));
	ck_assert_str_eq(msg->error->errno_name, "ENOSYS");
	ck_assert_str_eq(msg->error->operation, "sendmsg_afalg");
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

START_TEST(wire_encodes_a_recv_with_data_and_an_inet6_address)
{
	struct reply *reply = new_reply(21, REPLY_RECV);
	Sockbroker__V1__Inet6Address *in6;
	Reply *msg;

	reply->op = OP_RECVFROM;
	reply->recv.data = (const uint8_t *)"payload\0bytes";
	reply->recv.len = 13;
	reply->recv.count = 20;
	reply->recv.has_address = true;
	set_sockaddr_in6(&reply->recv.address, "2001:db8::42", 5353, 0x54321, 3);
	msg = encode(reply);
	ck_assert_uint_eq(msg->seq, 21);
	ck_assert_ptr_null(msg->error);
	ck_assert_int_eq(msg->result_case, RESULT(RECV));
	ck_assert(msg->recv->has_data);
	ck_assert_uint_eq(msg->recv->data.len, 13);
	ck_assert_mem_eq(msg->recv->data.data, "payload\0bytes", 13);
	ck_assert(msg->recv->has_count);
	ck_assert_uint_eq(msg->recv->count, 20);
	ck_assert_ptr_nonnull(msg->recv->address);
	ck_assert_int_eq(msg->recv->address->family_case, SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET6);
	in6 = msg->recv->address->af_inet6;
	ck_assert_str_eq(in6->host, "2001:db8::42");
	ck_assert(in6->has_port && in6->has_flowinfo && in6->has_scope_id);
	ck_assert_uint_eq(in6->port, 5353);
	ck_assert_uint_eq(in6->flowinfo, 0x54321);
	ck_assert_uint_eq(in6->scope_id, 3);
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

START_TEST(wire_encodes_an_empty_recv_without_an_address)
{
	struct reply *reply = new_reply(22, REPLY_RECV);
	Reply *msg;

	reply->recv.data = NULL;
	reply->recv.len = 0;
	msg = encode(reply);
	ck_assert_int_eq(msg->result_case, RESULT(RECV));
	/* b'' is data, not None: present and empty. */
	ck_assert(msg->recv->has_data);
	ck_assert_uint_eq(msg->recv->data.len, 0);
	ck_assert_uint_eq(msg->recv->count, 0);
	ck_assert_ptr_null(msg->recv->address);
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

START_TEST(wire_encodes_a_socketpair_with_both_sockets)
{
	struct reply *reply = new_reply(30, REPLY_SOCKETPAIR);
	Sockbroker__V1__SocketReply *first, *second;
	Reply *msg;

	reply->pair.first = (struct socket_info){101, AF_UNIX, SOCK_STREAM, 0, TIMEOUT_NONE};
	reply->pair.second = (struct socket_info){102, AF_UNIX, SOCK_STREAM, 0, 1500000000};
	msg = encode(reply);
	ck_assert_int_eq(msg->result_case, RESULT(SOCKETPAIR));
	first = msg->socketpair->first;
	second = msg->socketpair->second;
	ck_assert_ptr_nonnull(first);
	ck_assert_ptr_nonnull(second);
	ck_assert(first->has_handle && first->has_family && first->has_type && first->has_proto);
	ck_assert_uint_eq(first->handle, 101);
	ck_assert_int_eq(first->family, AF_UNIX);
	ck_assert_int_eq(first->type, SOCK_STREAM);
	ck_assert_int_eq(first->proto, 0);
	ck_assert(!first->has_timeout);
	ck_assert_uint_eq(second->handle, 102);
	ck_assert(second->has_timeout);
	ck_assert_double_eq(second->timeout, 1.5);
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

START_TEST(wire_encodes_timeout_none_as_an_absent_timeout)
{
	struct reply *reply = new_reply(31, REPLY_TIMEOUT);
	Reply *msg;

	reply->timeout_ns = TIMEOUT_NONE;
	msg = encode(reply);
	ck_assert_int_eq(msg->result_case, RESULT(TIMEOUT));
	ck_assert_ptr_nonnull(msg->timeout);
	ck_assert(!msg->timeout->has_timeout);
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	/* Non-blocking is 0.0, present. */
	reply = new_reply(32, REPLY_TIMEOUT);
	reply->timeout_ns = 0;
	msg = encode(reply);
	ck_assert(msg->timeout->has_timeout);
	ck_assert_double_eq(msg->timeout->timeout, 0.0);
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	reply = new_reply(33, REPLY_TIMEOUT);
	reply->timeout_ns = 2500000000LL;
	msg = encode(reply);
	ck_assert(msg->timeout->has_timeout);
	ck_assert_double_eq(msg->timeout->timeout, 2.5);
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

START_TEST(wire_encodes_getsockopt_bytes_and_ints)
{
	struct reply *reply = new_reply(40, REPLY_GETSOCKOPT);
	Reply *msg;

	reply->getsockopt.is_int = false;
	memcpy(reply->getsockopt.bytes, "\x01\x00\x00\x00\x05\x00\x00\x00", 8);
	reply->getsockopt.len = 8;
	msg = encode(reply);
	ck_assert_int_eq(msg->result_case, RESULT(GETSOCKOPT));
	ck_assert_int_eq(msg->getsockopt->value_case,
			 SOCKBROKER__V1__GET_SOCK_OPT_REPLY__VALUE_BYTES_VALUE);
	ck_assert_uint_eq(msg->getsockopt->bytes_value.len, 8);
	ck_assert_mem_eq(msg->getsockopt->bytes_value.data, "\x01\x00\x00\x00\x05\x00\x00\x00", 8);
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	reply = new_reply(41, REPLY_GETSOCKOPT);
	reply->getsockopt.is_int = true;
	reply->getsockopt.int_value = -1;
	msg = encode(reply);
	ck_assert_int_eq(msg->getsockopt->value_case,
			 SOCKBROKER__V1__GET_SOCK_OPT_REPLY__VALUE_INT_VALUE);
	ck_assert_int_eq(msg->getsockopt->int_value, -1);
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

START_TEST(wire_encodes_done_and_leaves_a_zero_seq_absent)
{
	struct reply *reply = new_reply(0, REPLY_DONE);
	Reply *msg;

	msg = encode(reply);
	ck_assert(!msg->has_seq);
	ck_assert_ptr_null(msg->error);
	ck_assert_int_eq(msg->result_case, RESULT(DONE));
	ck_assert_ptr_nonnull(msg->done);
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

START_TEST(wire_encodes_connect_ex_results_with_the_errno_name)
{
	struct reply *reply = new_reply(50, REPLY_CONNECT);
	Reply *msg;

	reply->connect.errnum = ECONNREFUSED;
	msg = encode(reply);
	ck_assert_int_eq(msg->result_case, RESULT(CONNECT));
	ck_assert(msg->connect->has_errno_number);
	ck_assert_int_eq(msg->connect->errno_number, ECONNREFUSED);
	ck_assert_str_eq(msg->connect->errno_name, "ECONNREFUSED");
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	/* Success is 0, stated, with no name. */
	reply = new_reply(51, REPLY_CONNECT);
	msg = encode(reply);
	ck_assert(msg->connect->has_errno_number);
	ck_assert_int_eq(msg->connect->errno_number, 0);
	ck_assert_ptr_null(msg->connect->errno_name);
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

START_TEST(wire_encodes_unix_addresses_by_kind)
{
	struct reply *reply = new_reply(60, REPLY_ADDRESS);
	struct sockaddr_un *sun = (struct sockaddr_un *)&reply->address.ss;
	Sockbroker__V1__UnixAddress *un;
	Reply *msg;

	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, "\0abs", 4);
	reply->address.len = offsetof(struct sockaddr_un, sun_path) + 4;
	msg = encode(reply);
	ck_assert_int_eq(msg->result_case, RESULT(ADDRESS));
	ck_assert_int_eq(msg->address->address->family_case,
			 SOCKBROKER__V1__ADDRESS__FAMILY_AF_UNIX);
	un = msg->address->address->af_unix;
	ck_assert_int_eq(un->name_case, SOCKBROKER__V1__UNIX_ADDRESS__NAME_ABSTRACT);
	ck_assert_uint_eq(un->abstract.len, 3);
	ck_assert_mem_eq(un->abstract.data, "abs", 3);
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	reply = new_reply(61, REPLY_ADDRESS);
	sun = (struct sockaddr_un *)&reply->address.ss;
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, "/p", 3);
	reply->address.len = offsetof(struct sockaddr_un, sun_path) + 3;
	msg = encode(reply);
	un = msg->address->address->af_unix;
	ck_assert_int_eq(un->name_case, SOCKBROKER__V1__UNIX_ADDRESS__NAME_PATH);
	ck_assert_uint_eq(un->path.len, 2);
	ck_assert_mem_eq(un->path.data, "/p", 2);
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	/* Unnamed: the member is there, with neither name. */
	reply = new_reply(62, REPLY_ADDRESS);
	reply->address.ss.ss_family = AF_UNIX;
	reply->address.len = sizeof(sa_family_t);
	msg = encode(reply);
	un = msg->address->address->af_unix;
	ck_assert_ptr_nonnull(un);
	ck_assert_int_eq(un->name_case, SOCKBROKER__V1__UNIX_ADDRESS__NAME__NOT_SET);
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

START_TEST(wire_encodes_accept_with_the_socket_and_the_peer)
{
	struct reply *reply = new_reply(70, REPLY_ACCEPT);
	struct sockaddr_in *sin = (struct sockaddr_in *)&reply->accept.peer.ss;
	Reply *msg;

	reply->accept.socket = (struct socket_info){9, AF_INET, SOCK_STREAM, 6, 0};
	sin->sin_family = AF_INET;
	sin->sin_port = htons(40112);
	sin->sin_addr.s_addr = htonl(0x7f000001);
	reply->accept.peer.len = sizeof(*sin);
	msg = encode(reply);
	ck_assert_int_eq(msg->result_case, RESULT(ACCEPT));
	ck_assert_uint_eq(msg->accept->socket->handle, 9);
	ck_assert_int_eq(msg->accept->socket->proto, 6);
	ck_assert(msg->accept->socket->has_timeout);
	ck_assert_double_eq(msg->accept->socket->timeout, 0.0);
	ck_assert_int_eq(msg->accept->address->family_case,
			 SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET);
	ck_assert_str_eq(msg->accept->address->af_inet->host, "127.0.0.1");
	ck_assert_uint_eq(msg->accept->address->af_inet->port, 40112);
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

START_TEST(wire_encodes_the_small_result_shapes)
{
	struct reply *reply = new_reply(80, REPLY_SEND);
	Reply *msg;

	reply->count = UINT64_C(1) << 33;
	msg = encode(reply);
	ck_assert_int_eq(msg->result_case, RESULT(SEND));
	ck_assert(msg->send->has_count);
	ck_assert_uint_eq(msg->send->count, UINT64_C(1) << 33);
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	reply = new_reply(81, REPLY_FLAG);
	reply->flag = false;
	msg = encode(reply);
	ck_assert_int_eq(msg->result_case, RESULT(FLAG));
	ck_assert(msg->flag->has_value);
	ck_assert(!msg->flag->value);
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	reply = new_reply(82, REPLY_CANCEL);
	reply->cancelled = true;
	msg = encode(reply);
	ck_assert_int_eq(msg->result_case, RESULT(CANCEL));
	ck_assert(msg->cancel->has_cancelled && msg->cancel->cancelled);
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	reply = new_reply(83, REPLY_CMSG_SIZE);
	reply->cmsg_size.len = 20;
	reply->cmsg_size.space = 24;
	msg = encode(reply);
	ck_assert_int_eq(msg->result_case, RESULT(CMSG_SIZE));
	ck_assert_uint_eq(msg->cmsg_size->cmsg_len, 20);
	ck_assert_uint_eq(msg->cmsg_size->cmsg_space, 24);
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

static const struct constant hello_constants[] = {
	{"AF_INET", AF_INET},
	{"EAGAIN", EAGAIN},
	{"NEGATIVE", -3},
};
static const uint8_t secret[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static struct reply *
hello_reply(bool has_credentials)
{
	struct reply *reply = new_reply(1, REPLY_HELLO);
	struct reply_hello *h = &reply->hello;

	h->protocol_version = 1;
	h->server_version = "sockbrokerd 0.1.0";
	h->max_message_size = 16 << 20;
	h->max_data_size = (16 << 20) - 4096;
	h->max_handles = 1024;
	h->max_parked = 4096;
	h->session_id = 17;
	h->resume_secret = secret;
	h->resume_secret_len = sizeof(secret);
	h->constants = hello_constants;
	h->n_constants = sizeof(hello_constants) / sizeof(hello_constants[0]);
	h->has_credentials = has_credentials;
	h->uid = 1000;
	h->gid = 100;
	h->pid = 4242;
	h->peer = "ipc";
	return reply;
}

START_TEST(wire_encodes_hello_with_limits_constants_and_identity)
{
	Sockbroker__V1__HelloReply *h;
	Reply *msg = encode(hello_reply(true));

	ck_assert_int_eq(msg->result_case, RESULT(HELLO));
	h = msg->hello;
	ck_assert_uint_eq(h->protocol_version, 1);
	ck_assert_str_eq(h->server_version, "sockbrokerd 0.1.0");
	ck_assert_uint_eq(h->max_message_size, 16 << 20);
	ck_assert_uint_eq(h->max_data_size, (16 << 20) - 4096);
	ck_assert_uint_eq(h->max_handles, 1024);
	ck_assert_uint_eq(h->max_parked, 4096);
	ck_assert_uint_eq(h->session_id, 17);
	ck_assert(h->has_resume_secret);
	ck_assert_uint_eq(h->resume_secret.len, sizeof(secret));
	ck_assert_mem_eq(h->resume_secret.data, secret, sizeof(secret));
	ck_assert_uint_eq(h->n_constants, 3);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_str_eq(h->constants[i]->name, hello_constants[i].name);
		ck_assert(h->constants[i]->has_value);
		ck_assert_int_eq(h->constants[i]->value, hello_constants[i].value);
	}
	ck_assert_ptr_nonnull(h->identity);
	ck_assert(h->identity->has_uid && h->identity->has_gid && h->identity->has_pid);
	ck_assert_int_eq(h->identity->uid, 1000);
	ck_assert_int_eq(h->identity->gid, 100);
	ck_assert_int_eq(h->identity->pid, 4242);
	ck_assert(h->identity->has_tls_verified && !h->identity->tls_verified);
	ck_assert_str_eq(h->identity->peer, "ipc");
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	/* Without credentials, uid/gid/pid are absent rather than 0 (root). */
	msg = encode(hello_reply(false));
	ck_assert(!msg->hello->identity->has_uid);
	ck_assert(!msg->hello->identity->has_gid);
	ck_assert(!msg->hello->identity->has_pid);
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

START_TEST(wire_encode_reply_answers_enomem_when_alloc_returns_null)
{
	struct reply *reply = new_reply(5, REPLY_DONE);
	int calls = 0;

	reply->error.kind = ERROR_OS;
	reply->error.errnum = ECONNREFUSED;
	ck_assert_int_eq(wire_encode_reply(reply, alloc_fails, &calls), -ENOMEM);
	ck_assert_int_eq(calls, 1);
	free(reply);

	/* A hello allocates its constant table first: that must not leak either. */
	reply = hello_reply(true);
	ck_assert_int_eq(wire_encode_reply(reply, alloc_fails, &calls), -ENOMEM);
	ck_assert_int_eq(calls, 2);
	free(reply);
}
END_TEST

static Suite *
wire_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *valid = tcase_create("decode valid");
	TCase *invalid = tcase_create("decode invalid");
	TCase *encode_tc = tcase_create("encode");

	tcase_add_test(valid, wire_decodes_socket_with_every_argument);
	tcase_add_test(valid, wire_decodes_socket_defaults_as_the_reference);
	tcase_add_test(valid, wire_decodes_socketpair_defaulting_to_af_unix);
	tcase_add_test(valid, wire_decodes_connect_with_an_inet_address);
	tcase_add_test(valid, wire_decodes_connect_with_an_inet6_address);
	tcase_add_test(valid, wire_decodes_bind_with_unix_paths_and_abstract_names);
	tcase_add_test(valid, wire_decodes_send_with_data_kept_in_the_request);
	tcase_add_test(valid, wire_decodes_sendto_with_its_address);
	tcase_add_test(valid, wire_decodes_recv_and_recvfrom);
	tcase_add_test(valid, wire_clamps_recv_bufsize_above_max_data_size);
	tcase_add_test(valid, wire_decodes_setsockopt_int_bytes_and_null_forms);
	tcase_add_test(valid, wire_decodes_getsockopt_with_and_without_buflen);
	tcase_add_test(valid, wire_decodes_settimeout_none_zero_and_seconds);
	tcase_add_test(valid, wire_decodes_hello_with_a_truncated_client_name);
	tcase_add_test(valid, wire_decodes_a_negative_listen_backlog_as_zero);
	tcase_add_test(valid, wire_decodes_cancel_with_its_target);
	tcase_add_test(valid, wire_request_free_of_null_is_a_noop);
	suite_add_tcase(s, valid);

	tcase_add_test(invalid, wire_rejects_recv_without_a_handle_naming_the_field);
	tcase_add_test(invalid, wire_rejects_operations_on_a_handle_without_one);
	tcase_add_test(invalid, wire_rejects_negative_recv_bufsize_naming_the_field);
	tcase_add_test(invalid, wire_rejects_recv_without_a_bufsize);
	tcase_add_test(invalid, wire_rejects_port_70000_with_eoverflow);
	tcase_add_test(invalid, wire_rejects_an_inet_address_without_a_port);
	tcase_add_test(invalid, wire_rejects_a_host_longer_than_255_bytes);
	tcase_add_test(invalid, wire_rejects_flowinfo_above_0xfffff);
	tcase_add_test(invalid, wire_rejects_a_unix_path_of_200_bytes);
	tcase_add_test(invalid, wire_rejects_connect_without_an_address);
	tcase_add_test(invalid, wire_rejects_sendto_without_an_address_and_send_with_one);
	tcase_add_test(invalid, wire_rejects_a_raw_address_for_a_family_that_has_its_own_member);
	tcase_add_test(invalid, wire_answers_unsupported_for_a_netlink_address);
	tcase_add_test(invalid, wire_rejects_negative_and_nan_timeouts_as_out_of_range);
	tcase_add_test(invalid, wire_rejects_a_timeout_of_1e300_with_eoverflow);
	tcase_add_test(invalid, wire_rejects_getsockopt_buflen_0_and_2000);
	tcase_add_test(invalid, wire_rejects_a_setsockopt_int_value_of_2_to_the_40_with_eoverflow);
	tcase_add_test(invalid, wire_rejects_setsockopt_without_a_value);
	tcase_add_test(invalid, wire_rejects_shutdown_without_how_and_cancel_without_target);
	tcase_add_test(invalid, wire_rejects_a_cmsg_size_out_of_range_with_eoverflow);
	tcase_add_test(invalid, wire_rejects_garbage_bytes_as_not_a_request);
	tcase_add_test(invalid, wire_rejects_an_empty_request_as_naming_no_operation);
	tcase_add_test(invalid, wire_rejects_a_request_with_only_an_unknown_field);
	suite_add_tcase(s, invalid);

	tcase_add_test(encode_tc, wire_encodes_an_os_error_with_the_errno_name);
	tcase_add_test(encode_tc, wire_encodes_an_unknown_errno_number_as_eunknown);
	tcase_add_test(encode_tc, wire_encodes_a_gai_error_with_its_code_and_name);
	tcase_add_test(encode_tc,
		       wire_encodes_the_rule_of_a_denial_and_the_operation_of_an_unsupported);
	tcase_add_test(encode_tc, wire_encodes_a_recv_with_data_and_an_inet6_address);
	tcase_add_test(encode_tc, wire_encodes_an_empty_recv_without_an_address);
	tcase_add_test(encode_tc, wire_encodes_a_socketpair_with_both_sockets);
	tcase_add_test(encode_tc, wire_encodes_timeout_none_as_an_absent_timeout);
	tcase_add_test(encode_tc, wire_encodes_getsockopt_bytes_and_ints);
	tcase_add_test(encode_tc, wire_encodes_done_and_leaves_a_zero_seq_absent);
	tcase_add_test(encode_tc, wire_encodes_connect_ex_results_with_the_errno_name);
	tcase_add_test(encode_tc, wire_encodes_unix_addresses_by_kind);
	tcase_add_test(encode_tc, wire_encodes_accept_with_the_socket_and_the_peer);
	tcase_add_test(encode_tc, wire_encodes_the_small_result_shapes);
	tcase_add_test(encode_tc, wire_encodes_hello_with_limits_constants_and_identity);
	tcase_add_test(encode_tc, wire_encode_reply_answers_enomem_when_alloc_returns_null);
	suite_add_tcase(s, encode_tc);
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(wire_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
