/*
 * The daemon's privileges, seen from outside: started as root with
 * privileges.user "nobody", it runs as nobody with no capability at all on any
 * of its threads (checked in /proc/PID/task/TID/status), no_new_privs set, and
 * the capabilities its policy needs are kept by its monitor process alone
 * (nobody as well); the directory it creates for its ipc socket and the socket
 * file have the configured owner, group and modes; it still serves through the
 * C client (a TCP echo on 127.0.0.1, a bind below 1024, a raw socket and
 * sethostname, through the monitor); it stops cleanly and removes its socket
 * file, also when NNG's listener defect makes it re-create the socket after
 * the switch. Started as root without a user it stays root, again with every
 * capability in the monitor only, and still does its housekeeping; started as
 * a root lacking some capabilities its monitor keeps what it has and the
 * daemon says what cannot work; a socket directory it did not make is left
 * alone, with a warning. Killing the monitor stops the daemon cleanly (its
 * clients told, its socket removed, exit status 1); killing the daemon ends
 * the monitor. A user or group that does not exist stops it at start-up with
 * a message naming the field.
 *
 * Everything here needs root: without it every case says SKIP. main() moves
 * the program into a UTS namespace of its own when it can, so that even a
 * sethostname that got through would rename only that namespace (the case
 * sets the name the host already has, too).
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <link.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "fixture.h"
#include "servers.h"
#include "sockbroker.h"

#define START_TIMEOUT_MS 20000

/* The permissive policy of the tests: it needs CAP_NET_BIND_SERVICE, CAP_NET_RAW,
 * CAP_NET_ADMIN and CAP_SYS_ADMIN. */
#define ALLOW_ALL "\"policy\": " TEST_ALLOW_ALL_POLICY

/* Those capabilities as /proc/PID/status prints a mask: the three network ones, and with
 * CAP_SYS_ADMIN (the monitor's set for that policy). */
#define NET_CAPS "0000000000003400"
#define NET_AND_SYS_ADMIN_CAPS "0000000000203400"
#define NO_CAPS "0000000000000000"

/* This program, run again as a client under another user (see connect_as()). */
static char self_path[4096];
#define CONNECT_AS_ARG "--connect-as-client"

static struct test_daemon priv_daemon;
static char run_dir[264];     /* the directory the daemon creates: DIR/run */
static char socket_path[280]; /* run_dir/sb.sock */
/* Make run_dir before starting the daemon, as root's (see spawn()). */
static bool precreate_run_dir;
/* Capabilities (numbers) the daemon is started without, as root in a container may be:
 * dropped from the bounding set before exec. */
static const int *start_without;
static size_t n_start_without;
/* Start the daemon in a mount namespace whose /etc/passwd and /etc/group have a user and
 * group "sockbroker" (FAKE_ID), as the packaging creates them (see spawn()). */
static bool fake_default_user;
#define FAKE_ID 64123
static uid_t nobody_uid;
static gid_t nobody_gid;
/* A group other than nobody's and root's for ipc.group ("daemon" on Debian). */
static gid_t ipc_gid;
static char ipc_group[64];

static bool
root_and_nobody(const char *test)
{
	if (geteuid() != 0) {
		test_skip(test, "switching user needs root");
		return false;
	}
	if (!getpwnam("nobody")) {
		test_skip(test, "this system has no user \"nobody\"");
		return false;
	}
	return true;
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void
setup(void)
{
	struct passwd *pw = getpwnam("nobody");
	struct group *gr = getgrnam("daemon");

	memset(&priv_daemon, 0, sizeof(priv_daemon));
	precreate_run_dir = false;
	fake_default_user = false;
	start_without = NULL;
	n_start_without = 0;
	if (pw) {
		nobody_uid = pw->pw_uid;
		nobody_gid = pw->pw_gid;
	}
	/* Any group but nobody's and root's shows that ipc.group is applied. */
	ipc_gid = gr ? gr->gr_gid : 4242;
	snprintf(ipc_group, sizeof(ipc_group), "%s", gr ? "daemon" : "4242");
}

static void
teardown(void)
{
	if (priv_daemon.pid > 0) {
		kill(priv_daemon.pid, SIGKILL);
		waitpid(priv_daemon.pid, NULL, 0);
		priv_daemon.pid = 0;
	}
	if (priv_daemon.dir[0])
		nftw(priv_daemon.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	priv_daemon.dir[0] = '\0';
}

static int
find_client_library(struct dl_phdr_info *info, size_t size, void *data)
{
	const char *name = strrchr(info->dlpi_name, '/');

	if (name == NULL || strncmp(name, "/libsockbroker.so", 17) != 0)
		return 0;
	snprintf(data, PATH_MAX, "%s", info->dlpi_name);
	return 1;
}

/* The client library as the loader found it, named by its soname (what a copy must be
 * called). */
static const char *
client_library_path(void)
{
	static char path[PATH_MAX];

	ck_assert_msg(dl_iterate_phdr(find_client_library, path) == 1,
		      "libsockbroker is not among the loaded objects");
	return path;
}

/* This process's environment with `entry` ("NAME=value") in place of any NAME there was;
 * the array is the caller's to free, its strings are borrowed. */
static char **
environment_with(const char *entry)
{
	extern char **environ;
	size_t n = 0, k = 0, name_len = strcspn(entry, "=") + 1;

	while (environ[n])
		n++;
	char **envp = calloc(n + 2, sizeof(*envp));
	ck_assert_ptr_nonnull(envp);
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], entry, name_len) != 0)
			envp[k++] = environ[i];
	envp[k++] = (char *)(uintptr_t)entry;
	envp[k] = NULL;
	return envp;
}

