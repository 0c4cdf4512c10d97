/*
 * Dispatch: the op table and the one path every request takes on the
 * reactor thread, in the order a connection's requests arrive: Hello check -> op lookup ->
 * handle lookup (scoped to the session) -> address resolution -> run ->
 * park or reply. It is the one place where results become wire errors, and
 * it guarantees that every request gets exactly one reply: completed,
 * failed, timed out, cancelled, or abandoned with its session.
 */
#ifndef SOCKBROKER_DISPATCH_H
#define SOCKBROKER_DISPATCH_H

#include <stdint.h>

#include "wire.h"

struct daemon;
struct handle;
struct op;
struct peer_identity;
struct session;
struct tx;

/* Take a decoded request from pipe `pipe_id` (ownership of `request` and
 * the duty to answer `tx` pass to dispatch). */
void dispatch_request(struct daemon *daemon, struct tx *tx, uint32_t pipe_id,
		      struct request *request);

/* Answer a request that could not be decoded (any thread). */
void dispatch_reply_bad_request(struct tx *tx, const struct wire_error *error);

/* A connection was added: create its session. */
void dispatch_session_added(struct daemon *daemon, uint32_t pipe_id,
			    const struct peer_identity *identity);

/* A connection went away: complete its parked operations, close its
 * handles, and free the session. */
void dispatch_session_removed(struct daemon *daemon, uint32_t pipe_id);

/* End `session` now, as a dropped connection ends it, `why` in its log line and audit
 * record (resume.c: a detached session whose grace period passed). */
struct session;
void dispatch_end_session(struct daemon *daemon, struct session *session, const char *why);

/* End every session (shutdown). */
void dispatch_end_all_sessions(struct daemon *daemon);

/* Complete the handle's parked operations (EBADF, the socket was closed)
 * and close it. Returns close()'s result. */
int dispatch_close_handle(struct daemon *daemon, struct handle *handle);

/* The fd of `handle` is ready: run its queues. */
void dispatch_handle_ready(struct handle *handle, uint32_t events);

/* A parked op that waits with OP_WAIT_EVENT has news (a readiness, a timer,
 * a job back from the pool): run its handler again, and complete the op
 * unless it answers OP_WAIT_EVENT once more. Reactor thread, parked ops
 * only; the op may be freed on return. */
void dispatch_wake(struct op *op);

/* The operation's name as the reference spells it ("getsockname"). */
const char *dispatch_op_name(enum op_code op);

#endif
