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
#include <linux/can.h>
#include <linux/if_alg.h>
#include <linux/netlink.h>
#include <linux/tipc.h>
#include <linux/vm_sockets.h>
#include <net/if.h>
#include <netpacket/packet.h>
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

START_TEST(wire_decodes_the_hello_token_and_refuses_an_overlong_one)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HelloRequest m = SOCKBROKER__V1__HELLO_REQUEST__INIT;
	char token[WIRE_TOKEN_MAX + 2];
	struct request *req;

	msg.op_case = OP(HELLO);
	msg.hello = &m;
	req = decode_ok(&msg);
	ck_assert_ptr_null(req->hello.token);
	wire_request_free(req);

	/* An empty token is no token. */
	m.token = "";
	req = decode_ok(&msg);
	ck_assert_ptr_null(req->hello.token);
	wire_request_free(req);

	m.token = "s3cret";
	req = decode_ok(&msg);
	ck_assert_str_eq(req->hello.token, "s3cret");
	wire_request_free(req);

	memset(token, 't', WIRE_TOKEN_MAX);
	token[WIRE_TOKEN_MAX] = '\0';
	m.token = token;
	req = decode_ok(&msg);
	ck_assert_uint_eq(strlen(req->hello.token), WIRE_TOKEN_MAX);
	wire_request_free(req);

	token[WIRE_TOKEN_MAX] = 't';
	token[WIRE_TOKEN_MAX + 1] = '\0';
	struct wire_error error = decode_invalid(&msg, EINVAL, "hello.token: 4097 bytes, longer "
						 "than the 4096 bytes a token may have");
	ck_assert_ptr_null(strstr(error.message, "ttt"));
}
END_TEST

START_TEST(wire_decodes_a_resuming_hello_and_refuses_bad_resume_fields)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HelloRequest m = SOCKBROKER__V1__HELLO_REQUEST__INIT;
	uint8_t secret[16];
	struct request *req;

	m.has_protocol_version = true;
	m.protocol_version = 1;
	m.client_name = "resumer";
	msg.has_seq = true;
	msg.seq = 9;
	msg.op_case = OP(HELLO);
	msg.hello = &m;

	/* An empty secret asks for nothing: a plain Hello. */
	m.has_resume_secret = true;
	m.resume_secret.len = 0;
	m.resume_secret.data = NULL;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_HELLO);
	ck_assert_str_eq(req->hello.client_name, "resumer");
	wire_request_free(req);

	/* A secret and the seqs the client waits for: decoded for the Hello handler. */
	uint64_t pending[3] = { 7, 3, 5 };
	memset(secret, 0x5a, sizeof(secret));
	m.resume_secret.len = sizeof(secret);
	m.resume_secret.data = secret;
	m.n_resume_pending_seqs = 3;
	m.resume_pending_seqs = pending;
	req = decode_ok(&msg);
	ck_assert(req->hello.resume);
	ck_assert_mem_eq(req->hello.resume_secret, secret, sizeof(secret));
	ck_assert_uint_eq(req->hello.n_pending_seqs, 3);
	ck_assert_uint_eq(req->hello.pending_seqs[1], 3);
	wire_request_free(req);

	/* A secret of another length is none of this daemon's: ESTALE, and how to go on. */
	m.resume_secret.len = 15;
	struct wire_error error = decode_invalid(&msg, ESTALE, "");
	ck_assert_str_eq(error.message, "hello.resume_secret: 15 bytes, not a secret of this "
					"daemon (16 bytes); say Hello without one to start a new "
					"session");
	ck_assert_uint_eq(error.seq, 9);
	ck_assert_int_eq(error.op, OP_HELLO);

	/* A token beside it changes nothing, and is not echoed. */
	m.token = "s3cret";
	error = decode_invalid(&msg, ESTALE, "hello.resume_secret: 15 bytes");
	ck_assert_ptr_null(strstr(error.message, "s3cret"));
	m.token = NULL;

	/* Pending seqs without a secret, or too many of them. */
	m.has_resume_secret = false;
	decode_invalid(&msg, EINVAL, "hello.resume_pending_seqs: given without "
				     "hello.resume_secret");
	m.has_resume_secret = true;
	m.resume_secret.len = sizeof(secret);
	m.n_resume_pending_seqs = WIRE_RESUME_PENDING_MAX + 1;
	uint64_t *many = calloc(WIRE_RESUME_PENDING_MAX + 1, sizeof(*many));
	ck_assert_ptr_nonnull(many);
	m.resume_pending_seqs = many;
	decode_invalid(&msg, EINVAL, "hello.resume_pending_seqs: 65537 entries, more than 65536");
	free(many);
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

START_TEST(wire_decodes_the_admin_operations_and_the_session_of_admin_handles)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__Empty empty = SOCKBROKER__V1__EMPTY__INIT;
	Sockbroker__V1__AdminHandlesRequest m = SOCKBROKER__V1__ADMIN_HANDLES_REQUEST__INIT;
	struct request *req;

	msg.op_case = OP(ADMIN_STATUS);
	msg.admin_status = &empty;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_ADMIN_STATUS);
	wire_request_free(req);

	msg.op_case = OP(ADMIN_SESSIONS);
	msg.admin_sessions = &empty;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_ADMIN_SESSIONS);
	wire_request_free(req);

	/* Absent: every session's handles. */
	msg.op_case = OP(ADMIN_HANDLES);
	msg.admin_handles = &m;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_ADMIN_HANDLES);
	ck_assert_uint_eq(req->admin_handles.session, 0);
	wire_request_free(req);
	m.has_session = true;
	m.session = 42;
	req = decode_ok(&msg);
	ck_assert_uint_eq(req->admin_handles.session, 42);
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

/* ---- the families with tuples of their own ---------------------------------------------- */

/* Decode a connect to `address` and return the request's address. */
static struct request *
decode_connect_to(Sockbroker__V1__Address *address)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__ConnectRequest m = SOCKBROKER__V1__CONNECT_REQUEST__INIT;

	connect_to(&msg, &m, address);
	return decode_ok(&msg);
}

/* Decoding a connect to `address` must fail naming `needle`. */
static void
connect_invalid(Sockbroker__V1__Address *address, int errnum, const char *needle)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__ConnectRequest m = SOCKBROKER__V1__CONNECT_REQUEST__INIT;

	connect_to(&msg, &m, address);
	decode_invalid(&msg, errnum, needle);
}

