/*
 * sbrun against the real daemon: unmodified programs (curl, python3 without
 * the drop-in, node, ...) run in a new network namespace, where a direct
 * connect to a server on the host fails ("Network is unreachable"), and
 * reach it under sbrun; a destination the policy denies stays unreachable,
 * also for a program whose second thread rewrites the address while the
 * first one's connect is being judged.
 *
 * Each case starts the daemon (fixture.h) with a policy that denies
 * 127.0.0.2, and servers of its own on 127.0.0.1 (allowed) and 127.0.0.2
 * (denied: a connection that reached it is in its accept queue). Every
 * process a case starts is stopped by its pid, every wait is bounded.
 */
#include <arpa/inet.h>
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fixture.h"
#include "servers.h"

#define DENIED_HOST "127.0.0.2"
#define PAGE_BODY "a page served on the host\n"
#define RUN_TIMEOUT_MS 60000

static const char policy_config[] =
	"{\"policy\": {\"rules\": ["
	"{\"name\": \"deny-test-host\", \"allow\": false,"
	" \"ops\": [\"connect\", \"send-to\", \"bind\"],"
	" \"addresses\": [\"" DENIED_HOST "/32\"]},"
	"{\"name\": \"tests-allow-all\", \"allow\": true}]}}";

/* ---- servers on the host ------------------------------------------------------------------- */

/* An HTTP/1.0 server on 127.0.0.1 that answers every request with PAGE_BODY, one connection
 * at a time, on its own thread, until stopped. */
/* A test server's thread: `main(arg)` serves until stop[0] is readable. */
static void
server_thread_start(int stop[2], pthread_t *thread, void *(*main)(void *), void *arg)
{
	ck_assert_int_eq(pipe2(stop, O_CLOEXEC), 0);
	ck_assert_int_eq(pthread_create(thread, NULL, main, arg), 0);
}

static void
server_thread_stop(int stop[2], pthread_t thread)
{
	ck_assert_int_eq(write(stop[1], "x", 1), 1);
	pthread_join(thread, NULL);
	close(stop[0]);
	close(stop[1]);
}

struct page_server {
	int fd;
	int stop[2];
	uint16_t port;
	pthread_t thread;
	atomic_int served;
};

