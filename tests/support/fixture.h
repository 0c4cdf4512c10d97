/*
 * The shape every integration test program shares: one daemon under test
 * (started per test case, in a fresh temporary directory) with one client
 * session on it, a table of test cases, and a runner. Test programs define
 * only their cases, and their own setup when it differs.
 */
#ifndef SOCKBROKER_TEST_FIXTURE_H
#define SOCKBROKER_TEST_FIXTURE_H

#include <check.h>
#include <stddef.h>

#include "daemon.h"
#include "sockbroker.h"

/* The daemon of the running test case and the client connected to it. */
extern struct test_daemon daemon_under_test;
extern struct sb_client *client;

/* Start the daemon (config_json may be NULL) and connect `client` under
 * `client_name`. Aborts the test on failure. */
void fixture_start(const char *config_json, const char *client_name);

/* Connect `client` to the running daemon. */
void fixture_connect(const char *client_name);

/* Free `client` and stop the daemon, which must exit cleanly. */
void fixture_stop(void);

/* Sleep for `ms` milliseconds. */
void test_sleep_ms(int ms);

struct fixture_case {
	const char *name;
	const TTest *test;
};

/* Add one TCase per case, each with the checked fixture setup/teardown and
 * `timeout` seconds (an upper bound, not a timing assertion). */
void fixture_add_cases(Suite *suite, const struct fixture_case *cases, size_t n,
		       void (*setup)(void), void (*teardown)(void), int timeout);

/* Run the suite (SIGPIPE ignored) and return the process's exit status. */
int fixture_run(Suite *suite);

#endif
