/*
 * Unit tests of server/idmap.c: the id -> pointer map behind the handle and session tables.
 * Probe chains are built on purpose: home_slot() finds where an id lands in a fresh 16-slot
 * map, so that the tests can pick ids that collide and remove them from the middle of a run.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"

/*
 * Check logs every ck_assert that passes, which makes loops over many thousand ids slow (and
 * very slow under valgrind). Those loops use this instead: free until it fails.
 */
#define EXPECT(cond)                                                                   \
	do {                                                                           \
		if (!(cond))                                                           \
			ck_abort_msg("%s:%d: expected %s", __FILE__, __LINE__, #cond); \
	} while (0)

/* The first allocation of a map: idmap_put() on an empty map makes this many slots. */
#define FIRST_CAPACITY 16

/* A value pointer that is not NULL and says which id it was stored under. */
static void *
value_of(uint64_t id)
{
	return (void *)(uintptr_t)(id * 8 + 8);
}

/* The slot where `id` lands when it is alone in a map of FIRST_CAPACITY slots. */
static size_t
home_slot(uint64_t id)
{
	struct idmap map;
	size_t slot = SIZE_MAX;

	idmap_init(&map);
	EXPECT(idmap_put(&map, id, value_of(id)) == 0);
	EXPECT(map.capacity == FIRST_CAPACITY);
	for (size_t i = 0; i < map.capacity; i++)
		if (map.slots[i].id == id)
			slot = i;
	idmap_fini(&map);
	EXPECT(slot != SIZE_MAX);
	return slot;
}

/* Fill ids[0..n) with the first n ids from `first` on whose home slot is `slot`. */
static void
ids_with_home(size_t slot, uint64_t *ids, size_t n, uint64_t first)
{
	size_t found = 0;

	for (uint64_t id = first; found < n; id++) {
		EXPECT(id < first + 100000);
		if (home_slot(id) == slot)
			ids[found++] = id;
	}
}

START_TEST(idmap_get_of_an_empty_map_is_null)
{
	struct idmap map;

	idmap_init(&map);
	ck_assert_ptr_null(idmap_get(&map, 1));
	ck_assert_ptr_null(idmap_remove(&map, 1));
	ck_assert_uint_eq(map.count, 0);
	ck_assert_uint_eq(map.capacity, 0);
	ck_assert_ptr_null(map.slots);
	idmap_fini(&map);
}
END_TEST

START_TEST(idmap_put_then_get_returns_the_value)
{
	struct idmap map;
	int a, b;

	idmap_init(&map);
	ck_assert_int_eq(idmap_put(&map, 7, &a), 0);
	ck_assert_int_eq(idmap_put(&map, 8, &b), 0);
	ck_assert_ptr_eq(idmap_get(&map, 7), &a);
	ck_assert_ptr_eq(idmap_get(&map, 8), &b);
	ck_assert_ptr_null(idmap_get(&map, 9));
	ck_assert_uint_eq(map.count, 2);
	idmap_fini(&map);
}
END_TEST

START_TEST(idmap_put_of_a_present_id_replaces_the_value_and_keeps_the_count)
{
	struct idmap map;
	int a, b;

	idmap_init(&map);
	ck_assert_int_eq(idmap_put(&map, 42, &a), 0);
	ck_assert_int_eq(idmap_put(&map, 42, &b), 0);
	ck_assert_ptr_eq(idmap_get(&map, 42), &b);
	ck_assert_uint_eq(map.count, 1);
	ck_assert_ptr_eq(idmap_remove(&map, 42), &b);
	ck_assert_ptr_null(idmap_get(&map, 42));
	ck_assert_uint_eq(map.count, 0);
	idmap_fini(&map);
}
END_TEST

START_TEST(idmap_rejects_id_zero)
{
	struct idmap map;
	int a;

	idmap_init(&map);
	ck_assert_int_eq(idmap_put(&map, 0, &a), -EINVAL);
	ck_assert_uint_eq(map.count, 0);
	ck_assert_int_eq(idmap_put(&map, 5, &a), 0);
	/* Empty slots hold id 0: a lookup of 0 must not find one of them. */
	ck_assert_int_eq(idmap_put(&map, 0, &a), -EINVAL);
	ck_assert_ptr_null(idmap_get(&map, 0));
	ck_assert_ptr_null(idmap_remove(&map, 0));
	ck_assert_uint_eq(map.count, 1);
	ck_assert_ptr_eq(idmap_get(&map, 5), &a);
	idmap_fini(&map);
}
END_TEST

START_TEST(idmap_remove_returns_the_value_and_forgets_the_id)
{
	struct idmap map;
	int a, b;

	idmap_init(&map);
	ck_assert_int_eq(idmap_put(&map, 3, &a), 0);
	ck_assert_int_eq(idmap_put(&map, 4, &b), 0);
	ck_assert_ptr_eq(idmap_remove(&map, 3), &a);
	ck_assert_uint_eq(map.count, 1);
	ck_assert_ptr_null(idmap_get(&map, 3));
	ck_assert_ptr_null(idmap_remove(&map, 3));
	ck_assert_uint_eq(map.count, 1);
	ck_assert_ptr_eq(idmap_get(&map, 4), &b);
	idmap_fini(&map);
}
END_TEST

START_TEST(idmap_remove_of_an_absent_id_is_null_and_keeps_the_count)
{
	struct idmap map;
	int a;

	idmap_init(&map);
	ck_assert_int_eq(idmap_put(&map, 1, &a), 0);
	ck_assert_ptr_null(idmap_remove(&map, 2));
	ck_assert_ptr_null(idmap_remove(&map, UINT64_MAX));
	ck_assert_uint_eq(map.count, 1);
	ck_assert_ptr_eq(idmap_get(&map, 1), &a);
	idmap_fini(&map);
}
END_TEST

START_TEST(idmap_stores_the_largest_id)
{
	struct idmap map;
	int a, b;

	idmap_init(&map);
	ck_assert_int_eq(idmap_put(&map, UINT64_MAX, &a), 0);
	ck_assert_int_eq(idmap_put(&map, 1, &b), 0);
	ck_assert_ptr_eq(idmap_get(&map, UINT64_MAX), &a);
	ck_assert_ptr_eq(idmap_get(&map, 1), &b);
	ck_assert_ptr_eq(idmap_remove(&map, UINT64_MAX), &a);
	ck_assert_ptr_null(idmap_get(&map, UINT64_MAX));
	idmap_fini(&map);
}
END_TEST

START_TEST(idmap_grows_past_many_thousand_ids)
{
	enum { N = 50000 };
	struct idmap map;

	idmap_init(&map);
	for (uint64_t id = 1; id <= N; id++) {
		EXPECT(idmap_put(&map, id, value_of(id)) == 0);
		EXPECT(map.count == id);
		/* A power of two, never fuller than 3/4. */
		EXPECT((map.capacity & (map.capacity - 1)) == 0);
		EXPECT(map.count * 4 <= map.capacity * 3);
	}
	for (uint64_t id = 1; id <= N; id++)
		EXPECT(idmap_get(&map, id) == value_of(id));
	ck_assert_ptr_null(idmap_get(&map, N + 1));

	/* Remove every other id; the rest stay reachable. */
	for (uint64_t id = 2; id <= N; id += 2)
		EXPECT(idmap_remove(&map, id) == value_of(id));
	ck_assert_uint_eq(map.count, N / 2);
	for (uint64_t id = 1; id <= N; id++)
		EXPECT(idmap_get(&map, id) == (id % 2 ? value_of(id) : NULL));
	idmap_fini(&map);
	ck_assert_uint_eq(map.count, 0);
	ck_assert_uint_eq(map.capacity, 0);
	ck_assert_ptr_null(map.slots);
}
END_TEST

START_TEST(idmap_finds_ids_that_differ_only_in_their_high_bits)
{
	enum { N = 5000 };
	struct idmap map;

	idmap_init(&map);
	for (uint64_t i = 1; i <= N; i++)
		EXPECT(idmap_put(&map, i << 40, value_of(i)) == 0);
	ck_assert_uint_eq(map.count, N);
	for (uint64_t i = 1; i <= N; i++)
		EXPECT(idmap_get(&map, i << 40) == value_of(i));
	ck_assert_ptr_null(idmap_get(&map, 1));
	idmap_fini(&map);
}
END_TEST

/*
 * One probe run of six ids: four share home slot `slot`, two share the next one, inserted
 * interleaved so that the run mixes both homes. Removing any one of them must leave the other
 * five reachable, and so must removing the rest one by one afterwards.
 */
static void
check_removal_from_a_probe_run(size_t slot)
{
	uint64_t here[4], next[2], all[6];

	ids_with_home(slot, here, 4, 1);
	ids_with_home((slot + 1) % FIRST_CAPACITY, next, 2, 1);
	all[0] = here[0];
	all[1] = here[1];
	all[2] = next[0];
	all[3] = here[2];
	all[4] = next[1];
	all[5] = here[3];

	for (size_t victim = 0; victim < 6; victim++) {
		struct idmap map;
		bool gone[6] = {false};
		size_t order[6], n = 0;

		/* The victim first, then the others from the far end of the run. */
		order[n++] = victim;
		for (size_t i = 6; i-- > 0;)
			if (i != victim)
				order[n++] = i;

		idmap_init(&map);
		for (size_t i = 0; i < 6; i++)
			ck_assert_int_eq(idmap_put(&map, all[i], value_of(all[i])), 0);
		/* Still the first allocation: the ids really collide. */
		ck_assert_uint_eq(map.capacity, FIRST_CAPACITY);

		for (size_t step = 0; step < 6; step++) {
			size_t k = order[step];

			ck_assert_ptr_eq(idmap_remove(&map, all[k]), value_of(all[k]));
			gone[k] = true;
			for (size_t i = 0; i < 6; i++) {
				if (gone[i])
					ck_assert_ptr_null(idmap_get(&map, all[i]));
				else
					ck_assert_ptr_eq(idmap_get(&map, all[i]), value_of(all[i]));
			}
		}
		ck_assert_uint_eq(map.count, 0);
		idmap_fini(&map);
	}
}

START_TEST(idmap_remove_keeps_later_probes_reachable)
{
	check_removal_from_a_probe_run(5);
}
END_TEST

START_TEST(idmap_remove_keeps_probes_reachable_when_the_run_wraps_around)
{
	/* Home slots 15 and 0: the run crosses the end of the slot array. */
	check_removal_from_a_probe_run(FIRST_CAPACITY - 1);
}
END_TEST

START_TEST(idmap_remove_of_an_absent_id_whose_home_is_inside_a_run_changes_nothing)
{
	uint64_t ids[4];
	struct idmap map;

	ids_with_home(9, ids, 4, 1);
	idmap_init(&map);
	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(idmap_put(&map, ids[i], value_of(ids[i])), 0);
	ck_assert_ptr_null(idmap_remove(&map, ids[3]));
	ck_assert_uint_eq(map.count, 3);
	for (size_t i = 0; i < 3; i++)
		ck_assert_ptr_eq(idmap_get(&map, ids[i]), value_of(ids[i]));
	idmap_fini(&map);
}
END_TEST

START_TEST(idmap_put_after_remove_reuses_the_hole_and_finds_everything)
{
	uint64_t ids[5];
	struct idmap map;

	ids_with_home(3, ids, 5, 1);
	idmap_init(&map);
	for (size_t i = 0; i < 4; i++)
		ck_assert_int_eq(idmap_put(&map, ids[i], value_of(ids[i])), 0);
	ck_assert_ptr_eq(idmap_remove(&map, ids[1]), value_of(ids[1]));
	ck_assert_int_eq(idmap_put(&map, ids[4], value_of(ids[4])), 0);
	/* Putting a present id again must replace it, not add a second copy. */
	ck_assert_int_eq(idmap_put(&map, ids[3], value_of(ids[0])), 0);
	ck_assert_uint_eq(map.count, 4);
	ck_assert_ptr_eq(idmap_get(&map, ids[3]), value_of(ids[0]));
	ck_assert_ptr_eq(idmap_remove(&map, ids[3]), value_of(ids[0]));
	ck_assert_ptr_null(idmap_get(&map, ids[3]));
	ck_assert_ptr_eq(idmap_get(&map, ids[0]), value_of(ids[0]));
	ck_assert_ptr_eq(idmap_get(&map, ids[2]), value_of(ids[2]));
	ck_assert_ptr_eq(idmap_get(&map, ids[4]), value_of(ids[4]));
	ck_assert_uint_eq(map.count, 3);
	idmap_fini(&map);
}
END_TEST

static uint64_t
next_random(uint64_t *state)
{
	/* xorshift64: reproducible, no dependence on rand()'s implementation. */
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

START_TEST(idmap_matches_a_plain_array_over_random_puts_and_removes)
{
	enum { KEYS = 3000, STEPS = 200000 };
	void **model = calloc(KEYS + 1, sizeof(*model));
	uint64_t state = 0x9e3779b97f4a7c15ULL;
	size_t count = 0;
	struct idmap map;

	ck_assert_ptr_nonnull(model);
	idmap_init(&map);
	for (int step = 0; step < STEPS; step++) {
		uint64_t r = next_random(&state);
		uint64_t id = 1 + r % KEYS;

		/* Puts slightly outnumber removes, so the map grows and shrinks in waves. */
		if ((r >> 32) % 100 < 55) {
			void *value = value_of(id + (uint64_t)step);

			EXPECT(idmap_put(&map, id, value) == 0);
			count += model[id] == NULL;
			model[id] = value;
		} else {
			EXPECT(idmap_remove(&map, id) == model[id]);
			count -= model[id] != NULL;
			model[id] = NULL;
		}
		EXPECT(map.count == count);
		EXPECT(idmap_get(&map, id) == model[id]);
	}
	for (uint64_t id = 1; id <= KEYS; id++)
		EXPECT(idmap_get(&map, id) == model[id]);
	idmap_fini(&map);
	free(model);
}
END_TEST

START_TEST(idmap_fini_leaves_an_empty_map_that_can_be_used_again)
{
	struct idmap map;
	int a;

	idmap_init(&map);
	ck_assert_int_eq(idmap_put(&map, 11, &a), 0);
	idmap_fini(&map);
	ck_assert_ptr_null(idmap_get(&map, 11));
	ck_assert_uint_eq(map.count, 0);
	ck_assert_int_eq(idmap_put(&map, 11, &a), 0);
	ck_assert_ptr_eq(idmap_get(&map, 11), &a);
	idmap_fini(&map);
}
END_TEST

static Suite *
idmap_suite(void)
{
	Suite *s = suite_create("idmap");
	TCase *tc = tcase_create("idmap");

	tcase_add_test(tc, idmap_get_of_an_empty_map_is_null);
	tcase_add_test(tc, idmap_put_then_get_returns_the_value);
	tcase_add_test(tc, idmap_put_of_a_present_id_replaces_the_value_and_keeps_the_count);
	tcase_add_test(tc, idmap_rejects_id_zero);
	tcase_add_test(tc, idmap_remove_returns_the_value_and_forgets_the_id);
	tcase_add_test(tc, idmap_remove_of_an_absent_id_is_null_and_keeps_the_count);
	tcase_add_test(tc, idmap_stores_the_largest_id);
	tcase_add_test(tc, idmap_grows_past_many_thousand_ids);
	tcase_add_test(tc, idmap_finds_ids_that_differ_only_in_their_high_bits);
	tcase_add_test(tc, idmap_remove_keeps_later_probes_reachable);
	tcase_add_test(tc, idmap_remove_keeps_probes_reachable_when_the_run_wraps_around);
	tcase_add_test(tc, idmap_remove_of_an_absent_id_whose_home_is_inside_a_run_changes_nothing);
	tcase_add_test(tc, idmap_put_after_remove_reuses_the_hole_and_finds_everything);
	tcase_add_test(tc, idmap_matches_a_plain_array_over_random_puts_and_removes);
	tcase_add_test(tc, idmap_fini_leaves_an_empty_map_that_can_be_used_again);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(idmap_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
