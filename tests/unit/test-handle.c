/*
 * Unit tests of server/handle.c: the handle table on a real reactor, with socketpairs for fds.
 * Memory that handle_close() must keep until the end of the turn is read after the close on
 * purpose: under valgrind (CK_FORK=no) an early free is an invalid read and fails the run.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handle.h"
#include "session.h"
#include "wire.h"

#define MS 1000000ULL
#define GUARD_NS (5000 * MS)

static struct reactor *reactor;
static struct session_table sessions;
static struct session *alice, *bob;
static struct handle_table table;

/* What the table's ready callback saw. */
static struct handle *ready_handle;
static uint32_t ready_events;
static int ready_calls;
static uint32_t stop_on; /* stop the reactor once these event bits were seen */

static void
on_ready(struct handle *handle, uint32_t events)
{
	ready_calls++;
	ready_handle = handle;
	ready_events |= events;
	if (stop_on && (events & stop_on))
		reactor_stop(reactor);
}

static void
setup(void)
{
	struct peer_identity identity;

	memset(&identity, 0, sizeof(identity));
	snprintf(identity.peer, sizeof(identity.peer), "test");
	ck_assert_int_eq(reactor_new(&reactor), 0);
	session_table_init(&sessions);
	ck_assert_int_eq(session_new(&sessions, 1, &identity, &alice), 0);
	ck_assert_int_eq(session_new(&sessions, 2, &identity, &bob), 0);
	handle_table_init(&table, reactor, on_ready);
	ready_handle = NULL;
	ready_events = 0;
	ready_calls = 0;
	stop_on = 0;
}

static void
close_all(struct session *session)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &session->handles)
		handle_close(list_entry(pos, struct handle, session_link));
}

static void
teardown(void)
{
	close_all(alice);
	close_all(bob);
	reactor_drain(reactor);
	ck_assert_uint_eq(table.count, 0);
	handle_table_fini(&table);
	session_free(&sessions, alice);
	session_free(&sessions, bob);
	session_table_fini(&sessions);
	reactor_free(reactor);
}

/* A socketpair: *ours goes to a handle, *peer stays with the test. */
static void
make_pair(int *ours, int *peer)
{
	int fds[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds),
			 0);
	*ours = fds[0];
	*peer = fds[1];
}

static struct handle *
new_handle(struct session *session, int *peer)
{
	struct handle *handle = NULL;
	int fd, unused;

	make_pair(&fd, peer ? peer : &unused);
	ck_assert_int_eq(
		handle_new(&table, session, fd, AF_UNIX, SOCK_STREAM, 0, TIMEOUT_NONE, &handle), 0);
	ck_assert_ptr_nonnull(handle);
	if (!peer)
		close(unused);
	return handle;
}

static bool
fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static bool guard_fired;

static void
guard_expired(struct reactor_timer *timer)
{
	guard_fired = true;
	reactor_stop(reactor);
}

/* Run the reactor until a callback stops it, failing after GUARD_NS. */
static void
run_bounded(void)
{
	struct reactor_timer guard;

	guard_fired = false;
	reactor_timer_init(&guard, guard_expired);
	ck_assert_int_eq(reactor_timer_arm(reactor, &guard, reactor_now_ns() + GUARD_NS), 0);
	ck_assert_int_eq(reactor_run(reactor), 0);
	reactor_timer_cancel(reactor, &guard);
	ck_assert_msg(!guard_fired, "the reactor was not stopped within 5 s");
}

