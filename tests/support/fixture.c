#include "fixture.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>

struct test_daemon daemon_under_test;
struct sb_client *client;

/* Check runs each case in a child of its own: the skips are counted in a
 * page that parent and children share. */
struct skip_record {
	unsigned skipped;
	char names[1024]; /* "a b c" */
};
static struct skip_record *skips;

#define MAX_CASES 128
static const char *case_names[MAX_CASES];
static size_t n_case_names;

void
fixture_connect(const char *client_name)
{
	struct sb_error err;
	int r = sb_client_new(&client, daemon_under_test.url, client_name, &err);
	ck_assert_msg(r == 0, "sb_client_new: %s", err.message);
}

void
fixture_start(const char *config_json, const char *client_name)
{
	test_daemon_start(&daemon_under_test, config_json);
	fixture_connect(client_name);
}

void
fixture_stop(void)
{
	sb_client_free(client);
	client = NULL;
	ck_assert_int_eq(test_daemon_stop(&daemon_under_test), 0);
}

sb_handle
fixture_socket(int family, int type)
{
	sb_handle h;
	struct sb_error err;
	int r = sb_socket(client, family, type, 0, &h, &err);
	ck_assert_msg(r == 0, "socket(%d, %d): %s", family, type, err.message);
	return h;
}

sb_handle
fixture_bound_udp(int family, uint16_t *port)
{
	struct sb_addr addr, local;
	struct sb_error err;
	sb_handle h = fixture_socket(family, SOCK_DGRAM);
	if (family == AF_INET6)
		sb_addr_inet6(&addr, "::1", 0, 0, 0);
	else
		sb_addr_inet(&addr, "127.0.0.1", 0);
	ck_assert_msg(sb_bind(client, h, &addr, &err) == 0, "bind: %s", err.message);
	ck_assert_int_eq(sb_getsockname(client, h, &local, &err), 0);
	*port = local.port;
	return h;
}

void
fixture_echo(sb_handle h, const char *text)
{
	char buf[256];
	struct sb_error err;
	size_t len = strlen(text), got = 0;
	ck_assert_uint_lt(len, sizeof(buf));
	ck_assert_int_eq(sb_sendall(client, h, text, len, 0, &err), 0);
	while (got < len) {
		ssize_t n = sb_recv(client, h, buf + got, sizeof(buf) - got, 0, &err);
		ck_assert_msg(n > 0, "recv: %zd %s", n, err.message);
		got += (size_t)n;
	}
	ck_assert_uint_eq(got, len);
	ck_assert(memcmp(buf, text, len) == 0);
}

void
test_skip(const char *test, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "SKIP %s: ", test);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (!skips)
		return;
	__atomic_add_fetch(&skips->skipped, 1, __ATOMIC_SEQ_CST);
	size_t used = strnlen(skips->names, sizeof(skips->names));
	snprintf(skips->names + used, sizeof(skips->names) - used, "%s%s", used ? " " : "",
		 test);
}

void
fixture_add_cases(Suite *suite, const struct fixture_case *cases, size_t n,
		  void (*setup)(void), void (*teardown)(void), int timeout)
{
	for (size_t i = 0; i < n; i++) {
		if (n_case_names < MAX_CASES)
			case_names[n_case_names++] = cases[i].name;
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, timeout);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(suite, tc);
	}
}

/* FIXTURE_EXPECT_CASES: the program's cases and the list are the same set. */
static int
check_expected_cases(const char *expected)
{
	int status = EXIT_SUCCESS;
	for (size_t i = 0; i < n_case_names; i++) {
		size_t len = strlen(case_names[i]);
		const char *at = expected;
		bool found = false;
		while (!found && (at = strstr(at, case_names[i]))) {
			found = (at == expected || at[-1] == ' ') && (at[len] == ' ' || !at[len]);
			at += len;
		}
		if (!found) {
			printf("case \"%s\" is not run by the meson file: add it to the list of "
			       "cases there\n",
			       case_names[i]);
			status = EXIT_FAILURE;
		}
	}
	size_t n_expected = 0;
	for (const char *at = expected; *at;) {
		at += strspn(at, " ");
		if (*at)
			n_expected++;
		at += strcspn(at, " ");
	}
	if (n_expected != n_case_names) {
		printf("the meson file lists %zu cases, the program has %zu: remove the ones it "
		       "no longer has\n",
		       n_expected, n_case_names);
		status = EXIT_FAILURE;
	}
	if (status == EXIT_SUCCESS)
		printf("the meson file runs all %zu cases\n", n_case_names);
	return status;
}

int
fixture_run(Suite *suite)
{
	const char *expected = getenv("FIXTURE_EXPECT_CASES");
	if (expected) {
		srunner_free(srunner_create(suite)); /* frees the suite */
		return check_expected_cases(expected);
	}
	signal(SIGPIPE, SIG_IGN);
	skips = mmap(NULL, sizeof(*skips), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		     0);
	if (skips == MAP_FAILED)
		skips = NULL;
	SRunner *runner = srunner_create(suite);
	srunner_run_all(runner, CK_NORMAL);
	int failed = srunner_ntests_failed(runner);
	int ran = srunner_ntests_run(runner);
	srunner_free(runner);
	int status = failed ? EXIT_FAILURE : EXIT_SUCCESS;
	if (skips && skips->skipped) {
		printf("%u of %d cases skipped (see SKIP on stderr): %s\n", skips->skipped, ran,
		       skips->names);
		if (!failed && skips->skipped >= (unsigned)ran)
			status = 77;
	}
	if (skips)
		munmap(skips, sizeof(*skips));
	skips = NULL;
	return status;
}
