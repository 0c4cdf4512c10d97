/*
 * Poll: wait on many handles of the session at once, what select() and
 * poll() are to the reference.
 *
 * Every handle is in the reactor's epoll set already (edge-triggered), so a
 * Poll adds no epoll registration of its own, however many handles it
 * names. It works in three steps:
 *   1. At the start, one poll(2) over the distinct fds of its items says what
 *      is ready now. Anything ready, or a timeout of 0, answers at once.
 *   2. Otherwise it links one waiter per distinct handle into that handle's
 *      poll_waiters list and parks (OP_WAIT_EVENT) with its deadline.
 *   3. A readiness edge of a handle with waiters (dispatch_handle_ready())
 *      checks that one fd with poll(2). A waiter whose events are ready
 *      records them, and its Poll is woken at the end of the reactor turn
 *      (once, however many of its handles turned ready in that turn): it
 *      answers with every handle whose edge arrived in the turn.
 * Steps 1 and 2 run in one handler call on the reactor thread: readiness
 * that arrives between them is an edge that epoll keeps and delivers on a
 * later turn, when the waiter is linked, so no re-check is needed. Step 3
 * reads the fd's state rather than trusting the edge: an edge whose data a
 * parked recv took first wakes nobody, and the Poll goes on waiting.
 *
 * A woken Poll answers only what woke it, without another pass over the
 * whole set: any other handle was not ready at step 1 and has had no edge
 * since (an edge still on its way arrives in a later turn, and the caller's
 * next Poll finds it in its step 1). That keeps the wake-up O(1) in system
 * calls however large the set (a poll(2) of 5000 sockets costs
 * milliseconds); the rest of a Poll's end is unlinking its waiters.
 *
 * A handle closed while a Poll waits on it is reported as POLL_ERROR |
 * POLL_HANGUP (poll(2) would say POLLNVAL; the protocol has no bit for it),
 * so the Poll answers at once and the client's next call on the handle
 * answers EBADF. A handle that is unknown when the Poll starts answers
 * BAD_HANDLE (EBADF) naming it, as select() fails with EBADF.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "../handle.h"
#include "../session.h"
#include "ops.h"

/*
 * Duplicate items are merged, but a list far longer than the session's
 * sockets is a client bug, refused before it costs a sort: at most this
 * many items per open socket, plus a little slack.
 */
#define ITEMS_PER_HANDLE 4
#define ITEMS_SLACK 64

/* ERROR and HANGUP are reported whether asked for or not, as poll(2) does. */
#define ALWAYS_REPORTED (POLL_EV_ERROR | POLL_EV_HANGUP)

struct poll_waiter {
	struct list handle_link; /* handle::poll_waiters, while the Poll is parked */
	struct handle *handle;   /* a reference; NULL once the handle closed */
	struct op *op;
	uint64_t id;      /* the handle's id, which outlives the handle */
	uint32_t events;  /* wanted (POLL_EV_*), merged over duplicate items */
	uint32_t revents; /* what woke the Poll through this handle, if anything */
};

/* A wake-up deferred to the end of the reactor turn. It outlives the Poll when
 * the Poll ends first (then `op` is NULL), and frees itself when it runs. */
struct poll_wake {
	struct reactor_task task;
	struct op *op;
};

struct poll_state {
	struct poll_wake *wake;  /* pending wake-up, or NULL */
	size_t n;                /* distinct handles */
	struct pollfd *fds;      /* n: step 1's check; freed once parked */
	struct poll_item *ready; /* n: the reply's storage */
	struct poll_waiter waiters[];
};

static short
to_pollfd_events(uint32_t events)
{
	short wanted = 0;
	if (events & POLL_EV_READABLE)
		wanted |= POLLIN;
	if (events & POLL_EV_WRITABLE)
		wanted |= POLLOUT;
	return wanted;
}

static uint32_t
from_revents(short revents)
{
	uint32_t events = 0;
	if (revents & POLLIN)
		events |= POLL_EV_READABLE;
	if (revents & POLLOUT)
		events |= POLL_EV_WRITABLE;
	if (revents & POLLERR)
		events |= POLL_EV_ERROR;
	if (revents & POLLHUP)
		events |= POLL_EV_HANGUP;
	if (revents & POLLNVAL)
		events |= POLL_EV_ERROR | POLL_EV_HANGUP;
	return events;
}

