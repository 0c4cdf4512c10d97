/* The socket lifecycle's extras: socketpair, dup, the inheritable flag,
 * has_ipv6, and the daemon's CMSG_LEN/CMSG_SPACE. */
#include <errno.h>
#include <stdint.h>

#include "internal.h"
#include "sockbroker.pb-c.h"

int
sb_socketpair(struct sb_client *c, int family, int type, int proto, sb_handle pair[2],
	      struct sb_error *err)
{
	Sockbroker__V1__SocketPairRequest args = SOCKBROKER__V1__SOCKET_PAIR_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__Reply *reply;
	double timeout = sb_client_default_timeout(c);
	int r;

	if (pair == NULL)
		return sb__missing_argument(err, "pair");
	args.has_family = args.has_type = args.has_proto = true;
	args.family = family;
	args.type = type;
	args.proto = proto;
	if (timeout != SB_TIMEOUT_NONE) {
		args.has_timeout = true;
		args.timeout = timeout;
	}
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SOCKETPAIR;
	request.socketpair = &args;

	r = sb__call(c, &request, 0, SOCKBROKER__V1__REPLY__RESULT_SOCKETPAIR, &reply, err);
	if (r < 0)
		return r;
	if (reply->socketpair->first == NULL || reply->socketpair->second == NULL) {
		sb__reply_free(reply);
		return sb__error_set(err, SB_ERR_TRANSPORT, EPROTO,
				     "the broker made a socket pair but sent no handles for it");
	}
	pair[0] = reply->socketpair->first->handle;
	pair[1] = reply->socketpair->second->handle;
	sb__reply_free(reply);
	return 0;
}

int
sb_dup(struct sb_client *c, sb_handle h, sb_handle *out, struct sb_error *err)
{
	Sockbroker__V1__HandleRequest args = SOCKBROKER__V1__HANDLE_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__Reply *reply;
	int r;

	if (out == NULL)
		return sb__missing_argument(err, "out");
	args.has_handle = true;
	args.handle = h;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_DUP;
	request.dup = &args;
	/* The copy starts where every earlier write ended. */
	if ((r = sb__settle(c, h, err)) < 0)
		return r;
	r = sb__call(c, &request, h, SOCKBROKER__V1__REPLY__RESULT_SOCKET, &reply, err);
	if (r < 0)
		return r;
	*out = reply->socket->handle;
	sb__reply_free(reply);
	return 0;
}

int
sb_set_inheritable(struct sb_client *c, sb_handle h, bool inheritable, struct sb_error *err)
{
	Sockbroker__V1__SetInheritableRequest args = SOCKBROKER__V1__SET_INHERITABLE_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;

	args.has_handle = args.has_inheritable = true;
	args.handle = h;
	args.inheritable = inheritable;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SET_INHERITABLE;
	request.set_inheritable = &args;
	return sb__call(c, &request, h, SOCKBROKER__V1__REPLY__RESULT_DONE, NULL, err);
}

/* A BoolReply (get_inheritable, has_ipv6) into *value. */
static int
flag_call(struct sb_client *c, Sockbroker__V1__Request *request, sb_handle h, bool *value,
	  struct sb_error *err)
{
	Sockbroker__V1__Reply *reply;
	int r;

	r = sb__call(c, request, h, SOCKBROKER__V1__REPLY__RESULT_FLAG, &reply, err);
	if (r < 0)
		return r;
	*value = reply->flag->has_value && reply->flag->value;
	sb__reply_free(reply);
	return 0;
}

int
sb_get_inheritable(struct sb_client *c, sb_handle h, bool *inheritable, struct sb_error *err)
{
	Sockbroker__V1__HandleRequest args = SOCKBROKER__V1__HANDLE_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;

	if (inheritable == NULL)
		return sb__missing_argument(err, "inheritable");
	args.has_handle = true;
	args.handle = h;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_GET_INHERITABLE;
	request.get_inheritable = &args;
	return flag_call(c, &request, h, inheritable, err);
}

int
sb_has_ipv6(struct sb_client *c, bool *result, struct sb_error *err)
{
	Sockbroker__V1__Empty args = SOCKBROKER__V1__EMPTY__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;

	if (result == NULL)
		return sb__missing_argument(err, "result");
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HAS_IPV6;
	request.has_ipv6 = &args;
	return flag_call(c, &request, 0, result, err);
}

/* CMSG_LEN and CMSG_SPACE come back together; each function keeps one. */
static int
cmsg_size_call(struct sb_client *c, size_t length, bool space, size_t *out, struct sb_error *err)
{
	Sockbroker__V1__CmsgSizeRequest args = SOCKBROKER__V1__CMSG_SIZE_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__Reply *reply;
	uint64_t value;
	int r;

	if (out == NULL)
		return sb__missing_argument(err, "out");
	/* Out-of-range lengths go to the daemon, which says what is allowed. */
	args.has_length = true;
	args.length = length > INT64_MAX ? INT64_MAX : (int64_t)length;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_CMSG_SIZE;
	request.cmsg_size = &args;
	r = sb__call(c, &request, 0, SOCKBROKER__V1__REPLY__RESULT_CMSG_SIZE, &reply, err);
	if (r < 0)
		return r;
	value = space ? reply->cmsg_size->cmsg_space : reply->cmsg_size->cmsg_len;
	sb__reply_free(reply);
	if (value > SIZE_MAX)
		return sb__error_set(err, SB_ERR_BAD_REQUEST, EOVERFLOW,
				     "the daemon's CMSG size %llu does not fit a size_t here",
				     (unsigned long long)value);
	*out = (size_t)value;
	return 0;
}

int
sb_cmsg_len(struct sb_client *c, size_t length, size_t *out, struct sb_error *err)
{
	return cmsg_size_call(c, length, false, out, err);
}

int
sb_cmsg_space(struct sb_client *c, size_t length, size_t *out, struct sb_error *err)
{
	return cmsg_size_call(c, length, true, out, err);
}
