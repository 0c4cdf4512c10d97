#include <check.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "constants.h"
#include "errname.h"

static int
compare_by_name(const void *key, const void *element)
{
	const struct constant *constant = element;
	return strcmp(key, constant->name);
}

/* The entry called `name`, found the way a client finds it; fails the test if it is missing. */
static const struct constant *
lookup(const char *name)
{
	size_t count;
	const struct constant *table = constants_table(&count);
	const struct constant *found = bsearch(name, table, count, sizeof(*table), compare_by_name);
	ck_assert_msg(found != NULL, "%s is not in the table", name);
	return found;
}

START_TEST(constants_table_is_sorted_by_name_without_duplicates)
{
	size_t count;
	const struct constant *table = constants_table(&count);
	for (size_t i = 0; i < count; i++) {
		ck_assert_ptr_nonnull(table[i].name);
		ck_assert_str_ne(table[i].name, "");
		if (i > 0)
			ck_assert_msg(strcmp(table[i - 1].name, table[i].name) < 0,
				      "%s comes before %s", table[i - 1].name, table[i].name);
	}
}
END_TEST

START_TEST(constants_table_has_the_common_names_with_native_values)
{
	ck_assert_int_eq(lookup("AF_INET")->value, AF_INET);
	ck_assert_int_eq(lookup("AF_INET6")->value, AF_INET6);
	ck_assert_int_eq(lookup("AF_UNIX")->value, AF_UNIX);
	ck_assert_int_eq(lookup("SOCK_STREAM")->value, SOCK_STREAM);
	ck_assert_int_eq(lookup("SOCK_DGRAM")->value, SOCK_DGRAM);
	ck_assert_int_eq(lookup("SOCK_NONBLOCK")->value, SOCK_NONBLOCK);
	ck_assert_int_eq(lookup("SOL_SOCKET")->value, SOL_SOCKET);
	ck_assert_int_eq(lookup("SO_REUSEADDR")->value, SO_REUSEADDR);
	ck_assert_int_eq(lookup("IPPROTO_TCP")->value, IPPROTO_TCP);
	ck_assert_int_eq(lookup("MSG_PEEK")->value, MSG_PEEK);
	ck_assert_int_eq(lookup("ECONNREFUSED")->value, ECONNREFUSED);
	ck_assert_int_eq(lookup("EAI_NONAME")->value, EAI_NONAME);
	ck_assert_int_eq(lookup("SHUT_WR")->value, SHUT_WR);
	ck_assert_int_eq(lookup("TCP_NODELAY")->value, TCP_NODELAY);
	ck_assert_int_eq(lookup("IPV6_V6ONLY")->value, IPV6_V6ONLY);
	ck_assert_int_eq(lookup("SCM_RIGHTS")->value, SCM_RIGHTS);
}
END_TEST

START_TEST(constants_table_keeps_unsigned_values_positive)
{
	ck_assert_int_eq(lookup("INADDR_NONE")->value, INT64_C(0xffffffff));
	ck_assert_int_eq(lookup("INADDR_BROADCAST")->value, INT64_C(0xffffffff));
}
END_TEST

START_TEST(constants_table_has_every_errno_name_errname_knows)
{
	/* errname.h and this table list the errno names separately; this keeps the two in step. */
#define CHECK_ERRNO(name) ck_assert_int_eq(lookup(#name)->value, name);
	ERRNAME_CANONICAL(CHECK_ERRNO)
	ERRNAME_ALIASES(CHECK_ERRNO)
#undef CHECK_ERRNO
}
END_TEST

START_TEST(constants_table_has_more_than_500_entries)
{
	size_t count;
	constants_table(&count);
	ck_assert_uint_gt(count, 500);
}
END_TEST

static Suite *
constants_suite(void)
{
	Suite *suite = suite_create("constants");
	TCase *tcase = tcase_create("table");
	tcase_add_test(tcase, constants_table_is_sorted_by_name_without_duplicates);
	tcase_add_test(tcase, constants_table_has_the_common_names_with_native_values);
	tcase_add_test(tcase, constants_table_keeps_unsigned_values_positive);
	tcase_add_test(tcase, constants_table_has_every_errno_name_errname_knows);
	tcase_add_test(tcase, constants_table_has_more_than_500_entries);
	suite_add_tcase(suite, tcase);
	return suite;
}

int
main(void)
{
	SRunner *runner = srunner_create(constants_suite());
	srunner_run_all(runner, CK_NORMAL);
	int failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