static int
compare_items(const void *a, const void *b)
{
	const struct poll_item *x = a, *y = b;
	return x->handle < y->handle ? -1 : x->handle > y->handle;
}

static void
poll_release(struct op *op)
{
	struct poll_state *state = op->state;

	if (state->wake)
		state->wake->op = NULL;
	for (size_t i = 0; i < state->n; i++) {
		struct poll_waiter *waiter = &state->waiters[i];
		if (list_linked(&waiter->handle_link))
			list_remove(&waiter->handle_link);
		if (waiter->handle)
			handle_unref(waiter->handle);
	}
	free(state->fds);
	free(state->ready);
	free(state);
	op->state = NULL;
	op->release_state = NULL;
}

/* Build the waiters: one per distinct handle, each holding a reference. */
static int
poll_begin(struct op *op, struct reply *reply)
{
	struct request *req = op->req;
	struct poll_item *items = req->poll.items;
	size_t n_items = req->poll.n_items, n = 0;
	size_t n_handles = op->session->n_handles;

	if (n_items > ITEMS_PER_HANDLE * n_handles + ITEMS_SLACK)
		return op_fail(reply, ERROR_BAD_REQUEST, EINVAL,
			       "poll.items: %zu items for a session with %zu open sockets; list "
			       "each socket once",
			       n_items, n_handles);

	/* Sorted, duplicates sit together and merge in one pass. The request
	 * is the op's own, and the reply is keyed by handle, not by position. */
	if (n_items > 1)
		qsort(items, n_items, sizeof(*items), compare_items);
	for (size_t i = 0; i < n_items; i++) {
		if (i == 0 || items[i].handle != items[i - 1].handle)
			n++;
	}

	struct poll_state *state = calloc(1, sizeof(*state) + n * sizeof(state->waiters[0]));
	if (!state)
		return -ENOMEM;
	op->state = state;
	op->release_state = poll_release;
	state->fds = calloc(n ? n : 1, sizeof(*state->fds));
	state->ready = calloc(n ? n : 1, sizeof(*state->ready));
	if (!state->fds || !state->ready)
		return -ENOMEM;

	for (size_t i = 0; i < n_items; i++) {
		struct poll_waiter *waiter;
		if (i > 0 && items[i].handle == items[i - 1].handle) {
			state->waiters[state->n - 1].events |= items[i].events;
			continue;
		}
		struct handle *handle =
			handle_find(op->ctx->handles, op->session, items[i].handle);
		if (!handle)
			return op_fail(reply, ERROR_BAD_HANDLE, EBADF,
				       "poll.items: handle %llu is not an open socket of this "
				       "session",
				       (unsigned long long)items[i].handle);
		waiter = &state->waiters[state->n++];
		list_init(&waiter->handle_link);
		waiter->handle = handle_ref(handle);
		waiter->op = op;
		waiter->id = handle->id;
		waiter->events = items[i].events;
	}
	return 0;
}

/* Step 1: one poll(2) over the whole set. Returns how many handles are
 * ready (the reply lists them), or -errno. */
static int
check_at_start(struct poll_state *state, struct reply *reply)
{
	size_t n_ready = 0;

	for (size_t i = 0; i < state->n; i++) {
		const struct poll_waiter *waiter = &state->waiters[i];
		state->fds[i].fd = waiter->handle->fd;
		state->fds[i].events = to_pollfd_events(waiter->events);
		state->fds[i].revents = 0;
	}
	if (state->n > 0 && poll(state->fds, state->n, 0) < 0)
		return -errno;
	for (size_t i = 0; i < state->n; i++) {
		const struct poll_waiter *waiter = &state->waiters[i];
		uint32_t events = from_revents(state->fds[i].revents);
		events &= waiter->events | ALWAYS_REPORTED;
		if (!events)
			continue;
		state->ready[n_ready].handle = waiter->id;
		state->ready[n_ready].events = events;
		n_ready++;
	}
	reply->shape = REPLY_POLL;
	reply->poll.ready = state->ready;
	reply->poll.n_ready = n_ready;
	return (int)n_ready;
}

/* The handles whose edges woke the Poll. Returns how many (the reply
 * lists them). */