START_TEST(wire_decodes_netlink_packet_alg_and_vsock_addresses)
{
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__NetlinkAddress nl = SOCKBROKER__V1__NETLINK_ADDRESS__INIT;
	Sockbroker__V1__PacketAddress packet = SOCKBROKER__V1__PACKET_ADDRESS__INIT;
	Sockbroker__V1__AlgAddress alg = SOCKBROKER__V1__ALG_ADDRESS__INIT;
	Sockbroker__V1__VsockAddress vm = SOCKBROKER__V1__VSOCK_ADDRESS__INIT;
	struct request *req;

	nl.has_pid = nl.has_groups = true;
	nl.pid = 99;
	nl.groups = 1;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_NETLINK;
	address.af_netlink = &nl;
	req = decode_connect_to(&address);
	ck_assert_int_eq(req->addr.address.family, AF_NETLINK);
	ck_assert_uint_eq(req->addr.address.netlink.pid, 99);
	ck_assert_uint_eq(req->addr.address.netlink.groups, 1);
	wire_request_free(req);

	packet.ifname = "lo";
	packet.has_proto = packet.has_pkttype = packet.has_hatype = packet.has_addr = true;
	packet.proto = 0x88b5;
	packet.pkttype = 1;
	packet.hatype = 1;
	packet.addr.data = (uint8_t *)"\xff\xff\xff\xff\xff\xff";
	packet.addr.len = 6;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_PACKET;
	address.af_packet = &packet;
	req = decode_connect_to(&address);
	ck_assert_int_eq(req->addr.address.family, AF_PACKET);
	ck_assert_str_eq(req->addr.address.packet.ifname, "lo");
	ck_assert_uint_eq(req->addr.address.packet.proto, 0x88b5);
	ck_assert_uint_eq(req->addr.address.packet.pkttype, 1);
	ck_assert_uint_eq(req->addr.address.packet.hatype, 1);
	ck_assert_uint_eq(req->addr.address.packet.halen, 6);
	ck_assert_mem_eq(req->addr.address.packet.addr, "\xff\xff\xff\xff\xff\xff", 6);
	wire_request_free(req);

	/* Absent ifname is "": any interface. */
	packet.ifname = NULL;
	packet.has_addr = false;
	req = decode_connect_to(&address);
	ck_assert_str_eq(req->addr.address.packet.ifname, "");
	ck_assert_uint_eq(req->addr.address.packet.halen, 0);
	wire_request_free(req);

	alg.type = "aead";
	alg.name = "gcm(aes)";
	alg.has_feat = alg.has_mask = true;
	alg.feat = 0x20;
	alg.mask = 0x20;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_ALG;
	address.af_alg = &alg;
	req = decode_connect_to(&address);
	ck_assert_int_eq(req->addr.address.family, AF_ALG);
	ck_assert_str_eq(req->addr.address.alg.type, "aead");
	ck_assert_str_eq(req->addr.address.alg.name, "gcm(aes)");
	ck_assert_uint_eq(req->addr.address.alg.feat, 0x20);
	ck_assert_uint_eq(req->addr.address.alg.mask, 0x20);
	wire_request_free(req);

	vm.has_cid = vm.has_port = true;
	vm.cid = 1;
	vm.port = 0xffffffff;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_VSOCK;
	address.af_vsock = &vm;
	req = decode_connect_to(&address);
	ck_assert_int_eq(req->addr.address.family, AF_VSOCK);
	ck_assert_uint_eq(req->addr.address.vsock.cid, 1);
	ck_assert_uint_eq(req->addr.address.vsock.port, 0xffffffff);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_decodes_can_forms_and_tipc_addresses)
{
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__CanAddress can = SOCKBROKER__V1__CAN_ADDRESS__INIT;
	Sockbroker__V1__TipcAddress tipc = SOCKBROKER__V1__TIPC_ADDRESS__INIT;
	struct request *req;

	can.ifname = "vcan0";
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_CAN;
	address.af_can = &can;
	req = decode_connect_to(&address);
	ck_assert_int_eq(req->addr.address.family, AF_CAN);
	ck_assert_str_eq(req->addr.address.can.ifname, "vcan0");
	ck_assert_int_eq(req->addr.address.can.form, ADDRESS_CAN_PLAIN);
	wire_request_free(req);

	can.has_rx_addr = can.has_tx_addr = true;
	can.rx_addr = 0x123;
	can.tx_addr = 0x321;
	req = decode_connect_to(&address);
	ck_assert_int_eq(req->addr.address.can.form, ADDRESS_CAN_ISOTP);
	ck_assert_uint_eq(req->addr.address.can.rx_id, 0x123);
	ck_assert_uint_eq(req->addr.address.can.tx_id, 0x321);
	wire_request_free(req);

	can.has_rx_addr = can.has_tx_addr = false;
	can.has_j1939_name = can.has_j1939_pgn = can.has_j1939_addr = true;
	can.j1939_name = 0x1000000000000001ULL;
	can.j1939_pgn = 0x40000;
	can.j1939_addr = 0xff;
	req = decode_connect_to(&address);
	ck_assert_int_eq(req->addr.address.can.form, ADDRESS_CAN_J1939);
	ck_assert_uint_eq(req->addr.address.can.j1939_name, 0x1000000000000001ULL);
	ck_assert_uint_eq(req->addr.address.can.j1939_pgn, 0x40000);
	ck_assert_uint_eq(req->addr.address.can.j1939_addr, 0xff);
	wire_request_free(req);

	tipc.has_addr_type = tipc.has_v1 = tipc.has_v2 = tipc.has_v3 = true;
	tipc.addr_type = 1; /* TIPC_ADDR_NAMESEQ */
	tipc.v1 = 18888;
	tipc.v2 = 10;
	tipc.v3 = 20;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_TIPC;
	address.af_tipc = &tipc;
	req = decode_connect_to(&address);
	ck_assert_int_eq(req->addr.address.family, AF_TIPC);
	ck_assert_uint_eq(req->addr.address.tipc.addr_type, 1);
	ck_assert_uint_eq(req->addr.address.tipc.v1, 18888);
	ck_assert_uint_eq(req->addr.address.tipc.v2, 10);
	ck_assert_uint_eq(req->addr.address.tipc.v3, 20);
	/* Absent scope: the reference's TIPC_CLUSTER_SCOPE. */
	ck_assert_int_eq(req->addr.address.tipc.scope, 2);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_rejects_malformed_family_addresses_naming_the_field)
{
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__PacketAddress packet = SOCKBROKER__V1__PACKET_ADDRESS__INIT;
	Sockbroker__V1__AlgAddress alg = SOCKBROKER__V1__ALG_ADDRESS__INIT;
	Sockbroker__V1__VsockAddress vm = SOCKBROKER__V1__VSOCK_ADDRESS__INIT;
	Sockbroker__V1__CanAddress can = SOCKBROKER__V1__CAN_ADDRESS__INIT;
	Sockbroker__V1__TipcAddress tipc = SOCKBROKER__V1__TIPC_ADDRESS__INIT;
	Sockbroker__V1__RawAddress raw = SOCKBROKER__V1__RAW_ADDRESS__INIT;
	char name100[101], ifname40[41];

	memset(name100, 'a', 100);
	name100[100] = '\0';
	memset(ifname40, 'e', 40);
	ifname40[40] = '\0';

	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_PACKET;
	address.af_packet = &packet;
	packet.has_proto = true;
	packet.proto = 3;
	packet.ifname = ifname40;
	connect_invalid(&address, EINVAL, "connect.address.af_packet.ifname");
	packet.ifname = "lo";
	packet.proto = 70000;
	connect_invalid(&address, EOVERFLOW, "connect.address.af_packet.proto");
	packet.has_proto = false;
	connect_invalid(&address, EINVAL, "connect.address.af_packet.proto is required");
	packet.has_proto = packet.has_pkttype = packet.has_hatype = true;
	packet.proto = 3;
	packet.pkttype = 256;
	connect_invalid(&address, EOVERFLOW, "af_packet.pkttype");
	packet.pkttype = 0;
	packet.hatype = 65536;
	connect_invalid(&address, EOVERFLOW, "af_packet.hatype");
	packet.hatype = 0;
	packet.has_addr = true;
	packet.addr.data = (uint8_t *)"123456789";
	packet.addr.len = 9;
	connect_invalid(&address, EINVAL, "af_packet.addr");

	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_ALG;
	address.af_alg = &alg;
	alg.type = "hash";
	alg.name = name100;
	connect_invalid(&address, EINVAL, "connect.address.af_alg.name: longer than 63 bytes");
	alg.name = "sha256";
	alg.type = "0123456789abcd";
	connect_invalid(&address, EINVAL, "connect.address.af_alg.type: longer than 13 bytes");
	alg.type = NULL;
	connect_invalid(&address, EINVAL, "af_alg.type is required");

	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_VSOCK;
	address.af_vsock = &vm;
	vm.has_cid = true;
	connect_invalid(&address, EINVAL, "af_vsock.cid and .port are required");

	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_CAN;
	address.af_can = &can;
	can.ifname = ifname40;
	connect_invalid(&address, EINVAL, "connect.address.af_can.ifname");
	can.ifname = "vcan0";
	can.has_rx_addr = true;
	connect_invalid(&address, EINVAL, "needs both rx_addr and tx_addr");
	can.has_j1939_name = true;
	connect_invalid(&address, EINVAL, "not both");
	can.has_rx_addr = false;
	connect_invalid(&address, EINVAL, "CAN_J1939 needs");
	can.has_j1939_pgn = can.has_j1939_addr = true;
	can.j1939_addr = 256;
	connect_invalid(&address, EOVERFLOW, "af_can.j1939_addr");

	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_TIPC;
	address.af_tipc = &tipc;
	connect_invalid(&address, EINVAL, "af_tipc.addr_type is required");
	tipc.has_addr_type = true;
	tipc.addr_type = 7;
	connect_invalid(&address, EINVAL, "af_tipc.addr_type");
	tipc.addr_type = 2;
	tipc.has_scope = true;
	tipc.scope = 200;
	connect_invalid(&address, EOVERFLOW, "af_tipc.scope");

	/* A family with its own member does not travel as raw bytes. */
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_RAW;
	address.raw = &raw;
	raw.has_family = true;
	raw.family = AF_NETLINK;
	connect_invalid(&address, EINVAL, "use the af_netlink/");
}
END_TEST

START_TEST(wire_decodes_sendmsg_afalg_into_an_iovec)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SendMsgAfalgRequest m = SOCKBROKER__V1__SEND_MSG_AFALG_REQUEST__INIT;
	ProtobufCBinaryData buffers[2] = {{3, (uint8_t *)"abc"}, {2, (uint8_t *)"de"}};
	struct request *req;

	m.has_handle = m.has_op = m.has_iv = m.has_assoclen = m.has_flags = true;
	m.handle = 4;
	m.n_buffers = 2;
	m.buffers = buffers;
	m.op = 1;
	m.iv.data = (uint8_t *)"0123456789abcdef";
	m.iv.len = 16;
	m.assoclen = 8;
	m.flags = MSG_MORE;
	msg.op_case = OP(SENDMSG_AFALG);
	msg.sendmsg_afalg = &m;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_SENDMSG_AFALG);
	ck_assert_uint_eq(req->handle, 4);
	ck_assert_uint_eq(req->afalg.n_buffers, 2);
	ck_assert_uint_eq(req->afalg.buffers[0].iov_len, 3);
	ck_assert_mem_eq(req->afalg.buffers[0].iov_base, "abc", 3);
	ck_assert_mem_eq(req->afalg.buffers[1].iov_base, "de", 2);
	ck_assert_uint_eq(req->afalg.op, 1);
	ck_assert_uint_eq(req->afalg.iv_len, 16);
	ck_assert_mem_eq(req->afalg.iv, "0123456789abcdef", 16);
	ck_assert(req->afalg.has_assoclen);
	ck_assert_uint_eq(req->afalg.assoclen, 8);
	ck_assert_int_eq(req->afalg.flags, MSG_MORE);
	wire_request_free(req);

	/* Neither IV nor assoclen: no control message for them; an empty IV is
	 * still one. No buffers is no iovec. */
	m.has_iv = m.has_assoclen = false;
	m.n_buffers = 0;
	req = decode_ok(&msg);
	ck_assert_ptr_null(req->afalg.iv);
	ck_assert(!req->afalg.has_assoclen);
	ck_assert_ptr_null(req->afalg.buffers);
	wire_request_free(req);
	m.has_iv = true;
	m.iv.len = 0;
	req = decode_ok(&msg);
	ck_assert_ptr_nonnull(req->afalg.iv);
	ck_assert_uint_eq(req->afalg.iv_len, 0);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_leaves_more_buffers_than_iov_max_to_the_handler)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SendMsgAfalgRequest m = SOCKBROKER__V1__SEND_MSG_AFALG_REQUEST__INIT;
	ProtobufCBinaryData *buffers = calloc(IOV_MAX + 1, sizeof(*buffers));
	struct request *req;

	ck_assert_ptr_nonnull(buffers);
	m.has_handle = m.has_op = true;
	m.handle = 4;
	m.n_buffers = IOV_MAX + 1;
	m.buffers = buffers;
	msg.op_case = OP(SENDMSG_AFALG);
	msg.sendmsg_afalg = &m;
	req = decode_ok(&msg);
	ck_assert_uint_eq(req->afalg.n_buffers, IOV_MAX + 1);
	ck_assert_ptr_null(req->afalg.buffers);
	wire_request_free(req);
	free(buffers);
}
END_TEST

