/*
 * Unit tests of server/privileges.c: resolving the configured names, and dropping privileges
 * in a child process (the test process keeps its own). Dropping needs root: those cases say
 * SKIP on stderr otherwise, as do cases that need the user "nobody".
 */
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "policy.h"
#include "privileges.h"

/* A user and a group no system has, and an id with no entry. */
#define NO_SUCH_NAME "sockbroker-no-such-name"
#define UNLISTED_ID "3999999"

static struct config cfg;
static struct privileges_config privs;
static char err[1024];

static void
setup(void)
{
	config_init(&cfg);
	err[0] = '\0';
	memset(&privs, 0, sizeof(privs));
}

static void
teardown(void)
{
	config_fini(&cfg);
}

static int
load(const char *json)
{
	return config_load_string(&cfg, json, "test.json", err, sizeof(err));
}

/* The uid and primary gid of "nobody", or false (and SKIP) when the system has none. */
static bool
nobody(uid_t *uid, gid_t *gid, const char *test)
{
	struct passwd *pw = getpwnam("nobody");

	if (!pw) {
		fprintf(stderr, "SKIP %s: this system has no user \"nobody\"\n", test);
		return false;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return true;
}

START_TEST(privileges_resolve_without_a_user_keeps_the_daemon_who_it_is)
{
	ck_assert_int_eq(privileges_resolve(&cfg, &privs, err, sizeof(err)), 0);
	ck_assert(!privs.user_configured);
	ck_assert(!privs.switch_user);
	ck_assert(!privs.ipc_chown);
	ck_assert_uint_eq(privs.uid, geteuid());
	ck_assert_uint_eq(privs.gid, getegid());
	ck_assert_uint_eq(privs.ipc_uid, geteuid());
	ck_assert_uint_eq(privs.ipc_gid, getegid());
	ck_assert_str_ne(privs.user, "");
	ck_assert_str_ne(privs.group, "");
}
END_TEST

START_TEST(privileges_resolve_takes_the_users_primary_group)
{
	uid_t uid;
	gid_t gid;

	if (!nobody(&uid, &gid, "privileges_resolve_takes_the_users_primary_group"))
		return;
	ck_assert_msg(load("{\"privileges\": {\"user\": \"nobody\"}}") == 0, "%s", err);
	ck_assert_msg(privileges_resolve(&cfg, &privs, err, sizeof(err)) == 0, "%s", err);
	ck_assert(privs.user_configured);
	ck_assert(privs.switch_user == (geteuid() == 0 && uid != 0));
	if (privs.switch_user) {
		ck_assert_uint_eq(privs.uid, uid);
		ck_assert_uint_eq(privs.gid, gid);
		ck_assert_str_eq(privs.user, "nobody");
		/* The socket files go to the user the daemon becomes. */
		ck_assert(privs.ipc_chown);
		ck_assert_uint_eq(privs.ipc_uid, uid);
		ck_assert_uint_eq(privs.ipc_gid, gid);
	} else {
		/* Not root: nobody to switch from, the daemon stays who it is. */
		ck_assert_uint_eq(privs.uid, geteuid());
	}
}
END_TEST

START_TEST(privileges_resolve_accepts_names_and_decimal_ids)
{
	ck_assert_msg(load("{\"privileges\": {\"user\": \"" UNLISTED_ID "\", \"group\": \"root\"}, "
			   "\"ipc\": {\"owner\": \"0\", \"group\": \"" UNLISTED_ID "\"}}") == 0,
		      "%s", err);
	ck_assert_msg(privileges_resolve(&cfg, &privs, err, sizeof(err)) == 0, "%s", err);
	if (geteuid() == 0) {
		ck_assert(privs.switch_user);
		ck_assert_uint_eq(privs.uid, 3999999);
		ck_assert_uint_eq(privs.gid, 0);
		ck_assert_str_eq(privs.user, "uid 3999999");
		ck_assert_str_eq(privs.group, "root");
	}
	ck_assert(privs.ipc_chown);
	ck_assert_uint_eq(privs.ipc_uid, 0);
	ck_assert_uint_eq(privs.ipc_gid, 3999999);
}
END_TEST

START_TEST(privileges_resolve_refuses_an_unknown_user_naming_the_field)
{
	ck_assert_msg(load("{\"privileges\": {\"user\": \"" NO_SUCH_NAME "\"}}") == 0, "%s", err);
	ck_assert_int_eq(privileges_resolve(&cfg, &privs, err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "privileges.user: there is no user \"" NO_SUCH_NAME "\" on this "
			      "system; name an existing user (such as \"nobody\") or create a "
			      "system user for the daemon");
}
END_TEST

START_TEST(privileges_resolve_refuses_unknown_groups_and_owners_naming_the_field)
{
	ck_assert_msg(load("{\"privileges\": {\"user\": \"root\", \"group\": \"" NO_SUCH_NAME
			   "\"}}") == 0, "%s", err);
	ck_assert_int_eq(privileges_resolve(&cfg, &privs, err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "privileges.group: there is no group \"" NO_SUCH_NAME "\" on this "
			      "system; name an existing group or create it");

	config_fini(&cfg);
	config_init(&cfg);
	ck_assert_msg(load("{\"ipc\": {\"group\": \"" NO_SUCH_NAME "\"}}") == 0, "%s", err);
	ck_assert_int_eq(privileges_resolve(&cfg, &privs, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strncmp(err, "ipc.group: there is no group \"" NO_SUCH_NAME "\"", 30) == 0,
		      "%s", err);

	config_fini(&cfg);
	config_init(&cfg);
	ck_assert_msg(load("{\"ipc\": {\"owner\": \"" NO_SUCH_NAME "\"}}") == 0, "%s", err);
	ck_assert_int_eq(privileges_resolve(&cfg, &privs, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strncmp(err, "ipc.owner: there is no user \"" NO_SUCH_NAME "\"", 29) == 0,
		      "%s", err);
}
END_TEST

START_TEST(privileges_resolve_needs_a_group_for_a_user_id_without_an_entry)
{
	ck_assert_msg(load("{\"privileges\": {\"user\": \"" UNLISTED_ID "\"}}") == 0, "%s", err);
	ck_assert_int_eq(privileges_resolve(&cfg, &privs, err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "privileges.user: the user id " UNLISTED_ID " has no entry in the "
			      "user database to take a primary group from; set privileges.group "
			      "too");
}
END_TEST

START_TEST(privileges_resolve_refuses_a_group_without_a_user)
{
	ck_assert_msg(load("{\"privileges\": {\"group\": \"root\"}}") == 0, "%s", err);
	ck_assert_int_eq(privileges_resolve(&cfg, &privs, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "privileges.group: needs privileges.user"), "%s", err);
}
END_TEST

START_TEST(privileges_resolve_treats_root_as_staying_root)
{
	ck_assert_msg(load("{\"privileges\": {\"user\": \"root\"}}") == 0, "%s", err);
	ck_assert_msg(privileges_resolve(&cfg, &privs, err, sizeof(err)) == 0, "%s", err);
	ck_assert(privs.user_configured);
	ck_assert(!privs.switch_user);
	ck_assert_uint_eq(privs.uid, geteuid());
}
END_TEST

/* ---- dropping, in a child ---------------------------------------------------------------- */

/* A line of /proc/self/status ("CapEff"), its value after the tab. */
static bool
status_field(const char *name, char *value, size_t len)
{
	char line[256];
	size_t n = strlen(name);
	FILE *f = fopen("/proc/self/status", "r");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			snprintf(value, len, "%s", line + n + 2);
			value[strcspn(value, "\n")] = '\0';
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* What a child checks after privileges_drop(); each failure is its own exit code, so the
 * parent says which. */
enum child_result {
	CHILD_OK,
	CHILD_PREPARE_FAILED,
	CHILD_DROP_FAILED,
	CHILD_WRONG_UID,
	CHILD_WRONG_CAPS,
	CHILD_WRONG_BOUNDING,
	CHILD_NO_NO_NEW_PRIVS,
	CHILD_REGAINED_ROOT,
};

static const char *const child_results[] = {
	"ok", "privileges_prepare failed", "privileges_drop failed", "wrong uid",
	"wrong CapEff/CapPrm", "wrong CapBnd", "NoNewPrivs is not 1", "setuid(0) succeeded",
};

/* Fork, resolve `json`, prepare, drop with `needed`, and check /proc/self/status against
 * the expected uid and capability mask (as /proc prints it). */
static void
drop_in_child(const char *json, unsigned needed, uid_t want_uid, const char *want_caps)
{
	pid_t pid;
	int status;

	ck_assert_msg(load(json) == 0, "%s", err);
	ck_assert_msg(privileges_resolve(&cfg, &privs, err, sizeof(err)) == 0, "%s", err);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char value[64];
		enum child_result result = CHILD_OK;

		log_set_level(LOG_LEVEL_ERROR);
		if (privileges_prepare(&privs, needed, err, sizeof(err)) < 0)
			result = CHILD_PREPARE_FAILED;
		else if (privileges_drop(&privs, needed, err, sizeof(err)) < 0)
			result = CHILD_DROP_FAILED;
		else if (getuid() != want_uid || geteuid() != want_uid)
			result = CHILD_WRONG_UID;
		else if (!status_field("CapEff", value, sizeof(value)) ||
			 strcmp(value, want_caps) != 0 ||
			 !status_field("CapPrm", value, sizeof(value)) ||
			 strcmp(value, want_caps) != 0)
			result = CHILD_WRONG_CAPS;
		else if (!status_field("CapBnd", value, sizeof(value)) ||
			 strcmp(value, want_caps) != 0)
			result = CHILD_WRONG_BOUNDING;
		else if (!status_field("NoNewPrivs", value, sizeof(value)) ||
			 strcmp(value, "1") != 0)
			result = CHILD_NO_NO_NEW_PRIVS;
		else if (want_uid != 0 && setuid(0) == 0)
			result = CHILD_REGAINED_ROOT;
		if (result != CHILD_OK)
			fprintf(stderr, "child: %s\n", err);
		_exit(result);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "the child died of signal %d", WTERMSIG(status));
	ck_assert_msg(WEXITSTATUS(status) == CHILD_OK, "%s: %s", json,
		      (size_t)WEXITSTATUS(status) < sizeof(child_results) / sizeof(child_results[0])
			      ? child_results[WEXITSTATUS(status)]
			      : "unexpected exit code");
}

static bool
root(const char *test)
{
	if (geteuid() == 0)
		return true;
	fprintf(stderr, "SKIP %s: dropping privileges needs root\n", test);
	return false;
}

START_TEST(privileges_drop_to_a_user_keeps_exactly_the_needed_network_capabilities)
{
	static const struct {
		unsigned needed;
		const char *caps; /* as /proc/PID/status prints the mask */
	} cases[] = {
		{ 0, "0000000000000000" },
		{ POLICY_CAP_NET_BIND_SERVICE, "0000000000000400" },
		{ POLICY_CAP_NET_RAW, "0000000000002000" },
		{ POLICY_CAP_NET_ADMIN, "0000000000001000" },
		{ POLICY_CAP_NET_BIND_SERVICE | POLICY_CAP_NET_RAW | POLICY_CAP_NET_ADMIN,
		  "0000000000003400" },
		/* CAP_SYS_ADMIN is never kept for another user. */
		{ POLICY_CAP_SYS_ADMIN | POLICY_CAP_NET_RAW, "0000000000002000" },
	};
	uid_t uid;
	gid_t gid;

	if (!root("privileges_drop_to_a_user_keeps_exactly_the_needed_network_capabilities") ||
	    !nobody(&uid, &gid, "privileges_drop_to_a_user_keeps_exactly_the_needed_network_"
				"capabilities"))
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		drop_in_child("{\"privileges\": {\"user\": \"nobody\"}}", cases[i].needed, uid,
			      cases[i].caps);
		config_fini(&cfg);
		config_init(&cfg);
	}
}
END_TEST

START_TEST(privileges_drop_as_root_without_a_user_keeps_only_what_the_policy_needs)
{
	static const struct {
		unsigned needed;
		const char *caps;
	} cases[] = {
		{ 0, "0000000000000000" },
		{ POLICY_CAP_NET_RAW, "0000000000002000" },
		/* Staying root, sethostname keeps working when the policy allows it. */
		{ POLICY_CAP_SYS_ADMIN | POLICY_CAP_NET_ADMIN, "0000000000201000" },
	};

	if (!root("privileges_drop_as_root_without_a_user_keeps_only_what_the_policy_needs"))
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		drop_in_child("{}", cases[i].needed, 0, cases[i].caps);
		config_fini(&cfg);
		config_init(&cfg);
	}
}
END_TEST

static Suite *
privileges_suite(void)
{
	Suite *s = suite_create("privileges");
	TCase *resolve = tcase_create("resolve");
	TCase *drop = tcase_create("drop");

	tcase_add_checked_fixture(resolve, setup, teardown);
	tcase_add_test(resolve, privileges_resolve_without_a_user_keeps_the_daemon_who_it_is);
	tcase_add_test(resolve, privileges_resolve_takes_the_users_primary_group);
	tcase_add_test(resolve, privileges_resolve_accepts_names_and_decimal_ids);
	tcase_add_test(resolve, privileges_resolve_refuses_an_unknown_user_naming_the_field);
	tcase_add_test(resolve,
		       privileges_resolve_refuses_unknown_groups_and_owners_naming_the_field);
	tcase_add_test(resolve, privileges_resolve_needs_a_group_for_a_user_id_without_an_entry);
	tcase_add_test(resolve, privileges_resolve_refuses_a_group_without_a_user);
	tcase_add_test(resolve, privileges_resolve_treats_root_as_staying_root);
	suite_add_tcase(s, resolve);

	tcase_add_checked_fixture(drop, setup, teardown);
	tcase_add_test(drop, privileges_drop_to_a_user_keeps_exactly_the_needed_network_capabilities);
	tcase_add_test(drop, privileges_drop_as_root_without_a_user_keeps_only_what_the_policy_needs);
	suite_add_tcase(s, drop);
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(privileges_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
