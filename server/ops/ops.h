/*
 * Operations: what a handler sees and returns. dispatch.c decodes nothing and
 * runs nothing itself; it finds the entry of the op table, checks what the
 * entry's flags demand (a Hello first, a handle of this session, an address
 * resolved), and calls the handler with a `struct op` and a reply to fill.
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
 * Handlers run on the reactor thread and never block.
 */
#ifndef SOCKBROKER_OPS_H
#define SOCKBROKER_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "../addr.h"
#include "../list.h"
#include "../reactor.h"
#include "../wire.h"

struct daemon;
struct handle;
struct session;
struct tx;
struct resolve_job;

enum op_result {
	OP_DONE = 0,
	OP_WAIT_READ = 1,
	OP_WAIT_WRITE = 2,
	OP_FAILED = 3,
};

enum op_wait {
	WAIT_NONE,    /* running, not parked */
	WAIT_QUEUED,  /* behind earlier operations on the same queue */
	WAIT_IO,      /* the fd would block */
	WAIT_RESOLVE, /* the address's host name is being resolved */
};

struct op {
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
	bool started;    /* connect: the kernel connect() was issued */
};

/* Table entry flags. */
enum {
	OPF_BEFORE_HELLO = 1 << 0, /* allowed before Hello */
	OPF_HANDLE = 1 << 1,       /* req->handle must name a handle of the session */
	OPF_ADDRESS = 1 << 2,      /* req carries an address to resolve into op->target */
	OPF_QUEUE_READ = 1 << 3,   /* may wait for readability; FIFO on parked_reads */
	OPF_QUEUE_WRITE = 1 << 4,  /* may wait for writability; FIFO on parked_writes */
};

struct op_desc {
	enum op_code op;
	const char *name;
	unsigned flags;
	int (*run)(struct op *op, struct reply *reply);
};

/* Fill reply->error as a request error (kind BAD_REQUEST etc.) and return
 * OP_FAILED, for a handler's `return op_fail(...)`. */
int op_fail(struct reply *reply, enum error_kind kind, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

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
int op_send(struct op *op, struct reply *reply);
int op_sendall(struct op *op, struct reply *reply);
int op_recv(struct op *op, struct reply *reply);

/* Free what an op's handler kept across waits (op->buffer). */
void op_release_progress(struct op *op);

#endif
