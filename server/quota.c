#include "quota.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
quota_table_init(struct quota_table *table)
{
	list_init(&table->accounts);
}

void
quota_table_fini(struct quota_table *table)
{
	assert(list_empty(&table->accounts));
	(void)table;
}

static void
bucket_init(struct quota_bucket *bucket, uint64_t rate)
{
	bucket->rate = rate;
	bucket->level = (double)rate;
	bucket->refilled_ns = 0;
}

static void
bucket_refill(struct quota_bucket *bucket, uint64_t now_ns)
{
	if (bucket->refilled_ns && now_ns > bucket->refilled_ns) {
		double seconds = (double)(now_ns - bucket->refilled_ns) / 1e9;
		bucket->level += seconds * (double)bucket->rate;
		if (bucket->level > (double)bucket->rate)
			bucket->level = (double)bucket->rate; /* one second of burst */
	}
	if (now_ns > bucket->refilled_ns)
		bucket->refilled_ns = now_ns;
}

int
quota_acquire(struct quota_table *table, const struct policy_quota *limits,
	      const struct policy_identity *identity, uint64_t session_id,
	      struct quota_account **out)
{
	char key[sizeof(((struct quota_account *)0)->key)];

	*out = NULL;
	if (!limits)
		return 0;
	if (identity->token_name)
		snprintf(key, sizeof(key), "quota %s token %s", limits->name, identity->token_name);
	else if (identity->has_credentials)
		snprintf(key, sizeof(key), "quota %s uid %u", limits->name,
			 (unsigned)identity->uid);
	else
		snprintf(key, sizeof(key), "quota %s session %llu", limits->name,
			 (unsigned long long)session_id);

	struct list *it, *next;
	list_for_each_safe(it, next, &table->accounts) {
		struct quota_account *account = list_entry(it, struct quota_account, link);
		if (account->limits == limits && strcmp(account->key, key) == 0) {
			account->sessions++;
			*out = account;
			return 0;
		}
	}
	struct quota_account *account = calloc(1, sizeof(*account));
	if (!account)
		return -ENOMEM;
	account->limits = limits;
	snprintf(account->key, sizeof(account->key), "%s", key);
	account->sessions = 1;
	bucket_init(&account->send, limits->send_bytes_per_second);
	bucket_init(&account->recv, limits->recv_bytes_per_second);
	bucket_init(&account->ops, limits->ops_per_second);
	list_append(&table->accounts, &account->link);
	*out = account;
	return 0;
}

void
quota_release(struct quota_account *account)
{
	if (!account || --account->sessions > 0)
		return;
	assert(account->handles == 0 && account->parked == 0);
	list_remove(&account->link);
	free(account);
}

bool
quota_handles_fit(const struct quota_account *account, size_t wanted)
{
	return !account || !account->limits->max_handles ||
	       account->handles + wanted <= account->limits->max_handles;
}

bool
quota_parked_fit(const struct quota_account *account)
{
	return !account || !account->limits->max_parked ||
	       account->parked < account->limits->max_parked;
}

bool
quota_take_op(struct quota_account *account, uint64_t now_ns)
{
	if (!account || !account->ops.rate)
		return true;
	bucket_refill(&account->ops, now_ns);
	if (account->ops.level < 1.0)
		return false;
	account->ops.level -= 1.0;
	return true;
}

static struct quota_bucket *
bucket_of(struct quota_account *account, enum quota_direction dir)
{
	return dir == QUOTA_SEND ? &account->send : &account->recv;
}

bool
quota_bytes_available(struct quota_account *account, enum quota_direction dir, uint64_t now_ns)
{
	if (!account || !bucket_of(account, dir)->rate)
		return true;
	struct quota_bucket *bucket = bucket_of(account, dir);
	bucket_refill(bucket, now_ns);
	return bucket->level > 0.0;
}

void
quota_charge_bytes(struct quota_account *account, enum quota_direction dir, uint64_t bytes)
{
	if (!account || !bucket_of(account, dir)->rate)
		return;
	bucket_of(account, dir)->level -= (double)bytes;
}
