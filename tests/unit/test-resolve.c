/*
 * Unit tests of server/resolve.c: lookups on the worker pool, completions on the reactor
 * thread, and shutdown with work in flight.
 *
 * Two libc functions are stood in for, as a test seam (the executable's definitions win over
 * libc's for the server library linked into it):
 *   - getaddrinfo(): the name GATED_HOST blocks its worker until the test opens the gate, so
 *     that workers can be kept busy on purpose; other names go to libc's getaddrinfo. Every call
 *     records the thread it ran on.
 *   - pthread_join(): opens the gate, then joins. resolver_free() joins its workers only after
 *     it has taken the queue, so this lets the busy workers finish at exactly the moment they
 *     can no longer pick up a queued job. No sleeps, no races.
 */
#include <arpa/inet.h>
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reactor.h"
#include "resolve.h"

#define GATED_HOST "gate.sockbroker.test"
#define MS 1000000ULL
#define GUARD_NS (5000 * MS)

/* ---- the stand-ins ---------------------------------------------------------------------- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;
	int waiting;            /* lookups blocked at the gate */
	int lookups;            /* getaddrinfo() calls */
	bool on_reactor_thread; /* some lookup ran on the reactor thread */
	struct addrinfo hints;  /* of the last call */
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, 0, false, {0}};

static pthread_t reactor_thread;

typedef int getaddrinfo_fn(const char *, const char *, const struct addrinfo *, struct addrinfo **);
typedef int pthread_join_fn(pthread_t, void **);

static getaddrinfo_fn *libc_getaddrinfo;
static pthread_join_fn *libc_pthread_join;
static pthread_once_t libc_once = PTHREAD_ONCE_INIT;

static void
find_libc(void)
{
	void *sym;

	/* Through memcpy: ISO C has no conversion from void * to a function pointer. */
	sym = dlsym(RTLD_NEXT, "getaddrinfo");
	memcpy(&libc_getaddrinfo, &sym, sizeof(sym));
	sym = dlsym(RTLD_NEXT, "pthread_join");
	memcpy(&libc_pthread_join, &sym, sizeof(sym));
}

static void
open_gate(void)
{
	pthread_mutex_lock(&gate.lock);
	gate.open = true;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}

int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
	    struct addrinfo **res)
{
	pthread_once(&libc_once, find_libc);
	pthread_mutex_lock(&gate.lock);
	gate.lookups++;
	if (hints)
		gate.hints = *hints;
	if (pthread_equal(pthread_self(), reactor_thread))
		gate.on_reactor_thread = true;
	if (node && strcmp(node, GATED_HOST) == 0) {
		gate.waiting++;
		pthread_cond_broadcast(&gate.cond);
		while (!gate.open)
			pthread_cond_wait(&gate.cond, &gate.lock);
		gate.waiting--;
		pthread_mutex_unlock(&gate.lock);
		return EAI_NONAME;
	}
	pthread_mutex_unlock(&gate.lock);
	return libc_getaddrinfo(node, service, hints, res);
}

int
pthread_join(pthread_t thread, void **retval)
{
	pthread_once(&libc_once, find_libc);
	open_gate();
	return libc_pthread_join(thread, retval);
}

/* Wait until `n` lookups are blocked at the gate; fail after 5 s. */
static void
wait_for_gate(int n)
{
	struct timespec deadline;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	pthread_mutex_lock(&gate.lock);
	while (gate.waiting < n && r == 0)
		r = pthread_cond_timedwait(&gate.cond, &gate.lock, &deadline);
	pthread_mutex_unlock(&gate.lock);
	ck_assert_msg(r == 0, "%d lookups did not reach the gate within 5 s", n);
}

/* ---- fixture ---------------------------------------------------------------------------- */

static struct reactor *reactor;
static struct resolver *resolver;

struct test_job {
	struct resolve_address_job job;
	int completions;
	bool on_reactor_thread;
};

static int completed;
static int expected;

static void
on_complete(struct resolve_job *job)
{
	struct test_job *t = (struct test_job *)job;

	t->completions++;
	t->on_reactor_thread = pthread_equal(pthread_self(), reactor_thread);
	if (++completed == expected)
		reactor_stop(reactor);
}

static void
setup(void)
{
	ck_assert_int_eq(reactor_new(&reactor), 0);
	reactor_thread = pthread_self();
	ck_assert_int_eq(resolver_new(&resolver, reactor, 2), 0);
	pthread_mutex_lock(&gate.lock);
	gate.open = false;
	gate.lookups = 0;
	gate.on_reactor_thread = false;
	memset(&gate.hints, 0, sizeof(gate.hints));
	pthread_mutex_unlock(&gate.lock);
	completed = 0;
	expected = 0;
}

