/*
 * Administration: what sockbrokerctl shows of a running daemon. The
 * handlers read the session and handle tables, the quota accounts and the
 * per-rule counters on the reactor thread, copy what they report into rows
 * kept in op->state (freed when the op ends, after the reply is encoded),
 * and never change anything. Who may ask is decided here too
 * (op_admin_allows(), called by op_admit() for every OPF_ADMIN row).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "../config.h"
#include "../handle.h"
#include "../policy.h"
#include "../quota.h"
#include "../reactor.h"
#include "../session.h"
#include "ops.h"

bool
op_admin_allows(const struct op *op)
{
	const struct config *config = op->ctx->config;
	struct policy_identity id;

	op_identity(op->session, &id);
	if (id.has_credentials) {
		if (id.uid == 0)
			return true;
		for (size_t i = 0; i < config->admin_uids.n; i++)
			if (config->admin_uids.ids[i] == id.uid)
				return true;
		for (size_t i = 0; i < config->admin_gids.n; i++)
			if (config->admin_gids.ids[i] == id.gid)
				return true;
	}
	for (size_t i = 0; id.token_name && i < config->admin_tokens.n; i++)
		if (strcmp(config->admin_tokens.names[i], id.token_name) == 0)
			return true;
	return false;
}

void
op_count_decision(struct op_context *ctx, const struct policy_decision *decision)
{
	const struct policy *policy = ctx->policy;
	size_t index = policy->n_rules; /* default-deny, unless a rule decided */

	/* The decision names its rule by the rule's own string. */
	for (size_t i = 0; i < policy->n_rules; i++) {
		if (policy->rules[i].name == decision->rule) {
			index = i;
			break;
		}
	}
	if (index < ctx->stats->n_rule_counts)
		ctx->stats->rule_counts[index][decision->allow ? 0 : 1]++;
}

static double
seconds_since(uint64_t then_ns)
{
	uint64_t now = reactor_now_ns();
	return now > then_ns ? (double)(now - then_ns) / 1e9 : 0.0;
}

/* "token ci", "uid 1000", or the transport for a connection with neither. */
static void
identity_key(const struct session *session, char *buf, size_t len)
{
	if (session->token_name[0])
		snprintf(buf, len, "token %s", session->token_name);
	else if (session->identity.has_credentials)
		snprintf(buf, len, "uid %lu", (unsigned long)session->identity.uid);
	else
		snprintf(buf, len, "%s", policy_transport_name(session->identity.transport));
}

/* The daemon's resident memory, or 0 when /proc does not say. */
static uint64_t
resident_bytes(void)
{
	unsigned long size, resident;
	FILE *f = fopen("/proc/self/statm", "re");
	if (!f)
		return 0;
	int n = fscanf(f, "%lu %lu", &size, &resident);
	fclose(f);
	long page = sysconf(_SC_PAGESIZE);
	return n == 2 && page > 0 ? (uint64_t)resident * (uint64_t)page : 0;
}

struct status_state {
	struct admin_identity_row *identities;
	struct admin_rule_row *rules;
	struct admin_quota_row *quotas;
};

static void
release_status(struct op *op)
{
	struct status_state *state = op->state;
	free(state->identities);
	free(state->rules);
	free(state->quotas);
	free(state);
	op->state = NULL;
}

static int
by_handles_then_name(const void *a, const void *b)
{
	const struct admin_identity_row *x = a, *y = b;
	if (x->handles != y->handles)
		return x->handles > y->handles ? -1 : 1;
	return strcmp(x->identity, y->identity);
}

/* The account's identity without its "quota NAME " prefix (quota.h). */
static const char *
account_name(const struct quota_account *account)
{
	const char *key = account->key;
	size_t skip = strlen("quota ") + strlen(account->limits->name) + 1;
	return strncmp(key, "quota ", 6) == 0 && strlen(key) > skip ? key + skip : key;
}

/* The sessions' totals into `a`, and per identity (most handles first) into
 * state->identities, which has room for one per session. */
