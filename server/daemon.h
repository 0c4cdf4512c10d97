/*
 * The daemon: the composition root that ties the transport, the reactor,
 * the session and handle tables and the resolver together. The transport's
 * callbacks land here on the reactor thread, decode the request (wire) and
 * hand it to dispatch, which answers through `sink`, the transport's
 * functions (dispatch itself calls nothing of the transport's). Everything
 * below `reactor` is touched only on the reactor thread. Handlers see only
 * `ops`, the narrow context of ops/ops.h (struct op_context), which points
 * into this struct; they include nothing of this header.
 */
#ifndef SOCKBROKER_DAEMON_H
#define SOCKBROKER_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "budget.h"
#include "config.h"
#include "dispatch.h"
#include "handle.h"
#include "ops/ops.h"
#include "policy.h"
#include "quota.h"
#include "reactor.h"
#include "session.h"
#include "transport.h"
#include "wire.h"

struct audit;
struct resolver;

struct daemon {
	const struct config *config;
	struct reactor *reactor;
	struct transport *transport;
	struct reply_sink sink; /* dispatch's answers: the transport's */
	struct resolver *resolver;
	struct session_table sessions;
	struct handle_table handles;
	struct wire_limits limits;
	const struct policy *policy;  /* config->policy, or &builtin_policy */
	struct policy builtin_policy; /* the default, when the config has none */
	struct quota_table quotas;    /* the identities' accounts */
	struct budget budget;         /* the memory held for clients (budget.h) */
	struct audit *audit;  /* where audit records go */

	/* One receive buffer of max_data_size for the reactor thread: data
	 * goes from the kernel into it and from it into the reply. */
	uint8_t *scratch;
	size_t scratch_len;

	bool stopping;

	/* What the admin operations report (ops/admin.c). */
	struct op_stats stats;

	/* What handlers see of all this (dispatch_context_init() fills it;
	 * every op points at it). */
	struct op_context ops;
};

/* Create the daemon for `config` (which must outlive it) and open its
 * listeners, then drop privileges as `privileges` says (privileges.h; NULL:
 * leave them, and the ipc files' ownership, as they are). Must be called
 * before the process has other threads, on the thread that will call
 * daemon_run(). On failure `err` says why. Returns 0 or -errno. */
struct privileges_config;
int daemon_new(struct daemon **out, const struct config *config,
	       const struct privileges_config *privileges, char *err, size_t errlen);

/* Serve until SIGINT or SIGTERM (or daemon_stop()), then end every
 * session cleanly. Returns 0 or -errno. */
int daemon_run(struct daemon *daemon);

/* Ask daemon_run() to return. Any thread. */
void daemon_stop(struct daemon *daemon);

/* Free a daemon that is not running. NULL is a no-op. */
void daemon_free(struct daemon *daemon);

#endif