static int
listen_on(const char *host, uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(inet_pton(AF_INET, host, &sin.sin_addr), 1);
	sin.sin_port = htons(*port);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_msg(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0, "bind %s:%u: %s", host,
		      *port, strerror(errno));
	ck_assert_int_eq(listen(fd, 64), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void
serve_page(struct page_server *server, int conn)
{
	char request[8192];
	size_t got = 0;
	int64_t deadline = test_now_ms() + 10000;

	/* Up to the end of the headers (a bounded read, a bounded time). */
	while (got < sizeof(request) - 1 && test_now_ms() < deadline) {
		struct pollfd pfd = { .fd = conn, .events = POLLIN };
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		ssize_t n = read(conn, request + got, sizeof(request) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		request[got] = '\0';
		if (strstr(request, "\r\n\r\n") != NULL)
			break;
	}
	char reply[256];
	int len = snprintf(reply, sizeof(reply),
			   "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			   "Connection: close\r\n\r\n%s",
			   strlen(PAGE_BODY), PAGE_BODY);
	if (write(conn, reply, (size_t)len) == len)
		atomic_fetch_add(&server->served, 1);
}

static void *
page_server_main(void *arg)
{
	struct page_server *server = arg;

	for (;;) {
		struct pollfd fds[2] = { { .fd = server->fd, .events = POLLIN },
					 { .fd = server->stop[0], .events = POLLIN } };
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		if (fds[1].revents)
			break;
		if (!(fds[0].revents & POLLIN))
			continue;
		int conn = accept4(server->fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0)
			continue;
		serve_page(server, conn);
		close(conn);
	}
	return NULL;
}

static void
page_server_start(struct page_server *server)
{
	memset(server, 0, sizeof(*server));
	server->fd = listen_on("127.0.0.1", &server->port);
	server_thread_start(server->stop, &server->thread, page_server_main, server);
}

static void
page_server_stop(struct page_server *server)
{
	server_thread_stop(server->stop, server->thread);
	close(server->fd);
}

/* How many connections reached a listener nobody accepts on (its queue, drained). */
static int
connections_queued(int listener)
{
	int n = 0;
	int conn;

	ck_assert_int_eq(fcntl(listener, F_SETFL, O_NONBLOCK), 0);
	while ((conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		close(conn);
		n++;
	}
	return n;
}

/* ---- running programs in a network namespace of their own ---------------------------------- */

struct sandboxed {
	pid_t pid;
	int output; /* stdout and stderr of the program (and of sbrun) */
	char text[16384];
	size_t len;
};

static const char *
sbrun_path(void)
{
	const char *path = getenv("SBRUN");
	ck_assert_msg(path != NULL, "SBRUN must name the sbrun binary");
	return path;
}

enum where { ON_THE_HOST, IN_A_NAMESPACE };

/* When set, the namespace's programs get this file as /etc/resolv.conf (a mount namespace of
 * their own, with a bind mount). */
static const char *sandbox_resolv_conf;

static void spawn(struct sandboxed *run, enum where where, bool brokered,
		  const char *const *argv);

/* Start argv (NULL-terminated) in a new network namespace, under sbrun when `brokered`. */
static void
sandbox_start(struct sandboxed *run, bool brokered, const char *const *argv)
{
	spawn(run, IN_A_NAMESPACE, brokered, argv);
}

static void
spawn(struct sandboxed *run, enum where where, bool brokered, const char *const *argv)
{
	int out[2];
	const char *args[64];
	size_t n = 0;

	memset(run, 0, sizeof(*run));
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	if (brokered) {
		args[n++] = "sbrun";
		args[n++] = "--broker";
		args[n++] = daemon_under_test.url;
		args[n++] = "--";
	}
	for (size_t i = 0; argv[i] != NULL; i++) {
		ck_assert_uint_lt(n, sizeof(args) / sizeof(args[0]) - 1);
		args[n++] = argv[i];
	}
	args[n] = NULL;
	run->pid = fork();
	ck_assert_int_ge(run->pid, 0);
	if (run->pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(out[1], STDERR_FILENO);
		if (where == IN_A_NAMESPACE && unshare(CLONE_NEWNET) < 0) {
			printf("SKIP: unshare(CLONE_NEWNET): %s\n", strerror(errno));
			_exit(77);
		}
		if (where == IN_A_NAMESPACE && sandbox_resolv_conf != NULL &&
		    (unshare(CLONE_NEWNS) < 0 ||
		     mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		     mount(sandbox_resolv_conf, "/etc/resolv.conf", NULL, MS_BIND, NULL) < 0)) {
			printf("SKIP: a resolv.conf of the namespace's own: %s\n", strerror(errno));
			_exit(77);
		}
		if (brokered)
			execv(sbrun_path(), (char *const *)args);
		else
			execvp(args[0], (char *const *)args);
		printf("cannot run %s: %s\n", args[0], strerror(errno));
		_exit(126);
	}
	close(out[1]);
	run->output = out[0];
}

/* Read the output until `text` appears (true) or it ends or the time is up (false). */
static bool
sandbox_read_until(struct sandboxed *run, const char *text, int64_t deadline)
{
	while (text == NULL || strstr(run->text, text) == NULL) {
		int64_t left = deadline - test_now_ms();
		struct pollfd pfd = { .fd = run->output, .events = POLLIN };
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return false;
		/* Past the buffer the output is drained and dropped: the program never blocks. */
		char spill[4096];
		bool full = run->len == sizeof(run->text) - 1;
		ssize_t n = full ? read(run->output, spill, sizeof(spill))
				 : read(run->output, run->text + run->len,
					sizeof(run->text) - 1 - run->len);
		if (n <= 0)
			return false;
		if (full)
			continue;
		run->len += (size_t)n;
		run->text[run->len] = '\0';
	}
	return true;
}

/* Collect the rest of the output and the exit status (killed past the deadline). */
static int
sandbox_finish(struct sandboxed *run)
{
	int status = 0;

	sandbox_read_until(run, NULL, test_now_ms() + RUN_TIMEOUT_MS);
	if (waitpid(run->pid, &status, WNOHANG) == 0) {
		int64_t deadline = test_now_ms() + 10000;
		while (waitpid(run->pid, &status, WNOHANG) == 0 && test_now_ms() < deadline) {
			struct timespec pause = { .tv_nsec = 10 * 1000 * 1000 };
			nanosleep(&pause, NULL);
		}
		if (waitpid(run->pid, &status, WNOHANG) == 0) {
			kill(run->pid, SIGKILL);
			waitpid(run->pid, &status, 0);
			ck_abort_msg("%s did not end; its output: %s", "the sandboxed program",
				     run->text);
		}
	}
	close(run->output);
	return status;
}

/* Run argv to its end; returns its wait status, its output in run->text. */
static int
sandbox_run(struct sandboxed *run, bool brokered, const char *const *argv)
{
	sandbox_start(run, brokered, argv);
	return sandbox_finish(run);
}

static bool
exited_with(int status, int code)
{
	return WIFEXITED(status) && WEXITSTATUS(status) == code;
}

/* A program the case needs, or a skip. */
static bool
have_program(const char *test, const char *name)
{
	char command[256];
	snprintf(command, sizeof(command), "command -v %s >/dev/null 2>&1", name);
	if (system(command) == 0)
		return true;
	test_skip(test, "%s is not installed (scripts/install-deps.sh installs it)", name);
	return false;
}

static const char *
python(void)
{
	/* Debian's interpreter where there is one: a version manager's shim is a script. */
	return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

/* The direct way fails in the namespace, and the same command under sbrun prints `expected`. */
static void
check_direct_fails_brokered_works(const char *const *argv, const char *expected)
{
	struct sandboxed run;
	int status = sandbox_run(&run, false, argv);
	if (exited_with(status, 77) && strncmp(run.text, "SKIP", 4) == 0) {
		test_skip(argv[0], "%s", run.text);
		return;
	}
	ck_assert_msg(!exited_with(status, 0), "%s reached the host without sbrun: %s", argv[0],
		      run.text);
	ck_assert_msg(strstr(run.text, expected) == NULL, "direct: %s", run.text);

	status = sandbox_run(&run, true, argv);
	ck_assert_msg(exited_with(status, 0), "%s under sbrun: status %#x, output: %s", argv[0],
		      status, run.text);
	ck_assert_msg(strstr(run.text, expected) != NULL, "%s under sbrun said: %s", argv[0],
		      run.text);
}

static struct page_server page;
static int denied_listener = -1;
static uint16_t denied_port;

static void
setup(void)
{
	fixture_start(policy_config, "test-sbrun");
	page_server_start(&page);
	denied_port = 0;
	denied_listener = listen_on(DENIED_HOST, &denied_port);
}

static void
teardown(void)
{
	int reached = connections_queued(denied_listener);
	close(denied_listener);
	page_server_stop(&page);
	fixture_stop();
	ck_assert_msg(reached == 0, "%d connections reached the denied destination", reached);
}

/* ---- TCP --------------------------------------------------------------------------------- */

START_TEST(curl_fetches_a_page_from_the_host)
{
	if (!have_program("curl", "curl"))
		return;
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/index.txt", page.port);
	const char *argv[] = { "curl", "-sS", "--max-time", "30", url, NULL };
	check_direct_fails_brokered_works(argv, PAGE_BODY);
	ck_assert_int_eq(atomic_load(&page.served), 1);
}
END_TEST

START_TEST(python_without_the_drop_in_fetches_a_page_with_blocking_sockets)
{
	char url[128], script[512];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/index.txt", page.port);
	snprintf(script, sizeof(script),
		 "import sys, urllib.request\n"
		 "sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())\n");
	const char *argv[] = { python(), "-c", script, url, NULL };
	check_direct_fails_brokered_works(argv, PAGE_BODY);
}
END_TEST

START_TEST(node_fetches_a_page)
{
	if (!have_program("node", "node"))
		return;
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/index.txt", page.port);
	const char *argv[] = {
		"node", "-e",
		"fetch(process.argv[1]).then(r => r.text()).then(t => process.stdout.write(t),"
		" e => { console.error(String(e.cause || e)); process.exit(1); })",
		url, NULL
	};
	check_direct_fails_brokered_works(argv, PAGE_BODY);
}
END_TEST

/* nc (netcat-openbsd): a request on its stdin, the page on its stdout. */
START_TEST(nc_talks_to_a_server_on_the_host)
{
	if (!have_program("nc", "nc"))
		return;
	char command[256];
	snprintf(command, sizeof(command),
		 "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -N -w 30 127.0.0.1 %u", page.port);
	const char *argv[] = { "sh", "-c", command, NULL };
	check_direct_fails_brokered_works(argv, PAGE_BODY);
}
END_TEST

/* A non-blocking connect stays one: EINPROGRESS, then the program's poll and SO_ERROR. The
 * program's descriptor number, close-on-exec flag and options are those it chose. */
START_TEST(a_non_blocking_connect_stays_non_blocking_and_keeps_the_programs_choices)
{
	char port[16];
	snprintf(port, sizeof(port), "%u", page.port);
	const char *script =
		"import errno, os, select, socket, sys\n"
		"s = socket.socket()\n"
		"s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)\n"
		"s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)\n"
		"s.setblocking(False)\n"
		"fd = s.fileno()\n"
		"r = s.connect_ex(('127.0.0.1', int(sys.argv[1])))\n"
		"print('connect_ex', errno.errorcode.get(r, r))\n"
		"select.select([], [s], [], 30)\n"
		"print('SO_ERROR', s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))\n"
		"print('same fd', s.fileno() == fd, 'inheritable', os.get_inheritable(fd))\n"
		"print('nodelay', s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0,"
		" 'keepalive', s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0)\n"
		"print('blocking', s.getblocking())\n"
		"s.setblocking(True)\n"
		"s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n"
		"data = b''\n"
		"while chunk := s.recv(4096): data += chunk\n"
		"print('body', data.split(b'\\r\\n\\r\\n', 1)[1].decode(), end='')\n";
	const char *argv[] = { python(), "-c", script, port, NULL };
	check_direct_fails_brokered_works(argv, "body " PAGE_BODY);
	struct sandboxed run;
	int status = sandbox_run(&run, true, argv);
	ck_assert_msg(exited_with(status, 0), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "connect_ex EINPROGRESS\n") ||
			      strstr(run.text, "connect_ex 0\n"),
		      "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "SO_ERROR 0\n"), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "same fd True inheritable False\n"), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "nodelay True keepalive True\n"), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "blocking False\n"), "output: %s", run.text);
}
END_TEST

START_TEST(a_denied_destination_answers_the_policys_errno_and_the_socket_stays_unconnected)
{
	char port[16];
	snprintf(port, sizeof(port), "%u", denied_port);
	const char *script = "import errno, socket, sys\n"
			     "s = socket.socket()\n"
			     "r = s.connect_ex(('" DENIED_HOST "', int(sys.argv[1])))\n"
			     "print('connect_ex', errno.errorcode.get(r, r))\n"
			     "try:\n"
			     "    s.getpeername()\n"
			     "except OSError as e:\n"
			     "    print('getpeername', errno.errorcode[e.errno])\n";
	const char *argv[] = { python(), "-c", script, port, NULL };
	struct sandboxed run;
	int status = sandbox_run(&run, true, argv);
	ck_assert_msg(exited_with(status, 0), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "connect_ex EACCES\n"), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "getpeername ENOTCONN\n"), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "denied by the daemon's policy (rule \"deny-test-host\")"),
		      "output: %s", run.text);
}
END_TEST

START_TEST(a_refused_connect_and_bad_arguments_answer_as_the_kernel_would)
{
	char port[16];
	snprintf(port, sizeof(port), "%u", closed_tcp_port());
	const char *script =
		"import ctypes, errno, os, socket, sys\n"
		"s = socket.socket()\n"
		"print('refused', errno.errorcode[s.connect_ex(('127.0.0.1', int(sys.argv[1])))])\n"
		"libc = ctypes.CDLL(None, use_errno=True)\n"
		"def call(fd, addr, length):\n"
		"    r = libc.connect(fd, addr, length)\n"
		"    if r == 0: return r\n"
		"    return {errno.ENOTSUP: 'EOPNOTSUPP'}.get(ctypes.get_errno(),"
		" errno.errorcode[ctypes.get_errno()])\n"
		"sin = bytes([2, 0, 0, 80, 127, 0, 0, 1]) + bytes(8)\n"
		"print('bad fd', call(999, sin, 16))\n"
		"r, w = os.pipe()\n"
		"print('not a socket', call(r, sin, 16))\n"
		"t = socket.socket()\n"
		"print('bad pointer', call(t.fileno(), ctypes.c_void_p(8), 16))\n"
		"print('too long', call(t.fileno(), sin, 4096))\n"
		"print('too short', call(t.fileno(), sin, 8))\n"
		"print('unspec', call(t.fileno(), bytes(16), 16))\n"
		"u = socket.socket(socket.AF_INET6)\n"
		"print('wrong family', call(u.fileno(), sin, 16))\n";
	const char *argv[] = { python(), "-c", script, port, NULL };
	struct sandboxed run;
	int status = sandbox_run(&run, true, argv);
	ck_assert_msg(exited_with(status, 0), "output: %s", run.text);
	const char *expected[] = {
		"refused ECONNREFUSED\n", "bad fd EBADF\n",    "not a socket ENOTSOCK\n",
		"bad pointer EFAULT\n",   "too long EINVAL\n", "too short EINVAL\n",
		"unspec EOPNOTSUPP\n",    "wrong family EAFNOSUPPORT\n",
	};
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
		ck_assert_msg(strstr(run.text, expected[i]), "no \"%s\" in: %s", expected[i],
			      run.text);
}
END_TEST

/* AF_UNIX stays local (sbrun makes the call on the program's socket), a relative path from
 * the program's working directory included. */
START_TEST(a_unix_socket_connect_stays_local_with_a_relative_path)
{
	const char *script = "import os, socket, tempfile\n"
			     "os.chdir(tempfile.mkdtemp())\n"
			     "server = socket.socket(socket.AF_UNIX)\n"
			     "server.bind('here.sock')\n"
			     "server.listen()\n"
			     "c = socket.socket(socket.AF_UNIX)\n"
			     "c.connect('here.sock')\n"
			     "conn, _ = server.accept()\n"
			     "c.sendall(b'local')\n"
			     "print('got', conn.recv(16).decode())\n"
			     "os.unlink('here.sock')\n"
			     "os.rmdir(os.getcwd())\n";
	const char *argv[] = { python(), "-c", script, NULL };
	struct sandboxed run;
	int status = sandbox_run(&run, true, argv);
	ck_assert_msg(exited_with(status, 0), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "got local\n"), "output: %s", run.text);
}
END_TEST

/* The second thread flips the address between the allowed and the denied host while the first
 * connects: each connect is judged on the bytes sbrun copied, and nothing reaches the denied
 * host (teardown checks its queue). */
START_TEST(a_thread_rewriting_the_address_during_connect_never_reaches_the_denied_host)
{
	const char *race = getenv("SBRUN_RACE");
	ck_assert_msg(race != NULL, "SBRUN_RACE must name the race program");
	char allowed[16], denied[16];
	snprintf(allowed, sizeof(allowed), "%u", page.port);
	snprintf(denied, sizeof(denied), "%u", denied_port);
	const char *argv[] = { race, "tcp", "127.0.0.1", allowed, DENIED_HOST, denied, "200", NULL };
	struct sandboxed run;
	int status = sandbox_run(&run, true, argv);
	ck_assert_msg(exited_with(status, 0), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "denied-reached 0\n"), "output: %s", run.text);
	/* The race was run: some connects went each way. */
	ck_assert_msg(strstr(run.text, "connected 0 ") == NULL, "output: %s", run.text);
	ck_assert_msg(strstr(run.text, " denied 0 ") == NULL, "output: %s", run.text);
}
END_TEST