START_TEST(handle_new_takes_the_fd_and_links_it_into_its_session)
{
	struct handle *handle = NULL;
	int fd, peer;

	make_pair(&fd, &peer);
	ck_assert_int_eq(handle_new(&table, alice, fd, AF_UNIX, SOCK_DGRAM, 0, 1500 * MS, &handle),
			 0);
	ck_assert_uint_eq(handle->id, 1);
	ck_assert_int_eq(handle->fd, fd);
	ck_assert_int_eq(handle->family, AF_UNIX);
	ck_assert_int_eq(handle->type, SOCK_DGRAM);
	ck_assert_int_eq(handle->proto, 0);
	ck_assert_int_eq(handle->timeout_ns, 1500 * MS);
	ck_assert_int_eq(handle->state, HANDLE_OPEN);
	ck_assert_uint_eq(handle->refs, 1);
	ck_assert_ptr_eq(handle->session, alice);
	ck_assert(list_empty(&handle->parked_reads));
	ck_assert(list_empty(&handle->parked_writes));
	ck_assert_ptr_eq(list_first(&alice->handles), &handle->session_link);
	ck_assert_uint_eq(alice->n_handles, 1);
	ck_assert_uint_eq(table.count, 1);
	close(peer);
}
END_TEST

START_TEST(handle_find_returns_the_handle_of_its_own_session)
{
	struct handle *a = new_handle(alice, NULL);
	struct handle *b = new_handle(alice, NULL);

	ck_assert_ptr_eq(handle_find(&table, alice, a->id), a);
	ck_assert_ptr_eq(handle_find(&table, alice, b->id), b);
}
END_TEST

START_TEST(handle_find_of_another_session_is_null)
{
	struct handle *mine = new_handle(alice, NULL);
	struct handle *theirs = new_handle(bob, NULL);

	ck_assert_ptr_null(handle_find(&table, bob, mine->id));
	ck_assert_ptr_null(handle_find(&table, alice, theirs->id));
	ck_assert_ptr_eq(handle_find(&table, bob, theirs->id), theirs);
}
END_TEST

START_TEST(handle_find_of_an_unknown_id_is_null)
{
	struct handle *handle = new_handle(alice, NULL);

	ck_assert_ptr_null(handle_find(&table, alice, 0));
	ck_assert_ptr_null(handle_find(&table, alice, handle->id + 1));
	ck_assert_ptr_null(handle_find(&table, alice, UINT64_MAX));
}
END_TEST

START_TEST(handle_find_after_close_is_null)
{
	struct handle *handle = new_handle(alice, NULL);
	uint64_t id = handle->id;

	ck_assert_int_eq(handle_close(handle), 0);
	/* Both before and after the deferred free. */
	ck_assert_ptr_null(handle_find(&table, alice, id));
	reactor_drain(reactor);
	ck_assert_ptr_null(handle_find(&table, alice, id));
}
END_TEST

START_TEST(handle_ids_are_never_reused_after_close)
{
	uint64_t last = 0;

	for (int i = 0; i < 20; i++) {
		struct handle *handle = new_handle(i % 2 ? alice : bob, NULL);

		ck_assert_uint_gt(handle->id, last);
		last = handle->id;
		if (i % 3 != 2)
			ck_assert_int_eq(handle_close(handle), 0);
		reactor_drain(reactor);
	}
}
END_TEST

START_TEST(handle_close_closes_the_fd)
{
	struct handle *handle;
	int fd, peer;
	char byte;

	make_pair(&fd, &peer);
	ck_assert_int_eq(
		handle_new(&table, alice, fd, AF_UNIX, SOCK_STREAM, 0, TIMEOUT_NONE, &handle), 0);
	ck_assert(fd_is_open(fd));
	ck_assert_int_eq(handle_close(handle), 0);
	errno = 0;
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(handle->fd, -1);
	ck_assert_int_eq(handle->state, HANDLE_CLOSED);
	/* The peer sees the end of the stream. */
	ck_assert_int_eq(read(peer, &byte, 1), 0);
	close(peer);
	reactor_drain(reactor);
}
END_TEST

START_TEST(handle_close_of_a_closed_handle_is_a_noop)
{
	struct handle *handle = new_handle(alice, NULL);
	struct handle *other = new_handle(alice, NULL);

	handle_ref(handle);
	ck_assert_int_eq(handle_close(handle), 0);
	ck_assert_int_eq(handle_close(handle), 0);
	ck_assert_uint_eq(alice->n_handles, 1);
	ck_assert_uint_eq(table.count, 1);
	ck_assert_uint_eq(handle->refs, 1);
	ck_assert_ptr_eq(handle_find(&table, alice, other->id), other);
	handle_unref(handle);
	reactor_drain(reactor);
}
END_TEST

