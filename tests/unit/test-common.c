/*
 * Unit tests of common/: errname (errno names both ways) and paths (the default broker URL).
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errname.h"
#include "paths.h"

START_TEST(errname_from_errno_gives_the_name)
{
	ck_assert_str_eq(errname_from_errno(ECONNREFUSED), "ECONNREFUSED");
	ck_assert_str_eq(errname_from_errno(EPERM), "EPERM");
	ck_assert_str_eq(errname_from_errno(EHWPOISON), "EHWPOISON");
}
END_TEST

START_TEST(errname_from_errno_gives_canonical_names_for_aliased_numbers)
{
	ck_assert_str_eq(errname_from_errno(EWOULDBLOCK), "EAGAIN");
	ck_assert_str_eq(errname_from_errno(EDEADLOCK), "EDEADLK");
	ck_assert_str_eq(errname_from_errno(ENOTSUP), "EOPNOTSUPP");
}
END_TEST

START_TEST(errname_from_errno_is_null_for_non_errno_numbers)
{
	ck_assert_ptr_null(errname_from_errno(0));
	ck_assert_ptr_null(errname_from_errno(-1));
	ck_assert_ptr_null(errname_from_errno(-ENOENT));
	ck_assert_ptr_null(errname_from_errno(4095));
}
END_TEST

START_TEST(errname_to_errno_accepts_canonical_names_and_aliases)
{
	ck_assert_int_eq(errname_to_errno("ECONNREFUSED"), ECONNREFUSED);
	ck_assert_int_eq(errname_to_errno("EAGAIN"), EAGAIN);
	ck_assert_int_eq(errname_to_errno("EWOULDBLOCK"), EAGAIN);
	ck_assert_int_eq(errname_to_errno("EDEADLOCK"), EDEADLK);
	ck_assert_int_eq(errname_to_errno("ENOTSUP"), EOPNOTSUPP);
}
END_TEST

START_TEST(errname_to_errno_is_zero_for_unknown_names)
{
	ck_assert_int_eq(errname_to_errno(NULL), 0);
	ck_assert_int_eq(errname_to_errno(""), 0);
	ck_assert_int_eq(errname_to_errno("EFOO"), 0);
	ck_assert_int_eq(errname_to_errno("econnrefused"), 0);
	ck_assert_int_eq(errname_to_errno("ECONNREFUSED "), 0);
}
END_TEST

START_TEST(errname_round_trips_every_listed_name)
{
#define CHECK_ROUND_TRIP(e) \
	ck_assert_int_eq(errname_to_errno(#e), e); \
	ck_assert_str_eq(errname_from_errno(e), #e);
	ERRNAME_CANONICAL(CHECK_ROUND_TRIP)
#undef CHECK_ROUND_TRIP
}
END_TEST

/* The C library's own table catches a name missing from ours (a new kernel errno). */
START_TEST(errname_knows_every_errno_the_c_library_names)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	int named = 0;

	for (int e = 1; e < 4096; e++) {
		const char *libc_name = strerrorname_np(e);

		if (!libc_name)
			continue;
		named++;
		ck_assert_msg(errname_from_errno(e), "errno %d (%s) has no name", e, libc_name);
		ck_assert_str_eq(errname_from_errno(e), libc_name);
		ck_assert_int_eq(errname_to_errno(libc_name), e);
	}
	ck_assert_int_gt(named, 100);
#endif
}
END_TEST

static char url[512];

START_TEST(paths_url_for_root_is_the_system_socket)
{
	ck_assert_ptr_eq(paths_url_for(url, sizeof(url), 0, "/run/user/0"), url);
	ck_assert_str_eq(url, "ipc:///run/sockbroker/sockbroker.sock");
}
END_TEST

START_TEST(paths_url_for_a_user_is_in_the_runtime_dir)
{
	ck_assert_ptr_eq(paths_url_for(url, sizeof(url), 1000, "/run/user/1000"), url);
	ck_assert_str_eq(url, "ipc:///run/user/1000/sockbroker/sockbroker.sock");
	paths_url_for(url, sizeof(url), 1000, "/run/user/1000//");
	ck_assert_str_eq(url, "ipc:///run/user/1000/sockbroker/sockbroker.sock");
}
END_TEST

START_TEST(paths_url_for_a_user_without_runtime_dir_is_in_tmp)
{
	ck_assert_ptr_eq(paths_url_for(url, sizeof(url), 1000, NULL), url);
	ck_assert_str_eq(url, "ipc:///tmp/sockbroker-1000/sockbroker.sock");
}
END_TEST

