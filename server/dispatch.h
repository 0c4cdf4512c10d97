/*
 * Dispatch: the op table (a row per operation, struct op_desc in ops/ops.h:
 * everything about it but its handler's code) and the one path every request
 * takes on the reactor thread, in the order a connection's requests arrive: Hello check -> op lookup ->
 * handle lookup (scoped to the session) -> address resolution -> run ->
 * park or reply. It is the one place where results become wire errors, and
 * it guarantees that every request gets exactly one reply: completed,
 * failed, timed out, cancelled, or abandoned with its session.
 */
#ifndef SOCKBROKER_DISPATCH_H
#define SOCKBROKER_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct daemon;
struct handle;
struct op;
struct peer_identity;
struct session;
struct tx;

/*
 * Where dispatch's answers go: the transport in the daemon (daemon.c), a
 * recorder in the unit tests. Dispatch calls nothing of the transport's
 * itself. Reactor thread.
 */
struct reply_sink {
	/* A buffer of `len` bytes for the reply to `tx`, or NULL when out of
	 * memory. Asking again replaces the buffer. */
	void *(*buffer)(void *userdata, struct tx *tx, size_t len);
	/* Send what was written to the buffer (an empty reply if none was
	 * made): `tx` is answered, and gone. */
	void (*send)(void *userdata, struct tx *tx);
	/* End connection `conn_id` (no session could be made for it). */
	void (*disconnect)(void *userdata, uint32_t conn_id);
	/* Whether the reply to `tx` can carry a descriptor (handoff); NULL: never. */
	bool (*can_pass_fds)(void *userdata, const struct tx *tx);
	/* Attach `fd` to the reply to `tx`; the sink owns it from then on. */
	void (*attach_fd)(void *userdata, struct tx *tx, int fd);
	/* Connection `conn_id`'s memory is counted under identity `key`
	 * (budget_key()) from now on; NULL: nothing to tell. */
	void (*set_identity)(void *userdata, uint32_t conn_id, const char *key);
	void *userdata;
};

/* Fill daemon->ops, the handlers' view of the daemon (ops/ops.h), from the
 * daemon's fields: once they are all set, before the first request. */
void dispatch_context_init(struct daemon *daemon);

/* Take a decoded request from pipe `pipe_id` (ownership of `request` and
 * the duty to answer `tx` pass to dispatch). */
void dispatch_request(struct daemon *daemon, struct tx *tx, uint32_t pipe_id,
		      struct request *request);

/* Answer a request that could not be decoded. */
void dispatch_reply_bad_request(struct daemon *daemon, struct tx *tx,
				const struct wire_error *error);

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

/* Count `session` under its whole identity (token, else uid, else peer), and tell the
 * transport that its connection is that identity's: after its Hello, and on the new
 * connection of a resume (resume.c). */
void dispatch_identify(struct daemon *daemon, struct session *session);

/* End every session (shutdown). */
void dispatch_end_all_sessions(struct daemon *daemon);

/* The fd of `handle` is ready: run its queues. */
void dispatch_handle_ready(struct handle *handle, uint32_t events);

/* The operation's name as the reference spells it ("getsockname"). */
const char *dispatch_op_name(enum op_code op);

#endif
