/*
 * Unit tests of server/session.c: the session table keyed by pipe, session ids, resume
 * secrets, and the one-line description used in logs.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

static struct session_table table;

static void
setup(void)
{
	session_table_init(&table);
}

static void
teardown(void)
{
	session_table_fini(&table);
}

static struct peer_identity
ipc_peer(uid_t uid, gid_t gid, pid_t pid)
{
	struct peer_identity identity;

	memset(&identity, 0, sizeof(identity));
	identity.has_credentials = true;
	identity.uid = uid;
	identity.gid = gid;
	identity.pid = pid;
	snprintf(identity.peer, sizeof(identity.peer), "ipc");
	return identity;
}

static struct peer_identity
tcp_peer(const char *peer)
{
	struct peer_identity identity;

	memset(&identity, 0, sizeof(identity));
	snprintf(identity.peer, sizeof(identity.peer), "%s", peer);
	return identity;
}

START_TEST(session_new_is_found_by_its_pipe)
{
	struct peer_identity identity = ipc_peer(1000, 100, 4242);
	struct session *session = NULL;

	ck_assert_int_eq(session_new(&table, 17, &identity, &session), 0);
	ck_assert_ptr_nonnull(session);
	ck_assert_ptr_eq(session_find(&table, 17), session);
	ck_assert_uint_eq(session->pipe_id, 17);
	session_free(&table, session);
}
END_TEST

START_TEST(session_find_of_an_unknown_pipe_is_null)
{
	struct peer_identity identity = tcp_peer("tcp 127.0.0.1:1");
	struct session *session;

	ck_assert_ptr_null(session_find(&table, 1));
	ck_assert_int_eq(session_new(&table, 1, &identity, &session), 0);
	ck_assert_ptr_null(session_find(&table, 2));
	ck_assert_ptr_null(session_find(&table, 0));
	session_free(&table, session);
}
END_TEST

START_TEST(session_new_starts_empty)
{
	struct peer_identity identity = ipc_peer(0, 0, 1);
	struct session *session;

	ck_assert_int_eq(session_new(&table, 3, &identity, &session), 0);
	ck_assert(list_empty(&session->handles));
	ck_assert_uint_eq(session->n_handles, 0);
	ck_assert(list_empty(&session->parked));
	ck_assert_uint_eq(session->n_parked, 0);
	ck_assert_uint_eq(session->parked_by_seq.count, 0);
	ck_assert(!session->said_hello);
	ck_assert_str_eq(session->client_name, "");
	session_free(&table, session);
}
END_TEST

START_TEST(session_new_copies_the_identity)
{
	struct peer_identity identity = ipc_peer(1000, 100, 4242);
	struct session *session;

	ck_assert_int_eq(session_new(&table, 3, &identity, &session), 0);
	/* The caller's copy may go away: the transport's is on its stack. */
	memset(&identity, 0xa5, sizeof(identity));
	ck_assert(session->identity.has_credentials);
	ck_assert_uint_eq(session->identity.uid, 1000);
	ck_assert_uint_eq(session->identity.gid, 100);
	ck_assert_int_eq(session->identity.pid, 4242);
	ck_assert_str_eq(session->identity.peer, "ipc");
	session_free(&table, session);
}
END_TEST

START_TEST(session_ids_increase_from_one_and_are_never_reused)
{
	struct peer_identity identity = tcp_peer("tcp [::1]:5");
	struct session *a, *b, *c;

	ck_assert_int_eq(session_new(&table, 10, &identity, &a), 0);
	ck_assert_int_eq(session_new(&table, 11, &identity, &b), 0);
	ck_assert_uint_eq(a->id, 1);
	ck_assert_uint_eq(b->id, 2);
	session_free(&table, a);
	/* The same pipe id again (NNG reuses none, but ids must not depend on it). */
	ck_assert_int_eq(session_new(&table, 10, &identity, &c), 0);
	ck_assert_uint_eq(c->id, 3);
	ck_assert_ptr_eq(session_find(&table, 10), c);
	ck_assert_ptr_eq(session_find(&table, 11), b);
	session_free(&table, b);
	session_free(&table, c);
}
END_TEST

START_TEST(session_resume_secrets_differ_between_sessions)
{
	enum { N = 8 };
	struct peer_identity identity = ipc_peer(1, 1, 1);
	struct session *sessions[N];
	static const uint8_t zero[SESSION_SECRET_LEN];

	for (uint32_t i = 0; i < N; i++)
		ck_assert_int_eq(session_new(&table, 100 + i, &identity, &sessions[i]), 0);
	for (int i = 0; i < N; i++) {
		ck_assert_mem_ne(sessions[i]->resume_secret, zero, SESSION_SECRET_LEN);
		for (int j = 0; j < i; j++)
			ck_assert_mem_ne(sessions[i]->resume_secret, sessions[j]->resume_secret,
					 SESSION_SECRET_LEN);
	}
	for (int i = 0; i < N; i++)
		session_free(&table, sessions[i]);
}
END_TEST