START_TEST(handle_memory_outlives_close_until_the_deferred_free)
{
	struct handle *handle = new_handle(alice, NULL);

	ck_assert_int_eq(handle_close(handle), 0);
	/* Freed at the end of the turn, not yet: these reads are valid. */
	ck_assert_int_eq(handle->state, HANDLE_CLOSED);
	ck_assert_uint_eq(handle->refs, 0);
	reactor_drain(reactor);
}
END_TEST

START_TEST(handle_ref_keeps_the_memory_after_close_until_the_last_unref)
{
	struct handle *handle = new_handle(alice, NULL);

	ck_assert_ptr_eq(handle_ref(handle), handle);
	ck_assert_uint_eq(handle->refs, 2);
	ck_assert_int_eq(handle_close(handle), 0);
	ck_assert_uint_eq(handle->refs, 1);
	/* A full turn's worth of deferred work: the parked operation's reference holds. */
	reactor_drain(reactor);
	ck_assert_int_eq(handle->state, HANDLE_CLOSED);
	ck_assert_int_eq(handle->fd, -1);
	ck_assert_ptr_null(handle_find(&table, alice, handle->id));
	handle_unref(handle);
	reactor_drain(reactor);
}
END_TEST

START_TEST(handle_unref_of_an_open_handle_keeps_it_in_the_table)
{
	struct handle *handle = new_handle(alice, NULL);

	handle_ref(handle);
	handle_unref(handle);
	reactor_drain(reactor);
	ck_assert_ptr_eq(handle_find(&table, alice, handle->id), handle);
	ck_assert_uint_eq(handle->refs, 1);
}
END_TEST

START_TEST(handle_counts_follow_new_and_close_per_session)
{
	struct handle *a1 = new_handle(alice, NULL);
	struct handle *a2 = new_handle(alice, NULL);
	struct handle *a3 = new_handle(alice, NULL);
	struct handle *b1 = new_handle(bob, NULL);
	struct handle *b2 = new_handle(bob, NULL);
	struct list *pos, *tmp;
	size_t listed = 0;

	ck_assert_uint_eq(alice->n_handles, 3);
	ck_assert_uint_eq(bob->n_handles, 2);
	ck_assert_uint_eq(table.count, 5);

	ck_assert_int_eq(handle_close(a2), 0);
	ck_assert_uint_eq(alice->n_handles, 2);
	ck_assert_uint_eq(bob->n_handles, 2);
	ck_assert_uint_eq(table.count, 4);
	list_for_each_safe(pos, tmp, &alice->handles) {
		struct handle *h = list_entry(pos, struct handle, session_link);

		ck_assert(h == a1 || h == a3);
		listed++;
	}
	ck_assert_uint_eq(listed, 2);

	ck_assert_int_eq(handle_close(b1), 0);
	ck_assert_int_eq(handle_close(b2), 0);
	ck_assert_uint_eq(bob->n_handles, 0);
	ck_assert(list_empty(&bob->handles));
	ck_assert_uint_eq(table.count, 2);
	reactor_drain(reactor);
}
END_TEST

START_TEST(handle_new_of_an_unpollable_fd_fails_and_closes_it)
{
	struct handle *handle = NULL;
	uint64_t before = table.last_id;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	/* epoll refuses what has no poll support (EPERM); the fd is the handle's either way. */
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(
		handle_new(&table, alice, fd, AF_UNIX, SOCK_STREAM, 0, TIMEOUT_NONE, &handle),
		-EPERM);
	ck_assert_ptr_null(handle);
	ck_assert(!fd_is_open(fd));
	ck_assert_uint_eq(table.count, 0);
	ck_assert_uint_eq(table.by_id.count, 0);
	ck_assert_uint_eq(alice->n_handles, 0);
	ck_assert(list_empty(&alice->handles));
	ck_assert_ptr_null(handle_find(&table, alice, before + 1));
}
END_TEST

