#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"
#include "sockbroker.pb-c.h"

/*
 * Pieces of a large sendall in flight at once. Each piece is a copy of its
 * part of the buffer, so a bounded window keeps a huge buffer from being
 * copied whole while still keeping the daemon busy.
 */
#define SENDALL_WINDOW 16

/* protobuf-c's bytes fields are not const; requests only read them. */
static ProtobufCBinaryData
bytes_of(const void *buf, size_t len)
{
	return (ProtobufCBinaryData){ .len = len, .data = (uint8_t *)(uintptr_t)buf };
}

static int
address_argument(const struct sb_addr *addr, Sockbroker__V1__Address **wire,
		 struct sb_error *err)
{
	int r;

	if (addr == NULL)
		return sb__missing_argument(err, "the address");
	r = sb__addr_to_wire(addr, wire);
	if (r == -ENOMEM)
		return sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "out of memory");
	if (r < 0)
		return sb__error_set(err, SB_ERR_BAD_REQUEST, -r,
				     "the address is malformed (a host without its NUL, or a "
				     "length beyond its array)");
	return 0;
}

/* The operations that take nothing but a handle. */
static int
handle_call(struct sb_client *c, Sockbroker__V1__Request__OpCase op, sb_handle h,
	    int expected_result, Sockbroker__V1__Reply **reply, struct sb_error *err)
{
	Sockbroker__V1__HandleRequest args = SOCKBROKER__V1__HANDLE_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;

	args.has_handle = true;
	args.handle = h;
	request.op_case = op;
	switch (op) {
	case SOCKBROKER__V1__REQUEST__OP_CLOSE:
		request.close = &args;
		break;
	case SOCKBROKER__V1__REQUEST__OP_GETSOCKNAME:
		request.getsockname = &args;
		break;
	case SOCKBROKER__V1__REQUEST__OP_GETPEERNAME:
		request.getpeername = &args;
		break;
	case SOCKBROKER__V1__REQUEST__OP_GETTIMEOUT:
		request.gettimeout = &args;
		break;
	default:
		return sb__error_set(err, SB_ERR_BAD_REQUEST, EINVAL,
				     "operation %d takes more than a handle", (int)op);
	}
	return sb__call(c, &request, h, expected_result, reply, err);
}

int
sb_socket(struct sb_client *c, int family, int type, int proto, sb_handle *out,
	  struct sb_error *err)
{
	Sockbroker__V1__SocketRequest args = SOCKBROKER__V1__SOCKET_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__Reply *reply;
	double timeout = sb_client_default_timeout(c);
	int r;

	if (out == NULL)
		return sb__missing_argument(err, "out");
	args.has_family = true;
	args.family = family;
	args.has_type = true;
	args.type = type;
	args.has_proto = true;
	args.proto = proto;
	if (timeout != SB_TIMEOUT_NONE) {
		args.has_timeout = true;
		args.timeout = timeout;
	}
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SOCKET;
	request.socket = &args;

	r = sb__call(c, &request, 0, SOCKBROKER__V1__REPLY__RESULT_SOCKET, &reply, err);
	if (r < 0)
		return r;
	*out = reply->socket->handle;
	sb__reply_free(reply);
	return 0;
}

/*
 * Close sees every earlier write-behind send answered first, and reports an
 * error one of them left. A stream handle the client knows to be open is
 * closed without waiting for the reply: the daemon closes it in order, and
 * there is nothing left for the caller to learn.
 */
int
sb_close(struct sb_client *c, sb_handle h, struct sb_error *err)
{
	Sockbroker__V1__HandleRequest args = SOCKBROKER__V1__HANDLE_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	struct sb_error settle_err;
	int settle_r, r;

	settle_r = sb__settle(c, h, &settle_err);
	args.has_handle = true;
	args.handle = h;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_CLOSE;
	request.close = &args;
	r = sb__call_behind(c, &request, h, 0, true, err);
	if (r == 0)
		r = sb__call(c, &request, h, SOCKBROKER__V1__REPLY__RESULT_DONE, NULL, err);
	if (settle_r < 0) {
		/* The handle is closed all the same; the earlier send's error is the news. */
		if (err != NULL)
			*err = settle_err;
		return settle_r;
	}
	return r < 0 ? r : 0;
}

