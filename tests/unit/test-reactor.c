/*
 * Unit tests of server/reactor.c: posted and deferred tasks, timers, fds and signals. Every
 * reactor_run() goes through run_bounded(): a watchdog thread stops the reactor after
 * WATCHDOG_SECONDS and the test fails, so a lost wake-up or a timer that never fires is a
 * failure, not a hang. Timers are not used for that bound on purpose: they are under test.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "reactor.h"

#define WATCHDOG_SECONDS 5
#define MS 1000000ULL

static struct reactor *reactor;
static pthread_t reactor_thread;

/* What the callbacks saw, in order. */
static int events[4096];
static size_t n_events;
static bool all_on_reactor_thread;

static void
record(int what)
{
	ck_assert_uint_lt(n_events, sizeof(events) / sizeof(events[0]));
	events[n_events++] = what;
	if (!pthread_equal(pthread_self(), reactor_thread))
		all_on_reactor_thread = false;
}

static void
setup(void)
{
	ck_assert_int_eq(reactor_new(&reactor), 0);
	reactor_thread = pthread_self();
	n_events = 0;
	all_on_reactor_thread = true;
}

static void
teardown(void)
{
	reactor_free(reactor);
	reactor = NULL;
}

/* ---- the watchdog ----------------------------------------------------------------------- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	bool fired;
} watchdog = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false};

static void *
watchdog_main(void *arg)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += WATCHDOG_SECONDS;
	pthread_mutex_lock(&watchdog.lock);
	while (!watchdog.done) {
		int r = pthread_cond_timedwait(&watchdog.cond, &watchdog.lock, &deadline);

		if (r == ETIMEDOUT && !watchdog.done) {
			watchdog.fired = true;
			reactor_stop(arg);
			break;
		}
	}
	pthread_mutex_unlock(&watchdog.lock);
	return NULL;
}

/* Run the reactor until a callback stops it; fail if that takes WATCHDOG_SECONDS. */
static void
run_bounded(void)
{
	pthread_t thread;

	watchdog.done = false;
	watchdog.fired = false;
	ck_assert_int_eq(pthread_create(&thread, NULL, watchdog_main, reactor), 0);
	ck_assert_int_eq(reactor_run(reactor), 0);
	pthread_mutex_lock(&watchdog.lock);
	watchdog.done = true;
	pthread_cond_signal(&watchdog.cond);
	pthread_mutex_unlock(&watchdog.lock);
	pthread_join(thread, NULL);
	ck_assert_msg(!watchdog.fired, "the reactor was not stopped within %d s", WATCHDOG_SECONDS);
}

/* ---- posted tasks ----------------------------------------------------------------------- */

struct numbered_task {
	struct reactor_task task;
	int number;
	bool last; /* stops the reactor */
};

static void
numbered_run(struct reactor_task *task)
{
	struct numbered_task *t = (struct numbered_task *)task;

	record(t->number);
	if (t->last)
		reactor_stop(reactor);
}

#define POSTED 200
static struct numbered_task posted[POSTED];

static void *
post_all(void *arg)
{
	for (int i = 0; i < POSTED; i++) {
		posted[i].task.run = numbered_run;
		posted[i].number = i;
		posted[i].last = i == POSTED - 1;
		reactor_post(reactor, &posted[i].task);
		if (i % 16 == 0)
			usleep(100); /* let some posts find the queue empty, some not */
	}
	return NULL;
}

START_TEST(reactor_post_from_another_thread_runs_on_the_reactor_thread_in_fifo_order)
{
	pthread_t poster;

	ck_assert_int_eq(pthread_create(&poster, NULL, post_all, NULL), 0);
	run_bounded();
	pthread_join(poster, NULL);
	ck_assert_uint_eq(n_events, POSTED);
	for (int i = 0; i < POSTED; i++)
		ck_assert_int_eq(events[i], i);
	ck_assert(all_on_reactor_thread);
}
END_TEST

#define POSTERS 4
#define PER_POSTER 500
static struct numbered_task many[POSTERS][PER_POSTER];
static int many_done;

static void
many_run(struct reactor_task *task)
{
	struct numbered_task *t = (struct numbered_task *)task;

	record(t->number);
	if (++many_done == POSTERS * PER_POSTER)
		reactor_stop(reactor);
}