static void
teardown(void)
{
	resolver_free(resolver);
	reactor_drain(reactor);
	reactor_free(reactor);
}

static void
job_init(struct test_job *t, const char *host, int family)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->job.host, sizeof(t->job.host), "%s", host);
	t->job.family = family;
	t->job.socktype = SOCK_STREAM;
	t->job.job.work = resolve_address_work;
	t->job.job.complete = on_complete;
	t->job.gai_error = INT_MIN; /* so that "never written" shows */
}

static bool guard_fired;

static void
guard_expired(struct reactor_timer *timer)
{
	guard_fired = true;
	reactor_stop(reactor);
}

/* Run the reactor until `n` jobs completed; fail after 5 s. */
static void
run_until_completed(int n)
{
	struct reactor_timer guard;

	expected = n;
	guard_fired = false;
	reactor_timer_init(&guard, guard_expired);
	ck_assert_int_eq(reactor_timer_arm(reactor, &guard, reactor_now_ns() + GUARD_NS), 0);
	ck_assert_int_eq(reactor_run(reactor), 0);
	reactor_timer_cancel(reactor, &guard);
	ck_assert_msg(!guard_fired, "%d of %d lookups completed within 5 s", completed, n);
}

/* ---- tests ------------------------------------------------------------------------------ */

