/*
 * The command lines, run as their users run them: sbcat ($SBCAT) bridging
 * its stdin and stdout to real servers through the daemon under test, and
 * sockbrokerd ($SOCKBROKERD, under $SOCKBROKERD_WRAPPER when set) with its
 * options, its default listen URL and its signals. Every program started
 * here is waited for with a deadline, killed by pid if it overstays, and
 * reaped; every temporary directory is removed.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

/* Bounds, not timing assertions: valgrind makes everything slower. */
#define RUN_TIMEOUT_MS 30000
#define START_TIMEOUT_MS 30000

/* An unprivileged user for the daemon that must not run as root. */
#define NOBODY 65534

/* ---- programs under test ------------------------------------------------- */

struct program {
	pid_t pid;
	int in;  /* its stdin, -1 once closed */
	int out; /* its stdout */
	int err; /* its stderr */
};

/*
 * What the running case started, in a page shared across Check's fork: a
 * case that fails in a forked process ends there at once, without its
 * teardown, so the next case's setup (or the end of the run) stops and
 * removes what it left behind. Programs started here also die with the
 * process that started them (PR_SET_PDEATHSIG).
 */
#define MAX_PROGRAMS 8
struct case_state {
	pid_t running[MAX_PROGRAMS]; /* programs still to be reaped */
	pid_t fixture_daemon;        /* the fixture's daemon, and its directory */
	char fixture_dir[256];
	char scratch[256]; /* the case's own directory */
	char runtime[256]; /* a runtime directory for the daemon */
};
static struct case_state *state;

/* How a program is started, beyond its arguments. */
struct start_options {
	bool daemon;             /* run under $SOCKBROKERD_WRAPPER */
	const char *runtime_dir; /* XDG_RUNTIME_DIR; NULL: unset */
	uid_t uid;               /* 0: as this process */
	bool private_run;        /* a mount namespace of its own, a tmpfs on /run */
	int activated_fd;        /* > 0: passed as descriptor 3 by socket activation */
	const char *notify_socket; /* NOTIFY_SOCKET; NULL: unset */
};

static void
remember(pid_t pid)
{
	for (int i = 0; i < MAX_PROGRAMS; i++) {
		if (state->running[i] == 0) {
			state->running[i] = pid;
			return;
		}
	}
	ck_abort_msg("more than %d programs at once", MAX_PROGRAMS);
}

static void
forget(pid_t pid)
{
	for (int i = 0; i < MAX_PROGRAMS; i++)
		if (state->running[i] == pid)
			state->running[i] = 0;
}

/* Exit statuses of a child that could not become the program. */
#define CHILD_SETUP_FAILED 126
#define CHILD_CANNOT_ISOLATE 77

/* In the child, between fork and exec: system calls only. */
static void
child_setup(const struct start_options *options, pid_t parent)
{
	if (options->private_run) {
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("sockbroker-test", "/run", "tmpfs", 0, "mode=0755") < 0)
			_exit(CHILD_CANNOT_ISOLATE);
	}
	if (options->uid != 0) {
		if (setgroups(0, NULL) < 0 || setgid(options->uid) < 0 || setuid(options->uid) < 0)
			_exit(CHILD_SETUP_FAILED);
	}
	/* After the change of user, which would clear it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(CHILD_SETUP_FAILED);
}

/* This process's environment less what would choose a broker for the
 * program, plus XDG_RUNTIME_DIR when `runtime_dir` is given. */
static char **
child_environment(const char *runtime_dir, char *runtime_entry, size_t len)
{
	extern char **environ;
	size_t n = 0;
	while (environ[n])
		n++;
	/* Room for XDG_RUNTIME_DIR and the socket activation variables. */
	char **envp = calloc(n + 6, sizeof(*envp));
	ck_assert_ptr_nonnull(envp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "XDG_RUNTIME_DIR=", 16) != 0 &&
		    strncmp(environ[i], "SOCKBROKER_URL=", 15) != 0)
			envp[k++] = environ[i];
	if (runtime_dir) {
		snprintf(runtime_entry, len, "XDG_RUNTIME_DIR=%s", runtime_dir);
		envp[k++] = runtime_entry;
	}
	envp[k] = NULL;
	return envp;
}

/* Start args[0] (a path; after the wrapper for a daemon) with its standard
 * streams on pipes. */
static void
start(struct program *program, const char *const *args, const struct start_options *options)
{
	static const struct start_options plain = { 0 };
	int in[2], out[2], err[2];
	if (!options)
		options = &plain;
	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);

	const char *argv[40];
	int argc = 0;
	char *wrapper = NULL;
	if (options->daemon && getenv("SOCKBROKERD_WRAPPER") && *getenv("SOCKBROKERD_WRAPPER")) {
		wrapper = strdup(getenv("SOCKBROKERD_WRAPPER"));
		ck_assert_ptr_nonnull(wrapper);
		for (char *tok = strtok(wrapper, " "); tok && argc < 20; tok = strtok(NULL, " "))
			argv[argc++] = tok;
	}
	for (int i = 0; args[i] && argc < 39; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	char runtime_entry[320];
	char **envp = child_environment(options->runtime_dir, runtime_entry,
					sizeof(runtime_entry));

	pid_t parent = getpid();
	pid_t pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		/* As a service manager passes sockets: from descriptor 3, named in the
		 * environment with this process's pid. */
		static char listen_pid[32], notify[320];
		int first_closed = 3;
		if (options->activated_fd > 0) {
			dup2(options->activated_fd, 3);
			first_closed = 4;
			snprintf(listen_pid, sizeof(listen_pid), "LISTEN_PID=%d", (int)getpid());
			size_t k = 0;
			while (envp[k])
				k++;
			envp[k++] = listen_pid;
			envp[k++] = "LISTEN_FDS=1";
			envp[k++] = "LISTEN_FDNAMES=sockbroker";
			if (options->notify_socket) {
				snprintf(notify, sizeof(notify), "NOTIFY_SOCKET=%s",
					 options->notify_socket);
				envp[k++] = notify;
			}
			envp[k] = NULL;
		}
		for (int fd = first_closed; fd < 1024; fd++)
			close(fd);
		child_setup(options, parent);
		execvpe(argv[0], (char **)argv, envp);
		_exit(127);
	}
	free(envp);
	free(wrapper);
	remember(pid);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	program->pid = pid;
	program->in = in[1];
	program->out = out[0];
	program->err = err[0];
}

