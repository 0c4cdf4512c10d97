/*
 * Operations: what a handler sees and returns, and the op table's row (struct
 * op_desc). dispatch.c decodes nothing and runs nothing itself; it finds the
 * row of the op table, checks what the row demands (a Hello first, a handle
 * of this session, an address resolved), has ops/permit.c ask the row's policy
 * question, and calls the handler with a `struct op` and a reply to fill. The
 * error convention is server/error.h's. What a handler sees of the daemon is
 * op->ctx (struct op_context below), never struct daemon.
 *
 * A handler returns
 *   OP_DONE       the reply is filled;
 *   -errno        the operation failed in the OS: the reply becomes an OS
 *                 error with that errno (the kernel's result, unchanged);
 *   OP_FAILED     the handler filled reply->error itself (bad arguments);
 *   OP_WAIT_READ / OP_WAIT_WRITE
 *                 the operation would block: in non-blocking mode the
 *                 dispatcher answers EAGAIN, otherwise it parks the op on the
 *                 handle's queue with its deadline and calls the handler
 *                 again when the fd is ready. Progress that must survive the
 *                 wait goes into op->progress / op->buffer.
 *   OP_WAIT_JOB   (through op_wait_job()) the operation needs a libc call
 *                 that may block: it runs on the resolver pool while the op
 *                 waits parked, and the job's `finish` fills the reply.
 *   OP_WAIT_EVENT the handler arranged its own wake-up (Poll's waiters on
 *                 handles, create_connection's attempt socket and timer):
 *                 the op is parked on the session with op->deadline_ns, and
 *                 dispatch_wake() runs the handler again when the wake-up
 *                 comes. Its state lives in op->state, freed by
 *                 op->release_state when the op ends, whichever way.
 * Handlers run on the reactor thread and never block.
 */
#ifndef SOCKBROKER_OPS_H
#define SOCKBROKER_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../addr.h"
#include "../audit.h"
#include "../list.h"
#include "../policy.h"
#include "../reactor.h"
#include "../resolve.h"
#include "../wire.h"

struct audit;
struct budget;
struct config;
struct daemon;
struct handle;
struct handle_table;
struct quota_table;
struct resolver;
struct session;
struct session_table;
struct tx;
struct resolve_job;

/* What the admin operations report (ops/admin.c); the daemon keeps it. */
struct op_stats {
	uint64_t started_ns;        /* CLOCK_MONOTONIC when the daemon began to serve */
	uint64_t n_requests;        /* requests started since */
	const char **listener_urls; /* passed sockets' URLs, then the configured ones; the
				     * array is the daemon's, the strings the transport's and
				     * the config's */
	size_t n_listeners;
	/* Per policy rule, in its order, then default-deny: [0] allowed, [1] denied. */
	uint64_t (*rule_counts)[2];
	size_t n_rule_counts;
};

/*
 * The part of the daemon a handler sees: the daemon owns it (daemon.h) and
 * fills it before it serves (dispatch_context_init()); dispatch points every
 * op at it. Handlers include nothing of daemon.h (a test checks that ops/
 * does not). Reactor thread only.
 */
struct op_context {
	const struct config *config;
	const struct wire_limits *limits;
	const struct policy *policy;       /* config->policy, or the built-in default */
	struct handle_table *handles;
	struct reactor *reactor;
	struct resolver *resolver;         /* NULL once the daemon stops */
	struct audit *audit;               /* where audit records go */
	struct quota_table *quotas;        /* the identities' accounts */
	struct budget *budget;             /* the memory held for clients (budget.h) */
	/* Every session: read by ops/admin.c, which reports on the whole
	 * daemon, and by the gate's reuse-port check across sessions
	 * (ops/permit.c); a handler otherwise uses op->session alone. */
	struct session_table *sessions;
	/* One receive buffer of limits->max_data_size for the reactor thread:
	 * data goes from the kernel into it and from it into the reply. */
	uint8_t *scratch;
	size_t scratch_len;
	struct op_stats *stats;            /* admin_status's counters */
};

enum op_result {
	OP_DONE = 0,
	OP_WAIT_READ = 1,
	OP_WAIT_WRITE = 2,
	OP_FAILED = 3,
	OP_WAIT_JOB = 4,
	OP_WAIT_EVENT = 5,
};

