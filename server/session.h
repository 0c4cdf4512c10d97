/*
 * Sessions: one per client connection, created when the connection has
 * completed its handshake and ended when it goes away. A session carries the
 * peer's identity, its limits, the handles it owns and its parked operations.
 *
 * Invariants: every handle of `handles` belongs to this session; every op of
 * `parked` waits on this session's behalf; at session_free() both lists are
 * empty (the dispatcher completes and closes them first). Reactor thread.
 */
#ifndef SOCKBROKER_SESSION_H
#define SOCKBROKER_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "budget.h"
#include "idmap.h"
#include "list.h"
#include "reactor.h"
#include "transport.h"

#define SESSION_SECRET_LEN 16

struct quota_account;
struct resume_state;

struct session {
	uint64_t id;
	uint32_t pipe_id;
	struct peer_identity identity;
	bool said_hello;
	char client_name[64];
	char token_name[64]; /* the token Hello authenticated with; "" for none */
	uint8_t resume_secret[SESSION_SECRET_LEN];
	struct resume_state *resume; /* resume.h: NULL when it ends with its connection */

	struct quota_account *quota; /* shared with the identity's other sessions; NULL: none */
	/* The memory its operations hold (parked requests, MSG_WAITALL
	 * buffers), charged to its identity (budget.h). */
	struct budget_share budget;

	struct list handles; /* handle::session_link */
	size_t n_handles;
	struct list parked;  /* op::session_link */
	size_t n_parked;
	struct idmap parked_by_seq; /* seq -> op, for Cancel */

	uint64_t started_ns; /* CLOCK_MONOTONIC when the connection was added */
	uint64_t n_requests; /* requests started (ops/admin.c reports them) */


	struct list link; /* session_table::all */
	void *userdata;   /* the dispatcher's */
};

struct session_table {
	struct idmap by_pipe;
	struct list all; /* session::link */
	uint64_t last_id;
};

void session_table_init(struct session_table *table);
void session_table_fini(struct session_table *table);

/* Create the session of pipe `pipe_id`. Returns 0 or -errno. */
int session_new(struct session_table *table, uint32_t pipe_id,
		const struct peer_identity *identity, struct session **out);

/* The session of a pipe, or NULL. */
struct session *session_find(struct session_table *table, uint32_t pipe_id);

/* Take the session out of the table and free it. Its handles and parked
 * operations must be gone (asserted). */
void session_free(struct session_table *table, struct session *session);

/* "session 7 (uid 1000 pid 4242, ipc)": for log lines. */
void session_describe(const struct session *session, char *buf, size_t len);

/* Fill the fields of an audit record that name `session`: its id, peer, token
 * and client name. */
struct audit_record;
void session_audit_fields(struct audit_record *record, const struct session *session);

#endif