static int writer_peer = -1;

static void
write_to_peer(struct reactor_timer *timer)
{
	ck_assert_int_eq(write(writer_peer, "ping", 4), 4);
}

START_TEST(handle_ready_receives_epollin_when_the_peer_writes)
{
	struct reactor_timer writer;
	struct handle *handle = new_handle(alice, &writer_peer);

	/* The write comes 20 ms into the run, after the first EPOLLOUT edge. */
	reactor_timer_init(&writer, write_to_peer);
	ck_assert_int_eq(reactor_timer_arm(reactor, &writer, reactor_now_ns() + 20 * MS), 0);
	stop_on = EPOLLIN;
	run_bounded();
	ck_assert_ptr_eq(ready_handle, handle);
	ck_assert(ready_events & EPOLLIN);
	close(writer_peer);
}
END_TEST

START_TEST(handle_ready_receives_rdhup_when_the_peer_closes)
{
	int peer;
	struct handle *handle = new_handle(alice, &peer);

	close(peer);
	stop_on = EPOLLRDHUP;
	run_bounded();
	ck_assert_ptr_eq(ready_handle, handle);
	ck_assert(ready_events & EPOLLRDHUP);
}
END_TEST

/* Two handles ready in the same turn; whichever is called first closes the other. */
static struct handle *pair_of_ready[2];

static void
close_the_other(struct handle *handle, uint32_t events)
{
	ready_calls++;
	for (int i = 0; i < 2; i++)
		if (pair_of_ready[i] != handle && pair_of_ready[i]->state == HANDLE_OPEN)
			handle_close(pair_of_ready[i]);
	reactor_stop(reactor);
}

START_TEST(handle_closed_earlier_in_the_turn_gets_no_ready_call)
{
	int peers[2];

	table.ready = close_the_other;
	pair_of_ready[0] = new_handle(alice, &peers[0]);
	pair_of_ready[1] = new_handle(alice, &peers[1]);
	ck_assert_int_eq(write(peers[0], "a", 1), 1);
	ck_assert_int_eq(write(peers[1], "b", 1), 1);
	run_bounded();
	ck_assert_int_eq(ready_calls, 1);
	ck_assert_uint_eq(alice->n_handles, 1);
	close(peers[0]);
	close(peers[1]);
}
END_TEST

static Suite *
handle_suite(void)
{
	Suite *s = suite_create("handle");
	TCase *tc = tcase_create("handle");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, handle_new_takes_the_fd_and_links_it_into_its_session);
	tcase_add_test(tc, handle_find_returns_the_handle_of_its_own_session);
	tcase_add_test(tc, handle_find_of_another_session_is_null);
	tcase_add_test(tc, handle_find_of_an_unknown_id_is_null);
	tcase_add_test(tc, handle_find_after_close_is_null);
	tcase_add_test(tc, handle_ids_are_never_reused_after_close);
	tcase_add_test(tc, handle_close_closes_the_fd);
	tcase_add_test(tc, handle_close_of_a_closed_handle_is_a_noop);
	tcase_add_test(tc, handle_memory_outlives_close_until_the_deferred_free);
	tcase_add_test(tc, handle_ref_keeps_the_memory_after_close_until_the_last_unref);
	tcase_add_test(tc, handle_unref_of_an_open_handle_keeps_it_in_the_table);
	tcase_add_test(tc, handle_counts_follow_new_and_close_per_session);
	tcase_add_test(tc, handle_new_of_an_unpollable_fd_fails_and_closes_it);
	tcase_add_test(tc, handle_ready_receives_epollin_when_the_peer_writes);
	tcase_add_test(tc, handle_ready_receives_rdhup_when_the_peer_closes);
	tcase_add_test(tc, handle_closed_earlier_in_the_turn_gets_no_ready_call);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(handle_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