/* The descriptor races too: a handed-over socket and an AF_UNIX one take turns at the number
 * being connected while the address flips between an AF_UNIX name and AF_UNSPEC. sbrun acts on the file it inspected with the address it copied: the handed-over socket
 * is never disconnected or sent elsewhere. */
START_TEST(a_thread_swapping_the_descriptor_during_connect_never_frees_a_handed_over_socket)
{
	const char *race = getenv("SBRUN_RACE");
	ck_assert_msg(race != NULL, "SBRUN_RACE must name the race program");
	char allowed[16], denied[16];
	snprintf(allowed, sizeof(allowed), "%u", page.port);
	snprintf(denied, sizeof(denied), "%u", denied_port);
	const char *argv[] = { race, "swap", "127.0.0.1", allowed, DENIED_HOST, denied, "2000", NULL };
	struct sandboxed run;
	int status = sandbox_run(&run, true, argv);
	ck_assert_msg(exited_with(status, 0), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "handed-peer-ok 1\n"), "output: %s", run.text);
}
END_TEST

/* ---- UDP ----------------------------------------------------------------------------------- */

/* A UDP echo server on 127.0.0.1 that answers in upper case, on its own thread; and a UDP
 * socket on the denied host that counts what reaches it. */
struct udp_server {
	int fd;
	int stop[2];
	uint16_t port;
	pthread_t thread;
};

static void *
udp_server_main(void *arg)
{
	struct udp_server *server = arg;
	for (;;) {
		struct pollfd fds[2] = { { .fd = server->fd, .events = POLLIN },
					 { .fd = server->stop[0], .events = POLLIN } };
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		if (fds[1].revents)
			break;
		char buf[2048];
		struct sockaddr_storage from;
		socklen_t from_len = sizeof(from);
		ssize_t n = recvfrom(server->fd, buf, sizeof(buf), MSG_DONTWAIT,
				     (struct sockaddr *)&from, &from_len);
		for (ssize_t i = 0; i < n; i++)
			buf[i] = (char)toupper((unsigned char)buf[i]);
		if (n > 0)
			(void)sendto(server->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, from_len);
	}
	return NULL;
}

static int
udp_bound(const char *host, uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(inet_pton(AF_INET, host, &sin.sin_addr), 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void
udp_server_start(struct udp_server *server)
{
	memset(server, 0, sizeof(*server));
	server->fd = udp_bound("127.0.0.1", &server->port);
	server_thread_start(server->stop, &server->thread, udp_server_main, server);
}

static void
udp_server_stop(struct udp_server *server)
{
	server_thread_stop(server->stop, server->thread);
	close(server->fd);
}

static int
datagrams_queued(int fd)
{
	char buf[2048];
	int n = 0;
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		n++;
	return n;
}

/* A connected UDP socket: send and recv, sendto/sendmsg with the address, recvfrom/recvmsg and
 * getpeername with the peer's address, non-blocking mode kept. */
START_TEST(python_talks_udp_to_the_host_on_a_connected_socket)
{
	struct udp_server echo;
	udp_server_start(&echo);
	char port[16];
	snprintf(port, sizeof(port), "%u", echo.port);
	const char *script =
		"import errno, socket, sys\n"
		"peer = ('127.0.0.1', int(sys.argv[1]))\n"
		"s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
		"s.settimeout(30)\n"
		"s.connect(peer)\n"
		"print('peer', s.getpeername() == peer, 'name', s.getsockname()[0])\n"
		"s.send(b'one')\n"
		"data, source = s.recvfrom(100)\n"
		"print('recvfrom', data.decode(), source == peer)\n"
		"s.sendto(b'two', peer)\n"
		"print('recv', s.recv(100).decode())\n"
		"s.sendmsg([b'thr', b'ee'], [], 0, peer)\n"
		"data, _, flags, source = s.recvmsg(100)\n"
		"print('recvmsg', data.decode(), source == peer)\n"
		"s.send(b'truncated')\n"
		"data, _, flags, _ = s.recvmsg(4)\n"
		"print('short', data.decode(), bool(flags & socket.MSG_TRUNC))\n"
		"s.setblocking(False)\n"
		"try:\n"
		"    print('empty', s.recv(8))\n"
		"except BlockingIOError as e:\n"
		"    print('empty', errno.errorcode[e.errno])\n";
	const char *argv[] = { python(), "-c", script, port, NULL };
	check_direct_fails_brokered_works(argv, "recvfrom ONE True\n");
	struct sandboxed run;
	int status = sandbox_run(&run, true, argv);
	udp_server_stop(&echo);
	ck_assert_msg(exited_with(status, 0), "output: %s", run.text);
	const char *expected[] = { "peer True name 127.0.0.1\n", "recv TWO\n",
				   "recvmsg THREE True\n", "short TRUN True\n",
				   "empty EAGAIN\n" };
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
		ck_assert_msg(strstr(run.text, expected[i]), "no \"%s\" in: %s", expected[i],
			      run.text);
}
END_TEST

START_TEST(nc_talks_udp_to_the_host)
{
	if (!have_program("nc", "nc"))
		return;
	struct udp_server echo;
	udp_server_start(&echo);
	char command[256];
	snprintf(command, sizeof(command),
		 "printf 'over udp\\n' | nc -u -w 2 127.0.0.1 %u", echo.port);
	const char *argv[] = { "sh", "-c", command, NULL };
	check_direct_fails_brokered_works(argv, "OVER UDP\n");
	udp_server_stop(&echo);
}
END_TEST

/* A denied destination for UDP: connect and sendto answer the policy's errno, nothing arrives. */
START_TEST(a_denied_udp_destination_is_refused_for_connect_and_sendto)
{
	struct udp_server echo;
	udp_server_start(&echo);
	uint16_t port;
	int denied = udp_bound(DENIED_HOST, &port);
	char allowed_port[16], denied_port_text[16];
	snprintf(allowed_port, sizeof(allowed_port), "%u", echo.port);
	snprintf(denied_port_text, sizeof(denied_port_text), "%u", port);
	const char *script =
		"import errno, socket, sys\n"
		"s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
		"print('connect', errno.errorcode.get(s.connect_ex(('" DENIED_HOST "',"
		" int(sys.argv[2]))), 0))\n"
		"s.connect(('127.0.0.1', int(sys.argv[1])))\n"
		"try:\n"
		"    s.sendto(b'x', ('" DENIED_HOST "', int(sys.argv[2])))\n"
		"    print('sendto sent')\n"
		"except OSError as e:\n"
		"    print('sendto', errno.errorcode[e.errno])\n";
	const char *argv[] = { python(), "-c", script, allowed_port, denied_port_text, NULL };
	struct sandboxed run;
	int status = sandbox_run(&run, true, argv);
	int reached = datagrams_queued(denied);
	close(denied);
	udp_server_stop(&echo);
	ck_assert_msg(exited_with(status, 0), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "connect EACCES\n"), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "sendto EACCES\n"), "output: %s", run.text);
	ck_assert_int_eq(reached, 0);
}
END_TEST

/* The race program in `mode` sends 500 datagrams while its second thread flips the
 * destination between the allowed echo server and the denied host: some go, some are
 * denied, and none reaches the denied host. */
static void
assert_udp_race_never_reaches_the_denied_host(const char *mode)
{
	const char *race = getenv("SBRUN_RACE");
	ck_assert_msg(race != NULL, "SBRUN_RACE must name the race program");
	struct udp_server echo;
	udp_server_start(&echo);
	uint16_t port;
	int denied = udp_bound(DENIED_HOST, &port);
	char allowed_port[16], denied_port_text[16];
	snprintf(allowed_port, sizeof(allowed_port), "%u", echo.port);
	snprintf(denied_port_text, sizeof(denied_port_text), "%u", port);
	const char *argv[] = { race, mode, "127.0.0.1", allowed_port, DENIED_HOST, denied_port_text,
			       "500", NULL };
	struct sandboxed run;
	int status = sandbox_run(&run, true, argv);
	int reached = datagrams_queued(denied);
	close(denied);
	udp_server_stop(&echo);
	ck_assert_msg(exited_with(status, 0), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "sent 0 ") == NULL, "output: %s", run.text);
	ck_assert_msg(strstr(run.text, " denied 0 ") == NULL, "output: %s", run.text);
	ck_assert_msg(reached == 0, "%d datagrams reached the denied host; output: %s", reached,
		      run.text);
}