START_TEST(wire_rejects_sendmsg_afalg_bad_arguments_naming_the_field)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SendMsgAfalgRequest m = SOCKBROKER__V1__SEND_MSG_AFALG_REQUEST__INIT;
	uint8_t iv[AFALG_IV_MAX + 1] = {0};

	msg.op_case = OP(SENDMSG_AFALG);
	msg.sendmsg_afalg = &m;
	m.has_op = true;
	decode_invalid(&msg, EINVAL, "sendmsg_afalg.handle is required");
	m.has_handle = true;
	m.has_op = false;
	decode_invalid(&msg, EINVAL, "sendmsg_afalg.op is required");
	m.has_op = true;
	m.has_iv = true;
	m.iv.data = iv;
	m.iv.len = sizeof(iv);
	decode_invalid(&msg, EINVAL, "sendmsg_afalg.iv");
	m.iv.len = AFALG_IV_MAX;
	m.has_assoclen = true;
	m.assoclen = -1;
	decode_invalid(&msg, EINVAL, "sendmsg_afalg.assoclen must not be negative");
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
	ck_assert_ptr_null(msg->hello->identity->token_name);
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

START_TEST(wire_encodes_the_token_name_of_the_session)
{
	struct reply *reply = hello_reply(true);
	Reply *msg;

	reply->hello.token_name = "ci";
	reply->hello.tls_verified = true;
	msg = encode(reply);
	ck_assert_str_eq(msg->hello->identity->token_name, "ci");
	ck_assert(msg->hello->identity->tls_verified);
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	/* "" is no token: the field stays absent. */
	reply = hello_reply(true);
	reply->hello.token_name = "";
	msg = encode(reply);
	ck_assert_ptr_null(msg->hello->identity->token_name);
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

START_TEST(wire_encode_reply_escapes_strings_that_are_not_utf8)
{
	/* A text result (getfqdn echoing a client's name). */
	struct reply *reply = new_reply(3, REPLY_STRING);
	snprintf(reply->text, sizeof(reply->text), "bad\xff\xfe-name.\xc3\xa9t\xc3");
	Reply *msg = encode(reply);
	ck_assert_str_eq(msg->string->value, "bad\\xff\\xfe-name.\xc3\xa9t\\xc3");
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	/* An error message, and the borrowed alias list of a host entry, which
	 * stays as it was. */
	reply = new_reply(4, REPLY_DONE);
	reply->error.kind = ERROR_OS;
	reply->error.errnum = ENOENT;
	snprintf(reply->error.message, sizeof(reply->error.message), "no \xed\xa0\x80 here");
	msg = encode(reply);
	ck_assert_str_eq(msg->error->message, "no \\xed\\xa0\\x80 here");
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	static const char *const aliases[] = { "ok", "over\xc0\xaflong", "fine\xe2\x82\xac" };
	static const char *const addresses[] = { "127.0.0.1" };
	reply = new_reply(5, REPLY_HOSTENT);
	reply->hostent.hostname = "host\x80";
	reply->hostent.aliases = aliases;
	reply->hostent.n_aliases = 3;
	reply->hostent.addresses = addresses;
	reply->hostent.n_addresses = 1;
	msg = encode(reply);
	ck_assert_str_eq(msg->hostent->hostname, "host\\x80");
	ck_assert_uint_eq(msg->hostent->n_aliases, 3);
	ck_assert_str_eq(msg->hostent->aliases[0], "ok");
	ck_assert_str_eq(msg->hostent->aliases[1], "over\\xc0\\xaflong");
	ck_assert_str_eq(msg->hostent->aliases[2], "fine\xe2\x82\xac");
	ck_assert_str_eq(aliases[1], "over\xc0\xaflong");
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

/* Encode getsockname's reply for the sockaddr in `buf` and return its Address. */
static Reply *
encode_address(const void *sa, socklen_t len)
{
	struct reply *reply = new_reply(80, REPLY_ADDRESS);

	memcpy(&reply->address.ss, sa, len);
	reply->address.len = len;
	return encode(reply);
}

START_TEST(wire_encodes_tuple_family_addresses_as_their_members)
{
	struct sockaddr_nl nl = {.nl_family = AF_NETLINK, .nl_pid = 1234, .nl_groups = 5};
	struct sockaddr_ll ll = {.sll_family = AF_PACKET, .sll_protocol = htons(0x0806)};
	struct sockaddr_vm vm = {.svm_family = AF_VSOCK, .svm_cid = 3, .svm_port = 77};
	struct sockaddr_can can = {.can_family = AF_CAN};
	struct sockaddr_tipc tipc = {.family = AF_TIPC, .addrtype = TIPC_ADDR_ID, .scope = 2};
	struct sockaddr_alg alg = {.salg_family = AF_ALG, .salg_type = "hash",
				   .salg_name = "sha1"};
	Sockbroker__V1__Address *a;
	Reply *msg;

	msg = encode_address(&nl, sizeof(nl));
	a = msg->address->address;
	ck_assert_int_eq(a->family_case, SOCKBROKER__V1__ADDRESS__FAMILY_AF_NETLINK);
	ck_assert_uint_eq(a->af_netlink->pid, 1234);
	ck_assert_uint_eq(a->af_netlink->groups, 5);
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	ll.sll_ifindex = (int)if_nametoindex("lo");
	ll.sll_pkttype = PACKET_HOST;
	ll.sll_hatype = 772;
	ll.sll_halen = 6;
	msg = encode_address(&ll, sizeof(ll));
	a = msg->address->address;
	ck_assert_int_eq(a->family_case, SOCKBROKER__V1__ADDRESS__FAMILY_AF_PACKET);
	ck_assert_str_eq(a->af_packet->ifname, "lo");
	ck_assert_uint_eq(a->af_packet->proto, 0x0806);
	ck_assert(a->af_packet->has_pkttype);
	ck_assert_uint_eq(a->af_packet->pkttype, PACKET_HOST);
	ck_assert_uint_eq(a->af_packet->hatype, 772);
	ck_assert_uint_eq(a->af_packet->addr.len, 6);
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	msg = encode_address(&alg, sizeof(alg));
	a = msg->address->address;
	ck_assert_int_eq(a->family_case, SOCKBROKER__V1__ADDRESS__FAMILY_AF_ALG);
	ck_assert_str_eq(a->af_alg->type, "hash");
	ck_assert_str_eq(a->af_alg->name, "sha1");
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	msg = encode_address(&vm, sizeof(vm));
	a = msg->address->address;
	ck_assert_int_eq(a->family_case, SOCKBROKER__V1__ADDRESS__FAMILY_AF_VSOCK);
	ck_assert_uint_eq(a->af_vsock->cid, 3);
	ck_assert_uint_eq(a->af_vsock->port, 77);
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	/* CAN_RAW's 8 bytes: the interface alone. */
	can.can_ifindex = (int)if_nametoindex("lo");
	msg = encode_address(&can, 8);
	a = msg->address->address;
	ck_assert_int_eq(a->family_case, SOCKBROKER__V1__ADDRESS__FAMILY_AF_CAN);
	ck_assert_str_eq(a->af_can->ifname, "lo");
	ck_assert(!a->af_can->has_rx_addr && !a->af_can->has_j1939_name);
	sockbroker__v1__reply__free_unpacked(msg, NULL);
	/* CAN_ISOTP's 16: with the ids. */
	can.can_addr.tp.rx_id = 0x7e0;
	can.can_addr.tp.tx_id = 0x7e8;
	msg = encode_address(&can, 16);
	a = msg->address->address;
	ck_assert(a->af_can->has_rx_addr && a->af_can->has_tx_addr);
	ck_assert_uint_eq(a->af_can->rx_addr, 0x7e0);
	ck_assert_uint_eq(a->af_can->tx_addr, 0x7e8);
	ck_assert(!a->af_can->has_j1939_name);
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	tipc.addr.id.node = 0x1001001;
	tipc.addr.id.ref = 42;
	msg = encode_address(&tipc, sizeof(tipc));
	a = msg->address->address;
	ck_assert_int_eq(a->family_case, SOCKBROKER__V1__ADDRESS__FAMILY_AF_TIPC);
	ck_assert_uint_eq(a->af_tipc->addr_type, TIPC_ADDR_ID);
	ck_assert_uint_eq(a->af_tipc->v1, 0x1001001);
	ck_assert_uint_eq(a->af_tipc->v2, 42);
	ck_assert_uint_eq(a->af_tipc->v3, 0);
	ck_assert_uint_eq(a->af_tipc->scope, 2);
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

START_TEST(wire_encodes_accept_without_a_peer_as_an_absent_address)
{
	struct reply *reply = new_reply(71, REPLY_ACCEPT);
	Reply *msg;

	/* An AF_ALG operation socket: accept gives no address at all. */
	reply->accept.socket = (struct socket_info){10, AF_ALG, SOCK_SEQPACKET, 0, TIMEOUT_NONE};
	reply->accept.peer.len = 0;
	msg = encode(reply);
	ck_assert_int_eq(msg->result_case, RESULT(ACCEPT));
	ck_assert_uint_eq(msg->accept->socket->handle, 10);
	ck_assert_ptr_null(msg->accept->address);
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

/* ---- sendmsg and recvmsg ------------------------------------------------------------------ */

START_TEST(wire_decodes_sendmsg_buffers_items_and_address)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SendMsgRequest m = SOCKBROKER__V1__SEND_MSG_REQUEST__INIT;
	Sockbroker__V1__Ancillary raw = SOCKBROKER__V1__ANCILLARY__INIT;
	Sockbroker__V1__Ancillary rights = SOCKBROKER__V1__ANCILLARY__INIT;
	Sockbroker__V1__Ancillary info = SOCKBROKER__V1__ANCILLARY__INIT;
	Sockbroker__V1__Rights rights_m = SOCKBROKER__V1__RIGHTS__INIT;
	Sockbroker__V1__PktInfo info_m = SOCKBROKER__V1__PKT_INFO__INIT;
	Sockbroker__V1__Ancillary *items[] = { &raw, &rights, &info };
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__InetAddress inet = SOCKBROKER__V1__INET_ADDRESS__INIT;
	ProtobufCBinaryData buffers[] = { { 2, (uint8_t *)"ab" }, { 3, (uint8_t *)"cde" } };
	uint64_t handles[] = { 5, 6 };

	raw.has_level = raw.has_type = raw.has_data = true;
	raw.level = SOL_SOCKET;
	raw.type = 9999;
	raw.data = (ProtobufCBinaryData){ 1, (uint8_t *)"x" };
	rights.has_level = rights.has_type = true;
	rights.level = SOL_SOCKET;
	rights.type = SCM_RIGHTS;
	rights.decoded_case = SOCKBROKER__V1__ANCILLARY__DECODED_RIGHTS;
	rights_m.n_handles = 2;
	rights_m.handles = handles;
	rights.rights = &rights_m;
	info.has_level = info.has_type = true;
	info.level = IPPROTO_IP;
	info.type = IP_PKTINFO;
	info.decoded_case = SOCKBROKER__V1__ANCILLARY__DECODED_PKTINFO;
	info_m.has_ifindex = true;
	info_m.ifindex = 2;
	info_m.addr = "127.0.0.1";
	info.pktinfo = &info_m;
	inet.host = "127.0.0.1";
	inet.has_port = true;
	inet.port = 53;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET;
	address.af_inet = &inet;
	m.has_handle = true;
	m.handle = 9;
	m.n_buffers = 2;
	m.buffers = buffers;
	m.n_ancillary = 3;
	m.ancillary = items;
	m.has_flags = true;
	m.flags = MSG_DONTWAIT;
	m.address = &address;
	msg.op_case = SOCKBROKER__V1__REQUEST__OP_SENDMSG;
	msg.sendmsg = &m;

	struct request *req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_SENDMSG);
	ck_assert_uint_eq(req->handle, 9);
	ck_assert_int_eq(req->sendmsg.flags, MSG_DONTWAIT);
	ck_assert_uint_eq(req->sendmsg.n_buffers, 2);
	ck_assert_uint_eq(req->sendmsg.buffers[1].iov_len, 3);
	ck_assert(memcmp(req->sendmsg.buffers[1].iov_base, "cde", 3) == 0);
	ck_assert(req->sendmsg.has_address);
	ck_assert_str_eq(req->sendmsg.address.inet.host, "127.0.0.1");
	ck_assert_uint_eq(req->sendmsg.n_ancillary, 3);
	ck_assert_int_eq(req->sendmsg.ancillary[0].view, CMSG_VIEW_NONE);
	ck_assert_uint_eq(req->sendmsg.ancillary[0].len, 1);
	ck_assert_int_eq(req->sendmsg.ancillary[1].view, CMSG_VIEW_RIGHTS);
	ck_assert_uint_eq(req->sendmsg.ancillary[1].rights.count, 2);
	ck_assert_uint_eq(req->sendmsg.ancillary[1].rights.handles[1], 6);
	ck_assert_int_eq(req->sendmsg.ancillary[2].view, CMSG_VIEW_PKTINFO);
	ck_assert_uint_eq(req->sendmsg.ancillary[2].pktinfo.ifindex, 2);
	ck_assert_str_eq(req->sendmsg.ancillary[2].pktinfo.addr, "127.0.0.1");
	ck_assert_str_eq(req->sendmsg.ancillary[2].pktinfo.spec_dst, "");
	wire_request_free(req);

	/* No address: the connected peer. */
	m.address = NULL;
	m.n_ancillary = 0;
	req = decode_ok(&msg);
	ck_assert(!req->sendmsg.has_address);
	ck_assert_ptr_null(req->sendmsg.ancillary);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_rejects_malformed_sendmsg_items_naming_them)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SendMsgRequest m = SOCKBROKER__V1__SEND_MSG_REQUEST__INIT;
	Sockbroker__V1__Ancillary ok = SOCKBROKER__V1__ANCILLARY__INIT;
	Sockbroker__V1__Ancillary bad = SOCKBROKER__V1__ANCILLARY__INIT;
	Sockbroker__V1__Ancillary *items[] = { &ok, &bad };
	Sockbroker__V1__Timestamp ts = SOCKBROKER__V1__TIMESTAMP__INIT;
	Sockbroker__V1__PktInfo info = SOCKBROKER__V1__PKT_INFO__INIT;
	Sockbroker__V1__Credentials cred = SOCKBROKER__V1__CREDENTIALS__INIT;
	static uint8_t big[MAX_DATA + 1];

	ok.has_level = ok.has_type = true;
	m.has_handle = true;
	m.handle = 1;
	m.n_ancillary = 2;
	m.ancillary = items;
	msg.op_case = SOCKBROKER__V1__REQUEST__OP_SENDMSG;
	msg.sendmsg = &m;

	decode_invalid(&msg, EINVAL, "sendmsg.ancillary[1]: level and type are required");
	bad.has_level = bad.has_type = bad.has_data = true;
	bad.decoded_case = SOCKBROKER__V1__ANCILLARY__DECODED_INT_VALUE;
	decode_invalid(&msg, EINVAL, "not both");
	bad.has_data = false;
	bad.decoded_case = SOCKBROKER__V1__ANCILLARY__DECODED_TIMESTAMP;
	bad.timestamp = &ts;
	decode_invalid(&msg, EINVAL, "only received");
	bad.decoded_case = SOCKBROKER__V1__ANCILLARY__DECODED_PKTINFO;
	bad.pktinfo = &info;
	info.addr = "0000:0000:0000:0000:0000:0000:0000:0000:0000:0000";
	decode_invalid(&msg, EINVAL, "sendmsg.ancillary[1].pktinfo");
	bad.decoded_case = SOCKBROKER__V1__ANCILLARY__DECODED_CREDENTIALS;
	bad.credentials = &cred;
	decode_invalid(&msg, EINVAL, "pid, uid and gid are required");

	/* One message is never split: more data than a reply could echo is refused. */
	ProtobufCBinaryData buffer = { sizeof(big), big };
	m.n_ancillary = 0;
	m.n_buffers = 1;
	m.buffers = &buffer;
	decode_invalid(&msg, EMSGSIZE, "max_data_size");
	m.n_buffers = 0;
	m.has_handle = false;
	decode_invalid(&msg, EINVAL, "sendmsg.handle is required");
}
END_TEST

static Request *
recvmsg_request(Request *msg, Sockbroker__V1__RecvMsgRequest *m, int64_t bufsize, bool has_anc,
		int64_t ancbufsize)
{
	sockbroker__v1__request__init(msg);
	sockbroker__v1__recv_msg_request__init(m);
	m->has_handle = m->has_bufsize = true;
	m->handle = 3;
	m->bufsize = bufsize;
	m->has_ancbufsize = has_anc;
	m->ancbufsize = ancbufsize;
	msg->op_case = SOCKBROKER__V1__REQUEST__OP_RECVMSG;
	msg->recvmsg = m;
	return msg;
}

START_TEST(wire_decodes_recvmsg_clamping_its_sizes_and_rejects_bad_ones)
{
	Request msg;
	Sockbroker__V1__RecvMsgRequest m;

	struct request *req = decode_ok(recvmsg_request(&msg, &m, 100, true, 64));
	ck_assert_uint_eq(req->recvmsg.bufsize, 100);
	ck_assert_uint_eq(req->recvmsg.ancbufsize, 64);
	wire_request_free(req);
	req = decode_ok(recvmsg_request(&msg, &m, 100, false, 0));
	ck_assert_uint_eq(req->recvmsg.ancbufsize, 0);
	wire_request_free(req);
	/* Huge sizes: the control buffer is clamped (here to an eighth of the data limit),
	 * and the data leaves room for the decoded items. */
	req = decode_ok(recvmsg_request(&msg, &m, INT64_MAX, true, 1 << 30));
	ck_assert_uint_eq(req->recvmsg.ancbufsize, MAX_DATA / (2 * CMSG_REPLY_FACTOR));
	ck_assert_uint_eq(req->recvmsg.bufsize,
			  MAX_DATA - req->recvmsg.ancbufsize * CMSG_REPLY_FACTOR);
	wire_request_free(req);

	decode_invalid(recvmsg_request(&msg, &m, -1, false, 0), EINVAL,
		       "negative buffer size in recvmsg()");
	decode_invalid(recvmsg_request(&msg, &m, 1, true, -1), EINVAL,
		       "negative ancillary buffer size in recvmsg()");
	decode_invalid(recvmsg_request(&msg, &m, 1, true, (int64_t)INT_MAX + 1), EOVERFLOW,
		       "invalid ancillary data buffer length");
	recvmsg_request(&msg, &m, 1, false, 0)->recvmsg->has_bufsize = false;
	decode_invalid(&msg, EINVAL, "recvmsg.bufsize is required");
}
END_TEST

START_TEST(wire_encodes_recvmsg_with_every_decoded_view)
{
	struct reply *reply = new_reply(4, REPLY_RECVMSG);
	struct cmsg_item items[7];
	uint64_t handles[] = { 42 };
	uint8_t bytes[8] = { 1, 2, 3, 4 };
	struct sockaddr_in *sin;

	memset(items, 0, sizeof(items));
	for (size_t i = 0; i < 7; i++) {
		items[i].level = (int)i;
		items[i].type = (int)i + 100;
		items[i].data = bytes;
		items[i].len = 4;
		items[i].view = (enum cmsg_view)i;
	}
	items[1].rights.handles = handles;
	items[1].rights.count = 1;
	items[2].credentials.pid = 7;
	items[2].credentials.uid = 8;
	items[2].credentials.gid = 9;
	items[3].pktinfo.ifindex = 1;
	snprintf(items[3].pktinfo.addr, sizeof(items[3].pktinfo.addr), "::1");
	items[4].int_value = 64;
	items[5].timestamp.seconds = 1700000000;
	items[5].timestamp.nanoseconds = 5;
	items[6].extended_error.errnum = ECONNREFUSED;
	items[6].extended_error.origin = 2;
	items[6].extended_error.type = 3;
	items[6].extended_error.code = 3;
	sin = (struct sockaddr_in *)&items[6].extended_error.offender.ss;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	items[6].extended_error.offender.len = sizeof(*sin);
	reply->recvmsg.data = (const uint8_t *)"data";
	reply->recvmsg.len = 4;
	reply->recvmsg.ancillary = items;
	reply->recvmsg.n_ancillary = 7;
	reply->recvmsg.msg_flags = MSG_CTRUNC;

	Reply *msg = encode(reply);
	ck_assert_int_eq(msg->result_case, RESULT(RECVMSG));
	const Sockbroker__V1__RecvMsgReply *r = msg->recvmsg;
	ck_assert_uint_eq(r->data.len, 4);
	ck_assert_int_eq(r->msg_flags, MSG_CTRUNC);
	ck_assert_ptr_null(r->address);
	ck_assert_uint_eq(r->n_ancillary, 7);
	for (size_t i = 0; i < 7; i++) {
		ck_assert_int_eq(r->ancillary[i]->level, (int)i);
		ck_assert_int_eq(r->ancillary[i]->type, (int)i + 100);
		ck_assert_uint_eq(r->ancillary[i]->data.len, 4);
	}
	ck_assert_int_eq(r->ancillary[0]->decoded_case, SOCKBROKER__V1__ANCILLARY__DECODED__NOT_SET);
	ck_assert_uint_eq(r->ancillary[1]->rights->handles[0], 42);
	ck_assert_int_eq(r->ancillary[2]->credentials->gid, 9);
	ck_assert_str_eq(r->ancillary[3]->pktinfo->addr, "::1");
	ck_assert_ptr_null(r->ancillary[3]->pktinfo->spec_dst);
	ck_assert_int_eq(r->ancillary[4]->int_value, 64);
	ck_assert_int_eq(r->ancillary[5]->timestamp->seconds, 1700000000);
	const Sockbroker__V1__ExtendedError *e = r->ancillary[6]->extended_error;
	ck_assert_str_eq(e->errno_name, "ECONNREFUSED");
	ck_assert_uint_eq(e->code, 3);
	ck_assert_ptr_nonnull(e->offender);
	ck_assert_str_eq(e->offender->af_inet->host, "127.0.0.1");
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

/* ---- the name service and interfaces -------------------------------------------------- */

START_TEST(wire_decodes_name_service_requests_keeping_their_strings)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__GetAddrInfoRequest gai = SOCKBROKER__V1__GET_ADDR_INFO_REQUEST__INIT;
	Sockbroker__V1__HostNameRequest host = SOCKBROKER__V1__HOST_NAME_REQUEST__INIT;
	Sockbroker__V1__GetServByNameRequest byname =
		SOCKBROKER__V1__GET_SERV_BY_NAME_REQUEST__INIT;
	Sockbroker__V1__GetServByPortRequest byport =
		SOCKBROKER__V1__GET_SERV_BY_PORT_REQUEST__INIT;
	Sockbroker__V1__IfIndexToNameRequest toname =
		SOCKBROKER__V1__IF_INDEX_TO_NAME_REQUEST__INIT;
	Sockbroker__V1__SetHostNameRequest sethost = SOCKBROKER__V1__SET_HOST_NAME_REQUEST__INIT;
	uint8_t name[65];
	struct request *req;

	/* getaddrinfo(None, "http", ...): flags and numbers go to libc as given. */
	gai.port = "http";
	gai.has_flags = true;
	gai.flags = 0x7fffffff;
	gai.has_type = true;
	gai.type = 4242;
	msg.op_case = OP(GETADDRINFO);
	msg.getaddrinfo = &gai;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_GETADDRINFO);
	ck_assert_ptr_null(req->getaddrinfo.host);
	ck_assert_str_eq(req->getaddrinfo.port, "http");
	ck_assert_int_eq(req->getaddrinfo.family, AF_UNSPEC);
	ck_assert_int_eq(req->getaddrinfo.type, 4242);
	ck_assert_int_eq(req->getaddrinfo.flags, 0x7fffffff);
	wire_request_free(req);

	/* getfqdn() without a name is the local host. */
	msg.op_case = OP(GETFQDN);
	msg.getfqdn = &host;
	req = decode_ok(&msg);
	ck_assert_str_eq(req->name.name, "");
	wire_request_free(req);
	host.name = "example.org";
	msg.op_case = OP(GETHOSTBYADDR);
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_GETHOSTBYADDR);
	ck_assert_str_eq(req->name.name, "example.org");
	wire_request_free(req);

	byname.name = "domain";
	msg.op_case = OP(GETSERVBYNAME);
	msg.getservbyname = &byname;
	req = decode_ok(&msg);
	ck_assert_str_eq(req->getservbyname.name, "domain");
	ck_assert_ptr_null(req->getservbyname.proto);
	wire_request_free(req);

	byport.has_port = true;
	byport.port = 65535;
	byport.proto = "udp";
	msg.op_case = OP(GETSERVBYPORT);
	msg.getservbyport = &byport;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->getservbyport.port, 65535);
	ck_assert_str_eq(req->getservbyport.proto, "udp");
	wire_request_free(req);

	toname.has_index = true;
	toname.index = UINT32_MAX;
	msg.op_case = OP(IF_INDEXTONAME);
	msg.if_indextoname = &toname;
	req = decode_ok(&msg);
	ck_assert_uint_eq(req->if_indextoname.index, UINT32_MAX);
	wire_request_free(req);

	/* A name too long for the kernel is the kernel's to refuse (EINVAL). */
	memset(name, 'n', sizeof(name));
	sethost.has_name = true;
	sethost.name.data = name;
	sethost.name.len = sizeof(name);
	msg.op_case = OP(SETHOSTNAME);
	msg.sethostname = &sethost;
	req = decode_ok(&msg);
	ck_assert_uint_eq(req->sethostname.len, sizeof(name));
	ck_assert(memcmp(req->sethostname.name, name, sizeof(name)) == 0);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_rejects_name_service_arguments_naming_the_field)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__GetAddrInfoRequest gai = SOCKBROKER__V1__GET_ADDR_INFO_REQUEST__INIT;
	Sockbroker__V1__GetNameInfoRequest gni = SOCKBROKER__V1__GET_NAME_INFO_REQUEST__INIT;
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__UnixAddress un;
	Sockbroker__V1__HostNameRequest host = SOCKBROKER__V1__HOST_NAME_REQUEST__INIT;
	Sockbroker__V1__GetServByPortRequest byport =
		SOCKBROKER__V1__GET_SERV_BY_PORT_REQUEST__INIT;
	Sockbroker__V1__IfIndexToNameRequest toname =
		SOCKBROKER__V1__IF_INDEX_TO_NAME_REQUEST__INIT;
	Sockbroker__V1__SetHostNameRequest sethost = SOCKBROKER__V1__SET_HOST_NAME_REQUEST__INIT;
	Sockbroker__V1__GetProtoByNameRequest proto =
		SOCKBROKER__V1__GET_PROTO_BY_NAME_REQUEST__INIT;
	char long_name[1026];

	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	gai.host = long_name;
	msg.op_case = OP(GETADDRINFO);
	msg.getaddrinfo = &gai;
	decode_invalid(&msg, EINVAL, "getaddrinfo.host: 1025 bytes");
	gai.host = NULL;
	long_name[256] = '\0';
	gai.port = long_name;
	decode_invalid(&msg, EINVAL, "getaddrinfo.port: 256 bytes");

	msg.op_case = OP(GETNAMEINFO);
	msg.getnameinfo = &gni;
	decode_invalid(&msg, EINVAL, "getnameinfo.address is required");
	sockbroker__v1__unix_address__init(&un);
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_UNIX;
	address.af_unix = &un;
	gni.address = &address;
	decode_invalid(&msg, EINVAL, "getnameinfo.address must be an af_inet or af_inet6");

	msg.op_case = OP(GETHOSTBYNAME);
	msg.gethostbyname = &host;
	decode_invalid(&msg, EINVAL, "gethostbyname.name is required");
	msg.op_case = OP(GETPROTOBYNAME);
	msg.getprotobyname = &proto;
	decode_invalid(&msg, EINVAL, "getprotobyname.name is required");

	msg.op_case = OP(GETSERVBYPORT);
	msg.getservbyport = &byport;
	decode_invalid(&msg, EINVAL, "getservbyport.port is required");
	byport.has_port = true;
	byport.port = 65536;
	decode_invalid(&msg, EOVERFLOW, "port must be 0-65535, got 65536");
	byport.port = -1;
	decode_invalid(&msg, EOVERFLOW, "port must be 0-65535, got -1");

	msg.op_case = OP(IF_INDEXTONAME);
	msg.if_indextoname = &toname;
	decode_invalid(&msg, EINVAL, "if_indextoname.index is required");
	toname.has_index = true;
	toname.index = -1;
	decode_invalid(&msg, EOVERFLOW, "if_indextoname.index: must be 0-4294967295, got -1");
	toname.index = (int64_t)UINT32_MAX + 1;
	decode_invalid(&msg, EOVERFLOW, "if_indextoname.index");

	msg.op_case = OP(SETHOSTNAME);
	msg.sethostname = &sethost;
	decode_invalid(&msg, EINVAL, "sethostname.name is required");
}
END_TEST

