/* sendmsg and recvmsg: scatter/gather data with ancillary data, and
 * SCM_RIGHTS between the session's handles and the daemon's fds. Every
 * call is non-blocking in the kernel; waiting is the dispatcher's job. */
#include <errno.h>
#include <fcntl.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../cmsg.h"
#include "../handle.h"
#include "../log.h"
#include "ops.h"

/* Never let a peer's reset kill the daemon with SIGPIPE. */
#define SEND_FLAGS MSG_NOSIGNAL

static int
would_block(int flags, int wait)
{
	/* MSG_DONTWAIT asks for an answer now, in every mode. */
	return (flags & MSG_DONTWAIT) ? -EAGAIN : wait;
}

/* SCM_RIGHTS in a request: a handle of this session gives its fd. */
static int
fd_of_handle(void *userdata, uint64_t id)
{
	struct op *op = userdata;
	struct handle *handle = handle_find(op->ctx->handles, op->session, id);
	return handle ? handle->fd : -EBADF;
}

int
op_sendmsg(struct op *op, struct reply *reply)
{
	const struct request *req = op->req;
	struct handle *handle = op->handle;
	struct msghdr msg;
	char message[256];
	int flags = req->sendmsg.flags;
	int r;

	if ((r = op_refuse_fastopen(flags, reply)))
		return r;
	memset(&msg, 0, sizeof(msg));
	if (req->sendmsg.n_buffers > 0 && !req->sendmsg.buffers)
		return -EMSGSIZE; /* more buffers than IOV_MAX: the kernel's answer */
	msg.msg_iov = req->sendmsg.buffers;
	msg.msg_iovlen = req->sendmsg.n_buffers;
	if (req->sendmsg.has_address) {
		msg.msg_name = &op->target.ss;
		msg.msg_namelen = op->target.len;
	}

	if (req->sendmsg.n_ancillary > 0) {
		size_t size = cmsg_build_size(req->sendmsg.ancillary, req->sendmsg.n_ancillary);
		size_t used = 0;
		if (size == SIZE_MAX)
			return -ENOBUFS; /* beyond any kernel's optmem limit */
		if (!op->buffer && !(op->buffer = malloc(size)))
			return -ENOMEM;
		/* Built again on every attempt: a handle named in SCM_RIGHTS may
		 * have been closed while this waited, and its fd number reused. */
		r = cmsg_build(req->sendmsg.ancillary, req->sendmsg.n_ancillary, fd_of_handle, op,
			       op->buffer, size, &used, message, sizeof(message));
		switch (r) {
		case 0:
			break;
		case -EBADF:
			return op_fail(reply, ERROR_BAD_HANDLE, EBADF, "sendmsg.%s", message);
		case -EPERM:
			return op_fail(reply, ERROR_DENIED, EPERM, "sendmsg.%s", message);
		case -EINVAL:
			return op_fail(reply, ERROR_BAD_REQUEST, EINVAL, "sendmsg.%s", message);
		default:
			return r;
		}
		msg.msg_control = op->buffer;
		msg.msg_controllen = used;
	}

	ssize_t n = sendmsg(handle->fd, &msg, flags | SEND_FLAGS);
	if (n < 0)
		return errno == EAGAIN ? would_block(flags, OP_WAIT_WRITE) : -errno;
	handle->bytes_out += (uint64_t)n;
	reply->shape = REPLY_SEND;
	reply->count = (uint64_t)n;
	return OP_DONE;
}

/* The received fds that became handles, to undo if a later one fails. */
struct adoption {
	struct op *op;
	struct handle **created;
	size_t n_created;
};

static int
adopt_fd(void *userdata, int fd, uint64_t *id)
{
	struct adoption *adoption = userdata;
	struct op *op = adoption->op;
	int family, type, proto, r;
	socklen_t len = sizeof(type);
	struct handle *handle;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
		/* A file, a pipe, an epoll fd from a peer outside the broker: the
		 * daemon hands out sockets only. Its place holds id 0. */
		log_info("recvmsg on handle %llu: a received descriptor is not a socket; "
			 "closed it",
			 (unsigned long long)op->handle->id);
		close(fd);
		*id = 0;
		return 0;
	}
	len = sizeof(family);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) < 0)
		goto err_errno;
	len = sizeof(proto);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) < 0)
		goto err_errno;
	/* The reactor thread never blocks. A socket from outside may be in
	 * blocking mode, and O_NONBLOCK is shared with its sender: that is the
	 * price of owning it here. */
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		goto err_errno;
	/* Like an accepted socket without a default timeout: blocking mode. */
	if ((r = handle_new(op->ctx->handles, op->session, fd, family, type, proto,
			    TIMEOUT_NONE, &handle)) < 0)
		return r;
	adoption->created[adoption->n_created++] = handle;
	*id = handle->id;
	return 0;