int
sb_handoff(struct sb_client *c, sb_handle h, int *fd, struct sb_error *err)
{
	Sockbroker__V1__HandleRequest args = SOCKBROKER__V1__HANDLE_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__Reply *reply;
	int r;

	if (fd == NULL)
		return sb__error_set(err, SB_ERR_BAD_REQUEST, EINVAL, "fd must not be NULL");
	*fd = -1;
	/* What was written behind must be in the socket before it changes hands. */
	r = sb__settle(c, h, err);
	if (r < 0)
		return r;
	args.has_handle = true;
	args.handle = h;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HANDOFF;
	request.handoff = &args;
	r = sb__call_fd(c, &request, h, SOCKBROKER__V1__REPLY__RESULT_DONE, &reply, fd, err);
	if (r < 0)
		return r;
	if (*fd < 0)
		r = sb__error_set(err, SB_ERR_TRANSPORT, EPROTO,
				  "the broker answered handoff without a descriptor");
	sb__reply_free(reply);
	return r;
}

int
sb_bind(struct sb_client *c, sb_handle h, const struct sb_addr *addr, struct sb_error *err)
{
	Sockbroker__V1__BindRequest args = SOCKBROKER__V1__BIND_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	int r;

	r = address_argument(addr, &args.address, err);
	if (r < 0)
		return r;
	args.has_handle = true;
	args.handle = h;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_BIND;
	request.bind = &args;

	r = sb__call(c, &request, h, SOCKBROKER__V1__REPLY__RESULT_DONE, NULL, err);
	sb__addr_wire_free(args.address);
	return r;
}

int
sb_listen(struct sb_client *c, sb_handle h, int backlog, struct sb_error *err)
{
	Sockbroker__V1__ListenRequest args = SOCKBROKER__V1__LISTEN_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;

	args.has_handle = true;
	args.handle = h;
	if (backlog != SB_BACKLOG_DEFAULT) {
		args.has_backlog = true;
		args.backlog = backlog;
	}
	request.op_case = SOCKBROKER__V1__REQUEST__OP_LISTEN;
	request.listen = &args;
	return sb__call(c, &request, h, SOCKBROKER__V1__REPLY__RESULT_DONE, NULL, err);
}

int
sb_accept(struct sb_client *c, sb_handle h, sb_handle *conn, struct sb_addr *peer,
	  struct sb_error *err)
{
	Sockbroker__V1__AcceptRequest args = SOCKBROKER__V1__ACCEPT_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__Reply *reply;
	double timeout = sb_client_default_timeout(c);
	int r;

	if (conn == NULL)
		return sb__missing_argument(err, "conn");
	args.has_handle = true;
	args.handle = h;
	if (timeout != SB_TIMEOUT_NONE) {
		args.has_default_timeout = true;
		args.default_timeout = timeout;
	}
	request.op_case = SOCKBROKER__V1__REQUEST__OP_ACCEPT;
	request.accept = &args;

	r = sb__call(c, &request, h, SOCKBROKER__V1__REPLY__RESULT_ACCEPT, &reply, err);
	if (r < 0)
		return r;
	if (reply->accept->socket == NULL) {
		sb__reply_free(reply);
		return sb__error_set(err, SB_ERR_TRANSPORT, EPROTO,
				     "the broker accepted a connection but sent no handle for it");
	}
	*conn = reply->accept->socket->handle;
	if (peer != NULL)
		sb__addr_from_wire(peer, reply->accept->address);
	sb__reply_free(reply);
	return 0;
}

/*
 * Both forms of connect. The daemon may answer a plain connect with `done`
 * or with a ConnectReply of errno 0; connect_ex's own failure comes back
 * as a ConnectReply carrying the errno.
 */