START_TEST(wire_encodes_the_name_service_results)
{
	struct addrinfo_entry entries[2] = {
		{ AF_INET, SOCK_STREAM, IPPROTO_TCP, "localhost", { .len = 0 } },
		{ AF_INET6, SOCK_DGRAM, IPPROTO_UDP, NULL, { .len = 0 } },
	};
	struct sockaddr_in *sin = (struct sockaddr_in *)&entries[0].address.ss;
	const char *aliases[] = { "alias.example" };
	const char *addresses[] = { "127.0.0.1", "127.0.0.2" };
	struct if_entry interfaces[] = { { 1, "lo" }, { 2, "eth0" } };
	struct reply *reply;
	Reply *msg;

	sin->sin_family = AF_INET;
	sin->sin_port = htons(80);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	entries[0].address.len = sizeof(*sin);
	set_sockaddr_in6(&entries[1].address, "fe80::1", 53, 0, 1);
	reply = new_reply(3, REPLY_GETADDRINFO);
	reply->getaddrinfo.entries = entries;
	reply->getaddrinfo.count = 2;
	msg = encode(reply);
	ck_assert_int_eq(msg->result_case, RESULT(GETADDRINFO));
	ck_assert_uint_eq(msg->getaddrinfo->n_results, 2);
	ck_assert_int_eq(msg->getaddrinfo->results[0]->proto, IPPROTO_TCP);
	ck_assert_str_eq(msg->getaddrinfo->results[0]->canonname, "localhost");
	ck_assert_str_eq(msg->getaddrinfo->results[0]->address->af_inet->host, "127.0.0.1");
	ck_assert_uint_eq(msg->getaddrinfo->results[0]->address->af_inet->port, 80);
	/* The reference's canonname is '' when there is none. */
	ck_assert_str_eq(msg->getaddrinfo->results[1]->canonname, "");
	ck_assert_str_eq(msg->getaddrinfo->results[1]->address->af_inet6->host, "fe80::1");
	ck_assert_uint_eq(msg->getaddrinfo->results[1]->address->af_inet6->scope_id, 1);
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	reply = new_reply(4, REPLY_GETNAMEINFO);
	snprintf(reply->getnameinfo.host, sizeof(reply->getnameinfo.host), "fe80::1%%lo");
	snprintf(reply->getnameinfo.service, sizeof(reply->getnameinfo.service), "http");
	msg = encode(reply);
	ck_assert_str_eq(msg->getnameinfo->host, "fe80::1%lo");
	ck_assert_str_eq(msg->getnameinfo->service, "http");
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	reply = new_reply(5, REPLY_HOSTENT);
	reply->hostent.hostname = "localhost";
	reply->hostent.aliases = aliases;
	reply->hostent.n_aliases = 1;
	reply->hostent.addresses = addresses;
	reply->hostent.n_addresses = 2;
	msg = encode(reply);
	ck_assert_str_eq(msg->hostent->hostname, "localhost");
	ck_assert_uint_eq(msg->hostent->n_aliases, 1);
	ck_assert_str_eq(msg->hostent->aliases[0], "alias.example");
	ck_assert_uint_eq(msg->hostent->n_addresses, 2);
	ck_assert_str_eq(msg->hostent->addresses[1], "127.0.0.2");
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	reply = new_reply(6, REPLY_STRING);
	snprintf(reply->text, sizeof(reply->text), "lo");
	msg = encode(reply);
	ck_assert_int_eq(msg->result_case, RESULT(STRING));
	ck_assert_str_eq(msg->string->value, "lo");
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	reply = new_reply(7, REPLY_INTEGER);
	reply->integer = 80;
	msg = encode(reply);
	ck_assert_int_eq(msg->result_case, RESULT(INTEGER));
	ck_assert(msg->integer->has_value);
	ck_assert_int_eq(msg->integer->value, 80);
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	reply = new_reply(8, REPLY_IF_NAMEINDEX);
	reply->if_nameindex.entries = interfaces;
	reply->if_nameindex.count = 2;
	msg = encode(reply);
	ck_assert_uint_eq(msg->if_nameindex->n_interfaces, 2);
	ck_assert_uint_eq(msg->if_nameindex->interfaces[1]->index, 2);
	ck_assert_str_eq(msg->if_nameindex->interfaces[1]->name, "eth0");
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	/* An empty list is an empty list, not a failure. */
	reply = new_reply(9, REPLY_IF_NAMEINDEX);
	msg = encode(reply);
	ck_assert_int_eq(msg->result_case, RESULT(IF_NAMEINDEX));
	ck_assert_uint_eq(msg->if_nameindex->n_interfaces, 0);
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

START_TEST(wire_encodes_the_admin_results)
{
	static const char *const listeners[] = { "ipc:///run/sb.sock", "tcp://127.0.0.1:7070" };
	struct admin_identity_row identities[1] = { { .sessions = 2, .handles = 3, .parked = 1 } };
	struct admin_rule_row rules[2] = { { "tcp", true, 5, 0 }, { "default-deny", false, 0, 2 } };
	struct admin_quota_row quotas[1] = { { "everyone", "uid 1000", 2, 3, 50, 1, 0 } };
	struct admin_session_row sessions[2] = {
		{ .id = 7, .has_credentials = true, .uid = 1000, .gid = 100, .pid = 4242,
		  .peer = "ipc", .transport = "ipc", .client_name = "sbcat", .handles = 3,
		  .requests = 9, .age = 1.5 },
		{ .id = 8, .token_name = "ops", .peer = "tcp 127.0.0.1:40112", .transport = "tcp",
		  .client_name = "sockbrokerctl" },
	};
	struct admin_handle_row handles[1] = { { .session = 7, .handle = 3, .family = AF_INET,
						 .type = SOCK_STREAM, .state = "listening",
						 .has_local = true, .queued_reads = 1,
						 .timeout_ns = TIMEOUT_NONE } };
	struct sockaddr_in *sin = (struct sockaddr_in *)&handles[0].local.ss;
	struct reply *reply;
	Reply *msg;

	snprintf(identities[0].identity, sizeof(identities[0].identity), "uid 1000");
	reply = new_reply(1, REPLY_ADMIN_STATUS);
	reply->admin_status.version = "0.1.0";
	reply->admin_status.pid = 99;
	reply->admin_status.listeners = listeners;
	reply->admin_status.n_listeners = 2;
	reply->admin_status.sessions = 2;
	reply->admin_status.identities = identities;
	reply->admin_status.n_identities = 1;
	reply->admin_status.rules = rules;
	reply->admin_status.n_rules = 2;
	reply->admin_status.quotas = quotas;
	reply->admin_status.n_quotas = 1;
	msg = encode(reply);
	ck_assert_int_eq(msg->result_case, RESULT(ADMIN_STATUS));
	ck_assert_str_eq(msg->admin_status->version, "0.1.0");
	ck_assert_int_eq(msg->admin_status->pid, 99);
	ck_assert_uint_eq(msg->admin_status->n_listeners, 2);
	ck_assert_str_eq(msg->admin_status->listeners[1], "tcp://127.0.0.1:7070");
	ck_assert_str_eq(msg->admin_status->identities[0]->identity, "uid 1000");
	ck_assert_uint_eq(msg->admin_status->identities[0]->parked, 1);
	ck_assert_str_eq(msg->admin_status->rules[1]->name, "default-deny");
	ck_assert(!msg->admin_status->rules[1]->allow);
	ck_assert_uint_eq(msg->admin_status->rules[1]->denied, 2);
	ck_assert_str_eq(msg->admin_status->quotas[0]->account, "uid 1000");
	ck_assert_uint_eq(msg->admin_status->quotas[0]->max_handles, 50);
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	reply = new_reply(2, REPLY_ADMIN_SESSIONS);
	reply->admin_sessions.rows = sessions;
	reply->admin_sessions.n_rows = 2;
	msg = encode(reply);
	ck_assert_uint_eq(msg->admin_sessions->n_sessions, 2);
	ck_assert(msg->admin_sessions->sessions[0]->identity->has_uid);
	ck_assert_int_eq(msg->admin_sessions->sessions[0]->identity->pid, 4242);
	ck_assert_str_eq(msg->admin_sessions->sessions[0]->client_name, "sbcat");
	ck_assert_uint_eq(msg->admin_sessions->sessions[0]->requests, 9);
	/* No credentials over tcp: no uid at all, not uid 0. */
	ck_assert(!msg->admin_sessions->sessions[1]->identity->has_uid);
	ck_assert_str_eq(msg->admin_sessions->sessions[1]->identity->token_name, "ops");
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	sin->sin_family = AF_INET;
	sin->sin_port = htons(8080);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	handles[0].local.len = sizeof(*sin);
	reply = new_reply(3, REPLY_ADMIN_HANDLES);
	reply->admin_handles.rows = handles;
	reply->admin_handles.n_rows = 1;
	msg = encode(reply);
	ck_assert_uint_eq(msg->admin_handles->n_handles, 1);
	ck_assert_str_eq(msg->admin_handles->handles[0]->state, "listening");
	ck_assert_str_eq(msg->admin_handles->handles[0]->local->af_inet->host, "127.0.0.1");
	ck_assert_uint_eq(msg->admin_handles->handles[0]->local->af_inet->port, 8080);
	ck_assert_ptr_null(msg->admin_handles->handles[0]->peer);
	ck_assert(!msg->admin_handles->handles[0]->has_timeout);
	ck_assert_uint_eq(msg->admin_handles->handles[0]->queued_reads, 1);
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

START_TEST(wire_encodes_an_herror_with_its_code)
{
	struct reply *reply = new_reply(10, REPLY_DONE);
	Reply *msg;

	reply->error.kind = ERROR_HERROR;
	reply->error.herror_code = HOST_NOT_FOUND;
	snprintf(reply->error.message, sizeof(reply->error.message), "Unknown host");
	msg = encode(reply);
	ck_assert_int_eq(msg->error->kind, KIND(HERROR));
	ck_assert(msg->error->has_herror_code);
	ck_assert_int_eq(msg->error->herror_code, HOST_NOT_FOUND);
	ck_assert(!msg->error->has_errno_number);
	ck_assert_str_eq(msg->error->message, "Unknown host");
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

/* ---- Poll, create_connection, create_server ---------------------------------------------- */

static Request *
poll_request(Request *msg, Sockbroker__V1__PollRequest *m, Sockbroker__V1__PollItem **items,
	     size_t n)
{
	sockbroker__v1__request__init(msg);
	sockbroker__v1__poll_request__init(m);
	m->n_items = n;
	m->items = items;
	msg->op_case = OP(POLL);
	msg->poll = m;
	return msg;
}

START_TEST(wire_decodes_poll_items_and_its_timeout)
{
	Request msg;
	Sockbroker__V1__PollRequest m;
	Sockbroker__V1__PollItem item[3], *items[3];
	struct request *req;

	for (size_t i = 0; i < 3; i++) {
		sockbroker__v1__poll_item__init(&item[i]);
		item[i].has_handle = item[i].has_events = true;
		item[i].handle = 10 + i;
		item[i].events = (uint32_t)(i == 2 ? 0 : 1u << i);
		items[i] = &item[i];
	}
	poll_request(&msg, &m, items, 3);
	m.has_timeout = true;
	m.timeout = 1.5;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->op, OP_POLL);
	ck_assert_uint_eq(req->poll.n_items, 3);
	ck_assert_uint_eq(req->poll.items[0].handle, 10);
	ck_assert_uint_eq(req->poll.items[0].events, POLL_EV_READABLE);
	ck_assert_uint_eq(req->poll.items[1].events, POLL_EV_WRITABLE);
	ck_assert_uint_eq(req->poll.items[2].handle, 12);
	ck_assert_uint_eq(req->poll.items[2].events, 0);
	ck_assert_int_eq(req->poll.timeout_ns, 1500000000);
	wire_request_free(req);

	/* No items and no timeout: a Poll that waits for a Cancel. */
	poll_request(&msg, &m, NULL, 0);
	req = decode_ok(&msg);
	ck_assert_uint_eq(req->poll.n_items, 0);
	ck_assert_int_eq(req->poll.timeout_ns, TIMEOUT_NONE);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_rejects_bad_poll_items_naming_them)
{
	Request msg;
	Sockbroker__V1__PollRequest m;
	Sockbroker__V1__PollItem good, bad, *items[2] = { &good, &bad };

	sockbroker__v1__poll_item__init(&good);
	good.has_handle = true;
	good.handle = 1;
	sockbroker__v1__poll_item__init(&bad);
	poll_request(&msg, &m, items, 2);
	decode_invalid(&msg, EINVAL, "poll.items[1].handle is required");
	bad.has_handle = bad.has_events = true;
	bad.events = 0x30;
	decode_invalid(&msg, EINVAL, "poll.items[1].events: unknown bits 0x30");
	bad.events = 1;
	m.has_timeout = true;
	m.timeout = NAN;
	decode_invalid(&msg, EINVAL, "poll.timeout: Timeout value out of range");
}
END_TEST

START_TEST(wire_rejects_a_poll_of_more_than_65536_items)
{
	Request msg;
	Sockbroker__V1__PollRequest m;
	Sockbroker__V1__PollItem item;
	size_t n = POLL_MAX_ITEMS + 1;
	Sockbroker__V1__PollItem **items = calloc(n, sizeof(*items));

	ck_assert_ptr_nonnull(items);
	sockbroker__v1__poll_item__init(&item);
	item.has_handle = true;
	item.handle = 1;
	for (size_t i = 0; i < n; i++)
		items[i] = &item;
	poll_request(&msg, &m, items, n);
	decode_invalid(&msg, EINVAL, "poll.items: 65537 items");
	/* The largest allowed decodes. */
	m.n_items = POLL_MAX_ITEMS;
	struct request *req = decode_ok(&msg);
	ck_assert_uint_eq(req->poll.n_items, POLL_MAX_ITEMS);
	wire_request_free(req);
	free(items);
}
END_TEST

START_TEST(wire_decodes_create_connection_with_a_source_address)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__CreateConnectionRequest m = SOCKBROKER__V1__CREATE_CONNECTION_REQUEST__INIT;
	Sockbroker__V1__Address source;
	Sockbroker__V1__Inet6Address in6 = SOCKBROKER__V1__INET6_ADDRESS__INIT;
	struct request *req;

	sockbroker__v1__address__init(&source);
	msg.op_case = OP(CREATE_CONNECTION);
	msg.create_connection = &m;
	m.host = "example.org";
	m.has_port = true;
	m.port = 443;
	req = decode_ok(&msg);
	ck_assert_str_eq(req->create_connection.host, "example.org");
	ck_assert_uint_eq(req->create_connection.port, 443);
	ck_assert_int_eq(req->create_connection.timeout_ns, TIMEOUT_NONE);
	ck_assert(!req->create_connection.has_source);
	ck_assert(!req->create_connection.all_errors);
	wire_request_free(req);

	in6.host = "::1";
	in6.has_port = true;
	in6.port = 5000;
	source.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET6;
	source.af_inet6 = &in6;
	m.source_address = &source;
	m.has_timeout = m.has_all_errors = true;
	m.timeout = 0.25;
	m.all_errors = true;
	req = decode_ok(&msg);
	ck_assert(req->create_connection.has_source);
	ck_assert_int_eq(req->create_connection.source.family, AF_INET6);
	ck_assert_str_eq(req->create_connection.source.inet.host, "::1");
	ck_assert_uint_eq(req->create_connection.source.inet.port, 5000);
	ck_assert_int_eq(req->create_connection.timeout_ns, 250000000);
	ck_assert(req->create_connection.all_errors);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_rejects_create_connection_without_host_or_port_or_with_a_unix_source)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__CreateConnectionRequest m = SOCKBROKER__V1__CREATE_CONNECTION_REQUEST__INIT;
	Sockbroker__V1__Address source;
	Sockbroker__V1__UnixAddress un;

	sockbroker__v1__address__init(&source);
	sockbroker__v1__unix_address__init(&un);
	msg.op_case = OP(CREATE_CONNECTION);
	msg.create_connection = &m;
	decode_invalid(&msg, EINVAL, "create_connection.host is required");
	m.host = "localhost";
	decode_invalid(&msg, EINVAL, "create_connection.port is required");
	m.has_port = true;
	m.port = 65536;
	decode_invalid(&msg, EOVERFLOW, "create_connection.port");
	m.port = 80;
	source.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_UNIX;
	source.af_unix = &un;
	m.source_address = &source;
	decode_invalid(&msg, EINVAL, "create_connection.source_address must be an af_inet");
}
END_TEST

