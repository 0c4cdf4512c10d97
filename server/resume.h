/*
 * resume: sessions that outlive their connection. A session of a transport
 * with a grace period (remote.resume_grace_*_s) is resumable: when its
 * connection drops it is detached, not ended; its sockets stay open and its
 * waiting operations go on. A Hello on a new connection that brings the
 * session's resume secret, from the same identity, takes it over
 * (resume_take_over()); the grace period passing first ends it as a dropped
 * connection ends a session today.
 *
 * Replies: every reply of a resumable session passes resume_reply_route()
 * (the transport's reply_route callback) in the order its client reads
 * them, and is kept, the latest ones up to remote.resume_buffer_bytes, so
 * that those the client never got (sent while the link was down, or lost
 * with it) can be handed over in the resuming HelloReply; a reply of a
 * request still waiting goes, when it comes, to the connection that took
 * the session over, with its first request id. The client names the
 * requests it waits for; those the daemon never received it sends again.
 * A detached session whose kept replies outgrow the bound can no longer be
 * resumed (a reply the client needs is gone) and ends with its grace period.
 * At most limits.max_sessions sessions are detached at once; a connection
 * that drops beyond that ends its session.
 *
 * The bytes kept are charged in one place, resume_charge(), against the
 * per-session bound.
 *
 * Audit: sockbroker.session.detach when a session is detached,
 * sockbroker.session.resume for each resuming Hello (allowed or refused, one
 * record per decision). Reactor thread.
 */
#ifndef SOCKBROKER_RESUME_H
#define SOCKBROKER_RESUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct daemon;
struct op;
struct reply;
struct session;
struct resume_state;

/* A session was added on connection `session->pipe_id`: make it resumable when its
 * transport has a grace period. */
void resume_session_added(struct daemon *daemon, struct session *session);

/* Connection `conn_id` went away: detach its session when it is resumable (it said Hello
 * and the daemon is not stopping). True when detached: the session lives on. */
bool resume_detach(struct daemon *daemon, uint32_t conn_id);

/* A request with `seq` (0: none) arrived on connection `conn_id`. */
void resume_note_request(struct daemon *daemon, uint32_t conn_id, uint64_t seq);

/* The transport's reply_route callback (transport.h): `tag` is the session. */
uint32_t resume_reply_route(void *userdata, void *tag, uint32_t conn_id, const uint8_t *header,
			    size_t header_len, const void *body, size_t len);

/* The Hello of `op` brings a resume secret: take the session it names over onto this
 * connection. On success 0, with *resumed the session (its reply fields in
 * reply->hello filled: resumed, next seq, missed replies); `op`'s own fresh session ends
 * once the Hello is answered. Otherwise OP_FAILED with the refusal in `reply` (ESTALE: no
 * such session, or it cannot be resumed; EACCES: another identity's), audited. */
int resume_take_over(struct op *op, struct reply *reply, struct session **resumed);

/* The grace period of the transport of `session` in milliseconds (0: not resumable). */
uint32_t resume_grace_ms(const struct daemon *daemon, const struct session *session);

/* Release what the session's resume state holds (session_free() calls it). NULL: no-op. */
void resume_free(struct resume_state *state);

#endif
