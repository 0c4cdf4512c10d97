#include "dispatch.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>

#include "container.h"
#include "daemon.h"
#include "errname.h"
#include "error.h"
#include "handle.h"
#include "log.h"
#include "audit.h"
#include "quota.h"
#include "ops/ops.h"
#include "resolve.h"
#include "resume.h"
#include "session.h"
#include "wire.h"

/* Requests up to this size are never refused by the memory budget. */
#define DISPATCH_SMALL_REQUEST (64 * 1024)

#define Q_READ OPF_QUEUE_READ
#define Q_WRITE OPF_QUEUE_WRITE

static void cancel(struct daemon *daemon, struct session *session, struct tx *tx,
		   struct request *request);

/* ---- the addresses requests name ---------------------------------------- */

static const struct address *
address_of_addr(const struct request *req)
{
	return &req->addr.address;
}

static const struct address *
address_of_send(const struct request *req)
{
	/* The destination is optional: none means the connected peer. */
	return req->send.has_address ? &req->send.address : NULL;
}

static const struct address *
address_of_sendmsg(const struct request *req)
{
	return req->sendmsg.has_address ? &req->sendmsg.address : NULL;
}

static const struct address *
address_of_create_server(const struct request *req)
{
	return &req->create_server.address;
}

/* ---- the op table ------------------------------------------------------- */

/* Rows that differ only in what they name. */
#define PLAIN(code, op_name, op_flags, handler) \
	[code] = { .op = code, .name = op_name, .flags = op_flags, .run = handler }
#define SOCKET_ARGS                                                                 \
	{ OP_ARG("family", INT, socket.family), OP_ARG("type", INT, socket.type),   \
	  OP_ARG("proto", INT, socket.proto) }
#define TARGET_ARG { "address", OP_ARG_TARGET, 0 }
#define NAME_ARGS { OP_ARG("name", STRING, name.name) }
#define LOOKUP(code, op_name, op_event)                                                \
	[code] = { .op = code, .name = op_name, .run = op_name_lookup, .policy = OPP_HOST,  \
		   .policy_op = POLICY_OP_RESOLVE, .host = OP_ARG("host", STRING, name.name), \
		   .event = op_event, .args = NAME_ARGS }
#define INTERFACES(code, op_name, handler, ...)                                        \
	[code] = { .op = code, .name = op_name, .run = handler, .policy = OPP_PLAIN,   \
		   .policy_op = POLICY_OP_INTERFACES, .args = { __VA_ARGS__ } }

