#include "resume.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "config.h"
#include "container.h"
#include "daemon.h"
#include "dispatch.h"
#include "log.h"
#include "ops/ops.h"
#include "reactor.h"
#include "session.h"
#include "transport.h"
#include "wire.h"

/* One reply kept: its SP header (the request id) and its encoded body. */
struct kept_reply {
	struct kept_reply *next;
	uint64_t seq;
	size_t header_len, len;
	uint8_t header[16];
	uint8_t body[];
};

struct resume_state {
	struct daemon *daemon;
	struct session *session;
	uint64_t grace_ns;
	struct kept_reply *head, *tail; /* oldest first */
	size_t bytes;                   /* charged: resume_charge() */
	uint64_t next_seq;              /* one past the highest request seq received */
	bool detached;
	bool lost;      /* detached, and a reply was dropped from the kept ones */
	unsigned skip;  /* replies to pass without keeping: the resuming Hello's own */
	struct reactor_timer grace;
};

/* What a resuming Hello's reply points at until it is encoded (op->state). */
struct missed {
	uint32_t *ids;
	const uint8_t **bodies;
	size_t *lens;
	size_t n;
	size_t pending; /* distinct seqs the client named */
};

/* Ends the fresh session of the connection that resumed another, once its Hello is
 * answered. */
struct end_task {
	struct reactor_task task;
	struct daemon *daemon;
	uint64_t session_id;
	char why[64];
};

static struct resume_state *
state_of(struct daemon *daemon, uint32_t conn_id)
{
	struct session *session = conn_id ? session_find(&daemon->sessions, conn_id) : NULL;
	return session ? session->resume : NULL;
}

uint32_t
resume_grace_ms(const struct daemon *daemon, const struct session *session)
{
	enum policy_transport t = session->identity.transport;
	if (t == POLICY_TRANSPORT_ABSTRACT)
		t = POLICY_TRANSPORT_IPC;
	return daemon->config->resume_grace_s[t] * 1000u;
}

/* The one place kept bytes are charged, to the session's bound and to its identity's
 * memory (budget.h): false when `delta` more would pass either. */
static bool
resume_charge(struct resume_state *state, ptrdiff_t delta)
{
	struct budget_share *share = &state->session->budget;
	if (delta > 0 &&
	    (state->bytes + (size_t)delta > state->daemon->config->resume_buffer_bytes ||
	     budget_share_try(share, (uint64_t)delta)))
		return false;
	if (delta < 0)
		budget_share_release(share, (uint64_t)-delta);
	state->bytes = (size_t)((ptrdiff_t)state->bytes + delta);
	return true;
}

static void
drop_oldest(struct resume_state *state)
{
	struct kept_reply *k = state->head;
	state->head = k->next;
	if (!state->head)
		state->tail = NULL;
	resume_charge(state, -(ptrdiff_t)(sizeof(*k) + k->len));
	free(k);
}

/* Keep a copy of one reply, dropping the oldest ones to make room. A detached session that
 * must drop one can no longer be resumed. */
static void
keep(struct resume_state *state, uint64_t seq, const uint8_t *header, size_t header_len,
     const void *body, size_t len)
{
	size_t need = sizeof(struct kept_reply) + len;
	if (header_len > sizeof(((struct kept_reply *)0)->header) ||
	    need > state->daemon->config->resume_buffer_bytes) {
		state->lost = state->lost || state->detached;
		return;
	}
	while (state->head && !resume_charge(state, (ptrdiff_t)need)) {
		state->lost = state->lost || state->detached;
		drop_oldest(state);
	}
	if (!state->head && !resume_charge(state, (ptrdiff_t)need)) {
		state->lost = state->lost || state->detached;
		return;
	}
	struct kept_reply *k = malloc(need);
	if (!k) {
		resume_charge(state, -(ptrdiff_t)need);
		state->lost = state->lost || state->detached;
		return;
	}
	k->next = NULL;
	k->seq = seq;
	k->header_len = header_len;
	memcpy(k->header, header, header_len);
	k->len = len;
	if (len)
		memcpy(k->body, body, len);
	if (state->tail)
		state->tail->next = k;
	else
		state->head = k;
	state->tail = k;
}

