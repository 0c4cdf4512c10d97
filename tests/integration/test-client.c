/*
 * libsockbroker's own machinery against the real daemon: the SP connection
 * on every local transport and its errors, many threads sharing one client
 * (one of them parked in a blocking recv), sb_client_free() and a lost
 * connection with calls in flight, and write-behind sends.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fixture.h"
#include "servers.h"

#define THREADS 8
#define CALLS_PER_THREAD 200
#define WAIT_MS 10000

static void
setup(void)
{
	fixture_start(NULL, "test-client");
}

static void
teardown(void)
{
	fixture_stop();
}

/* A connected AF_UNIX stream pair whose replies carry write-behind credit. */
static void
stream_pair(sb_handle pair[2])
{
	struct sb_error err;
	char byte;

	ck_assert_msg(sb_socketpair(client, AF_UNIX, SOCK_STREAM, 0, pair, &err) == 0, "%s",
		      err.message);
	/* A send that went through shows the client that the handle is connected. */
	ck_assert_int_eq(sb_send(client, pair[0], "!", 1, 0, &err), 1);
	ck_assert_int_eq(sb_recv(client, pair[1], &byte, 1, 0, &err), 1);
}

/* A thread that runs `fn(arg)`; joined with a bound by join_within(). */
struct runner {
	pthread_t thread;
	atomic_bool done;
	void (*fn)(void *);
	void *arg;
};

static void *
runner_main(void *arg)
{
	struct runner *runner = arg;

	runner->fn(runner->arg);
	atomic_store(&runner->done, true);
	return NULL;
}

static void
runner_start(struct runner *runner, void (*fn)(void *), void *arg)
{
	atomic_init(&runner->done, false);
	runner->fn = fn;
	runner->arg = arg;
	ck_assert_int_eq(pthread_create(&runner->thread, NULL, runner_main, runner), 0);
}

/* Whether the runner finished within `ms`; joined if so. */
static bool
join_within(struct runner *runner, int ms)
{
	int64_t deadline = test_now_ms() + ms;

	while (!atomic_load(&runner->done) && test_now_ms() < deadline)
		test_sleep_ms(5);
	if (!atomic_load(&runner->done))
		return false;
	pthread_join(runner->thread, NULL);
	return true;
}

/* ---- transports ------------------------------------------------------------ */

/* A client on `url` serves a stream echo. */
static void
assert_url_serves(const char *url)
{
	struct sb_client *other;
	struct sb_error err;
	sb_handle pair[2];
	char buf[8];

	ck_assert_msg(sb_client_new(&other, url, "test-client", &err) == 0, "%s: %s", url,
		      err.message);
	ck_assert_int_eq(sb_socketpair(other, AF_UNIX, SOCK_STREAM, 0, pair, &err), 0);
	ck_assert_int_eq(sb_sendall(other, pair[0], "hello", 5, 0, &err), 0);
	ck_assert_int_eq(sb_recv(other, pair[1], buf, 5, MSG_WAITALL, &err), 5);
	ck_assert(memcmp(buf, "hello", 5) == 0);
	sb_client_free(other);
}

START_TEST(the_client_speaks_sp_over_abstract_and_tcp)
{
	struct test_daemon second;
	char url[64];

	/* The fixture's own client is on ipc://. */
	snprintf(url, sizeof(url), "abstract://sockbroker-test-client-%d", (int)getpid());
	test_daemon_start_listening(&second, NULL, url);
	assert_url_serves(url);
	ck_assert_int_eq(test_daemon_stop(&second), 0);

	snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", closed_tcp_port());
	test_daemon_start_listening(&second, NULL, url);
	assert_url_serves(url);
	ck_assert_int_eq(test_daemon_stop(&second), 0);
}
END_TEST

START_TEST(a_missing_socket_or_an_unknown_scheme_says_what_to_do)
{
	struct sb_client *other = NULL;
	struct sb_error err;
	char url[400];

	snprintf(url, sizeof(url), "ipc://%s/nothing-here.sock", daemon_under_test.dir);
	ck_assert_int_eq(sb_client_new(&other, url, "test-client", &err), -ENOENT);
	ck_assert_ptr_null(other);
	ck_assert_int_eq(err.kind, SB_ERR_TRANSPORT);
	ck_assert_msg(strstr(err.message, "is sockbrokerd running? (set SOCKBROKER_URL)"), "%s",
		      err.message);

	ck_assert_int_eq(sb_client_new(&other, "udp://127.0.0.1:1", "test-client", &err), -EINVAL);
	ck_assert_msg(strstr(err.message, "ipc://PATH, abstract://NAME, tcp://HOST:PORT or "
					  "tls+tcp://HOST:PORT"),
		      "%s", err.message);
	ck_assert_int_eq(sb_client_new(&other, "tcp://127.0.0.1:99999", "test-client", &err),
			 -EINVAL);
}
END_TEST

