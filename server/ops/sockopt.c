/* Socket options and the per-handle state the reference keeps (timeout
 * mode, inheritable flag). */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>

#include "../handle.h"
#include "../monitor.h"
#include "ops.h"

int
op_getsockopt(struct op *op, struct reply *reply)
{
	const struct request *req = op->req;
	int fd = op->handle->fd;

	if (req->getsockopt.has_buflen) {
		socklen_t len = (socklen_t)req->getsockopt.buflen;
		if (getsockopt(fd, req->getsockopt.level, req->getsockopt.optname,
			       reply->getsockopt.bytes, &len) < 0)
			return -errno;
		reply->getsockopt.is_int = false;
		reply->getsockopt.len = len;
	} else {
		int value = 0;
		socklen_t len = sizeof(value);
		if (getsockopt(fd, req->getsockopt.level, req->getsockopt.optname, &value, &len) <
		    0)
			return -errno;
		reply->getsockopt.is_int = true;
		reply->getsockopt.int_value = value;
	}
	reply->shape = REPLY_GETSOCKOPT;
	return OP_DONE;
}

int
op_setsockopt(struct op *op, struct reply *reply)
{
	const struct request *req = op->req;
	int fd = op->handle->fd, r;

	switch (req->setsockopt.kind) {
	case SOCKOPT_INT:
		r = monitor_setsockopt(fd, req->setsockopt.level, req->setsockopt.optname,
				       &req->setsockopt.int_value,
				       sizeof(req->setsockopt.int_value));
		break;
	case SOCKOPT_BYTES:
		r = monitor_setsockopt(fd, req->setsockopt.level, req->setsockopt.optname,
				       req->setsockopt.bytes, (socklen_t)req->setsockopt.len);
		break;
	case SOCKOPT_NULL:
	default:
		r = setsockopt(fd, req->setsockopt.level, req->setsockopt.optname, NULL,
			       (socklen_t)req->setsockopt.len) < 0
			    ? -errno
			    : 0;
		break;
	}
	if (r < 0)
		return r;
	reply->shape = REPLY_DONE;
	return OP_DONE;
}

int
op_settimeout(struct op *op, struct reply *reply)
{
	/* Operations already waiting keep the deadline they started with. */
	op->handle->timeout_ns = op->req->settimeout.timeout_ns;
	reply->shape = REPLY_DONE;
	return OP_DONE;
}

int
op_gettimeout(struct op *op, struct reply *reply)
{
	reply->shape = REPLY_TIMEOUT;
	reply->timeout_ns = op->handle->timeout_ns;
	return OP_DONE;
}

int
op_set_inheritable(struct op *op, struct reply *reply)
{
	int fd = op->handle->fd;
	int flags = fcntl(fd, F_GETFD);
	if (flags < 0)
		return -errno;
	flags = op->req->inheritable.inheritable ? flags & ~FD_CLOEXEC : flags | FD_CLOEXEC;
	if (fcntl(fd, F_SETFD, flags) < 0)
		return -errno;
	op->handle->inheritable = op->req->inheritable.inheritable;
	reply->shape = REPLY_DONE;
	return OP_DONE;
}

int
op_get_inheritable(struct op *op, struct reply *reply)
{
	int flags = fcntl(op->handle->fd, F_GETFD);
	if (flags < 0)
		return -errno;
	reply->shape = REPLY_FLAG;
	reply->flag = !(flags & FD_CLOEXEC);
	return OP_DONE;
}
