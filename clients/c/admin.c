/*
 * The admin operations (sockbrokerctl): admin_status, admin_sessions and
 * admin_handles, their replies copied into plain structs the caller owns.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sockbroker.pb-c.h"

/* A copy of a string of the reply ("" for an absent one), or NULL when out
 * of memory (*failed is set then). */
static char *
copy(const char *text, bool *failed)
{
	char *s = strdup(text ? text : "");
	if (!s)
		*failed = true;
	return s;
}

void
sb_admin_status_free(struct sb_admin_status *status)
{
	if (!status)
		return;
	free(status->version);
	for (size_t i = 0; status->listeners && i < status->n_listeners; i++)
		free(status->listeners[i]);
	free(status->listeners);
	for (size_t i = 0; status->identities && i < status->n_identities; i++)
		free(status->identities[i].identity);
	free(status->identities);
	for (size_t i = 0; status->rules && i < status->n_rules; i++)
		free(status->rules[i].name);
	free(status->rules);
	for (size_t i = 0; status->quotas && i < status->n_quotas; i++) {
		free(status->quotas[i].quota);
		free(status->quotas[i].account);
	}
	free(status->quotas);
	free(status);
}

int
sb_admin_status(struct sb_client *c, struct sb_admin_status **status, struct sb_error *err)
{
	Sockbroker__V1__Empty args = SOCKBROKER__V1__EMPTY__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	const Sockbroker__V1__AdminStatusReply *m;
	Sockbroker__V1__Reply *reply;
	struct sb_admin_status *s;
	bool failed = false;
	int r;

	if (!status)
		return sb__missing_argument(err, "status");
	request.op_case = SOCKBROKER__V1__REQUEST__OP_ADMIN_STATUS;
	request.admin_status = &args;
	r = sb__call(c, &request, 0, SOCKBROKER__V1__REPLY__RESULT_ADMIN_STATUS, &reply, err);
	if (r < 0)
		return r;
	m = reply->admin_status;
	if (!(s = calloc(1, sizeof(*s)))) {
		sb__reply_free(reply);
		return sb__out_of_memory(err);
	}
	s->version = copy(m->version, &failed);
	s->pid = m->pid;
	s->uptime = m->uptime;
	s->sessions = m->sessions;
	s->handles = m->handles;
	s->parked = m->parked;
	s->requests = m->requests;
	s->max_handles_per_session = m->max_handles_per_session;
	s->max_parked_per_session = m->max_parked_per_session;
	s->max_sessions = m->max_sessions;
	s->rss_bytes = m->rss_bytes;
	s->listeners = calloc(m->n_listeners + 1, sizeof(*s->listeners));
	s->identities = calloc(m->n_identities + 1, sizeof(*s->identities));
	s->rules = calloc(m->n_rules + 1, sizeof(*s->rules));
	s->quotas = calloc(m->n_quotas + 1, sizeof(*s->quotas));
	if (!s->listeners || !s->identities || !s->rules || !s->quotas)
		failed = true;
	for (size_t i = 0; !failed && i < m->n_listeners; i++, s->n_listeners++)
		s->listeners[i] = copy(m->listeners[i], &failed);
	for (size_t i = 0; !failed && i < m->n_identities; i++, s->n_identities++) {
		const Sockbroker__V1__AdminIdentity *w = m->identities[i];
		s->identities[i].identity = copy(w->identity, &failed);
		s->identities[i].sessions = w->sessions;
		s->identities[i].handles = w->handles;
		s->identities[i].parked = w->parked;
	}
	for (size_t i = 0; !failed && i < m->n_rules; i++, s->n_rules++) {
		const Sockbroker__V1__AdminRule *w = m->rules[i];
		s->rules[i].name = copy(w->name, &failed);
		s->rules[i].allow = w->allow;
		s->rules[i].allowed = w->allowed;
		s->rules[i].denied = w->denied;
	}
	for (size_t i = 0; !failed && i < m->n_quotas; i++, s->n_quotas++) {
		const Sockbroker__V1__AdminQuota *w = m->quotas[i];
		s->quotas[i].quota = copy(w->quota, &failed);
		s->quotas[i].account = copy(w->account, &failed);
		s->quotas[i].sessions = w->sessions;
		s->quotas[i].handles = w->handles;
		s->quotas[i].max_handles = w->max_handles;
		s->quotas[i].parked = w->parked;
		s->quotas[i].max_parked = w->max_parked;
	}
	sb__reply_free(reply);
	if (failed) {
		sb_admin_status_free(s);
		return sb__out_of_memory(err);
	}
	*status = s;
	return 0;
}

