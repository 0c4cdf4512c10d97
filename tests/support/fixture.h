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
#include <stdint.h>

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

/* Through `client`, aborting the test on failure: a new socket; a UDP socket
 * bound to the loopback address of `family` (AF_INET or AF_INET6), its port
 * in *port; and an echo of `text` (under 256 bytes) on a connected stream
 * socket, every byte checked. */
sb_handle fixture_socket(int family, int type);
sb_handle fixture_bound_udp(int family, uint16_t *port);
void fixture_echo(sb_handle h, const char *text);

struct fixture_case {
	const char *name;
	const TTest *test;
};

/* Add one TCase per case, each with the checked fixture setup/teardown and
 * `timeout` seconds (an upper bound, not a timing assertion). */
void fixture_add_cases(Suite *suite, const struct fixture_case *cases, size_t n,
		       void (*setup)(void), void (*teardown)(void), int timeout);

/* Say that the running case cannot test what it is for on this host, and
 * why ("SKIP <test>: <reason>" on stderr); the case then returns. The skip is
 * counted across Check's fork: a run whose every case skipped exits 77, which
 * meson reports as SKIP, and a run with some skipped says which on stdout.
 * Never a pass in disguise: a case that skips has asserted nothing. */
void test_skip(const char *test, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Run the suite (SIGPIPE ignored) and return the process's exit status: 0,
 * 1 when a case failed, or 77 when every case that ran skipped. The meson
 * files run some programs one case at a time (CK_RUN_CASE) so that each
 * skip is reported on its own; with FIXTURE_EXPECT_CASES set (the names of
 * those meson tests, space-separated), it runs nothing and fails unless the
 * program's cases are exactly those. */
int fixture_run(Suite *suite);

#endif