/* The op table: one row says all about an operation but its handler's code (ops.h). */
static const struct op_desc op_table[OP__COUNT] = {
	PLAIN(OP_UNKNOWN, "unknown", 0, NULL),
	[OP_HELLO] = { .op = OP_HELLO, .name = "hello", .flags = OPF_BEFORE_HELLO | OPF_IDENTIFIES,
		       .run = op_hello },
	[OP_SOCKET] = { .op = OP_SOCKET, .name = "socket", .run = op_socket, .policy = OPP_CREATE,
			.policy_op = POLICY_OP_CREATE, .event = "socket.__new__",
			.args = SOCKET_ARGS },
	[OP_SOCKETPAIR] = { .op = OP_SOCKETPAIR, .name = "socketpair", .run = op_socketpair,
			    .policy = OPP_CREATE, .policy_op = POLICY_OP_CREATE,
			    .event = "socket.__new__", .args = SOCKET_ARGS },
	PLAIN(OP_DUP, "dup", OPF_HANDLE, op_dup),
	PLAIN(OP_CLOSE, "close", OPF_HANDLE, op_close),
	[OP_BIND] = { .op = OP_BIND, .name = "bind", .flags = OPF_HANDLE, .run = op_bind,
		      .address = address_of_addr, .policy = OPP_ADDRESS,
		      .policy_op = POLICY_OP_BIND, .event = "socket.bind", .args = { TARGET_ARG } },
	[OP_LISTEN] = { .op = OP_LISTEN, .name = "listen", .flags = OPF_HANDLE, .run = op_listen,
			.policy = OPP_SOCKET, .policy_op = POLICY_OP_LISTEN },
	PLAIN(OP_ACCEPT, "accept", OPF_HANDLE | Q_READ, op_accept),
	[OP_CONNECT] = { .op = OP_CONNECT, .name = "connect", .flags = OPF_HANDLE | Q_WRITE,
			 .run = op_connect, .address = address_of_addr, .policy = OPP_ADDRESS,
			 .policy_op = POLICY_OP_CONNECT, .event = "socket.connect",
			 .args = { TARGET_ARG }, .expired = op_connect_expired },
	PLAIN(OP_SHUTDOWN, "shutdown", OPF_HANDLE, op_shutdown),
	PLAIN(OP_GETSOCKNAME, "getsockname", OPF_HANDLE, op_getsockname),
	PLAIN(OP_GETPEERNAME, "getpeername", OPF_HANDLE, op_getpeername),
	PLAIN(OP_GETSOCKOPT, "getsockopt", OPF_HANDLE, op_getsockopt),
	[OP_SETSOCKOPT] = { .op = OP_SETSOCKOPT, .name = "setsockopt", .flags = OPF_HANDLE,
			    .run = op_setsockopt, .policy = OPP_SOCKOPT,
			    .policy_op = POLICY_OP_SOCKOPT,
			    .args = { OP_ARG("level", INT, setsockopt.level),
				      OP_ARG("option", INT, setsockopt.optname) } },
	PLAIN(OP_SETTIMEOUT, "settimeout", OPF_HANDLE, op_settimeout),
	PLAIN(OP_GETTIMEOUT, "gettimeout", OPF_HANDLE, op_gettimeout),
	PLAIN(OP_SET_INHERITABLE, "set_inheritable", OPF_HANDLE, op_set_inheritable),
	PLAIN(OP_GET_INHERITABLE, "get_inheritable", OPF_HANDLE, op_get_inheritable),
	PLAIN(OP_SEND, "send", OPF_HANDLE | Q_WRITE | OPF_SENDS, op_send),
	[OP_SENDTO] = { .op = OP_SENDTO, .name = "sendto",
			.flags = OPF_HANDLE | Q_WRITE | OPF_SENDS, .run = op_send,
			.address = address_of_send, .policy = OPP_ADDRESS,
			.policy_op = POLICY_OP_SEND_TO, .event = "socket.sendto",
			.args = { TARGET_ARG, OP_ARG("bytes", SIZE, send.len) } },
	PLAIN(OP_SENDALL, "sendall", OPF_HANDLE | Q_WRITE | OPF_SENDS, op_sendall),
	PLAIN(OP_RECV, "recv", OPF_HANDLE | Q_READ | OPF_RECEIVES, op_recv),
	PLAIN(OP_RECVFROM, "recvfrom", OPF_HANDLE | Q_READ | OPF_RECEIVES, op_recv),
	[OP_SENDMSG] = { .op = OP_SENDMSG, .name = "sendmsg",
			 .flags = OPF_HANDLE | Q_WRITE | OPF_SENDS, .run = op_sendmsg,
			 .address = address_of_sendmsg, .policy = OPP_ADDRESS,
			 .policy_op = POLICY_OP_SEND_TO, .admit = op_admit_ancillary,
			 .event = "socket.sendmsg", .args = { TARGET_ARG } },
	PLAIN(OP_RECVMSG, "recvmsg", OPF_HANDLE | Q_READ | OPF_RECEIVES, op_recvmsg),
	PLAIN(OP_SENDMSG_AFALG, "sendmsg_afalg", OPF_HANDLE | Q_WRITE | OPF_SENDS,
	      op_sendmsg_afalg),
	[OP_POLL] = { .op = OP_POLL, .name = "poll", .run = op_poll, .expired = op_poll_expired },
	[OP_CANCEL] = { .op = OP_CANCEL, .name = "cancel", .at_once = cancel },
	[OP_CREATE_CONNECTION] = { .op = OP_CREATE_CONNECTION, .name = "create_connection",
				   .flags = OPF_NUMERIC_HOST,
				   .run = op_create_connection, .policy = OPP_HOST,
				   .policy_op = POLICY_OP_RESOLVE,
				   .host = OP_ARG("host", CHARS, create_connection.host),
				   .event = "socket.connect",
				   .args = { OP_ARG("host", CHARS, create_connection.host),
					     OP_ARG("port", UINT16, create_connection.port) } },
	[OP_CREATE_SERVER] = { .op = OP_CREATE_SERVER, .name = "create_server",
			       .run = op_create_server, .address = address_of_create_server,
			       .admit = op_admit_create_server, .event = "socket.bind",
			       .args = { TARGET_ARG } },
	PLAIN(OP_HAS_DUALSTACK_IPV6, "has_dualstack_ipv6", 0, op_has_dualstack_ipv6),
	PLAIN(OP_HAS_IPV6, "has_ipv6", 0, op_has_ipv6),
	PLAIN(OP_CMSG_SIZE, "cmsg_size", 0, op_cmsg_size),
	[OP_GETADDRINFO] = { .op = OP_GETADDRINFO, .name = "getaddrinfo", .run = op_getaddrinfo,
			     .policy = OPP_HOST, .policy_op = POLICY_OP_RESOLVE,
			     .host = OP_ARG("host", STRING, getaddrinfo.host),
			     .event = "socket.getaddrinfo",
			     .args = { OP_ARG("host", STRING, getaddrinfo.host),
				       OP_ARG("port", STRING, getaddrinfo.port),
				       OP_ARG("family", INT, getaddrinfo.family),
				       OP_ARG("type", INT, getaddrinfo.type),
				       OP_ARG("proto", INT, getaddrinfo.proto),
				       OP_ARG("flags", INT, getaddrinfo.flags) } },
	[OP_GETNAMEINFO] = { .op = OP_GETNAMEINFO, .name = "getnameinfo", .run = op_getnameinfo,
			     .policy = OPP_HOST, .policy_op = POLICY_OP_RESOLVE,
			     .host = OP_ARG("host", CHARS, getnameinfo.address.inet.host),
			     .event = "socket.getnameinfo",
			     .args = { OP_ARG("host", CHARS, getnameinfo.address.inet.host),
				       OP_ARG("port", UINT16, getnameinfo.address.inet.port),
				       OP_ARG("flags", INT, getnameinfo.flags) } },
	LOOKUP(OP_GETHOSTBYNAME, "gethostbyname", "socket.gethostbyname"),
	LOOKUP(OP_GETHOSTBYNAME_EX, "gethostbyname_ex", "socket.gethostbyname"),
	LOOKUP(OP_GETHOSTBYADDR, "gethostbyaddr", "socket.gethostbyaddr"),
	LOOKUP(OP_GETFQDN, "getfqdn", NULL),
	[OP_GETHOSTNAME] = { .op = OP_GETHOSTNAME, .name = "gethostname", .run = op_gethostname,
			     .event = "socket.gethostname" },
	[OP_SETHOSTNAME] = { .op = OP_SETHOSTNAME, .name = "sethostname", .run = op_sethostname,
			     .policy = OPP_PLAIN, .policy_op = POLICY_OP_SETHOSTNAME,
			     .event = "socket.sethostname" },
	PLAIN(OP_GETPROTOBYNAME, "getprotobyname", 0, op_name_lookup),
	[OP_GETSERVBYNAME] = { .op = OP_GETSERVBYNAME, .name = "getservbyname",
			       .run = op_getservbyname, .event = "socket.getservbyname",
			       .args = { OP_ARG("name", STRING, getservbyname.name),
					 OP_ARG("proto", STRING, getservbyname.proto) } },
	[OP_GETSERVBYPORT] = { .op = OP_GETSERVBYPORT, .name = "getservbyport",
			       .run = op_getservbyport, .event = "socket.getservbyport",
			       .args = { OP_ARG("port", INT, getservbyport.port),
					 OP_ARG("proto", STRING, getservbyport.proto) } },
	INTERFACES(OP_IF_NAMEINDEX, "if_nameindex", op_if_nameindex, { NULL, OP_ARG_NONE, 0 }),
	INTERFACES(OP_IF_NAMETOINDEX, "if_nametoindex", op_if_nametoindex,
		   OP_ARG("name", STRING, name.name)),
	INTERFACES(OP_IF_INDEXTONAME, "if_indextoname", op_if_indextoname,
		   OP_ARG("index", UNSIGNED, if_indextoname.index)),
	PLAIN(OP_HANDOFF, "handoff", OPF_HANDLE, op_handoff),
	PLAIN(OP_ADMIN_STATUS, "admin_status", OPF_ADMIN, op_admin_status),
	PLAIN(OP_ADMIN_SESSIONS, "admin_sessions", OPF_ADMIN, op_admin_sessions),
	PLAIN(OP_ADMIN_HANDLES, "admin_handles", OPF_ADMIN, op_admin_handles),
};

