/*
 * The real daemon, through the C library: every operation's success path,
 * its OS-error path and its bad-input path, blocking/timeout/non-blocking
 * modes, ordering, cancellation, sessions that end, and fds that must not
 * leak. Each test starts its own daemon on an ipc:// path in a temporary
 * directory and stops it by pid, checking that it exits cleanly.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "fixture.h"
#include "raw.h"
#include "servers.h"
#include "sockbroker.h"


static void
start_with(const char *config_json)
{
	fixture_start(config_json, "test-daemon");
}

static void
setup(void)
{
	start_with(NULL);
}

static void
teardown(void)
{
	fixture_stop();
}

static void
connect_to(sb_handle h, int family, const char *host, uint16_t port)
{
	struct sb_addr addr;
	struct sb_error err;
	if (family == AF_INET6)
		sb_addr_inet6(&addr, host, port, 0, 0);
	else
		sb_addr_inet(&addr, host, port);
	int r = sb_connect(client, h, &addr, &err);
	ck_assert_msg(r == 0, "connect %s:%u: %s", host, port, err.message);
}

/* ---- TCP, UDP, UNIX ----------------------------------------------------- */

START_TEST(tcp_echo_over_ipv4)
{
	struct echo_server server;
	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_STREAM), 0);
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	connect_to(h, AF_INET, "127.0.0.1", server.port);
	fixture_echo(h, "hello over ipv4");

	struct sb_addr peer, local;
	struct sb_error err;
	ck_assert_int_eq(sb_getpeername(client, h, &peer, &err), 0);
	ck_assert_str_eq(peer.host, "127.0.0.1");
	ck_assert_uint_eq(peer.port, server.port);
	ck_assert_int_eq(sb_getsockname(client, h, &local, &err), 0);
	ck_assert_str_eq(local.host, "127.0.0.1");
	ck_assert_uint_ne(local.port, 0);
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	echo_server_stop(&server);
}
END_TEST

START_TEST(tcp_echo_over_ipv6)
{
	struct echo_server server;
	if (echo_server_start(&server, AF_INET6, SOCK_STREAM) < 0) {
		test_skip("tcp_echo_over_ipv6", "no IPv6 on this host");
		return;
	}
	sb_handle h = fixture_socket(AF_INET6, SOCK_STREAM);
	connect_to(h, AF_INET6, "::1", server.port);
	fixture_echo(h, "hello over ipv6");
	struct sb_addr peer;
	struct sb_error err;
	ck_assert_int_eq(sb_getpeername(client, h, &peer, &err), 0);
	ck_assert_int_eq(peer.family, AF_INET6);
	ck_assert_str_eq(peer.host, "::1");
	sb_close(client, h, NULL);
	echo_server_stop(&server);
}
END_TEST

START_TEST(tcp_connect_by_host_name_resolves_in_the_daemon)
{
	struct echo_server server;
	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_STREAM), 0);
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	connect_to(h, AF_INET, "localhost", server.port);
	fixture_echo(h, "by name");
	sb_close(client, h, NULL);
	echo_server_stop(&server);
}
END_TEST

START_TEST(connect_to_an_unknown_host_name_is_a_gai_error)
{
	struct sb_addr addr;
	struct sb_error err;
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	sb_addr_inet(&addr, "no-such-host.invalid", 80);
	int r = sb_connect(client, h, &addr, &err);
	ck_assert_int_lt(r, 0);
	ck_assert_int_eq(err.kind, SB_ERR_GAI);
	ck_assert_int_ne(err.gai_code, 0);
	/* The session and the handle go on. */
	struct sb_addr local;
	ck_assert_int_eq(sb_getsockname(client, h, &local, &err), 0);
}
END_TEST

START_TEST(udp_sendto_and_recvfrom)
{
	struct echo_server server;
	struct sb_addr to, from;
	struct sb_error err;
	char buf[64];
	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_DGRAM), 0);
	sb_handle h;
	ck_assert_int_eq(sb_socket(client, AF_INET, SOCK_DGRAM, 0, &h, &err), 0);
	sb_addr_inet(&to, "127.0.0.1", server.port);
	ck_assert_int_eq(sb_sendto(client, h, "datagram", 8, 0, &to, &err), 8);
	ssize_t n = sb_recvfrom(client, h, buf, sizeof(buf), 0, &from, &err);
	ck_assert_int_eq(n, 8);
	ck_assert(memcmp(buf, "datagram", 8) == 0);
	ck_assert_str_eq(from.host, "127.0.0.1");
	ck_assert_uint_eq(from.port, server.port);
	sb_close(client, h, NULL);
	echo_server_stop(&server);
}
END_TEST

START_TEST(unix_path_echo)
{
	struct echo_server server;
	char path[300];
	snprintf(path, sizeof(path), "%s/echo.sock", daemon_under_test.dir);
	ck_assert_int_eq(echo_server_start_unix(&server, path, 0), 0);
	sb_handle h = fixture_socket(AF_UNIX, SOCK_STREAM);
	struct sb_addr addr;
	struct sb_error err;
	ck_assert_int_eq(sb_addr_unix(&addr, path), 0);
	ck_assert_int_eq(sb_connect(client, h, &addr, &err), 0);
	fixture_echo(h, "over a unix path");
	struct sb_addr peer;
	ck_assert_int_eq(sb_getpeername(client, h, &peer, &err), 0);
	ck_assert_int_eq(peer.family, AF_UNIX);
	ck_assert_int_eq(peer.abstract, 0);
	ck_assert_uint_eq(peer.path_len, strlen(path));
	ck_assert(memcmp(peer.path, path, peer.path_len) == 0);
	sb_close(client, h, NULL);
	echo_server_stop(&server);
	unlink(path);
}
END_TEST