/* The second thread flips the address of the first one's sendto (on a UDP socket connected to
 * the allowed host): each datagram is judged on the bytes sbrun copied, none reaches the denied
 * host. */
START_TEST(a_thread_rewriting_the_address_during_sendto_never_reaches_the_denied_host)
{
	assert_udp_race_never_reaches_the_denied_host("udp");
}
END_TEST

/* ---- more programs: wget, git, TLS ---------------------------------------------------------- */

/* A directory of the case's own (removed by remove_work_dir()). */
static void
make_work_dir(char *dir, size_t len)
{
	snprintf(dir, len, "/tmp/sbrun-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
remove_work_dir(const char *dir)
{
	char command[512];
	snprintf(command, sizeof(command), "rm -rf -- '%s'", dir);
	ck_assert_int_eq(system(command), 0);
}

static void
shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
shell(const char *fmt, ...)
{
	char command[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(command, sizeof(command), fmt, ap);
	va_end(ap);
	int status = system(command);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "failed: %s", command);
}

/* tests/sbrun/host-server.py with `args` (its mode and files) on the host: its pid in
 * server->pid, its port returned. */
static uint16_t
host_server_start(struct sandboxed *server, const char *const *args)
{
	const char *script = getenv("SBRUN_HOST_SERVER");
	ck_assert_msg(script != NULL, "SBRUN_HOST_SERVER must name host-server.py");
	const char *argv[8] = { python(), "-u", script };
	for (size_t i = 0; args[i] != NULL; i++) {
		ck_assert_uint_lt(i + 3, 7);
		argv[i + 3] = args[i];
	}
	spawn(server, ON_THE_HOST, false, argv);
	ck_assert_msg(sandbox_read_until(server, "\n", test_now_ms() + RUN_TIMEOUT_MS),
		      "host-server.py: %s", server->text);
	unsigned port = 0;
	ck_assert_msg(sscanf(server->text, "port %u", &port) == 1 && port > 0 && port < 65536,
		      "host-server.py: %s", server->text);
	return (uint16_t)port;
}

static void
host_server_stop(struct sandboxed *server)
{
	kill(server->pid, SIGTERM);
	sandbox_finish(server);
}

START_TEST(wget_fetches_a_page_from_the_host)
{
	if (!have_program("wget", "wget"))
		return;
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/index.txt", page.port);
	const char *argv[] = { "wget", "-q", "-t", "1", "-T", "30", "-O", "-", url, NULL };
	check_direct_fails_brokered_works(argv, PAGE_BODY);
}
END_TEST

/* git clone over HTTP (git's remote helper is a child of git: it is served too). */
START_TEST(git_clones_a_repository_over_http_from_the_host)
{
	if (!have_program("git", "git"))
		return;
	char dir[64];
	make_work_dir(dir, sizeof(dir));
	shell("cd '%s' && git init -q work && cd work && echo 'cloned through sbrun' > README && "
	      "git add README && git -c user.name=t -c user.email=t@example.org commit -qm one && "
	      "git clone -q --bare . ../repo.git && cd ../repo.git && git update-server-info",
	      dir);
	struct sandboxed server;
	const char *args[] = { "files", dir, NULL };
	uint16_t port = host_server_start(&server, args);

	char command[512];
	snprintf(command, sizeof(command),
		 "git clone -q http://127.0.0.1:%u/repo.git '%s/clone' && cat '%s/clone/README'",
		 port, dir, dir);
	const char *argv[] = { "sh", "-c", command, NULL };
	check_direct_fails_brokered_works(argv, "cloned through sbrun\n");
	host_server_stop(&server);
	remove_work_dir(dir);
}
END_TEST

START_TEST(curl_fetches_a_page_over_https_from_a_local_tls_server)
{
	if (!have_program("curl", "curl") || !have_program("openssl", "openssl"))
		return;
	char dir[64];
	make_work_dir(dir, sizeof(dir));
	shell("cd '%s' && echo 'a page over TLS' > index.txt && openssl req -x509 -newkey rsa:2048 "
	      "-nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
	      "-keyout key.pem -out cert.pem 2>/dev/null",
	      dir);
	char cert[128], key[128], url[128];
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	struct sandboxed server;
	const char *args[] = { "tls", cert, key, dir, NULL };
	uint16_t port = host_server_start(&server, args);

	snprintf(url, sizeof(url), "https://127.0.0.1:%u/index.txt", port);
	const char *argv[] = { "curl", "-sS", "--max-time", "30", "--cacert", cert, url, NULL };
	check_direct_fails_brokered_works(argv, "a page over TLS\n");
	host_server_stop(&server);
	remove_work_dir(dir);
}
END_TEST

static uint16_t free_port(void);

/* ssh to an sshd on the host (a configuration, keys and port of the case's own). */
START_TEST(ssh_runs_a_command_on_a_local_sshd)
{
	if (access("/usr/sbin/sshd", X_OK) != 0 || !have_program("ssh", "ssh")) {
		test_skip("ssh", "sshd is not installed (Debian package openssh-server)");
		return;
	}
	char dir[64], config[128], key[128], port_text[16], login[80];
	make_work_dir(dir, sizeof(dir));
	uint16_t port = free_port();
	snprintf(config, sizeof(config), "%s/sshd_config", dir);
	snprintf(key, sizeof(key), "%s/user_key", dir);
	snprintf(port_text, sizeof(port_text), "%u", port);
	struct passwd *me = getpwuid(getuid());
	ck_assert_ptr_nonnull(me);
	snprintf(login, sizeof(login), "%s@127.0.0.1", me->pw_name);
	shell("mkdir -p /run/sshd && cd '%s' && ssh-keygen -q -t ed25519 -N '' -f host_key && "
	      "ssh-keygen -q -t ed25519 -N '' -f user_key && cp user_key.pub authorized_keys && "
	      "printf 'Port %u\\nListenAddress 127.0.0.1\\nHostKey %s/host_key\\n"
	      "AuthorizedKeysFile %s/authorized_keys\\nPermitRootLogin yes\\n"
	      "PasswordAuthentication no\\nKbdInteractiveAuthentication no\\nUsePAM no\\n"
	      "StrictModes no\\nPidFile %s/sshd.pid\\n' > sshd_config",
	      dir, port, dir, dir, dir);
	const char *sshd_argv[] = { "/usr/sbin/sshd", "-D", "-e", "-f", config, NULL };
	struct sandboxed sshd;
	spawn(&sshd, ON_THE_HOST, false, sshd_argv);
	bool listening = sandbox_read_until(&sshd, "Server listening", test_now_ms() + RUN_TIMEOUT_MS);
	if (listening) {
		const char *argv[] = { "ssh", "-F", "/dev/null", "-i", key, "-p", port_text,
				       "-o", "StrictHostKeyChecking=no",
				       "-o", "UserKnownHostsFile=/dev/null",
				       "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
				       login, "echo", "ran over ssh", NULL };
		check_direct_fails_brokered_works(argv, "ran over ssh\n");
	}
	kill(sshd.pid, SIGTERM);
	sandbox_finish(&sshd);
	ck_assert_msg(listening, "sshd did not start: %s", sshd.text);
	remove_work_dir(dir);
}
END_TEST

/* ---- names: the C library's resolver over TCP ---------------------------------------------- */

#define DNS_HOST "127.0.0.3"
#define DNS_NAME "svc.sbrun.test"

/* A DNS responder over TCP and UDP on DNS_HOST:53, on its own thread: every A question gets
 * 127.0.0.1, any other an empty answer. */
struct dns_server {
	int fd;
	int udp;
	int stop[2];
	pthread_t thread;
	atomic_int answered;
};

static bool
read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, 10000) <= 0)
			return false;
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return true;
}

/* One query in `query` (len bytes) answered into `reply`; returns the reply's length or 0. */
static size_t
dns_answer(const uint8_t *query, size_t len, uint8_t *reply, size_t size)
{
	size_t at = 12;
	if (len < 12 || size < len + 16)
		return 0;
	while (at < len && query[at] != 0)
		at += (size_t)query[at] + 1;
	if (at + 5 > len)
		return 0;
	size_t question_end = at + 5;
	bool a_question = query[at + 1] == 0 && query[at + 2] == 1;
	memcpy(reply, query, question_end);
	reply[2] = 0x81; /* a response, recursion desired */
	reply[3] = 0x80; /* recursion available, NOERROR */
	reply[4] = 0, reply[5] = 1;
	reply[6] = 0, reply[7] = a_question ? 1 : 0;
	memset(reply + 8, 0, 4);
	if (!a_question)
		return question_end;
	static const uint8_t answer[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1 };
	memcpy(reply + question_end, answer, sizeof(answer));
	return question_end + sizeof(answer);
}