START_TEST(wire_decodes_create_server_reading_the_host_in_the_given_family)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__CreateServerRequest m = SOCKBROKER__V1__CREATE_SERVER_REQUEST__INIT;
	Sockbroker__V1__Address address;
	Sockbroker__V1__InetAddress in = SOCKBROKER__V1__INET_ADDRESS__INIT;
	struct request *req;

	sockbroker__v1__address__init(&address);
	msg.op_case = OP(CREATE_SERVER);
	msg.create_server = &m;
	in.host = "";
	in.has_port = true;
	in.port = 8080;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET;
	address.af_inet = &in;
	m.address = &address;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->create_server.address.family, AF_INET);
	ck_assert(!req->create_server.has_backlog);
	ck_assert(!req->create_server.reuse_port && !req->create_server.dualstack_ipv6);
	ck_assert_int_eq(req->create_server.timeout_ns, TIMEOUT_NONE);
	wire_request_free(req);

	/* ("", 8080) with family AF_INET6 and dualstack: an IPv6 any address. */
	m.has_family = m.has_dualstack_ipv6 = m.has_reuse_port = m.has_backlog = true;
	m.family = AF_INET6;
	m.dualstack_ipv6 = m.reuse_port = true;
	m.backlog = -5;
	req = decode_ok(&msg);
	ck_assert_int_eq(req->create_server.address.family, AF_INET6);
	ck_assert_uint_eq(req->create_server.address.inet.port, 8080);
	ck_assert(req->create_server.dualstack_ipv6 && req->create_server.reuse_port);
	ck_assert(req->create_server.has_backlog);
	ck_assert_int_eq(req->create_server.backlog, 0);
	wire_request_free(req);
}
END_TEST