START_TEST(unix_abstract_echo)
{
	struct echo_server server;
	char name[64];
	snprintf(name, sizeof(name), "sockbroker-test-%d", (int)getpid());
	ck_assert_int_eq(echo_server_start_unix(&server, name, 1), 0);
	sb_handle h = fixture_socket(AF_UNIX, SOCK_STREAM);
	struct sb_addr addr;
	struct sb_error err;
	ck_assert_int_eq(sb_addr_abstract(&addr, name, strlen(name)), 0);
	ck_assert_int_eq(sb_connect(client, h, &addr, &err), 0);
	fixture_echo(h, "over an abstract name");
	struct sb_addr peer;
	ck_assert_int_eq(sb_getpeername(client, h, &peer, &err), 0);
	ck_assert(peer.abstract);
	ck_assert_uint_eq(peer.path_len, strlen(name));
	sb_close(client, h, NULL);
	echo_server_stop(&server);
}
END_TEST

/* A brokered server and a brokered client: bind, listen, accept. */
START_TEST(brokered_listener_accepts_a_brokered_connection)
{
	struct sb_addr addr, bound, peer;
	struct sb_error err;
	sb_handle listener = fixture_socket(AF_INET, SOCK_STREAM), conn, accepted;
	ck_assert_int_eq(sb_setsockopt_int(client, listener, SOL_SOCKET, SO_REUSEADDR, 1, &err), 0);
	sb_addr_inet(&addr, "127.0.0.1", 0);
	ck_assert_int_eq(sb_bind(client, listener, &addr, &err), 0);
	ck_assert_int_eq(sb_listen(client, listener, SB_BACKLOG_DEFAULT, &err), 0);
	ck_assert_int_eq(sb_getsockname(client, listener, &bound, &err), 0);
	conn = fixture_socket(AF_INET, SOCK_STREAM);
	connect_to(conn, AF_INET, "127.0.0.1", bound.port);
	ck_assert_int_eq(sb_accept(client, listener, &accepted, &peer, &err), 0);
	ck_assert_str_eq(peer.host, "127.0.0.1");

	char buf[16];
	ck_assert_int_eq(sb_send(client, conn, "ping", 4, 0, &err), 4);
	ck_assert_int_eq(sb_recv(client, accepted, buf, sizeof(buf), 0, &err), 4);
	ck_assert(memcmp(buf, "ping", 4) == 0);
	/* shutdown(SHUT_WR) is seen by the peer as end of stream. */
	ck_assert_int_eq(sb_shutdown(client, conn, SHUT_WR, &err), 0);
	ck_assert_int_eq(sb_recv(client, accepted, buf, sizeof(buf), 0, &err), 0);
	ck_assert_int_eq(sb_shutdown(client, conn, 42, &err), -EINVAL);
	ck_assert_int_eq(err.kind, SB_ERR_OS);
}
END_TEST

/* ---- recv flags --------------------------------------------------------- */

START_TEST(msg_peek_leaves_the_data_for_the_next_recv)
{
	struct echo_server server;
	struct sb_error err;
	char buf[32];
	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_STREAM), 0);
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	connect_to(h, AF_INET, "127.0.0.1", server.port);
	ck_assert_int_eq(sb_sendall(client, h, "peekaboo", 8, 0, &err), 0);
	ssize_t n = sb_recv(client, h, buf, 4, MSG_PEEK | MSG_WAITALL, &err);
	ck_assert_int_eq(n, 4);
	ck_assert(memcmp(buf, "peek", 4) == 0);
	ck_assert_int_eq(sb_recv(client, h, buf, 8, MSG_WAITALL, &err), 8);
	ck_assert(memcmp(buf, "peekaboo", 8) == 0);
	sb_close(client, h, NULL);
	echo_server_stop(&server);
}
END_TEST

struct delayed_send {
	sb_handle h;
	const char *text;
	int delay_ms;
};

static void *
send_later(void *arg)
{
	struct delayed_send *job = arg;
	struct timespec ts = { 0, (long)job->delay_ms * 1000000L };
	nanosleep(&ts, NULL);
	sb_sendall(client, job->h, job->text, strlen(job->text), 0, NULL);
	return NULL;
}

START_TEST(msg_waitall_in_blocking_mode_waits_for_the_whole_buffer)
{
	struct sb_error err;
	struct sb_addr addr, bound;
	sb_handle listener = fixture_socket(AF_INET, SOCK_STREAM), a = fixture_socket(AF_INET, SOCK_STREAM), b;
	sb_addr_inet(&addr, "127.0.0.1", 0);
	sb_bind(client, listener, &addr, &err);
	sb_listen(client, listener, 1, &err);
	sb_getsockname(client, listener, &bound, &err);
	connect_to(a, AF_INET, "127.0.0.1", bound.port);
	ck_assert_int_eq(sb_accept(client, listener, &b, NULL, &err), 0);

	ck_assert_int_eq(sb_sendall(client, a, "first-", 6, 0, &err), 0);
	struct delayed_send job = { a, "second", 150 };
	pthread_t thread;
	pthread_create(&thread, NULL, send_later, &job);
	char buf[16];
	ck_assert_int_eq(sb_recv(client, b, buf, 12, MSG_WAITALL, &err), 12);
	ck_assert(memcmp(buf, "first-second", 12) == 0);
	pthread_join(thread, NULL);
}
END_TEST

