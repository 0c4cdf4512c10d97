/*
 * sb_poll() and sb_cancel_polls(): one Poll request for the whole set. The
 * daemon merges duplicate handles and answers only the ready ones; the
 * answer is spread back over the caller's items here, each item getting
 * what it asked for plus ERROR and HANGUP.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"
#include "sockbroker.pb-c.h"

#define ALWAYS_REPORTED (SB_POLL_ERROR | SB_POLL_HANGUP)

struct ready_entry {
	sb_handle handle;
	unsigned events;
};

static int
compare_entries(const void *a, const void *b)
{
	const struct ready_entry *x = a, *y = b;

	return x->handle < y->handle ? -1 : x->handle > y->handle;
}

/* Spread the reply over the items: sorted, so each item is one bsearch. */
static int
fill_revents(struct sb_pollitem *items, size_t n, const Sockbroker__V1__PollReply *poll,
	     size_t *n_ready, struct sb_error *err)
{
	struct ready_entry *ready = NULL;
	size_t count = 0;

	if (poll->n_ready > 0) {
		ready = calloc(poll->n_ready, sizeof(*ready));
		if (ready == NULL)
			return sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "out of memory");
		for (size_t i = 0; i < poll->n_ready; i++) {
			ready[i].handle = poll->ready[i]->handle;
			ready[i].events = poll->ready[i]->events;
		}
		qsort(ready, poll->n_ready, sizeof(*ready), compare_entries);
	}
	for (size_t i = 0; i < n; i++) {
		struct ready_entry key = {.handle = items[i].handle};
		const struct ready_entry *found = NULL;

		if (ready != NULL)
			found = bsearch(&key, ready, poll->n_ready, sizeof(*ready),
					compare_entries);
		items[i].revents =
			found != NULL ? found->events & (items[i].events | ALWAYS_REPORTED) : 0;
		if (items[i].revents != 0)
			count++;
	}
	free(ready);
	if (n_ready != NULL)
		*n_ready = count;
	return 0;
}

int
sb_poll(struct sb_client *c, struct sb_pollitem *items, size_t n, double timeout, size_t *n_ready,
	struct sb_error *err)
{
	Sockbroker__V1__PollRequest args = SOCKBROKER__V1__POLL_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__PollItem *wire_items = NULL, **wire_item_ptrs = NULL;
	Sockbroker__V1__Reply *reply;
	int r;

	if (n_ready != NULL)
		*n_ready = 0;
	if (items == NULL && n > 0)
		return sb__error_set(err, SB_ERR_BAD_REQUEST, EINVAL, "items must not be NULL");
	if (n > 0) {
		wire_items = calloc(n, sizeof(*wire_items));
		wire_item_ptrs = calloc(n, sizeof(*wire_item_ptrs));
		if (wire_items == NULL || wire_item_ptrs == NULL) {
			r = sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "out of memory");
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		sockbroker__v1__poll_item__init(&wire_items[i]);
		wire_items[i].has_handle = true;
		wire_items[i].handle = items[i].handle;
		wire_items[i].has_events = true;
		/* Unknown bits go to the daemon, which names the item. */
		wire_items[i].events = items[i].events;
		wire_item_ptrs[i] = &wire_items[i];
		items[i].revents = 0;
	}
	args.n_items = n;
	args.items = wire_item_ptrs;
	if (timeout != SB_TIMEOUT_NONE) {
		args.has_timeout = true;
		args.timeout = timeout;
	}
	request.op_case = SOCKBROKER__V1__REQUEST__OP_POLL;
	request.poll = &args;

	r = sb__call(c, &request, SB__POLL_HANDLE, SOCKBROKER__V1__REPLY__RESULT_POLL, &reply, err);
	if (r < 0)
		goto out;
	r = fill_revents(items, n, reply->poll, n_ready, err);
	sb__reply_free(reply);
out:
	free(wire_item_ptrs);
	free(wire_items);
	return r;
}

int
sb_cancel_polls(struct sb_client *c, unsigned *count, struct sb_error *err)
{
	return sb_cancel_handle(c, SB__POLL_HANDLE, count, err);
}