void
sb_admin_sessions_free(struct sb_admin_session *sessions, size_t count)
{
	if (!sessions)
		return;
	for (size_t i = 0; i < count; i++) {
		free(sessions[i].token_name);
		free(sessions[i].peer);
		free(sessions[i].transport);
		free(sessions[i].client_name);
	}
	free(sessions);
}

int
sb_admin_sessions(struct sb_client *c, struct sb_admin_session **sessions, size_t *count,
		  struct sb_error *err)
{
	Sockbroker__V1__Empty args = SOCKBROKER__V1__EMPTY__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	const Sockbroker__V1__AdminSessionsReply *m;
	Sockbroker__V1__Reply *reply;
	struct sb_admin_session *list;
	bool failed = false;
	size_t n = 0;
	int r;

	if (!sessions)
		return sb__missing_argument(err, "sessions");
	if (!count)
		return sb__missing_argument(err, "count");
	request.op_case = SOCKBROKER__V1__REQUEST__OP_ADMIN_SESSIONS;
	request.admin_sessions = &args;
	r = sb__call(c, &request, 0, SOCKBROKER__V1__REPLY__RESULT_ADMIN_SESSIONS, &reply, err);
	if (r < 0)
		return r;
	m = reply->admin_sessions;
	if (!(list = calloc(m->n_sessions + 1, sizeof(*list)))) {
		sb__reply_free(reply);
		return sb__out_of_memory(err);
	}
	for (; !failed && n < m->n_sessions; n++) {
		const Sockbroker__V1__AdminSession *w = m->sessions[n];
		const Sockbroker__V1__Identity *id = w->identity;
		struct sb_admin_session *row = &list[n];
		row->id = w->id;
		if (id) {
			row->has_credentials = id->has_uid;
			row->uid = id->uid;
			row->gid = id->gid;
			row->pid = id->pid;
			row->tls_verified = id->tls_verified;
		}
		row->token_name = copy(id ? id->token_name : NULL, &failed);
		row->peer = copy(id ? id->peer : NULL, &failed);
		row->transport = copy(w->transport, &failed);
		row->client_name = copy(w->client_name, &failed);
		row->handles = w->handles;
		row->parked = w->parked;
		row->requests = w->requests;
		row->age = w->age;
	}
	sb__reply_free(reply);
	if (failed) {
		sb_admin_sessions_free(list, n);
		return sb__out_of_memory(err);
	}
	*sessions = list;
	*count = n;
	return 0;
}

void
sb_admin_handles_free(struct sb_admin_handle *handles, size_t count)
{
	if (!handles)
		return;
	for (size_t i = 0; i < count; i++)
		free(handles[i].state);
	free(handles);
}

int
sb_admin_handles(struct sb_client *c, uint64_t session, struct sb_admin_handle **handles,
		 size_t *count, struct sb_error *err)
{
	Sockbroker__V1__AdminHandlesRequest args = SOCKBROKER__V1__ADMIN_HANDLES_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	const Sockbroker__V1__AdminHandlesReply *m;
	Sockbroker__V1__Reply *reply;
	struct sb_admin_handle *list;
	bool failed = false;
	size_t n = 0;
	int r;

	if (!handles)
		return sb__missing_argument(err, "handles");
	if (!count)
		return sb__missing_argument(err, "count");
	if (session) {
		args.has_session = true;
		args.session = session;
	}
	request.op_case = SOCKBROKER__V1__REQUEST__OP_ADMIN_HANDLES;
	request.admin_handles = &args;
	r = sb__call(c, &request, 0, SOCKBROKER__V1__REPLY__RESULT_ADMIN_HANDLES, &reply, err);
	if (r < 0)
		return r;
	m = reply->admin_handles;
	if (!(list = calloc(m->n_handles + 1, sizeof(*list)))) {
		sb__reply_free(reply);
		return sb__out_of_memory(err);
	}
	for (; !failed && n < m->n_handles; n++) {
		const Sockbroker__V1__AdminHandle *w = m->handles[n];
		struct sb_admin_handle *row = &list[n];
		row->session = w->session;
		row->handle = w->handle;
		row->family = w->family;
		row->type = w->type;
		row->proto = w->proto;
		row->state = copy(w->state, &failed);
		if ((row->has_local = w->local != NULL))
			sb__addr_from_wire(&row->local, w->local);
		if ((row->has_peer = w->peer != NULL))
			sb__addr_from_wire(&row->peer, w->peer);
		row->queued_reads = w->queued_reads;
		row->queued_writes = w->queued_writes;
		row->bytes_in = w->bytes_in;
		row->bytes_out = w->bytes_out;
		row->timeout = w->has_timeout ? w->timeout : SB_TIMEOUT_NONE;
	}
	sb__reply_free(reply);
	if (failed) {
		sb_admin_handles_free(list, n);
		return sb__out_of_memory(err);
	}
	*handles = list;
	*count = n;
	return 0;
}