enum op_wait {
	WAIT_NONE,    /* running, not parked */
	WAIT_QUEUED,  /* behind earlier operations on the same queue */
	WAIT_IO,      /* the fd would block */
	WAIT_RESOLVE, /* a resolver job runs for it (a host name in its address, or a
		       * name-service call) */
	WAIT_EVENT,   /* the handler's own wake-up (OP_WAIT_EVENT) */
};

struct op {
	struct op_context *ctx; /* what a handler may use of the daemon */
	/* Dispatch's and resume.c's; opaque to handlers (ops/ does not
	 * include daemon.h). */
	struct daemon *daemon;
	struct session *session;
	struct handle *handle; /* a reference, for operations on a handle */
	struct tx *tx;         /* answered exactly once, by dispatch */
	struct request *req;
	const struct op_desc *desc;

	enum op_wait wait;
	struct list *queue;       /* handle::parked_reads or parked_writes, or NULL */
	struct list handle_link;  /* *queue */
	struct list session_link; /* session::parked */
	uint64_t deadline_ns;     /* CLOCK_MONOTONIC; 0 = none */
	struct reactor_timer timer;

	struct sockaddr_buf target; /* bind/connect/sendto address, resolved */
	struct resolve_job *job;

	size_t progress; /* bytes sent (sendall) or received (MSG_WAITALL) */
	uint8_t *buffer; /* MSG_WAITALL accumulation */
	/* The memory budget (budget.h): what the op holds charged to its
	 * session: its decoded request, its MSG_WAITALL buffer. */
	size_t held_request, held_buffer;
	bool started;    /* connect: the kernel connect() was issued */

	/* A handler's own state across OP_WAIT_EVENT waits; release_state (when
	 * set) frees it as the op ends, however it ends. */
	void *state;
	void (*release_state)(struct op *op);

	/* The gate (ops/permit.c). */
	bool admitted;         /* op_admit() passed */
	bool audited;          /* a refusal already wrote the op's audit record */
	const char *rule;      /* the policy rule that allowed it; NULL: none asked */
	char *unix_path;       /* an AF_UNIX target's name as the client gave it */
	int path_fd;           /* what op->target points at through /proc; -1: none */
	uint64_t bytes_out_before, bytes_in_before; /* the handle's counters at admission */
};

/* Table entry flags. */
enum {
	OPF_BEFORE_HELLO = 1 << 0, /* allowed before Hello */
	OPF_HANDLE = 1 << 1,       /* req->handle must name a handle of the session */
	OPF_QUEUE_READ = 1 << 3,   /* may wait for readability; FIFO on parked_reads */
	OPF_QUEUE_WRITE = 1 << 4,  /* may wait for writability; FIFO on parked_writes */
	OPF_ADMIN = 1 << 5,        /* only for an admin identity (ops/admin.c); else EACCES */
	OPF_SENDS = 1 << 6,        /* moves bytes out: the quota's send rate admits it */
	OPF_RECEIVES = 1 << 7,     /* moves bytes in: the quota's receive rate admits it */
	OPF_IDENTIFIES = 1 << 8,   /* completes the session's identity (Hello): its quota
				    * attaches when the op succeeds */
	OPF_NUMERIC_HOST = 1 << 9, /* OPP_HOST: a numeric host is no lookup, so no
				    * `resolve` question (create_connection, as connect) */
};

/* How the policy judges an operation before it first runs (op_admit(), ops/permit.c). */
enum op_policy {
	OPP_NONE,    /* not judged: an admitted socket naming no new peer, a local lookup */
	OPP_CREATE,  /* a new socket: req->socket's family, type and protocol */
	OPP_ADDRESS, /* the socket and the address the request names, resolved (op->target);
		      * not judged when the request names none (send without a destination) */
	OPP_SOCKET,  /* the socket alone (listen) */
	OPP_SOCKOPT, /* the socket, and req->setsockopt's level and option */
	OPP_HOST,    /* a host name, desc->host of the request */
	OPP_PLAIN,   /* the question alone (sethostname, the interface list) */
};

/* Where an argument lives in struct request, and its C type. */
enum op_arg_kind {
	OP_ARG_NONE,     /* the end of a list */
	OP_ARG_INT,      /* int */
	OP_ARG_UNSIGNED, /* unsigned */
	OP_ARG_UINT16,   /* uint16_t */
	OP_ARG_SIZE,     /* size_t */
	OP_ARG_STRING,   /* const char *, NULL for none */
	OP_ARG_CHARS,    /* char[], NUL-terminated */
	OP_ARG_TARGET,   /* not in the request: op->unix_path as "path", else op->target as
			  * "address" (the name is ignored) */
};

