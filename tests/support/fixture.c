#include "fixture.h"

#include <signal.h>
#include <stdlib.h>
#include <time.h>

struct test_daemon daemon_under_test;
struct sb_client *client;

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

void
test_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

void
fixture_add_cases(Suite *suite, const struct fixture_case *cases, size_t n,
		  void (*setup)(void), void (*teardown)(void), int timeout)
{
	for (size_t i = 0; i < n; i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, timeout);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(suite, tc);
	}
}

int
fixture_run(Suite *suite)
{
	signal(SIGPIPE, SIG_IGN);
	SRunner *runner = srunner_create(suite);
	srunner_run_all(runner, CK_NORMAL);
	int failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