START_TEST(wire_rejects_create_server_dualstack_without_af_inet6_as_the_reference)
{
	Request msg = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__CreateServerRequest m = SOCKBROKER__V1__CREATE_SERVER_REQUEST__INIT;
	Sockbroker__V1__Address address;
	Sockbroker__V1__InetAddress in = SOCKBROKER__V1__INET_ADDRESS__INIT;
	Sockbroker__V1__UnixAddress un;

	sockbroker__v1__address__init(&address);
	sockbroker__v1__unix_address__init(&un);
	msg.op_case = OP(CREATE_SERVER);
	msg.create_server = &m;
	decode_invalid(&msg, EINVAL, "create_server.address is required");
	in.host = "127.0.0.1";
	in.has_port = true;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET;
	address.af_inet = &in;
	m.address = &address;
	m.has_dualstack_ipv6 = true;
	m.dualstack_ipv6 = true;
	struct wire_error error = decode_invalid(&msg, EINVAL, "");
	ck_assert_str_eq(error.message, "dualstack_ipv6 requires AF_INET6 family");
	m.has_dualstack_ipv6 = false;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_UNIX;
	address.af_unix = &un;
	m.has_family = true;
	m.family = AF_INET;
	decode_invalid(&msg, EINVAL, "does not fit create_server.family");
}
END_TEST

