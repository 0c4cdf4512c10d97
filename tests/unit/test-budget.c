/*
 * Unit tests of server/budget.c: shares of one identity draw on one
 * account; try refuses what would pass either limit and names it; charge
 * records memory already taken (and may pass a limit: the account is then
 * over); moving a share carries what it holds; a release wakes a waiter.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"

#define MIB (1024u * 1024u)

static struct budget budget;
static unsigned n_released;

static void
on_released(void *userdata)
{
	(void)userdata;
	n_released++;
}

static void
setup(void)
{
	budget_init(&budget, 64 * MIB, 100 * MIB);
	budget.released = on_released;
	n_released = 0;
}

static void
teardown(void)
{
	budget_fini(&budget);
}

START_TEST(shares_of_one_identity_share_its_limit)
{
	struct budget_share a, b, other;
	ck_assert_int_eq(budget_share_open(&a, &budget, "uid 1000"), 0);
	ck_assert_int_eq(budget_share_open(&b, &budget, "uid 1000"), 0);
	ck_assert_int_eq(budget_share_open(&other, &budget, "uid 1001"), 0);
	ck_assert_ptr_eq(a.account, b.account);
	ck_assert_ptr_ne(a.account, other.account);

	ck_assert_ptr_null(budget_share_try(&a, 40 * MIB));
	ck_assert_ptr_null(budget_share_try(&b, 24 * MIB)); /* exactly the limit */
	ck_assert_str_eq(budget_share_over(&a), BUDGET_LIMIT_IDENTITY);
	ck_assert_str_eq(budget_share_try(&b, 1), BUDGET_LIMIT_IDENTITY);
	ck_assert_uint_eq(b.used, 24 * MIB);
	/* Another identity is not held back by it... */
	ck_assert_ptr_null(budget_share_over(&other));
	ck_assert_ptr_null(budget_share_try(&other, 30 * MIB));
	/* ...until the total is reached. */
	ck_assert_str_eq(budget_share_try(&other, 10 * MIB), BUDGET_LIMIT_TOTAL);
	ck_assert_uint_eq(budget.used, 94 * MIB);
	ck_assert_uint_eq(budget.peak, 94 * MIB);

	budget_share_close(&a);
	ck_assert_uint_eq(budget.used, 54 * MIB);
	ck_assert_ptr_null(budget_share_over(&b));
	budget_share_close(&b);
	budget_share_close(&other);
	budget_share_close(&other); /* idempotent */
	ck_assert_uint_eq(budget.used, 0);
	ck_assert_uint_eq(budget.peak, 94 * MIB);
}
END_TEST

START_TEST(charge_records_memory_taken_even_over_the_limit)
{
	struct budget_share a;
	ck_assert_int_eq(budget_share_open(&a, &budget, "uid 1"), 0);
	budget_share_charge(&a, 70 * MIB);
	ck_assert_str_eq(budget_share_over(&a), BUDGET_LIMIT_IDENTITY);
	ck_assert_uint_eq(budget_share_limit(&a, BUDGET_LIMIT_IDENTITY), 64 * MIB);
	ck_assert_uint_eq(budget_share_limit(&a, BUDGET_LIMIT_TOTAL), 100 * MIB);
	budget_share_release(&a, 6 * MIB);
	ck_assert_str_eq(budget_share_over(&a), BUDGET_LIMIT_IDENTITY); /* 64 of 64: full */
	budget_share_release(&a, 1);
	ck_assert_ptr_null(budget_share_over(&a));
	/* A request larger than the whole limit never fits. */
	ck_assert_str_eq(budget_share_try(&a, 65 * MIB), BUDGET_LIMIT_IDENTITY);
	budget_share_close(&a);
}
END_TEST

START_TEST(a_share_moves_with_what_it_holds)
{
	struct budget_share conn, session;
	ck_assert_int_eq(budget_share_open(&conn, &budget, "uid 1000"), 0);
	ck_assert_int_eq(budget_share_open(&session, &budget, "uid 1000"), 0);
	ck_assert_ptr_null(budget_share_try(&conn, 50 * MIB));
	ck_assert_int_eq(budget_share_move(&conn, "token ci"), 0);
	ck_assert_str_eq(conn.account->key, "token ci");
	ck_assert_uint_eq(conn.account->used, 50 * MIB);
	ck_assert_uint_eq(session.account->used, 0);
	/* The uid's account is empty now; the total still counts both. */
	ck_assert_ptr_null(budget_share_try(&session, 50 * MIB));
	ck_assert_str_eq(budget_share_try(&session, 1 * MIB), BUDGET_LIMIT_TOTAL);
	ck_assert_uint_eq(budget.used, 100 * MIB);
	budget_share_close(&conn);
	budget_share_close(&session);
	ck_assert(list_empty(&budget.accounts));
}
END_TEST