START_TEST(msg_dontwait_answers_eagain_in_blocking_mode)
{
	struct echo_server server;
	struct sb_error err;
	char buf[8];
	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_STREAM), 0);
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	connect_to(h, AF_INET, "127.0.0.1", server.port);
	ck_assert_int_eq(sb_recv(client, h, buf, sizeof(buf), MSG_DONTWAIT, &err), -EAGAIN);
	ck_assert_str_eq(err.errno_name, "EAGAIN");
	sb_close(client, h, NULL);
	echo_server_stop(&server);
}
END_TEST

/* ---- timeouts and modes ---------------------------------------------------- */

START_TEST(recv_in_timeout_mode_answers_timed_out)
{
	struct echo_server server;
	struct sb_error err;
	char buf[8];
	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_STREAM), 0);
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	connect_to(h, AF_INET, "127.0.0.1", server.port);
	ck_assert_int_eq(sb_settimeout(client, h, 0.2, &err), 0);
	double timeout;
	ck_assert_int_eq(sb_gettimeout(client, h, &timeout, &err), 0);
	ck_assert(timeout > 0.199 && timeout < 0.201);
	int64_t start = test_now_ms();
	ssize_t n = sb_recv(client, h, buf, sizeof(buf), 0, &err);
	int64_t elapsed = test_now_ms() - start;
	ck_assert_int_eq(n, -ETIMEDOUT);
	ck_assert_int_eq(err.kind, SB_ERR_TIMEOUT);
	ck_assert_str_eq(err.message, "timed out");
	ck_assert_int_ge(elapsed, 190);
	/* The socket still works after a timeout. */
	fixture_echo(h, "after the timeout");
	sb_close(client, h, NULL);
	echo_server_stop(&server);
}
END_TEST

START_TEST(nonblocking_recv_answers_eagain)
{
	struct echo_server server;
	struct sb_error err;
	char buf[8];
	bool blocking;
	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_STREAM), 0);
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	connect_to(h, AF_INET, "127.0.0.1", server.port);
	ck_assert_int_eq(sb_getblocking(client, h, &blocking, &err), 0);
	ck_assert(blocking);
	ck_assert_int_eq(sb_setblocking(client, h, false, &err), 0);
	ck_assert_int_eq(sb_getblocking(client, h, &blocking, &err), 0);
	ck_assert(!blocking);
	ck_assert_int_eq(sb_recv(client, h, buf, sizeof(buf), 0, &err), -EAGAIN);
	ck_assert_int_eq(err.kind, SB_ERR_OS);
	ck_assert_str_eq(err.errno_name, "EAGAIN");
	sb_close(client, h, NULL);
	echo_server_stop(&server);
}
END_TEST

START_TEST(nonblocking_connect_answers_einprogress_or_connects)
{
	struct echo_server server;
	struct sb_error err;
	struct sb_addr addr;
	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_STREAM), 0);
	sb_handle h;
	ck_assert_int_eq(sb_socket(client, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0, &h, &err), 0);
	double timeout;
	ck_assert_int_eq(sb_gettimeout(client, h, &timeout, &err), 0);
	ck_assert(timeout == 0.0);
	sb_addr_inet(&addr, "127.0.0.1", server.port);
	int r = sb_connect(client, h, &addr, &err);
	ck_assert_msg(r == 0 || r == -EINPROGRESS, "connect: %d %s", r, err.message);
	sb_close(client, h, NULL);
	echo_server_stop(&server);
}
END_TEST

START_TEST(connect_to_a_closed_port_is_econnrefused_by_name)
{
	struct sb_error err;
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	struct sb_addr addr;
	sb_addr_inet(&addr, "127.0.0.1", closed_tcp_port());
	ck_assert_int_eq(sb_connect(client, h, &addr, &err), -ECONNREFUSED);
	ck_assert_int_eq(err.kind, SB_ERR_OS);
	ck_assert_str_eq(err.errno_name, "ECONNREFUSED");
	ck_assert_str_eq(err.message, strerror(ECONNREFUSED));

	int result = -1;
	sb_handle h2 = fixture_socket(AF_INET, SOCK_STREAM);
	ck_assert_int_eq(sb_connect_ex(client, h2, &addr, &result, &err), 0);
	ck_assert_int_eq(result, ECONNREFUSED);
}
END_TEST

/*
 * A listener whose accept queue is full drops new SYNs, so a connect to it
 * hangs: a non-answering address that stays on loopback.
 */
static int
full_listener(uint16_t *port, int *fillers, int *n_fillers)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 0), 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	*port = ntohs(sin.sin_port);
	*n_fillers = 0;
	for (int i = 0; i < 8; i++) {
		int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		connect(c, (struct sockaddr *)&sin, sizeof(sin));
		fillers[(*n_fillers)++] = c;
		struct pollfd pfd = { .fd = c, .events = POLLOUT };
		if (poll(&pfd, 1, 200) == 0)
			break; /* this one hangs: the queue is full */
	}
	return fd;
}

