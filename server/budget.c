#include "budget.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
budget_init(struct budget *budget, uint64_t per_identity, uint64_t total)
{
	memset(budget, 0, sizeof(*budget));
	budget->per_identity = per_identity;
	budget->total = total;
	list_init(&budget->accounts);
}

void
budget_fini(struct budget *budget)
{
	assert(list_empty(&budget->accounts));
	assert(budget->used == 0);
	(void)budget;
}

void
budget_key(char *buf, size_t len, const char *token_name, bool has_uid, unsigned uid,
	   const char *peer, uint32_t conn_id)
{
	const char *colon = peer ? strrchr(peer, ':') : NULL;
	if (token_name && token_name[0])
		snprintf(buf, len, "token %s", token_name);
	else if (has_uid)
		snprintf(buf, len, "uid %u", uid);
	else if (colon && strncmp(peer, "tcp ", 4) == 0)
		snprintf(buf, len, "address %.*s", (int)(colon - peer - 4), peer + 4);
	else
		snprintf(buf, len, "connection %u", (unsigned)conn_id);
}

static struct budget_account *
account_get(struct budget *budget, const char *key)
{
	struct list *it, *next;
	list_for_each_safe(it, next, &budget->accounts) {
		struct budget_account *account = list_entry(it, struct budget_account, link);
		if (strcmp(account->key, key) == 0) {
			account->refs++;
			return account;
		}
	}
	struct budget_account *account = calloc(1, sizeof(*account));
	if (!account)
		return NULL;
	account->budget = budget;
	snprintf(account->key, sizeof(account->key), "%s", key);
	account->refs = 1;
	list_append(&budget->accounts, &account->link);
	return account;
}

static void
account_put(struct budget_account *account)
{
	if (--account->refs > 0)
		return;
	assert(account->used == 0);
	list_remove(&account->link);
	free(account);
}

int
budget_share_open(struct budget_share *share, struct budget *budget, const char *key)
{
	memset(share, 0, sizeof(*share));
	if (!budget)
		return 0;
	if (!(share->account = account_get(budget, key)))
		return -ENOMEM;
	return 0;
}

void
budget_share_close(struct budget_share *share)
{
	if (!share->account)
		return;
	budget_share_release(share, share->used);
	share->account->connections -= share->connections;
	share->account->descriptors -= share->descriptors;
	share->connections = share->descriptors = 0;
	account_put(share->account);
	share->account = NULL;
}

int
budget_share_move(struct budget_share *share, const char *key)
{
	struct budget_account *from = share->account;
	if (!from || strcmp(from->key, key) == 0)
		return 0;
	struct budget_account *to = account_get(from->budget, key);
	if (!to)
		return -ENOMEM;
	from->used -= share->used;
	to->used += share->used;
	from->connections -= share->connections;
	to->connections += share->connections;
	from->descriptors -= share->descriptors;
	to->descriptors += share->descriptors;
	share->account = to;
	account_put(from);
	return 0;
}

static void
charge(struct budget_share *share, uint64_t bytes)
{
	struct budget_account *account = share->account;
	struct budget *budget = account->budget;
	share->used += bytes;
	account->used += bytes;
	budget->used += bytes;
	if (budget->used > budget->peak)
		budget->peak = budget->used;
}

const char *
budget_share_try(struct budget_share *share, uint64_t bytes)
{
	struct budget_account *account = share->account;
	if (!account)
		return NULL;
	struct budget *budget = account->budget;
	if (bytes > budget->per_identity || account->used > budget->per_identity - bytes)
		return BUDGET_LIMIT_IDENTITY;
	if (bytes > budget->total || budget->used > budget->total - bytes)
		return BUDGET_LIMIT_TOTAL;
	charge(share, bytes);
	return NULL;
}

void
budget_share_charge(struct budget_share *share, uint64_t bytes)
{
	if (share->account)
		charge(share, bytes);
}

void
budget_share_release(struct budget_share *share, uint64_t bytes)
{
	struct budget_account *account = share->account;
	if (!account || !bytes)
		return;
	struct budget *budget = account->budget;
	assert(bytes <= share->used && bytes <= account->used && bytes <= budget->used);
	share->used -= bytes;
	account->used -= bytes;
	budget->used -= bytes;
	if (budget->waiting && budget->released) {
		budget->waiting = false;
		budget->released(budget->userdata);
	}
}

const char *
budget_share_over(const struct budget_share *share)
{
	const struct budget_account *account = share->account;
	if (!account)
		return NULL;
	if (account->used >= account->budget->per_identity)
		return BUDGET_LIMIT_IDENTITY;
	if (account->budget->used >= account->budget->total)
		return BUDGET_LIMIT_TOTAL;
	return NULL;
}

uint64_t
budget_share_limit(const struct budget_share *share, const char *name)
{
	if (!share->account)
		return 0;
	return strcmp(name, BUDGET_LIMIT_TOTAL) == 0 ? share->account->budget->total
						     : share->account->budget->per_identity;
}

const char *
budget_share_take_connection(struct budget_share *share)
{
	struct budget_account *account = share->account;
	if (!account)
		return NULL;
	uint32_t most = account->budget->connections_per_identity;
	if (most && account->connections >= most)
		return BUDGET_LIMIT_SESSIONS;
	const char *limit = budget_share_take_descriptors(share, 1, false);
	if (limit)
		return limit;
	account->connections++;
	share->connections++;
	return NULL;
}

const char *
budget_share_take_descriptors(struct budget_share *share, uint32_t n, bool force)
{
	struct budget_account *account = share->account;
	if (!account)
		return NULL;
	uint32_t most = account->budget->descriptor_share;
	if (!force && most && (n > most || account->descriptors > most - n))
		return BUDGET_LIMIT_DESCRIPTORS;
	account->descriptors += n;
	share->descriptors += n;
	return NULL;
}

void
budget_share_put_descriptors(struct budget_share *share, uint32_t n)
{
	struct budget_account *account = share->account;
	if (!account)
		return;
	assert(n <= share->descriptors && n <= account->descriptors);
	account->descriptors -= n;
	share->descriptors -= n;
}

void
budget_wait(struct budget *budget)
{
	budget->waiting = true;
}