static void *
dns_server_main(void *arg)
{
	struct dns_server *server = arg;
	for (;;) {
		struct pollfd fds[3] = { { .fd = server->fd, .events = POLLIN },
					 { .fd = server->stop[0], .events = POLLIN },
					 { .fd = server->udp, .events = POLLIN } };
		if (poll(fds, 3, -1) < 0 && errno != EINTR)
			break;
		if (fds[1].revents)
			break;
		uint8_t length[2], query[512], reply[600];
		if (fds[2].revents & POLLIN) {
			struct sockaddr_storage from;
			socklen_t from_len = sizeof(from);
			ssize_t len = recvfrom(server->udp, query, sizeof(query), MSG_DONTWAIT,
					       (struct sockaddr *)&from, &from_len);
			size_t n = len > 0 ? dns_answer(query, (size_t)len, reply, sizeof(reply)) : 0;
			if (n > 0 && sendto(server->udp, reply, n, 0, (struct sockaddr *)&from,
					    from_len) == (ssize_t)n)
				atomic_fetch_add(&server->answered, 1);
		}
		if (!(fds[0].revents & POLLIN))
			continue;
		int conn = accept4(server->fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0)
			continue;
		while (read_full(conn, length, 2)) {
			size_t len = (size_t)length[0] << 8 | length[1];
			if (len > sizeof(query) || !read_full(conn, query, len))
				break;
			size_t n = dns_answer(query, len, reply + 2, sizeof(reply) - 2);
			if (n == 0)
				break;
			reply[0] = (uint8_t)(n >> 8), reply[1] = (uint8_t)n;
			if (write(conn, reply, n + 2) != (ssize_t)(n + 2))
				break;
			atomic_fetch_add(&server->answered, 1);
		}
		close(conn);
	}
	return NULL;
}

static bool
dns_server_start(struct dns_server *server)
{
	memset(server, 0, sizeof(*server));
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(53) };
	inet_pton(AF_INET, DNS_HOST, &sin.sin_addr);
	server->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(server->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(server->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		test_skip("dns", "cannot bind " DNS_HOST ":53: %s", strerror(errno));
		close(server->fd);
		return false;
	}
	ck_assert_int_eq(listen(server->fd, 16), 0);
	server->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_msg(bind(server->udp, (struct sockaddr *)&sin, sizeof(sin)) == 0,
		      "bind udp " DNS_HOST ":53: %s", strerror(errno));
	server_thread_start(server->stop, &server->thread, dns_server_main, server);
	return true;
}

static void
dns_server_stop(struct dns_server *server)
{
	server_thread_stop(server->stop, server->thread);
	close(server->fd);
	close(server->udp);
}

/* getent ahosts, and curl by name: the C library's lookups over TCP ("options use-vc") reach
 * the responder on the host only under sbrun. */
START_TEST(the_c_librarys_name_lookups_over_tcp_reach_a_dns_server_on_the_host)
{
	struct dns_server dns;
	if (!dns_server_start(&dns))
		return;
	char dir[64], resolv[128];
	make_work_dir(dir, sizeof(dir));
	snprintf(resolv, sizeof(resolv), "%s/resolv.conf", dir);
	shell("printf 'nameserver " DNS_HOST "\\noptions use-vc attempts:1 timeout:5\\n' > '%s'",
	      resolv);
	sandbox_resolv_conf = resolv;

	const char *getent[] = { "getent", "ahosts", DNS_NAME, NULL };
	check_direct_fails_brokered_works(getent, "127.0.0.1       STREAM " DNS_NAME);
	if (have_program("curl", "curl")) {
		char url[128];
		snprintf(url, sizeof(url), "http://" DNS_NAME ":%u/index.txt", page.port);
		const char *curl[] = { "curl", "-4", "-sS", "--max-time", "30", url, NULL };
		check_direct_fails_brokered_works(curl, PAGE_BODY);
	}
	if (access("/usr/bin/dig", X_OK) == 0) {
		const char *dig[] = { "dig", "+tcp", "+short", "+tries=1", "@" DNS_HOST, DNS_NAME, NULL };
		check_direct_fails_brokered_works(dig, "127.0.0.1\n");
	}
	sandbox_resolv_conf = NULL;
	ck_assert_int_gt(atomic_load(&dns.answered), 0);
	dns_server_stop(&dns);
	remove_work_dir(dir);
}
END_TEST

/* The same over UDP, the C library's default: getent, curl by name, dig. */
START_TEST(the_c_librarys_name_lookups_over_udp_reach_a_dns_server_on_the_host)
{
	struct dns_server dns;
	if (!dns_server_start(&dns))
		return;
	char dir[64], resolv[128];
	make_work_dir(dir, sizeof(dir));
	snprintf(resolv, sizeof(resolv), "%s/resolv.conf", dir);
	shell("printf 'nameserver " DNS_HOST "\\noptions attempts:1 timeout:5\\n' > '%s'", resolv);
	sandbox_resolv_conf = resolv;

	const char *getent[] = { "getent", "ahosts", DNS_NAME, NULL };
	check_direct_fails_brokered_works(getent, "127.0.0.1       STREAM " DNS_NAME);
	if (have_program("curl", "curl")) {
		char url[128];
		snprintf(url, sizeof(url), "http://" DNS_NAME ":%u/index.txt", page.port);
		const char *curl[] = { "curl", "-4", "-sS", "--max-time", "30", url, NULL };
		check_direct_fails_brokered_works(curl, PAGE_BODY);
	}
	if (have_program("dig", "dig")) {
		const char *dig[] = { "dig", "+short", "+tries=1", "+timeout=5", "@" DNS_HOST,
				      DNS_NAME, NULL };
		check_direct_fails_brokered_works(dig, "127.0.0.1\n");
	}
	sandbox_resolv_conf = NULL;
	ck_assert_int_gt(atomic_load(&dns.answered), 0);
	dns_server_stop(&dns);
	remove_work_dir(dir);
}
END_TEST

/* ---- servers under sbrun ---------------------------------------------------------------------- */

/* A loopback port nothing listens on now. */
static uint16_t
free_port(void)
{
	uint16_t port = 0;
	int fd = listen_on("127.0.0.1", &port);
	close(fd);
	return port;
}

/* Connect from the host to 127.0.0.1:port, send `request`, read to the end into `reply`.
 * Returns 0 or -errno of the connect. */
static int
host_request(uint16_t port, const char *request, char *reply, size_t len)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	struct timeval timeout = { .tv_sec = 30 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	ck_assert_int_eq(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	size_t got = 0;
	ssize_t n;
	while (got < len - 1 && (n = read(fd, reply + got, len - 1 - got)) > 0)
		got += (size_t)n;
	reply[got] = '\0';
	close(fd);
	return 0;
}

/* python3 -m http.server, unmodified, under sbrun: reached from the host (and not without
 * sbrun, where it listens in the namespace only). */
START_TEST(an_http_server_under_sbrun_is_reached_from_the_host)
{
	char dir[64], port_text[16], reply[4096];
	make_work_dir(dir, sizeof(dir));
	shell("echo 'served from the sandbox' > '%s/index.txt'", dir);
	for (int brokered = 0; brokered <= 1; brokered++) {
		uint16_t port = free_port();
		snprintf(port_text, sizeof(port_text), "%u", port);
		const char *argv[] = { python(), "-u", "-m", "http.server", port_text, "--bind",
				       "127.0.0.1", "--directory", dir, NULL };
		struct sandboxed server;
		sandbox_start(&server, brokered, argv);
		bool serving = sandbox_read_until(&server, "Serving HTTP", test_now_ms() + RUN_TIMEOUT_MS);
		int r = serving ? host_request(port, "GET /index.txt HTTP/1.0\r\n\r\n", reply,
					       sizeof(reply))
				: -ETIMEDOUT;
		kill(server.pid, SIGTERM);
		sandbox_finish(&server);
		ck_assert_msg(serving, "the server did not start: %s", server.text);
		if (!brokered) {
			ck_assert_msg(r == -ECONNREFUSED, "reached without sbrun: %s", strerror(-r));
			continue;
		}
		ck_assert_msg(r == 0, "connect: %s; the server said: %s", strerror(-r), server.text);
		ck_assert_msg(strstr(reply, "served from the sandbox\n"), "reply: %s", reply);
	}
	remove_work_dir(dir);
}
END_TEST

/* Port 0 takes the daemon's port (getsockname says it), accept gives the peer's address and the
 * flags asked for, a non-blocking accept with nothing pending is EAGAIN, and a listen on a
 * denied address is refused. */
START_TEST(a_listener_under_sbrun_keeps_the_kernels_accept_semantics)
{
	const char *script =
		"import errno, os, select, socket\n"
		"denied = socket.socket()\n"
		"denied.bind(('" DENIED_HOST "', 0))\n"
		"try:\n"
		"    denied.listen()\n"
		"    print('denied listen ok')\n"
		"except OSError as e:\n"
		"    print('denied listen', errno.errorcode[e.errno])\n"
		"s = socket.socket()\n"
		"s.bind(('127.0.0.1', 0))\n"
		"s.listen()\n"
		"s.setblocking(False)\n"
		"try:\n"
		"    s.accept()\n"
		"except BlockingIOError as e:\n"
		"    print('empty', errno.errorcode[e.errno])\n"
		"print('port', s.getsockname()[1], 'listening', flush=True)\n"
		"select.select([s], [], [], 30)\n"
		"conn, peer = s.accept()\n"
		"print('peer', peer[0], 'inheritable', os.get_inheritable(conn.fileno()))\n"
		"conn.setblocking(True)\n"
		"try:\n"
		"    conn.listen()\n"
		"except OSError as e:\n"
		"    print('listen connected', errno.errorcode[e.errno])\n"
		"conn.sendall(b'hi ' + conn.recv(16))\n"
		"conn.close()\n";
	const char *argv[] = { python(), "-u", "-c", script, NULL };
	struct sandboxed run;
	sandbox_start(&run, true, argv);
	bool listening = sandbox_read_until(&run, " listening\n", test_now_ms() + RUN_TIMEOUT_MS);
	unsigned port = 0;
	const char *at = strstr(run.text, "port ");
	char reply[64] = "";
	int r = -1;
	if (listening && at != NULL && sscanf(at, "port %u", &port) == 1 && port > 0 && port < 65536)
		r = host_request((uint16_t)port, "there", reply, sizeof(reply));
	int status = sandbox_finish(&run);
	ck_assert_msg(r == 0, "connect to port %u: %s; output: %s", port, strerror(-r), run.text);
	ck_assert_str_eq(reply, "hi there");
	ck_assert_msg(exited_with(status, 0), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "denied listen EACCES\n"), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "empty EAGAIN\n"), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "peer 127.0.0.1 inheritable False\n"), "output: %s",
		      run.text);
	ck_assert_msg(strstr(run.text, "listen connected EINVAL\n"), "output: %s", run.text);
}
END_TEST