struct op_arg {
	const char *name;
	enum op_arg_kind kind;
	size_t offset; /* offsetof(struct request, ...) */
};

#define OP_ARG(name, kind, field) { name, OP_ARG_##kind, offsetof(struct request, field) }
#define OP_ARGS_MAX 6

/*
 * An operation, whole but for its handler's code: what dispatch checks and where the op
 * waits (flags), the address it names, what the policy asks of it, how the audit records
 * it, and what its deadline means. A new operation is its proto message, its decode and
 * encode in wire.c, its handler, and one row of the op table (dispatch.c).
 */
struct op_desc {
	enum op_code op;
	const char *name;
	unsigned flags;
	int (*run)(struct op *op, struct reply *reply); /* NULL: answered UNSUPPORTED */
	/* An operation answered at once, without an op (Cancel): it replaces `run`. */
	void (*at_once)(struct daemon *daemon, struct session *session, struct tx *tx,
			struct request *request);

	/* The address the request names, to be resolved into op->target before the op runs;
	 * NULL (either the function or its result): none. */
	const struct address *(*address)(const struct request *req);

	/* The policy's question: its kind (how it is built) and its class; `host` for OPP_HOST.
	 * `admit`, when set, runs first: a question of its own (create_server's three, the
	 * options of sendmsg's ancillary data); 0 goes on, anything else is the answer. */
	enum op_policy policy;
	enum policy_op policy_op;
	struct op_arg host;
	int (*admit)(struct op *op, struct reply *reply);

	/* The audit: the reference's event (NULL: none; a denial is still recorded, as
	 * "socket.<name>"), and the request's arguments it carries. An op that names no
	 * address where it may (`address` gives NULL) has no event. */
	const char *event;
	struct op_arg args[OP_ARGS_MAX];

	/* Its deadline passed while it waited: fill the reply (NULL: a TIMEOUT error). */
	int (*expired)(struct op *op, struct reply *reply);
};

/*
 * Work a handler hands to the resolver pool (resolve.h) because its libc call
 * may block (the name service). Embed it first in a struct that carries the
 * call's arguments, copied (the op may be gone while the worker runs), and
 * its results; set job.work (worker thread) and `finish`, and return
 * op_wait_job(). The dispatcher sets job.complete and job.userdata.
 */
struct op_job {
	struct resolve_job job;
	/* Reactor thread, after job.work ran: fill the reply as a handler does
	 * (OP_DONE, -errno or OP_FAILED). The reply may point into the job. */
	int (*finish)(struct op *op, struct op_job *job, struct reply *reply);
	/* Free the job and what it owns (NULL: free()). Called exactly once,
	 * also for a job whose op was cancelled or whose session ended. */
	void (*release)(struct op_job *job);
};

/* Run `job` on the resolver pool; the op waits parked (Cancel and the end of
 * the session complete it at once, and the job's result is then dropped).
 * The dispatcher owns the job from here. Returns OP_WAIT_JOB, for the
 * handler's `return op_wait_job(op, job);`. */
int op_wait_job(struct op *op, struct op_job *job);

/* Fill reply->error as a request error (kind BAD_REQUEST etc.) and return
 * OP_FAILED, for a handler's `return op_fail(...)`. */
int op_fail(struct reply *reply, enum error_kind kind, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * The gate (ops/permit.c). op_admit(): the session's quotas, then the policy
 * on what the op asks (its resolved address; an AF_UNIX path is pinned), run
 * once before the op first runs: 0 to go on, OP_FAILED with reply->error
 * filled (the refusal logged and audited), or -errno. op_admit_host(): the
 * policy on resolving a host name of the op's address, before the lookup.
 * op_permit(): one policy question of a handler's own (create_connection's
 * attempts); 0 or OP_FAILED as op_admit(). op_account() charges the bytes the
 * op moved to the session's quota; op_audit() writes the op's audit record
 * if its event is wanted; both run as the op completes. op_identity(): the
 * session's identity as the policy sees it.
 */