static void *
post_many(void *arg)
{
	int poster = (int)(intptr_t)arg;

	for (int i = 0; i < PER_POSTER; i++) {
		many[poster][i].task.run = many_run;
		many[poster][i].number = poster * PER_POSTER + i;
		reactor_post(reactor, &many[poster][i].task);
	}
	return NULL;
}

START_TEST(reactor_post_from_many_threads_runs_every_task_once_in_each_posters_order)
{
	pthread_t posters[POSTERS];
	int last_seen[POSTERS];

	many_done = 0;
	for (int p = 0; p < POSTERS; p++)
		ck_assert_int_eq(pthread_create(&posters[p], NULL, post_many, (void *)(intptr_t)p),
				 0);
	run_bounded();
	for (int p = 0; p < POSTERS; p++) {
		pthread_join(posters[p], NULL);
		last_seen[p] = -1;
	}
	ck_assert_uint_eq(n_events, POSTERS * PER_POSTER);
	for (size_t i = 0; i < n_events; i++) {
		int poster = events[i] / PER_POSTER, index = events[i] % PER_POSTER;

		ck_assert_int_eq(index, last_seen[poster] + 1);
		last_seen[poster] = index;
	}
	ck_assert(all_on_reactor_thread);
}
END_TEST

START_TEST(reactor_post_before_run_runs_on_the_first_turn)
{
	struct numbered_task task = {.task.run = numbered_run, .number = 7, .last = true};

	reactor_post(reactor, &task.task);
	run_bounded();
	ck_assert_uint_eq(n_events, 1);
	ck_assert_int_eq(events[0], 7);
}
END_TEST

START_TEST(reactor_drain_runs_posted_then_deferred_tasks_without_waiting)
{
	struct numbered_task deferred = {.task.run = numbered_run, .number = 2};
	struct numbered_task first = {.task.run = numbered_run, .number = 0};
	struct numbered_task second = {.task.run = numbered_run, .number = 1};

	reactor_defer(reactor, &deferred.task);
	reactor_post(reactor, &first.task);
	reactor_post(reactor, &second.task);
	reactor_drain(reactor);
	ck_assert_uint_eq(n_events, 3);
	ck_assert_int_eq(events[0], 0);
	ck_assert_int_eq(events[1], 1);
	ck_assert_int_eq(events[2], 2);
	/* Nothing is left to run a second time. */
	reactor_drain(reactor);
	ck_assert_uint_eq(n_events, 3);
}
END_TEST

/* ---- timers ----------------------------------------------------------------------------- */

struct test_timer {
	struct reactor_timer timer;
	int number;
	bool last;
	bool armed_in_callback;
	int rearms; /* times the callback re-arms it */
};

static void
test_timer_expired(struct reactor_timer *timer)
{
	struct test_timer *t = (struct test_timer *)timer;

	record(t->number);
	t->armed_in_callback = reactor_timer_armed(timer);
	if (t->rearms > 0) {
		t->rearms--;
		ck_assert_int_eq(reactor_timer_arm(reactor, timer, reactor_now_ns() + MS), 0);
		return;
	}
	if (t->last)
		reactor_stop(reactor);
}

static void
timer_init(struct test_timer *t, int number, bool last)
{
	memset(t, 0, sizeof(*t));
	reactor_timer_init(&t->timer, test_timer_expired);
	t->number = number;
	t->last = last;
}

START_TEST(reactor_timer_init_leaves_it_disarmed)
{
	struct test_timer t;

	timer_init(&t, 0, false);
	ck_assert(!reactor_timer_armed(&t.timer));
	ck_assert_int_eq(reactor_timer_arm(reactor, &t.timer, reactor_now_ns() + 1000 * MS), 0);
	ck_assert(reactor_timer_armed(&t.timer));
	reactor_timer_cancel(reactor, &t.timer);
	ck_assert(!reactor_timer_armed(&t.timer));
}
END_TEST

START_TEST(reactor_timer_fires_in_deadline_order)
{
	struct test_timer a, b, c;
	uint64_t now = reactor_now_ns();

	timer_init(&a, 1, false);
	timer_init(&b, 2, false);
	timer_init(&c, 3, true);
	ck_assert_int_eq(reactor_timer_arm(reactor, &c.timer, now + 60 * MS), 0);
	ck_assert_int_eq(reactor_timer_arm(reactor, &a.timer, now + 20 * MS), 0);
	ck_assert_int_eq(reactor_timer_arm(reactor, &b.timer, now + 40 * MS), 0);
	run_bounded();
	ck_assert_uint_eq(n_events, 3);
	ck_assert_int_eq(events[0], 1);
	ck_assert_int_eq(events[1], 2);
	ck_assert_int_eq(events[2], 3);
	/* Each was disarmed before its callback ran. */
	ck_assert(!a.armed_in_callback && !b.armed_in_callback && !c.armed_in_callback);
	ck_assert(all_on_reactor_thread);
	/* None fired before its deadline. */
	ck_assert_uint_ge(reactor_now_ns(), now + 60 * MS);
}
END_TEST

