#include "daemon.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 20000


static bool
log_says_listening(const struct test_daemon *daemon)
{
	char line[1024];
	bool listening = false;
	FILE *f = fopen(daemon->log, "r");
	if (!f)
		return false;
	while (!listening && fgets(line, sizeof(line), f))
		listening = strncmp(line, "sockbrokerd: listening on ", 26) == 0;
	fclose(f);
	return listening;
}

static void start(struct test_daemon *daemon, const char *config_json);

void
test_daemon_start(struct test_daemon *daemon, const char *config_json)
{
	daemon->builtin_policy = false;
	daemon->extra_listen = NULL;
	start(daemon, config_json);
}

void
test_daemon_start_builtin_policy(struct test_daemon *daemon, const char *config_json)
{
	daemon->builtin_policy = true;
	daemon->extra_listen = NULL;
	start(daemon, config_json);
}

void
test_daemon_start_listening(struct test_daemon *daemon, const char *config_json,
			    const char *extra_url)
{
	daemon->builtin_policy = false;
	daemon->extra_listen = extra_url;
	start(daemon, config_json);
}

static void
start(struct test_daemon *daemon, const char *config_json)
{
	const char *binary = getenv("SOCKBROKERD");
	ck_assert_msg(binary, "SOCKBROKERD must name the sockbrokerd binary under test");

	snprintf(daemon->dir, sizeof(daemon->dir), "/tmp/sockbroker-test-XXXXXX");
	ck_assert_msg(mkdtemp(daemon->dir), "mkdtemp: %s", strerror(errno));
	snprintf(daemon->url, sizeof(daemon->url), "ipc://%s/sockbroker.sock", daemon->dir);
	snprintf(daemon->log, sizeof(daemon->log), "%s/daemon.log", daemon->dir);

	char config_path[320] = "";
	if (config_json || !daemon->builtin_policy) {
		snprintf(config_path, sizeof(config_path), "%s/config.json", daemon->dir);
		FILE *f = fopen(config_path, "w");
		ck_assert(f);
		if (!config_json)
			config_json = "{}";
		if (daemon->builtin_policy || strstr(config_json, "\"policy\"")) {
			fputs(config_json, f);
		} else {
			/* The object's members after the policy of the tests. */
			const char *rest = strchr(config_json, '{');
			ck_assert_msg(rest, "a test configuration is a JSON object");
			rest++;
			while (*rest == ' ' || *rest == '\n' || *rest == '\t')
				rest++;
			fprintf(f, "{\"policy\": %s%s%s", TEST_ALLOW_ALL_POLICY,
				*rest == '}' ? "" : ", ", rest);
		}
		fclose(f);
	}


	pid_t pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		int fd = open(daemon->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		/* Only the standard streams go to the daemon: its fd count is
		 * part of what the tests check. */
		for (int i = 3; i < 1024; i++)
			close(i);
		const char *argv[32];
		int argc = 0;
		char *wrapper = getenv("SOCKBROKERD_WRAPPER");
		if (wrapper && *wrapper) {
			wrapper = strdup(wrapper);
			for (char *tok = strtok(wrapper, " "); tok && argc < 20;
			     tok = strtok(NULL, " "))
				argv[argc++] = tok;
		}
		/* Tests may preload shims into the daemon; under AddressSanitizer
		 * they then come before its runtime, which is fine for them. */
		const char *asan = getenv("ASAN_OPTIONS");
		char asan_options[512];
		snprintf(asan_options, sizeof(asan_options), "%s%sverify_asan_link_order=0",
			 asan ? asan : "", asan && *asan ? ":" : "");
		setenv("ASAN_OPTIONS", asan_options, 1);
		argv[argc++] = binary;
		argv[argc++] = "--listen";
		argv[argc++] = daemon->url;
		if (daemon->extra_listen) {
			argv[argc++] = "--listen";
			argv[argc++] = daemon->extra_listen;
		}
		if (config_path[0]) {
			argv[argc++] = "--config";
			argv[argc++] = config_path;
		}
		argv[argc] = NULL;
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	daemon->pid = pid;

	/* Ready when the daemon says it listens: it prints that once every
	 * listener has started. (A probe connection would do too, but its
	 * session would still be closing when a test counts the daemon's fds.) */
	int64_t deadline = test_now_ms() + START_TIMEOUT_MS;
	for (;;) {
		if (log_says_listening(daemon))
			break;
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			test_daemon_dump_log(daemon);
			ck_abort_msg("sockbrokerd exited during start-up (status %d)", status);
		}
		if (test_now_ms() > deadline) {
			test_daemon_dump_log(daemon);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			ck_abort_msg("sockbrokerd did not listen within %d ms", START_TIMEOUT_MS);
		}
		test_sleep_ms(10);
	}
}