struct policy_request;
struct policy_identity;
int op_admit(struct op *op, struct reply *reply);
int op_admit_host(struct op *op, const char *host, struct reply *reply);
int op_permit(struct op *op, const struct policy_request *request, struct reply *reply);
void op_account(struct op *op);
void op_audit(struct op *op, const struct reply *reply);
void op_identity(const struct session *session, struct policy_identity *identity);
/* Before binding `fd` (which has SO_REUSEPORT set, else this is a no-op) to
 * `addr`: 0 when every socket of the daemon's uid already bound to that port
 * is a handle of the op's identity, else OP_FAILED (a denial by rule
 * "reuseport-group", logged and audited) or -errno. */
int op_permit_port_group(struct op *op, int fd, const struct sockaddr *addr, socklen_t addrlen,
			 struct reply *reply);
/* The admissions of their own of the op table's rows (`admit`): create_server asks of
 * its socket, bind, listen and reuse_port; sendmsg of the options and source addresses
 * its ancillary data sets. 0 or OP_FAILED as op_admit(). */
int op_admit_create_server(struct op *op, struct reply *reply);
int op_admit_ancillary(struct op *op, struct reply *reply);
/* Log and audit a refusal whose reply->error is filled (decision AUDIT_DENY
 * or AUDIT_QUOTA, by `rule`); returns OP_FAILED. */
int op_refused(struct op *op, const struct reply *reply, enum audit_decision decision,
	       const char *rule);
/* Write a record of the daemon's own `event` about `handle`, allowed by
 * `rule` (NULL: none), if the event is wanted. */
void op_audit_event(struct op *op, const char *event, uint64_t handle, const char *rule);

/* Handoff (ops/handoff.c). op_handoff_allowed(): whether `handle` may go to
 * the op's client now; true with the allowing rule in *rule, else false with
 * `why` filled (kind UNSUPPORTED, DENIED or OS). op_hand_over(): attach a
 * duplicate of its descriptor to the op's reply, set reply->handed_off,
 * audit, and close the handle; 0 or -errno. op_handoff_if_asked(): after a
 * successful connect, accept or create_connection whose request asked for
 * it, hand the socket over when allowed, else leave the reply as it is. */
struct handle;
struct reply_error;
bool op_handoff_allowed(const struct op *op, struct handle *handle, const char **rule,
			struct reply_error *why);
int op_hand_over(struct op *op, struct handle *handle, const char *rule, struct reply *reply);
int op_handoff(struct op *op, struct reply *reply);
void op_handoff_if_asked(struct op *op, struct reply *reply);

/* The socket lifecycle (ops/socket.c). */
int op_hello(struct op *op, struct reply *reply);
int op_socket(struct op *op, struct reply *reply);
int op_socketpair(struct op *op, struct reply *reply);
int op_dup(struct op *op, struct reply *reply);
int op_close(struct op *op, struct reply *reply);
int op_bind(struct op *op, struct reply *reply);
int op_listen(struct op *op, struct reply *reply);
int op_accept(struct op *op, struct reply *reply);
int op_connect(struct op *op, struct reply *reply);
/* A connect's deadline passed: TIMEOUT, or for connect_ex the EAGAIN it reports. */
int op_connect_expired(struct op *op, struct reply *reply);
int op_shutdown(struct op *op, struct reply *reply);
int op_getsockname(struct op *op, struct reply *reply);
int op_getpeername(struct op *op, struct reply *reply);
int op_has_ipv6(struct op *op, struct reply *reply);
int op_has_dualstack_ipv6(struct op *op, struct reply *reply);
int op_cmsg_size(struct op *op, struct reply *reply);

/* Options and handle state (ops/sockopt.c). */
int op_getsockopt(struct op *op, struct reply *reply);
int op_setsockopt(struct op *op, struct reply *reply);
int op_settimeout(struct op *op, struct reply *reply);
int op_gettimeout(struct op *op, struct reply *reply);
int op_set_inheritable(struct op *op, struct reply *reply);
int op_get_inheritable(struct op *op, struct reply *reply);

/* Data transfer (ops/io.c). */
/* 0, or OP_FAILED with reply->error filled when a send's `flags` ask for
 * MSG_FASTOPEN, which the broker refuses (ops/io.c). */
int op_refuse_fastopen(int flags, struct reply *reply);
int op_send(struct op *op, struct reply *reply);
int op_sendall(struct op *op, struct reply *reply);
int op_recv(struct op *op, struct reply *reply);

/* Messages with ancillary data (ops/msg.c): scatter/gather data, control
 * messages through cmsg.c, SCM_RIGHTS between handles and fds. */
