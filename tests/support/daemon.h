/*
 * Test fixtures that need real things: the real sockbrokerd started on an
 * ipc:// path in a fresh temporary directory, a raw wire client for requests
 * the C library would never send, and small real servers on loopback.
 *
 * Every process started here is stopped by its pid; every wait is bounded.
 * The daemon binary comes from $SOCKBROKERD (set by the test setup); when
 * $SOCKBROKERD_WRAPPER is set (e.g. "valgrind --error-exitcode=99
 * --leak-check=full"), the daemon runs under it, and a daemon that does not
 * exit 0 on SIGTERM fails the test that stops it.
 */
#ifndef SOCKBROKER_TEST_DAEMON_H
#define SOCKBROKER_TEST_DAEMON_H

#include <stdbool.h>

#include "clock.h"
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct test_daemon {
	pid_t pid;
	char dir[256];  /* private temporary directory */
	char url[320];  /* ipc://DIR/sockbroker.sock */
	char log[320];  /* the daemon's stderr */
	bool builtin_policy; /* see test_daemon_start_builtin_policy() */
	const char *extra_listen; /* see test_daemon_start_listening() */
};

/* The policy the tests of operations run under: everything allowed, so that
 * they exercise the operations and not the policy (tests/integration/
 * test-security.c exercises the policy). */
#define TEST_ALLOW_ALL_POLICY "{\"rules\": [{\"name\": \"tests-allow-all\", \"allow\": true}]}"

/* Start the daemon with `config_json` (NULL: none) written to a file in the
 * temporary directory, and wait until it listens. Aborts the test on
 * failure. A configuration without "policy" gets TEST_ALLOW_ALL_POLICY. */
void test_daemon_start(struct test_daemon *daemon, const char *config_json);

/* The same, with one more listener: `extra_url` (a tcp:// or tls+tcp://
 * URL, borrowed until the daemon stops) besides the ipc:// one. */
void test_daemon_start_listening(struct test_daemon *daemon, const char *config_json,
				 const char *extra_url);

/* The same, with the daemon's built-in default policy when config_json has
 * no "policy" of its own. */
void test_daemon_start_builtin_policy(struct test_daemon *daemon, const char *config_json);

/* SIGTERM, wait (bounded), and return the exit status (0 = clean); a
 * daemon that does not stop in time is killed and -1 returned. Removes the
 * temporary directory. */
int test_daemon_stop(struct test_daemon *daemon);

/* Open file descriptors of the daemon process (from /proc). */
int test_daemon_fd_count(const struct test_daemon *daemon);

/* How many threads of process `pid` (tasks in /proc/PID/task) hold an effective
 * capability, the main thread (tid == pid) left out unless `with_main`; the
 * first such thread's tid, name and CapEff go to `first` (len bytes) for a
 * failure message. Sets *threads to the number of threads looked at. */
int test_threads_with_caps(pid_t pid, bool with_main, int *threads, char *first, size_t len);

/* Wait up to `ms` for the daemon's fd count to be `expected`; returns the
 * last count seen. */
int test_daemon_wait_fd_count(const struct test_daemon *daemon, int expected, int ms);

/* Wait up to `ms` until the daemon's log has a line containing `text`. */
bool test_daemon_wait_log(const struct test_daemon *daemon, const char *text, int ms);

/* Print the daemon's log to stderr (for failures). */
void test_daemon_dump_log(const struct test_daemon *daemon);

/* Copy the program or library at `path` into `dir` under its own name, as a file any user may
 * read and run (mode 0755); the copy's path goes to `copy` (`len` bytes). For a case that runs
 * a file of the build as another user: that user may be unable to reach the build directory
 * (one under a private parent, as `mktemp -d` makes), while the copy is reachable when `dir`
 * and its parents are searchable by all (the caller's part). Returns false, having copied
 * nothing, when `dir` is on a file system mounted noexec (the case cannot run its copy there
 * and skips); aborts the test on any other failure. */
bool test_copy_for_any_user(const char *path, const char *dir, char *copy, size_t len);


#endif