/* ---- the program's life -------------------------------------------------------------------- */

START_TEST(sbrun_exits_with_the_programs_status_and_dies_of_its_signal)
{
	struct sandboxed run;
	const char *exits[] = { "sh", "-c", "exit 42", NULL };
	int status = sandbox_run(&run, true, exits);
	ck_assert_msg(exited_with(status, 42), "status %#x: %s", status, run.text);

	const char *killed[] = { "sh", "-c", "kill -TERM $$", NULL };
	status = sandbox_run(&run, true, killed);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "status %#x: %s",
		      status, run.text);
}
END_TEST

START_TEST(sbrun_forwards_signals_to_the_program)
{
	const char *script = "import signal, sys\n"
			     "signal.signal(signal.SIGUSR1, lambda *a: sys.exit(7))\n"
			     "print('ready', flush=True)\n"
			     "signal.pause()\n";
	const char *argv[] = { python(), "-c", script, NULL };
	struct sandboxed run;
	sandbox_start(&run, true, argv);
	bool ready = sandbox_read_until(&run, "ready\n", test_now_ms() + RUN_TIMEOUT_MS);
	kill(run.pid, SIGUSR1);
	int status = sandbox_finish(&run);
	ck_assert_msg(ready, "output: %s", run.text);
	ck_assert_msg(exited_with(status, 7), "status %#x: %s", status, run.text);
}
END_TEST

START_TEST(children_and_threads_of_the_program_are_served)
{
	char port[16];
	snprintf(port, sizeof(port), "%u", page.port);
	const char *script =
		"import os, socket, sys, threading\n"
		"def fetch(tag):\n"
		"    s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
		"    s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n"
		"    print(tag, b'host' in s.makefile('rb').read(), flush=True)\n"
		"t = threading.Thread(target=fetch, args=('thread',))\n"
		"t.start(); t.join()\n"
		"pid = os.fork()\n"
		"if pid == 0:\n"
		"    fetch('child'); os._exit(0)\n"
		"os.waitpid(pid, 0)\n";
	const char *argv[] = { python(), "-c", script, port, NULL };
	struct sandboxed run;
	int status = sandbox_run(&run, true, argv);
	ck_assert_msg(exited_with(status, 0), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "thread True\n"), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "child True\n"), "output: %s", run.text);
}
END_TEST

START_TEST(bad_command_lines_and_a_missing_program_are_errors)
{
	struct sandboxed run;
	const char *none[] = { NULL };
	int status = sandbox_run(&run, true, none);
	ck_assert_msg(exited_with(status, 125), "status %#x: %s", status, run.text);
	ck_assert_msg(strstr(run.text, "no PROGRAM to run"), "output: %s", run.text);

	const char *missing[] = { "/nonexistent/program", NULL };
	status = sandbox_run(&run, true, missing);
	ck_assert_msg(exited_with(status, 127), "status %#x: %s", status, run.text);
	ck_assert_msg(strstr(run.text, "cannot run /nonexistent/program"), "output: %s", run.text);

	/* No daemon there: a clear error, and PROGRAM never runs. */
	char url[400];
	snprintf(url, sizeof(url), "--url=ipc://%s/nothing.sock", daemon_under_test.dir);
	const char *no_daemon[] = { url, "--", "sh", "-c", "echo ran", NULL };
	const char *args[8] = { sbrun_path() };
	for (size_t i = 0; no_daemon[i] != NULL; i++)
		args[i + 1] = no_daemon[i];
	status = sandbox_run(&run, false, args);
	ck_assert_msg(exited_with(status, 125), "status %#x: %s", status, run.text);
	ck_assert_msg(strstr(run.text, "ran") == NULL, "output: %s", run.text);
}
END_TEST

/* ---- UDP sockets never connected, UDP servers, options and binds carried over ---------------- */

/* A UDP socket the program never connects: sendto/sendmsg with an address to two peers,
 * recvfrom/recvmsg report each datagram's own source, getpeername is ENOTCONN, and SO_BROADCAST
 * set before the first send is carried over (a broadcast without it is EACCES, as the kernel's). */
START_TEST(python_talks_udp_to_the_host_on_an_unconnected_socket)
{
	struct udp_server one, two;
	udp_server_start(&one);
	udp_server_start(&two);
	char port_one[16], port_two[16];
	snprintf(port_one, sizeof(port_one), "%u", one.port);
	snprintf(port_two, sizeof(port_two), "%u", two.port);
	const char *script =
		"import errno, socket, sys\n"
		"a = ('127.0.0.1', int(sys.argv[1]))\n"
		"b = ('127.0.0.1', int(sys.argv[2]))\n"
		"s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
		"s.settimeout(30)\n"
		"s.sendto(b'one', a)\n"
		"data, source = s.recvfrom(100)\n"
		"print('recvfrom', data.decode(), source == a)\n"
		"s.sendmsg([b't', b'wo'], [], 0, b)\n"
		"data, _, flags, source = s.recvmsg(100)\n"
		"print('recvmsg', data.decode(), source == b)\n"
		"s.sendto(b'x', a)\n"
		"s.sendto(b'yy', b)\n"
		"got = sorted(s.recvfrom(100) for _ in range(2))\n"
		"print('both', got == sorted([(b'X', a), (b'YY', b)]))\n"
		"try:\n"
		"    s.getpeername()\n"
		"except OSError as e:\n"
		"    print('peername', errno.errorcode[e.errno])\n"
		"print('name', s.getsockname()[0], s.getsockname()[1] > 0)\n"
		"for broadcast in (0, 1):\n"
		"    t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
		"    t.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, broadcast)\n"
		"    try:\n"
		"        t.sendto(b'b', ('127.255.255.255', a[1]))\n"
		"        print('broadcast', broadcast, 'sent')\n"
		"    except OSError as e:\n"
		"        print('broadcast', broadcast, errno.errorcode[e.errno])\n";
	const char *argv[] = { python(), "-c", script, port_one, port_two, NULL };
	check_direct_fails_brokered_works(argv, "recvfrom ONE True\n");
	struct sandboxed run;
	int status = sandbox_run(&run, true, argv);
	udp_server_stop(&one);
	udp_server_stop(&two);
	ck_assert_msg(exited_with(status, 0), "output: %s", run.text);
	const char *expected[] = { "recvmsg TWO True\n", "both True\n", "peername ENOTCONN\n",
				   "name 0.0.0.0 True\n", "broadcast 0 EACCES\n",
				   "broadcast 1 sent\n" };
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
		ck_assert_msg(strstr(run.text, expected[i]), "no \"%s\" in: %s", expected[i],
			      run.text);
}
END_TEST

/* The daemon judges every datagram of an unconnected socket: a sendto to the denied host is
 * EACCES and nothing reaches it, the same socket then reaches the allowed host; a bind to the
 * denied host is EACCES too. */
START_TEST(a_denied_destination_of_an_unconnected_udp_socket_is_refused_per_datagram)
{
	struct udp_server echo;
	udp_server_start(&echo);
	uint16_t port;
	int denied = udp_bound(DENIED_HOST, &port);
	char allowed_port[16], denied_port_text[16];
	snprintf(allowed_port, sizeof(allowed_port), "%u", echo.port);
	snprintf(denied_port_text, sizeof(denied_port_text), "%u", port);
	const char *script =
		"import errno, socket, sys\n"
		"s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
		"s.settimeout(30)\n"
		"for i in range(2):\n"
		"    try:\n"
		"        s.sendto(b'x', ('" DENIED_HOST "', int(sys.argv[2])))\n"
		"        print('sendto sent')\n"
		"    except OSError as e:\n"
		"        print('sendto', i, errno.errorcode[e.errno])\n"
		"s.sendto(b'allowed', ('127.0.0.1', int(sys.argv[1])))\n"
		"print('reply', s.recvfrom(100)[0].decode())\n"
		"b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
		"try:\n"
		"    b.bind(('" DENIED_HOST "', 0))\n"
		"    print('bind ok')\n"
		"except OSError as e:\n"
		"    print('bind', errno.errorcode[e.errno])\n";
	const char *argv[] = { python(), "-c", script, allowed_port, denied_port_text, NULL };
	struct sandboxed run;
	int status = sandbox_run(&run, true, argv);
	int reached = datagrams_queued(denied);
	close(denied);
	udp_server_stop(&echo);
	ck_assert_msg(exited_with(status, 0), "output: %s", run.text);
	const char *expected[] = { "sendto 0 EACCES\n", "sendto 1 EACCES\n", "reply ALLOWED\n",
				   "bind EACCES\n" };
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
		ck_assert_msg(strstr(run.text, expected[i]), "no \"%s\" in: %s", expected[i],
			      run.text);
	ck_assert_int_eq(reached, 0);
}
END_TEST