START_TEST(connect_with_a_timeout_to_a_non_answering_address_times_out)
{
	int fillers[8], n_fillers;
	uint16_t port;
	int listener = full_listener(&port, fillers, &n_fillers);
	struct sb_error err;
	struct sb_addr addr;
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	ck_assert_int_eq(sb_settimeout(client, h, 0.3, &err), 0);
	sb_addr_inet(&addr, "127.0.0.1", port);
	int64_t start = test_now_ms();
	ck_assert_int_eq(sb_connect(client, h, &addr, &err), -ETIMEDOUT);
	ck_assert_int_eq(err.kind, SB_ERR_TIMEOUT);
	ck_assert_str_eq(err.message, "timed out");
	ck_assert_int_ge(test_now_ms() - start, 290);

	/* connect_ex reports its timeout as EAGAIN, as the reference does. */
	int result = 0;
	sb_handle h2 = fixture_socket(AF_INET, SOCK_STREAM);
	sb_settimeout(client, h2, 0.2, &err);
	ck_assert_int_eq(sb_connect_ex(client, h2, &addr, &result, &err), 0);
	ck_assert_int_eq(result, EAGAIN);
	for (int i = 0; i < n_fillers; i++)
		close(fillers[i]);
	close(listener);
}
END_TEST

START_TEST(accept_in_timeout_mode_times_out)
{
	struct sb_error err;
	struct sb_addr addr;
	sb_handle listener = fixture_socket(AF_INET, SOCK_STREAM), conn;
	sb_addr_inet(&addr, "127.0.0.1", 0);
	sb_bind(client, listener, &addr, &err);
	ck_assert_int_eq(sb_listen(client, listener, 4, &err), 0);
	sb_settimeout(client, listener, 0.1, &err);
	ck_assert_int_eq(sb_accept(client, listener, &conn, NULL, &err), -ETIMEDOUT);
	ck_assert_int_eq(err.kind, SB_ERR_TIMEOUT);
}
END_TEST

START_TEST(negative_or_nan_timeouts_are_bad_requests)
{
	struct sb_error err;
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	ck_assert_int_lt(sb_settimeout(client, h, -5.0, &err), 0);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_REQUEST);
	ck_assert(strstr(err.message, "out of range"));
	ck_assert_int_lt(sb_settimeout(client, h, 0.0 / 0.0, &err), 0);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_REQUEST);
	/* The handle is untouched. */
	double timeout = 1;
	ck_assert_int_eq(sb_gettimeout(client, h, &timeout, &err), 0);
	ck_assert(timeout == SB_TIMEOUT_NONE);
}
END_TEST

/* ---- parked operations: ordering, close, cancel -------------------------- */

START_TEST(pipelined_sendall_pieces_arrive_in_order)
{
	/* A small message size makes sb_sendall split 1 MiB into pieces that
	 * travel as separate, pipelined requests. */
	sb_client_free(client);
	ck_assert_int_eq(test_daemon_stop(&daemon_under_test), 0);
	start_with("{\"limits\": {\"max_message_size\": 65536}}");

	struct sb_error err;
	struct sb_addr addr, bound;
	sb_handle listener = fixture_socket(AF_INET, SOCK_STREAM), a = fixture_socket(AF_INET, SOCK_STREAM), b;
	sb_addr_inet(&addr, "127.0.0.1", 0);
	sb_bind(client, listener, &addr, &err);
	sb_listen(client, listener, 1, &err);
	sb_getsockname(client, listener, &bound, &err);
	connect_to(a, AF_INET, "127.0.0.1", bound.port);
	ck_assert_int_eq(sb_accept(client, listener, &b, NULL, &err), 0);

	size_t size = 1 << 20;
	uint32_t *out = malloc(size), *in = malloc(size);
	for (size_t i = 0; i < size / 4; i++)
		out[i] = (uint32_t)i;

	/* The reader drains concurrently so that the sender's pieces park. */
	struct reader {
		sb_handle h;
		uint8_t *buf;
		size_t size;
		ssize_t got;
	} reader = { b, (uint8_t *)in, size, 0 };
	void *read_all(void *arg);
	pthread_t thread;
	pthread_create(&thread, NULL, read_all, &reader);
	ck_assert_int_eq(sb_sendall(client, a, out, size, 0, &err), 0);
	pthread_join(thread, NULL);
	ck_assert_int_eq(reader.got, (ssize_t)size);
	for (size_t i = 0; i < size / 4; i++)
		ck_assert_msg(in[i] == (uint32_t)i, "word %zu is %u", i, in[i]);
	free(out);
	free(in);
}
END_TEST

void *read_all(void *arg);

void *
read_all(void *arg)
{
	struct reader {
		sb_handle h;
		uint8_t *buf;
		size_t size;
		ssize_t got;
	} *reader = arg;
	while ((size_t)reader->got < reader->size) {
		ssize_t n = sb_recv(client, reader->h, reader->buf + reader->got,
				    reader->size - (size_t)reader->got, 0, NULL);
		if (n <= 0)
			break;
		reader->got += n;
	}
	return NULL;
}

struct parked_recv {
	sb_handle h;
	ssize_t result;
	struct sb_error err;
};

static void *
recv_and_wait(void *arg)
{
	struct parked_recv *job = arg;
	char buf[8];
	job->result = sb_recv(client, job->h, buf, sizeof(buf), 0, &job->err);
	return NULL;
}

START_TEST(close_completes_a_parked_recv_with_ebadf)
{
	sb_handle h;
	struct sb_error err;
	ck_assert_int_eq(sb_socket(client, AF_UNIX, SOCK_DGRAM, 0, &h, &err), 0);
	struct sb_addr addr;
	char path[300];
	snprintf(path, sizeof(path), "%s/dgram.sock", daemon_under_test.dir);
	sb_addr_unix(&addr, path);
	ck_assert_int_eq(sb_bind(client, h, &addr, &err), 0);

	struct parked_recv job = { .h = h };
	pthread_t thread;
	pthread_create(&thread, NULL, recv_and_wait, &job);
	test_sleep_ms(100);
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	pthread_join(thread, NULL);
	ck_assert_int_eq(job.result, -EBADF);
	ck_assert(strstr(job.err.message, "closed while recv was waiting"));
	/* The handle is gone. */
	ck_assert_int_eq(sb_close(client, h, &err), -EBADF);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_HANDLE);
	unlink(path);
}
END_TEST

