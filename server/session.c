#include "session.h"

#include "audit.h"
#include "resume.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

void
session_table_init(struct session_table *table)
{
	idmap_init(&table->by_pipe);
	list_init(&table->all);
	table->last_id = 0;
}

void
session_table_fini(struct session_table *table)
{
	assert(list_empty(&table->all));
	idmap_fini(&table->by_pipe);
}

int
session_new(struct session_table *table, uint32_t pipe_id,
	    const struct peer_identity *identity, struct session **out)
{
	int r;
	struct session *session = calloc(1, sizeof(*session));
	if (!session)
		return -ENOMEM;
	session->id = ++table->last_id;
	session->pipe_id = pipe_id;
	session->identity = *identity;
	session->started_ns = reactor_now_ns();
	list_init(&session->handles);
	list_init(&session->parked);
	idmap_init(&session->parked_by_seq);
	if (getrandom(session->resume_secret, sizeof(session->resume_secret), 0) !=
	    (ssize_t)sizeof(session->resume_secret)) {
		r = -errno;
		goto err_free;
	}
	if ((r = idmap_put(&table->by_pipe, pipe_id, session)) < 0)
		goto err_free;
	list_append(&table->all, &session->link);
	*out = session;
	return 0;

err_free:
	free(session);
	return r;
}

struct session *
session_find(struct session_table *table, uint32_t pipe_id)
{
	return idmap_get(&table->by_pipe, pipe_id);
}

void
session_free(struct session_table *table, struct session *session)
{
	assert(list_empty(&session->handles) && session->n_handles == 0);
	assert(list_empty(&session->parked) && session->n_parked == 0);
	resume_free(session->resume);
	idmap_remove(&table->by_pipe, session->pipe_id);
	list_remove(&session->link);
	idmap_fini(&session->parked_by_seq);
	budget_share_close(&session->budget);
	free(session);
}

void
session_describe(const struct session *session, char *buf, size_t len)
{
	if (session->identity.has_credentials)
		snprintf(buf, len, "session %llu (uid %u gid %u pid %d, %s%s%s)",
			 (unsigned long long)session->id, (unsigned)session->identity.uid,
			 (unsigned)session->identity.gid, (int)session->identity.pid,
			 session->identity.peer, session->client_name[0] ? ", " : "",
			 session->client_name);
	else
		snprintf(buf, len, "session %llu (%s%s%s)", (unsigned long long)session->id,
			 session->identity.peer, session->client_name[0] ? ", " : "",
			 session->client_name);
}

void
session_audit_fields(struct audit_record *record, const struct session *session)
{
	record->session = session->id;
	record->peer = &session->identity;
	record->token_name = session->token_name[0] ? session->token_name : NULL;
	record->client_name = session->client_name;
}