static int
connect_call(struct sb_client *c, sb_handle h, const struct sb_addr *addr, bool ex,
	     int *result, struct sb_error *err)
{
	Sockbroker__V1__ConnectRequest args = SOCKBROKER__V1__CONNECT_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__Reply *reply;
	const Sockbroker__V1__ConnectReply *connected;
	int errnum = 0;
	int r;

	r = address_argument(addr, &args.address, err);
	if (r < 0)
		return r;
	args.has_handle = true;
	args.handle = h;
	if (ex) {
		args.has_ex = true;
		args.ex = true;
	}
	request.op_case = SOCKBROKER__V1__REQUEST__OP_CONNECT;
	request.connect = &args;

	r = sb__call(c, &request, h, 0, &reply, err);
	sb__addr_wire_free(args.address);
	if (r < 0)
		return r;

	switch (reply->result_case) {
	case SOCKBROKER__V1__REPLY__RESULT_DONE:
		break;
	case SOCKBROKER__V1__REPLY__RESULT_CONNECT:
		connected = reply->connect;
		errnum = sb__errno_from_name(connected->errno_name);
		if (errnum == 0 && connected->has_errno_number)
			errnum = connected->errno_number;
		break;
	default:
		sb__reply_free(reply);
		return sb__error_set(err, SB_ERR_TRANSPORT, EPROTO,
				     "the broker sent a result that does not match the request");
	}

	if (result != NULL) {
		*result = errnum;
	} else if (errnum != 0) {
		r = sb__error_set(err, SB_ERR_OS, errnum, "%s", strerror(errnum));
		if (err != NULL && reply->connect->errno_name != NULL)
			snprintf(err->errno_name, sizeof(err->errno_name), "%s",
				 reply->connect->errno_name);
	}
	sb__reply_free(reply);
	return r;
}

int
sb_connect(struct sb_client *c, sb_handle h, const struct sb_addr *addr, struct sb_error *err)
{
	return connect_call(c, h, addr, false, NULL, err);
}

int
sb_connect_ex(struct sb_client *c, sb_handle h, const struct sb_addr *addr, int *result,
	      struct sb_error *err)
{
	if (result == NULL)
		return sb__missing_argument(err, "result");
	return connect_call(c, h, addr, true, result, err);
}

int
sb_shutdown(struct sb_client *c, sb_handle h, int how, struct sb_error *err)
{
	Sockbroker__V1__ShutdownRequest args = SOCKBROKER__V1__SHUTDOWN_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	int r;

	args.has_handle = true;
	args.handle = h;
	args.has_how = true;
	args.how = how;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SHUTDOWN;
	request.shutdown = &args;
	/* Every byte written behind goes out before the shutdown. */
	if ((r = sb__settle(c, h, err)) < 0)
		return r;
	return sb__call(c, &request, h, SOCKBROKER__V1__REPLY__RESULT_DONE, NULL, err);
}

static int
name_call(struct sb_client *c, Sockbroker__V1__Request__OpCase op, sb_handle h,
	  struct sb_addr *out, struct sb_error *err)
{
	Sockbroker__V1__Reply *reply;
	int r;

	if (out == NULL)
		return sb__missing_argument(err, "out");
	r = handle_call(c, op, h, SOCKBROKER__V1__REPLY__RESULT_ADDRESS, &reply, err);
	if (r < 0)
		return r;
	sb__addr_from_wire(out, reply->address->address);
	sb__reply_free(reply);
	return 0;
}

int
sb_getsockname(struct sb_client *c, sb_handle h, struct sb_addr *out, struct sb_error *err)
{
	return name_call(c, SOCKBROKER__V1__REQUEST__OP_GETSOCKNAME, h, out, err);
}

int
sb_getpeername(struct sb_client *c, sb_handle h, struct sb_addr *out, struct sb_error *err)
{
	return name_call(c, SOCKBROKER__V1__REQUEST__OP_GETPEERNAME, h, out, err);
}

/* socket options */

