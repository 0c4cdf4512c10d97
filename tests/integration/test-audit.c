/*
 * The audit log of the real daemon: the records of a session's start and end as the daemon
 * writes them (identity, the end's clean-up, the reason), every line it wrote checked against
 * schema/audit.schema.json, and a start-up refused when the audit file cannot be opened.
 *
 * The schema check runs tests/schema/validate.py with Debian's python3 (from
 * $SOCKBROKER_VALIDATE); without python3-jsonschema it says SKIP on stderr. Every daemon
 * started here is stopped by pid; every wait is bounded.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "sockbroker.h"

#define WAIT_MS 20000

static char dir[256];
static char audit_path[320];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/sockbroker-audit-XXXXXX");
	ck_assert_msg(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(audit_path, sizeof(audit_path), "%s/audit.jsonl", dir);
}

static void
teardown(void)
{
	char path[400];

	unlink(audit_path);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/daemon.log", dir);
	unlink(path);
	rmdir(dir);
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t len = 0;
	FILE *out;
	int c;

	if (!f)
		return NULL;
	out = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(out);
	while ((c = fgetc(f)) != EOF)
		fputc(c, out);
	fclose(out);
	fclose(f);
	return text;
}

/* The first line of the audit log with this event and session (0: any), parsed; NULL if
 * there is none yet. */
static cJSON *
find_record(const char *event, double session)
{
	char *text = read_file(audit_path);
	cJSON *found = NULL;

	if (!text)
		return NULL;
	for (char *line = strtok(text, "\n"); line && !found; line = strtok(NULL, "\n")) {
		cJSON *record = cJSON_Parse(line);
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(record, "event");
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(record, "session");

		ck_assert_msg(record, "not JSON: %s", line);
		if (cJSON_IsString(e) && strcmp(e->valuestring, event) == 0 &&
		    (session == 0 || (cJSON_IsNumber(s) && s->valuedouble == session)))
			found = record;
		else
			cJSON_Delete(record);
	}
	free(text);
	return found;
}

static cJSON *
wait_for_record(const char *event, double session)
{
	int64_t deadline = test_now_ms() + WAIT_MS;
	cJSON *record;

	while (!(record = find_record(event, session))) {
		ck_assert_msg(test_now_ms() < deadline, "no %s record within %d ms", event,
			      WAIT_MS);
		sleep_ms(20);
	}
	return record;
}

static const cJSON *
get(const cJSON *object, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(object, key);

	ck_assert_msg(v, "no \"%s\"", key);
	return v;
}

/* Every line of the audit log against schema/audit.schema.json. */
static void
assert_log_matches_the_schema(void)
{
	const char *validate = getenv("SOCKBROKER_VALIDATE");
	const char *root = getenv("SOCKBROKER_SOURCE_ROOT");
	char command[1400];
	int status;

	if (!validate || !root || access("/usr/bin/python3", X_OK) != 0 ||
	    system("/usr/bin/python3 -c 'import jsonschema' 2>/dev/null") != 0) {
		fprintf(stderr, "SKIP schema check of the daemon's audit lines: needs /usr/bin/python3 "
				"with python3-jsonschema, and SOCKBROKER_VALIDATE\n");
		return;
	}
	snprintf(command, sizeof(command),
		 "/usr/bin/python3 '%s' --source-root '%s' --audit-log '%s' >&2", validate, root,
		 audit_path);
	status = system(command);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the daemon's audit lines do not match the schema (see above)");
}