static void
count_sessions(const struct op_context *ctx, struct status_state *state, struct admin_status *a)
{
	size_t n_identities = 0;
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &ctx->sessions->all) {
		const struct session *session = list_entry(pos, struct session, link);
		char key[sizeof(state->identities->identity)];
		size_t i;

		a->sessions++;
		a->handles += session->n_handles;
		a->parked += session->n_parked;
		identity_key(session, key, sizeof(key));
		for (i = 0; i < n_identities; i++)
			if (strcmp(state->identities[i].identity, key) == 0)
				break;
		if (i == n_identities)
			memcpy(state->identities[n_identities++].identity, key, sizeof(key));
		state->identities[i].sessions++;
		state->identities[i].handles += session->n_handles;
		state->identities[i].parked += session->n_parked;
	}
	qsort(state->identities, n_identities, sizeof(*state->identities), by_handles_then_name);
	a->identities = state->identities;
	a->n_identities = n_identities;
}

int
op_admin_status(struct op *op, struct reply *reply)
{
	struct op_context *ctx = op->ctx;
	const struct policy *policy = ctx->policy;
	struct status_state *state = calloc(1, sizeof(*state));
	size_t n_sessions = 0, n_accounts = 0;
	struct list *pos, *tmp;

	if (!state)
		return -ENOMEM;
	op->state = state;
	op->release_state = release_status;
	list_for_each_safe(pos, tmp, &ctx->sessions->all)
		n_sessions++;
	list_for_each_safe(pos, tmp, &ctx->quotas->accounts)
		n_accounts++;
	state->identities = calloc(n_sessions ? n_sessions : 1, sizeof(*state->identities));
	state->rules = calloc(policy->n_rules + 1, sizeof(*state->rules));
	state->quotas = calloc(n_accounts ? n_accounts : 1, sizeof(*state->quotas));
	if (!state->identities || !state->rules || !state->quotas)
		return -ENOMEM;

	struct admin_status *a = &reply->admin_status;
	reply->shape = REPLY_ADMIN_STATUS;
	a->version = SOCKBROKER_VERSION;
	a->pid = getpid();
	a->uptime = seconds_since(ctx->stats->started_ns);
	a->listeners = ctx->stats->listener_urls;
	a->n_listeners = ctx->stats->n_listeners;
	a->requests = ctx->stats->n_requests;
	a->max_handles_per_session = ctx->config->max_handles;
	a->max_parked_per_session = ctx->config->max_parked;
	a->max_sessions = ctx->config->max_sessions;
	a->rss_bytes = resident_bytes();

	count_sessions(ctx, state, a);

	for (size_t i = 0; i <= policy->n_rules && i < ctx->stats->n_rule_counts; i++) {
		struct admin_rule_row *row = &state->rules[i];
		row->name = i < policy->n_rules ? policy->rules[i].name : "default-deny";
		row->allow = i < policy->n_rules && policy->rules[i].allow;
		row->allowed = ctx->stats->rule_counts[i][0];
		row->denied = ctx->stats->rule_counts[i][1];
		a->n_rules++;
	}
	a->rules = state->rules;

	list_for_each_safe(pos, tmp, &ctx->quotas->accounts) {
		const struct quota_account *account = list_entry(pos, struct quota_account, link);
		struct admin_quota_row *row = &state->quotas[a->n_quotas++];
		row->quota = account->limits->name;
		row->account = account_name(account);
		row->sessions = account->sessions;
		row->handles = account->handles;
		row->max_handles = account->limits->max_handles;
		row->parked = account->parked;
		row->max_parked = account->limits->max_parked;
	}
	a->quotas = state->quotas;
	return OP_DONE;
}

static void
release_rows(struct op *op)
{
	free(op->state);
	op->state = NULL;
}

int
op_admin_sessions(struct op *op, struct reply *reply)
{
	struct op_context *ctx = op->ctx;
	struct admin_session_row *rows;
	struct list *pos, *tmp;
	size_t n = 0;

	list_for_each_safe(pos, tmp, &ctx->sessions->all)
		n++;
	if (!(rows = calloc(n ? n : 1, sizeof(*rows))))
		return -ENOMEM;
	op->state = rows;
	op->release_state = release_rows;

	n = 0;
	list_for_each_safe(pos, tmp, &ctx->sessions->all) {
		const struct session *session = list_entry(pos, struct session, link);
		struct admin_session_row *row = &rows[n++];
		row->id = session->id;
		row->has_credentials = session->identity.has_credentials;
		row->uid = session->identity.uid;
		row->gid = session->identity.gid;
		row->pid = session->identity.pid;
		row->token_name = session->token_name[0] ? session->token_name : NULL;
		row->tls_verified = session->identity.tls_verified;
		row->peer = session->identity.peer;
		row->transport = policy_transport_name(session->identity.transport);
		row->client_name = session->client_name;
		row->handles = session->n_handles;
		row->parked = session->n_parked;
		row->requests = session->n_requests;
		row->age = seconds_since(session->started_ns);
	}
	reply->shape = REPLY_ADMIN_SESSIONS;
	reply->admin_sessions.rows = rows;
	reply->admin_sessions.n_rows = n;
	return OP_DONE;
}

