/* The socket lifecycle: creating, naming, connecting and closing handles. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../config.h"
#include "../audit.h"
#include "../handle.h"
#include "../monitor.h"
#include "../quota.h"
#include "../session.h"
#include "ops.h"

/* The reference's default listen() backlog. */
#define DEFAULT_BACKLOG (SOMAXCONN < 128 ? SOMAXCONN : 128)

static int
over_handle_quota(struct op *op, struct reply *reply, size_t wanted)
{
	struct op_context *ctx = op->ctx;
	const struct quota_account *account = op->session->quota;
	if (!quota_handles_fit(account, wanted)) {
		op_fail(reply, ERROR_QUOTA, EMFILE,
			"quota \"%s\" allows %u open sockets and %s already holds %u; close "
			"some first", account->limits->name, account->limits->max_handles,
			account->sessions > 1 ? "this identity's sessions" : "this session",
			account->handles);
		return op_refused(op, reply, AUDIT_QUOTA, account->limits->name);
	}
	/* The identity's part of the process's descriptors (budget.h). */
	struct budget_share *budget = &op->session->budget;
	if (budget_share_take_descriptors(budget, (uint32_t)wanted, false))
		return op_fail(reply, ERROR_QUOTA, EMFILE,
			       "this client (%s) already holds %u descriptors, its share of the "
			       "daemon's %u; close some sockets or connections first",
			       budget->account->key, budget->account->descriptors,
			       budget->account->budget->descriptor_share);
	budget_share_put_descriptors(budget, (uint32_t)wanted);
	if (op->session->n_handles + wanted <= ctx->config->max_handles)
		return 0;
	return op_fail(reply, ERROR_QUOTA, EMFILE,
		       "this session already has %zu open sockets (the daemon's "
		       "limits.max_handles_per_session is %u); close some first",
		       op->session->n_handles, ctx->config->max_handles);
}

int
op_over_handle_quota(struct op *op, struct reply *reply, size_t wanted)
{
	return over_handle_quota(op, reply, wanted);
}

static void
describe(const struct handle *handle, struct socket_info *info)
{
	info->handle = handle->id;
	info->family = handle->family;
	info->type = handle->type;
	info->proto = handle->proto;
	info->timeout_ns = handle->timeout_ns;
}

int
op_socket(struct op *op, struct reply *reply)
{
	const struct request *req = op->req;
	struct handle *handle;
	int r;

	if ((r = over_handle_quota(op, reply, 1)))
		return r;
	/* SOCK_NONBLOCK and SOCK_CLOEXEC are the client's way of asking for a
	 * mode; the daemon's own fds are always both. */
	int type = req->socket.type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	int64_t timeout_ns = (req->socket.type & SOCK_NONBLOCK) ? 0 : req->socket.timeout_ns;
	int fd = monitor_socket(req->socket.family, type | SOCK_NONBLOCK | SOCK_CLOEXEC,
				req->socket.proto);
	if (fd < 0)
		return fd;
	if ((r = handle_new(op->ctx->handles, op->session, fd, req->socket.family, type,
			    req->socket.proto, timeout_ns, &handle)) < 0)
		return r;
	reply->shape = REPLY_SOCKET;
	describe(handle, &reply->socket);
	return OP_DONE;
}

int
op_socketpair(struct op *op, struct reply *reply)
{
	const struct request *req = op->req;
	struct handle *first, *second;
	int fds[2], r;

	if ((r = over_handle_quota(op, reply, 2)))
		return r;
	int type = req->socket.type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	int64_t timeout_ns = (req->socket.type & SOCK_NONBLOCK) ? 0 : req->socket.timeout_ns;
	if (socketpair(req->socket.family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, req->socket.proto,
		       fds) < 0)
		return -errno;
	if ((r = handle_new(op->ctx->handles, op->session, fds[0], req->socket.family, type,
			    req->socket.proto, timeout_ns, &first)) < 0) {
		close(fds[1]);
		return r;
	}
	if ((r = handle_new(op->ctx->handles, op->session, fds[1], req->socket.family, type,
			    req->socket.proto, timeout_ns, &second)) < 0) {
		dispatch_close_handle(first);
		return r;
	}
	reply->shape = REPLY_SOCKETPAIR;
	describe(first, &reply->pair.first);
	describe(second, &reply->pair.second);
	return OP_DONE;
}