START_TEST(a_release_wakes_a_waiter_once)
{
	struct budget_share a;
	ck_assert_int_eq(budget_share_open(&a, &budget, "uid 1"), 0);
	budget_share_charge(&a, 3);
	budget_share_release(&a, 1);
	ck_assert_uint_eq(n_released, 0); /* nobody waits */
	budget_wait(&budget);
	budget_share_release(&a, 1);
	budget_share_release(&a, 1);
	ck_assert_uint_eq(n_released, 1);
	budget_share_close(&a);
}
END_TEST

START_TEST(keys_follow_token_then_uid_then_connection)
{
	char key[96];
	budget_key(key, sizeof(key), "ci", true, 1000, "tcp 1.2.3.4:5", 7);
	ck_assert_str_eq(key, "token ci");
	budget_key(key, sizeof(key), "", true, 1000, "ipc", 7);
	ck_assert_str_eq(key, "uid 1000");
	budget_key(key, sizeof(key), NULL, false, 0, "abstract", 7);
	ck_assert_str_eq(key, "connection 7");
	budget_key(key, sizeof(key), NULL, false, 0, "tcp [::1]:4000", 7);
	ck_assert_str_eq(key, "address [::1]");
	budget_key(key, sizeof(key), NULL, false, 0, "tcp 127.0.0.1:4000", 8);
	ck_assert_str_eq(key, "address 127.0.0.1");

	struct budget_share none;
	ck_assert_int_eq(budget_share_open(&none, NULL, "uid 1"), 0);
	ck_assert_ptr_null(budget_share_try(&none, 1ull << 40));
	ck_assert_ptr_null(budget_share_over(&none));
	budget_share_close(&none);
}
END_TEST

START_TEST(connections_and_descriptors_have_a_share_per_identity)
{
	budget.connections_per_identity = 2;
	budget.descriptor_share = 4;
	struct budget_share c1, c2, c3, session, other;
	ck_assert_int_eq(budget_share_open(&c1, &budget, "uid 1"), 0);
	ck_assert_int_eq(budget_share_open(&c2, &budget, "uid 1"), 0);
	ck_assert_int_eq(budget_share_open(&c3, &budget, "uid 1"), 0);
	ck_assert_int_eq(budget_share_open(&session, &budget, "uid 1"), 0);
	ck_assert_int_eq(budget_share_open(&other, &budget, "uid 2"), 0);
	ck_assert_ptr_null(budget_share_take_connection(&c1));
	ck_assert_ptr_null(budget_share_take_connection(&c2));
	ck_assert_str_eq(budget_share_take_connection(&c3), BUDGET_LIMIT_SESSIONS);
	/* Two connections and two sockets: the share of 4 is full. */
	ck_assert_ptr_null(budget_share_take_descriptors(&session, 2, false));
	ck_assert_str_eq(budget_share_take_descriptors(&session, 1, false),
			 BUDGET_LIMIT_DESCRIPTORS);
	ck_assert_ptr_null(budget_share_take_descriptors(&other, 4, false));
	/* Descriptors that exist already are counted anyway. */
	ck_assert_ptr_null(budget_share_take_descriptors(&session, 1, true));
	ck_assert_uint_eq(session.account->descriptors, 5);
	budget_share_put_descriptors(&session, 3);
	budget_share_close(&c1);
	ck_assert_uint_eq(c2.account->connections, 1);
	ck_assert_uint_eq(c2.account->descriptors, 1);
	ck_assert_ptr_null(budget_share_take_connection(&c3));
	/* A share moving to another identity takes its counts along. */
	ck_assert_int_eq(budget_share_move(&c3, "token t"), 0);
	ck_assert_uint_eq(c3.account->connections, 1);
	ck_assert_uint_eq(c2.account->connections, 1);
	budget_share_close(&c2);
	budget_share_close(&c3);
	budget_share_close(&session);
	budget_share_close(&other);
	ck_assert(list_empty(&budget.accounts));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("budget");
	TCase *tc = tcase_create("accounts");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, shares_of_one_identity_share_its_limit);
	tcase_add_test(tc, charge_records_memory_taken_even_over_the_limit);
	tcase_add_test(tc, a_share_moves_with_what_it_holds);
	tcase_add_test(tc, a_release_wakes_a_waiter_once);
	tcase_add_test(tc, keys_follow_token_then_uid_then_connection);
	tcase_add_test(tc, connections_and_descriptors_have_a_share_per_identity);
	suite_add_tcase(s, tc);
	SRunner *runner = srunner_create(s);
	srunner_run_all(runner, CK_NORMAL);
	int failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