static void run_queue(struct daemon *daemon, struct list *queue);
static bool start_job(struct op *op);

const char *
dispatch_op_name(enum op_code op)
{
	if ((unsigned)op >= OP__COUNT)
		return "unknown";
	return op_table[op].name;
}

int
op_fail(struct reply *reply, enum error_kind kind, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vfill(&reply->error, kind, errnum, fmt, ap);
	va_end(ap);
	return OP_FAILED;
}

/* The request a reply is being packed for, and where it goes. */
struct reply_to {
	const struct reply_sink *sink;
	struct tx *tx;
};

static void *
reply_alloc(void *userdata, size_t len)
{
	struct reply_to *to = userdata;

	return to->sink->buffer(to->sink->userdata, to->tx, len);
}

/* The one exit of every request: pack and send its reply. */
static void
send_reply(struct daemon *daemon, struct tx *tx, const struct reply *reply)
{
	struct reply_to to = { &daemon->sink, tx };

	if (wire_encode_reply(reply, reply_alloc, &to) < 0) {
		/* A reply we cannot allocate (a huge recv under memory pressure):
		 * say so in a small one rather than leave the client waiting. */
		struct reply small = { .seq = reply->seq, .op = reply->op };
		op_fail(&small, ERROR_OS, ENOMEM,
			"the daemon is out of memory for this reply; retry with a smaller size");
		if (wire_encode_reply(&small, reply_alloc, &to) < 0)
			log_error("dispatch: cannot allocate even an error reply; the client "
				  "gets an empty reply");
	}
	daemon->sink.send(daemon->sink.userdata, tx);
}