static bool
log_contains(const char *text)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen(priv_daemon.log, "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, text) != NULL;
	fclose(f);
	return found;
}

/*
 * Fork the daemon on ipc://DIR/run/sb.sock, a directory it has to create (unless
 * precreate_run_dir), with
 * `config_json` (an object's members, without braces). DIR is searchable by all, so a
 * daemon that became nobody can still reach its own directory. Returns once the daemon
 * says it listens (true) or has exited (false, its status in *status).
 */
static bool
spawn(const char *config_json, int *status)
{
	const char *binary = getenv("SOCKBROKERD");
	char config_path[320];

	ck_assert_msg(binary, "SOCKBROKERD must name the sockbrokerd binary under test");
	snprintf(priv_daemon.dir, sizeof(priv_daemon.dir), "/tmp/sockbroker-priv-XXXXXX");
	ck_assert_msg(mkdtemp(priv_daemon.dir), "mkdtemp: %s", strerror(errno));
	ck_assert_int_eq(chmod(priv_daemon.dir, 0755), 0);
	snprintf(run_dir, sizeof(run_dir), "%s/run", priv_daemon.dir);
	snprintf(socket_path, sizeof(socket_path), "%s/sb.sock", run_dir);
	snprintf(priv_daemon.url, sizeof(priv_daemon.url), "ipc://%s", socket_path);
	snprintf(priv_daemon.log, sizeof(priv_daemon.log), "%s/daemon.log", priv_daemon.dir);
	snprintf(config_path, sizeof(config_path), "%s/config.json", priv_daemon.dir);
	if (precreate_run_dir)
		ck_assert_int_eq(mkdir(run_dir, 0755), 0);

	FILE *f = fopen(config_path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "{%s}\n", config_json);
	fclose(f);

	char passwd[320], group[320];
	snprintf(passwd, sizeof(passwd), "%s/passwd", priv_daemon.dir);
	snprintf(group, sizeof(group), "%s/group", priv_daemon.dir);
	if (fake_default_user) {
		static const char *const files[][3] = {
			{ "/etc/passwd", "passwd",
			  "sockbroker:x:64123:64123:sockbroker:/nonexistent:/usr/sbin/nologin\n" },
			{ "/etc/group", "group", "sockbroker:x:64123:\n" },
		};
		for (size_t i = 0; i < 2; i++) {
			char line[1024], copy[320];
			snprintf(copy, sizeof(copy), "%s/%s", priv_daemon.dir, files[i][1]);
			FILE *in = fopen(files[i][0], "r");
			FILE *out = fopen(copy, "w");
			ck_assert(in && out);
			while (fgets(line, sizeof(line), in))
				fputs(line, out);
			fputs(files[i][2], out);
			fclose(in);
			fclose(out);
			ck_assert_int_eq(chmod(copy, 0644), 0);
		}
	}

	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(priv_daemon.log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		for (int i = 3; i < 1024; i++)
			close(i);
		if (fake_default_user &&
		    (unshare(CLONE_NEWNS) < 0 ||
		     mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		     mount(passwd, "/etc/passwd", NULL, MS_BIND, NULL) < 0 ||
		     mount(group, "/etc/group", NULL, MS_BIND, NULL) < 0))
			_exit(125);
		for (size_t i = 0; i < n_start_without; i++)
			if (prctl(PR_CAPBSET_DROP, start_without[i], 0, 0, 0) < 0)
				_exit(126);
		const char *argv[32];
		int argc = 0;
		char *wrapper = getenv("SOCKBROKERD_WRAPPER");
		if (wrapper && *wrapper) {
			wrapper = strdup(wrapper);
			for (char *tok = strtok(wrapper, " "); tok && argc < 20;
			     tok = strtok(NULL, " "))
				argv[argc++] = tok;
			/* valgrind's gdbserver pipes in /tmp, made as root, could not be
			 * removed by a daemon that became nobody. */
			if (strstr(argv[0], "valgrind"))
				argv[argc++] = "--vgdb=no";
		}
		argv[argc++] = binary;
		argv[argc++] = "--listen";
		argv[argc++] = priv_daemon.url;
		argv[argc++] = "--config";
		argv[argc++] = config_path;
		argv[argc] = NULL;
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	priv_daemon.pid = pid;

	int64_t deadline = test_now_ms() + START_TIMEOUT_MS;
	for (;;) {
		if (log_contains("sockbrokerd: listening on "))
			return true;
		if (waitpid(pid, status, WNOHANG) == pid) {
			priv_daemon.pid = 0;
			return false;
		}
		if (test_now_ms() > deadline) {
			test_daemon_dump_log(&priv_daemon);
			ck_abort_msg("sockbrokerd did neither listen nor exit within %d ms",
				     START_TIMEOUT_MS);
		}
		test_sleep_ms(10);
	}
}

static void
start(const char *config_json)
{
	int status;

	if (!spawn(config_json, &status)) {
		test_daemon_dump_log(&priv_daemon);
		ck_abort_msg("sockbrokerd exited during start-up (status %d)", status);
	}
}

/* SIGTERM and wait: the daemon must exit 0 (under valgrind: without errors or leaks). */
static void
stop(void)
{
	int status = -1;

	ck_assert_int_eq(kill(priv_daemon.pid, SIGTERM), 0);
	int64_t deadline = test_now_ms() + START_TIMEOUT_MS;
	while (waitpid(priv_daemon.pid, &status, WNOHANG) != priv_daemon.pid) {
		if (test_now_ms() > deadline) {
			test_daemon_dump_log(&priv_daemon);
			ck_abort_msg("sockbrokerd did not stop within %d ms", START_TIMEOUT_MS);
		}
		test_sleep_ms(10);
	}
	priv_daemon.pid = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		test_daemon_dump_log(&priv_daemon);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "sockbrokerd did not exit cleanly (status 0x%x)", status);
}