START_TEST(paths_url_for_ignores_an_empty_or_relative_runtime_dir)
{
	paths_url_for(url, sizeof(url), 1000, "");
	ck_assert_str_eq(url, "ipc:///tmp/sockbroker-1000/sockbroker.sock");
	paths_url_for(url, sizeof(url), 1000, "run/user/1000");
	ck_assert_str_eq(url, "ipc:///tmp/sockbroker-1000/sockbroker.sock");
}
END_TEST

START_TEST(paths_url_for_returns_null_when_the_buffer_is_too_small)
{
	char small[16];

	ck_assert_ptr_null(paths_url_for(small, sizeof(small), 1000, NULL));
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
	ck_assert_ptr_null(paths_url_for(small, 0, 0, NULL));
}
END_TEST

START_TEST(paths_default_url_prefers_sockbroker_url)
{
	setenv("SOCKBROKER_URL", "tcp://127.0.0.1:9000", 1);
	ck_assert_ptr_eq(paths_default_url(url, sizeof(url)), url);
	ck_assert_str_eq(url, "tcp://127.0.0.1:9000");
	unsetenv("SOCKBROKER_URL");
}
END_TEST

START_TEST(paths_default_url_without_sockbroker_url_is_the_listen_default)
{
	char expected[512];

	setenv("SOCKBROKER_URL", "", 1);
	setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
	ck_assert_ptr_nonnull(paths_default_url(url, sizeof(url)));
	ck_assert_ptr_nonnull(paths_url_for(expected, sizeof(expected), geteuid(),
					    "/run/user/4242"));
	ck_assert_str_eq(url, expected);

	unsetenv("SOCKBROKER_URL");
	unsetenv("XDG_RUNTIME_DIR");
	ck_assert_ptr_nonnull(paths_default_url(url, sizeof(url)));
	ck_assert_ptr_nonnull(paths_url_for(expected, sizeof(expected), geteuid(), NULL));
	ck_assert_str_eq(url, expected);
}
END_TEST

START_TEST(paths_default_listen_url_ignores_sockbroker_url)
{
	char expected[512];

	setenv("SOCKBROKER_URL", "tcp://127.0.0.1:9000", 1);
	setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
	ck_assert_ptr_nonnull(paths_default_listen_url(url, sizeof(url)));
	ck_assert_ptr_nonnull(paths_url_for(expected, sizeof(expected), geteuid(),
					    "/run/user/4242"));
	ck_assert_str_eq(url, expected);
	unsetenv("SOCKBROKER_URL");
	unsetenv("XDG_RUNTIME_DIR");
}
END_TEST

static Suite *
errname_suite(void)
{
	Suite *s = suite_create("errname");
	TCase *tc = tcase_create("errname");

	tcase_add_test(tc, errname_from_errno_gives_the_name);
	tcase_add_test(tc, errname_from_errno_gives_canonical_names_for_aliased_numbers);
	tcase_add_test(tc, errname_from_errno_is_null_for_non_errno_numbers);
	tcase_add_test(tc, errname_to_errno_accepts_canonical_names_and_aliases);
	tcase_add_test(tc, errname_to_errno_is_zero_for_unknown_names);
	tcase_add_test(tc, errname_round_trips_every_listed_name);
	tcase_add_test(tc, errname_knows_every_errno_the_c_library_names);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *
paths_suite(void)
{
	Suite *s = suite_create("paths");
	TCase *tc = tcase_create("paths");

	tcase_add_test(tc, paths_url_for_root_is_the_system_socket);
	tcase_add_test(tc, paths_url_for_a_user_is_in_the_runtime_dir);
	tcase_add_test(tc, paths_url_for_a_user_without_runtime_dir_is_in_tmp);
	tcase_add_test(tc, paths_url_for_ignores_an_empty_or_relative_runtime_dir);
	tcase_add_test(tc, paths_url_for_returns_null_when_the_buffer_is_too_small);
	tcase_add_test(tc, paths_default_url_prefers_sockbroker_url);
	tcase_add_test(tc, paths_default_url_without_sockbroker_url_is_the_listen_default);
	tcase_add_test(tc, paths_default_listen_url_ignores_sockbroker_url);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(errname_suite());
	int failed;

	srunner_add_suite(runner, paths_suite());
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