static void
close_stdin(struct program *program)
{
	if (program->in >= 0)
		close(program->in);
	program->in = -1;
}

static void
write_stdin(struct program *program, const char *text)
{
	size_t len = strlen(text);
	ck_assert_int_eq(write(program->in, text, len), (ssize_t)len);
}

/*
 * Read `fd` into buf (NUL-terminated) until it holds `needle` (NULL: until
 * end of file) or `ms` pass. Returns whether the needle (or the end) came.
 */
static bool
read_until(int fd, char *buf, size_t len, size_t *got, const char *needle, int ms)
{
	int64_t deadline = test_now_ms() + ms;
	for (;;) {
		buf[*got] = '\0';
		if (needle && strstr(buf, needle))
			return true;
		int64_t left = deadline - test_now_ms();
		if (left <= 0 || *got + 1 >= len)
			return false;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		ssize_t n = read(fd, buf + *got, len - 1 - *got);
		if (n == 0)
			return needle == NULL;
		if (n < 0 && errno != EINTR)
			return false;
		if (n > 0)
			*got += (size_t)n;
	}
}

/* Wait up to `ms` for the program to exit; returns its exit status (128 +
 * the signal if one ended it), or -1 after killing it when it overstayed.
 * Closes its pipes. */
static int
finish(struct program *program, int ms)
{
	int status = 0, result = -1;
	int64_t deadline = test_now_ms() + ms;
	for (;;) {
		pid_t r = waitpid(program->pid, &status, WNOHANG);
		if (r == program->pid) {
			result = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			break;
		}
		if (test_now_ms() > deadline) {
			kill(program->pid, SIGKILL);
			waitpid(program->pid, NULL, 0);
			break;
		}
		test_sleep_ms(10);
	}
	forget(program->pid);
	close_stdin(program);
	close(program->out);
	close(program->err);
	return result;
}

/* Run to the end with stdin closed; its output in out and err. */
static int
run(const char *const *args, const struct start_options *options, char *out, size_t out_len,
    char *err, size_t err_len)
{
	struct program program;
	size_t got_out = 0, got_err = 0;
	start(&program, args, options);
	close_stdin(&program);
	/* Both pipes are drained, so that neither can fill and block it. */
	int64_t deadline = test_now_ms() + RUN_TIMEOUT_MS;
	bool out_done = false, err_done = false;
	while ((!out_done || !err_done) && test_now_ms() < deadline) {
		if (!out_done)
			out_done = read_until(program.out, out, out_len, &got_out, NULL, 20) ||
				   got_out + 1 >= out_len;
		if (!err_done)
			err_done = read_until(program.err, err, err_len, &got_err, NULL, 20) ||
				   got_err + 1 >= err_len;
	}
	return finish(&program, RUN_TIMEOUT_MS);
}

static const char *
sbcat_path(void)
{
	const char *path = getenv("SBCAT");
	ck_assert_msg(path, "SBCAT must name the sbcat binary under test");
	return path;
}