/* A field of /proc/PID[/task/TID]/status, after the tab(s). */
static bool
status_field(const char *status_path, const char *name, char *value, size_t len)
{
	char line[512];
	size_t n = strlen(name);
	bool found = false;
	FILE *f = fopen(status_path, "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			const char *v = line + n + 1;
			v += strspn(v, "\t ");
			snprintf(value, len, "%s", v);
			value[strcspn(value, "\n")] = '\0';
			found = true;
		}
	}
	fclose(f);
	return found;
}

static void
assert_status(const char *status_path, const char *name, const char *expected)
{
	char value[256];

	ck_assert_msg(status_field(status_path, name, value, sizeof(value)), "%s: no %s line",
		      status_path, name);
	ck_assert_msg(strcmp(value, expected) == 0, "%s: %s is \"%s\", expected \"%s\"",
		      status_path, name, value, expected);
}

/* Every id of a Uid:/Gid: line ("65534\t65534\t65534\t65534"). */
static void
assert_ids(const char *status_path, const char *name, unsigned long id)
{
	char expected[128];

	snprintf(expected, sizeof(expected), "%lu\t%lu\t%lu\t%lu", id, id, id, id);
	assert_status(status_path, name, expected);
}

static void
assert_path(const char *path, uid_t uid, gid_t gid, mode_t mode, mode_t type)
{
	struct stat st;

	ck_assert_msg(lstat(path, &st) == 0, "%s: %s", path, strerror(errno));
	ck_assert_msg((st.st_mode & S_IFMT) == type, "%s: wrong file type 0%o", path,
		      st.st_mode & S_IFMT);
	ck_assert_msg(st.st_uid == uid && st.st_gid == gid, "%s: owner %lu:%lu, expected %lu:%lu",
		      path, (unsigned long)st.st_uid, (unsigned long)st.st_gid, (unsigned long)uid,
		      (unsigned long)gid);
	ck_assert_msg((st.st_mode & 07777) == mode, "%s: mode 0%o, expected 0%o", path,
		      st.st_mode & 07777, mode);
}

/* The daemon's monitor: its one child process. */
static pid_t
monitor_of(pid_t daemon)
{
	char path[96], line[128] = "";
	long pid = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)daemon, (int)daemon);
	FILE *f = fopen(path, "r");
	ck_assert_msg(f, "%s: %s", path, strerror(errno));
	if (fgets(line, sizeof(line), f))
		pid = strtol(line, NULL, 10);
	fclose(f);
	ck_assert_msg(pid > 0, "the daemon has no monitor process");
	return (pid_t)pid;
}

/* The monitor of the running daemon holds exactly `caps` (permitted, effective and
 * bounding), runs as `uid`, with no_new_privs, and the serving process holds none on any
 * thread. */
static pid_t
assert_monitor_keeps(const char *caps, unsigned long uid)
{
	char path[64], holder[128];
	int threads;
	pid_t monitor = monitor_of(priv_daemon.pid);

	ck_assert_msg(test_threads_with_caps(priv_daemon.pid, true, &threads, holder,
					     sizeof(holder)) == 0,
		      "a thread of the serving process holds capabilities: %s", holder);
	ck_assert_int_gt(threads, 1);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)monitor);
	assert_status(path, "Name", "sockbroker-mon");
	assert_ids(path, "Uid", uid);
	assert_status(path, "CapEff", caps);
	assert_status(path, "CapPrm", caps);
	assert_status(path, "NoNewPrivs", "1");
	ck_assert(log_contains("privileges: a monitor process (pid"));
	return monitor;
}