static int
getsockopt_call(struct sb_client *c, sb_handle h, int level, int name, const size_t *buflen,
		Sockbroker__V1__Reply **reply, struct sb_error *err)
{
	Sockbroker__V1__GetSockOptRequest args = SOCKBROKER__V1__GET_SOCK_OPT_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;

	args.has_handle = true;
	args.handle = h;
	args.has_level = true;
	args.level = level;
	args.has_optname = true;
	args.optname = name;
	if (buflen != NULL) {
		/* Out-of-range sizes go to the daemon, which says what is allowed. */
		args.has_buflen = true;
		args.buflen = *buflen > INT32_MAX ? INT32_MAX : (int32_t)*buflen;
	}
	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETSOCKOPT;
	request.getsockopt = &args;
	return sb__call(c, &request, h, SOCKBROKER__V1__REPLY__RESULT_GETSOCKOPT, reply, err);
}

int
sb_getsockopt_int(struct sb_client *c, sb_handle h, int level, int name, int *value,
		  struct sb_error *err)
{
	const Sockbroker__V1__GetSockOptReply *option;
	Sockbroker__V1__Reply *reply;
	int r;

	if (value == NULL)
		return sb__missing_argument(err, "value");
	r = getsockopt_call(c, h, level, name, NULL, &reply, err);
	if (r < 0)
		return r;
	option = reply->getsockopt;
	if (option->value_case == SOCKBROKER__V1__GET_SOCK_OPT_REPLY__VALUE_INT_VALUE) {
		*value = (int)option->int_value;
	} else if (option->value_case == SOCKBROKER__V1__GET_SOCK_OPT_REPLY__VALUE_BYTES_VALUE &&
		   option->bytes_value.len == sizeof(int)) {
		memcpy(value, option->bytes_value.data, sizeof(int));
	} else {
		r = sb__error_set(err, SB_ERR_TRANSPORT, EPROTO,
				  "the broker sent an option value that is not an int");
	}
	sb__reply_free(reply);
	return r;
}

int
sb_getsockopt(struct sb_client *c, sb_handle h, int level, int name, void *buf, size_t *len,
	      struct sb_error *err)
{
	const Sockbroker__V1__GetSockOptReply *option;
	Sockbroker__V1__Reply *reply;
	const void *data;
	size_t data_len;
	int int_value;
	int r;

	if (len == NULL)
		return sb__missing_argument(err, "len");
	if (buf == NULL && *len > 0)
		return sb__missing_argument(err, "buf");
	r = getsockopt_call(c, h, level, name, len, &reply, err);
	if (r < 0)
		return r;
	option = reply->getsockopt;
	if (option->value_case == SOCKBROKER__V1__GET_SOCK_OPT_REPLY__VALUE_INT_VALUE) {
		int_value = (int)option->int_value;
		data = &int_value;
		data_len = sizeof(int_value);
	} else if (option->value_case == SOCKBROKER__V1__GET_SOCK_OPT_REPLY__VALUE_BYTES_VALUE) {
		data = option->bytes_value.data;
		data_len = option->bytes_value.len;
	} else {
		data = NULL;
		data_len = 0;
	}
	if (data_len > 0)
		memcpy(buf, data, data_len < *len ? data_len : *len);
	*len = data_len;
	sb__reply_free(reply);
	return 0;
}

static int
setsockopt_call(struct sb_client *c, Sockbroker__V1__SetSockOptRequest *args, sb_handle h,
		int level, int name, struct sb_error *err)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;

	args->has_handle = true;
	args->handle = h;
	args->has_level = true;
	args->level = level;
	args->has_optname = true;
	args->optname = name;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SETSOCKOPT;
	request.setsockopt = args;
	return sb__call(c, &request, h, SOCKBROKER__V1__REPLY__RESULT_DONE, NULL, err);
}

int
sb_setsockopt_int(struct sb_client *c, sb_handle h, int level, int name, int value,
		  struct sb_error *err)
{
	Sockbroker__V1__SetSockOptRequest args = SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__INIT;

	args.value_case = SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__VALUE_INT_VALUE;
	args.int_value = value;
	return setsockopt_call(c, &args, h, level, name, err);
}