static void
audit_event(struct daemon *daemon, const struct session *session, const char *event,
	    enum audit_decision decision, int errnum, const char *message, int64_t a,
	    const char *a_key, int64_t b, const char *b_key)
{
	if (decision != AUDIT_DENY && !audit_wants(daemon->audit, event))
		return;
	struct audit_record record = {
		.event = event,
		.decision = decision,
		.rule = decision == AUDIT_DENY ? "resume" : NULL,
		.errnum = errnum,
		.error_kind = errnum ? (errnum == EACCES ? "denied" : "bad_request") : NULL,
		.message = errnum ? message : NULL,
	};
	session_audit_fields(&record, session);
	if (a_key)
		audit_arg_int(&record, a_key, a);
	if (b_key)
		audit_arg_int(&record, b_key, b);
	audit_write(daemon->audit, &record);
}

static void
grace_expired(struct reactor_timer *timer)
{
	struct resume_state *state = container_of(timer, struct resume_state, grace);
	dispatch_end_session(state->daemon, state->session,
			     "not resumed within its grace period");
}

void
resume_session_added(struct daemon *daemon, struct session *session)
{
	uint32_t grace_ms = resume_grace_ms(daemon, session);
	if (grace_ms == 0 || session->resume)
		return;
	struct resume_state *state = calloc(1, sizeof(*state));
	if (!state) {
		log_warn("session %llu: out of memory to make it resumable; it ends with its "
			 "connection", (unsigned long long)session->id);
		return;
	}
	state->daemon = daemon;
	state->session = session;
	state->grace_ns = (uint64_t)grace_ms * 1000000u;
	state->next_seq = 1;
	reactor_timer_init(&state->grace, grace_expired);
	session->resume = state;
	transport_set_tag(daemon->transport, session->pipe_id, session);
}

bool
resume_detach(struct daemon *daemon, uint32_t conn_id)
{
	struct resume_state *state = state_of(daemon, conn_id);
	if (!state || daemon->stopping || !state->session->said_hello)
		return false;
	struct session *session = state->session;
	/* Detached sessions hold no connection, so limits.max_sessions, which counts
	 * connections, bounds them apart: at most as many again. */
	size_t detached = 0, mine = 0;
	struct list *link, *tmp;
	list_for_each_safe(link, tmp, &daemon->sessions.all) {
		const struct session *s = list_entry(link, struct session, link);
		bool d = s->resume && s->resume->detached;
		detached += d;
		/* And one identity's by limits.max_sessions_per_identity, so that it cannot
		 * take every one. */
		mine += d && s->budget.account && s->budget.account == session->budget.account;
	}
	if (detached >= daemon->config->max_sessions) {
		log_warn("session %llu: connection lost; not kept for a resume: %zu sessions are "
			 "detached already (limits.max_sessions)",
			 (unsigned long long)session->id, detached);
		return false;
	}
	uint32_t per_identity = daemon->budget.connections_per_identity;
	if (per_identity && mine >= per_identity) {
		log_warn("session %llu: connection lost; not kept for a resume: %zu sessions of "
			 "its identity are detached already (limits.max_sessions_per_identity)",
			 (unsigned long long)session->id, mine);
		return false;
	}
	if (reactor_timer_arm(daemon->reactor, &state->grace, reactor_now_ns() + state->grace_ns) <
	    0)
		return false;
	/* Out of the table: no connection is its any more. */
	idmap_remove(&daemon->sessions.by_pipe, session->pipe_id);
	session->pipe_id = 0;
	state->detached = true;
	char who[160];
	session_describe(session, who, sizeof(who));
	log_info("%s: connection lost; detached with %zu sockets and %zu waiting operations, "
		 "kept %llu s for its client to resume it",
		 who, session->n_handles, session->n_parked,
		 (unsigned long long)(state->grace_ns / 1000000000u));
	audit_event(daemon, session, "sockbroker.session.detach", AUDIT_NO_DECISION, 0, NULL,
		    (int64_t)session->n_handles, "handles", (int64_t)(state->grace_ns / 1000000u),
		    "grace_ms");
	return true;
}

void
resume_note_request(struct daemon *daemon, uint32_t conn_id, uint64_t seq)
{
	struct resume_state *state = state_of(daemon, conn_id);
	if (state && seq >= state->next_seq)
		state->next_seq = seq + 1;
}

uint32_t
resume_reply_route(void *userdata, void *tag, uint32_t conn_id, const uint8_t *header,
		   size_t header_len, const void *body, size_t len)
{
	(void)userdata;
	struct session *session = tag;
	struct resume_state *state = session->resume;
	if (!state)
		return conn_id;
	if (state->skip) {
		state->skip--;
		return conn_id;
	}
	keep(state, wire_reply_seq(body, len), header, header_len, body, len);
	return state->detached ? 0 : session->pipe_id;
}