START_TEST(wire_encodes_a_poll_reply_with_the_ready_handles)
{
	struct poll_item ready[2] = { { 7, POLL_EV_READABLE }, { 9, POLL_EV_ERROR | POLL_EV_HANGUP } };
	struct reply *reply = new_reply(4, REPLY_POLL);
	Reply *msg;

	reply->poll.ready = ready;
	reply->poll.n_ready = 2;
	msg = encode(reply);
	ck_assert_int_eq(msg->result_case, RESULT(POLL));
	ck_assert_uint_eq(msg->poll->n_ready, 2);
	ck_assert_uint_eq(msg->poll->ready[0]->handle, 7);
	ck_assert_uint_eq(msg->poll->ready[0]->events, POLL_EV_READABLE);
	ck_assert_uint_eq(msg->poll->ready[1]->handle, 9);
	ck_assert_uint_eq(msg->poll->ready[1]->events, POLL_EV_ERROR | POLL_EV_HANGUP);
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	/* A timeout: a poll result with nothing in it, not an error. */
	reply = new_reply(5, REPLY_POLL);
	msg = encode(reply);
	ck_assert_int_eq(msg->result_case, RESULT(POLL));
	ck_assert_ptr_null(msg->error);
	ck_assert_uint_eq(msg->poll->n_ready, 0);
	sockbroker__v1__reply__free_unpacked(msg, NULL);
}
END_TEST