START_TEST(reactor_timer_cancel_keeps_it_from_firing)
{
	struct test_timer cancelled, stopper;
	uint64_t now = reactor_now_ns();

	timer_init(&cancelled, 1, false);
	timer_init(&stopper, 2, true);
	ck_assert_int_eq(reactor_timer_arm(reactor, &cancelled.timer, now + 10 * MS), 0);
	ck_assert_int_eq(reactor_timer_arm(reactor, &stopper.timer, now + 50 * MS), 0);
	reactor_timer_cancel(reactor, &cancelled.timer);
	ck_assert(!reactor_timer_armed(&cancelled.timer));
	/* Cancelling a disarmed timer is a no-op. */
	reactor_timer_cancel(reactor, &cancelled.timer);
	ck_assert(reactor_timer_armed(&stopper.timer));
	run_bounded();
	ck_assert_uint_eq(n_events, 1);
	ck_assert_int_eq(events[0], 2);
}
END_TEST

START_TEST(reactor_timer_cancel_of_the_earliest_lets_the_next_one_fire)
{
	struct test_timer earliest, next;
	uint64_t now = reactor_now_ns();

	timer_init(&earliest, 1, true);
	timer_init(&next, 2, true);
	ck_assert_int_eq(reactor_timer_arm(reactor, &earliest.timer, now + 10 * MS), 0);
	ck_assert_int_eq(reactor_timer_arm(reactor, &next.timer, now + 30 * MS), 0);
	reactor_timer_cancel(reactor, &earliest.timer);
	run_bounded();
	ck_assert_uint_eq(n_events, 1);
	ck_assert_int_eq(events[0], 2);
}
END_TEST

START_TEST(reactor_timer_rearm_moves_it_later)
{
	struct test_timer moved, other;
	uint64_t now = reactor_now_ns();

	timer_init(&moved, 1, true);
	timer_init(&other, 2, false);
	ck_assert_int_eq(reactor_timer_arm(reactor, &moved.timer, now + 10 * MS), 0);
	ck_assert_int_eq(reactor_timer_arm(reactor, &other.timer, now + 30 * MS), 0);
	ck_assert_int_eq(reactor_timer_arm(reactor, &moved.timer, now + 60 * MS), 0);
	run_bounded();
	ck_assert_uint_eq(n_events, 2);
	ck_assert_int_eq(events[0], 2);
	ck_assert_int_eq(events[1], 1);
	ck_assert_uint_ge(reactor_now_ns(), now + 60 * MS);
}
END_TEST

static void arm_from_task(struct reactor_task *task);

static struct test_timer far_away;
static struct reactor_task arm_task = {NULL, arm_from_task};

static void
arm_from_task(struct reactor_task *task)
{
	/* Moves an armed timer from an hour away to 10 ms away while the reactor runs: the
	 * timerfd armed for the hour must be re-armed. */
	ck_assert_int_eq(reactor_timer_arm(reactor, &far_away.timer, reactor_now_ns() + 10 * MS),
			 0);
}

START_TEST(reactor_timer_rearm_moves_it_earlier_while_running)
{
	timer_init(&far_away, 1, true);
	ck_assert_int_eq(
		reactor_timer_arm(reactor, &far_away.timer, reactor_now_ns() + 3600 * 1000 * MS),
		0);
	reactor_post(reactor, &arm_task);
	run_bounded();
	ck_assert_uint_eq(n_events, 1);
	ck_assert_int_eq(events[0], 1);
}
END_TEST

START_TEST(reactor_timer_armed_in_the_past_fires_on_the_next_turn)
{
	struct test_timer past;

	timer_init(&past, 1, true);
	ck_assert_int_eq(reactor_timer_arm(reactor, &past.timer, reactor_now_ns() - 1000), 0);
	run_bounded();
	ck_assert_uint_eq(n_events, 1);
	ck_assert(!past.armed_in_callback);
}
END_TEST