int op_sendmsg(struct op *op, struct reply *reply);
int op_recvmsg(struct op *op, struct reply *reply);

/* The name service, on the resolver pool (ops/resolve.c). */
int op_getaddrinfo(struct op *op, struct reply *reply);
int op_getnameinfo(struct op *op, struct reply *reply);
/* gethostbyname, gethostbyname_ex, gethostbyaddr, getfqdn, getprotobyname. */
int op_name_lookup(struct op *op, struct reply *reply);
int op_getservbyname(struct op *op, struct reply *reply);
int op_getservbyport(struct op *op, struct reply *reply);

/* The host's name (ops/host.c). */
int op_gethostname(struct op *op, struct reply *reply);
int op_sethostname(struct op *op, struct reply *reply);

/* Network interfaces (ops/iface.c). */
int op_if_nameindex(struct op *op, struct reply *reply);
int op_if_nametoindex(struct op *op, struct reply *reply);
int op_if_indextoname(struct op *op, struct reply *reply);

/* The session may open `wanted` more handles; else fills reply->error
 * (QUOTA, EMFILE, naming the limit) and returns OP_FAILED (ops/socket.c). */
int op_over_handle_quota(struct op *op, struct reply *reply, size_t wanted);

/* Poll (ops/poll.c). op_poll_expired() answers a Poll whose timeout ran
 * out; op_poll_handle_ready() and op_poll_handle_closed() wake the Polls
 * waiting on a handle (from dispatch_handle_ready() and
 * dispatch_close_handle(); the latter detaches them all). */
int op_poll(struct op *op, struct reply *reply);
int op_poll_expired(struct op *op, struct reply *reply);
void op_poll_handle_ready(struct handle *handle);
void op_poll_handle_closed(struct handle *handle);

/* create_connection and create_server (ops/create.c). */
int op_create_connection(struct op *op, struct reply *reply);
int op_create_server(struct op *op, struct reply *reply);

/* AF_ALG (ops/alg.c). */
int op_sendmsg_afalg(struct op *op, struct reply *reply);

/* The control buffer of sendmsg_afalg for `req` (ALG_SET_OP, then
 * ALG_SET_IV and ALG_SET_AEAD_ASSOCLEN when given) in `buf` of `size`
 * bytes. Returns its length (msg_controllen), or 0 when it does not fit. */
size_t op_afalg_control(const struct request *req, void *buf, size_t size);

/*
 * Administration (ops/admin.c): what sockbrokerctl shows. The handlers run
 * only for an admin identity (OPF_ADMIN, checked by op_admit() through
 * op_admin_allows()); their rows live in op->state until the reply is sent.
 * op_count_decision() counts a policy decision for admin_status, by rule.
 */
struct policy_decision;
int op_admin_status(struct op *op, struct reply *reply);
int op_admin_sessions(struct op *op, struct reply *reply);
int op_admin_handles(struct op *op, struct reply *reply);
/* Whether the session of `op` is an admin: root on ipc/abstract, or a uid,
 * primary gid or token of the configuration's "admin" section. */
bool op_admin_allows(const struct op *op);
void op_count_decision(struct op_context *ctx, const struct policy_decision *decision);

/*
 * What dispatch.c does for handlers (ops/ include nothing of dispatch's).
 * dispatch_close_handle(): complete the handle's parked operations (EBADF,
 * the socket was closed) and close it; returns close()'s result.
 * dispatch_wake(): a parked op that waits with OP_WAIT_EVENT has news (a
 * readiness, a timer, a job back from the pool): run its handler again, and
 * complete the op unless it answers OP_WAIT_EVENT once more. Reactor thread,
 * parked ops only; the op may be freed on return.
 */
int dispatch_close_handle(struct handle *handle);
void dispatch_wake(struct op *op);

/* The op's reply, through dispatch's reply sink: whether it can carry a
 * descriptor (an ipc:// or abstract:// connection), and attaching one (the
 * sink owns `fd` from then on; only where op_can_pass_fds()). */
bool op_can_pass_fds(const struct op *op);
void op_attach_fd(struct op *op, int fd);

/* How long the op's session is kept for a resume after its connection
 * drops, in ms (resume.c; 0: never), for Hello's reply. */
uint32_t op_resume_grace_ms(const struct op *op);

/* Free what an op's handler kept across waits (op->buffer). */
void op_release_progress(struct op *op);

#endif