START_TEST(audit_daemon_records_session_start_and_end)
{
	struct test_daemon d;
	struct sb_client *client;
	struct sb_error error;
	sb_handle handle;
	char config[800];
	cJSON *start, *end;
	struct stat st;

	snprintf(config, sizeof(config),
		 "{\"audit\": {\"file\": \"%s\", \"events\": [\"*\"]}}", audit_path);
	test_daemon_start(&d, config);
	ck_assert_int_eq(stat(audit_path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);

	ck_assert_msg(sb_client_new(&client, d.url, "audit-test", &error) == 0, "%s",
		      error.message);
	ck_assert_msg(sb_socket(client, AF_INET, SOCK_STREAM, 0, &handle, &error) == 0, "%s",
		      error.message);
	start = wait_for_record("sockbroker.session.start", 0);
	double session = get(start, "session")->valuedouble;
	const cJSON *identity = get(start, "identity");
	ck_assert_str_eq(get(identity, "transport")->valuestring, "ipc");
	ck_assert_str_eq(get(identity, "peer")->valuestring, "ipc");
	ck_assert_int_eq((int)get(identity, "uid")->valuedouble, (int)getuid());
	ck_assert_int_eq((int)get(identity, "gid")->valuedouble, (int)getgid());
	ck_assert_int_eq((int)get(identity, "pid")->valuedouble, (int)getpid());
	ck_assert(cJSON_IsNull(get(start, "handle")));
	ck_assert(cJSON_IsTrue(get(get(start, "result"), "ok")));

	sb_client_free(client);
	end = wait_for_record("sockbroker.session.end", session);
	const cJSON *args = get(end, "args");
	ck_assert_int_eq((int)get(args, "handles_closed")->valuedouble, 1);
	ck_assert_int_eq((int)get(args, "ops_cancelled")->valuedouble, 0);
	ck_assert_str_eq(get(args, "reason")->valuestring, "disconnected");
	/* By the end, Hello has named the client. */
	ck_assert_str_eq(get(get(end, "identity"), "client")->valuestring, "audit-test");
	cJSON_Delete(start);
	cJSON_Delete(end);

	ck_assert_int_eq(test_daemon_stop(&d), 0);
	assert_log_matches_the_schema();
}
END_TEST

START_TEST(audit_daemon_leaves_out_events_not_configured)
{
	struct test_daemon d;
	struct sb_client *client;
	struct sb_error error;
	char config[800];
	cJSON *end;
	char *text;

	snprintf(config, sizeof(config),
		 "{\"audit\": {\"file\": \"%s\", \"events\": [\"sockbroker.session.end\"]}}",
		 audit_path);
	test_daemon_start(&d, config);
	ck_assert_msg(sb_client_new(&client, d.url, NULL, &error) == 0, "%s", error.message);
	sb_client_free(client);
	end = wait_for_record("sockbroker.session.end", 0);
	cJSON_Delete(end);
	ck_assert_int_eq(test_daemon_stop(&d), 0);

	text = read_file(audit_path);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(!strstr(text, "sockbroker.session.start"), "%s", text);
	free(text);
}
END_TEST

START_TEST(audit_daemon_refuses_to_start_without_its_audit_file)
{
	const char *binary = getenv("SOCKBROKERD");
	char config_path[400], log_path[400], url[400], config[600];
	int status = 0;
	pid_t pid;
	FILE *f;

	ck_assert_msg(binary, "SOCKBROKERD must name the sockbrokerd binary under test");
	snprintf(config_path, sizeof(config_path), "%s/config.json", dir);
	snprintf(log_path, sizeof(log_path), "%s/daemon.log", dir);
	snprintf(url, sizeof(url), "ipc://%s/sb.sock", dir);
	snprintf(config, sizeof(config),
		 "{\"audit\": {\"file\": \"%s/missing/audit.jsonl\"}}", dir);
	f = fopen(config_path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(config, f);
	fclose(f);

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		execl(binary, binary, "--listen", url, "--config", config_path, (char *)NULL);
		_exit(127);
	}
	int64_t deadline = test_now_ms() + WAIT_MS;
	while (waitpid(pid, &status, WNOHANG) != pid) {
		if (test_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			ck_abort_msg("sockbrokerd started without its audit file");
		}
		sleep_ms(10);
	}
	ck_assert(WIFEXITED(status));
	ck_assert_int_ne(WEXITSTATUS(status), 0);
	char *log = read_file(log_path);
	ck_assert_ptr_nonnull(log);
	ck_assert_msg(strstr(log, "cannot start: audit.file: cannot open ") &&
			      strstr(log, "/missing/audit.jsonl for appending: No such file or "
					  "directory; create its directory"),
		      "%s", log);
	ck_assert_msg(!strstr(log, "listening on"), "%s", log);
	free(log);
	ck_assert_int_ne(access(url + 6, F_OK), 0);
}
END_TEST

static Suite *
audit_suite(void)
{
	Suite *s = suite_create("audit");
	TCase *tc = tcase_create("daemon");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, audit_daemon_records_session_start_and_end);
	tcase_add_test(tc, audit_daemon_leaves_out_events_not_configured);
	tcase_add_test(tc, audit_daemon_refuses_to_start_without_its_audit_file);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(audit_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
