/*
 * Remote clients (tcp:// and tls+tcp://) against the real daemon: dead-peer
 * detection with TCP keepalive.
 *
 * A client "vanishes" as a crashed host or a NAT that forgot the flow does:
 * its end of the connection disappears without a FIN or a reset. The test
 * does this with TCP_REPAIR (root or CAP_NET_ADMIN): a socket closed in
 * repair mode goes away silently. Only the daemon's keepalive probes can
 * then notice the peer is gone.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "fixture.h"
#include "sockbroker.h"

/* Probes after 1 s of silence, one every second, the first unanswered one ends it. */
#define KEEPALIVE_CONFIG \
	"{\"remote\": {\"keepalive_idle_s\": 1, \"keepalive_interval_s\": 1, " \
	"\"keepalive_count\": 1}}"

/* How long a vanished client's session may take to end: keepalive (about 2 s here)
 * with ample room for a loaded machine; the default keepalive (30 s idle) exceeds it. */
#define VANISH_WAIT_MS 15000

static char tcp_url[64];
static uint16_t daemon_port;

static uint16_t
free_tcp_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

static void
start(const char *config)
{
	client = NULL;
	daemon_port = free_tcp_port();
	snprintf(tcp_url, sizeof(tcp_url), "tcp://127.0.0.1:%u", daemon_port);
	test_daemon_start_listening(&daemon_under_test, config, tcp_url);
}

static void
teardown(void)
{
	fixture_stop();
}

static struct sb_client *
connect_tcp(const char *name)
{
	struct sb_client_options options = { .url = tcp_url, .client_name = name };
	struct sb_client *c = NULL;
	struct sb_error err;

	ck_assert_msg(sb_client_new_with(&c, &options, &err) == 0, "%s", err.message);
	return c;
}

/* The descriptor of this process's TCP connection to the daemon, or -1. */
static int
daemon_connection_fd(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1;

	if (!dir)
		return -1;
	while (found < 0 && (e = readdir(dir))) {
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);
		int fd = atoi(e->d_name);

		if (e->d_name[0] == '.' || fd == dirfd(dir))
			continue;
		if (getpeername(fd, (struct sockaddr *)&peer, &len) == 0 &&
		    peer.sin_family == AF_INET && ntohs(peer.sin_port) == daemon_port)
			found = fd;
	}
	closedir(dir);
	return found;
}

/* In a child: connect over tcp://, open a TCP listener through the daemon, write its port
 * to `out` (0 when the connection cannot be made to vanish), and vanish. */
static void
vanishing_client(int out)
{
	struct sb_client *c = connect_tcp("vanishing");
	struct sb_error err;
	struct sb_addr addr, local;
	sb_handle h;
	uint16_t port = 0;
	int one = 1;

	sb_addr_inet(&addr, "127.0.0.1", 0);
	if (sb_socket(c, AF_INET, SOCK_STREAM, 0, &h, &err) < 0 ||
	    sb_bind(c, h, &addr, &err) < 0 || sb_listen(c, h, 4, &err) < 0)
		_exit(2);
	/* The last reply is acknowledged now (TCP_QUICKACK sends a delayed ACK still
	 * pending): else the daemon would retransmit it, get a reset and notice without
	 * keepalive. */
	int fd = daemon_connection_fd();
	if (fd < 0 || sb_getsockname(c, h, &local, &err) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one)) < 0)
		_exit(2);
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &one, sizeof(one)) == 0)
		port = local.port;
	if (write(out, &port, sizeof(port)) != (ssize_t)sizeof(port))
		_exit(3);
	_exit(0); /* the connection goes without a FIN: it was in repair mode */
}

START_TEST(keepalive_ends_a_vanished_clients_session)
{
	int pipefd[2], status;
	uint16_t port = 0;

	start(KEEPALIVE_CONFIG);
	int fds_before = test_daemon_fd_count(&daemon_under_test);
	ck_assert_int_eq(pipe(pipefd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(pipefd[0]);
		vanishing_client(pipefd[1]);
	}
	close(pipefd[1]);
	ssize_t n = read(pipefd[0], &port, sizeof(port));
	close(pipefd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the vanishing client failed before it vanished (status %d)", status);
	ck_assert_int_eq(n, (ssize_t)sizeof(port));
	if (port == 0) {
		test_skip("keepalive_ends_a_vanished_clients_session",
			  "TCP_REPAIR is not allowed here (needs CAP_NET_ADMIN)");
		return;
	}

	/* The session's connection and listener live until the daemon notices the client
	 * is gone. */
	ck_assert_int_eq(test_daemon_fd_count(&daemon_under_test), fds_before + 2);
	int fds = test_daemon_wait_fd_count(&daemon_under_test, fds_before, VANISH_WAIT_MS);
	ck_assert_msg(fds == fds_before,
		      "the session of a vanished client still holds its connection and listener "
		      "after %d ms (%d descriptors open, %d before)",
		      VANISH_WAIT_MS, fds, fds_before);
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("resume");
	const struct fixture_case cases[] = {
		{ "keepalive_ends_a_vanished_clients_session",
		  keepalive_ends_a_vanished_clients_session },
	};

	fixture_add_cases(suite, cases, sizeof(cases) / sizeof(cases[0]), NULL, teardown, 60);
	return fixture_run(suite);
}