/* Bad addresses and OS errors of a first sendto or a bind answer as the kernel would: a short
 * address EINVAL, another family EAFNOSUPPORT, a bad pointer EFAULT, port 0 EINVAL, a port in
 * use EADDRINUSE; the socket works after them. */
START_TEST(bad_addresses_of_an_unconnected_udp_socket_answer_as_the_kernel_would)
{
	struct udp_server echo;
	udp_server_start(&echo);
	char port[16];
	snprintf(port, sizeof(port), "%u", echo.port);
	const char *script =
		"import ctypes, errno, socket, struct, sys\n"
		"libc = ctypes.CDLL(None, use_errno=True)\n"
		"port = int(sys.argv[1])\n"
		"s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
		"s.settimeout(30)\n"
		"v4 = struct.pack('=HH4s8x', socket.AF_INET, socket.htons(port),"
		" socket.inet_aton('127.0.0.1'))\n"
		"v6 = struct.pack('=HHI16sI', socket.AF_INET6, socket.htons(port), 0,"
		" socket.inet_pton(socket.AF_INET6, '::1'), 0)\n"
		"def sendto(what, addr, length):\n"
		"    n = libc.sendto(s.fileno(), b'x', 1, 0, addr, length)\n"
		"    print(what, n if n >= 0 else errno.errorcode[ctypes.get_errno()])\n"
		"sendto('short', v4, 8)\n"
		"sendto('family', v6, len(v6))\n"
		"sendto('pointer', ctypes.c_void_p(8), 16)\n"
		"try:\n"
		"    s.sendto(b'x', ('127.0.0.1', 0))\n"
		"except OSError as e:\n"
		"    print('port0', errno.errorcode[e.errno])\n"
		"s.sendto(b'after', ('127.0.0.1', port))\n"
		"print('reply', s.recvfrom(100)[0].decode())\n"
		"b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
		"try:\n"
		"    b.bind(('127.0.0.1', port))\n"
		"    print('bind ok')\n"
		"except OSError as e:\n"
		"    print('bind', errno.errorcode[e.errno])\n";
	const char *argv[] = { python(), "-c", script, port, NULL };
	struct sandboxed run;
	int status = sandbox_run(&run, true, argv);
	udp_server_stop(&echo);
	ck_assert_msg(exited_with(status, 0), "output: %s", run.text);
	const char *expected[] = { "short EINVAL\n", "family EAFNOSUPPORT\n", "pointer EFAULT\n",
				   "port0 EINVAL\n", "reply AFTER\n", "bind EADDRINUSE\n" };
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
		ck_assert_msg(strstr(run.text, expected[i]), "no \"%s\" in: %s", expected[i],
			      run.text);
}
END_TEST

/* From the host, connected to 127.0.0.1:port, send `text` and read the reply into `reply`:
 * 0, or -errno (ECONNREFUSED when nothing listens there). */
static int
host_datagram(uint16_t port, const char *text, char *reply, size_t len)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	struct timeval timeout = { .tv_sec = 30 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	ck_assert_int_eq(send(fd, text, strlen(text), 0), (ssize_t)strlen(text));
	ssize_t n = recv(fd, reply, len - 1, 0);
	int r = n < 0 ? -errno : 0;
	reply[n > 0 ? n : 0] = '\0';
	close(fd);
	return r;
}

/* A Python UDP echo server (without the drop-in) bound to 127.0.0.1 under sbrun: reached from
 * the host by two peers, each answered at its own address (and not reached without sbrun,
 * where it is bound in the namespace only). */
START_TEST(a_udp_server_under_sbrun_answers_peers_on_the_host)
{
	const char *script =
		"import socket, sys\n"
		"s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
		"s.bind(('127.0.0.1', int(sys.argv[1])))\n"
		"print('ready', s.getsockname()[1] == int(sys.argv[1]), flush=True)\n"
		"for _ in range(2):\n"
		"    data, peer = s.recvfrom(100)\n"
		"    s.sendto(data.upper() + b' ' + str(peer[1]).encode(), peer)\n";
	for (int brokered = 0; brokered <= 1; brokered++) {
		uint16_t port;
		close(udp_bound("127.0.0.1", &port));
		char port_text[16];
		snprintf(port_text, sizeof(port_text), "%u", port);
		const char *argv[] = { python(), "-u", "-c", script, port_text, NULL };
		struct sandboxed server;
		sandbox_start(&server, brokered, argv);
		bool ready = sandbox_read_until(&server, "ready True\n",
						test_now_ms() + RUN_TIMEOUT_MS);
		char reply[2][128] = { "", "" };
		int r[2] = { -ETIMEDOUT, -ETIMEDOUT };
		for (int i = 0; ready && i < 2; i++)
			r[i] = host_datagram(port, i ? "second" : "first", reply[i], sizeof(reply[i]));
		/* Served both, the brokered server ends by itself. */
		if (!brokered || r[0] != 0 || r[1] != 0)
			kill(server.pid, SIGTERM);
		int status = sandbox_finish(&server);
		ck_assert_msg(ready, "the server did not start: %s", server.text);
		if (!brokered) {
			ck_assert_msg(r[0] == -ECONNREFUSED, "reached without sbrun: %s",
				      strerror(-r[0]));
			continue;
		}
		ck_assert_msg(r[0] == 0 && r[1] == 0, "%s, %s; the server said: %s",
			      strerror(-r[0]), strerror(-r[1]), server.text);
		ck_assert_msg(strncmp(reply[0], "FIRST ", 6) == 0, "reply: %s", reply[0]);
		ck_assert_msg(strncmp(reply[1], "SECOND ", 7) == 0, "reply: %s", reply[1]);
		ck_assert_str_ne(reply[0] + 6, reply[1] + 7);
		ck_assert_msg(exited_with(status, 0), "output: %s", server.text);
	}
}
END_TEST

/* A TCP socket bound before its connect keeps its local address: the daemon's socket is bound
 * there too (the server sees the port the program chose). */
START_TEST(a_tcp_socket_bound_before_connect_keeps_its_port)
{
	uint16_t local = free_port();
	char port_text[16], local_text[16];
	snprintf(port_text, sizeof(port_text), "%u", page.port);
	snprintf(local_text, sizeof(local_text), "%u", local);
	const char *script =
		"import socket, sys\n"
		"s = socket.socket()\n"
		"s.bind(('127.0.0.1', int(sys.argv[2])))\n"
		"s.connect(('127.0.0.1', int(sys.argv[1])))\n"
		"print('local', s.getsockname()[1] == int(sys.argv[2]))\n"
		"s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n"
		"print(s.makefile('rb').read().decode().split('\\r\\n\\r\\n', 1)[1], end='')\n";
	const char *argv[] = { python(), "-c", script, port_text, local_text, NULL };
	struct sandboxed run;
	int status = sandbox_run(&run, true, argv);
	ck_assert_msg(exited_with(status, 0), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "local True\n"), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, PAGE_BODY), "output: %s", run.text);
}
END_TEST

/* A connected UDP socket the program closes sends nothing more: its placeholder is freed, not
 * read as an endless run of empty datagrams (the server counts exactly the one sent). */
START_TEST(a_closed_udp_socket_sends_nothing_more)
{
	struct udp_server echo;
	udp_server_start(&echo);
	uint16_t port;
	int counter = udp_bound("127.0.0.1", &port);
	char counter_port[16], echo_port[16];
	snprintf(counter_port, sizeof(counter_port), "%u", port);
	snprintf(echo_port, sizeof(echo_port), "%u", echo.port);
	const char *script =
		"import socket, sys\n"
		"s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
		"s.connect(('127.0.0.1', int(sys.argv[1])))\n"
		"s.send(b'one')\n"
		"s.close()\n"
		"e = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
		"e.settimeout(30)\n"
		"for i in range(20):\n"
		"    e.sendto(b'x', ('127.0.0.1', int(sys.argv[2])))\n"
		"    e.recvfrom(10)\n"
		"print('done')\n";
	const char *argv[] = { python(), "-c", script, counter_port, echo_port, NULL };
	struct sandboxed run;
	int status = sandbox_run(&run, true, argv);
	int reached = datagrams_queued(counter);
	close(counter);
	udp_server_stop(&echo);
	ck_assert_msg(exited_with(status, 0), "output: %s", run.text);
	ck_assert_msg(reached == 1, "%d datagrams reached the server; output: %s", reached,
		      run.text);
}
END_TEST

/* The same race on a UDP socket never connected: its first sendto makes the unconnected
 * placeholder, and each datagram is judged on the address sbrun copied. */