START_TEST(session_table_lists_every_live_session)
{
	struct peer_identity identity = tcp_peer("tcp 10.0.0.1:9");
	struct session *a, *b;
	size_t n = 0;
	struct list *pos, *tmp;

	ck_assert(list_empty(&table.all));
	ck_assert_int_eq(session_new(&table, 1, &identity, &a), 0);
	ck_assert_int_eq(session_new(&table, 2, &identity, &b), 0);
	list_for_each_safe(pos, tmp, &table.all) {
		struct session *s = list_entry(pos, struct session, link);

		ck_assert(s == a || s == b);
		n++;
	}
	ck_assert_uint_eq(n, 2);
	session_free(&table, a);
	ck_assert_ptr_eq(list_first(&table.all), &b->link);
	session_free(&table, b);
	ck_assert(list_empty(&table.all));
}
END_TEST

START_TEST(session_free_takes_it_out_of_the_table)
{
	struct peer_identity identity = ipc_peer(1, 2, 3);
	struct session *a, *b;

	ck_assert_int_eq(session_new(&table, 5, &identity, &a), 0);
	ck_assert_int_eq(session_new(&table, 6, &identity, &b), 0);
	session_free(&table, a);
	ck_assert_ptr_null(session_find(&table, 5));
	ck_assert_ptr_eq(session_find(&table, 6), b);
	ck_assert_uint_eq(table.by_pipe.count, 1);
	session_free(&table, b);
	ck_assert_uint_eq(table.by_pipe.count, 0);
}
END_TEST

START_TEST(session_new_for_pipe_zero_is_einval_and_leaves_nothing_behind)
{
	struct peer_identity identity = ipc_peer(1, 2, 3);
	struct session *session = NULL;

	ck_assert_int_eq(session_new(&table, 0, &identity, &session), -EINVAL);
	ck_assert_ptr_null(session);
	ck_assert(list_empty(&table.all));
	ck_assert_uint_eq(table.by_pipe.count, 0);
}
END_TEST

START_TEST(session_describe_with_credentials_names_uid_gid_pid_and_peer)
{
	struct peer_identity identity = ipc_peer(1000, 100, 4242);
	struct session *session;
	char buf[128];

	ck_assert_int_eq(session_new(&table, 1, &identity, &session), 0);
	session_describe(session, buf, sizeof(buf));
	ck_assert_str_eq(buf, "session 1 (uid 1000 gid 100 pid 4242, ipc)");
	snprintf(session->client_name, sizeof(session->client_name), "python-sockbroker/0.1");
	session_describe(session, buf, sizeof(buf));
	ck_assert_str_eq(buf, "session 1 (uid 1000 gid 100 pid 4242, ipc, python-sockbroker/0.1)");
	session_free(&table, session);
}
END_TEST

START_TEST(session_describe_without_credentials_names_the_peer_only)
{
	struct peer_identity identity = tcp_peer("tcp 127.0.0.1:40112");
	struct session *session;
	char buf[128];

	ck_assert_int_eq(session_new(&table, 1, &identity, &session), 0);
	/* Stale numbers must not show when the transport says they are not valid. */
	session->identity.uid = 1000;
	session_describe(session, buf, sizeof(buf));
	ck_assert_str_eq(buf, "session 1 (tcp 127.0.0.1:40112)");
	snprintf(session->client_name, sizeof(session->client_name), "sbcat");
	session_describe(session, buf, sizeof(buf));
	ck_assert_str_eq(buf, "session 1 (tcp 127.0.0.1:40112, sbcat)");
	session_free(&table, session);
}
END_TEST

START_TEST(session_describe_truncates_to_the_buffer)
{
	struct peer_identity identity = tcp_peer("tcp 127.0.0.1:40112");
	struct session *session;
	char buf[12];

	ck_assert_int_eq(session_new(&table, 1, &identity, &session), 0);
	memset(buf, 'x', sizeof(buf));
	session_describe(session, buf, sizeof(buf));
	ck_assert_str_eq(buf, "session 1 (");
	session_free(&table, session);
}
END_TEST

static Suite *
session_suite(void)
{
	Suite *s = suite_create("session");
	TCase *tc = tcase_create("session");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, session_new_is_found_by_its_pipe);
	tcase_add_test(tc, session_find_of_an_unknown_pipe_is_null);
	tcase_add_test(tc, session_new_starts_empty);
	tcase_add_test(tc, session_new_copies_the_identity);
	tcase_add_test(tc, session_ids_increase_from_one_and_are_never_reused);
	tcase_add_test(tc, session_resume_secrets_differ_between_sessions);
	tcase_add_test(tc, session_table_lists_every_live_session);
	tcase_add_test(tc, session_free_takes_it_out_of_the_table);
	tcase_add_test(tc, session_new_for_pipe_zero_is_einval_and_leaves_nothing_behind);
	tcase_add_test(tc, session_describe_with_credentials_names_uid_gid_pid_and_peer);
	tcase_add_test(tc, session_describe_without_credentials_names_the_peer_only);
	tcase_add_test(tc, session_describe_truncates_to_the_buffer);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(session_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