START_TEST(cancel_completes_a_parked_recv_with_ecanceled)
{
	sb_handle h;
	struct sb_error err;
	ck_assert_int_eq(sb_socket(client, AF_INET, SOCK_DGRAM, 0, &h, &err), 0);
	struct sb_addr addr;
	sb_addr_inet(&addr, "127.0.0.1", 0);
	ck_assert_int_eq(sb_bind(client, h, &addr, &err), 0);
	struct parked_recv job = { .h = h };
	pthread_t thread;
	pthread_create(&thread, NULL, recv_and_wait, &job);
	unsigned cancelled = 0;
	for (int i = 0; i < 100 && cancelled == 0; i++) {
		test_sleep_ms(20);
		ck_assert_int_eq(sb_cancel_handle(client, h, &cancelled, &err), 0);
	}
	pthread_join(thread, NULL);
	ck_assert_uint_eq(cancelled, 1);
	ck_assert_int_eq(job.result, -ECANCELED);
	ck_assert_int_eq(job.err.kind, SB_ERR_CANCELLED);
	/* The handle itself still works. */
	char buf[4];
	sb_setblocking(client, h, false, &err);
	ck_assert_int_eq(sb_recv(client, h, buf, sizeof(buf), 0, &err), -EAGAIN);
}
END_TEST

/* ---- sessions and bad input ------------------------------------------------ */

START_TEST(a_handle_of_another_session_is_ebadf)
{
	struct sb_client *other;
	struct sb_error err;
	ck_assert_int_eq(sb_client_new(&other, daemon_under_test.url, "other", &err), 0);
	sb_handle mine = fixture_socket(AF_INET, SOCK_STREAM);
	ck_assert_int_eq(sb_close(other, mine, &err), -EBADF);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_HANDLE);
	ck_assert_str_eq(err.errno_name, "EBADF");
	struct sb_addr addr;
	ck_assert_int_eq(sb_getsockname(other, mine, &addr, &err), -EBADF);
	sb_client_free(other);
	/* Still ours and still open. */
	ck_assert_int_eq(sb_getsockname(client, mine, &addr, &err), 0);
}
END_TEST

START_TEST(garbage_request_answers_bad_request_and_the_daemon_keeps_serving)
{
	struct raw_client *raw = raw_connect(daemon_under_test.url, 1);
	static const uint8_t garbage[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02 };
	Sockbroker__V1__Reply *reply = raw_call_bytes(raw, garbage, sizeof(garbage));
	ck_assert_ptr_nonnull(reply);
	ck_assert_ptr_nonnull(reply->error);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__BAD_REQUEST);
	ck_assert(strstr(reply->error->message, "not a valid"));
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	/* An empty request names no operation. */
	reply = raw_call_bytes(raw, "", 0);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__BAD_REQUEST);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	raw_close(raw);

	/* Everyone else is still served. */
	struct echo_server server;
	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_STREAM), 0);
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	connect_to(h, AF_INET, "127.0.0.1", server.port);
	fixture_echo(h, "still serving");
	sb_close(client, h, NULL);
	echo_server_stop(&server);
}
END_TEST

/* A reply's strings are UTF-8 whatever the client sent: getfqdn answers a
 * name it cannot resolve as it was given, its invalid bytes escaped. */
START_TEST(replies_carry_only_utf8_strings)
{
	struct raw_client *raw = raw_connect(daemon_under_test.url, 1);
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HostNameRequest name = SOCKBROKER__V1__HOST_NAME_REQUEST__INIT;
	name.name = "bad\xff\xfe-name.invalid";
	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETFQDN;
	request.getfqdn = &name;
	Sockbroker__V1__Reply *reply = raw_call(raw, &request);
	ck_assert_ptr_nonnull(reply);
	ck_assert_msg(!reply->error, "getfqdn: %s", reply->error ? reply->error->message : "");
	ck_assert_int_eq(reply->result_case, SOCKBROKER__V1__REPLY__RESULT_STRING);
	ck_assert_str_eq(reply->string->value, "bad\\xff\\xfe-name.invalid");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	raw_close(raw);
}
END_TEST

START_TEST(requests_before_hello_are_refused)
{
	struct raw_client *raw = raw_connect(daemon_under_test.url, 0);
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SocketRequest socket_request = SOCKBROKER__V1__SOCKET_REQUEST__INIT;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SOCKET;
	request.socket = &socket_request;
	Sockbroker__V1__Reply *reply = raw_call(raw, &request);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__BAD_REQUEST);
	ck_assert(strstr(reply->error->message, "Hello"));
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	raw_close(raw);
}
END_TEST

static Sockbroker__V1__Reply *
raw_recv(struct raw_client *raw, uint64_t handle, int64_t bufsize)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__RecvRequest recv_request = SOCKBROKER__V1__RECV_REQUEST__INIT;
	recv_request.has_handle = true;
	recv_request.handle = handle;
	recv_request.has_bufsize = true;
	recv_request.bufsize = bufsize;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_RECV;
	request.recv = &recv_request;
	return raw_call(raw, &request);
}

