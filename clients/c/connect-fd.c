/*
 * sb_connect_fd(): connect_ex with handoff in one round trip, the form a
 * supervisor that gives programs real sockets needs (sbrun): the daemon judges
 * the destination, starts the connect and hands the socket over, even while
 * its handshake is still in progress.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "sockbroker.pb-c.h"

int
sb_connect_fd(struct sb_client *c, sb_handle h, const struct sb_addr *addr, int *result, int *fd,
	      struct sb_error *err)
{
	Sockbroker__V1__ConnectRequest args = SOCKBROKER__V1__CONNECT_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__Reply *reply;
	int r;

	if (addr == NULL || result == NULL || fd == NULL)
		return sb__missing_argument(err, addr == NULL     ? "addr"
						 : result == NULL ? "result"
								  : "fd");
	*fd = -1;
	*result = 0;
	r = sb__addr_to_wire(addr, &args.address);
	if (r == -ENOMEM)
		return sb__out_of_memory(err);
	if (r < 0)
		return sb__error_set(err, SB_ERR_BAD_REQUEST, -r,
				     "the address to connect to is malformed (a host without its "
				     "NUL, or a length beyond its array)");
	args.has_handle = args.has_ex = args.has_handoff = true;
	args.handle = h;
	args.ex = args.handoff = true;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_CONNECT;
	request.connect = &args;
	r = sb__call_fd(c, &request, h, SOCKBROKER__V1__REPLY__RESULT_CONNECT, &reply, fd, err);
	sb__addr_wire_free(args.address);
	if (r < 0)
		return r;
	*result = sb__errno_from_name(reply->connect->errno_name);
	if (*result == 0 && reply->connect->has_errno_number)
		*result = reply->connect->errno_number;
	sb__reply_free(reply);
	return 0;
}