int
sb_setsockopt(struct sb_client *c, sb_handle h, int level, int name, const void *buf,
	      size_t len, struct sb_error *err)
{
	Sockbroker__V1__SetSockOptRequest args = SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__INIT;

	if (buf == NULL && len > 0)
		return sb__missing_argument(err, "buf");
	args.value_case = SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__VALUE_BYTES_VALUE;
	args.bytes_value = bytes_of(buf, len);
	return setsockopt_call(c, &args, h, level, name, err);
}

int
sb_setsockopt_null(struct sb_client *c, sb_handle h, int level, int name, unsigned optlen,
		   struct sb_error *err)
{
	Sockbroker__V1__SetSockOptRequest args = SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__INIT;

	args.value_case = SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__VALUE_NULL_OPTLEN;
	args.null_optlen = optlen;
	return setsockopt_call(c, &args, h, level, name, err);
}

/* timeouts */

int
sb_settimeout(struct sb_client *c, sb_handle h, double timeout, struct sb_error *err)
{
	Sockbroker__V1__SetTimeoutRequest args = SOCKBROKER__V1__SET_TIMEOUT_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	int r;

	args.has_handle = true;
	args.handle = h;
	/* Any other value, negative or NaN included, is the daemon's to judge. */
	if (timeout != SB_TIMEOUT_NONE) {
		args.has_timeout = true;
		args.timeout = timeout;
	}
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SETTIMEOUT;
	request.settimeout = &args;
	/* Sends written behind ran in the old mode: let them finish in it. */
	if ((r = sb__settle(c, h, err)) < 0)
		return r;
	return sb__call(c, &request, h, SOCKBROKER__V1__REPLY__RESULT_DONE, NULL, err);
}

int
sb_gettimeout(struct sb_client *c, sb_handle h, double *timeout, struct sb_error *err)
{
	Sockbroker__V1__Reply *reply;
	int r;

	if (timeout == NULL)
		return sb__missing_argument(err, "timeout");
	r = handle_call(c, SOCKBROKER__V1__REQUEST__OP_GETTIMEOUT, h,
			SOCKBROKER__V1__REPLY__RESULT_TIMEOUT, &reply, err);
	if (r < 0)
		return r;
	*timeout = reply->timeout->has_timeout ? reply->timeout->timeout : SB_TIMEOUT_NONE;
	sb__reply_free(reply);
	return 0;
}

int
sb_setblocking(struct sb_client *c, sb_handle h, bool blocking, struct sb_error *err)
{
	return sb_settimeout(c, h, blocking ? SB_TIMEOUT_NONE : 0.0, err);
}

int
sb_getblocking(struct sb_client *c, sb_handle h, bool *blocking, struct sb_error *err)
{
	double timeout;
	int r;

	if (blocking == NULL)
		return sb__missing_argument(err, "blocking");
	r = sb_gettimeout(c, h, &timeout, err);
	if (r < 0)
		return r;
	*blocking = timeout != 0.0;
	return 0;
}

/* data transfer */

static ssize_t
send_call(struct sb_client *c, Sockbroker__V1__Request__OpCase op, sb_handle h,
	  const void *buf, size_t len, int flags, const struct sb_addr *to, struct sb_error *err)
{
	Sockbroker__V1__SendRequest args = SOCKBROKER__V1__SEND_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__Reply *reply;
	uint64_t count;
	int r;

	if (buf == NULL && len > 0)
		return sb__missing_argument(err, "buf");
	if (len > sb__client_max_data_size(c)) {
		/* One request carries at most max_data_size bytes. send may take
		 * fewer bytes than it is given, as the kernel's does; a datagram
		 * cannot be cut. */
		if (op != SOCKBROKER__V1__REQUEST__OP_SEND)
			return sb__error_set(err, SB_ERR_BAD_REQUEST, EMSGSIZE,
					     "sendto of %zu bytes is more than the broker's "
					     "max_data_size (%zu); one datagram cannot be split",
					     len, sb__client_max_data_size(c));
		len = sb__client_max_data_size(c);
	}
	if (to != NULL) {
		r = address_argument(to, &args.address, err);
		if (r < 0)
			return r;
	}
	args.has_handle = true;
	args.handle = h;
	args.has_data = true;
	args.data = bytes_of(buf, len);
	args.has_flags = true;
	args.flags = flags;
	if (op == SOCKBROKER__V1__REQUEST__OP_SEND && flags == 0) {
		/* What fits the credit the kernel would take at once: all of it. */
		r = sb__send_behind(c, h, &args, len, err);
		if (r != 0)
			return r < 0 ? r : (ssize_t)len;
	}
	request.op_case = op;
	if (op == SOCKBROKER__V1__REQUEST__OP_SENDTO)
		request.sendto = &args;
	else
		request.send = &args;

	r = sb__call(c, &request, h, SOCKBROKER__V1__REPLY__RESULT_SEND, &reply, err);
	sb__addr_wire_free(args.address);
	if (r < 0)
		return r;
	count = reply->send->count;
	sb__reply_free(reply);
	return count > SSIZE_MAX ? SSIZE_MAX : (ssize_t)count;
}