int
op_dup(struct op *op, struct reply *reply)
{
	struct handle *handle = op->handle, *copy;
	int r;

	if ((r = over_handle_quota(op, reply, 1)))
		return r;
	int fd = fcntl(handle->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if ((r = handle_new(op->ctx->handles, op->session, fd, handle->family, handle->type,
			    handle->proto, handle->timeout_ns, &copy)) < 0)
		return r;
	reply->shape = REPLY_SOCKET;
	describe(copy, &reply->socket);
	return OP_DONE;
}

int
op_close(struct op *op, struct reply *reply)
{
	int r = dispatch_close_handle(op->handle);
	/* As the reference: ECONNRESET from close() is not an error worth
	 * raising, the socket is closed either way. */
	if (r < 0 && r != -ECONNRESET)
		return r;
	reply->shape = REPLY_DONE;
	return OP_DONE;
}

int
op_bind(struct op *op, struct reply *reply)
{
	int r = op_permit_port_group(op, op->handle->fd, (struct sockaddr *)&op->target.ss,
				     op->target.len, reply);
	if (r)
		return r;
	if ((r = monitor_bind(op->handle->fd, (struct sockaddr *)&op->target.ss,
			      op->target.len)) < 0)
		return r;
	if (op->path_fd >= 0 && op->unix_path) {
		/* The kernel keeps the /proc/self/fd name the bind went through;
		 * the client named the path. */
		free(op->handle->bound_path);
		op->handle->bound_path = strdup(op->unix_path);
	}
	reply->shape = REPLY_DONE;
	return OP_DONE;
}

int
op_listen(struct op *op, struct reply *reply)
{
	int backlog = op->req->listen.has_backlog ? op->req->listen.backlog : DEFAULT_BACKLOG;
	if (listen(op->handle->fd, backlog) < 0)
		return -errno;
	reply->shape = REPLY_DONE;
	return OP_DONE;
}

int
op_accept(struct op *op, struct reply *reply)
{
	struct handle *conn;
	int r;

	if ((r = over_handle_quota(op, reply, 1)))
		return r;
	/* An AF_ALG operation socket has no address: asked for one, the kernel
	 * fails the accept with ECONNABORTED. Its peer is none (len 0), as the
	 * reference's. */
	bool alg = op->handle->family == AF_ALG;
	reply->accept.peer.len = alg ? 0 : sizeof(reply->accept.peer.ss);
	int fd = accept4(op->handle->fd, alg ? NULL : (struct sockaddr *)&reply->accept.peer.ss,
			 alg ? NULL : &reply->accept.peer.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EAGAIN ? OP_WAIT_READ : -errno;
	/* The reference's rule: the new socket takes the default timeout, and
	 * is blocking when there is none. */
	if ((r = handle_new(op->ctx->handles, op->session, fd, op->handle->family,
			    op->handle->type, op->handle->proto, op->req->accept.default_timeout_ns,
			    &conn)) < 0)
		return r;
	reply->shape = REPLY_ACCEPT;
	describe(conn, &reply->accept.socket);
	return OP_DONE;
}

/* connect_ex() answers the connect's own errno as a value. */
static int
connect_result(struct op *op, struct reply *reply, int errnum)
{
	if (op->req->addr.ex) {
		reply->shape = REPLY_CONNECT;
		reply->connect.errnum = errnum;
		return OP_DONE;
	}
	if (errnum)
		return -errnum;
	reply->shape = REPLY_DONE;
	return OP_DONE;
}

int
op_connect(struct op *op, struct reply *reply)
{
	struct handle *handle = op->handle;

	if (!op->started) {
		if (connect(handle->fd, (struct sockaddr *)&op->target.ss, op->target.len) == 0)
			return connect_result(op, reply, 0);
		if (errno != EINPROGRESS)
			return connect_result(op, reply, errno);
		op->started = true;
		if (handle->timeout_ns == 0)
			return connect_result(op, reply, EINPROGRESS);
		return OP_WAIT_WRITE;
	}

	/* Woken: SO_ERROR is only meaningful once the connect has finished,
	 * which is when the socket turns writable. */
	struct pollfd pfd = { .fd = handle->fd, .events = POLLOUT };
	if (poll(&pfd, 1, 0) == 0)
		return OP_WAIT_WRITE;
	int error = 0;
	socklen_t len = sizeof(error);
	if (getsockopt(handle->fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
		error = errno;
	return connect_result(op, reply, error);
}

int
op_connect_expired(struct op *op, struct reply *reply)
{
	if (!op->req->addr.ex)
		return op_fail(reply, ERROR_TIMEOUT, ETIMEDOUT, "timed out");
	/* connect_ex() reports its timeout as EAGAIN, like the reference. */
	reply->shape = REPLY_CONNECT;
	reply->connect.errnum = EAGAIN;
	return OP_DONE;
}

int
op_shutdown(struct op *op, struct reply *reply)
{
	if (shutdown(op->handle->fd, op->req->shutdown.how) < 0)
		return -errno;
	reply->shape = REPLY_DONE;
	return OP_DONE;
}

static int
name_of(struct op *op, struct reply *reply,
	int (*getname)(int, struct sockaddr *__restrict, socklen_t *__restrict))
{
	reply->address.len = sizeof(reply->address.ss);
	if (getname(op->handle->fd, (struct sockaddr *)&reply->address.ss, &reply->address.len) < 0)
		return -errno;
	reply->shape = REPLY_ADDRESS;
	return OP_DONE;
}

int
op_getsockname(struct op *op, struct reply *reply)
{
	int r = name_of(op, reply, getsockname);
	const char *path = op->handle->bound_path;
	if (r == OP_DONE && path) {
		struct sockaddr_un *un = (struct sockaddr_un *)(void *)&reply->address.ss;
		size_t n = strlen(path);
		if (n < sizeof(un->sun_path)) {
			memcpy(un->sun_path, path, n + 1);
			reply->address.len =
				(socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
		}
	}
	return r;
}

int
op_getpeername(struct op *op, struct reply *reply)
{
	return name_of(op, reply, getpeername);
}

int
op_has_ipv6(struct op *op, struct reply *reply)
{
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	reply->shape = REPLY_FLAG;
	reply->flag = fd >= 0;
	if (fd >= 0)
		close(fd);
	return OP_DONE;
}

int
op_has_dualstack_ipv6(struct op *op, struct reply *reply)
{
	int off = 0;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	reply->shape = REPLY_FLAG;
	reply->flag = fd >= 0 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) == 0;
	if (fd >= 0)
		close(fd);
	return OP_DONE;
}

int
op_cmsg_size(struct op *op, struct reply *reply)
{
	size_t length = op->req->cmsg_size.length;
	reply->shape = REPLY_CMSG_SIZE;
	reply->cmsg_size.len = CMSG_LEN(length);
	reply->cmsg_size.space = CMSG_SPACE(length);
	return OP_DONE;
}