static uint32_t
queue_length(const struct list *queue)
{
	uint32_t n = 0;
	for (const struct list *pos = queue->next; pos != queue; pos = pos->next)
		n++;
	return n;
}

/* Whether the kernel's local address is a bound one (a port, a name). */
static bool
is_bound(const struct sockaddr_buf *local)
{
	const struct sockaddr *sa = (const struct sockaddr *)&local->ss;
	switch (sa->sa_family) {
	case AF_INET:
		return ((const struct sockaddr_in *)(const void *)sa)->sin_port != 0;
	case AF_INET6:
		return ((const struct sockaddr_in6 *)(const void *)sa)->sin6_port != 0;
	case AF_UNIX:
		return local->len > offsetof(struct sockaddr_un, sun_path);
	default:
		return local->len > sizeof(sa_family_t);
	}
}

/* What ss(8) would show of the handle's socket. */
static void
describe_handle(const struct handle *handle, struct admin_handle_row *row)
{
	int listening = 0;
	socklen_t len = sizeof(listening);

	row->session = handle->session->id;
	row->handle = handle->id;
	row->family = handle->family;
	row->type = handle->type;
	row->proto = handle->proto;
	row->timeout_ns = handle->timeout_ns;
	row->queued_reads = queue_length(&handle->parked_reads);
	row->queued_writes = queue_length(&handle->parked_writes);
	row->bytes_in = handle->bytes_in;
	row->bytes_out = handle->bytes_out;

	row->local.len = sizeof(row->local.ss);
	row->has_local = getsockname(handle->fd, (struct sockaddr *)&row->local.ss,
				     &row->local.len) == 0;
	if (row->has_local && handle->bound_path) {
		/* Bound through a pinned directory: the name the client gave. */
		struct sockaddr_un *un = (struct sockaddr_un *)(void *)&row->local.ss;
		size_t n = strlen(handle->bound_path);
		if (n < sizeof(un->sun_path)) {
			memcpy(un->sun_path, handle->bound_path, n + 1);
			row->local.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
		}
	}
	row->peer.len = sizeof(row->peer.ss);
	row->has_peer = getpeername(handle->fd, (struct sockaddr *)&row->peer.ss,
				    &row->peer.len) == 0;
	if (getsockopt(handle->fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening)
		row->state = "listening";
	else if (row->has_peer)
		row->state = "connected";
	else if (row->has_local && is_bound(&row->local))
		row->state = "bound";
	else
		row->state = "unconnected";
}

int
op_admin_handles(struct op *op, struct reply *reply)
{
	struct op_context *ctx = op->ctx;
	uint64_t only = op->req->admin_handles.session;
	struct admin_handle_row *rows;
	struct list *pos, *tmp, *hpos, *htmp;
	size_t n = 0;

	list_for_each_safe(pos, tmp, &ctx->sessions->all) {
		const struct session *session = list_entry(pos, struct session, link);
		if (!only || session->id == only)
			n += session->n_handles;
	}
	if (!(rows = calloc(n ? n : 1, sizeof(*rows))))
		return -ENOMEM;
	op->state = rows;
	op->release_state = release_rows;

	size_t filled = 0;
	list_for_each_safe(pos, tmp, &ctx->sessions->all) {
		struct session *session = list_entry(pos, struct session, link);
		if (only && session->id != only)
			continue;
		list_for_each_safe(hpos, htmp, &session->handles) {
			const struct handle *handle = list_entry(hpos, struct handle, session_link);
			if (filled == n || handle->state != HANDLE_OPEN)
				continue;
			describe_handle(handle, &rows[filled++]);
		}
	}
	reply->shape = REPLY_ADMIN_HANDLES;
	reply->admin_handles.rows = rows;
	reply->admin_handles.n_rows = filled;
	return OP_DONE;
}