START_TEST(out_of_range_arguments_are_bad_requests_naming_the_field)
{
	struct raw_client *raw = raw_connect(daemon_under_test.url, 1);
	Sockbroker__V1__Reply *reply = raw_recv(raw, 1, -1);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__BAD_REQUEST);
	ck_assert_str_eq(reply->error->message, "negative buffersize in recv");
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	/* A port above 65535. */
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__ConnectRequest connect_request = SOCKBROKER__V1__CONNECT_REQUEST__INIT;
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__InetAddress inet = SOCKBROKER__V1__INET_ADDRESS__INIT;
	inet.host = "127.0.0.1";
	inet.has_port = true;
	inet.port = 70000;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET;
	address.af_inet = &inet;
	connect_request.has_handle = true;
	connect_request.handle = 1;
	connect_request.address = &address;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_CONNECT;
	request.connect = &connect_request;
	reply = raw_call(raw, &request);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__BAD_REQUEST);
	ck_assert_str_eq(reply->error->errno_name, "EOVERFLOW");
	ck_assert(strstr(reply->error->message, "port must be 0-65535"));
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	raw_close(raw);
}
END_TEST

START_TEST(a_request_that_fails_to_decode_still_takes_its_turn_in_sequence)
{
	struct raw_client *raw = raw_connect(daemon_under_test.url, 0);
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__RecvRequest recv_request = SOCKBROKER__V1__RECV_REQUEST__INIT;
	recv_request.has_handle = recv_request.has_bufsize = true;
	recv_request.handle = 1;
	recv_request.bufsize = -1;
	request.has_seq = true;
	request.seq = 1;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_RECV;
	request.recv = &recv_request;
	Sockbroker__V1__Reply *reply = raw_call(raw, &request);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__BAD_REQUEST);
	ck_assert_uint_eq(reply->seq, 1);
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	Sockbroker__V1__Request hello = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HelloRequest hello_request = SOCKBROKER__V1__HELLO_REQUEST__INIT;
	hello.has_seq = true;
	hello.seq = 2;
	hello.op_case = SOCKBROKER__V1__REQUEST__OP_HELLO;
	hello.hello = &hello_request;
	reply = raw_call(raw, &hello);
	ck_assert_ptr_null(reply->error);
	ck_assert_uint_eq(reply->seq, 2);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	raw_close(raw);

}
END_TEST

/*
 * A local process that drops connections before or during the SP handshake, as a hostile one
 * would, stops nothing: the working client keeps its session and handles throughout, and a
 * new client is served at once.
 */
START_TEST(connections_dropped_during_the_handshake_stop_nothing)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/sockbroker.sock", daemon_under_test.dir);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	ck_assert(strlen(path) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path) + 1);
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	struct sb_error err;
	static const uint8_t handshake[8] = { 0, 'S', 'P', 0, 0, 0x30, 0, 0 };
	for (int i = 0; i < 100; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
		if (i % 2)
			ck_assert_int_eq(send(fd, handshake, (size_t)(i % 8), MSG_NOSIGNAL), i % 8);
		close(fd);
		double timeout;
		ck_assert_msg(sb_gettimeout(client, h, &timeout, &err) == 0,
			      "the working client lost its session: %s", err.message);
	}
	int64_t started = test_now_ms();
	struct sb_client *late = NULL;
	ck_assert_msg(sb_client_new(&late, daemon_under_test.url, "late", &err) == 0,
		      "no client was served after the dropped handshakes: %s", err.message);
	sb_handle other;
	ck_assert_int_eq(sb_socket(late, AF_INET, SOCK_STREAM, 0, &other, &err), 0);
	int64_t took = test_now_ms() - started;
	ck_assert_msg(took < 1000, "a new client waited %lld ms", (long long)took);
	sb_client_free(late);
	ck_assert_int_eq(sb_close(client, h, &err), 0);
}
END_TEST

/*
 * Many sessions at once: 1,000 clients connect, each says Hello and opens a socket, and all
 * are served; then they all go and the daemon serves on.
 */
START_TEST(a_thousand_sessions_at_once_are_served)
{
	enum { N = 1000 };
	struct sb_client **many = calloc(N, sizeof(*many));
	struct sb_error err;
	ck_assert_ptr_nonnull(many);
	for (int i = 0; i < N; i++) {
		ck_assert_msg(sb_client_new(&many[i], daemon_under_test.url, "many", &err) == 0,
			      "client %d: %s", i, err.message);
		sb_handle h;
		ck_assert_int_eq(sb_socket(many[i], AF_INET, SOCK_STREAM, 0, &h, &err), 0);
	}
	for (int i = 0; i < N; i++)
		sb_client_free(many[i]);
	free(many);
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	ck_assert_int_eq(sb_close(client, h, &err), 0);
}
END_TEST

/* The context that sent a reply waits for its next request without the reply's timeout: an
 * idle daemon stays quiet, and a request after a long pause is served. */
START_TEST(an_idle_connection_waits_past_the_reply_timeout_without_complaint)
{
	sb_client_free(client);
	ck_assert_int_eq(test_daemon_stop(&daemon_under_test), 0);
	fixture_start("{\"limits\": {\"reply_timeout_ms\": 200}}", "test-daemon");
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	test_sleep_ms(800);
	ck_assert_msg(!test_daemon_wait_log(&daemon_under_test, "receiving a request failed", 0),
		      "a waiting receive timed out");
	struct sb_error err;
	ck_assert_int_eq(sb_close(client, h, &err), 0);
}
END_TEST