static struct sb_client *
connect_client(void)
{
	struct sb_client *c = NULL;
	struct sb_error err;

	ck_assert_msg(sb_client_new(&c, priv_daemon.url, "test-privileges", &err) == 0,
		      "sb_client_new: %s", err.message);
	return c;
}

/* A TCP echo through the daemon to a server on 127.0.0.1. */
static void
assert_serves(struct sb_client *c)
{
	struct echo_server server;
	struct sb_addr addr;
	struct sb_error err;
	sb_handle h;
	char buf[16] = "";

	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_STREAM), 0);
	ck_assert_int_eq(sb_socket(c, AF_INET, SOCK_STREAM, 0, &h, &err), 0);
	ck_assert_int_eq(sb_addr_inet(&addr, "127.0.0.1", server.port), 0);
	ck_assert_msg(sb_connect(c, h, &addr, &err) == 0, "connect: %s", err.message);
	ck_assert_int_eq(sb_sendall(c, h, "ping", 4, 0, &err), 0);
	ck_assert_int_eq(sb_recv(c, h, buf, sizeof(buf) - 1, 0, &err), 4);
	ck_assert_str_eq(buf, "ping");
	ck_assert_int_eq(sb_close(c, h, &err), 0);
	echo_server_stop(&server);
}

/* A bind on 127.0.0.1 below 1024 (CAP_NET_BIND_SERVICE): the first free port from 1023 down. */
static void
assert_binds_below_1024(struct sb_client *c)
{
	struct sb_addr addr;
	struct sb_error err;
	sb_handle h;
	int r = -EADDRINUSE;

	ck_assert_int_eq(sb_socket(c, AF_INET, SOCK_STREAM, 0, &h, &err), 0);
	for (unsigned port = 1023; port > 900 && r == -EADDRINUSE; port--) {
		ck_assert_int_eq(sb_addr_inet(&addr, "127.0.0.1", port), 0);
		r = sb_bind(c, h, &addr, &err);
	}
	ck_assert_msg(r == 0, "bind below 1024: %s (%s)", err.errno_name, err.message);
	ck_assert_int_eq(sb_close(c, h, &err), 0);
}