static void
remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *entry;
	char path[600];
	while ((entry = readdir(d))) {
		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

int
test_daemon_stop(struct test_daemon *daemon)
{
	int status = 0, result = -1;
	if (daemon->pid <= 0)
		return -1;
	kill(daemon->pid, SIGTERM);
	int64_t deadline = test_now_ms() + STOP_TIMEOUT_MS;
	for (;;) {
		pid_t r = waitpid(daemon->pid, &status, WNOHANG);
		if (r == daemon->pid) {
			result = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			break;
		}
		if (test_now_ms() > deadline) {
			kill(daemon->pid, SIGKILL);
			waitpid(daemon->pid, NULL, 0);
			break;
		}
		test_sleep_ms(10);
	}
	if (result != 0)
		test_daemon_dump_log(daemon);
	daemon->pid = 0;
	remove_dir(daemon->dir);
	return result;
}

int
test_daemon_fd_count(const struct test_daemon *daemon)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)daemon->pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int count = 0;
	struct dirent *entry;
	while ((entry = readdir(d)))
		if (entry->d_name[0] != '.')
			count++;
	closedir(d);
	return count;
}

int
test_threads_with_caps(pid_t pid, bool with_main, int *threads, char *first, size_t len)
{
	char path[64];
	int holding = 0;

	*threads = 0;
	if (len)
		first[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	struct dirent *entry;
	while ((entry = readdir(d))) {
		char status[300], line[256], comm[64] = "?";
		unsigned long long effective = 0;
		bool found = false;
		long tid = strtol(entry->d_name, NULL, 10);
		if (tid <= 0 || (!with_main && tid == (long)pid))
			continue;
		snprintf(status, sizeof(status), "%s/%ld/status", path, tid);
		FILE *f = fopen(status, "r");
		if (!f)
			continue; /* a thread that just ended */
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "Name:", 5) == 0)
				sscanf(line + 5, "%63s", comm);
			else if (strncmp(line, "CapEff:", 7) == 0)
				found = sscanf(line + 7, "%llx", &effective) == 1;
		}
		fclose(f);
		if (!found)
			continue;
		(*threads)++;
		if (effective && holding++ == 0 && len)
			snprintf(first, len, "thread %ld (%s) CapEff %016llx", tid, comm, effective);
	}
	closedir(d);
	return holding;
}

int
test_daemon_wait_fd_count(const struct test_daemon *daemon, int expected, int ms)
{
	int64_t deadline = test_now_ms() + ms;
	int count;
	while ((count = test_daemon_fd_count(daemon)) != expected && test_now_ms() < deadline)
		test_sleep_ms(10);
	return count;
}

void
test_daemon_dump_log(const struct test_daemon *daemon)
{
	FILE *f = fopen(daemon->log, "r");
	if (!f)
		return;
	char line[2048];
	fprintf(stderr, "---- sockbrokerd log ----\n");
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fprintf(stderr, "---- end of log ----\n");
	fclose(f);
}

bool
test_daemon_wait_log(const struct test_daemon *daemon, const char *text, int ms)
{
	int64_t deadline = test_now_ms() + ms;
	for (;;) {
		FILE *log = fopen(daemon->log, "r");
		char line[1024];
		bool found = false;
		while (log && !found && fgets(line, sizeof(line), log))
			found = strstr(line, text) != NULL;
		if (log)
			fclose(log);
		if (found)
			return true;
		if (test_now_ms() >= deadline)
			return false;
		test_sleep_ms(50);
	}
}

bool
test_copy_for_any_user(const char *path, const char *dir, char *copy, size_t len)
{
	struct statvfs fs;
	char buf[65536];
	const char *name = strrchr(path, '/');
	ssize_t n;

	ck_assert_msg(statvfs(dir, &fs) == 0, "statvfs %s: %s", dir, strerror(errno));
	if (fs.f_flag & ST_NOEXEC)
		return false;
	name = name ? name + 1 : path;
	ck_assert_msg((size_t)snprintf(copy, len, "%s/%s", dir, name) < len, "%s/%s: too long",
		      dir, name);
	int from = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(from >= 0, "open %s: %s", path, strerror(errno));
	int to = open(copy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	ck_assert_msg(to >= 0, "create %s: %s", copy, strerror(errno));
	while ((n = read(from, buf, sizeof(buf))) != 0) {
		ck_assert_msg(n > 0 || errno == EINTR, "read %s: %s", path, strerror(errno));
		for (ssize_t done = 0; n > 0 && done < n;) {
			ssize_t w = write(to, buf + done, (size_t)(n - done));
			ck_assert_msg(w > 0 || errno == EINTR, "write %s: %s", copy,
				      strerror(errno));
			if (w > 0)
				done += w;
		}
	}
	/* The mode open() gave is less the umask. */
	ck_assert_msg(fchmod(to, 0755) == 0, "chmod %s: %s", copy, strerror(errno));
	ck_assert_msg(close(to) == 0, "close %s: %s", copy, strerror(errno));
	close(from);
	return true;
}
