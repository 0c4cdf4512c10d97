/*
 * Unit tests of server/quota.c: accounts shared by the sessions of one
 * identity, handle and parked counts against their limits, and the token
 * buckets (refill, one second of burst, debt paid back before the next).
 */
#include <check.h>
#include <stdlib.h>

#include "quota.h"

#define SECOND 1000000000ULL

static struct quota_table table;
static struct policy_quota limits = {
	.name = "q",
	.max_handles = 2,
	.max_parked = 1,
	.send_bytes_per_second = 1000,
	.recv_bytes_per_second = 0,
	.ops_per_second = 3,
};

static void
setup(void)
{
	quota_table_init(&table);
}

static void
teardown(void)
{
	quota_table_fini(&table);
}

START_TEST(sessions_of_one_uid_share_an_account)
{
	struct policy_identity uid = { .has_credentials = true, .uid = 1000 };
	struct policy_identity other = { .has_credentials = true, .uid = 1001 };
	struct policy_identity token = { .has_credentials = true, .uid = 1000, .token_name = "ci" };
	struct quota_account *a, *b, *c, *d;

	ck_assert_int_eq(quota_acquire(&table, &limits, &uid, 1, &a), 0);
	ck_assert_int_eq(quota_acquire(&table, &limits, &uid, 2, &b), 0);
	ck_assert_int_eq(quota_acquire(&table, &limits, &other, 3, &c), 0);
	ck_assert_int_eq(quota_acquire(&table, &limits, &token, 4, &d), 0);
	ck_assert_ptr_eq(a, b);
	ck_assert_ptr_ne(a, c);
	ck_assert_ptr_ne(a, d); /* a token is its own identity */
	ck_assert_uint_eq(a->sessions, 2);
	quota_release(a);
	quota_release(b);
	quota_release(c);
	quota_release(d);
	quota_release(NULL);
}
END_TEST

START_TEST(identities_without_uid_or_token_are_per_session)
{
	struct policy_identity anonymous = { .transport = POLICY_TRANSPORT_TCP };
	struct quota_account *a, *b;
	ck_assert_int_eq(quota_acquire(&table, &limits, &anonymous, 1, &a), 0);
	ck_assert_int_eq(quota_acquire(&table, &limits, &anonymous, 2, &b), 0);
	ck_assert_ptr_ne(a, b);
	quota_release(a);
	quota_release(b);
}
END_TEST

START_TEST(no_quota_means_no_account_and_no_limit)
{
	struct policy_identity uid = { .has_credentials = true, .uid = 1 };
	struct quota_account *a = (void *)1;
	ck_assert_int_eq(quota_acquire(&table, NULL, &uid, 1, &a), 0);
	ck_assert_ptr_null(a);
	ck_assert(quota_handles_fit(NULL, 1000000));
	ck_assert(quota_parked_fit(NULL));
	ck_assert(quota_take_op(NULL, 0));
	ck_assert(quota_bytes_available(NULL, QUOTA_SEND, 0));
	quota_charge_bytes(NULL, QUOTA_SEND, 5);
}
END_TEST

START_TEST(handles_and_parked_fit_up_to_their_limits)
{
	struct policy_identity uid = { .has_credentials = true, .uid = 1 };
	struct quota_account *a;
	ck_assert_int_eq(quota_acquire(&table, &limits, &uid, 1, &a), 0);
	ck_assert(quota_handles_fit(a, 2));
	ck_assert(!quota_handles_fit(a, 3));
	a->handles = 2;
	ck_assert(!quota_handles_fit(a, 1));
	a->handles = 0;
	ck_assert(quota_parked_fit(a));
	a->parked = 1;
	ck_assert(!quota_parked_fit(a));
	a->parked = 0;
	quota_release(a);
}
END_TEST

START_TEST(buckets_refill_at_their_rate_with_one_second_of_burst)
{
	struct policy_identity uid = { .has_credentials = true, .uid = 1 };
	struct quota_account *a;
	uint64_t t = 100 * SECOND;
	ck_assert_int_eq(quota_acquire(&table, &limits, &uid, 1, &a), 0);

	for (int i = 0; i < 3; i++)
		ck_assert(quota_take_op(a, t));
	ck_assert(!quota_take_op(a, t));
	ck_assert(!quota_take_op(a, t + SECOND / 10)); /* 0.3 of an op */
	ck_assert(quota_take_op(a, t + SECOND / 2));    /* 1.5 ops back */
	/* A long pause refills one second's worth, no more. */
	t += 60 * SECOND;
	for (int i = 0; i < 3; i++)
		ck_assert(quota_take_op(a, t));
	ck_assert(!quota_take_op(a, t));

	/* Bytes: a large send goes through and leaves a debt to pay back. */
	ck_assert(quota_bytes_available(a, QUOTA_SEND, t));
	quota_charge_bytes(a, QUOTA_SEND, 5000);
	ck_assert(!quota_bytes_available(a, QUOTA_SEND, t + 3 * SECOND));
	ck_assert(quota_bytes_available(a, QUOTA_SEND, t + 5 * SECOND + 1000));
	/* An unlimited direction is always available. */
	quota_charge_bytes(a, QUOTA_RECV, 1u << 30);
	ck_assert(quota_bytes_available(a, QUOTA_RECV, t));
	quota_release(a);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("quota");
	TCase *tc = tcase_create("accounts");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, sessions_of_one_uid_share_an_account);
	tcase_add_test(tc, identities_without_uid_or_token_are_per_session);
	tcase_add_test(tc, no_quota_means_no_account_and_no_limit);
	tcase_add_test(tc, handles_and_parked_fit_up_to_their_limits);
	tcase_add_test(tc, buckets_refill_at_their_rate_with_one_second_of_burst);
	suite_add_tcase(s, tc);
	SRunner *runner = srunner_create(s);
	srunner_run_all(runner, CK_NORMAL);
	int failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