START_TEST(switching_to_nobody_keeps_only_the_network_capabilities_the_policy_needs)
{
	char config[512];
	char status_path[64];
	char task_dir[64];

	if (!root_and_nobody("switching_to_nobody"))
		return;
	snprintf(config, sizeof(config),
		 ALLOW_ALL ", \"privileges\": {\"user\": \"nobody\"}, "
		 "\"ipc\": {\"group\": \"%s\", \"mode\": \"0660\", \"directory_mode\": \"0750\"}",
		 ipc_group);
	start(config);

	snprintf(status_path, sizeof(status_path), "/proc/%d/status", (int)priv_daemon.pid);
	assert_ids(status_path, "Uid", nobody_uid);
	assert_ids(status_path, "Gid", nobody_gid);
	assert_status(status_path, "CapEff", NO_CAPS);
	assert_status(status_path, "CapPrm", NO_CAPS);
	assert_status(status_path, "CapBnd", NO_CAPS);
	assert_status(status_path, "CapInh", NO_CAPS);
	assert_status(status_path, "CapAmb", NO_CAPS);
	assert_status(status_path, "NoNewPrivs", "1");

	/* Every thread is nobody with no_new_privs and no capability; the monitor, nobody
	 * too, keeps the policy's. */
	snprintf(task_dir, sizeof(task_dir), "/proc/%d/task", (int)priv_daemon.pid);
	DIR *tasks = opendir(task_dir);
	struct dirent *entry;
	ck_assert_ptr_nonnull(tasks);
	while ((entry = readdir(tasks))) {
		char path[400];
		char caps[64];

		if (entry->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/status", task_dir, entry->d_name);
		if (!status_field(path, "CapEff", caps, sizeof(caps)))
			continue; /* a thread that just ended */
		assert_ids(path, "Uid", nobody_uid);
		assert_status(path, "NoNewPrivs", "1");
	}
	closedir(tasks);
	assert_monitor_keeps(NET_AND_SYS_ADMIN_CAPS, nobody_uid);

	ck_assert(log_contains("privileges: running as user nobody"));
	ck_assert(log_contains("capabilities kept: none; no_new_privs set"));

	/* The directory belongs to the daemon's user, the socket can be used by the group. */
	assert_path(run_dir, nobody_uid, ipc_gid, 0750, S_IFDIR);
	assert_path(socket_path, nobody_uid, ipc_gid, 0660, S_IFSOCK);

	struct sb_client *c = connect_client();
	assert_serves(c);
	assert_binds_below_1024(c);

	struct sb_error err;
	sb_handle raw;
	ck_assert_msg(sb_socket(c, AF_INET, SOCK_RAW, IPPROTO_ICMP, &raw, &err) == 0,
		      "a raw socket (CAP_NET_RAW): %s", err.message);
	ck_assert_int_eq(sb_close(c, raw, &err), 0);

	/* A privileged option (CAP_NET_ADMIN), set by the monitor on the daemon's socket;
	 * one outside the monitor's table keeps the kernel's EPERM. */
	sb_handle marked;
	int mark = 0;
	ck_assert_int_eq(sb_socket(c, AF_INET, SOCK_DGRAM, 0, &marked, &err), 0);
	ck_assert_msg(sb_setsockopt_int(c, marked, SOL_SOCKET, SO_MARK, 7, &err) == 0,
		      "SO_MARK: %s", err.message);
	ck_assert_int_eq(sb_getsockopt_int(c, marked, SOL_SOCKET, SO_MARK, &mark, &err), 0);
	ck_assert_int_eq(mark, 7);
	ck_assert_int_eq(sb_setsockopt_int(c, marked, SOL_SOCKET, SO_DEBUG, 1, &err), -EACCES);
	ck_assert_str_eq(err.errno_name, "EACCES");
	ck_assert(!log_contains("monitor: refused"));
	ck_assert_int_eq(sb_close(c, marked, &err), 0);

	/* The host's own name (main() gave this program a UTS namespace of its own when it
	 * could): the monitor does it. */
	char name[256];
	ck_assert_int_eq(gethostname(name, sizeof(name)), 0);
	ck_assert_msg(sb_sethostname(c, name, strlen(name), &err) == 0, "sethostname: %s",
		      err.message);

	sb_client_free(c);
	stop();
	ck_assert_msg(access(socket_path, F_OK) < 0 && errno == ENOENT,
		      "the socket file is still there after the daemon stopped");
}
END_TEST

/*
 * After the switch to nobody, connections that drop before their handshake leave the
 * listener serving, and its socket keeps the ipc group and mode it was given.
 */
START_TEST(a_listener_after_the_switch_serves_past_dropped_handshakes_and_keeps_its_mode)
{
	char config[256];

	if (!root_and_nobody("a_listener_after_the_switch"))
		return;
	snprintf(config, sizeof(config),
		 "\"privileges\": {\"user\": \"nobody\"}, \"ipc\": {\"group\": \"%s\"}",
		 ipc_group);
	start(config);

	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	ck_assert(strlen(socket_path) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, socket_path, strlen(socket_path) + 1);
	for (int i = 0; i < 20; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
		close(fd);
	}
	struct sb_client *late = NULL;
	struct sb_error err;
	ck_assert_msg(sb_client_new(&late, priv_daemon.url, "late", &err) == 0,
		      "no client was served after dropped handshakes: %s", err.message);
	assert_serves(late);
	sb_client_free(late);
	assert_path(socket_path, nobody_uid, ipc_gid, 0660, S_IFSOCK);
	stop();
}
END_TEST

START_TEST(ipc_owner_lets_that_user_connect_and_others_not)
{
	if (!root_and_nobody("ipc_owner"))
		return;
	/* Staying root; the socket is nobody's alone, its directory searchable by all. */
	start(ALLOW_ALL ", \"ipc\": {\"owner\": \"nobody\", \"mode\": \"0600\", "
			"\"directory_mode\": \"0711\"}");
	assert_path(run_dir, 0, 0, 0711, S_IFDIR);
	assert_path(socket_path, nobody_uid, 0, 0600, S_IFSOCK);

	/* A client process as nobody, and one as another unprivileged user. A fresh
	 * process: NNG, already used by this one, cannot be used across fork(). It runs
	 * from copies of this program and of the client library in the daemon's
	 * directory, which those users can reach where the build directory may not be. */
	char program[512], library[512];
	if (!test_copy_for_any_user(self_path, priv_daemon.dir, program, sizeof(program)) ||
	    !test_copy_for_any_user(client_library_path(), priv_daemon.dir, library,
				    sizeof(library))) {
		test_skip("ipc_owner", "%s is mounted noexec: no copy of this program for "
			  "another user to run", priv_daemon.dir);
		stop();
		return;
	}
	char library_path[300];
	snprintf(library_path, sizeof(library_path), "LD_LIBRARY_PATH=%s", priv_daemon.dir);
	char **envp = environment_with(library_path);
	const uid_t users[] = { nobody_uid, nobody_uid - 1 };
	const int expected[] = { 0, EACCES };
	for (size_t i = 0; i < 2; i++) {
		fflush(NULL);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			if (setgroups(0, NULL) < 0 || setgid(nobody_gid) < 0 || setuid(users[i]) < 0)
				_exit(100);
			execle(program, program, CONNECT_AS_ARG, priv_daemon.url, (char *)NULL,
			       envp);
			_exit(127);
		}
		int status;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == expected[i],
			      "uid %lu: exit status 0x%x, expected %d", (unsigned long)users[i],
			      status, expected[i]);
	}

	free(envp);
	stop();
	ck_assert_int_eq(access(socket_path, F_OK), -1);
}
END_TEST