ssize_t
sb_send(struct sb_client *c, sb_handle h, const void *buf, size_t len, int flags,
	struct sb_error *err)
{
	return send_call(c, SOCKBROKER__V1__REQUEST__OP_SEND, h, buf, len, flags, NULL, err);
}

ssize_t
sb_sendto(struct sb_client *c, sb_handle h, const void *buf, size_t len, int flags,
	  const struct sb_addr *to, struct sb_error *err)
{
	if (to == NULL)
		return sb__missing_argument(err, "to");
	return send_call(c, SOCKBROKER__V1__REQUEST__OP_SENDTO, h, buf, len, flags, to, err);
}

int
sb_sendall(struct sb_client *c, sb_handle h, const void *buf, size_t len, int flags,
	   struct sb_error *err)
{
	Sockbroker__V1__SendRequest args[SENDALL_WINDOW];
	Sockbroker__V1__Request requests[SENDALL_WINDOW];
	Sockbroker__V1__Request *request_ptrs[SENDALL_WINDOW];
	size_t piece_size = sb__client_max_data_size(c);
	const uint8_t *data = buf;
	size_t offset = 0;
	int r;

	if (buf == NULL && len > 0)
		return sb__missing_argument(err, "buf");
	if (flags == 0 && len > 0 && len <= piece_size) {
		Sockbroker__V1__SendRequest behind = SOCKBROKER__V1__SEND_REQUEST__INIT;

		behind.has_handle = true;
		behind.handle = h;
		behind.has_data = true;
		behind.data = bytes_of(buf, len);
		behind.has_flags = true;
		behind.flags = flags;
		r = sb__send_behind(c, h, &behind, len, err);
		if (r != 0)
			return r < 0 ? r : 0;
	}

	/* At least one request, so that an empty sendall still checks the handle. */
	do {
		size_t pieces = 0;

		while (pieces < SENDALL_WINDOW && (offset < len || pieces == 0)) {
			size_t size = len - offset < piece_size ? len - offset : piece_size;

			sockbroker__v1__send_request__init(&args[pieces]);
			args[pieces].has_handle = true;
			args[pieces].handle = h;
			args[pieces].has_data = true;
			args[pieces].data = bytes_of(data + offset, size);
			args[pieces].has_flags = true;
			args[pieces].flags = flags;
			sockbroker__v1__request__init(&requests[pieces]);
			requests[pieces].op_case = SOCKBROKER__V1__REQUEST__OP_SENDALL;
			requests[pieces].sendall = &args[pieces];
			request_ptrs[pieces] = &requests[pieces];
			offset += size;
			pieces++;
		}
		r = sb__call_many(c, request_ptrs, pieces, h, SOCKBROKER__V1__REPLY__RESULT_SEND,
				  NULL, err);
	} while (r == 0 && offset < len);
	return r;
}

ssize_t
sb_sendmsg_afalg(struct sb_client *c, sb_handle h, const struct iovec *iov, size_t iovcnt,
		 int op, const void *iv, size_t ivlen, int assoclen, int flags,
		 struct sb_error *err)
{
	Sockbroker__V1__SendMsgAfalgRequest args = SOCKBROKER__V1__SEND_MSG_AFALG_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__Reply *reply;
	ProtobufCBinaryData *buffers = NULL;
	uint64_t count;
	int r;

