/*
 * quota: what an identity may hold and spend, across all of its sessions.
 * The policy's first quota entry matching a session's identity applies; the
 * sessions of one identity (the same token, else the same uid, under the same
 * quota entry) share one account, so opening more connections does not buy
 * more. An account counts open handles and parked operations and keeps three
 * token buckets: bytes sent, bytes received and operations, each refilled at
 * its per-second rate with one second's worth of burst.
 *
 * Rates are judged before the work and charged after it: a send is let
 * through while the bucket is not empty and may take it below zero, so a
 * single large write is never refused for its size alone, and the debt is
 * paid back before the next one. Reactor thread only.
 */
#ifndef SOCKBROKER_QUOTA_H
#define SOCKBROKER_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "list.h"
#include "policy.h"

struct quota_bucket {
	uint64_t rate;     /* per second; 0: unlimited */
	double level;      /* may go below zero (debt) */
	uint64_t refilled_ns;
};

struct quota_account {
	const struct policy_quota *limits;
	char key[128]; /* "quota NAME token T" / "quota NAME uid U" / "quota NAME session S" */
	unsigned sessions;
	uint32_t handles;
	uint32_t parked;
	struct quota_bucket send, recv, ops;
	struct list link; /* quota_table::accounts */
};

struct quota_table {
	struct list accounts; /* quota_account::link */
};

enum quota_direction { QUOTA_SEND, QUOTA_RECV };

void quota_table_init(struct quota_table *table);

/* Every account must have been released. */
void quota_table_fini(struct quota_table *table);

/*
 * The account of `identity` under `limits` (NULL limits: *out = NULL, nothing
 * to count), created on first use; `session_id` keys identities with neither
 * token nor uid. Returns 0 or -ENOMEM. Release with quota_release().
 */
int quota_acquire(struct quota_table *table, const struct policy_quota *limits,
		  const struct policy_identity *identity, uint64_t session_id,
		  struct quota_account **out);

/* A session lets go of its account; the last one frees it. NULL: no-op. */
void quota_release(struct quota_account *account);

/* Whether `wanted` more handles fit. NULL account: always. */
bool quota_handles_fit(const struct quota_account *account, size_t wanted);

/* Whether one more parked operation fits. NULL account: always. */
bool quota_parked_fit(const struct quota_account *account);

/* Take one operation from the ops bucket at `now_ns`; false when it is empty. */
bool quota_take_op(struct quota_account *account, uint64_t now_ns);

/* Whether the bucket of `dir` has anything left at `now_ns`. */
bool quota_bytes_available(struct quota_account *account, enum quota_direction dir,
			   uint64_t now_ns);

/* Charge `bytes` moved in `dir`. */
void quota_charge_bytes(struct quota_account *account, enum quota_direction dir, uint64_t bytes);

#endif