static void
reply_with_error(struct daemon *daemon, struct tx *tx, uint64_t seq, enum op_code op,
		 enum error_kind kind, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

static void
reply_with_error(struct daemon *daemon, struct tx *tx, uint64_t seq, enum op_code op,
		 enum error_kind kind, int errnum, const char *fmt, ...)
{
	struct reply reply = { .seq = seq, .op = op };
	va_list ap;

	va_start(ap, fmt);
	error_vfill(&reply.error, kind, errnum, fmt, ap);
	va_end(ap);
	send_reply(daemon, tx, &reply);
}

void
dispatch_reply_bad_request(struct daemon *daemon, struct tx *tx, const struct wire_error *error)
{
	reply_with_error(daemon, tx, error->seq, error->op, ERROR_BAD_REQUEST, error->errnum, "%s",
			 error->message);
}

bool
op_can_pass_fds(const struct op *op)
{
	const struct reply_sink *sink = &op->daemon->sink;

	return sink->can_pass_fds && sink->can_pass_fds(sink->userdata, op->tx);
}

void
op_attach_fd(struct op *op, int fd)
{
	const struct reply_sink *sink = &op->daemon->sink;

	sink->attach_fd(sink->userdata, op->tx, fd);
}

uint32_t
op_resume_grace_ms(const struct op *op)
{
	return resume_grace_ms(op->daemon, op->session);
}

void
dispatch_context_init(struct daemon *daemon)
{
	daemon->ops = (struct op_context){
		.config = daemon->config,
		.limits = &daemon->limits,
		.policy = daemon->policy,
		.handles = &daemon->handles,
		.reactor = daemon->reactor,
		.resolver = daemon->resolver,
		.audit = daemon->audit,
		.quotas = &daemon->quotas,
		.budget = &daemon->budget,
		.sessions = &daemon->sessions,
		.scratch = daemon->scratch,
		.scratch_len = daemon->scratch_len,
		.stats = &daemon->stats,
	};
}

/* ---- op lifetime ------------------------------------------------------ */

static void op_timer_expired(struct reactor_timer *timer);

static void
op_free(struct op *op)
{
	if (op->release_state)
		op->release_state(op);
	op_release_progress(op);
	if (op->path_fd >= 0)
		close(op->path_fd);
	free(op->unix_path);
	if (op->handle)
		handle_unref(op->handle);
	budget_share_release(&op->session->budget, op->held_request);
	wire_request_free(op->req);
	free(op);
}

static void
unpark(struct op *op)
{
	struct session *session = op->session;
	if (list_linked(&op->handle_link))
		list_remove(&op->handle_link);
	if (list_linked(&op->session_link)) {
		list_remove(&op->session_link);
		session->n_parked--;
		if (session->quota)
			session->quota->parked--;
		if (op->req->seq)
			idmap_remove(&session->parked_by_seq, op->req->seq);
	}
	reactor_timer_cancel(op->daemon->reactor, &op->timer);
	if (op->job) {
		/* The lookup runs on; its result is dropped when it comes back. */
		op->job->userdata = NULL;
		op->job = NULL;
	}
	op->wait = WAIT_NONE;
}

/* The session said Hello (its identity is now whole, token included): the
 * first quota matching it applies. */
static void
attach_quota(struct daemon *daemon, struct session *session)
{
	struct policy_identity id;
	op_identity(session, &id);
	const struct policy_quota *limits = policy_quota_for(daemon->policy, &id);
	if (quota_acquire(&daemon->quotas, limits, &id, session->id, &session->quota) < 0)
		log_error("out of memory for the quota account of session %llu; it runs "
			  "without its quota", (unsigned long long)session->id);
	dispatch_identify(daemon, session);
}

void
dispatch_identify(struct daemon *daemon, struct session *session)
{
	/* Its memory is counted under its whole identity (its token, if any)
	 * from now on. */
	char key[96];
	budget_key(key, sizeof(key), session->token_name, session->identity.has_credentials,
		   (unsigned)session->identity.uid, session->identity.peer, session->pipe_id);
	if (budget_share_move(&session->budget, key) < 0)
		log_error("out of memory for the memory account of session %llu; it stays "
			  "counted by uid", (unsigned long long)session->id);
	if (daemon->sink.set_identity)
		daemon->sink.set_identity(daemon->sink.userdata, session->pipe_id, key);
}

/*
 * Write-behind credit: the kernel's free send space on the stream socket a
 * reply is about, so that the client may send that much without waiting.
 * Two system calls; only stream sockets that have a send queue answer
 * SIOCOUTQ (a listening socket does not, and gets no credit).
 */
static void
add_send_space(struct op *op, struct reply *reply)
{
	struct handle *handle = op->handle;
	uint64_t id = 0;

	if (reply->error.kind == ERROR_NONE && reply->shape == REPLY_ACCEPT)
		id = reply->accept.socket.handle;
	else if (reply->error.kind == ERROR_NONE && reply->shape == REPLY_CREATE_CONNECTION &&
		 reply->create_connection.connected)
		id = reply->create_connection.socket.handle;
	if (id)
		handle = handle_find(&op->daemon->handles, op->session, id);
	if (!handle || handle->state != HANDLE_OPEN || handle->type != SOCK_STREAM)
		return;
	int sndbuf, queued;
	socklen_t len = sizeof(sndbuf);
	if (getsockopt(handle->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) == 0 &&
	    ioctl(handle->fd, SIOCOUTQ, &queued) == 0) {
		reply->has_send_space = true;
		/* SO_SNDBUF counts the kernel's bookkeeping too: half of it is
		 * what the kernel promises for data. */
		reply->send_space = sndbuf / 2 > queued ? (uint64_t)(sndbuf / 2 - queued) : 0;
	}
}

/* Turn a handler's result into the reply, send it, and free the op. */
static void
complete(struct op *op, int result, struct reply *reply)
{
	reply->seq = op->req->seq;
	reply->op = op->req->op;
	if (result < 0) {
		memset(&reply->error, 0, sizeof(reply->error));
		op_fail(reply, ERROR_OS, -result, "%s", strerror(-result));
	}
	if (op->handle && reply->error.kind == ERROR_NONE)
		op->handle->op_count++;
	op_account(op);
	if (!op->audited)
		op_audit(op, reply);
	/* A resumed session was identified by its first Hello (resume.c tells the
	 * transport of its new connection). */
	if ((op->desc->flags & OPF_IDENTIFIES) && reply->error.kind == ERROR_NONE &&
	    !op->session->quota && !(reply->shape == REPLY_HELLO && reply->hello.resumed))
		attach_quota(op->daemon, op->session);
	log_debug("%s %llu: %s -> %s%s%s", dispatch_op_name(op->req->op),
		  (unsigned long long)op->req->handle,
		  reply->error.kind == ERROR_NONE ? "ok" : "error", reply->error.message,
		  reply->error.errnum ? " " : "",
		  reply->error.errnum ? errname_from_errno(reply->error.errnum) : "");
	unpark(op);
	op_handoff_if_asked(op, reply);
	add_send_space(op, reply);
	send_reply(op->daemon, op->tx, reply);
	op->tx = NULL;
	op_free(op);
}

/* Complete a parked op from outside its queue's run (deadline, Cancel,
 * resolver), then let what waited behind it run. */
static void
complete_and_continue(struct op *op, int result, struct reply *reply)
{
	struct daemon *daemon = op->daemon;
	struct list *queue = op->queue;
	struct handle *handle = op->handle ? handle_ref(op->handle) : NULL;

	complete(op, result, reply);
	if (handle) {
		if (handle->state == HANDLE_OPEN && queue)
			run_queue(daemon, queue);
		handle_unref(handle);
	}
}

static void
complete_with_error(struct op *op, enum error_kind kind, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
complete_with_error(struct op *op, enum error_kind kind, int errnum, const char *fmt, ...)
{
	struct reply reply = { 0 };
	va_list ap;

	va_start(ap, fmt);
	error_vfill(&reply.error, kind, errnum, fmt, ap);
	va_end(ap);
	complete(op, OP_FAILED, &reply);
}

static void
error_and_continue(struct op *op, enum error_kind kind, int errnum, const char *message)
{
	struct reply reply = { 0 };

	complete_and_continue(op, op_fail(&reply, kind, errnum, "%s", message), &reply);
}

/* Put `op` on its queue and the session's parked list, findable by its seq
 * (Cancel) and with its deadline armed. Returns 0; -ENOBUFS or -EDQUOT when
 * the session may not park more; -ENOMEM when the op could not be made
 * findable or its timer armed (it is then not parked: a wait that could
 * never be cancelled or time out is not started). */
static int
park(struct op *op, enum op_wait wait)
{
	struct session *session = op->session;
	int r;

	if (op->wait == WAIT_NONE) {
		if (session->n_parked >= op->daemon->config->max_parked)
			return -ENOBUFS;
		if (!quota_parked_fit(session->quota))
			return -EDQUOT;
		if (op->req->seq && (r = idmap_put(&session->parked_by_seq, op->req->seq, op)) < 0)
			return r;
		if (op->deadline_ns &&
		    (r = reactor_timer_arm(op->daemon->reactor, &op->timer, op->deadline_ns)) < 0) {
			if (op->req->seq)
				idmap_remove(&session->parked_by_seq, op->req->seq);
			return r;
		}
		if (op->queue)
			list_append(op->queue, &op->handle_link);
		list_append(&session->parked, &op->session_link);
		session->n_parked++;
		if (session->quota)
			session->quota->parked++;
	}
	op->wait = wait;
	return 0;
}

/* park() said no (`r`): answer the op with why. */
static void
fail_to_park(struct op *op, int r)
{
	const struct quota_account *account = op->session->quota;
	if (r == -ENOMEM) {
		complete_with_error(op, ERROR_OS, ENOMEM,
				    "%s would wait, but the daemon is out of memory to keep it "
				    "waiting; retry later",
				    op->desc->name);
		return;
	}
	if (account && !quota_parked_fit(account)) {
		op->audited = true; /* recorded below, as the refusal it is */
		struct reply reply = { 0 };
		op_fail(&reply, ERROR_QUOTA, ENOBUFS,
			"%s would wait, but quota \"%s\" allows %u waiting operations and "
			"they are all in use; complete or cancel some first",
			op->desc->name, account->limits->name, account->limits->max_parked);
		op_refused(op, &reply, AUDIT_QUOTA, account->limits->name);
		complete(op, OP_FAILED, &reply);
		return;
	}
	complete_with_error(op, ERROR_QUOTA, ENOBUFS,
			    "this session already has %u operations waiting (the daemon's "
			    "limits.max_parked_per_session); complete or cancel some first",
			    op->daemon->config->max_parked);
}

/*
 * Run the handler. Returns true when the op completed (and is freed), false
 * when it is parked waiting for its fd.
 */
static bool
attempt(struct op *op)
{
	struct reply reply = { 0 };
	int r;

	if (!op->admitted) {
		if ((r = op_admit(op, &reply)) != 0) {
			complete(op, r, &reply);
			return true;
		}
		op->admitted = true;
	}
	r = op->desc->run(op, &reply);

	if (r == OP_WAIT_JOB)
		return start_job(op);
	if (r == OP_WAIT_EVENT) {
		if ((r = park(op, WAIT_EVENT)) < 0) {
			fail_to_park(op, r);
			return true;
		}
		return false;
	}
	if (r != OP_WAIT_READ && r != OP_WAIT_WRITE) {
		complete(op, r, &reply);
		return true;
	}
	if (!op->queue) {
		log_error("dispatch: %s would block but has no queue to wait on",
			  op->desc->name);
		complete(op, -EAGAIN, &reply);
		return true;
	}
	if (op->handle->timeout_ns == 0) {
		/* Non-blocking mode answers at once, as the kernel would. */
		complete(op, -EAGAIN, &reply);
		return true;
	}
	if ((r = park(op, WAIT_IO)) < 0) {
		fail_to_park(op, r);
		return true;
	}
	return false;
}

static void
run_queue(struct daemon *daemon, struct list *queue)
{
	struct list *first;
	while ((first = list_first(queue))) {
		struct op *op = list_entry(first, struct op, handle_link);
		if (op->wait == WAIT_RESOLVE)
			return;
		if (!attempt(op))
			return;
	}
}

void
dispatch_handle_ready(struct handle *handle, uint32_t events)
{
	/* Only an open handle is ready, and an open handle's session is alive. */
	struct daemon *daemon = handle->session->userdata;

	/* Hold the handle: a completion may end in a close of it. */
	handle_ref(handle);
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		run_queue(daemon, &handle->parked_reads);
	if (handle->state == HANDLE_OPEN && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		run_queue(daemon, &handle->parked_writes);
	/* After the queues: a Poll reports what they left. */
	if (handle->state == HANDLE_OPEN && !list_empty(&handle->poll_waiters))
		op_poll_handle_ready(handle);
	handle_unref(handle);
}

void
dispatch_wake(struct op *op)
{
	struct reply reply = { 0 };
	int r = op->desc->run(op, &reply);

	if (r == OP_WAIT_EVENT)
		return;
	if (r == OP_WAIT_READ || r == OP_WAIT_WRITE || r == OP_WAIT_JOB) {
		log_error("dispatch: %s was woken and asked for a kind of wait it cannot "
			  "switch to", op->desc->name);
		r = -EIO;
	}
	complete(op, r, &reply);
}

static void
op_timer_expired(struct reactor_timer *timer)
{
	struct op *op = container_of(timer, struct op, timer);

	if (op->desc->expired) {
		/* The op's own answer (a Poll's is "nothing ready", not an error). */
		struct reply reply = { 0 };
		int r = op->desc->expired(op, &reply);
		complete_and_continue(op, r, &reply);
		return;
	}
	error_and_continue(op, ERROR_TIMEOUT, ETIMEDOUT, "timed out");
}

/* ---- work on the resolver pool ----------------------------------------- */

/* Park `op` while `job` runs on the resolver pool. Returns 0, or -1 when the
 * op was completed with an error instead (parked quota, or the daemon
 * stopping); the job was not submitted then and is still the caller's. */
static int
submit_job(struct op *op, struct resolve_job *job)
{
	int r;

	if (!op->ctx->resolver) {
		/* Shutdown: requests posted before the transport stopped still run
		 * once, after the workers are gone. */
		complete_with_error(op, ERROR_OS, ECANCELED,
				    "%s was cancelled: the daemon is stopping", op->desc->name);
		return -1;
	}
	if ((r = park(op, WAIT_RESOLVE)) < 0) {
		fail_to_park(op, r);
		return -1;
	}
	op->job = job;
	job->owner = op->session->id;
	resolver_submit(op->ctx->resolver, job);
	return 0;
}

static void
release_job(struct op_job *job)
{
	if (job->release)
		job->release(job);
	else
		free(job);
}

int
op_wait_job(struct op *op, struct op_job *job)
{
	op->job = &job->job;
	return OP_WAIT_JOB;
}

/* A handler's job is back on the reactor thread. */
static void
job_returned(struct resolve_job *base)
{
	struct op_job *job = (struct op_job *)(void *)base;
	struct op *op = base->userdata;

	if (op) {
		struct reply reply = { 0 };
		int r;

		op->job = NULL;
		if (base->cancelled)
			r = op_fail(&reply, ERROR_OS, ECANCELED,
				    "%s was cancelled: the daemon is stopping", op->desc->name);
		else
			r = job->finish(op, job, &reply);
		/* The reply may point into the job: it goes out before the job is freed. */
		complete_and_continue(op, r, &reply);
	}
	release_job(job);
}

/* The handler returned OP_WAIT_JOB: send its job to the pool. Returns true
 * when the op completed (it could not wait), false when it waits. */
static bool
start_job(struct op *op)
{
	struct op_job *job = (struct op_job *)(void *)op->job;

	op->job = NULL;
	if (!job) {
		log_error("dispatch: %s asked to wait for a job but gave none", op->desc->name);
		complete(op, -EIO, &(struct reply){ 0 });
		return true;
	}
	job->job.complete = job_returned;
	job->job.userdata = op;
	if (submit_job(op, &job->job) < 0) {
		release_job(job);
		return true;
	}
	return false;
}

/* ---- address resolution ----------------------------------------------- */

static void
resolved(struct resolve_job *base)
{
	struct resolve_address_job *job = (struct resolve_address_job *)(void *)base;
	struct op *op = base->userdata;
	if (!op) {
		free(job);
		return;
	}
	op->job = NULL;
	const struct address *address = op->desc->address(op->req);
	if (base->cancelled)
		job->gai_error = EAI_CANCELED;
	if (job->gai_error != 0) {
		int gai = job->gai_error;
		free(job);
		struct reply reply = { 0 };
		reply.error.gai_code = gai;
		op_fail(&reply, ERROR_GAI, 0, "%s",
			gai == EAI_CANCELED ? "name resolution cancelled: the daemon is stopping"
					    : gai_strerror(gai));
		complete_and_continue(op, OP_FAILED, &reply);
		return;
	}
	addr_apply_resolved(address, (const struct sockaddr *)&job->result, &op->target);
	free(job);
	op->wait = WAIT_QUEUED;
	if (op->queue)
		run_queue(op->daemon, op->queue);
	else
		attempt(op);
}

/* Start resolving op's host name; the op waits on its queue meanwhile. */
static void
start_resolving(struct op *op, const struct address *address)
{
	struct resolve_address_job *job = calloc(1, sizeof(*job));
	if (!job) {
		complete_with_error(op, ERROR_OS, ENOMEM, "out of memory resolving %s",
				    address->inet.host);
		return;
	}
	snprintf(job->host, sizeof(job->host), "%s", address->inet.host);
	job->family = address->family;
	job->job.work = resolve_address_work;
	job->job.complete = resolved;
	job->job.userdata = op;
	if (submit_job(op, &job->job) < 0)
		free(job);
}

/* ---- requests --------------------------------------------------------- */

/* Cancel (the row's at_once): answer a parked op of the session as cancelled. */
static void
cancel(struct daemon *daemon, struct session *session, struct tx *tx, struct request *request)
{
	struct op *target = idmap_get(&session->parked_by_seq, request->cancel.target_seq);
	struct reply reply = { .seq = request->seq, .op = OP_CANCEL, .shape = REPLY_CANCEL };

	reply.cancelled = target != NULL;
	if (target) {
		char message[96];
		snprintf(message, sizeof(message), "%s was cancelled by the client",
			 dispatch_op_name(target->req->op));
		error_and_continue(target, ERROR_CANCELLED, ECANCELED, message);
	}
	send_reply(daemon, tx, &reply);
	wire_request_free(request);
}

/* Answer the requests that need no op: undecodable, before Hello, answered at once
 * (Cancel), unsupported. Returns true when `request` was answered (and is freed). */
static bool
answered_without_op(struct daemon *daemon, struct session *session, struct tx *tx,
		    struct request *request, const struct op_desc *desc)
{
	if (request->invalid) {
		dispatch_reply_bad_request(daemon, tx, request->invalid);
		wire_request_free(request);
		return true;
	}
	if (!session->said_hello && !(desc->flags & OPF_BEFORE_HELLO)) {
		reply_with_error(daemon, tx, request->seq, request->op, ERROR_BAD_REQUEST, EPROTO,
				 "%s before Hello: the first request of a session must be Hello",
				 desc->name);
		wire_request_free(request);
		return true;
	}
	if (desc->at_once) {
		desc->at_once(daemon, session, tx, request);
		return true;
	}
	if (!desc->run) {
		struct reply reply = { .seq = request->seq, .op = request->op };
		reply.error.operation = desc->name;
		op_fail(&reply, ERROR_UNSUPPORTED, ENOSYS,
			"%s is not supported by this version of sockbrokerd", desc->name);
		send_reply(daemon, tx, &reply);
		wire_request_free(request);
		return true;
	}
	return false;
}

/* The decoded request is held as long as its op (a parked send's data): a
 * large one must fit its identity's memory budget; a small one (a Close, a
 * Cancel) always goes. Returns false when refused (the request is then
 * answered). */
static bool
charge_request(struct daemon *daemon, struct session *session, struct tx *tx,
	       struct request *request, const struct op_desc *desc)
{
	const char *limit = NULL;
	if (request->wire_len > DISPATCH_SMALL_REQUEST)
		limit = budget_share_try(&session->budget, request->wire_len);
	else
		budget_share_charge(&session->budget, request->wire_len);
	if (!limit)
		return true;
	reply_with_error(daemon, tx, request->seq, request->op, ERROR_QUOTA, ENOBUFS,
			 "%s of %zu bytes would pass %s (%llu bytes held at most for this "
			 "client, its other sessions included); let earlier operations "
			 "complete, or send less at a time", desc->name, request->wire_len,
			 limit, (unsigned long long)budget_share_limit(&session->budget, limit));
	wire_request_free(request);
	return false;
}

/* A new op for `request`, or NULL when out of memory (the request is then answered). */
static struct op *
new_op(struct daemon *daemon, struct session *session, struct tx *tx, struct request *request,
       const struct op_desc *desc)
{
	struct op *op = calloc(1, sizeof(*op));
	if (!op) {
		budget_share_release(&session->budget, request->wire_len);
		reply_with_error(daemon, tx, request->seq, request->op, ERROR_OS, ENOMEM,
				 "the daemon is out of memory");
		wire_request_free(request);
		return NULL;
	}
	op->held_request = request->wire_len;
	op->daemon = daemon;
	op->ctx = &daemon->ops;
	op->session = session;
	op->tx = tx;
	op->req = request;
	op->desc = desc;
	op->path_fd = -1;
	list_init(&op->handle_link);
	list_init(&op->session_link);
	reactor_timer_init(&op->timer, op_timer_expired);
	return op;
}

/* OPF_HANDLE: take the session's handle the request names, its queue and deadline.
 * Returns false when there is none (the op is then completed). */
static bool
take_handle(struct op *op)
{
	struct handle *handle = handle_find(&op->daemon->handles, op->session, op->req->handle);
	if (!handle) {
		complete_with_error(op, ERROR_BAD_HANDLE, EBADF,
				    "handle %llu is not an open socket of this session",
				    (unsigned long long)op->req->handle);
		return false;
	}
	op->handle = handle_ref(handle);
	if (op->desc->flags & OPF_QUEUE_READ)
		op->queue = &handle->parked_reads;
	else if (op->desc->flags & OPF_QUEUE_WRITE)
		op->queue = &handle->parked_writes;
	if (op->queue && handle->timeout_ns > 0)
		op->deadline_ns = reactor_now_ns() + (uint64_t)handle->timeout_ns;
	return true;
}

/* The address the request names, into op->target. Returns true when the op may run now;
 * false when it was completed (a bad address) or waits for its host name's lookup. */
static bool
take_address(struct op *op, const struct address *address)
{
	int r = addr_to_sockaddr(address, &op->target);
	if (r < 0) {
		/* -EINVAL: a malformed address; anything else is the OS's
		 * answer to an interface name (ENODEV). */
		char why[sizeof(((struct reply_error *)0)->message)];
		addr_describe_failure(address, r, why, sizeof(why));
		complete_with_error(op, r == -EINVAL ? ERROR_BAD_REQUEST : ERROR_OS, -r, "%s", why);
		return false;
	}
	if (r != ADDR_NEEDS_RESOLVE)
		return true;
	/* A queue that is busy does not matter: the op waits on it
	 * for its turn either way. */
	if (op->handle && op->handle->timeout_ns == 0 && op->queue && !list_empty(op->queue)) {
		complete(op, -EAGAIN, &(struct reply){ 0 });
		return false;
	}
	struct reply reply = { 0 };
	if ((r = op_admit_host(op, address->inet.host, &reply)) != 0) {
		complete(op, r, &reply);
		return false;
	}
	start_resolving(op, address);
	return false;
}

/* Start one request, in sequence. */
static void
start(struct daemon *daemon, struct session *session, struct tx *tx, struct request *request)
{
	const struct op_desc *desc = &op_table[request->op];

	if (answered_without_op(daemon, session, tx, request, desc))
		return;
	if (!charge_request(daemon, session, tx, request, desc))
		return;
	session->n_requests++;
	daemon->stats.n_requests++;
	struct op *op = new_op(daemon, session, tx, request, desc);
	if (!op)
		return;
	if ((desc->flags & OPF_HANDLE) && !take_handle(op))
		return;
	const struct address *address = desc->address ? desc->address(request) : NULL;
	if (address && !take_address(op, address))
		return;

	if (op->queue && !list_empty(op->queue)) {
		/* Earlier operations on this queue go first. */
		if (op->handle->timeout_ns == 0) {
			complete(op, -EAGAIN, &(struct reply){ 0 });
			return;
		}
		int r = park(op, WAIT_QUEUED);
		if (r < 0)
			fail_to_park(op, r);
		return;
	}
	attempt(op);
}

void
dispatch_request(struct daemon *daemon, struct tx *tx, uint32_t pipe_id, struct request *request)
{
	struct session *session = session_find(&daemon->sessions, pipe_id);
	if (!session) {
		/* The connection is gone already; the reply goes nowhere, but the
		 * request must still be answered to be released. */
		reply_with_error(daemon, tx, request->seq, request->op, ERROR_OS, ECONNRESET,
				 "the session has ended");
		wire_request_free(request);
		return;
	}
	/* One connection's requests arrive, and so start, in the order the
	 * client sent them. */
	start(daemon, session, tx, request);
}

/* ---- sessions ----------------------------------------------------------- */

/* A session's own audit record: its start (reason NULL: no arguments), or its
 * end with what the end cleaned up. */
static void
audit_session(struct daemon *daemon, const struct session *session, const char *event,
	      const char *reason, size_t handles_closed, size_t ops_cancelled)
{
	if (!audit_wants(daemon->audit, event))
		return;
	struct audit_record record = {
		.event = event,
	};
	session_audit_fields(&record, session);
	if (reason) {
		audit_arg_int(&record, "handles_closed", (int64_t)handles_closed);
		audit_arg_int(&record, "ops_cancelled", (int64_t)ops_cancelled);
		audit_arg_string(&record, "reason", reason);
	}
	audit_write(daemon->audit, &record);
}

void
dispatch_session_added(struct daemon *daemon, uint32_t pipe_id,
		       const struct peer_identity *identity)
{
	struct session *session;
	int r = session_new(&daemon->sessions, pipe_id, identity, &session);
	if (r < 0) {
		log_error("cannot create a session for a new connection (%s): %s; closing it",
			  identity->peer, strerror(-r));
		daemon->sink.disconnect(daemon->sink.userdata, pipe_id);
		return;
	}
	session->userdata = daemon;
	char key[96];
	budget_key(key, sizeof(key), NULL, identity->has_credentials, (unsigned)identity->uid,
		   identity->peer, pipe_id);
	if (budget_share_open(&session->budget, &daemon->budget, key) < 0) {
		log_error("out of memory for the memory account of a new connection (%s); "
			  "closing it", identity->peer);
		session_free(&daemon->sessions, session);
		daemon->sink.disconnect(daemon->sink.userdata, pipe_id);
		return;
	}
	char who[160];
	session_describe(session, who, sizeof(who));
	log_info("%s: connected", who);
	audit_session(daemon, session, "sockbroker.session.start", NULL, 0, 0);
}

int
dispatch_close_handle(struct handle *handle)
{
	struct list *queues[] = { &handle->parked_reads, &handle->parked_writes };
	for (size_t i = 0; i < 2; i++) {
		struct list *first;
		while ((first = list_first(queues[i]))) {
			struct op *op = list_entry(first, struct op, handle_link);
			/* Detach from the queue first so completing it does not
			 * start the next one on a socket about to close. */
			list_remove(&op->handle_link);
			op->queue = NULL;
			complete_with_error(op, ERROR_OS, EBADF,
					    "the socket was closed while %s was waiting",
					    dispatch_op_name(op->req->op));
		}
	}
	/* Polls waiting on it answer now (it reads as ERROR|HANGUP) and let go
	 * of it before its fd closes. */
	op_poll_handle_closed(handle);
	return handle_close(handle);
}

static void
end_session(struct daemon *daemon, struct session *session, const char *why)
{
	char who[160];
	session_describe(session, who, sizeof(who));

	const char *ended = daemon->stopping ? "the daemon is stopping; its sockets are closed "
					       "(connect again once it is back)"
					     : "the session has ended";
	size_t n_ops = session->n_parked, n_handles = session->n_handles;
	struct list *first;
	while ((first = list_first(&session->parked))) {
		struct op *op = list_entry(first, struct op, session_link);
		if (list_linked(&op->handle_link))
			list_remove(&op->handle_link);
		op->queue = NULL;
		complete_with_error(op, ERROR_OS, ECONNRESET, "%s", ended);
	}
	while ((first = list_first(&session->handles))) {
		struct handle *handle = list_entry(first, struct handle, session_link);
		dispatch_close_handle(handle);
	}
	log_info("%s: %s; closed %zu sockets and %zu waiting operations", who, why, n_handles,
		 n_ops);
	audit_session(daemon, session, "sockbroker.session.end", why, n_handles, n_ops);
	quota_release(session->quota);
	session->quota = NULL;
	session_free(&daemon->sessions, session);
}

void
dispatch_end_session(struct daemon *daemon, struct session *session, const char *why)
{
	end_session(daemon, session, why);
}

void
dispatch_session_removed(struct daemon *daemon, uint32_t pipe_id)
{
	struct session *session = session_find(&daemon->sessions, pipe_id);
	if (session)
		end_session(daemon, session, "disconnected");
}

void
dispatch_end_all_sessions(struct daemon *daemon)
{
	struct list *first;
	while ((first = list_first(&daemon->sessions.all)))
		end_session(daemon, list_entry(first, struct session, link), "daemon stopping");
}