START_TEST(socket_errors_are_the_kernels)
{
	sb_handle h;
	struct sb_error err;
	ck_assert_int_eq(sb_socket(client, 4242, SOCK_STREAM, 0, &h, &err), -EAFNOSUPPORT);
	ck_assert_str_eq(err.errno_name, "EAFNOSUPPORT");
	ck_assert_int_lt(sb_socket(client, AF_INET, 4242, 0, &h, &err), 0);
	ck_assert_int_eq(err.kind, SB_ERR_OS);
	ck_assert_int_eq(sb_socket(client, AF_INET, SOCK_DGRAM, IPPROTO_TCP, &h, &err),
			 -EPROTONOSUPPORT);
}
END_TEST

START_TEST(bind_and_listen_errors_are_the_kernels)
{
	struct sb_error err;
	struct sb_addr addr, bound;
	sb_handle a = fixture_socket(AF_INET, SOCK_STREAM), b = fixture_socket(AF_INET, SOCK_STREAM), u;
	sb_addr_inet(&addr, "127.0.0.1", 0);
	ck_assert_int_eq(sb_bind(client, a, &addr, &err), 0);
	ck_assert_int_eq(sb_listen(client, a, 1, &err), 0);
	sb_getsockname(client, a, &bound, &err);
	sb_addr_inet(&addr, "127.0.0.1", bound.port);
	ck_assert_int_eq(sb_bind(client, b, &addr, &err), -EADDRINUSE);
	ck_assert_str_eq(err.errno_name, "EADDRINUSE");
	sb_addr_inet(&addr, "192.0.2.1", 0);
	ck_assert_int_eq(sb_bind(client, b, &addr, &err), -EADDRNOTAVAIL);
	ck_assert_int_eq(sb_socket(client, AF_INET, SOCK_DGRAM, 0, &u, &err), 0);
	ck_assert_int_eq(sb_listen(client, u, 1, &err), -EOPNOTSUPP);
	struct sb_addr peer;
	ck_assert_int_eq(sb_getpeername(client, a, &peer, &err), -ENOTCONN);
}
END_TEST

START_TEST(socket_options_in_int_and_bytes_forms)
{
	struct sb_error err;
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	int value = 0;
	ck_assert_int_eq(sb_setsockopt_int(client, h, SOL_SOCKET, SO_REUSEADDR, 1, &err), 0);
	ck_assert_int_eq(sb_getsockopt_int(client, h, SOL_SOCKET, SO_REUSEADDR, &value, &err), 0);
	ck_assert_int_eq(value, 1);
	ck_assert_int_eq(sb_setsockopt_int(client, h, IPPROTO_TCP, TCP_NODELAY, 1, &err), 0);

	struct linger linger = { 1, 7 }, back = { 0 };
	ck_assert_int_eq(sb_setsockopt(client, h, SOL_SOCKET, SO_LINGER, &linger, sizeof(linger),
				       &err), 0);
	size_t len = sizeof(back);
	ck_assert_int_eq(sb_getsockopt(client, h, SOL_SOCKET, SO_LINGER, &back, &len, &err), 0);
	ck_assert_uint_eq(len, sizeof(back));
	ck_assert_int_eq(back.l_onoff, 1);
	ck_assert_int_eq(back.l_linger, 7);

	ck_assert_int_eq(sb_getsockopt_int(client, h, SOL_SOCKET, 4242, &value, &err),
			 -ENOPROTOOPT);
	ck_assert_int_eq(sb_setsockopt_null(client, h, SOL_SOCKET, SO_LINGER, 8, &err), -EFAULT);
	len = 2000;
	char big[2000];
	ck_assert_int_lt(sb_getsockopt(client, h, SOL_SOCKET, SO_LINGER, big, &len, &err), 0);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_REQUEST);
}
END_TEST

START_TEST(handle_quota_answers_emfile_naming_the_limit)
{
	sb_client_free(client);
	ck_assert_int_eq(test_daemon_stop(&daemon_under_test), 0);
	start_with("{\"limits\": {\"max_handles_per_session\": 3}}");
	struct sb_error err;
	sb_handle h;
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(sb_socket(client, AF_INET, SOCK_STREAM, 0, &h, &err), 0);
	ck_assert_int_eq(sb_socket(client, AF_INET, SOCK_STREAM, 0, &h, &err), -EMFILE);
	ck_assert_int_eq(err.kind, SB_ERR_QUOTA);
	ck_assert(strstr(err.message, "max_handles_per_session"));
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	ck_assert_int_eq(sb_socket(client, AF_INET, SOCK_STREAM, 0, &h, &err), 0);
}
END_TEST

/* ---- leaks ---------------------------------------------------------------- */

START_TEST(a_client_killed_while_its_recv_is_parked_leaves_no_fd_behind)
{
	/* The doomed client is another process (sbcat, parked in recvfrom on
	 * a UDP socket): NNG cannot be used in a forked copy of this one. */
	const char *sbcat = getenv("SBCAT");
	ck_assert_msg(sbcat, "SBCAT must name the sbcat binary");
	int baseline = test_daemon_fd_count(&daemon_under_test);
	ck_assert_int_gt(baseline, 0);
	int input[2];
	ck_assert_int_eq(pipe(input), 0);
	pid_t child = fork();
	ck_assert(child >= 0);
	if (child == 0) {
		dup2(input[0], STDIN_FILENO);
		close(input[1]);
		execl(sbcat, "sbcat", "--broker", daemon_under_test.url, "udp-listen:0",
		      (char *)NULL);
		_exit(127);
	}
	close(input[0]);
	/* Its session brings a socket, and the recv parks. */
	int64_t deadline = test_now_ms() + 5000;
	while (test_daemon_fd_count(&daemon_under_test) <= baseline && test_now_ms() < deadline)
		test_sleep_ms(10);
	test_sleep_ms(100);
	ck_assert_int_gt(test_daemon_fd_count(&daemon_under_test), baseline);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(input[1]);
	int after = test_daemon_wait_fd_count(&daemon_under_test, baseline, 5000);
	ck_assert_int_eq(after, baseline);
}
END_TEST

