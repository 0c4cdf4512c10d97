/*
 * Time for the tests: CLOCK_MONOTONIC in milliseconds, sleeps, and absolute
 * deadlines for pthread_cond_timedwait() on a condition variable set to
 * CLOCK_MONOTONIC. Shared by every test program and support module, so that
 * each bounded wait is written with the same three functions.
 */
#ifndef SOCKBROKER_TEST_CLOCK_H
#define SOCKBROKER_TEST_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t test_now_ms(void);

/* Sleep for `ms` milliseconds. */
void test_sleep_ms(int ms);

/* *ts = CLOCK_MONOTONIC now + `ms` milliseconds. */
void test_deadline_after_ms(struct timespec *ts, int ms);

#endif
