/*
 * create_connection and create_server: the reference's convenience
 * functions, each answered in one round trip.
 *
 * create_connection runs the reference's loop in the daemon without ever
 * blocking the reactor: the host is looked up on the resolver pool (every
 * address getaddrinfo(host, port, 0, SOCK_STREAM) gives, in its order), then
 * the addresses are tried one at a time: a non-blocking socket, bound to
 * source_address when one is given, and a non-blocking connect whose fd the
 * reactor watches, with the per-attempt timeout on a timer of its own. The
 * first connected socket becomes a handle; a failed attempt's socket is
 * closed before the next one starts. Cancel or the end of the session in the
 * middle closes the attempt's socket, disarms its timer and drops the
 * lookup's result when it comes back: nothing is left behind.
 *
 * The attempt's epoll registration is its own, not a handle's, so its
 * memory is freed at the end of the reactor turn (an event for it may have
 * been fetched already in that turn) and such a late event finds the state
 * detached from its op and does nothing.
 *
 * create_server is synchronous: socket, the reference's options, bind,
 * listen, and a handle; every error closes the socket it made.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../error.h"
#include "../handle.h"
#include "../log.h"
#include "../monitor.h"
#include "../policy.h"
#include "../resolve.h"
#include "../session.h"
#include "container.h"
#include "ops.h"

/* The reference's default listen() backlog. */
#define DEFAULT_BACKLOG (SOMAXCONN < 128 ? SOMAXCONN : 128)

/* The lookup behind create_connection, on the resolver pool: the host's
 * every stream address, and the source_address's host when that is a name. */
struct lookup_job {
	struct resolve_job job; /* job.userdata: the struct connect_state, or NULL */
	char host[ADDRESS_HOST_MAX];
	char port[8];
	int gai_error;
	struct addrinfo *result;
	char source_host[ADDRESS_HOST_MAX]; /* "" when the source needs no lookup */
	int source_gai_error;
	struct addrinfo *source_result;
};

struct connect_state {
	struct op *op; /* NULL once the op ended: late events do nothing */
	struct reactor *reactor;
	struct lookup_job *job; /* on the pool, or NULL */
	bool resolved;
	int gai_error; /* of the host's lookup; EAI_CANCELED: the pool stopped */

	struct addrinfo *candidates; /* owned (freeaddrinfo) */
	struct addrinfo *next;       /* the next one to try */
	struct addrinfo *sources;    /* the source name's addresses, owned */
	int source_gai_error;

	/* The attempt in progress. */
	int fd; /* -1 between attempts */
	const struct addrinfo *current;
	bool watching; /* fd is in epoll through `source` */
	bool timed_out;
	struct reactor_source source;
	struct reactor_timer timer;

	struct reply_error *errors; /* one per failed attempt */
	size_t n_errors;

	struct reactor_task free_task;
};

enum attempt_result {
	ATTEMPT_CONNECTED,
	ATTEMPT_WAITING,
	ATTEMPT_FAILED, /* recorded in state->errors; the socket is closed */
};

static void
lookup_work(struct resolve_job *base)
{
	struct lookup_job *job = (struct lookup_job *)(void *)base;
	/* No AI_ADDRCONFIG: the reference's create_connection passes no flags,
	 * and a loopback-only namespace would lose "localhost" with it. */
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};

	job->gai_error = getaddrinfo(job->host, job->port, &hints, &job->result);
	if (job->gai_error == 0 && job->source_host[0]) {
		hints.ai_flags = 0;
		job->source_gai_error =
			getaddrinfo(job->source_host, NULL, &hints, &job->source_result);
	}
}

static void
lookup_free(struct lookup_job *job)
{
	if (job->result)
		freeaddrinfo(job->result);
	if (job->source_result)
		freeaddrinfo(job->source_result);
	free(job);
}