/* A listener on loopback that answers one connection with `answer` (8 bytes). */
struct fake_listener {
	int fd;
	uint16_t port;
	uint8_t answer[8];
};

static void
fake_serve(void *arg)
{
	struct fake_listener *listener = arg;
	uint8_t theirs[8];
	int fd = accept(listener->fd, NULL, NULL);

	if (fd < 0)
		return;
	(void)!write(fd, listener->answer, sizeof(listener->answer));
	(void)!read(fd, theirs, sizeof(theirs));
	close(fd);
}

static void
fake_listener_start(struct fake_listener *listener, const uint8_t answer[8])
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);

	memcpy(listener->answer, answer, 8);
	listener->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(listener->fd, 0);
	ck_assert_int_eq(bind(listener->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(listener->fd, 1), 0);
	ck_assert_int_eq(getsockname(listener->fd, (struct sockaddr *)&sin, &len), 0);
	listener->port = ntohs(sin.sin_port);
}

START_TEST(a_peer_that_is_not_rep0_is_refused_with_a_clear_error)
{
	static const uint8_t not_sp[8] = { 'H', 'T', 'T', 'P', '/', '1', '.', '1' };
	static const uint8_t req0[8] = { 0, 'S', 'P', 0, 0, 0x30, 0, 0 };
	struct fake_listener listener;
	struct sb_client *other = NULL;
	struct runner server;
	struct sb_error err;
	char url[64];

	fake_listener_start(&listener, not_sp);
	runner_start(&server, fake_serve, &listener);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", listener.port);
	ck_assert_int_eq(sb_client_new(&other, url, "test-client", &err), -EPROTO);
	ck_assert_msg(strstr(err.message, "does not speak the SP protocol"), "%s", err.message);
	ck_assert(join_within(&server, WAIT_MS));
	close(listener.fd);

	fake_listener_start(&listener, req0);
	runner_start(&server, fake_serve, &listener);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", listener.port);
	ck_assert_int_eq(sb_client_new(&other, url, "test-client", &err), -EPROTONOSUPPORT);
	ck_assert_msg(strstr(err.message, "not rep0"), "%s", err.message);
	ck_assert_ptr_null(other);
	ck_assert(join_within(&server, WAIT_MS));
	close(listener.fd);
}
END_TEST

/* ---- threads ---------------------------------------------------------------- */

struct parked_recv {
	sb_handle handle;
	ssize_t result;
	char byte;
	struct sb_error err;
};

static void
parked_recv_run(void *arg)
{
	struct parked_recv *parked = arg;

	parked->result = sb_recv(client, parked->handle, &parked->byte, 1, 0, &parked->err);
}

struct worker {
	int index;
	int failures;
	char failure[300];
};

static void
worker_fail(struct worker *worker, const char *what, const struct sb_error *err)
{
	if (worker->failures++ == 0)
		snprintf(worker->failure, sizeof(worker->failure), "thread %d: %s: %s",
			 worker->index, what, err->message);
}

/* Mixed calls on a pair of its own, each checked. */
static void
worker_run(void *arg)
{
	struct worker *worker = arg;
	struct sb_error err;
	sb_handle pair[2], extra;
	struct sb_addr name;
	double timeout;

	if (sb_socketpair(client, AF_UNIX, SOCK_STREAM, 0, pair, &err) < 0) {
		worker_fail(worker, "socketpair", &err);
		return;
	}
	for (int i = 0; i < CALLS_PER_THREAD / 4; i++) {
		char out[16], in[16];
		int len = snprintf(out, sizeof(out), "%d:%d", worker->index, i);

		if (sb_sendall(client, pair[0], out, (size_t)len, 0, &err) < 0)
			worker_fail(worker, "sendall", &err);
		if (sb_recv(client, pair[1], in, (size_t)len, MSG_WAITALL, &err) != len ||
		    memcmp(in, out, (size_t)len) != 0)
			worker_fail(worker, "recv", &err);
		if (sb_gettimeout(client, pair[0], &timeout, &err) < 0)
			worker_fail(worker, "gettimeout", &err);
		if (i % 2 == 0 && sb_getsockname(client, pair[1], &name, &err) < 0)
			worker_fail(worker, "getsockname", &err);
		if (i % 2 == 1) {
			if (sb_socket(client, AF_INET, SOCK_DGRAM, 0, &extra, &err) < 0)
				worker_fail(worker, "socket", &err);
			else if (sb_close(client, extra, &err) < 0)
				worker_fail(worker, "close", &err);
		}
	}
	if (sb_close(client, pair[0], &err) < 0 || sb_close(client, pair[1], &err) < 0)
		worker_fail(worker, "close", &err);
}

