/*
 * Unit tests of server/log.c. Standard error is swapped for a pipe while a test logs, and the
 * lines are read back from it.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int saved_stderr = -1;
static int pipe_read = -1;
static char captured[65536];

static void
capture_begin(void)
{
	int fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ge(saved_stderr, 0);
	ck_assert_int_eq(dup2(fds[1], STDERR_FILENO), STDERR_FILENO);
	close(fds[1]);
	pipe_read = fds[0];
}

/* Restore standard error and return what was logged since capture_begin(). */
static const char *
capture_end(void)
{
	size_t len = 0;
	ssize_t n;

	ck_assert_int_eq(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
	close(saved_stderr);
	while ((n = read(pipe_read, captured + len, sizeof(captured) - 1 - len)) > 0)
		len += (size_t)n;
	close(pipe_read);
	captured[len] = '\0';
	return captured;
}

static size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void
setup(void)
{
	log_set_level(LOG_LEVEL_INFO);
}

START_TEST(log_level_from_name_accepts_the_four_names)
{
	enum log_level level = LOG_LEVEL_INFO;

	ck_assert_int_eq(log_level_from_name("error", &level), 0);
	ck_assert_int_eq(level, LOG_LEVEL_ERROR);
	ck_assert_int_eq(log_level_from_name("warn", &level), 0);
	ck_assert_int_eq(level, LOG_LEVEL_WARN);
	ck_assert_int_eq(log_level_from_name("info", &level), 0);
	ck_assert_int_eq(level, LOG_LEVEL_INFO);
	ck_assert_int_eq(log_level_from_name("debug", &level), 0);
	ck_assert_int_eq(level, LOG_LEVEL_DEBUG);
}
END_TEST

START_TEST(log_level_from_name_rejects_other_names_with_einval)
{
	enum log_level level = LOG_LEVEL_WARN;

	ck_assert_int_eq(log_level_from_name(NULL, &level), -EINVAL);
	ck_assert_int_eq(log_level_from_name("", &level), -EINVAL);
	ck_assert_int_eq(log_level_from_name("warning", &level), -EINVAL);
	ck_assert_int_eq(log_level_from_name("DEBUG", &level), -EINVAL);
	ck_assert_int_eq(log_level_from_name("info ", &level), -EINVAL);
	ck_assert_int_eq(level, LOG_LEVEL_WARN);
}
END_TEST

START_TEST(log_level_name_round_trips_through_log_level_from_name)
{
	for (int i = LOG_LEVEL_ERROR; i <= LOG_LEVEL_DEBUG; i++) {
		enum log_level level;

		ck_assert_int_eq(log_level_from_name(log_level_name((enum log_level)i), &level), 0);
		ck_assert_int_eq(level, i);
	}
	ck_assert_str_eq(log_level_name((enum log_level)42), "unknown");
}
END_TEST

/* Runs first, in a test case without the fixture, so that it sees the initial level. */
START_TEST(log_level_is_info_until_set)
{
	ck_assert_int_eq(log_get_level(), LOG_LEVEL_INFO);
	ck_assert(log_enabled(LOG_LEVEL_INFO));
	ck_assert(!log_enabled(LOG_LEVEL_DEBUG));
}
END_TEST

START_TEST(log_set_level_changes_which_levels_are_enabled)
{
	log_set_level(LOG_LEVEL_DEBUG);
	ck_assert_int_eq(log_get_level(), LOG_LEVEL_DEBUG);
	ck_assert(log_enabled(LOG_LEVEL_DEBUG));
	log_set_level(LOG_LEVEL_ERROR);
	ck_assert(log_enabled(LOG_LEVEL_ERROR));
	ck_assert(!log_enabled(LOG_LEVEL_WARN));
}
END_TEST

START_TEST(log_msg_writes_one_line_with_utc_time_pid_and_level)
{
	char pattern[160];
	regex_t re;
	const char *out;

	capture_begin();
	log_warn("cannot bind %s: %s", "ipc:///x", "Permission denied");
	out = capture_end();

	snprintf(pattern, sizeof(pattern),
		 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
		 "sockbrokerd\\[%ld\\]: warn: cannot bind ipc:///x: Permission denied\n$",
		 (long)getpid());
	ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	ck_assert_msg(regexec(&re, out, 0, NULL, 0) == 0, "unexpected line: %s", out);
	regfree(&re);
}
END_TEST

START_TEST(log_filters_messages_less_severe_than_the_level)
{
	const char *out;

	log_set_level(LOG_LEVEL_WARN);
	capture_begin();
	log_error("first");
	log_warn("second");
	log_info("hidden");
	log_debug("hidden too");
	log_msg(LOG_LEVEL_INFO, "hidden as well");
	out = capture_end();

	ck_assert_uint_eq(count_lines(out), 2);
	ck_assert_ptr_nonnull(strstr(out, ": error: first\n"));
	ck_assert_ptr_nonnull(strstr(out, ": warn: second\n"));
	ck_assert_ptr_null(strstr(out, "hidden"));
}
END_TEST

static int evaluated;

static int
count_evaluation(void)
{
	return ++evaluated;
}

START_TEST(log_macros_do_not_evaluate_arguments_when_filtered)
{
	evaluated = 0;
	log_set_level(LOG_LEVEL_INFO);
	capture_begin();
	log_debug("%d", count_evaluation());
	log_info("%d", count_evaluation());
	capture_end();
	ck_assert_int_eq(evaluated, 1);
}
END_TEST

START_TEST(log_escapes_control_characters_so_an_event_stays_one_line)
{
	const char *out;

	capture_begin();
	log_info("client said \"%s\"", "a\nforged: line\r\x1b[31m\tok");
	out = capture_end();

	ck_assert_uint_eq(count_lines(out), 1);
	ck_assert_ptr_nonnull(strstr(out, "client said \"a\\nforged: line\\x0d\\x1b[31m\tok\"\n"));
}
END_TEST

START_TEST(log_drops_a_trailing_newline_from_the_message)
{
	const char *out;

	capture_begin();
	log_info("listening\n");
	out = capture_end();

	ck_assert_uint_eq(count_lines(out), 1);
	ck_assert_ptr_nonnull(strstr(out, ": info: listening\n"));
}
END_TEST

START_TEST(log_cuts_a_long_message_to_one_line_ending_in_dots)
{
	static char long_message[3 * LOG_LINE_MAX];
	const char *out;

	memset(long_message, 'x', sizeof(long_message) - 1);
	capture_begin();
	log_info("%s", long_message);
	out = capture_end();

	ck_assert_uint_eq(count_lines(out), 1);
	ck_assert_uint_le(strlen(out), LOG_LINE_MAX);
	ck_assert_ptr_nonnull(strstr(out, "xxx...\n"));
}
END_TEST

START_TEST(log_cuts_a_long_message_between_utf8_characters)
{
	static char long_message[3 * LOG_LINE_MAX];
	const char *out;
	size_t len;

	/* "é" is two bytes; whatever the prefix length, no half of one may survive the cut. */
	for (size_t i = 0; i + 2 < sizeof(long_message); i += 2)
		memcpy(long_message + i, "\xc3\xa9", 2);
	capture_begin();
	log_info("%s", long_message);
	out = capture_end();

	len = strlen(out);
	ck_assert_uint_ge(len, 5);
	ck_assert_str_eq(out + len - 4, "...\n");
	ck_assert_int_eq((unsigned char)out[len - 5], 0xa9);
}
END_TEST

START_TEST(log_msg_keeps_errno)
{
	capture_begin();
	errno = ECONNRESET;
	log_error("peer went away");
	ck_assert_int_eq(errno, ECONNRESET);
	capture_end();
}
END_TEST

#define THREADS 8
#define LINES_PER_THREAD 40

static void *
log_from_thread(void *arg)
{
	int id = (int)(intptr_t)arg;

	for (int i = 0; i < LINES_PER_THREAD; i++)
		log_info("thread %d line %d %s", id, i, "padding-padding-padding-padding");
	return NULL;
}

START_TEST(log_lines_from_many_threads_never_interleave)
{
	pthread_t threads[THREADS];
	const char *out;
	const char *line;
	size_t lines = 0;

	capture_begin();
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&threads[i], NULL, log_from_thread,
						(void *)(intptr_t)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);
	out = capture_end();

	for (line = out; *line; lines++) {
		const char *end = strchr(line, '\n');
		int id, n;

		ck_assert_ptr_nonnull(end);
		line = strstr(line, ": info: thread ");
		ck_assert_ptr_nonnull(line);
		ck_assert_int_eq(sscanf(line, ": info: thread %d line %d", &id, &n), 2);
		ck_assert_ptr_eq(strstr(line, "padding-padding-padding-padding\n"),
				 end - strlen("padding-padding-padding-padding"));
		line = end + 1;
	}
	ck_assert_uint_eq(lines, THREADS * LINES_PER_THREAD);
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *initial = tcase_create("initial");
	TCase *tc = tcase_create("log");

	tcase_add_test(initial, log_level_is_info_until_set);
	suite_add_tcase(s, initial);

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, log_level_from_name_accepts_the_four_names);
	tcase_add_test(tc, log_level_from_name_rejects_other_names_with_einval);
	tcase_add_test(tc, log_level_name_round_trips_through_log_level_from_name);
	tcase_add_test(tc, log_set_level_changes_which_levels_are_enabled);
	tcase_add_test(tc, log_msg_writes_one_line_with_utc_time_pid_and_level);
	tcase_add_test(tc, log_filters_messages_less_severe_than_the_level);
	tcase_add_test(tc, log_macros_do_not_evaluate_arguments_when_filtered);
	tcase_add_test(tc, log_escapes_control_characters_so_an_event_stays_one_line);
	tcase_add_test(tc, log_drops_a_trailing_newline_from_the_message);
	tcase_add_test(tc, log_cuts_a_long_message_to_one_line_ending_in_dots);
	tcase_add_test(tc, log_cuts_a_long_message_between_utf8_characters);
	tcase_add_test(tc, log_msg_keeps_errno);
	tcase_add_test(tc, log_lines_from_many_threads_never_interleave);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(log_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