START_TEST(reactor_timer_armed_at_deadline_zero_fires_on_the_next_turn)
{
	struct test_timer zero;

	/* 0 is the earliest CLOCK_MONOTONIC time there is: long past. */
	timer_init(&zero, 1, true);
	ck_assert_int_eq(reactor_timer_arm(reactor, &zero.timer, 0), 0);
	run_bounded();
	ck_assert_uint_eq(n_events, 1);
}
END_TEST

START_TEST(reactor_timer_expired_callback_may_rearm_it)
{
	struct test_timer periodic;

	timer_init(&periodic, 5, true);
	periodic.rearms = 3;
	ck_assert_int_eq(reactor_timer_arm(reactor, &periodic.timer, reactor_now_ns() + MS), 0);
	run_bounded();
	ck_assert_uint_eq(n_events, 4);
	ck_assert(!reactor_timer_armed(&periodic.timer));
}
END_TEST

static uint64_t
next_random(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

#define MANY_TIMERS 600
static struct test_timer heap[MANY_TIMERS];
static size_t heap_expected;

static void
heap_expired(struct reactor_timer *timer)
{
	struct test_timer *t = (struct test_timer *)timer;

	record(t->number);
	if (n_events == heap_expected)
		reactor_stop(reactor);
}

START_TEST(reactor_many_timers_moved_and_cancelled_fire_in_deadline_order)
{
	uint64_t now = reactor_now_ns(), state = 0x2545f4914f6cdd1dULL;
	bool armed[MANY_TIMERS];

	/* All deadlines are in [1, now]: every timer still armed fires in the first turn, in
	 * the order of the heap. */
	for (int i = 0; i < MANY_TIMERS; i++) {
		reactor_timer_init(&heap[i].timer, heap_expired);
		heap[i].number = i;
		ck_assert_int_eq(
			reactor_timer_arm(reactor, &heap[i].timer, 1 + next_random(&state) % now),
			0);
		armed[i] = true;
	}
	for (int round = 0; round < 3 * MANY_TIMERS; round++) {
		int i = (int)(next_random(&state) % MANY_TIMERS);

		if (next_random(&state) % 3 == 0) {
			reactor_timer_cancel(reactor, &heap[i].timer);
			armed[i] = false;
		} else {
			ck_assert_int_eq(reactor_timer_arm(reactor, &heap[i].timer,
							   1 + next_random(&state) % now),
					 0);
			armed[i] = true;
		}
	}
	heap_expected = 0;
	for (int i = 0; i < MANY_TIMERS; i++) {
		ck_assert(reactor_timer_armed(&heap[i].timer) == armed[i]);
		heap_expected += armed[i];
	}
	ck_assert_uint_gt(heap_expected, 0);
	run_bounded();
	ck_assert_uint_eq(n_events, heap_expected);
	for (size_t k = 0; k < n_events; k++) {
		ck_assert(armed[events[k]]);
		armed[events[k]] = false; /* each fires once */
		if (k > 0)
			ck_assert_uint_le(heap[events[k - 1]].timer.deadline_ns,
					  heap[events[k]].timer.deadline_ns);
	}
}
END_TEST

/* ---- deferred tasks --------------------------------------------------------------------- */

enum { POSTED_RAN = 1, TIMER_RAN, FIRST_DEFERRED_RAN, SECOND_DEFERRED_RAN, NEXT_TURN_RAN };

static void second_deferred(struct reactor_task *task);
static void first_deferred(struct reactor_task *task);
static void next_turn(struct reactor_task *task);
static void post_and_defer(struct reactor_task *task);
static void past_timer_expired(struct reactor_timer *timer);

static struct reactor_task defer_tasks[5] = {
	{NULL, post_and_defer},
	{NULL, first_deferred},
	{NULL, second_deferred},
	{NULL, next_turn},
};
static struct reactor_timer past_timer;

static void
post_and_defer(struct reactor_task *task)
{
	record(POSTED_RAN);
	reactor_defer(reactor, &defer_tasks[1]);
	ck_assert_int_eq(reactor_timer_arm(reactor, &past_timer, reactor_now_ns() - MS), 0);
}

static void
past_timer_expired(struct reactor_timer *timer)
{
	record(TIMER_RAN);
}

static void
first_deferred(struct reactor_task *task)
{
	record(FIRST_DEFERRED_RAN);
	/* Posted work waits for the next turn; deferred work runs in this one. */
	reactor_post(reactor, &defer_tasks[3]);
	reactor_defer(reactor, &defer_tasks[2]);
}

static void
second_deferred(struct reactor_task *task)
{
	record(SECOND_DEFERRED_RAN);
}

static void
next_turn(struct reactor_task *task)
{
	record(NEXT_TURN_RAN);
	reactor_stop(reactor);
}

START_TEST(reactor_defer_runs_at_the_end_of_the_turn_after_expired_timers)
{
	reactor_timer_init(&past_timer, past_timer_expired);
	reactor_post(reactor, &defer_tasks[0]);
	run_bounded();
	ck_assert_uint_eq(n_events, 5);
	ck_assert_int_eq(events[0], POSTED_RAN);
	ck_assert_int_eq(events[1], TIMER_RAN);
	ck_assert_int_eq(events[2], FIRST_DEFERRED_RAN);
	ck_assert_int_eq(events[3], SECOND_DEFERRED_RAN);
	ck_assert_int_eq(events[4], NEXT_TURN_RAN);
}
END_TEST

/* ---- file descriptors ------------------------------------------------------------------- */

static struct reactor_source *seen_source;
static uint32_t seen_events;

static void
pipe_ready(struct reactor_source *source, uint32_t ev)
{
	record((int)ev);
	seen_source = source;
	seen_events |= ev;
	reactor_stop(reactor);
}

START_TEST(reactor_add_fd_with_a_readable_pipe_calls_ready_with_epollin)
{
	int fds[2];
	struct reactor_source source;

	ck_assert_int_eq(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
	source.fd = fds[0];
	source.ready = pipe_ready;
	seen_source = NULL;
	seen_events = 0;
	ck_assert_int_eq(reactor_add_fd(reactor, &source, EPOLLIN), 0);
	ck_assert_int_eq(write(fds[1], "x", 1), 1);
	run_bounded();
	ck_assert_ptr_eq(seen_source, &source);
	ck_assert(seen_events & EPOLLIN);
	ck_assert(all_on_reactor_thread);
	reactor_del_fd(reactor, &source);
	close(fds[0]);
	close(fds[1]);
}
END_TEST

static void
stop_timer_expired(struct reactor_timer *timer)
{
	reactor_stop(reactor);
}

START_TEST(reactor_del_fd_stops_the_ready_calls)
{
	int fds[2];
	struct reactor_source source;
	struct reactor_timer stop;

	ck_assert_int_eq(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
	source.fd = fds[0];
	source.ready = pipe_ready;
	ck_assert_int_eq(reactor_add_fd(reactor, &source, EPOLLIN), 0);
	ck_assert_int_eq(write(fds[1], "x", 1), 1);
	reactor_del_fd(reactor, &source);
	reactor_timer_init(&stop, stop_timer_expired);
	ck_assert_int_eq(reactor_timer_arm(reactor, &stop, reactor_now_ns() + 50 * MS), 0);
	run_bounded();
	ck_assert_uint_eq(n_events, 0);
	close(fds[0]);
	close(fds[1]);
}
END_TEST

START_TEST(reactor_add_fd_twice_is_eexist)
{
	int fds[2];
	struct reactor_source source = {.ready = pipe_ready};

	ck_assert_int_eq(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
	source.fd = fds[0];
	ck_assert_int_eq(reactor_add_fd(reactor, &source, EPOLLIN), 0);
	ck_assert_int_eq(reactor_add_fd(reactor, &source, EPOLLIN), -EEXIST);
	reactor_del_fd(reactor, &source);
	close(fds[0]);
	close(fds[1]);
}
END_TEST

START_TEST(reactor_add_fd_of_a_closed_fd_is_ebadf)
{
	int fds[2];
	struct reactor_source source = {.ready = pipe_ready};

	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	close(fds[0]);
	close(fds[1]);
	source.fd = fds[0];
	ck_assert_int_eq(reactor_add_fd(reactor, &source, EPOLLIN), -EBADF);
}
END_TEST

/* ---- stop and signals ------------------------------------------------------------------- */

static void *
stop_later(void *arg)
{
	usleep(20000);
	reactor_stop(reactor);
	return NULL;
}

START_TEST(reactor_stop_from_another_thread_ends_reactor_run)
{
	pthread_t stopper;

	ck_assert_int_eq(pthread_create(&stopper, NULL, stop_later, NULL), 0);
	run_bounded();
	pthread_join(stopper, NULL);
}
END_TEST

static int seen_signo;

static void
on_signal(struct reactor *r, int signo)
{
	ck_assert_ptr_eq(r, reactor);
	record(signo);
	seen_signo = signo;
	reactor_stop(reactor);
}

START_TEST(reactor_watch_signals_delivers_a_raised_signal_on_the_reactor_thread)
{
	sigset_t mask, saved;

	/* The mask is the thread's: restore it, so that CK_FORK=no runs stay clean. */
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, NULL, &saved), 0);
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	ck_assert_int_eq(reactor_watch_signals(reactor, &mask, on_signal), 0);
	/* Blocked now: raising it cannot kill us, it waits for the signalfd. */
	ck_assert_int_eq(raise(SIGUSR1), 0);
	seen_signo = 0;
	run_bounded();
	ck_assert_int_eq(seen_signo, SIGUSR1);
	ck_assert_uint_eq(n_events, 1);
	ck_assert(all_on_reactor_thread);
	ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &saved, NULL), 0);
}
END_TEST

