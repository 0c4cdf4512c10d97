/*
 * budget: the memory the daemon holds for its clients, bounded per identity
 * and in total. Every byte held on a client's behalf (a request frame being
 * read, the data of a parked send, a MSG_WAITALL buffer, a queued reply) is
 * charged to a share: one per connection in the transport, one per session
 * in the dispatcher. The shares of one identity (the same token, else the
 * same uid, else the one connection) draw on one account, so opening more
 * connections does not buy more memory.
 *
 * Two ways to charge: budget_share_try() admits new work only while it fits
 * both limits (the caller refuses the work, or stops reading, when it does
 * not); budget_share_charge() records memory already taken (a reply whose
 * data the kernel gave up), which may pass a limit: the account is then
 * over, and its connections are not read until it is back under.
 *
 * An account counts descriptors too: its connections, and the sockets its
 * sessions hold. One identity may take at most `connections_per_identity`
 * connections and `descriptor_share` descriptors (a part of the process's
 * limit), so that what it holds never makes another identity's socket()
 * fail for want of a descriptor.
 *
 * Invariants: an account's `used`, `connections` and `descriptors` are the
 * sums of its shares'; the budget's `used` is the sum of its accounts'. A share with no budget
 * (account NULL) counts nothing. Reactor thread only.
 */
#ifndef SOCKBROKER_BUDGET_H
#define SOCKBROKER_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "list.h"

struct budget {
	uint64_t per_identity; /* limits.memory_per_identity */
	uint64_t total;        /* limits.memory_total */
	uint64_t used;
	uint64_t peak;         /* the most `used` has been */
	uint32_t connections_per_identity; /* limits.max_sessions_per_identity; 0: any */
	uint32_t descriptor_share;         /* descriptors per identity; 0: any */
	struct list accounts;  /* budget_account::link */
	/* Called when memory is given back while some account is over or
	 * some reader waits (see budget_wait()); NULL: nobody listens. */
	void (*released)(void *userdata);
	void *userdata;
	bool waiting;
};

struct budget_account {
	struct budget *budget;
	char key[96];
	unsigned refs;
	uint64_t used;
	uint32_t connections, descriptors;
	struct list link; /* budget::accounts */
};

struct budget_share {
	struct budget_account *account; /* NULL: not counted */
	uint64_t used;
	uint32_t connections, descriptors;
};

/* The names of the two limits, as the configuration spells them. */
#define BUDGET_LIMIT_IDENTITY "limits.memory_per_identity"
#define BUDGET_LIMIT_TOTAL "limits.memory_total"
#define BUDGET_LIMIT_SESSIONS "limits.max_sessions_per_identity"
#define BUDGET_LIMIT_DESCRIPTORS "the descriptor share of an identity"

void budget_init(struct budget *budget, uint64_t per_identity, uint64_t total);

/* Every share must have been closed. */
void budget_fini(struct budget *budget);

/* The key of an identity: its token's name, else its uid, else the host of
 * `peer` ("tcp HOST:PORT", as the transport names it), else `conn_id`. */
void budget_key(char *buf, size_t len, const char *token_name, bool has_uid, unsigned uid,
		const char *peer, uint32_t conn_id);

/* Open `share` on the account of `key` (NULL budget: a share that counts
 * nothing). Returns 0 or -ENOMEM (then the share counts nothing). */
int budget_share_open(struct budget_share *share, struct budget *budget, const char *key);

/* Give back what the share holds and let go of its account. Idempotent. */
void budget_share_close(struct budget_share *share);

/* Move the share, and what it holds, to the account of `key` (the identity
 * became known: a token after Hello). Returns 0 or -ENOMEM (the share
 * stays where it was). */
int budget_share_move(struct budget_share *share, const char *key);

/* Charge `bytes` if they fit both limits: NULL, or the name of the limit
 * they would pass (nothing charged). */
const char *budget_share_try(struct budget_share *share, uint64_t bytes);

/* Charge `bytes` whether they fit or not. */
void budget_share_charge(struct budget_share *share, uint64_t bytes);

/* Give back `bytes` charged before. */
void budget_share_release(struct budget_share *share, uint64_t bytes);

/* The limit the share's account is at or over (nothing more fits): NULL, or
 * its name. */
const char *budget_share_over(const struct budget_share *share);

/* The limit of the share's identity, for messages (0: none). */
uint64_t budget_share_limit(const struct budget_share *share, const char *name);

/* A connection of the share's identity begins: NULL when it fits (counted,
 * with its descriptor), else the name of the limit it would pass. */
const char *budget_share_take_connection(struct budget_share *share);

/* `n` more descriptors for the share's identity: NULL when they fit (now
 * counted), else the name of the limit. `force`: count them anyway (they
 * exist already). */
const char *budget_share_take_descriptors(struct budget_share *share, uint32_t n, bool force);

/* `n` descriptors of the share are closed. */
void budget_share_put_descriptors(struct budget_share *share, uint32_t n);

/* Someone waits for memory to be given back: the next release calls
 * `released`. */
void budget_wait(struct budget *budget);

#endif