static void
lookup_complete(struct resolve_job *base)
{
	struct lookup_job *job = (struct lookup_job *)(void *)base;
	struct connect_state *state = base->userdata;

	if (!state) {
		lookup_free(job);
		return;
	}
	state->job = NULL;
	state->resolved = true;
	if (base->cancelled) {
		/* The pool stopped before the job ran. */
		state->gai_error = EAI_CANCELED;
	} else {
		state->gai_error = job->gai_error;
		state->source_gai_error = job->source_gai_error;
		state->candidates = job->result;
		state->sources = job->source_result;
		job->result = job->source_result = NULL;
		state->next = state->candidates;
	}
	lookup_free(job);
	dispatch_wake(state->op);
}

static void
state_free_task(struct reactor_task *task)
{
	struct connect_state *state = container_of(task, struct connect_state, free_task);
	free(state);
}

/* End the attempt in progress: stop watching, disarm, and close its socket
 * unless `keep_fd` (it connected and becomes a handle). */
static void
end_attempt(struct connect_state *state, bool keep_fd)
{
	if (state->watching) {
		reactor_del_fd(state->reactor, &state->source);
		state->watching = false;
	}
	reactor_timer_cancel(state->reactor, &state->timer);
	state->timed_out = false;
	if (state->fd >= 0 && !keep_fd)
		close(state->fd);
	state->fd = -1;
	state->source.fd = -1;
}

static void
connect_release(struct op *op)
{
	struct connect_state *state = op->state;

	state->op = NULL;
	if (state->job) {
		/* The lookup runs on; lookup_complete() frees it. */
		state->job->job.userdata = NULL;
		state->job = NULL;
	}
	end_attempt(state, false);
	if (state->candidates)
		freeaddrinfo(state->candidates);
	if (state->sources)
		freeaddrinfo(state->sources);
	free(state->errors);
	op->state = NULL;
	op->release_state = NULL;
	reactor_defer(state->reactor, &state->free_task);
}

static void
attempt_ready(struct reactor_source *source, uint32_t events)
{
	struct connect_state *state = container_of(source, struct connect_state, source);
	if (state->op && state->watching)
		dispatch_wake(state->op);
}

static void
attempt_timer_expired(struct reactor_timer *timer)
{
	struct connect_state *state = container_of(timer, struct connect_state, timer);
	if (!state->op)
		return;
	state->timed_out = true;
	dispatch_wake(state->op);
}

static enum attempt_result
attempt_failed(struct connect_state *state, enum error_kind kind, int errnum, int gai_code)
{
	struct reply_error *error = &state->errors[state->n_errors++];

	memset(error, 0, sizeof(*error));
	error->gai_code = gai_code;
	error_fill(error, kind, errnum, "%s",
		   kind == ERROR_TIMEOUT ? "timed out"
		   : kind == ERROR_GAI	 ? gai_strerror(gai_code)
					 : strerror(errnum));
	end_attempt(state, false);
	return ATTEMPT_FAILED;
}

/* The policy refused the attempt: its error is the attempt's. The refusal
 * wrote its own audit record; the op's final one is still to come, for a
 * later attempt that connects (all_failed() drops it when none does, so that
 * a decision is recorded once). The rule that allowed an earlier step of
 * this attempt decided nothing the op did. */
static enum attempt_result
attempt_denied(struct op *op, struct connect_state *state, const struct reply *denial)
{
	state->errors[state->n_errors++] = denial->error;
	op->audited = false;
	op->rule = NULL;
	end_attempt(state, false);
	return ATTEMPT_FAILED;
}

/*
 * The source address in the candidate's family, as the reference's bind()
 * of a (host, port) tuple reads it in the socket's family: "" is that
 * family's any address, a numeric host must be of that family, a name takes
 * its first address of that family. Returns 0, or an EAI_* code.
 */
static int
source_sockaddr(const struct connect_state *state, int family, struct sockaddr_buf *out)
{
	struct address source = state->op->req->create_connection.source;
	struct sockaddr_buf own;
	bool is_name = addr_to_sockaddr(&source, &own) == ADDR_NEEDS_RESOLVE;

	if (family == AF_INET)
		source.inet.flowinfo = source.inet.scope_id = 0;
	source.family = family;
	int r = addr_to_sockaddr(&source, out);
	if (r == 0)
		return 0;
	if (r < 0 || !is_name)
		return EAI_ADDRFAMILY;
	if (state->source_gai_error)
		return state->source_gai_error;
	for (const struct addrinfo *ai = state->sources; ai; ai = ai->ai_next) {
		if (ai->ai_family == family) {
			addr_apply_resolved(&source, ai->ai_addr, out);
			return 0;
		}
	}
	return EAI_ADDRFAMILY;
}

