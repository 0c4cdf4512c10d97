/*
 * config-check: what --check-config finds beyond the configuration's form. Rules that never
 * decide anything, or change no decision, are warned about (and rules that cannot be compared
 * are left alone); TLS and audit files that cannot be used fail, naming the key and the file.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-check.h"
#include "config.h"

static struct config cfg;
static char err[1024];
static char dir[64];

static void
setup(void)
{
	config_init(&cfg);
	snprintf(dir, sizeof(dir), "/tmp/sockbroker-check-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	char path[128];
	static const char *const files[] = { "garbage.pem", "audit-dir", "ca.pem" };
	config_fini(&cfg);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
		rmdir(path);
	}
	rmdir(dir);
}

/* The warnings config_check_policy() writes for the policy of `json`, and their count. */
static char *
warnings_of(const char *json, size_t *count)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(out);
	ck_assert_msg(config_load_string(&cfg, json, "test.json", err, sizeof(err)) == 0, "%s",
		      err);
	*count = config_check_policy(cfg.policy, out);
	fclose(out);
	return text;
}

START_TEST(an_allow_rule_a_later_one_covers_changes_no_decision)
{
	size_t n;
	/* The test-harness example's shape: the later harness-ip makes the protocol list of
	 * harness-raw meaningless. */
	char *text = warnings_of(
		"{\"policy\": {\"rules\": ["
		"{\"name\": \"no-metadata\", \"allow\": false, \"ops\": [\"connect\"], "
		"\"addresses\": [\"169.254.169.254/32\"]}, "
		"{\"name\": \"harness-raw\", \"allow\": true, \"tls\": true, \"ops\": [\"create\"], "
		"\"families\": [\"AF_INET\", \"AF_INET6\"], \"types\": [\"SOCK_RAW\"], "
		"\"protocols\": [\"IPPROTO_ICMP\"]}, "
		"{\"name\": \"harness-packet\", \"allow\": true, \"families\": [\"AF_PACKET\"]}, "
		"{\"name\": \"harness-ip\", \"allow\": true, \"tls\": true, "
		"\"families\": [\"AF_INET\", \"AF_INET6\"]}]}}",
		&n);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(text, "warning: policy: rule 2 \"harness-raw\" changes no decision: the "
			       "later rule 4 \"harness-ip\" allows every request it matches, so "
			       "its conditions limit nothing; narrow rule 4, or put a denying rule "
			       "between them\n");
	free(text);
}
END_TEST

START_TEST(a_rule_an_earlier_one_covers_never_decides)
{
	size_t n;
	char *text = warnings_of("{\"policy\": {\"rules\": ["
				 "{\"name\": \"private\", \"allow\": false, "
				 "\"addresses\": [\"10.0.0.0/8\"]}, "
				 "{\"name\": \"lab\", \"allow\": true, \"ops\": [\"connect\"], "
				 "\"addresses\": [\"10.1.0.0/16\"], \"ports\": [\"80-90\"]}]}}",
				 &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(text, "warning: policy: rule 2 \"lab\" never decides anything: the "
			       "earlier rule 1 \"private\" matches every request it matches; "
			       "remove it or move it up\n");
	free(text);
}
END_TEST

START_TEST(rules_that_each_decide_something_are_not_warned_about)
{
	size_t n;
	char *text = warnings_of(
		"{\"policy\": {\"rules\": ["
		/* A narrower address, a different port range, another identity, another op. */
		"{\"name\": \"a\", \"allow\": false, \"addresses\": [\"10.1.0.0/16\"]}, "
		"{\"name\": \"b\", \"allow\": true, \"addresses\": [\"10.0.0.0/8\"], "
		"\"ports\": [\"80-90\"]}, "
		"{\"name\": \"c\", \"allow\": true, \"addresses\": [\"10.0.0.0/8\"], "
		"\"ports\": [\"85-95\"]}, "
		"{\"name\": \"d\", \"allow\": true, \"uids\": [1000], \"ops\": [\"bind\"]}, "
		"{\"name\": \"e\", \"allow\": false, \"ops\": [\"bind\"]}, "
		/* Covered by g, but a denial lies between them. */
		"{\"name\": \"f\", \"allow\": true, \"ops\": [\"listen\"], \"tls\": true}, "
		"{\"name\": \"deny-udp\", \"allow\": false, \"types\": [\"SOCK_DGRAM\"]}, "
		"{\"name\": \"g\", \"allow\": true, \"tls\": true}]}}",
		&n);
	ck_assert_msg(n == 0, "%s", text);
	free(text);
}
END_TEST

START_TEST(tls_files_that_cannot_be_used_fail_naming_key_and_file)
{
	char missing[128], garbage[128];
	snprintf(missing, sizeof(missing), "%s/missing.pem", dir);
	snprintf(garbage, sizeof(garbage), "%s/garbage.pem", dir);
	FILE *f = fopen(garbage, "w");
	ck_assert_ptr_nonnull(f);
	fputs("not a certificate\n", f);
	fclose(f);

	cfg.tls_cert_key_file = strdup(missing);
	cfg.tls_ca_file = strdup(garbage);
	ck_assert_int_eq(config_check_files(&cfg, stderr, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "tls.cert_key_file: cannot open ") && strstr(err, missing) &&
			      strstr(err, "No such file or directory"),
		      "%s", err);

	free(cfg.tls_cert_key_file);
	cfg.tls_cert_key_file = strdup(garbage);
	ck_assert_int_eq(config_check_files(&cfg, stderr, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "tls.cert_key_file: no certificate chain (PEM) in ") &&
			      strstr(err, garbage),
		      "%s", err);
}
END_TEST

START_TEST(an_audit_file_that_cannot_be_opened_fails_and_a_missing_directory_warns)
{
	char path[128], *text = NULL;
	size_t len = 0;

	/* A directory where the file should be. */
	snprintf(path, sizeof(path), "%s/audit-dir", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	cfg.audit_file = strdup(path);
	ck_assert_int_lt(config_check_files(&cfg, stderr, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "audit.file: cannot open ") && strstr(err, path), "%s", err);

	/* A file that does not exist yet in a writable directory: fine, nothing created. */
	free(cfg.audit_file);
	snprintf(path, sizeof(path), "%s/audit.jsonl", dir);
	cfg.audit_file = strdup(path);
	ck_assert_int_eq(config_check_files(&cfg, stderr, err, sizeof(err)), 0);
	ck_assert_int_eq(access(path, F_OK), -1);

	/* A directory that does not exist yet: a warning (the service manager makes it). */
	free(cfg.audit_file);
	snprintf(path, sizeof(path), "%s/no-such-dir/audit.jsonl", dir);
	cfg.audit_file = strdup(path);
	FILE *out = open_memstream(&text, &len);
	ck_assert_int_eq(config_check_files(&cfg, out, err, sizeof(err)), 0);
	fclose(out);
	ck_assert_msg(strstr(text, "warning: audit.file: the directory ") &&
			      strstr(text, "no-such-dir does not exist"),
		      "%s", text);
	free(text);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("config-check");
	TCase *tc = tcase_create("config-check");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, an_allow_rule_a_later_one_covers_changes_no_decision);
	tcase_add_test(tc, a_rule_an_earlier_one_covers_never_decides);
	tcase_add_test(tc, rules_that_each_decide_something_are_not_warned_about);
	tcase_add_test(tc, tls_files_that_cannot_be_used_fail_naming_key_and_file);
	tcase_add_test(tc, an_audit_file_that_cannot_be_opened_fails_and_a_missing_directory_warns);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