START_TEST(root_without_a_user_keeps_only_the_needed_capabilities_and_its_housekeeping)
{
	char status_path[64];

	if (!root_and_nobody("root_without_a_user"))
		return;
	if (getpwnam("sockbroker")) {
		test_skip("root_without_a_user", "this system has a user \"sockbroker\", which the "
			  "daemon takes without privileges.user");
		return;
	}
	start(ALLOW_ALL);
	snprintf(status_path, sizeof(status_path), "/proc/%d/status", (int)priv_daemon.pid);
	assert_ids(status_path, "Uid", 0);
	assert_status(status_path, "CapEff", NO_CAPS);
	assert_status(status_path, "CapPrm", NO_CAPS);
	assert_status(status_path, "CapBnd", NO_CAPS);
	assert_status(status_path, "NoNewPrivs", "1");
	assert_monitor_keeps(NET_AND_SYS_ADMIN_CAPS, 0);
	ck_assert(log_contains("privileges: the daemon runs as root (uid 0)"));
	ck_assert(log_contains("set \"privileges\": {\"user\": \"NAME\"}"));
	assert_path(run_dir, 0, 0, 0750, S_IFDIR);
	assert_path(socket_path, 0, 0, 0660, S_IFSOCK);

	struct sb_client *c = connect_client();
	assert_serves(c);
	assert_binds_below_1024(c);
	sb_client_free(c);
	stop();
	ck_assert_int_eq(access(socket_path, F_OK), -1);
}
END_TEST

START_TEST(root_without_a_user_takes_the_dedicated_user_when_it_exists)
{
	char status_path[64];

	if (!root_and_nobody("dedicated_user"))
		return;
	if (getpwnam("sockbroker")) {
		test_skip("dedicated_user", "this system has its own user \"sockbroker\"; the case "
			  "gives the daemon one of its own");
		return;
	}
	fake_default_user = true;
	start(ALLOW_ALL);
	snprintf(status_path, sizeof(status_path), "/proc/%d/status", (int)priv_daemon.pid);
	assert_ids(status_path, "Uid", FAKE_ID);
	assert_ids(status_path, "Gid", FAKE_ID);
	assert_status(status_path, "CapEff", NO_CAPS);
	assert_monitor_keeps(NET_AND_SYS_ADMIN_CAPS, FAKE_ID);
	ck_assert(log_contains("privileges: running as user sockbroker (uid 64123)"));
	ck_assert(log_contains("privileges.user is not set: the dedicated user \"sockbroker\""));
	ck_assert(!log_contains("the daemon runs as root"));
	assert_path(run_dir, FAKE_ID, FAKE_ID, 0750, S_IFDIR);
	assert_path(socket_path, FAKE_ID, FAKE_ID, 0660, S_IFSOCK);

	struct sb_client *c = connect_client();
	assert_serves(c);
	assert_binds_below_1024(c);
	sb_client_free(c);
	stop();
	ck_assert_int_eq(access(socket_path, F_OK), -1);
}
END_TEST

START_TEST(the_default_policy_as_root_keeps_no_capability_but_for_pinning_and_still_serves)
{
	char status_path[64];

	if (!root_and_nobody("the_default_policy"))
		return;
	/* No "policy": the built-in default, which needs no capability. */
	start("\"privileges\": {\"user\": \"nobody\", \"group\": \"nogroup\"}");
	snprintf(status_path, sizeof(status_path), "/proc/%d/status", (int)priv_daemon.pid);
	assert_ids(status_path, "Uid", nobody_uid);
	assert_status(status_path, "CapEff", NO_CAPS);
	assert_status(status_path, "CapPrm", NO_CAPS);
	assert_status(status_path, "CapBnd", NO_CAPS);
	assert_status(status_path, "NoNewPrivs", "1");
	ck_assert(log_contains("capabilities kept: none"));
	/* The policy needs no capability, but its handoff rule has each handed-off TCP socket
	 * held to its peer by a socket filter: where the kernel lets only CAP_NET_ADMIN attach
	 * one, a monitor keeps that capability and nothing else; elsewhere there is none. */
	char children[128] = "";
	snprintf(status_path, sizeof(status_path), "/proc/%d/task/%d/children",
		 (int)priv_daemon.pid, (int)priv_daemon.pid);
	FILE *f = fopen(status_path, "r");
	ck_assert_ptr_nonnull(f);
	bool monitor = fgets(children, sizeof(children), f) != NULL;
	fclose(f);
	ck_assert(monitor == log_contains("a monitor process"));
	if (monitor) {
		snprintf(status_path, sizeof(status_path), "/proc/%d/status", atoi(children));
		assert_status(status_path, "CapEff", "0000000000001000"); /* CAP_NET_ADMIN */
		ck_assert(log_contains("CAP_NET_ADMIN"));
	}

	struct sb_client *c = connect_client();
	assert_serves(c);
	sb_client_free(c);
	stop();
	ck_assert_int_eq(access(socket_path, F_OK), -1);
}
END_TEST