START_TEST(resolve_localhost_completes_on_the_reactor_thread_with_127_0_0_1)
{
	struct test_job t;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&t.job.result;

	job_init(&t, "localhost", AF_INET);
	resolver_submit(resolver, &t.job.job);
	run_until_completed(1);
	ck_assert_int_eq(t.completions, 1);
	ck_assert(t.on_reactor_thread);
	ck_assert_int_eq(t.job.gai_error, 0);
	ck_assert_int_eq(t.job.result_len, sizeof(struct sockaddr_in));
	ck_assert_int_eq(sin->sin_family, AF_INET);
	ck_assert_uint_eq(sin->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	/* The lookup itself ran on a worker. */
	ck_assert_int_eq(gate.lookups, 1);
	ck_assert(!gate.on_reactor_thread);
}
END_TEST

START_TEST(resolve_inet6_literal_gives_the_sockaddr_in6)
{
	struct test_job t;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&t.job.result;

	job_init(&t, "::1", AF_INET6);
	resolver_submit(resolver, &t.job.job);
	run_until_completed(1);
	ck_assert_int_eq(t.job.gai_error, 0);
	ck_assert_int_eq(t.job.result_len, sizeof(struct sockaddr_in6));
	ck_assert_int_eq(sin6->sin6_family, AF_INET6);
	ck_assert(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
}
END_TEST

START_TEST(resolve_asks_libc_as_the_reference_does_without_ai_addrconfig)
{
	struct test_job t;

	/* With AI_ADDRCONFIG glibc ignores loopback addresses, so in a namespace that has only
	 * lo (a sandbox, a `--network none` container) even "localhost" would not resolve. */
	job_init(&t, "localhost", AF_INET);
	t.job.socktype = SOCK_DGRAM;
	resolver_submit(resolver, &t.job.job);
	run_until_completed(1);
	ck_assert_int_eq(gate.lookups, 1);
	ck_assert_int_eq(gate.hints.ai_family, AF_INET);
	ck_assert_int_eq(gate.hints.ai_socktype, SOCK_DGRAM);
	ck_assert_int_eq((gate.hints.ai_flags & AI_ADDRCONFIG), 0);
}
END_TEST

START_TEST(resolve_of_an_invalid_name_completes_with_a_gai_error)
{
	struct test_job t;

	job_init(&t, "name.invalid", AF_INET);
	resolver_submit(resolver, &t.job.job);
	run_until_completed(1);
	ck_assert_int_eq(t.completions, 1);
	ck_assert(t.on_reactor_thread);
	/* .invalid never resolves (RFC 6761); without a network the answer may be EAI_AGAIN. */
	ck_assert_msg(t.job.gai_error == EAI_NONAME || t.job.gai_error == EAI_AGAIN,
		      "gai_error %d (%s)", t.job.gai_error, gai_strerror(t.job.gai_error));
}
END_TEST

START_TEST(resolve_many_jobs_complete_once_each_on_the_reactor_thread)
{
	enum { N = 24 };
	struct test_job jobs[N];

	for (int i = 0; i < N; i++) {
		job_init(&jobs[i], i % 3 ? "localhost" : "127.0.0.2", AF_INET);
		resolver_submit(resolver, &jobs[i].job.job);
	}
	run_until_completed(N);
	for (int i = 0; i < N; i++) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&jobs[i].job.result;
		in_addr_t want = i % 3 ? INADDR_LOOPBACK : 0x7f000002;

		ck_assert_int_eq(jobs[i].completions, 1);
		ck_assert(jobs[i].on_reactor_thread);
		ck_assert_int_eq(jobs[i].job.gai_error, 0);
		ck_assert_uint_eq(sin->sin_addr.s_addr, htonl(want));
	}
	ck_assert(!gate.on_reactor_thread);
}
END_TEST

START_TEST(resolve_jobs_run_while_another_worker_is_blocked)
{
	struct test_job blocked, quick;

	job_init(&blocked, GATED_HOST, AF_INET);
	job_init(&quick, "localhost", AF_INET);
	resolver_submit(resolver, &blocked.job.job);
	wait_for_gate(1);
	/* One worker is stuck in a slow lookup; the other still serves. */
	resolver_submit(resolver, &quick.job.job);
	run_until_completed(1);
	ck_assert_int_eq(quick.completions, 1);
	ck_assert_int_eq(quick.job.gai_error, 0);
	ck_assert_int_eq(blocked.completions, 0);

	/* A reactor runs once; the blocked lookup comes back through shutdown instead. */
	open_gate();
	resolver_free(resolver);
	resolver = NULL;
	reactor_drain(reactor);
	ck_assert_int_eq(blocked.completions, 1);
	ck_assert_int_eq(blocked.job.gai_error, EAI_NONAME);
}
END_TEST

START_TEST(resolver_free_waits_for_a_lookup_in_progress)
{
	struct test_job busy;

	job_init(&busy, GATED_HOST, AF_INET);
	resolver_submit(resolver, &busy.job.job);
	wait_for_gate(1);
	resolver_free(resolver);
	resolver = NULL;
	/* The lookup finished with its own answer; it was not cancelled. */
	ck_assert_int_eq(busy.completions, 0);
	reactor_drain(reactor);
	ck_assert_int_eq(busy.completions, 1);
	ck_assert(busy.on_reactor_thread);
	ck_assert_int_eq(busy.job.gai_error, EAI_NONAME);
}
END_TEST

START_TEST(resolver_free_with_queued_jobs_completes_them_as_cancelled)
{
	enum { QUEUED = 3 };
	struct test_job busy[2], queued[QUEUED];

	/* Both workers busy, three jobs waiting behind them. */
	for (int i = 0; i < 2; i++) {
		job_init(&busy[i], GATED_HOST, AF_INET);
		resolver_submit(resolver, &busy[i].job.job);
	}
	wait_for_gate(2);
	for (int i = 0; i < QUEUED; i++) {
		job_init(&queued[i], "localhost", AF_INET);
		resolver_submit(resolver, &queued[i].job.job);
	}
	resolver_free(resolver);
	resolver = NULL;
	/* Completions are posted: none has run yet, all run on the next drain. */
	for (int i = 0; i < QUEUED; i++)
		ck_assert_int_eq(queued[i].completions, 0);
	reactor_drain(reactor);
	for (int i = 0; i < QUEUED; i++) {
		ck_assert_int_eq(queued[i].completions, 1);
		ck_assert(queued[i].on_reactor_thread);
		/* Cancelled: the lookup never ran, so its output is as it was. */
		ck_assert(queued[i].job.job.cancelled);
		ck_assert_int_eq(queued[i].job.gai_error, INT_MIN);
	}
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(busy[i].completions, 1);
		ck_assert_int_eq(busy[i].job.gai_error, EAI_NONAME);
	}
	/* The queued names were never looked up. */
	ck_assert_int_eq(gate.lookups, 2);
}
END_TEST

struct custom_job {
	struct resolve_job job;
	bool worked_on_reactor_thread;
	int value;
	int completions;
};

static void
custom_work(struct resolve_job *job)
{
	struct custom_job *c = (struct custom_job *)job;

	c->worked_on_reactor_thread = pthread_equal(pthread_self(), reactor_thread);
	c->value = 42;
}

static void
custom_complete(struct resolve_job *job)
{
	struct custom_job *c = (struct custom_job *)job;

	c->completions++;
	if (++completed == expected)
		reactor_stop(reactor);
}