/* ---- taking a session over ----------------------------------------------- */

static bool
secret_equal(const uint8_t *a, const uint8_t *b)
{
	uint8_t diff = 0;
	for (size_t i = 0; i < SESSION_SECRET_LEN; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

static struct session *
find_by_secret(struct daemon *daemon, const uint8_t *secret, const struct session *self)
{
	struct session *found = NULL;
	struct list *link, *tmp;
	list_for_each_safe(link, tmp, &daemon->sessions.all) {
		struct session *s = list_entry(link, struct session, link);
		/* Every candidate is compared: the time taken does not tell which matched. */
		bool equal = secret_equal(s->resume_secret, secret);
		if (equal && s != self && s->resume && s->said_hello && !found)
			found = s;
	}
	return found;
}

/* Whether `b` (the new connection) is the identity of `a` (the session to resume). */
static bool
same_principal(const struct session *a, const struct session *b)
{
	const struct peer_identity *x = &a->identity, *y = &b->identity;
	if (x->transport != y->transport || x->tls_verified != y->tls_verified ||
	    strcmp(a->token_name, b->token_name) != 0)
		return false;
	if (x->tls_verified && memcmp(x->cert_sha256, y->cert_sha256, sizeof(x->cert_sha256)))
		return false;
	if (x->has_credentials != y->has_credentials ||
	    (x->has_credentials && (x->uid != y->uid || x->gid != y->gid)))
		return false;
	return true;
}

static int
compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void
release_missed(struct op *op)
{
	struct missed *m = op->state;
	if (!m)
		return;
	free(m->ids);
	free(m->bodies);
	free(m->lens);
	free(m);
	op->state = NULL;
}

static void
run_end_task(struct reactor_task *task)
{
	struct end_task *t = (struct end_task *)(void *)task;
	struct list *link, *tmp;
	list_for_each_safe(link, tmp, &t->daemon->sessions.all) {
		struct session *s = list_entry(link, struct session, link);
		if (s->id == t->session_id) {
			dispatch_end_session(t->daemon, s, t->why);
			break;
		}
	}
	free(t);
}

/* End session `session_id` once the reply being made is sent. */
static void
defer_end(struct end_task *end, struct daemon *daemon, uint64_t session_id, const char *why)
{
	end->task.run = run_end_task;
	end->daemon = daemon;
	end->session_id = session_id;
	snprintf(end->why, sizeof(end->why), "%s", why);
	reactor_defer(daemon->reactor, &end->task);
}

static int
refuse(struct op *op, struct reply *reply, const struct session *target, int errnum,
       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
refuse(struct op *op, struct reply *reply, const struct session *target, int errnum,
       const char *fmt, ...)
{
	va_list ap;
	char who[160];

	op_fail(reply, errnum == EACCES ? ERROR_DENIED : ERROR_BAD_REQUEST, errnum, "%s", "");
	if (errnum == EACCES)
		reply->error.rule = "resume";
	va_start(ap, fmt);
	vsnprintf(reply->error.message, sizeof(reply->error.message), fmt, ap);
	va_end(ap);
	session_describe(op->session, who, sizeof(who));
	log_info("%s: resume refused: %s", who, reply->error.message);
	audit_event(op->daemon, op->session, "sockbroker.session.resume", AUDIT_DENY, errnum,
		    reply->error.message, target ? (int64_t)target->id : 0,
		    target ? "resumed_session" : NULL, 0, NULL);
	op->audited = true;
	return OP_FAILED;
}

/* The session a Hello's resume secret names, if this connection may take it over:
 * 0 with `*out` set, or OP_FAILED with the refusal in `reply`. */
static int
find_resumable(struct op *op, struct reply *reply, struct session **out)
{
	struct daemon *daemon = op->daemon;
	struct session *self = op->session;
	const struct request *req = op->req;

	if (self->said_hello)
		return refuse(op, reply, NULL, ESTALE,
			      "hello.resume_secret: this connection's session has said Hello "
			      "already; resume on a new connection");
	struct session *target = find_by_secret(daemon, req->hello.resume_secret, self);
	if (!target)
		return refuse(op, reply, NULL, ESTALE,
			      "hello.resume_secret: no session of this daemon has this secret (it "
			      "ended: its grace period passed, its transport keeps none, or the "
			      "daemon restarted); say Hello without a resume secret to start a new "
			      "session");
	if (!same_principal(target, self))
		return refuse(op, reply, target, EACCES,
			      "the session of this resume secret belongs to another identity (its "
			      "transport, client certificate, token or uid differ); resume it as "
			      "the identity that started it");
	struct resume_state *state = target->resume;
	if (state->lost)
		return refuse(op, reply, target, ESTALE,
			      "session %llu cannot be resumed: more replies came while it was "
			      "detached than remote.resume_buffer_bytes keeps; say Hello without "
			      "a resume secret to start a new session",
			      (unsigned long long)target->id);
	*out = target;
	return 0;
}

/* The kept replies of the seqs the client waits for, into a `struct missed` owned by
 * `op`: 0 with `*out` set, or OP_FAILED with the refusal or error in `reply`. */
static int
collect_missed(struct op *op, struct reply *reply, struct session *target,
	       struct missed **out)
{
	struct daemon *daemon = op->daemon;
	const struct request *req = op->req;
	struct resume_state *state = target->resume;

	/* The replies the client waits for: kept ones go in the reply, those of waiting
	 * operations will follow, those never received the client sends again. */
	size_t n = req->hello.n_pending_seqs;
	uint64_t *pending = malloc((n ? n : 1) * sizeof(*pending));
	struct missed *m = calloc(1, sizeof(*m));
	if (!pending || !m) {
		free(pending);
		free(m);
		return op_fail(reply, ERROR_OS, ENOMEM, "out of memory to resume a session");
	}
	if (n)
		memcpy(pending, req->hello.pending_seqs, n * sizeof(*pending));
	qsort(pending, n, sizeof(*pending), compare_u64);
	/* Each seq once: a Hello repeating one seq costs no more than naming it once. */
	size_t unique = 0;
	for (size_t i = 0; i < n; i++)
		if (unique == 0 || pending[unique - 1] != pending[i])
			pending[unique++] = pending[i];
	n = unique;
	m->pending = n;
	/* found[i]: pending[i] has a kept reply (marked in the one walk of the kept list). */
	bool *found = calloc(n ? n : 1, sizeof(*found));
	if (!found) {
		free(pending);
		free(m);
		return op_fail(reply, ERROR_OS, ENOMEM, "out of memory to resume a session");
	}
	size_t n_kept = 0, total = 0;
	for (struct kept_reply *k = state->head; k; k = k->next)
		n_kept++;
	m->ids = calloc(n_kept ? n_kept : 1, sizeof(*m->ids));
	m->bodies = calloc(n_kept ? n_kept : 1, sizeof(*m->bodies));
	m->lens = calloc(n_kept ? n_kept : 1, sizeof(*m->lens));
	op->state = m;
	op->release_state = release_missed;
	if (!m->ids || !m->bodies || !m->lens) {
		free(pending);
		free(found);
		return op_fail(reply, ERROR_OS, ENOMEM, "out of memory to resume a session");
	}
	/* A seq may have been answered more than once (never by this daemon, but the kept
	 * list is searched from the newest): the latest reply of each seq counts. */
	for (struct kept_reply *k = state->head; k; k = k->next) {
		const uint64_t *hit =
			k->seq ? bsearch(&k->seq, pending, n, sizeof(*pending), compare_u64) : NULL;
		if (!hit)
			continue;
		found[hit - pending] = true;
		uint32_t id = 0;
		for (size_t i = 0; i + 4 <= k->header_len; i += 4)
			id = (uint32_t)k->header[i] << 24 | (uint32_t)k->header[i + 1] << 16 |
			     (uint32_t)k->header[i + 2] << 8 | k->header[i + 3];
		m->ids[m->n] = id;
		m->bodies[m->n] = k->body;
		m->lens[m->n] = k->len;
		total += k->len + 16;
		m->n++;
	}
	/* Every other seq must still be waiting, or never have arrived. */
	for (size_t i = 0; i < n; i++) {
		uint64_t seq = pending[i];
		if (found[i] || seq >= state->next_seq || idmap_get(&target->parked_by_seq, seq))
			continue;
		free(pending);
		free(found);
		return refuse(op, reply, target, ESTALE,
			      "session %llu cannot be resumed: the reply to request %llu is no "
			      "longer kept (remote.resume_buffer_bytes); say Hello without a "
			      "resume secret to start a new session",
			      (unsigned long long)target->id, (unsigned long long)seq);
	}
	free(pending);
	free(found);
	if (total + 64 * 1024 > daemon->config->max_message_size)
		return refuse(op, reply, target, ESTALE,
			      "session %llu cannot be resumed: its missed replies (%zu bytes) do "
			      "not fit in one message (limits.max_message_size)",
			      (unsigned long long)target->id, total);
	*out = m;
	return 0;
}

/* Move `target` onto `self`'s connection: 0, or OP_FAILED with the error in `reply`
 * (`target` has ended then, and `end` is used or freed). */
static int
move_to_connection(struct op *op, struct reply *reply, struct session *target,
		   struct end_task *end)
{
	struct daemon *daemon = op->daemon;
	struct session *self = op->session;
	struct resume_state *state = target->resume;

	/* An old connection the daemon still holds is one the client gave up. */
	if (!state->detached) {
		transport_disconnect(daemon->transport, target->pipe_id);
		idmap_remove(&daemon->sessions.by_pipe, target->pipe_id);
	}
	reactor_timer_cancel(daemon->reactor, &state->grace);
	uint32_t conn_id = self->pipe_id;
	idmap_remove(&daemon->sessions.by_pipe, conn_id);
	self->pipe_id = 0;
	target->pipe_id = conn_id;
	if (idmap_put(&daemon->sessions.by_pipe, conn_id, target) < 0) {
		/* Without a table entry its requests would find no session: end it. The fresh
		 * session gets its connection back, or, failing that, ends after this reply
		 * (not left on the session list with no connection). */
		target->pipe_id = 0;
		state->detached = true;
		self->pipe_id = conn_id;
		if (idmap_put(&daemon->sessions.by_pipe, conn_id, self) < 0) {
			self->pipe_id = 0;
			defer_end(end, daemon, self->id, "out of memory while it resumed a session");
			transport_disconnect(daemon->transport, conn_id);
		} else {
			free(end);
		}
		dispatch_end_session(daemon, target, "out of memory while it was resumed");
		return op_fail(reply, ERROR_OS, ENOMEM, "out of memory to resume a session");
	}
	transport_set_tag(daemon->transport, conn_id, target);
	/* The new connection's address is the session's now (the principal is the same). */
	target->identity = self->identity;
	/* Its memory is counted, and its connection read (or paused), as its identity's. */
	dispatch_identify(daemon, target);
	state->detached = false;
	state->skip = 1; /* this Hello's reply, from `target` now */
	return 0;
}

int
resume_take_over(struct op *op, struct reply *reply, struct session **resumed)
{
	struct daemon *daemon = op->daemon;
	struct session *self = op->session;
	struct session *target = NULL;
	struct missed *m = NULL;

	int rc = find_resumable(op, reply, &target);
	if (rc)
		return rc;
	struct resume_state *state = target->resume;
	rc = collect_missed(op, reply, target, &m);
	if (rc)
		return rc;

	struct end_task *end = calloc(1, sizeof(*end));
	if (!end)
		return op_fail(reply, ERROR_OS, ENOMEM, "out of memory to resume a session");
	rc = move_to_connection(op, reply, target, end);
	if (rc)
		return rc;

	char why[64];
	snprintf(why, sizeof(why), "it resumed session %llu", (unsigned long long)target->id);
	defer_end(end, daemon, self->id, why);

	char who[160];
	session_describe(target, who, sizeof(who));
	log_info("%s: resumed on a new connection; %zu missed replies handed over", who, m->n);
	audit_event(daemon, target, "sockbroker.session.resume", AUDIT_ALLOW, 0, NULL,
		    (int64_t)m->n, "missed_replies", (int64_t)m->pending, "pending");
	op->audited = true;

	reply->hello.resumed = true;
	reply->hello.resume_next_seq = state->next_seq;
	reply->hello.missed_request_ids = m->ids;
	reply->hello.missed_replies = m->bodies;
	reply->hello.missed_lens = m->lens;
	reply->hello.n_missed = m->n;
	*resumed = target;
	return 0;
}

void
resume_free(struct resume_state *state)
{
	if (!state)
		return;
	reactor_timer_cancel(state->daemon->reactor, &state->grace);
	/* Its connection, if it still has one, must not route to it any more. */
	if (state->session->pipe_id)
		transport_set_tag(state->daemon->transport, state->session->pipe_id, NULL);
	while (state->head)
		drop_oldest(state);
	free(state);
}