static enum attempt_result
attempt_start(struct op *op, struct connect_state *state, const struct addrinfo *ai)
{
	const struct request *req = op->req;
	int64_t timeout_ns = req->create_connection.timeout_ns;
	int r;

	state->current = ai;
	struct reply denial = { 0 };
	struct policy_request question = {
		.op = POLICY_OP_CREATE,
		.has_socket = true,
		.family = ai->ai_family,
		.type = SOCK_STREAM,
		.proto = ai->ai_protocol,
	};
	if (op_permit(op, &question, &denial))
		return attempt_denied(op, state, &denial);
	question.op = POLICY_OP_CONNECT;
	question.addr = ai->ai_addr;
	question.addrlen = ai->ai_addrlen;
	if (op_permit(op, &question, &denial))
		return attempt_denied(op, state, &denial);
	state->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			   ai->ai_protocol);
	if (state->fd < 0)
		return attempt_failed(state, ERROR_OS, errno, 0);
	if (req->create_connection.has_source) {
		struct sockaddr_buf source;
		int gai = source_sockaddr(state, ai->ai_family, &source);
		if (gai)
			return attempt_failed(state, ERROR_GAI, 0, gai);
		question.op = POLICY_OP_BIND;
		question.addr = (const struct sockaddr *)&source.ss;
		question.addrlen = source.len;
		if (op_permit(op, &question, &denial))
			return attempt_denied(op, state, &denial);
		if ((r = monitor_bind(state->fd, (struct sockaddr *)&source.ss, source.len)) < 0)
			return attempt_failed(state, ERROR_OS, -r, 0);
	}
	if (connect(state->fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return ATTEMPT_CONNECTED;
	/* In non-blocking mode the reference's connect raises EINPROGRESS, and
	 * its loop takes that as the attempt's error. */
	if (errno != EINPROGRESS || timeout_ns == 0)
		return attempt_failed(state, ERROR_OS, errno, 0);

	state->source.fd = state->fd;
	if ((r = reactor_add_fd(state->reactor, &state->source, EPOLLOUT | EPOLLET)) < 0) {
		log_error("create_connection: cannot watch a connecting socket: %s", strerror(-r));
		return attempt_failed(state, ERROR_OS, -r, 0);
	}
	state->watching = true;
	if (timeout_ns > 0 && reactor_timer_arm(state->reactor, &state->timer,
						reactor_now_ns() + (uint64_t)timeout_ns) < 0)
		return attempt_failed(state, ERROR_OS, ENOMEM, 0);
	return ATTEMPT_WAITING;
}

/* The attempt's socket turned writable, or its timer fired. */
static enum attempt_result
attempt_check(struct connect_state *state)
{
	if (state->timed_out)
		return attempt_failed(state, ERROR_TIMEOUT, ETIMEDOUT, 0);
	/* SO_ERROR means something only once the connect has finished, which
	 * is when the socket turns writable. */
	struct pollfd pfd = {.fd = state->fd, .events = POLLOUT};
	if (poll(&pfd, 1, 0) == 0)
		return ATTEMPT_WAITING;
	int error = 0;
	socklen_t len = sizeof(error);
	if (getsockopt(state->fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
		error = errno;
	if (error)
		return attempt_failed(state, ERROR_OS, error, 0);
	return ATTEMPT_CONNECTED;
}

static int
connected(struct op *op, struct connect_state *state, struct reply *reply)
{
	const struct addrinfo *ai = state->current;
	struct handle *handle;
	int fd = state->fd, r;

	end_attempt(state, true);
	if ((r = op_over_handle_quota(op, reply, 1))) {
		close(fd);
		return r;
	}
	/* handle_new() owns the fd from here, also when it fails. */
	if ((r = handle_new(op->ctx->handles, op->session, fd, ai->ai_family, SOCK_STREAM,
			    ai->ai_protocol, op->req->create_connection.timeout_ns, &handle)) < 0)
		return r;
	reply->shape = REPLY_CREATE_CONNECTION;
	reply->create_connection.connected = true;
	reply->create_connection.socket.handle = handle->id;
	reply->create_connection.socket.family = handle->family;
	reply->create_connection.socket.type = handle->type;
	reply->create_connection.socket.proto = handle->proto;
	reply->create_connection.socket.timeout_ns = handle->timeout_ns;
	memcpy(&reply->create_connection.peer.ss, ai->ai_addr, ai->ai_addrlen);
	reply->create_connection.peer.len = ai->ai_addrlen;
	return OP_DONE;
}

/* Every address failed: the last error, or with all_errors all of them. */
static int
all_failed(struct op *op, struct connect_state *state, struct reply *reply)
{
	if (state->n_errors == 0)
		return op_fail(reply, ERROR_OS, 0, "getaddrinfo returns an empty list");
	/* Every attempt refused by the policy: each refusal has its record, and there is
	 * no other decision to record. */
	bool all_denied = true;
	for (size_t i = 0; i < state->n_errors; i++)
		all_denied = all_denied && state->errors[i].kind == ERROR_DENIED;
	if (all_denied)
		op->audited = true;
	if (op->req->create_connection.all_errors) {
		reply->shape = REPLY_CREATE_CONNECTION;
		reply->create_connection.attempt_errors = state->errors;
		reply->create_connection.n_attempt_errors = state->n_errors;
		return OP_DONE;
	}
	reply->error = state->errors[state->n_errors - 1];
	return OP_FAILED;
}

static int
connect_begin(struct op *op, struct reply *reply)
{
	const struct request *req = op->req;
	int r;

	if ((r = op_over_handle_quota(op, reply, 1)))
		return r;
	if (req->create_connection.has_source &&
	    addr_to_sockaddr(&req->create_connection.source, &(struct sockaddr_buf){ 0 }) ==
		    ADDR_NEEDS_RESOLVE &&
	    (r = op_admit_host(op, req->create_connection.source.inet.host, reply)))
		return r;
	if (!op->ctx->resolver)
		return op_fail(reply, ERROR_OS, ECANCELED,
			       "create_connection was cancelled: the daemon is stopping");

	struct connect_state *state = calloc(1, sizeof(*state));
	struct lookup_job *job = calloc(1, sizeof(*job));
	if (!state || !job) {
		free(state);
		free(job);
		return -ENOMEM;
	}
	state->op = op;
	state->reactor = op->ctx->reactor;
	state->fd = -1;
	state->source.fd = -1;
	state->source.ready = attempt_ready;
	reactor_timer_init(&state->timer, attempt_timer_expired);
	state->free_task.run = state_free_task;
	op->state = state;
	op->release_state = connect_release;

	snprintf(job->host, sizeof(job->host), "%s", req->create_connection.host);
	snprintf(job->port, sizeof(job->port), "%u", req->create_connection.port);
	if (req->create_connection.has_source) {
		struct sockaddr_buf own;
		if (addr_to_sockaddr(&req->create_connection.source, &own) == ADDR_NEEDS_RESOLVE)
			snprintf(job->source_host, sizeof(job->source_host), "%s",
				 req->create_connection.source.inet.host);
	}
	job->job.work = lookup_work;
	job->job.complete = lookup_complete;
	job->job.userdata = state;
	job->job.owner = op->session->id;
	state->job = job;
	resolver_submit(op->ctx->resolver, &job->job);
	return OP_WAIT_EVENT;
}

int
op_create_connection(struct op *op, struct reply *reply)
{
	struct connect_state *state = op->state;
	enum attempt_result result;

	if (!state)
		return connect_begin(op, reply);
	if (!state->resolved)
		return OP_WAIT_EVENT;
	if (state->gai_error == EAI_CANCELED)
		return op_fail(reply, ERROR_OS, ECANCELED,
			       "create_connection was cancelled: the daemon is stopping");
	if (state->gai_error) {
		/* The reference raises the lookup's gaierror as it is. */
		reply->error.gai_code = state->gai_error;
		return op_fail(reply, ERROR_GAI, 0, "%s", gai_strerror(state->gai_error));
	}
	if (!state->errors) {
		size_t n = 0;
		for (const struct addrinfo *ai = state->candidates; ai; ai = ai->ai_next)
			n++;
		state->errors = calloc(n ? n : 1, sizeof(*state->errors));
		if (!state->errors)
			return -ENOMEM;
	}

	if (state->fd >= 0) {
		result = attempt_check(state);
		if (result == ATTEMPT_WAITING)
			return OP_WAIT_EVENT;
		if (result == ATTEMPT_CONNECTED)
			return connected(op, state, reply);
	}
	while (state->next) {
		const struct addrinfo *ai = state->next;
		state->next = ai->ai_next;
		result = attempt_start(op, state, ai);
		if (result == ATTEMPT_WAITING)
			return OP_WAIT_EVENT;
		if (result == ATTEMPT_CONNECTED)
			return connected(op, state, reply);
	}
	return all_failed(op, state, reply);
}

/* ---- create_server ------------------------------------------------------ */

/* The address as the reference's message shows it: its repr of the tuple. */
static void
format_bind_address(const struct address *address, char *buf, size_t len)
{
	if (address->family == AF_INET || address->family == AF_INET6)
		snprintf(buf, len, "('%s', %u)", address->inet.host, address->inet.port);
	else
		addr_format(address, buf, len);
}

int
op_create_server(struct op *op, struct reply *reply)
{
	const struct request *req = op->req;
	const struct address *address = &req->create_server.address;
	struct handle *handle;
	int one = 1, r;

	if ((r = op_over_handle_quota(op, reply, 1)))
		return r;
#ifndef SO_REUSEPORT
	if (req->create_server.reuse_port)
		return op_fail(reply, ERROR_BAD_REQUEST, EINVAL,
			       "SO_REUSEPORT not supported on this platform");
#endif
	if (req->create_server.dualstack_ipv6) {
		struct reply probe = {0};
		op_has_dualstack_ipv6(op, &probe);
		if (!probe.flag)
			return op_fail(reply, ERROR_BAD_REQUEST, EINVAL,
				       "dualstack_ipv6 not supported on this platform");
	}

	int fd = socket(address->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* As the reference on POSIX: reuse an address still in TIME_WAIT. Its
	 * failure is ignored there too. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
#ifdef SO_REUSEPORT
	if (req->create_server.reuse_port &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
		r = -errno;
		goto err_fd;
	}
#endif
	if (address->family == AF_INET6) {
		/* Explicitly off without dualstack: Linux may default to both. */
		int v6only = !req->create_server.dualstack_ipv6;
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0) {
			r = -errno;
			goto err_fd;
		}
	}
	if ((r = op_permit_port_group(op, fd, (struct sockaddr *)&op->target.ss, op->target.len,
				      reply)))
		goto err_fd;
	if ((r = monitor_bind(fd, (struct sockaddr *)&op->target.ss, op->target.len)) < 0) {
		int errnum = -r;
		char where[ADDRESS_HOST_MAX + 32];
		format_bind_address(address, where, sizeof(where));
		r = op_fail(reply, ERROR_OS, errnum, "%s (while attempting to bind on address %s)",
			    strerror(errnum), where);
		goto err_fd;
	}
	if (listen(fd, req->create_server.has_backlog ? req->create_server.backlog
						      : DEFAULT_BACKLOG) < 0) {
		r = -errno;
		goto err_fd;
	}
	if ((r = handle_new(op->ctx->handles, op->session, fd, address->family, SOCK_STREAM, 0,
			    req->create_server.timeout_ns, &handle)) < 0)
		return r;
	reply->shape = REPLY_SOCKET;
	reply->socket.handle = handle->id;
	reply->socket.family = handle->family;
	reply->socket.type = handle->type;
	reply->socket.proto = handle->proto;
	reply->socket.timeout_ns = handle->timeout_ns;
	return OP_DONE;

err_fd:
	close(fd);
	return r;
}