START_TEST(reactor_now_ns_never_goes_back)
{
	uint64_t before = reactor_now_ns();

	ck_assert_uint_gt(before, 0);
	usleep(2000);
	ck_assert_uint_ge(reactor_now_ns(), before + 2 * MS);
}
END_TEST

START_TEST(reactor_free_of_null_is_a_noop)
{
	reactor_free(NULL);
}
END_TEST

static Suite *
reactor_suite(void)
{
	Suite *s = suite_create("reactor");
	TCase *tasks = tcase_create("tasks");
	TCase *timers = tcase_create("timers");
	TCase *fds = tcase_create("fds");

	tcase_add_checked_fixture(tasks, setup, teardown);
	tcase_add_test(tasks,
		       reactor_post_from_another_thread_runs_on_the_reactor_thread_in_fifo_order);
	tcase_add_test(tasks,
		       reactor_post_from_many_threads_runs_every_task_once_in_each_posters_order);
	tcase_add_test(tasks, reactor_post_before_run_runs_on_the_first_turn);
	tcase_add_test(tasks, reactor_drain_runs_posted_then_deferred_tasks_without_waiting);
	tcase_add_test(tasks, reactor_defer_runs_at_the_end_of_the_turn_after_expired_timers);
	tcase_add_test(tasks, reactor_stop_from_another_thread_ends_reactor_run);
	tcase_add_test(tasks, reactor_watch_signals_delivers_a_raised_signal_on_the_reactor_thread);
	tcase_add_test(tasks, reactor_now_ns_never_goes_back);
	tcase_add_test(tasks, reactor_free_of_null_is_a_noop);
	suite_add_tcase(s, tasks);

	tcase_add_checked_fixture(timers, setup, teardown);
	tcase_add_test(timers, reactor_timer_init_leaves_it_disarmed);
	tcase_add_test(timers, reactor_timer_fires_in_deadline_order);
	tcase_add_test(timers, reactor_timer_cancel_keeps_it_from_firing);
	tcase_add_test(timers, reactor_timer_cancel_of_the_earliest_lets_the_next_one_fire);
	tcase_add_test(timers, reactor_timer_rearm_moves_it_later);
	tcase_add_test(timers, reactor_timer_rearm_moves_it_earlier_while_running);
	tcase_add_test(timers, reactor_timer_armed_in_the_past_fires_on_the_next_turn);
	tcase_add_test(timers, reactor_timer_armed_at_deadline_zero_fires_on_the_next_turn);
	tcase_add_test(timers, reactor_timer_expired_callback_may_rearm_it);
	tcase_add_test(timers, reactor_many_timers_moved_and_cancelled_fire_in_deadline_order);
	suite_add_tcase(s, timers);

	tcase_add_checked_fixture(fds, setup, teardown);
	tcase_add_test(fds, reactor_add_fd_with_a_readable_pipe_calls_ready_with_epollin);
	tcase_add_test(fds, reactor_del_fd_stops_the_ready_calls);
	tcase_add_test(fds, reactor_add_fd_twice_is_eexist);
	tcase_add_test(fds, reactor_add_fd_of_a_closed_fd_is_ebadf);
	suite_add_tcase(s, fds);
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(reactor_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