START_TEST(resolve_runs_any_work_function_on_a_worker_and_completes_on_the_reactor)
{
	struct custom_job c = { .job = { .work = custom_work, .complete = custom_complete } };

	resolver_submit(resolver, &c.job);
	run_until_completed(1);
	ck_assert_int_eq(c.completions, 1);
	ck_assert(!c.worked_on_reactor_thread);
	ck_assert_int_eq(c.value, 42);
	ck_assert(!c.job.cancelled);
	/* No getaddrinfo() was involved. */
	ck_assert_int_eq(gate.lookups, 0);
}
END_TEST

START_TEST(resolve_one_owner_takes_at_most_its_share_and_others_get_a_new_worker)
{
	struct test_job hung[3], other;

	/* Owner 1 fills its share of the two workers; its third job waits. */
	for (int i = 0; i < 3; i++) {
		job_init(&hung[i], GATED_HOST, AF_INET);
		hung[i].job.job.owner = 1;
		resolver_submit(resolver, &hung[i].job.job);
	}
	wait_for_gate(2);
	ck_assert_uint_eq(resolver_thread_count(resolver), 2);

	/* Owner 2 is not held up by them: the pool grows for its lookup. */
	job_init(&other, "localhost", AF_INET);
	other.job.job.owner = 2;
	resolver_submit(resolver, &other.job.job);
	run_until_completed(1);
	ck_assert_int_eq(other.completions, 1);
	ck_assert_int_eq(other.job.gai_error, 0);
	ck_assert_uint_eq(resolver_thread_count(resolver), 3);
	pthread_mutex_lock(&gate.lock);
	ck_assert_int_eq(gate.waiting, 2); /* the third of owner 1 never started */
	pthread_mutex_unlock(&gate.lock);

	/* Once owner 1's lookups end, its queued one runs (a gated name broadcasts when a
	 * lookup of it starts). A reactor runs once: the completions come with the drain. */
	open_gate();
	struct timespec deadline;
	int r = 0;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	pthread_mutex_lock(&gate.lock);
	while (gate.lookups < 4 && r == 0)
		r = pthread_cond_timedwait(&gate.cond, &gate.lock, &deadline);
	pthread_mutex_unlock(&gate.lock);
	ck_assert_msg(r == 0, "owner 1's queued lookup did not start within 5 s");
	resolver_free(resolver);
	resolver = NULL;
	reactor_drain(reactor);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(hung[i].completions, 1);
		ck_assert(!hung[i].job.job.cancelled);
		ck_assert_int_eq(hung[i].job.gai_error, EAI_NONAME);
	}
}
END_TEST

START_TEST(resolver_new_refuses_a_pool_size_out_of_range)
{
	struct resolver *r = NULL;

	ck_assert_int_eq(resolver_new(&r, reactor, 0), -EINVAL);
	ck_assert_int_eq(resolver_new(&r, reactor, RESOLVER_MAX_THREADS + 1), -EINVAL);
	ck_assert_ptr_null(r);
}
END_TEST

START_TEST(resolver_free_of_null_is_a_noop)
{
	resolver_free(NULL);
}
END_TEST

static Suite *
resolve_suite(void)
{
	Suite *s = suite_create("resolve");
	TCase *tc = tcase_create("resolve");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, resolve_localhost_completes_on_the_reactor_thread_with_127_0_0_1);
	tcase_add_test(tc, resolve_inet6_literal_gives_the_sockaddr_in6);
	tcase_add_test(tc, resolve_asks_libc_as_the_reference_does_without_ai_addrconfig);
	tcase_add_test(tc, resolve_of_an_invalid_name_completes_with_a_gai_error);
	tcase_add_test(tc, resolve_many_jobs_complete_once_each_on_the_reactor_thread);
	tcase_add_test(tc, resolve_jobs_run_while_another_worker_is_blocked);
	tcase_add_test(tc, resolver_free_waits_for_a_lookup_in_progress);
	tcase_add_test(tc, resolver_free_with_queued_jobs_completes_them_as_cancelled);
	tcase_add_test(tc, resolve_runs_any_work_function_on_a_worker_and_completes_on_the_reactor);
	tcase_add_test(tc, resolve_one_owner_takes_at_most_its_share_and_others_get_a_new_worker);
	tcase_add_test(tc, resolver_new_refuses_a_pool_size_out_of_range);
	tcase_add_test(tc, resolver_free_of_null_is_a_noop);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(resolve_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