	if (iov == NULL && iovcnt > 0)
		return sb__missing_argument(err, "iov");
	if (iv == NULL && ivlen > 0)
		return sb__missing_argument(err, "iv");
	if (iovcnt > 0) {
		buffers = calloc(iovcnt, sizeof(*buffers));
		if (buffers == NULL)
			return sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < iovcnt; i++) {
		if (iov[i].iov_base == NULL && iov[i].iov_len > 0) {
			free(buffers);
			return sb__missing_argument(err, "iov[].iov_base");
		}
		buffers[i] = bytes_of(iov[i].iov_base, iov[i].iov_len);
	}
	args.has_handle = true;
	args.handle = h;
	args.n_buffers = iovcnt;
	args.buffers = buffers;
	args.has_op = true;
	args.op = op;
	if (iv != NULL) {
		args.has_iv = true;
		args.iv = bytes_of(iv, ivlen);
	}
	/* -1 is "not given", as the reference's default; other negative values
	 * are the daemon's to refuse. */
	if (assoclen != -1) {
		args.has_assoclen = true;
		args.assoclen = assoclen;
	}
	args.has_flags = true;
	args.flags = flags;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SENDMSG_AFALG;
	request.sendmsg_afalg = &args;

	r = sb__call(c, &request, h, SOCKBROKER__V1__REPLY__RESULT_SEND, &reply, err);
	free(buffers);
	if (r < 0)
		return r;
	count = reply->send->count;
	sb__reply_free(reply);
	return count > SSIZE_MAX ? SSIZE_MAX : (ssize_t)count;
}

static ssize_t
recv_call(struct sb_client *c, Sockbroker__V1__Request__OpCase op, sb_handle h, void *buf,
	  size_t len, int flags, struct sb_addr *from, struct sb_error *err)
{
	Sockbroker__V1__RecvRequest args = SOCKBROKER__V1__RECV_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	const Sockbroker__V1__RecvReply *received;
	Sockbroker__V1__Reply *reply;
	size_t max_data_size = sb__client_max_data_size(c);
	size_t bufsize = len < max_data_size ? len : max_data_size;
	size_t copied;
	uint64_t count;
	int r;

	if (buf == NULL && len > 0)
		return sb__missing_argument(err, "buf");
	args.has_handle = true;
	args.handle = h;
	args.has_bufsize = true;
	args.bufsize = bufsize > INT64_MAX ? INT64_MAX : (int64_t)bufsize;
	args.has_flags = true;
	args.flags = flags;
	request.op_case = op;
	if (op == SOCKBROKER__V1__REQUEST__OP_RECVFROM)
		request.recvfrom = &args;
	else
		request.recv = &args;

	r = sb__call(c, &request, h, SOCKBROKER__V1__REPLY__RESULT_RECV, &reply, err);
	if (r < 0)
		return r;
	received = reply->recv;
	copied = received->data.len < len ? received->data.len : len;
	if (copied > 0)
		memcpy(buf, received->data.data, copied);
	if (from != NULL)
		sb__addr_from_wire(from, received->address);
	/* With MSG_TRUNC the kernel reports the datagram's full length. */
	count = copied;
	if ((flags & sb__constant_or(c, "MSG_TRUNC", MSG_TRUNC)) && received->has_count)
		count = received->count;
	sb__reply_free(reply);
	return count > SSIZE_MAX ? SSIZE_MAX : (ssize_t)count;
}

ssize_t
sb_recv(struct sb_client *c, sb_handle h, void *buf, size_t len, int flags,
	struct sb_error *err)
{
	return recv_call(c, SOCKBROKER__V1__REQUEST__OP_RECV, h, buf, len, flags, NULL, err);
}

ssize_t
sb_recvfrom(struct sb_client *c, sb_handle h, void *buf, size_t len, int flags,
	    struct sb_addr *from, struct sb_error *err)
{
	return recv_call(c, SOCKBROKER__V1__REQUEST__OP_RECVFROM, h, buf, len, flags, from, err);
}