START_TEST(eight_threads_share_one_client_while_another_is_parked_in_recv)
{
	struct runner runners[THREADS], parked_runner;
	struct worker workers[THREADS];
	struct parked_recv parked = { 0 };
	struct sb_error err;
	sb_handle pair[2];

	stream_pair(pair);
	parked.handle = pair[1];
	runner_start(&parked_runner, parked_recv_run, &parked);
	for (int i = 0; i < THREADS; i++) {
		workers[i] = (struct worker){ .index = i };
		runner_start(&runners[i], worker_run, &workers[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		ck_assert_msg(join_within(&runners[i], 50000), "thread %d is stuck", i);
		ck_assert_msg(workers[i].failures == 0, "%d failures; the first: %s",
			      workers[i].failures, workers[i].failure);
	}
	/* The parked recv waited through all of it, and still gets its byte. */
	ck_assert(!atomic_load(&parked_runner.done));
	ck_assert_int_eq(sb_send(client, pair[0], "p", 1, 0, &err), 1);
	ck_assert(join_within(&parked_runner, WAIT_MS));
	ck_assert_msg(parked.result == 1, "%s", parked.err.message);
	ck_assert_int_eq(parked.byte, 'p');
}
END_TEST

/*
 * A TCP connection through the daemon to a loopback listener that never
 * reads: a large sendall on it stays in flight, and the listener sees its
 * first bytes arrive, which shows the call has begun.
 */
struct stuck_sendall {
	int listener;
	int peer; /* the accepted socket */
	sb_handle handle;
	int result;
	struct sb_error err;
};

static void
stuck_sendall_run(void *arg)
{
	struct stuck_sendall *stuck = arg;
	size_t len = 64u << 20;
	char *data = calloc(1, len);

	stuck->result = data ? sb_sendall(client, stuck->handle, data, len, 0, &stuck->err)
			     : -ENOMEM;
	free(data);
}

static void
stuck_sendall_start(struct stuck_sendall *stuck, struct runner *runner)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	struct sb_error err;
	int queued = 0;

	stuck->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(stuck->listener, 0);
	ck_assert_int_eq(bind(stuck->listener, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(stuck->listener, 1), 0);
	ck_assert_int_eq(getsockname(stuck->listener, (struct sockaddr *)&sin, &len), 0);
	ck_assert_msg(sb_create_connection(client, "127.0.0.1", ntohs(sin.sin_port),
					   SB_TIMEOUT_NONE, NULL, &stuck->handle, NULL, NULL, NULL,
					   &err) == 0,
		      "%s", err.message);
	stuck->peer = accept(stuck->listener, NULL, NULL);
	ck_assert_int_ge(stuck->peer, 0);
	runner_start(runner, stuck_sendall_run, stuck);
	int64_t deadline = test_now_ms() + WAIT_MS;
	while (queued == 0 && test_now_ms() < deadline) {
		ck_assert_int_eq(ioctl(stuck->peer, FIONREAD, &queued), 0);
		test_sleep_ms(5);
	}
	ck_assert_msg(queued > 0, "the sendall did not begin");
}

START_TEST(freeing_the_client_fails_calls_in_flight_promptly)
{
	struct stuck_sendall stuck = { 0 };
	struct runner runner;

	stuck_sendall_start(&stuck, &runner);
	int64_t before = test_now_ms();
	sb_client_free(client);
	client = NULL;
	ck_assert_msg(test_now_ms() - before < 5000, "sb_client_free() took %lld ms",
		      (long long)(test_now_ms() - before));
	ck_assert(join_within(&runner, WAIT_MS));
	ck_assert_int_eq(stuck.result, -ECONNRESET);
	ck_assert_int_eq(stuck.err.kind, SB_ERR_TRANSPORT);
	ck_assert_str_eq(stuck.err.message, "the client was closed while the call was in flight");
	close(stuck.peer);
	close(stuck.listener);
}
END_TEST

START_TEST(calls_after_the_connection_was_lost_fail_at_once)
{
	struct parked_recv parked = { 0 };
	struct runner runner;
	struct sb_error err;
	sb_handle pair[2];
	double timeout;

	/* A recv parked (or about to be) when the daemon goes away: it fails either way. */
	stream_pair(pair);
	parked.handle = pair[1];
	runner_start(&runner, parked_recv_run, &parked);
	test_sleep_ms(100);
	ck_assert_int_eq(test_daemon_stop(&daemon_under_test), 0);
	ck_assert(join_within(&runner, WAIT_MS));
	/* The stopping daemon may answer it itself before the connection ends. */
	ck_assert_int_eq(parked.result, -ECONNRESET);
	ck_assert_msg(parked.err.kind == SB_ERR_TRANSPORT || parked.err.kind == SB_ERR_OS,
		      "kind %s: %s", sb_error_kind_name(parked.err.kind), parked.err.message);
	/* Every later call fails before anything is written, and says what to do. */
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(sb_gettimeout(client, pair[0], &timeout, &err), -ECONNRESET);
		ck_assert_int_eq(err.kind, SB_ERR_TRANSPORT);
		ck_assert_msg(strstr(err.message, "the session and its handles are gone"), "%s",
			      err.message);
	}
	/* The teardown stops a daemon: give it one. */
	sb_client_free(client);
	client = NULL;
	fixture_start(NULL, "test-client");
}
END_TEST

/* ---- write-behind -------------------------------------------------------------- */

START_TEST(an_error_of_a_written_behind_send_is_returned_by_the_next_call)
{
	struct sb_error err;
	struct sb_addr name;
	sb_handle pair[2];

	stream_pair(pair);
	ck_assert_int_eq(sb_close(client, pair[1], &err), 0);
	/* Written behind: the whole length at once, as the kernel would take it. */
	ck_assert_int_eq(sb_send(client, pair[0], "lost", 4, 0, &err), 4);
	/* The peer was gone: the next call on the handle says so... */
	ck_assert_int_eq(sb_getsockname(client, pair[0], &name, &err), -EPIPE);
	ck_assert_int_eq(err.kind, SB_ERR_OS);
	ck_assert_str_eq(err.errno_name, "EPIPE");
	/* ...once, as the kernel's asynchronous errors are. */
	ck_assert_int_eq(sb_getsockname(client, pair[0], &name, &err), 0);
	ck_assert_int_eq(sb_close(client, pair[0], &err), 0);

	/* Bad input goes the usual way and fails at once. */
	ck_assert_int_eq(sb_send(client, pair[0], NULL, 4, 0, &err), -EINVAL);
}
END_TEST

struct stopped_call {
	sb_handle handle;
	bool close;
	ssize_t result;
	struct sb_error err;
};

static void
stopped_call_run(void *arg)
{
	struct stopped_call *call = arg;

	if (call->close)
		call->result = sb_close(client, call->handle, &call->err);
	else
		call->result = sb_send(client, call->handle, "behind", 6, 0, &call->err);
}

START_TEST(send_and_close_return_before_the_daemon_answers)
{
	struct stopped_call send_call = { 0 }, close_call = { .close = true };
	struct runner runner;
	struct sb_error err;
	sb_handle sent[2], closed[2];
	char buf[8];

	stream_pair(sent);
	stream_pair(closed);
	/* A stopped daemon answers nothing: only a call written behind returns. */
	ck_assert_int_eq(kill(daemon_under_test.pid, SIGSTOP), 0);
	send_call.handle = sent[0];
	runner_start(&runner, stopped_call_run, &send_call);
	bool returned = join_within(&runner, WAIT_MS);
	if (returned) {
		/* Another handle: a close waits for its own handle's sends first. */
		close_call.handle = closed[0];
		runner_start(&runner, stopped_call_run, &close_call);
		returned = join_within(&runner, WAIT_MS);
	}
	kill(daemon_under_test.pid, SIGCONT);
	if (!returned) {
		/* It returns once the daemon answers; then the test fails. */
		pthread_join(runner.thread, NULL);
		ck_abort_msg("%s waited for the stopped daemon's reply",
			     send_call.result == 6 ? "close" : "send");
	}
	ck_assert_int_eq(send_call.result, 6);
	ck_assert_int_eq(close_call.result, 0);
	/* The daemon did both: the bytes arrive, and the closed peer's stream ends. */
	ck_assert_int_eq(sb_recv(client, sent[1], buf, 6, MSG_WAITALL, &err), 6);
	ck_assert(memcmp(buf, "behind", 6) == 0);
	ck_assert_int_eq(sb_recv(client, closed[1], buf, sizeof(buf), 0, &err), 0);
}
END_TEST

/* Bytes of a stream that tell their position apart. */
static uint8_t
pattern(uint64_t offset)
{
	return (uint8_t)((offset * 2654435761u) >> 13);
}

struct reader {
	sb_handle handle;
	uint64_t expected, got, first_bad;
	bool bad;
	struct sb_error err;
	int result;
};

static void
reader_run(void *arg)
{
	struct reader *reader = arg;
	size_t size = 256 * 1024;
	uint8_t *buf = malloc(size);

	reader->result = buf ? 0 : -ENOMEM;
	while (buf && reader->got < reader->expected) {
		ssize_t n = sb_recv(client, reader->handle, buf, size, 0, &reader->err);

		if (n <= 0) {
			reader->result = n < 0 ? (int)n : -ECONNRESET;
			break;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (!reader->bad && buf[i] != pattern(reader->got + (uint64_t)i)) {
				reader->bad = true;
				reader->first_bad = reader->got + (uint64_t)i;
			}
		}
		reader->got += (uint64_t)n;
	}
	free(buf);
}

START_TEST(sendall_bigger_than_the_credit_still_sends_every_byte_in_order)
{
	static const size_t sizes[] = { 1, 100, 4096, 65536, 300000, 3 << 20, 7, 1 << 20 };
	struct echo_server server;
	struct reader reader = { 0 };
	struct runner runner;
	struct sb_error err;
	uint64_t offset = 0, total = 0;
	uint8_t *data;
	sb_handle h;

	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_STREAM), 0);
	ck_assert_msg(sb_create_connection(client, "127.0.0.1", server.port, SB_TIMEOUT_NONE,
					   NULL, &h, NULL, NULL, NULL, &err) == 0,
		      "%s", err.message);
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			total += sizes[i];
	}
	reader.handle = h;
	reader.expected = total;
	runner_start(&runner, reader_run, &reader);
	data = malloc(3 << 20);
	ck_assert_ptr_nonnull(data);
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			for (size_t j = 0; j < sizes[i]; j++)
				data[j] = pattern(offset + j);
			ck_assert_msg(sb_sendall(client, h, data, sizes[i], 0, &err) == 0, "%s",
				      err.message);
			offset += sizes[i];
		}
	}
	free(data);
	ck_assert_msg(join_within(&runner, 30000), "the echo stopped after %llu of %llu bytes",
		      (unsigned long long)reader.got, (unsigned long long)total);
	ck_assert_msg(reader.result == 0, "recv: %s", reader.err.message);
	ck_assert_msg(!reader.bad, "byte %llu is out of order", (unsigned long long)reader.first_bad);
	ck_assert_uint_eq(reader.got, total);
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	echo_server_stop(&server);
}
END_TEST

static Suite *
client_suite(void)
{
	Suite *s = suite_create("client");
	const struct fixture_case cases[] = {
		{ "transports", the_client_speaks_sp_over_abstract_and_tcp },
		{ "connect-errors", a_missing_socket_or_an_unknown_scheme_says_what_to_do },
		{ "not-rep0", a_peer_that_is_not_rep0_is_refused_with_a_clear_error },
		{ "threads", eight_threads_share_one_client_while_another_is_parked_in_recv },
		{ "free-in-flight", freeing_the_client_fails_calls_in_flight_promptly },
		{ "lost", calls_after_the_connection_was_lost_fail_at_once },
		{ "behind-error", an_error_of_a_written_behind_send_is_returned_by_the_next_call },
		{ "behind-returns", send_and_close_return_before_the_daemon_answers },
		{ "behind-order", sendall_bigger_than_the_credit_still_sends_every_byte_in_order },
	};
	fixture_add_cases(s, cases, sizeof(cases) / sizeof(cases[0]), setup, teardown, 120);
	return s;
}

int
main(void)
{
	return fixture_run(client_suite());
}