err_errno:
	r = -errno;
	close(fd);
	return r;
}

static size_t
align_up(size_t n, size_t alignment)
{
	return (n + alignment - 1) / alignment * alignment;
}

int
op_recvmsg(struct op *op, struct reply *reply)
{
	const struct request *req = op->req;
	struct handle *handle = op->handle;
	struct op_context *ctx = op->ctx;
	size_t ancbufsize = req->recvmsg.ancbufsize;
	int flags = req->recvmsg.flags;
	int r;

	/* One block, kept in op->buffer until the reply is out: the control
	 * buffer, then the items that point into it, the new handles' ids and
	 * the handles themselves. */
	size_t max_items = cmsg_max_items(ancbufsize), max_fds = ancbufsize / sizeof(int);
	size_t items_at = align_up(ancbufsize, alignof(struct cmsg_item));
	size_t ids_at =
		align_up(items_at + max_items * sizeof(struct cmsg_item), alignof(uint64_t));
	size_t created_at = align_up(ids_at + max_fds * sizeof(uint64_t), alignof(struct handle *));
	size_t block_size = created_at + max_fds * sizeof(struct handle *);
	if (ancbufsize > 0 && !op->buffer && !(op->buffer = malloc(block_size)))
		return -ENOMEM;

	struct iovec iov = { .iov_base = ctx->scratch, .iov_len = req->recvmsg.bufsize };
	struct msghdr msg;
	memset(&msg, 0, sizeof(msg));
	msg.msg_name = &reply->recvmsg.address.ss;
	msg.msg_namelen = sizeof(reply->recvmsg.address.ss);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ancbufsize > 0 ? op->buffer : NULL;
	msg.msg_controllen = ancbufsize;

	/* MSG_CMSG_CLOEXEC: received fds must never reach a child the daemon
	 * might start. */
	ssize_t n = recvmsg(handle->fd, &msg, flags | MSG_CMSG_CLOEXEC);
	if (n < 0) {
		if (errno != EAGAIN)
			return -errno;
		/* The error queue never blocks in the kernel: nor here. */
		return (flags & MSG_ERRQUEUE) ? -EAGAIN : would_block(flags, OP_WAIT_READ);
	}
	handle->bytes_in += (uint64_t)n;

	uint8_t *control = op->buffer;
	size_t control_len = ancbufsize > 0 ? msg.msg_controllen : 0;
	struct cmsg_item *items = (struct cmsg_item *)(void *)(control + items_at);
	size_t n_items = 0;
	size_t n_fds = control_len > 0 ? cmsg_count_fds(control, control_len) : 0;
	if (n_fds > 0 && (r = op_over_handle_quota(op, reply, n_fds)) != 0) {
		cmsg_close_fds(control, control_len);
		return r;
	}
	struct adoption adoption = {
		.op = op,
		.created = (struct handle **)(void *)(control + created_at),
	};
	if (control_len > 0 &&
	    (r = cmsg_parse(control, control_len, items, &n_items,
			    (uint64_t *)(void *)(control + ids_at), adopt_fd, &adoption)) < 0) {
		/* The reference's rule: a recvmsg that fails after the kernel
		 * delivered fds closes them. */
		for (size_t i = 0; i < adoption.n_created; i++)
			dispatch_close_handle(adoption.created[i]);
		return r;
	}

	reply->shape = REPLY_RECVMSG;
	reply->recvmsg.data = ctx->scratch;
	/* With MSG_TRUNC in flags the kernel reports a datagram's real
	 * length, which may exceed what was read. */
	reply->recvmsg.len = (size_t)n < iov.iov_len ? (size_t)n : iov.iov_len;
	reply->recvmsg.ancillary = items;
	reply->recvmsg.n_ancillary = n_items;
	/* The kernel echoes MSG_CMSG_CLOEXEC; the client sees it only if it
	 * asked for it. */
	reply->recvmsg.msg_flags = msg.msg_flags & ~(MSG_CMSG_CLOEXEC & ~flags);
	reply->recvmsg.has_address = msg.msg_namelen > 0;
	reply->recvmsg.address.len = msg.msg_namelen;
	return OP_DONE;
}