START_TEST(a_socket_directory_the_daemon_cannot_write_to_is_left_alone_with_a_warning)
{
	if (!root_and_nobody("a_socket_directory_the_daemon_cannot_write_to"))
		return;
	precreate_run_dir = true;
	start("\"privileges\": {\"user\": \"nobody\"}");
	/* Not the daemon's: neither mode nor owner changed. */
	assert_path(run_dir, 0, 0, 0755, S_IFDIR);
	assert_path(socket_path, nobody_uid, nobody_gid, 0660, S_IFSOCK);
	ck_assert(log_contains("after dropping privileges the daemon cannot write to the "
			       "directory"));

	struct sb_client *c = connect_client();
	assert_serves(c);
	sb_client_free(c);
	stop();
	/* It serves and stops cleanly; only its socket file stays behind (the next start
	 * as root replaces it). */
	ck_assert_int_eq(access(socket_path, F_OK), 0);
}
END_TEST

START_TEST(root_lacking_capabilities_keeps_what_it_has_and_says_what_cannot_work)
{
	static const int lacking[] = { CAP_NET_ADMIN, CAP_SETPCAP, CAP_DAC_READ_SEARCH };
	char status_path[64];

	if (!root_and_nobody("root_lacking_capabilities"))
		return;
	start_without = lacking;
	n_start_without = sizeof(lacking) / sizeof(lacking[0]);
	start(ALLOW_ALL ", \"privileges\": {\"user\": \"nobody\"}");
	snprintf(status_path, sizeof(status_path), "/proc/%d/status", (int)priv_daemon.pid);
	assert_ids(status_path, "Uid", nobody_uid);
	assert_status(status_path, "CapEff", NO_CAPS);
	assert_status(status_path, "CapPrm", NO_CAPS);
	assert_status(status_path, "NoNewPrivs", "1");
	/* The monitor: CAP_NET_BIND_SERVICE, CAP_NET_RAW and CAP_SYS_ADMIN, without
	 * CAP_NET_ADMIN. */
	assert_monitor_keeps("0000000000202400", nobody_uid);
	ck_assert(log_contains("keeps CAP_NET_BIND_SERVICE, CAP_NET_RAW, CAP_SYS_ADMIN for"));
	ck_assert(log_contains("the daemon was started without capabilities the policy needs: "
			       "SO_MARK, IP_TRANSPARENT and netlink changes (needs "
			       "CAP_NET_ADMIN)"));
	ck_assert(log_contains("without CAP_SETPCAP the bounding set is left as it was"));

	struct sb_client *c = connect_client();
	assert_serves(c);
	sb_client_free(c);
	stop();
}
END_TEST

START_TEST(killing_the_monitor_stops_the_daemon_cleanly)
{
	if (!root_and_nobody("killing_the_monitor"))
		return;
	start(ALLOW_ALL ", \"privileges\": {\"user\": \"nobody\"}");
	pid_t monitor = assert_monitor_keeps(NET_AND_SYS_ADMIN_CAPS, nobody_uid);
	struct sb_client *c = connect_client();
	assert_serves(c);

	ck_assert_int_eq(kill(monitor, SIGKILL), 0);
	int status = -1;
	int64_t deadline = test_now_ms() + START_TIMEOUT_MS;
	while (waitpid(priv_daemon.pid, &status, WNOHANG) != priv_daemon.pid) {
		if (test_now_ms() > deadline) {
			test_daemon_dump_log(&priv_daemon);
			ck_abort_msg("sockbrokerd did not stop within %d ms of its monitor's end",
				     START_TIMEOUT_MS);
		}
		test_sleep_ms(10);
	}
	priv_daemon.pid = 0;
	/* Stopped as on SIGTERM, but saying it failed: exit status 1, no crash. */
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status 0x%x", status);
	ck_assert(log_contains("that runs the privileged operations has ended; the daemon stops"));
	ck_assert(log_contains("stopped"));
	ck_assert_msg(access(socket_path, F_OK) < 0 && errno == ENOENT,
		      "the socket file is still there after the daemon stopped");
	/* The client is told: its session is gone. */
	struct sb_error err;
	sb_handle h;
	ck_assert_int_lt(sb_socket(c, AF_INET, SOCK_STREAM, 0, &h, &err), 0);
	ck_assert_int_eq(err.kind, SB_ERR_TRANSPORT);
	sb_client_free(c);
}
END_TEST