/* ---- the sandbox ---------------------------------------------------------- */

START_TEST(sbcat_under_unshare_reaches_loopback_while_a_direct_connect_fails)
{
	const char *sbcat = getenv("SBCAT");
	ck_assert_msg(sbcat, "SBCAT must name the sbcat binary");
	struct echo_server server;
	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_STREAM), 0);
	server.upper = 1;

	int out[2];
	ck_assert_int_eq(pipe(out), 0);
	pid_t child = fork();
	ck_assert(child >= 0);
	if (child == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(out[1], STDERR_FILENO);
		if (unshare(CLONE_NEWNET) < 0) {
			printf("SKIP: unshare(CLONE_NEWNET): %s\n", strerror(errno));
			_exit(77);
		}
		/* A direct socket has no network here. */
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(server.port) };
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
			_exit(3);
		printf("direct: %s\n", strerror(errno));
		fflush(stdout);
		int in[2];
		if (pipe(in) < 0 || write(in[1], "through the broker\n", 19) != 19)
			_exit(4);
		close(in[1]);
		dup2(in[0], STDIN_FILENO);
		char target[64];
		snprintf(target, sizeof(target), "tcp:127.0.0.1:%u", server.port);
		execl(sbcat, "sbcat", "--broker", daemon_under_test.url, target, (char *)NULL);
		_exit(5);
	}
	close(out[1]);
	char output[512] = { 0 };
	size_t got = 0;
	ssize_t n;
	while (got < sizeof(output) - 1 &&
	       (n = read(out[0], output + got, sizeof(output) - 1 - got)) > 0)
		got += (size_t)n;
	int status;
	waitpid(child, &status, 0);
	close(out[0]);
	echo_server_stop(&server);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		test_skip("sbcat_under_unshare", "%s", output);
		return;
	}
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sbcat said: %s", output);
	ck_assert_msg(strstr(output, "direct: Network is unreachable"), "output: %s", output);
	ck_assert_msg(strstr(output, "THROUGH THE BROKER"), "output: %s", output);
}
END_TEST

static Suite *
daemon_suite(void)
{
	Suite *s = suite_create("daemon");
	const struct fixture_case cases[] = {
		{ "tcp", tcp_echo_over_ipv4 },
		{ "tcp6", tcp_echo_over_ipv6 },
		{ "resolve", tcp_connect_by_host_name_resolves_in_the_daemon },
		{ "resolve-fail", connect_to_an_unknown_host_name_is_a_gai_error },
		{ "utf8-replies", replies_carry_only_utf8_strings },
		{ "udp", udp_sendto_and_recvfrom },
		{ "unix", unix_path_echo },
		{ "abstract", unix_abstract_echo },
		{ "listener", brokered_listener_accepts_a_brokered_connection },
		{ "peek", msg_peek_leaves_the_data_for_the_next_recv },
		{ "waitall", msg_waitall_in_blocking_mode_waits_for_the_whole_buffer },
		{ "dontwait", msg_dontwait_answers_eagain_in_blocking_mode },
		{ "timeout", recv_in_timeout_mode_answers_timed_out },
		{ "nonblocking", nonblocking_recv_answers_eagain },
		{ "nonblocking-connect", nonblocking_connect_answers_einprogress_or_connects },
		{ "refused", connect_to_a_closed_port_is_econnrefused_by_name },
		{ "connect-timeout", connect_with_a_timeout_to_a_non_answering_address_times_out },
		{ "accept-timeout", accept_in_timeout_mode_times_out },
		{ "bad-timeout", negative_or_nan_timeouts_are_bad_requests },
		{ "order", pipelined_sendall_pieces_arrive_in_order },
		{ "close-parked", close_completes_a_parked_recv_with_ebadf },
		{ "cancel", cancel_completes_a_parked_recv_with_ecanceled },
		{ "foreign", a_handle_of_another_session_is_ebadf },
		{ "garbage", garbage_request_answers_bad_request_and_the_daemon_keeps_serving },
		{ "hello", requests_before_hello_are_refused },
		{ "bad-args", out_of_range_arguments_are_bad_requests_naming_the_field },
		{ "bad-seq", a_request_that_fails_to_decode_still_takes_its_turn_in_sequence },
		{ "dropped-handshake", connections_dropped_during_the_handshake_stop_nothing },
		{ "thousand-sessions", a_thousand_sessions_at_once_are_served },
		{ "idle-past-reply-timeout",
		  an_idle_connection_waits_past_the_reply_timeout_without_complaint },
		{ "socket-errors", socket_errors_are_the_kernels },
		{ "bind-errors", bind_and_listen_errors_are_the_kernels },
		{ "sockopt", socket_options_in_int_and_bytes_forms },
		{ "quota", handle_quota_answers_emfile_naming_the_limit },
		{ "killed-client", a_client_killed_while_its_recv_is_parked_leaves_no_fd_behind },
		{ "sandbox", sbcat_under_unshare_reaches_loopback_while_a_direct_connect_fails },
	};
	fixture_add_cases(s, cases, sizeof(cases) / sizeof(cases[0]), setup, teardown, 60);
	return s;
}

int
main(void)
{
	return fixture_run(daemon_suite());
}