static const char *
daemon_path(void)
{
	const char *path = getenv("SOCKBROKERD");
	ck_assert_msg(path, "SOCKBROKERD must name the sockbrokerd binary under test");
	return path;
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
remove_tree(const char *dir)
{
	if (dir[0])
		nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory of the case's own, under /tmp. */
static void
make_scratch(void)
{
	snprintf(state->scratch, sizeof(state->scratch), "/tmp/sockbroker-cli-XXXXXX");
	ck_assert_msg(mkdtemp(state->scratch), "mkdtemp: %.2000s", strerror(errno));
}

/* Stop and remove whatever the state records: the programs by pid (reaped
 * when they are this process's children), the fixture's daemon if its case
 * ended without stopping it, and the directories. */
static void
clean_up(void)
{
	for (int i = 0; i < MAX_PROGRAMS; i++) {
		if (state->running[i] > 0) {
			kill(state->running[i], SIGKILL);
			waitpid(state->running[i], NULL, 0);
		}
		state->running[i] = 0;
	}
	if (state->fixture_daemon > 0) {
		kill(state->fixture_daemon, SIGKILL);
		waitpid(state->fixture_daemon, NULL, 0);
		remove_tree(state->fixture_dir);
	}
	state->fixture_daemon = 0;
	state->fixture_dir[0] = '\0';
	remove_tree(state->scratch);
	state->scratch[0] = '\0';
	remove_tree(state->runtime);
	state->runtime[0] = '\0';
}

/* Record the fixture's daemon, for clean_up() after a failed case. */
static void
note_fixture_daemon(void)
{
	state->fixture_daemon = daemon_under_test.pid;
	snprintf(state->fixture_dir, sizeof(state->fixture_dir), "%s", daemon_under_test.dir);
}

/* ---- fixtures ------------------------------------------------------------ */

static void
sbcat_setup(void)
{
	clean_up();
	fixture_start(NULL, "test-cli");
	note_fixture_daemon();
}

static void
sbcat_teardown(void)
{
	/* The fixture stops its daemon by pid, and says if it did not exit 0. */
	state->fixture_daemon = 0;
	clean_up();
	fixture_stop();
}

static void
daemon_setup(void)
{
	clean_up();
	make_scratch();
}

static void
daemon_teardown(void)
{
	clean_up();
}

/* ---- sbcat ------------------------------------------------------------------ */

START_TEST(sbcat_tcp_listen_accepts_one_connection_and_bridges_it_both_ways)
{
	const char *args[] = { sbcat_path(), "--broker", daemon_under_test.url, "tcp-listen:0",
			       NULL };
	struct program sbcat;
	char err[1024], out[256];
	size_t got_err = 0, got_out = 0;
	start(&sbcat, args, NULL);
	ck_assert_msg(read_until(sbcat.err, err, sizeof(err), &got_err, "\n", START_TIMEOUT_MS),
		      "sbcat said: %.2000s", err);
	const char *at = strstr(err, "sbcat: listening on 0.0.0.0:");
	ck_assert_msg(at, "sbcat said: %.2000s", err);
	unsigned port = (unsigned)strtoul(at + strlen("sbcat: listening on 0.0.0.0:"), NULL, 10);
	ck_assert_uint_gt(port, 0);

	/* A direct client: the kernel's own socket. */
	int peer = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(peer, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(send(peer, "from the peer\n", 14, MSG_NOSIGNAL), 14);
	ck_assert_msg(read_until(sbcat.out, out, sizeof(out), &got_out, "from the peer\n",
				 RUN_TIMEOUT_MS),
		      "sbcat printed: %.2000s", out);

	write_stdin(&sbcat, "from sbcat\n");
	char buf[64] = { 0 };
	size_t got = 0;
	ck_assert(read_until(peer, buf, sizeof(buf), &got, "from sbcat\n", RUN_TIMEOUT_MS));
	/* The end of stdin is a shutdown of the sending side: the peer reads
	 * the end of the stream. */
	close_stdin(&sbcat);
	ck_assert_msg(read_until(peer, buf, sizeof(buf), &got, NULL, RUN_TIMEOUT_MS),
		      "no end of stream after sbcat's stdin ended");
	/* The peer's close ends sbcat. */
	close(peer);
	ck_assert_int_eq(finish(&sbcat, RUN_TIMEOUT_MS), 0);
}
END_TEST

START_TEST(sbcat_udp_sends_each_read_as_a_datagram_and_prints_the_replies)
{
	struct echo_server server;
	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_DGRAM), 0);
	server.upper = 1;
	char target[64];
	snprintf(target, sizeof(target), "udp:127.0.0.1:%u", server.port);
	/* -t: once stdin has ended, a quiet period ends sbcat successfully. */
	const char *args[] = { sbcat_path(), "--broker", daemon_under_test.url, "-t", "2", target,
			       NULL };
	struct program sbcat;
	char out[256];
	size_t got = 0;
	start(&sbcat, args, NULL);
	write_stdin(&sbcat, "ping\n");
	close_stdin(&sbcat);
	ck_assert_msg(read_until(sbcat.out, out, sizeof(out), &got, NULL, RUN_TIMEOUT_MS),
		      "sbcat printed: %.2000s", out);
	ck_assert_str_eq(out, "PING\n");
	ck_assert_int_eq(finish(&sbcat, RUN_TIMEOUT_MS), 0);
	echo_server_stop(&server);
}
END_TEST

/* The example program: a brokered socket passed with SCM_RIGHTS over a brokered socketpair,
 * then a datagram received through it with recvmsg and its IP_PKTINFO printed. */
START_TEST(the_fdpass_example_passes_a_socket_and_prints_its_ancillary_data)
{
	const char *path = getenv("FDPASS");
	ck_assert_msg(path, "FDPASS must name the fdpass example program");
	const char *args[] = { path, daemon_under_test.url, NULL };
	char out[1024] = "", err[1024] = "";
	int status = run(args, NULL, out, sizeof(out), err, sizeof(err));
	ck_assert_msg(status == 0, "fdpass exited %d: %s", status, err);
	ck_assert_msg(strstr(out, "was passed and arrived as handle"), "fdpass printed: %s", out);
	ck_assert_msg(strstr(out, "received \"hello\" from 127.0.0.1:"), "fdpass printed: %s", out);
	ck_assert_msg(strstr(out, "IP_PKTINFO: ifindex 1, spec_dst 127.0.0.1, addr 127.0.0.1"),
		      "fdpass printed: %s", out);
}
END_TEST

START_TEST(sbcat_unix_reaches_a_server_in_a_directory_the_policy_allows)
{
	/* The built-in policy allows no AF_UNIX path: this daemon's allows one
	 * directory, and nothing else of AF_UNIX. */
	sb_client_free(client);
	state->fixture_daemon = 0;
	ck_assert_int_eq(test_daemon_stop(&daemon_under_test), 0);
	make_scratch();
	char config[1024];
	snprintf(config, sizeof(config),
		 "{\"policy\": {\"rules\": ["
		 "{\"name\": \"cli-unix-dir\", \"allow\": true, \"ops\": [\"connect\"], "
		 "\"unix_paths\": [\"%s/\"]}, "
		 "{\"name\": \"cli-unix-sockets\", \"allow\": true, \"ops\": [\"create\"], "
		 "\"families\": [\"AF_UNIX\"]}]}}",
		 state->scratch);
	fixture_start(config, "test-cli");
	note_fixture_daemon();

	struct echo_server inside, outside;
	char inside_path[320], outside_path[320], target[340];
	snprintf(inside_path, sizeof(inside_path), "%s/echo.sock", state->scratch);
	snprintf(outside_path, sizeof(outside_path), "%s/echo.sock", daemon_under_test.dir);
	ck_assert_int_eq(echo_server_start_unix(&inside, inside_path, 0), 0);
	inside.upper = 1;
	ck_assert_int_eq(echo_server_start_unix(&outside, outside_path, 0), 0);

	snprintf(target, sizeof(target), "unix:%s", inside_path);
	const char *args[] = { sbcat_path(), "--broker", daemon_under_test.url, target, NULL };
	struct program sbcat;
	char out[256];
	size_t got = 0;
	start(&sbcat, args, NULL);
	write_stdin(&sbcat, "over a unix path\n");
	close_stdin(&sbcat);
	/* The server answers, then closes once it has read the end. */
	ck_assert_msg(read_until(sbcat.out, out, sizeof(out), &got, NULL, RUN_TIMEOUT_MS),
		      "sbcat printed: %.2000s", out);
	ck_assert_str_eq(out, "OVER A UNIX PATH\n");
	ck_assert_int_eq(finish(&sbcat, RUN_TIMEOUT_MS), 0);

	/* A server elsewhere is refused, by the policy's last rule. */
	char denied_out[256], denied_err[1024];
	snprintf(target, sizeof(target), "unix:%s", outside_path);
	const char *denied[] = { sbcat_path(), "--broker", daemon_under_test.url, target, NULL };
	int status = run(denied, NULL, denied_out, sizeof(denied_out), denied_err,
			 sizeof(denied_err));
	ck_assert_msg(status == 1, "exit %d, said: %.2000s", status, denied_err);
	ck_assert_msg(strstr(denied_err, "sbcat: connect ") && strstr(denied_err, "(EACCES)"),
		      "said: %.2000s", denied_err);
	ck_assert_str_eq(denied_out, "");

	echo_server_stop(&inside);
	echo_server_stop(&outside);
	unlink(inside_path);
	unlink(outside_path);
}
END_TEST

START_TEST(sbcat_with_a_timeout_against_a_server_that_never_answers_exits_1_timed_out)
{
	/* The kernel completes the handshake; nobody ever accepts or writes. */
	int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(listener, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(listener, 4), 0);
	ck_assert_int_eq(getsockname(listener, (struct sockaddr *)&sin, &len), 0);
	char target[64];
	snprintf(target, sizeof(target), "tcp:127.0.0.1:%u", ntohs(sin.sin_port));
	const char *args[] = { sbcat_path(), "--broker", daemon_under_test.url, "-t", "0.5",
			       target, NULL };

	struct program sbcat;
	char err[1024];
	size_t got = 0;
	int64_t begin = test_now_ms();
	/* stdin stays open: only the timeout can end it. */
	start(&sbcat, args, NULL);
	ck_assert_msg(read_until(sbcat.err, err, sizeof(err), &got, NULL, RUN_TIMEOUT_MS),
		      "sbcat said: %.2000s", err);
	int status = finish(&sbcat, RUN_TIMEOUT_MS);
	ck_assert_int_ge(test_now_ms() - begin, 450);
	ck_assert_msg(status == 1, "exit %d, said: %.2000s", status, err);
	ck_assert_msg(strstr(err, "sbcat: recv: timed out"), "said: %.2000s", err);
	close(listener);
}
END_TEST

START_TEST(sbcat_connect_to_a_closed_port_exits_1_naming_the_errno)
{
	char target[64], out[256], err[1024];
	snprintf(target, sizeof(target), "tcp:127.0.0.1:%u", closed_tcp_port());
	const char *args[] = { sbcat_path(), "--broker", daemon_under_test.url, target, NULL };
	int status = run(args, NULL, out, sizeof(out), err, sizeof(err));
	ck_assert_msg(status == 1, "exit %d, said: %.2000s", status, err);
	ck_assert_msg(strstr(err, "sbcat: connect 127.0.0.1:") &&
			      strstr(err, "Connection refused (ECONNREFUSED)"),
		      "said: %.2000s", err);
}
END_TEST

START_TEST(sbcat_usage_errors_exit_2_saying_what_is_wrong)
{
	static const struct {
		const char *args[4];
		const char *says;
	} cases[] = {
		{ { NULL }, "no ADDRESS given" },
		{ { "bogus:1", NULL }, "unknown address 'bogus:1'" },
		{ { "-t", "soon", "tcp:127.0.0.1:1", NULL },
		  "-t wants a positive number of seconds" },
		{ { "tcp:127.0.0.1:65536", NULL }, "bad port '65536'" },
		{ { "tcp:127.0.0.1:1", "tcp:127.0.0.1:2", NULL }, "one ADDRESS only" },
		{ { "--no-such-option", "tcp:127.0.0.1:1", NULL }, "unknown option" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[8] = { sbcat_path(), "--broker", daemon_under_test.url };
		for (int j = 0; cases[i].args[j]; j++)
			args[3 + j] = cases[i].args[j];
		char out[256], err[1024];
		int status = run(args, NULL, out, sizeof(out), err, sizeof(err));
		ck_assert_msg(status == 2, "case %zu: exit %d, said: %.2000s", i, status, err);
		ck_assert_msg(strstr(err, cases[i].says), "case %zu said: %.2000s", i, err);
		ck_assert_msg(strstr(err, "Usage: sbcat"), "case %zu said: %.2000s", i, err);
		ck_assert_str_eq(out, "");
	}
	/* --help is no error: the manual, on stdout. */
	const char *help[] = { sbcat_path(), "--help", NULL };
	static char out[16384];
	char err[256];
	ck_assert_int_eq(run(help, NULL, out, sizeof(out), err, sizeof(err)), 0);
	ck_assert(strstr(out, "SYNOPSIS") && strstr(out, "EXIT STATUS"));
	ck_assert_str_eq(err, "");
}
END_TEST

/* ---- sockbrokerd ---------------------------------------------------------- */

static const struct start_options as_daemon = { .daemon = true };

START_TEST(sockbrokerd_version_and_help_print_on_stdout_and_exit_0)
{
	char out[4096], err[1024];
	const char *version[] = { daemon_path(), "--version", NULL };
	ck_assert_int_eq(run(version, &as_daemon, out, sizeof(out), err, sizeof(err)), 0);
	ck_assert_msg(strncmp(out, "sockbrokerd ", 12) == 0 && out[12] >= '0' && out[12] <= '9',
		      "--version printed: %.2000s", out);
	ck_assert_str_eq(err, "");
	const char *short_version[] = { daemon_path(), "-V", NULL };
	char again[4096];
	ck_assert_int_eq(run(short_version, &as_daemon, again, sizeof(again), err, sizeof(err)),
			 0);
	ck_assert_str_eq(again, out);

	const char *forms[] = { "--help", "-h" };
	for (size_t i = 0; i < 2; i++) {
		const char *help[] = { daemon_path(), forms[i], NULL };
		ck_assert_int_eq(run(help, &as_daemon, out, sizeof(out), err, sizeof(err)), 0);
		ck_assert_msg(strstr(out, "Usage: sockbrokerd [OPTIONS]") &&
				      strstr(out, "--listen") && strstr(out, "--check-config"),
			      "%s printed: %.2000s", forms[i], out);
		ck_assert_str_eq(err, "");
	}
}
END_TEST

START_TEST(sockbrokerd_check_config_prints_a_good_file_and_exits_0_without_listening)
{
	char config[320], socket_path[320], out[16384], err[8192];
	snprintf(config, sizeof(config), "%s/good.json", state->scratch);
	snprintf(socket_path, sizeof(socket_path), "%s/never.sock", state->scratch);
	FILE *f = fopen(config, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "{\"listen\": [\"ipc://%s\"], \"limits\": {\"max_handles_per_session\": 7}}\n",
		socket_path);
	fclose(f);
	const char *args[] = { daemon_path(), "--check-config", "--config", config, NULL };
	int status = run(args, &as_daemon, out, sizeof(out), err, sizeof(err));
	ck_assert_msg(status == 0, "exit %d, said: %.2000s", status, err);
	/* The file form on stdout, the rules as an operator reads them on stderr. */
	ck_assert_msg(strstr(out, "\"max_handles_per_session\":\t7") ||
			      strstr(out, "\"max_handles_per_session\": 7"),
		      "printed: %.2000s", out);
	ck_assert_msg(strstr(out, socket_path), "printed: %.2000s", out);
	ck_assert_msg(strstr(err, "policy: the built-in default"), "said: %.2000s", err);
	ck_assert_int_eq(access(socket_path, F_OK), -1);
}
END_TEST

START_TEST(sockbrokerd_check_config_of_a_bad_file_fails_naming_the_field)
{
	static const struct {
		const char *json;
		const char *says;
	} cases[] = {
		{ "{\"limits\": {\"max_message_size\": 10}}", "limits.max_message_size: must be" },
		{ "{\"limitz\": {}}", "unknown key \"limitz\"" },
		{ "{\"log_level\": \"loud\"}", "log_level" },
		{ "{\"limits\": ", "the JSON text ends too early" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char config[320], out[4096], err[4096];
		snprintf(config, sizeof(config), "%s/bad-%zu.json", state->scratch, i);
		FILE *f = fopen(config, "w");
		ck_assert_ptr_nonnull(f);
		fputs(cases[i].json, f);
		fclose(f);
		const char *args[] = { daemon_path(), "--check-config", "--config", config, NULL };
		int status = run(args, &as_daemon, out, sizeof(out), err, sizeof(err));
		ck_assert_msg(status != 0 && status < 128, "case %zu: exit %d", i, status);
		ck_assert_msg(strstr(err, config) && strstr(err, cases[i].says),
			      "case %zu said: %.2000s", i, err);
		ck_assert_str_eq(out, "");
	}
	/* A file that is not there. */
	char missing[320], out[4096], err[4096];
	snprintf(missing, sizeof(missing), "%s/missing.json", state->scratch);
	const char *args[] = { daemon_path(), "--check-config", "--config", missing, NULL };
	int status = run(args, &as_daemon, out, sizeof(out), err, sizeof(err));
	ck_assert_msg(status != 0 && status < 128, "exit %d", status);
	ck_assert_msg(strstr(err, missing), "said: %.2000s", err);
}
END_TEST

START_TEST(sockbrokerd_unknown_options_and_arguments_exit_2_with_the_usage_on_stderr)
{
	char out[4096], err[4096];
	const char *unknown[] = { daemon_path(), "--no-such-option", NULL };
	ck_assert_int_eq(run(unknown, &as_daemon, out, sizeof(out), err, sizeof(err)), 2);
	ck_assert_msg(strstr(err, "no-such-option") && strstr(err, "Usage: sockbrokerd"),
		      "said: %.2000s", err);
	ck_assert_str_eq(out, "");

	const char *extra[] = { daemon_path(), "extra", NULL };
	ck_assert_int_eq(run(extra, &as_daemon, out, sizeof(out), err, sizeof(err)), 2);
	ck_assert_msg(strstr(err, "unexpected argument 'extra'"), "said: %.2000s", err);

	const char *level[] = { daemon_path(), "--log-level", "loud", "--check-config", NULL };
	ck_assert_int_eq(run(level, &as_daemon, out, sizeof(out), err, sizeof(err)), 2);
	ck_assert_msg(strstr(err, "--log-level: unknown level 'loud'"), "said: %.2000s", err);

	const char *missing[] = { daemon_path(), "--listen", NULL };
	ck_assert_int_eq(run(missing, &as_daemon, out, sizeof(out), err, sizeof(err)), 2);
	ck_assert_msg(strstr(err, "Usage: sockbrokerd"), "said: %.2000s", err);
}
END_TEST

/* Wait for the daemon's "listening on URL" line; the URL in url. */
static void
wait_listening(struct program *daemon, char *err, size_t len, size_t *got, char *url,
	       size_t url_len)
{
	static const char prefix[] = "sockbrokerd: listening on ";
	bool said = read_until(daemon->err, err, len, got, prefix, START_TIMEOUT_MS);
	/* The whole line. */
	while (said && !strchr(strstr(err, prefix), '\n'))
		said = read_until(daemon->err, err, len, got, "\n", START_TIMEOUT_MS);
	ck_assert_msg(said, "the daemon did not say where it listens: %.2000s", err);
	const char *at = strstr(err, prefix) + strlen(prefix);
	size_t n = strcspn(at, "\n");
	ck_assert_uint_lt(n, url_len);
	memcpy(url, at, n);
	url[n] = '\0';
}

/* A client on `url` is served: Hello, and a socket under the built-in policy. */
static void
expect_served(const char *url)
{
	struct sb_client *c;
	struct sb_error err;
	sb_handle h;
	int r = sb_client_new(&c, url, "test-cli", &err);
	ck_assert_msg(r == 0, "sb_client_new %.2000s: %.2000s", url, err.message);
	ck_assert_int_eq(sb_socket(c, AF_INET, SOCK_STREAM, 0, &h, &err), 0);
	ck_assert_int_eq(sb_close(c, h, &err), 0);
	sb_client_free(c);
}

START_TEST(sockbrokerd_without_listen_as_a_user_listens_under_xdg_runtime_dir)
{
	/* As root the daemon would choose /run/sockbroker: a test run as root
	 * starts it as an unprivileged user, with a runtime directory of its
	 * own. */
	char *runtime = state->runtime;
	snprintf(runtime, sizeof(state->runtime), "/tmp/sockbroker-cli-runtime-XXXXXX");
	ck_assert(mkdtemp(runtime));
	struct start_options options = { .daemon = true };
	char daemon_copy[512];
	const char *daemon_binary = daemon_path();
	if (geteuid() == 0) {
		options.uid = NOBODY;
		ck_assert_msg(chown(runtime, NOBODY, NOBODY) == 0, "chown %.2000s: %.2000s",
			      runtime, strerror(errno));
		/* nobody may be unable to reach the build directory: a copy of the
		 * daemon in the case's directory, which it can search. */
		ck_assert_int_eq(chmod(state->scratch, 0711), 0);
		if (!test_copy_for_any_user(daemon_binary, state->scratch, daemon_copy,
					    sizeof(daemon_copy))) {
			test_skip("user-default", "%s is mounted noexec: no copy of the daemon "
				  "for nobody to run", state->scratch);
			return;
		}
		daemon_binary = daemon_copy;
	}
	/* Trailing slashes make no double slash in the URL. */
	char runtime_slash[260];
	snprintf(runtime_slash, sizeof(runtime_slash), "%s/", runtime);
	options.runtime_dir = runtime_slash;

	const char *args[] = { daemon_binary, NULL };
	struct program daemon;
	char err[8192], url[512], expected[512];
	size_t got = 0;
	start(&daemon, args, &options);
	wait_listening(&daemon, err, sizeof(err), &got, url, sizeof(url));
	snprintf(expected, sizeof(expected), "ipc://%s/sockbroker/sockbroker.sock", runtime);
	ck_assert_str_eq(url, expected);
	expect_served(url);
	ck_assert_int_eq(kill(daemon.pid, SIGTERM), 0);
	int status = finish(&daemon, START_TIMEOUT_MS);
	ck_assert_msg(status == 0, "exit %d", status);
}
END_TEST

START_TEST(sockbrokerd_without_listen_as_root_listens_on_the_run_sockbroker_path)
{
	if (geteuid() != 0) {
		test_skip("root-default", "the default for root needs root");
		return;
	}
	/* /run of the host stays as it is: the daemon gets a tmpfs of its own
	 * on /run, in a mount namespace of its own, and the client reaches its
	 * socket through /proc/PID/root. */
	struct stat before, after;
	bool existed = stat("/run/sockbroker/sockbroker.sock", &before) == 0;
	const struct start_options options = { .daemon = true, .private_run = true };
	const char *args[] = { daemon_path(), NULL };
	struct program daemon;
	char err[8192], url[512];
	size_t got = 0;
	start(&daemon, args, &options);
	if (!read_until(daemon.err, err, sizeof(err), &got, "sockbrokerd: listening on ",
			START_TIMEOUT_MS)) {
		int status = finish(&daemon, START_TIMEOUT_MS);
		if (status == CHILD_CANNOT_ISOLATE) {
			test_skip("root-default", "no mount namespace with a tmpfs on /run here");
			return;
		}
		ck_abort_msg("the daemon (exit %d) did not say where it listens: %.2000s", status,
			     err);
	}
	wait_listening(&daemon, err, sizeof(err), &got, url, sizeof(url));
	ck_assert_str_eq(url, "ipc:///run/sockbroker/sockbroker.sock");
	char through_proc[128];
	snprintf(through_proc, sizeof(through_proc),
		 "ipc:///proc/%d/root/run/sockbroker/sockbroker.sock", (int)daemon.pid);
	expect_served(through_proc);
	ck_assert_int_eq(kill(daemon.pid, SIGTERM), 0);
	ck_assert_int_eq(finish(&daemon, START_TIMEOUT_MS), 0);
	ck_assert_int_eq(stat("/run/sockbroker/sockbroker.sock", &after) == 0, existed);
	if (existed)
		ck_assert(before.st_ino == after.st_ino);
}
END_TEST

/* Start a daemon on an ipc:// path in the case's directory; its URL in url. */
static void
start_listening(struct program *daemon, char *url, size_t url_len, char *err, size_t err_len,
		size_t *got)
{
	char said[320];
	snprintf(url, url_len, "ipc://%s/sockbroker.sock", state->scratch);
	const char *args[] = { daemon_path(), "--listen", url, NULL };
	start(daemon, args, &as_daemon);
	wait_listening(daemon, err, err_len, got, said, sizeof(said));
	ck_assert_str_eq(said, url);
}

/* SIGINT, then the rest of the log and the exit status. */
static int
interrupt(struct program *daemon, char *err, size_t err_len, size_t *got)
{
	ck_assert_int_eq(kill(daemon->pid, SIGINT), 0);
	bool ended = read_until(daemon->err, err, err_len, got, NULL, START_TIMEOUT_MS);
	int status = finish(daemon, START_TIMEOUT_MS);
	if (!ended || status != 0)
		fprintf(stderr, "---- sockbrokerd log ----\n%s---- end of log ----\n", err);
	return ended ? status : -1;
}

START_TEST(sigint_stops_the_daemon_cleanly_with_exit_0_closing_its_sessions)
{
	char url[320];
	static char err[65536];
	size_t got = 0;
	struct program daemon;
	start_listening(&daemon, url, sizeof(url), err, sizeof(err), &got);

	/* A session with an open socket. */
	struct sb_client *c;
	struct sb_error error;
	sb_handle h;
	ck_assert_int_eq(sb_client_new(&c, url, "test-cli", &error), 0);
	ck_assert_int_eq(sb_socket(c, AF_INET, SOCK_STREAM, 0, &h, &error), 0);

	int status = interrupt(&daemon, err, sizeof(err), &got);
	ck_assert_msg(status == 0, "exit %d (its log is on stderr)", status);
	ck_assert_msg(strstr(err, "received Interrupt; stopping"), "log: %.2000s", err);
	ck_assert_msg(strstr(err, "closed 1 sockets and 0 waiting operations"), "log: %.2000s",
		      err);
	ck_assert_msg(strstr(err, "info: stopped"), "log: %.2000s", err);
	/* The client learns that its session is gone. */
	struct sb_addr addr;
	ck_assert_int_eq(sb_getsockname(c, h, &addr, &error), -ECONNRESET);
	ck_assert_int_eq(error.kind, SB_ERR_TRANSPORT);
	sb_client_free(c);
}
END_TEST

/*
 * Socket activation: the daemon serves the listening socket a service manager passed as
 * descriptor 3 (and nothing of its own, with no listener configured), says READY=1 and
 * STOPPING=1 on NOTIFY_SOCKET, and leaves the manager's socket file in place.
 */
START_TEST(sockbrokerd_serves_a_socket_passed_by_the_service_manager_and_says_ready)
{
	char path[320], notify_path[320], url[340];
	snprintf(path, sizeof(path), "%s/activated.sock", state->scratch);
	snprintf(notify_path, sizeof(notify_path), "%s/notify.sock", state->scratch);
	snprintf(url, sizeof(url), "ipc://%s", path);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	ck_assert_uint_lt(strlen(path), sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(listener, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(listener, 16), 0);
	memcpy(sun.sun_path, notify_path, strlen(notify_path) + 1);
	int notify = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(notify, (struct sockaddr *)&sun, sizeof(sun)), 0);

	static char err[65536];
	size_t got = 0;
	struct program daemon;
	const struct start_options options = { .daemon = true, .activated_fd = listener,
					       .notify_socket = notify_path, .private_run = true };
	const char *args[] = { daemon_path(), NULL };
	start(&daemon, args, &options);
	close(listener);

	char state_text[256] = "";
	struct pollfd pfd = { .fd = notify, .events = POLLIN };
	ck_assert_msg(poll(&pfd, 1, START_TIMEOUT_MS) == 1, "no READY=1 on NOTIFY_SOCKET");
	ssize_t n = recv(notify, state_text, sizeof(state_text) - 1, 0);
	ck_assert_int_gt(n, 0);
	state_text[n] = '\0';
	ck_assert_msg(strstr(state_text, "READY=1"), "said: %s", state_text);

	struct sb_client *c;
	struct sb_error error;
	sb_handle h;
	ck_assert_msg(sb_client_new(&c, url, "test-cli", &error) == 0, "%s", error.message);
	ck_assert_int_eq(sb_socket(c, AF_INET, SOCK_STREAM, 0, &h, &error), 0);
	sb_client_free(c);

	int status = interrupt(&daemon, err, sizeof(err), &got);
	ck_assert_msg(status == 0, "exit %d", status);
	ck_assert_msg(strstr(err, "passed by the service manager"), "log: %.2000s", err);
	ck_assert_msg(!strstr(err, "listening on ipc:///run"), "log: %.2000s", err);
	ck_assert_msg(poll(&pfd, 1, START_TIMEOUT_MS) == 1, "no STOPPING=1");
	n = recv(notify, state_text, sizeof(state_text) - 1, 0);
	ck_assert_int_gt(n, 0);
	state_text[n] = '\0';
	ck_assert_msg(strstr(state_text, "STOPPING=1"), "said: %s", state_text);
	ck_assert_msg(access(path, F_OK) == 0, "the daemon removed the manager's socket file");
	close(notify);
}
END_TEST

struct parked_recv {
	struct sb_client *client;
	sb_handle h;
	ssize_t result;
	struct sb_error err;
};

static void *
recv_and_wait(void *arg)
{
	struct parked_recv *job = arg;
	char buf[8];
	job->result = sb_recv(job->client, job->h, buf, sizeof(buf), 0, &job->err);
	return NULL;
}

/*
 * Stopped while a recv waits, the daemon answers it before it closes its
 * connections (the client gets the answer, not a lost connection), and
 * nothing leaks (under valgrind the daemon would exit 99).
 */
START_TEST(sigint_with_a_recv_waiting_stops_the_daemon_with_exit_0_and_nothing_leaked)
{
	char url[320];
	static char err[65536];
	size_t got = 0;
	struct program daemon;
	start_listening(&daemon, url, sizeof(url), err, sizeof(err), &got);

	struct sb_client *c;
	struct sb_error error;
	ck_assert_int_eq(sb_client_new(&c, url, "test-cli", &error), 0);
	struct parked_recv job = { .client = c };
	struct sb_addr addr;
	ck_assert_int_eq(sb_socket(c, AF_INET, SOCK_DGRAM, 0, &job.h, &error), 0);
	sb_addr_inet(&addr, "127.0.0.1", 0);
	ck_assert_int_eq(sb_bind(c, job.h, &addr, &error), 0);
	pthread_t thread;
	ck_assert_int_eq(pthread_create(&thread, NULL, recv_and_wait, &job), 0);
	test_sleep_ms(200);

	int status = interrupt(&daemon, err, sizeof(err), &got);
	pthread_join(thread, NULL);
	sb_client_free(c);
	ck_assert_msg(strstr(err, "closed 1 sockets and 1 waiting operations"), "log: %.2000s",
		      err);
	/* The waiting recv is not left hanging. */
	ck_assert_msg(job.result == -ECONNRESET, "recv: %zd (%s) %.2000s", job.result,
		      sb_error_kind_name(job.err.kind), job.err.message);
	ck_assert_msg(job.err.kind == SB_ERR_OS && strstr(job.err.message, "daemon is stopping"),
		      "the recv was not answered by the daemon: %s (%s)", job.err.message,
		      sb_error_kind_name(job.err.kind));
	ck_assert_msg(status == 0, "exit %d (its log is on stderr)", status);
}
END_TEST

static Suite *
cli_suite(void)
{
	Suite *s = suite_create("cli");
	const struct fixture_case sbcat_cases[] = {
		{ "sbcat-tcp-listen",
		  sbcat_tcp_listen_accepts_one_connection_and_bridges_it_both_ways },
		{ "sbcat-udp", sbcat_udp_sends_each_read_as_a_datagram_and_prints_the_replies },
		{ "sbcat-unix", sbcat_unix_reaches_a_server_in_a_directory_the_policy_allows },
		{ "sbcat-timeout",
		  sbcat_with_a_timeout_against_a_server_that_never_answers_exits_1_timed_out },
		{ "sbcat-refused", sbcat_connect_to_a_closed_port_exits_1_naming_the_errno },
		{ "sbcat-usage", sbcat_usage_errors_exit_2_saying_what_is_wrong },
		{ "example-fdpass", the_fdpass_example_passes_a_socket_and_prints_its_ancillary_data },
	};
	const struct fixture_case daemon_cases[] = {
		{ "version-help", sockbrokerd_version_and_help_print_on_stdout_and_exit_0 },
		{ "check-config-good",
		  sockbrokerd_check_config_prints_a_good_file_and_exits_0_without_listening },
		{ "check-config-bad",
		  sockbrokerd_check_config_of_a_bad_file_fails_naming_the_field },
		{ "unknown-option",
		  sockbrokerd_unknown_options_and_arguments_exit_2_with_the_usage_on_stderr },
		{ "user-default",
		  sockbrokerd_without_listen_as_a_user_listens_under_xdg_runtime_dir },
		{ "root-default",
		  sockbrokerd_without_listen_as_root_listens_on_the_run_sockbroker_path },
		{ "sigint", sigint_stops_the_daemon_cleanly_with_exit_0_closing_its_sessions },
		{ "socket-activation",
		  sockbrokerd_serves_a_socket_passed_by_the_service_manager_and_says_ready },
		{ "sigint-parked",
		  sigint_with_a_recv_waiting_stops_the_daemon_with_exit_0_and_nothing_leaked },
	};
	fixture_add_cases(s, sbcat_cases, sizeof(sbcat_cases) / sizeof(sbcat_cases[0]),
			  sbcat_setup, sbcat_teardown, 120);
	fixture_add_cases(s, daemon_cases, sizeof(daemon_cases) / sizeof(daemon_cases[0]),
			  daemon_setup, daemon_teardown, 120);
	return s;
}

int
main(void)
{
	state = mmap(NULL, sizeof(*state), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		     -1, 0);
	if (state == MAP_FAILED) {
		perror("mmap");
		return EXIT_FAILURE;
	}
	memset(state, 0, sizeof(*state));
	int status = fixture_run(cli_suite());
	clean_up();
	munmap(state, sizeof(*state));
	return status;
}