START_TEST(killing_the_daemon_ends_its_monitor)
{
	if (!root_and_nobody("killing_the_daemon"))
		return;
	/* The monitor, orphaned, comes to this process to be reaped. */
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	start(ALLOW_ALL);
	pid_t monitor = assert_monitor_keeps(NET_AND_SYS_ADMIN_CAPS, 0);

	ck_assert_int_eq(kill(priv_daemon.pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(priv_daemon.pid, NULL, 0), priv_daemon.pid);
	priv_daemon.pid = 0;
	int status = -1;
	int64_t deadline = test_now_ms() + START_TIMEOUT_MS;
	while (waitpid(monitor, &status, WNOHANG) != monitor) {
		ck_assert_msg(test_now_ms() < deadline,
			      "the monitor still runs %d ms after the daemon was killed",
			      START_TIMEOUT_MS);
		test_sleep_ms(10);
	}
	ck_assert(WIFEXITED(status) || WIFSIGNALED(status));
	prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
}
END_TEST

START_TEST(unknown_users_and_groups_stop_the_start_naming_the_field)
{
	static const struct {
		const char *config;
		const char *message;
	} cases[] = {
		{ "\"privileges\": {\"user\": \"sockbroker-no-such-user\"}",
		  "sockbrokerd: privileges.user: there is no user \"sockbroker-no-such-user\" on "
		  "this system" },
		{ "\"privileges\": {\"user\": \"nobody\", \"group\": \"sockbroker-no-such-group\"}",
		  "sockbrokerd: privileges.group: there is no group \"sockbroker-no-such-group\"" },
		{ "\"ipc\": {\"owner\": \"sockbroker-no-such-user\"}",
		  "sockbrokerd: ipc.owner: there is no user \"sockbroker-no-such-user\"" },
		{ "\"ipc\": {\"group\": \"sockbroker-no-such-group\"}",
		  "sockbrokerd: ipc.group: there is no group \"sockbroker-no-such-group\"" },
		{ "\"privileges\": {\"group\": \"nogroup\"}",
		  "sockbrokerd: privileges.group: needs privileges.user" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int status = 0;

		ck_assert_msg(!spawn(cases[i].config, &status), "started with %s", cases[i].config);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "%s: status 0x%x",
			      cases[i].config, status);
		if (!log_contains(cases[i].message))
			test_daemon_dump_log(&priv_daemon);
		ck_assert_msg(log_contains(cases[i].message), "the log lacks: %s",
			      cases[i].message);
		/* Refused before anything listened. */
		ck_assert_int_eq(access(run_dir, F_OK), -1);
		teardown();
	}
}
END_TEST

/* The client of ipc_owner_lets_that_user_connect_and_others_not: exit 0 when the daemon at
 * `url` answers Hello, else the errno of the failure. */
static int
connect_as_client(const char *url)
{
	struct sb_client *c = NULL;
	struct sb_error err;
	int r = sb_client_new(&c, url, "test-privileges-user", &err);

	sb_client_free(c);
	if (r < 0)
		fprintf(stderr, "client as uid %lu: %s (%s)\n", (unsigned long)getuid(),
			err.message, err.errno_name);
	return r < 0 ? -r : 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], CONNECT_AS_ARG) == 0)
		return connect_as_client(argv[2]);
	if (!realpath(argv[0], self_path)) {
		fprintf(stderr, "test-privileges: cannot find this program (%s): %s\n", argv[0],
			strerror(errno));
		return EXIT_FAILURE;
	}

	Suite *s = suite_create("privileges");
	const struct fixture_case cases[] = {
		{ "switch-user", switching_to_nobody_keeps_only_the_network_capabilities_the_policy_needs },
		{ "ipc-owner", ipc_owner_lets_that_user_connect_and_others_not },
		{ "listener-after-switch",
		  a_listener_after_the_switch_serves_past_dropped_handshakes_and_keeps_its_mode },
		{ "root-without-user",
		  root_without_a_user_keeps_only_the_needed_capabilities_and_its_housekeeping },
		{ "default-policy", the_default_policy_as_root_keeps_no_capability_but_for_pinning_and_still_serves },
		{ "fewer-capabilities",
		  root_lacking_capabilities_keeps_what_it_has_and_says_what_cannot_work },
		{ "existing-directory",
		  a_socket_directory_the_daemon_cannot_write_to_is_left_alone_with_a_warning },
		{ "unknown-names", unknown_users_and_groups_stop_the_start_naming_the_field },
		{ "dedicated-user", root_without_a_user_takes_the_dedicated_user_when_it_exists },
		{ "monitor-killed", killing_the_monitor_stops_the_daemon_cleanly },
		{ "daemon-killed", killing_the_daemon_ends_its_monitor },
	};

	if (geteuid() == 0 && unshare(CLONE_NEWUTS) < 0)
		fprintf(stderr, "note: no UTS namespace of our own (%s); the sethostname check "
			"sets the host's current name\n", strerror(errno));
	fixture_add_cases(s, cases, sizeof(cases) / sizeof(cases[0]), setup, teardown, 120);
	return fixture_run(s);
}
