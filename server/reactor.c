#include "reactor.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "container.h"
#include "log.h"

#define MAX_EVENTS 256

struct reactor {
	int epoll_fd;
	struct reactor_source wake;   /* eventfd: posted tasks and stop */
	struct reactor_source timer;  /* timerfd: the earliest deadline */
	struct reactor_source signal; /* signalfd, or fd -1 */
	void (*signal_handler)(struct reactor *reactor, int signo);

	pthread_mutex_t posted_lock;
	struct reactor_task *posted_head; /* FIFO, guarded by posted_lock */
	struct reactor_task *posted_tail;

	struct reactor_task *deferred_head; /* reactor thread only */
	struct reactor_task *deferred_tail;

	struct reactor_timer **timers; /* min-heap on deadline_ns */
	size_t n_timers;
	size_t timers_capacity;
	uint64_t timerfd_deadline_ns; /* what the timerfd is armed for, 0 = idle */

	/* Set by reactor_stop() from any thread or a signal handler (a lock-free atomic is
	 * async-signal-safe); read by the loop. */
	atomic_bool stopping;
};

_Static_assert(ATOMIC_BOOL_LOCK_FREE == 2, "reactor_stop() must be async-signal-safe");

#define reactor_of(src, member) container_of(src, struct reactor, member)

uint64_t
reactor_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void
run_posted(struct reactor *reactor)
{
	pthread_mutex_lock(&reactor->posted_lock);
	struct reactor_task *task = reactor->posted_head;
	reactor->posted_head = NULL;
	reactor->posted_tail = NULL;
	pthread_mutex_unlock(&reactor->posted_lock);

	while (task) {
		struct reactor_task *next = task->next;
		task->run(task);
		task = next;
	}
}

