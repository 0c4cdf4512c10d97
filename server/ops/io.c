/* The send and recv families. Every call is non-blocking in the kernel;
 * waiting is the dispatcher's job (OP_WAIT_*). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../budget.h"
#include "../handle.h"
#include "../session.h"
#include "ops.h"

/* Never let a peer's reset kill the daemon with SIGPIPE. */
#define SEND_FLAGS MSG_NOSIGNAL

void
op_release_progress(struct op *op)
{
	free(op->buffer);
	op->buffer = NULL;
	budget_share_release(&op->session->budget, op->held_buffer);
	op->held_buffer = 0;
}

static int
would_block(int flags, int wait)
{
	/* MSG_DONTWAIT asks for an answer now, in every mode. */
	return (flags & MSG_DONTWAIT) ? -EAGAIN : wait;
}

int
op_refuse_fastopen(int flags, struct reply *reply)
{
	if (!(flags & MSG_FASTOPEN))
		return 0;
	/* On a TCP socket not yet connected it would connect it, judged as a
	 * send and not as the connect it is. */
	return op_fail(reply, ERROR_OS, EOPNOTSUPP,
		       "MSG_FASTOPEN is not supported by the broker (it would connect the "
		       "socket without the policy's connect decision); connect() first, "
		       "then send");
}

int
op_send(struct op *op, struct reply *reply)
{
	const struct request *req = op->req;
	struct handle *handle = op->handle;
	ssize_t n;
	int r;

	if ((r = op_refuse_fastopen(req->send.flags, reply)))
		return r;

	if (req->send.has_address)
		n = sendto(handle->fd, req->send.data, req->send.len, req->send.flags | SEND_FLAGS,
			   (struct sockaddr *)&op->target.ss, op->target.len);
	else
		n = send(handle->fd, req->send.data, req->send.len, req->send.flags | SEND_FLAGS);
	if (n < 0)
		return errno == EAGAIN ? would_block(req->send.flags, OP_WAIT_WRITE) : -errno;
	handle->bytes_out += (uint64_t)n;
	reply->shape = REPLY_SEND;
	reply->count = (uint64_t)n;
	return OP_DONE;
}

int
op_sendall(struct op *op, struct reply *reply)
{
	const struct request *req = op->req;
	struct handle *handle = op->handle;
	int r;

	if ((r = op_refuse_fastopen(req->send.flags, reply)))
		return r;

	while (op->progress < req->send.len) {
		ssize_t n = send(handle->fd, req->send.data + op->progress,
				 req->send.len - op->progress, req->send.flags | SEND_FLAGS);
		if (n < 0)
			return errno == EAGAIN ? would_block(req->send.flags, OP_WAIT_WRITE)
					       : -errno;
		op->progress += (size_t)n;
		handle->bytes_out += (uint64_t)n;
	}
	reply->shape = REPLY_SEND;
	reply->count = req->send.len;
	return OP_DONE;
}

/* recv(MSG_WAITALL) in blocking mode: the kernel would wait for the whole
 * buffer, so gather it here across wake-ups. */
static int
recv_waitall(struct op *op, struct reply *reply)
{
	const struct request *req = op->req;
	struct handle *handle = op->handle;
	size_t want = req->recv.bufsize;

	if (!op->buffer) {
		const char *limit = budget_share_try(&op->session->budget, want);
		if (limit)
			return op_fail(reply, ERROR_QUOTA, ENOBUFS,
				       "recv(%zu, MSG_WAITALL) would hold more memory than %s (%llu "
				       "bytes) allows this client; ask for less at a time, or let "
				       "earlier operations complete first",
				       want, limit,
				       (unsigned long long)budget_share_limit(&op->session->budget,
									      limit));
		op->held_buffer = want;
		if (!(op->buffer = malloc(want ? want : 1)))
			return -ENOMEM;
	}
	while (op->progress < want) {
		ssize_t n = recv(handle->fd, op->buffer + op->progress, want - op->progress,
				 req->recv.flags);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EAGAIN)
				return OP_WAIT_READ;
			/* Data already taken from the kernel is not lost: the
			 * error shows on the next call, as with a kernel
			 * MSG_WAITALL. */
			if (op->progress == 0)
				return -errno;
			break;
		}
		op->progress += (size_t)n;
		handle->bytes_in += (uint64_t)n;
	}
	reply->shape = REPLY_RECV;
	reply->recv.data = op->buffer;
	reply->recv.len = op->progress;
	reply->recv.count = op->progress;
	return OP_DONE;
}

int
op_recv(struct op *op, struct reply *reply)
{
	const struct request *req = op->req;
	struct handle *handle = op->handle;
	struct op_context *ctx = op->ctx;
	int flags = req->recv.flags;

	if ((flags & MSG_WAITALL) && !(flags & (MSG_PEEK | MSG_DONTWAIT)) &&
	    handle->timeout_ns == TIMEOUT_NONE && req->op == OP_RECV)
		return recv_waitall(op, reply);

	reply->recv.address.len = sizeof(reply->recv.address.ss);
	ssize_t n = recvfrom(handle->fd, ctx->scratch, req->recv.bufsize, flags,
			     (struct sockaddr *)&reply->recv.address.ss, &reply->recv.address.len);
	if (n < 0)
		return errno == EAGAIN ? would_block(flags, OP_WAIT_READ) : -errno;
	handle->bytes_in += (uint64_t)n;
	reply->shape = REPLY_RECV;
	reply->recv.data = ctx->scratch;
	/* With MSG_TRUNC the kernel reports the datagram's real length, which
	 * may exceed what was read. */
	reply->recv.len = (size_t)n < req->recv.bufsize ? (size_t)n : req->recv.bufsize;
	reply->recv.count = (uint64_t)n;
	reply->recv.has_address = req->op == OP_RECVFROM && reply->recv.address.len > 0;
	return OP_DONE;
}
