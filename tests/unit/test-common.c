/*
 * Unit tests of common/: errname (errno names both ways), family (address family names),
 * paths (the default broker URL) and sha256 (against the FIPS 180-4 example vectors).
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "errname.h"
#include "family.h"
#include "paths.h"
#include "sha256.h"

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

/* The digest of `len` bytes of `data` in hexadecimal. */
static void
hex_digest(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1])
{
	uint8_t digest[SHA256_DIGEST_LEN];

	sha256_digest(data, len, digest);
	sha256_to_hex(digest, hex);
}

START_TEST(sha256_of_the_empty_string)
{
	char hex[SHA256_HEX_LEN + 1];

	hex_digest("", 0, hex);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	hex_digest(NULL, 0, hex);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
END_TEST

START_TEST(sha256_of_abc)
{
	char hex[SHA256_HEX_LEN + 1];

	hex_digest("abc", 3, hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(sha256_of_the_448_and_896_bit_messages)
{
	static const char m448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	static const char m896[] = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
				   "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	char hex[SHA256_HEX_LEN + 1];

	ck_assert_uint_eq(strlen(m448) * 8, 448);
	hex_digest(m448, strlen(m448), hex);
	ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	ck_assert_uint_eq(strlen(m896) * 8, 896);
	hex_digest(m896, strlen(m896), hex);
	ck_assert_str_eq(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}
END_TEST

START_TEST(sha256_of_a_million_a_fed_in_uneven_pieces)
{
	static const char expected[] =
		"cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
	char *million = malloc(1000000);
	uint8_t digest[SHA256_DIGEST_LEN];
	char hex[SHA256_HEX_LEN + 1];
	struct sha256_ctx ctx;
	size_t done = 0, piece = 1;

	ck_assert_ptr_nonnull(million);
	memset(million, 'a', 1000000);
	hex_digest(million, 1000000, hex);
	ck_assert_str_eq(hex, expected);

	/* Pieces of 1, 2, 3, ... 200 bytes cross block boundaries at every offset. */
	sha256_init(&ctx);
	while (done < 1000000) {
		size_t n = piece < 1000000 - done ? piece : 1000000 - done;

		sha256_update(&ctx, million + done, n);
		done += n;
		piece = piece % 200 + 1;
	}
	sha256_final(&ctx, digest);
	sha256_to_hex(digest, hex);
	ck_assert_str_eq(hex, expected);
	free(million);
}
END_TEST

/* Messages whose padding fills a block exactly, or spills into a second one. */
START_TEST(sha256_pads_at_the_block_boundaries)
{
	static const struct {
		size_t len;
		const char *hex;
	} cases[] = {
		{ 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318" },
		{ 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a" },
		{ 63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34" },
		{ 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb" },
		{ 65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0" },
		{ 119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb" },
		{ 120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c" },
	};
	char message[128];
	char hex[SHA256_HEX_LEN + 1];

	memset(message, 'a', sizeof(message));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hex_digest(message, cases[i].len, hex);
		ck_assert_msg(strcmp(hex, cases[i].hex) == 0, "%zu bytes: %s", cases[i].len, hex);
	}
}
END_TEST

START_TEST(sha256_from_hex_reads_either_case_and_round_trips)
{
	static const char lower[] =
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	static const char upper[] =
		"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
	uint8_t expected[SHA256_DIGEST_LEN], digest[SHA256_DIGEST_LEN];
	char hex[SHA256_HEX_LEN + 1];

	sha256_digest("abc", 3, expected);
	ck_assert_int_eq(sha256_from_hex(lower, digest), 0);
	ck_assert_mem_eq(digest, expected, SHA256_DIGEST_LEN);
	ck_assert_int_eq(sha256_from_hex(upper, digest), 0);
	ck_assert_mem_eq(digest, expected, SHA256_DIGEST_LEN);
	sha256_to_hex(digest, hex);
	ck_assert_str_eq(hex, lower);
}
END_TEST

START_TEST(sha256_from_hex_rejects_anything_but_64_hex_digits)
{
	static const char *const bad[] = {
		"",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ag",
		" ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n",
		"0xa7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	};
	uint8_t digest[SHA256_DIGEST_LEN];

	ck_assert_int_eq(sha256_from_hex(NULL, digest), -EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(sha256_from_hex(bad[i], digest) == -EINVAL, "accepted \"%s\"",
			      bad[i]);
}
END_TEST

START_TEST(sha256_equal_compares_every_byte)
{
	uint8_t a[SHA256_DIGEST_LEN], b[SHA256_DIGEST_LEN];

	sha256_digest("token", 5, a);
	memcpy(b, a, sizeof(b));
	ck_assert(sha256_equal(a, b));
	for (size_t i = 0; i < SHA256_DIGEST_LEN; i++) {
		b[i] ^= 0x01;
		ck_assert_msg(!sha256_equal(a, b), "a difference in byte %zu went unseen", i);
		b[i] ^= 0x81;
		ck_assert(!sha256_equal(a, b));
		b[i] ^= 0x80;
	}
	ck_assert(sha256_equal(a, b));
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

START_TEST(family_names_of_the_served_families)
{
	ck_assert_str_eq(family_name(AF_INET6), "AF_INET6");
	ck_assert_str_eq(family_name(AF_UNIX), "AF_UNIX");
	ck_assert_str_eq(family_name(AF_TIPC), "AF_TIPC");
	ck_assert_str_eq(family_short_name(AF_INET6), "inet6");
	ck_assert_str_eq(family_short_name(AF_PACKET), "packet");
	ck_assert_str_eq(family_short_name(AF_VSOCK), "vsock");
}
END_TEST

START_TEST(family_names_of_other_families_are_null)
{
	ck_assert_ptr_null(family_name(AF_UNSPEC));
	ck_assert_ptr_null(family_name(AF_BLUETOOTH));
	ck_assert_ptr_null(family_name(-1));
	ck_assert_ptr_null(family_short_name(AF_UNSPEC));
	ck_assert_ptr_null(family_short_name(AF_MAX));
}
END_TEST

static Suite *
family_suite(void)
{
	Suite *s = suite_create("family");
	TCase *tc = tcase_create("family");

	tcase_add_test(tc, family_names_of_the_served_families);
	tcase_add_test(tc, family_names_of_other_families_are_null);
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

static Suite *
sha256_suite(void)
{
	Suite *s = suite_create("sha256");
	TCase *tc = tcase_create("sha256");

	tcase_add_test(tc, sha256_of_the_empty_string);
	tcase_add_test(tc, sha256_of_abc);
	tcase_add_test(tc, sha256_of_the_448_and_896_bit_messages);
	tcase_add_test(tc, sha256_of_a_million_a_fed_in_uneven_pieces);
	tcase_add_test(tc, sha256_pads_at_the_block_boundaries);
	tcase_add_test(tc, sha256_from_hex_reads_either_case_and_round_trips);
	tcase_add_test(tc, sha256_from_hex_rejects_anything_but_64_hex_digits);
	tcase_add_test(tc, sha256_equal_compares_every_byte);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(errname_suite());
	int failed;

	srunner_add_suite(runner, family_suite());
	srunner_add_suite(runner, paths_suite());
	srunner_add_suite(runner, sha256_suite());
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