static void
wake_ready(struct reactor_source *source, uint32_t events)
{
	uint64_t count;
	/* Drain first: a post racing with us writes again and wakes us again. */
	if (read(source->fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_error("reactor: reading the wake-up eventfd failed: %s", strerror(errno));
	run_posted(reactor_of(source, wake));
}

/* Heap helpers: timers[] is a binary min-heap keyed on deadline_ns, each
 * timer remembering its index so it can be removed or moved in O(log n). */
static void
heap_swap(struct reactor *reactor, size_t a, size_t b)
{
	struct reactor_timer *t = reactor->timers[a];
	reactor->timers[a] = reactor->timers[b];
	reactor->timers[b] = t;
	reactor->timers[a]->heap_index = a;
	reactor->timers[b]->heap_index = b;
}

static void
heap_up(struct reactor *reactor, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (reactor->timers[parent]->deadline_ns <= reactor->timers[i]->deadline_ns)
			break;
		heap_swap(reactor, i, parent);
		i = parent;
	}
}

static void
heap_down(struct reactor *reactor, size_t i)
{
	for (;;) {
		size_t left = 2 * i + 1, right = left + 1, least = i;
		if (left < reactor->n_timers &&
		    reactor->timers[left]->deadline_ns < reactor->timers[least]->deadline_ns)
			least = left;
		if (right < reactor->n_timers &&
		    reactor->timers[right]->deadline_ns < reactor->timers[least]->deadline_ns)
			least = right;
		if (least == i)
			break;
		heap_swap(reactor, i, least);
		i = least;
	}
}

static void
heap_remove(struct reactor *reactor, struct reactor_timer *timer)
{
	size_t i = timer->heap_index;
	size_t last = --reactor->n_timers;
	if (i != last) {
		heap_swap(reactor, i, last);
		heap_down(reactor, i);
		heap_up(reactor, i);
	}
	timer->heap_index = SIZE_MAX;
}

static void
rearm_timerfd(struct reactor *reactor)
{
	uint64_t next = reactor->n_timers ? reactor->timers[0]->deadline_ns : 0;
	/* 0 means "idle" here and would disarm the timerfd: a deadline of 0 (long past) is
	 * served as 1 ns, which has passed too. */
	if (reactor->n_timers && next == 0)
		next = 1;
	if (next == reactor->timerfd_deadline_ns)
		return;
	struct itimerspec its = { 0 };
	its.it_value.tv_sec = (time_t)(next / 1000000000ULL);
	its.it_value.tv_nsec = (long)(next % 1000000000ULL);
	if (timerfd_settime(reactor->timer.fd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
		log_error("reactor: arming the deadline timer failed: %s", strerror(errno));
		return;
	}
	reactor->timerfd_deadline_ns = next;
}

static void
run_expired(struct reactor *reactor)
{
	uint64_t now = reactor_now_ns();
	while (reactor->n_timers && reactor->timers[0]->deadline_ns <= now) {
		struct reactor_timer *timer = reactor->timers[0];
		heap_remove(reactor, timer);
		timer->expired(timer);
	}
}

static void
timer_ready(struct reactor_source *source, uint32_t events)
{
	uint64_t expirations;
	if (read(source->fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		log_error("reactor: reading the deadline timer failed: %s", strerror(errno));
	/* The timerfd fired: force re-arming even if the earliest is unchanged. */
	reactor_of(source, timer)->timerfd_deadline_ns = 0;
}

static void
signal_ready(struct reactor_source *source, uint32_t events)
{
	struct reactor *reactor = reactor_of(source, signal);
	struct signalfd_siginfo info;
	while (read(source->fd, &info, sizeof(info)) == (ssize_t)sizeof(info))
		reactor->signal_handler(reactor, (int)info.ssi_signo);
}

static void
run_deferred(struct reactor *reactor)
{
	/* Deferred tasks may defer more; they run in this same turn. */
	while (reactor->deferred_head) {
		struct reactor_task *task = reactor->deferred_head;
		reactor->deferred_head = task->next;
		if (!reactor->deferred_head)
			reactor->deferred_tail = NULL;
		task->run(task);
	}
}

int
reactor_add_fd(struct reactor *reactor, struct reactor_source *source, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = source };
	if (epoll_ctl(reactor->epoll_fd, EPOLL_CTL_ADD, source->fd, &ev) < 0)
		return -errno;
	return 0;
}

void
reactor_del_fd(struct reactor *reactor, struct reactor_source *source)
{
	if (epoll_ctl(reactor->epoll_fd, EPOLL_CTL_DEL, source->fd, NULL) < 0 && errno != ENOENT)
		log_error("reactor: removing fd %d from epoll failed: %s", source->fd,
			  strerror(errno));
}

int
reactor_new(struct reactor **out)
{
	int r;
	struct reactor *reactor = calloc(1, sizeof(*reactor));
	if (!reactor)
		return -ENOMEM;
	pthread_mutex_init(&reactor->posted_lock, NULL);
	atomic_init(&reactor->stopping, false);
	reactor->signal.fd = -1;

	reactor->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (reactor->epoll_fd < 0) {
		r = -errno;
		goto err_free;
	}
	reactor->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (reactor->wake.fd < 0) {
		r = -errno;
		goto err_epoll;
	}
	reactor->wake.ready = wake_ready;
	reactor->timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (reactor->timer.fd < 0) {
		r = -errno;
		goto err_wake;
	}
	reactor->timer.ready = timer_ready;
	if ((r = reactor_add_fd(reactor, &reactor->wake, EPOLLIN)) < 0)
		goto err_timer;
	if ((r = reactor_add_fd(reactor, &reactor->timer, EPOLLIN)) < 0)
		goto err_timer;
	*out = reactor;
	return 0;

err_timer:
	close(reactor->timer.fd);
err_wake:
	close(reactor->wake.fd);
err_epoll:
	close(reactor->epoll_fd);
err_free:
	pthread_mutex_destroy(&reactor->posted_lock);
	free(reactor);
	return r;
}

void
reactor_free(struct reactor *reactor)
{
	if (!reactor)
		return;
	if (reactor->signal.fd >= 0)
		close(reactor->signal.fd);
	close(reactor->timer.fd);
	close(reactor->wake.fd);
	close(reactor->epoll_fd);
	pthread_mutex_destroy(&reactor->posted_lock);
	free(reactor->timers);
	free(reactor);
}

int
reactor_run(struct reactor *reactor)
{
	struct epoll_event events[MAX_EVENTS];

	while (!atomic_load_explicit(&reactor->stopping, memory_order_acquire)) {
		rearm_timerfd(reactor);
		int n = epoll_wait(reactor->epoll_fd, events, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			log_error("reactor: epoll_wait failed: %s", strerror(errno));
			return r;
		}
		for (int i = 0; i < n; i++) {
			struct reactor_source *source = events[i].data.ptr;
			source->ready(source, events[i].events);
		}
		run_expired(reactor);
		run_deferred(reactor);
	}
	return 0;
}

void
reactor_drain(struct reactor *reactor)
{
	run_posted(reactor);
	run_deferred(reactor);
}

void
reactor_stop(struct reactor *reactor)
{
	uint64_t one = 1;
	atomic_store_explicit(&reactor->stopping, true, memory_order_release);
	/* Only the wake-up matters; a full eventfd counter wakes us anyway. */
	ssize_t n = write(reactor->wake.fd, &one, sizeof(one));
	(void)n;
}

void
reactor_post(struct reactor *reactor, struct reactor_task *task)
{
	bool was_empty;
	task->next = NULL;
	pthread_mutex_lock(&reactor->posted_lock);
	was_empty = reactor->posted_head == NULL;
	if (reactor->posted_tail)
		reactor->posted_tail->next = task;
	else
		reactor->posted_head = task;
	reactor->posted_tail = task;
	pthread_mutex_unlock(&reactor->posted_lock);

	/* A non-empty queue already has a wake-up pending. */
	if (was_empty) {
		uint64_t one = 1;
		ssize_t n = write(reactor->wake.fd, &one, sizeof(one));
		(void)n;
	}
}

void
reactor_defer(struct reactor *reactor, struct reactor_task *task)
{
	task->next = NULL;
	if (reactor->deferred_tail)
		reactor->deferred_tail->next = task;
	else
		reactor->deferred_head = task;
	reactor->deferred_tail = task;
}

int
reactor_watch_signals(struct reactor *reactor, const sigset_t *mask,
		      void (*handler)(struct reactor *reactor, int signo))
{
	int r;
	if ((r = pthread_sigmask(SIG_BLOCK, mask, NULL)) != 0)
		return -r;
	int fd = signalfd(-1, mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	reactor->signal.fd = fd;
	reactor->signal.ready = signal_ready;
	reactor->signal_handler = handler;
	if ((r = reactor_add_fd(reactor, &reactor->signal, EPOLLIN)) < 0) {
		close(fd);
		reactor->signal.fd = -1;
		return r;
	}
	return 0;
}

void
reactor_timer_init(struct reactor_timer *timer, void (*expired)(struct reactor_timer *))
{
	timer->deadline_ns = 0;
	timer->heap_index = SIZE_MAX;
	timer->expired = expired;
}

int
reactor_timer_arm(struct reactor *reactor, struct reactor_timer *timer, uint64_t deadline_ns)
{
	if (reactor_timer_armed(timer)) {
		timer->deadline_ns = deadline_ns;
		heap_down(reactor, timer->heap_index);
		heap_up(reactor, timer->heap_index);
		return 0;
	}
	if (reactor->n_timers == reactor->timers_capacity) {
		size_t capacity = reactor->timers_capacity ? reactor->timers_capacity * 2 : 64;
		struct reactor_timer **timers =
			realloc(reactor->timers, capacity * sizeof(*timers));
		if (!timers)
			return -ENOMEM;
		reactor->timers = timers;
		reactor->timers_capacity = capacity;
	}
	timer->deadline_ns = deadline_ns;
	timer->heap_index = reactor->n_timers;
	reactor->timers[reactor->n_timers++] = timer;
	heap_up(reactor, timer->heap_index);
	return 0;
}

void
reactor_timer_cancel(struct reactor *reactor, struct reactor_timer *timer)
{
	if (reactor_timer_armed(timer))
		heap_remove(reactor, timer);
}
