/*
 * The reactor: one thread that owns every handle, session and parked
 * operation, so none of them needs a lock. It waits in epoll on
 *   - the daemon's sockets (edge-triggered reactor_source callbacks),
 *   - one eventfd through which other threads (NNG callbacks, resolver
 *     workers) post tasks with reactor_post(),
 *   - one timerfd armed for the earliest deadline of a min-heap of timers
 *     (absolute CLOCK_MONOTONIC nanoseconds),
 *   - a signalfd, when the caller asks for signals.
 * One loop turn: wait -> ready fds and posted tasks -> expired deadlines ->
 * deferred tasks. Only reactor_post() and reactor_stop() may be called from
 * other threads.
 */
#ifndef SOCKBROKER_REACTOR_H
#define SOCKBROKER_REACTOR_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "list.h"

struct reactor;

/* A file descriptor watched by the reactor. `ready` runs on the reactor
 * thread with the epoll event bits. */
struct reactor_source {
	int fd;
	void (*ready)(struct reactor_source *source, uint32_t events);
};

/* A deadline. `expired` runs on the reactor thread once the deadline has
 * passed; the timer is disarmed by then and may be re-armed. */
struct reactor_timer {
	uint64_t deadline_ns;
	size_t heap_index; /* position in reactor::timers, or SIZE_MAX */
	void (*expired)(struct reactor_timer *timer);
};

/* A unit of work posted from any thread, or deferred to the end of the
 * turn. The poster owns the memory until `run` is called; `run` then owns
 * it. */
struct reactor_task {
	struct reactor_task *next;
	void (*run)(struct reactor_task *task);
};

/* Create a reactor. Returns 0 or -errno. */
int reactor_new(struct reactor **out);

/* Free a reactor that is not running; posted tasks never run. NULL is a
 * no-op. */
void reactor_free(struct reactor *reactor);

/* Run loop turns on the calling thread until reactor_stop(). Returns 0, or
 * -errno if epoll itself failed. */
int reactor_run(struct reactor *reactor);

/* Run what is posted and deferred now, without waiting (reactor thread,
 * while not running: at shutdown). */
void reactor_drain(struct reactor *reactor);

/* Make reactor_run() return after the current turn. Any thread,
 * async-signal-safe. */
void reactor_stop(struct reactor *reactor);

/* Queue `task` to run on the reactor thread. Any thread. */
void reactor_post(struct reactor *reactor, struct reactor_task *task);

/* Run `task` at the end of the current turn (reactor thread). */
void reactor_defer(struct reactor *reactor, struct reactor_task *task);

/* Watch source->fd for `events` (EPOLLIN | EPOLLOUT | EPOLLET ...).
 * Returns 0 or -errno. */
int reactor_add_fd(struct reactor *reactor, struct reactor_source *source, uint32_t events);

/* Stop watching source->fd (call before closing it). */
void reactor_del_fd(struct reactor *reactor, struct reactor_source *source);

/* Deliver the signals of `mask` as calls of `handler` on the reactor
 * thread (they are blocked for the calling thread, which should be the one
 * that creates the others). Returns 0 or -errno. */
int reactor_watch_signals(struct reactor *reactor, const sigset_t *mask,
			  void (*handler)(struct reactor *reactor, int signo));

/* Initialise a timer that is not armed. */
void reactor_timer_init(struct reactor_timer *timer, void (*expired)(struct reactor_timer *));

/* Arm (or move) `timer` to expire at deadline_ns (CLOCK_MONOTONIC). Returns
 * 0 or -ENOMEM. */
int reactor_timer_arm(struct reactor *reactor, struct reactor_timer *timer, uint64_t deadline_ns);

/* Disarm `timer`; disarming a disarmed timer is a no-op. */
void reactor_timer_cancel(struct reactor *reactor, struct reactor_timer *timer);

static inline bool
reactor_timer_armed(const struct reactor_timer *timer)
{
	return timer->heap_index != SIZE_MAX;
}

/* CLOCK_MONOTONIC now, in nanoseconds. */
uint64_t reactor_now_ns(void);

#endif