static size_t
collect_woken(struct poll_state *state, struct reply *reply)
{
	size_t n_ready = 0;

	for (size_t i = 0; i < state->n; i++) {
		const struct poll_waiter *waiter = &state->waiters[i];
		if (!waiter->revents)
			continue;
		state->ready[n_ready].handle = waiter->id;
		state->ready[n_ready].events = waiter->revents;
		n_ready++;
	}
	reply->shape = REPLY_POLL;
	reply->poll.ready = state->ready;
	reply->poll.n_ready = n_ready;
	return n_ready;
}

int
op_poll(struct op *op, struct reply *reply)
{
	struct poll_state *state = op->state;
	int r;

	if (state) {
		/* Woken: a handle of the set turned ready, or closed. */
		return collect_woken(state, reply) > 0 ? OP_DONE : OP_WAIT_EVENT;
	}

	if ((r = poll_begin(op, reply)) != 0)
		return r;
	state = op->state;
	r = check_at_start(state, reply);
	if (r < 0)
		return r;
	if (r > 0 || op->req->poll.timeout_ns == 0)
		return OP_DONE;
	free(state->fds);
	state->fds = NULL;

	for (size_t i = 0; i < state->n; i++) {
		struct poll_waiter *waiter = &state->waiters[i];
		list_append(&waiter->handle->poll_waiters, &waiter->handle_link);
	}
	if (op->req->poll.timeout_ns > 0)
		op->deadline_ns = reactor_now_ns() + (uint64_t)op->req->poll.timeout_ns;
	return OP_WAIT_EVENT;
}

int
op_poll_expired(struct op *op, struct reply *reply)
{
	/* Time is up with nothing ready: an empty answer, not an error. */
	collect_woken(op->state, reply);
	return OP_DONE;
}

/* Move every element of `from` to the empty list `to`. */
static void
list_move_all(struct list *from, struct list *to)
{
	if (list_empty(from))
		return;
	to->next = from->next;
	to->prev = from->prev;
	to->next->prev = to;
	to->prev->next = to;
	list_init(from);
}

static void
run_wake(struct reactor_task *task)
{
	struct poll_wake *wake = (struct poll_wake *)(void *)task;
	struct op *op = wake->op;
	free(wake);
	if (!op)
		return;
	((struct poll_state *)op->state)->wake = NULL;
	dispatch_wake(op);
}

/* Wake `op` at the end of this reactor turn, once, so that the other edges
 * of the turn are in its answer too. */
static void
wake_at_end_of_turn(struct op *op)
{
	struct poll_state *state = op->state;
	if (state->wake)
		return;
	struct poll_wake *wake = malloc(sizeof(*wake));
	if (!wake) {
		dispatch_wake(op); /* at once, then: the answer is still right */
		return;
	}
	wake->task.run = run_wake;
	wake->op = op;
	state->wake = wake;
	reactor_defer(op->ctx->reactor, &wake->task);
}

void
op_poll_handle_ready(struct handle *handle)
{
	struct pollfd pfd = {.fd = handle->fd, .events = POLLIN | POLLOUT};
	struct list pending, *first;

	if (poll(&pfd, 1, 0) <= 0)
		return;
	uint32_t ready = from_revents(pfd.revents);

	/*
	 * Waking a Poll may complete it, which unlinks its waiters wherever
	 * they are; so each waiter moves back to the handle's list before its
	 * Poll is woken, and the loop only ever looks at what is still
	 * pending.
	 */
	list_init(&pending);
	list_move_all(&handle->poll_waiters, &pending);
	while ((first = list_first(&pending))) {
		struct poll_waiter *waiter = list_entry(first, struct poll_waiter, handle_link);
		list_remove(first);
		list_append(&handle->poll_waiters, first);
		waiter->revents |= ready & (waiter->events | ALWAYS_REPORTED);
		if (waiter->revents)
			wake_at_end_of_turn(waiter->op);
	}
}

void
op_poll_handle_closed(struct handle *handle)
{
	struct list *first;

	while ((first = list_first(&handle->poll_waiters))) {
		struct poll_waiter *waiter = list_entry(first, struct poll_waiter, handle_link);
		list_remove(first);
		handle_unref(waiter->handle);
		waiter->handle = NULL;
		waiter->revents = POLL_EV_ERROR | POLL_EV_HANGUP;
		wake_at_end_of_turn(waiter->op);
	}
}