START_TEST(a_thread_rewriting_the_address_of_an_unconnected_sendto_never_reaches_the_denied_host)
{
	assert_udp_race_never_reaches_the_denied_host("udp-unconnected");
}
END_TEST

/* A port on the host that does not answer: a listener whose accept queue one connection of
 * the test fills (a full queue drops each SYN, so a connect stays in SYN_SENT). Returns the
 * listener; the filling connection in *filler. */
static int
silent_port(uint16_t *port, int *filler)
{
	*port = 0;
	int fd = listen_on("127.0.0.1", port);
	ck_assert_int_eq(listen(fd, 0), 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(*port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(*filler, 0);
	ck_assert_int_eq(connect(*filler, (struct sockaddr *)&sin, sizeof(sin)), 0);
	/* Queued once the listener is readable. */
	struct pollfd queued = { .fd = fd, .events = POLLIN };
	ck_assert_int_eq(poll(&queued, 1, RUN_TIMEOUT_MS), 1);
	return fd;
}

/* A handed-over TCP socket the program shuts down during its handshake is a host socket again
 * unbound: sbrun refuses its bind and its listen (EINVAL), which would hold a port or a source
 * address on the host, or listen there, without the policy's judgement. */
START_TEST(a_handed_over_socket_shut_down_while_connecting_cannot_bind_or_listen)
{
	uint16_t port;
	int filler;
	int silent = silent_port(&port, &filler);
	char port_text[16];
	snprintf(port_text, sizeof(port_text), "%u", port);
	const char *script =
		"import errno, socket, sys\n"
		"def outcome(what, call):\n"
		"    try:\n"
		"        call()\n"
		"        print(what, 0)\n"
		"    except OSError as e:\n"
		"        print(what, errno.errorcode.get(e.errno, e.errno))\n"
		"s = socket.socket()\n"
		"s.setblocking(False)\n"
		"outcome('connect', lambda: s.connect(('127.0.0.1', int(sys.argv[1]))))\n"
		"outcome('shutdown', lambda: s.shutdown(socket.SHUT_RDWR))\n"
		"outcome('bind', lambda: s.bind(('127.0.0.1', 0)))\n"
		"outcome('listen', lambda: s.listen(1))\n"
		"t = socket.socket()\n"
		"outcome('sandbox-bind', lambda: t.bind(('127.0.0.1', 0)))\n";
	const char *argv[] = { python(), "-c", script, port_text, NULL };
	struct sandboxed run;
	int status = sandbox_run(&run, true, argv);
	close(filler);
	close(silent);
	ck_assert_msg(exited_with(status, 0), "output: %s", run.text);
	/* Handed over while connecting, then shut down. */
	ck_assert_msg(strstr(run.text, "connect EINPROGRESS\n"), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "shutdown 0\n"), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "bind EINVAL\n"), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "listen EINVAL\n"), "output: %s", run.text);
	/* A socket of the sandbox still binds. */
	ck_assert_msg(strstr(run.text, "sandbox-bind 0\n"), "output: %s", run.text);
}
END_TEST

/* The descriptor races a listen and a bind: a host socket (handed over, shut down while
 * connecting) and an AF_UNIX socket take turns at the number. sbrun acts on the file it
 * inspected, never letting the kernel act on whatever the number holds by then: the host
 * socket ends neither listening nor bound. */
START_TEST(a_thread_swapping_the_descriptor_during_listen_never_makes_a_host_socket_listen)
{
	const char *race = getenv("SBRUN_RACE");
	ck_assert_msg(race != NULL, "SBRUN_RACE must name the race program");
	uint16_t port;
	int filler;
	int silent = silent_port(&port, &filler);
	char silent_text[16], denied[16];
	snprintf(silent_text, sizeof(silent_text), "%u", port);
	snprintf(denied, sizeof(denied), "%u", denied_port);
	const char *argv[] = { race,   "swap-listen", "127.0.0.1", silent_text, DENIED_HOST,
			       denied, "2000",        NULL };
	struct sandboxed run;
	int status = sandbox_run(&run, true, argv);
	close(filler);
	close(silent);
	/* Its end only: sbrun says each refusal. */
	size_t length = strlen(run.text);
	const char *tail = run.text + (length > 400 ? length - 400 : 0);
	ck_assert_msg(exited_with(status, 0), "output ends: %s", tail);
	ck_assert_msg(strstr(run.text, "host-listening 0 host-bound 0\n"), "output ends: %s", tail);
}
END_TEST

/* A stream socket of another protocol than TCP (here MPTCP, whose subflows, like an SCTP
 * association's peers, change through calls sbrun does not trap) is not connected:
 * EPROTONOSUPPORT, while a TCP socket of the same program is. */
START_TEST(a_stream_socket_of_another_protocol_than_tcp_is_refused)
{
	char port_text[16];
	snprintf(port_text, sizeof(port_text), "%u", page.port);
	const char *script =
		"import errno, socket, sys\n"
		"for name, proto in (('mptcp', 262), ('tcp', socket.IPPROTO_TCP), ('default', 0)):\n"
		"    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)\n"
		"    try:\n"
		"        s.connect(('127.0.0.1', int(sys.argv[1])))\n"
		"        print(name, 0)\n"
		"    except OSError as e:\n"
		"        print(name, errno.errorcode.get(e.errno, e.errno))\n"
		"    s.close()\n";
	const char *argv[] = { python(), "-c", script, port_text, NULL };
	struct sandboxed run;
	int status = sandbox_run(&run, true, argv);
	ck_assert_msg(exited_with(status, 0), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "mptcp EPROTONOSUPPORT\n"), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "tcp 0\n"), "output: %s", run.text);
	ck_assert_msg(strstr(run.text, "default 0\n"), "output: %s", run.text);
}
END_TEST

static Suite *
sbrun_suite(void)
{
	Suite *s = suite_create("sbrun");
	const struct fixture_case cases[] = {
		{ "curl", curl_fetches_a_page_from_the_host },
		{ "python", python_without_the_drop_in_fetches_a_page_with_blocking_sockets },
		{ "node", node_fetches_a_page },
		{ "nc", nc_talks_to_a_server_on_the_host },
		{ "nonblocking",
		  a_non_blocking_connect_stays_non_blocking_and_keeps_the_programs_choices },
		{ "denied",
		  a_denied_destination_answers_the_policys_errno_and_the_socket_stays_unconnected },
		{ "errors", a_refused_connect_and_bad_arguments_answer_as_the_kernel_would },
		{ "unix", a_unix_socket_connect_stays_local_with_a_relative_path },
		{ "race-tcp",
		  a_thread_rewriting_the_address_during_connect_never_reaches_the_denied_host },
		{ "wget", wget_fetches_a_page_from_the_host },
		{ "git", git_clones_a_repository_over_http_from_the_host },
		{ "https", curl_fetches_a_page_over_https_from_a_local_tls_server },
		{ "ssh", ssh_runs_a_command_on_a_local_sshd },
		{ "dns-tcp", the_c_librarys_name_lookups_over_tcp_reach_a_dns_server_on_the_host },
		{ "dns-udp", the_c_librarys_name_lookups_over_udp_reach_a_dns_server_on_the_host },
		{ "race-swap",
		  a_thread_swapping_the_descriptor_during_connect_never_frees_a_handed_over_socket },
		{ "udp", python_talks_udp_to_the_host_on_a_connected_socket },
		{ "nc-udp", nc_talks_udp_to_the_host },
		{ "denied-udp", a_denied_udp_destination_is_refused_for_connect_and_sendto },
		{ "race-udp",
		  a_thread_rewriting_the_address_during_sendto_never_reaches_the_denied_host },
		{ "server", an_http_server_under_sbrun_is_reached_from_the_host },
		{ "listener", a_listener_under_sbrun_keeps_the_kernels_accept_semantics },
		{ "status", sbrun_exits_with_the_programs_status_and_dies_of_its_signal },
		{ "signals", sbrun_forwards_signals_to_the_program },
		{ "children", children_and_threads_of_the_program_are_served },
		{ "usage", bad_command_lines_and_a_missing_program_are_errors },
		{ "udp-unconnected", python_talks_udp_to_the_host_on_an_unconnected_socket },
		{ "denied-udp-unconnected",
		  a_denied_destination_of_an_unconnected_udp_socket_is_refused_per_datagram },
		{ "errors-udp-unconnected",
		  bad_addresses_of_an_unconnected_udp_socket_answer_as_the_kernel_would },
		{ "udp-server", a_udp_server_under_sbrun_answers_peers_on_the_host },
		{ "bind-tcp", a_tcp_socket_bound_before_connect_keeps_its_port },
		{ "udp-close", a_closed_udp_socket_sends_nothing_more },
		{ "race-udp-unconnected",
		  a_thread_rewriting_the_address_of_an_unconnected_sendto_never_reaches_the_denied_host },
		{ "host-socket",
		  a_handed_over_socket_shut_down_while_connecting_cannot_bind_or_listen },
		{ "protocol", a_stream_socket_of_another_protocol_than_tcp_is_refused },
		{ "race-listen",
		  a_thread_swapping_the_descriptor_during_listen_never_makes_a_host_socket_listen },
	};
	fixture_add_cases(s, cases, sizeof(cases) / sizeof(cases[0]), setup, teardown, 120);
	return s;
}

int
main(void)
{
	return fixture_run(sbrun_suite());
}