START_TEST(wire_encodes_create_connection_success_and_every_attempt_error)
{
	struct reply *reply = new_reply(6, REPLY_CREATE_CONNECTION);
	struct reply_error errors[2] = { { 0 } };
	Reply *msg;

	reply->create_connection.connected = true;
	reply->create_connection.socket = (struct socket_info){ 3, AF_INET6, SOCK_STREAM, 6,
								  2000000000 };
	set_sockaddr_in6(&reply->create_connection.peer, "::1", 80, 0, 0);
	msg = encode(reply);
	ck_assert_int_eq(msg->result_case, RESULT(CREATE_CONNECTION));
	ck_assert_uint_eq(msg->create_connection->socket->handle, 3);
	ck_assert(msg->create_connection->socket->has_timeout);
	ck_assert(msg->create_connection->socket->timeout == 2.0);
	ck_assert_str_eq(msg->create_connection->peer->af_inet6->host, "::1");
	ck_assert_uint_eq(msg->create_connection->n_attempt_errors, 0);
	sockbroker__v1__reply__free_unpacked(msg, NULL);

	errors[0].kind = ERROR_OS;
	errors[0].errnum = ECONNREFUSED;
	snprintf(errors[0].message, sizeof(errors[0].message), "%s", strerror(ECONNREFUSED));
	errors[1].kind = ERROR_TIMEOUT;
	errors[1].errnum = ETIMEDOUT;
	snprintf(errors[1].message, sizeof(errors[1].message), "timed out");
	reply = new_reply(7, REPLY_CREATE_CONNECTION);
	reply->create_connection.attempt_errors = errors;
	reply->create_connection.n_attempt_errors = 2;
	msg = encode(reply);
	ck_assert_ptr_null(msg->error);
	ck_assert_ptr_null(msg->create_connection->socket);
	ck_assert_uint_eq(msg->create_connection->n_attempt_errors, 2);
	ck_assert_int_eq(msg->create_connection->attempt_errors[0]->kind, KIND(OS));
	ck_assert_str_eq(msg->create_connection->attempt_errors[0]->errno_name, "ECONNREFUSED");
	ck_assert_int_eq(msg->create_connection->attempt_errors[1]->kind, KIND(TIMEOUT));
	ck_assert_str_eq(msg->create_connection->attempt_errors[1]->message, "timed out");
	sockbroker__v1__reply__free_unpacked(msg, NULL);
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
	tcase_add_test(valid, wire_decodes_the_hello_token_and_refuses_an_overlong_one);
	tcase_add_test(valid, wire_decodes_a_negative_listen_backlog_as_zero);
	tcase_add_test(valid, wire_decodes_cancel_with_its_target);
	tcase_add_test(valid, wire_decodes_the_admin_operations_and_the_session_of_admin_handles);
	tcase_add_test(valid, wire_request_free_of_null_is_a_noop);
	suite_add_tcase(s, valid);

	tcase_add_test(invalid, wire_rejects_recv_without_a_handle_naming_the_field);
	tcase_add_test(invalid, wire_decodes_a_resuming_hello_and_refuses_bad_resume_fields);
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
	tcase_add_test(invalid, wire_rejects_malformed_family_addresses_naming_the_field);
	tcase_add_test(invalid, wire_rejects_sendmsg_afalg_bad_arguments_naming_the_field);
	tcase_add_test(valid, wire_decodes_netlink_packet_alg_and_vsock_addresses);
	tcase_add_test(valid, wire_decodes_can_forms_and_tipc_addresses);
	tcase_add_test(valid, wire_decodes_sendmsg_afalg_into_an_iovec);
	tcase_add_test(valid, wire_leaves_more_buffers_than_iov_max_to_the_handler);
	tcase_add_test(encode_tc, wire_encodes_tuple_family_addresses_as_their_members);
	tcase_add_test(encode_tc, wire_encodes_accept_without_a_peer_as_an_absent_address);
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
	tcase_add_test(encode_tc, wire_encodes_the_token_name_of_the_session);
	tcase_add_test(encode_tc, wire_encode_reply_answers_enomem_when_alloc_returns_null);
	tcase_add_test(encode_tc, wire_encode_reply_escapes_strings_that_are_not_utf8);
	tcase_add_test(valid, wire_decodes_sendmsg_buffers_items_and_address);
	tcase_add_test(invalid, wire_rejects_malformed_sendmsg_items_naming_them);
	tcase_add_test(valid, wire_decodes_recvmsg_clamping_its_sizes_and_rejects_bad_ones);
	tcase_add_test(encode_tc, wire_encodes_recvmsg_with_every_decoded_view);
	tcase_add_test(valid, wire_decodes_name_service_requests_keeping_their_strings);
	tcase_add_test(invalid, wire_rejects_name_service_arguments_naming_the_field);
	tcase_add_test(encode_tc, wire_encodes_the_name_service_results);
	tcase_add_test(encode_tc, wire_encodes_an_herror_with_its_code);
	tcase_add_test(encode_tc, wire_encodes_the_admin_results);
	tcase_add_test(valid, wire_decodes_poll_items_and_its_timeout);
	tcase_add_test(invalid, wire_rejects_bad_poll_items_naming_them);
	tcase_add_test(invalid, wire_rejects_a_poll_of_more_than_65536_items);
	tcase_add_test(valid, wire_decodes_create_connection_with_a_source_address);
	tcase_add_test(invalid,
		       wire_rejects_create_connection_without_host_or_port_or_with_a_unix_source);
	tcase_add_test(valid, wire_decodes_create_server_reading_the_host_in_the_given_family);
	tcase_add_test(invalid,
		       wire_rejects_create_server_dualstack_without_af_inet6_as_the_reference);
	tcase_add_test(encode_tc, wire_encodes_a_poll_reply_with_the_ready_handles);
	tcase_add_test(encode_tc, wire_encodes_create_connection_success_and_every_attempt_error);
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
