/*
 * Load and faults against one daemon.
 *
 * load: STRESS_THREADS client threads (100), each with its own session,
 * run STRESS_OPS (1,000) mixed operations: TCP echo of payloads of random
 * sizes up to 1 MiB (log-uniform, so most are small), UDP echo,
 * connect/close churn and Poll. Every byte echoed is compared with what was
 * sent: zero errors, zero lost or reordered bytes.
 *
 * faults: STRESS_CYCLES (500) client processes, each killed with SIGKILL at
 * a random moment of a random operation (a parked recv, a half-sent
 * sendall, a pending lookup, a Poll); then the daemon's descriptors and RSS
 * are back within a small margin of what they were before.
 *
 * Both print their figures. The counts can be lowered through the
 * environment for a quick look; the suite runs them as above.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "sockbroker.h"
#include "fixture.h"
#include "stress.h"

#define MIB (1024ll * 1024)

static struct test_daemon pressed_daemon;

static int
env_count(const char *name, int fallback)
{
	const char *v = getenv(name);
	int n = v ? atoi(v) : 0;
	return n > 0 ? n : fallback;
}

/* xorshift: each thread its own, seeded from its index. */
static uint64_t
next_random(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

/* ---- servers: TCP echo (a thread per connection) and UDP echo ----------- */

struct servers {
	int tcp, udp;
	unsigned tcp_port, udp_port;
	pthread_t tcp_thread, udp_thread;
	atomic_bool stop;
};

static void *
tcp_echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	static __thread char buf[256 * 1024];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	/* Ends when the client closes, or after 60 s without traffic. */
	while (poll(&pfd, 1, 60000) == 1) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
			if (w <= 0)
				goto out;
			off += w;
		}
	}
out:
	close(fd);
	return NULL;
}

static void *
tcp_accept_run(void *arg)
{
	struct servers *s = arg;
	struct pollfd pfd = { .fd = s->tcp, .events = POLLIN };
	while (!s->stop) {
		if (poll(&pfd, 1, 100) != 1)
			continue;
		int fd = accept4(s->tcp, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		pthread_t t;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, tcp_echo_conn, (void *)(intptr_t)fd) != 0)
			close(fd);
		pthread_attr_destroy(&attr);
	}
	return NULL;
}

static void *
udp_echo_run(void *arg)
{
	struct servers *s = arg;
	char buf[65536];
	struct pollfd pfd = { .fd = s->udp, .events = POLLIN };
	while (!s->stop) {
		if (poll(&pfd, 1, 100) != 1)
			continue;
		struct sockaddr_storage from;
		socklen_t len = sizeof(from);
		ssize_t n = recvfrom(s->udp, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
		if (n >= 0)
			sendto(s->udp, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
	}
	return NULL;
}

static unsigned
bound_port(int fd)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(in);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&in, sizeof(in)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&in, &len), 0);
	return ntohs(in.sin_port);
}

static void
servers_start(struct servers *s)
{
	memset(s, 0, sizeof(*s));
	s->tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	s->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert(s->tcp >= 0 && s->udp >= 0);
	int one = 1, big = 4 << 20;
	setsockopt(s->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Room for every thread's datagram at once (FORCE past rmem_max as root). */
	if (setsockopt(s->udp, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(s->udp, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	s->tcp_port = bound_port(s->tcp);
	s->udp_port = bound_port(s->udp);
	ck_assert_int_eq(listen(s->tcp, 1024), 0);
	ck_assert_int_eq(pthread_create(&s->tcp_thread, NULL, tcp_accept_run, s), 0);
	ck_assert_int_eq(pthread_create(&s->udp_thread, NULL, udp_echo_run, s), 0);
}

static void
servers_stop(struct servers *s)
{
	s->stop = true;
	pthread_join(s->tcp_thread, NULL);
	pthread_join(s->udp_thread, NULL);
	close(s->tcp);
	close(s->udp);
}

/* ---- load ---------------------------------------------------------------- */

struct worker {
	int index, ops;
	struct servers *servers;
	pthread_t thread;
	long long tcp_bytes, udp_bytes, churns, polls, errors;
	char error[384];
};

static void
worker_fail(struct worker *w, const char *what, const struct sb_error *err)
{
	if (!w->errors++)
		snprintf(w->error, sizeof(w->error), "thread %d: %s: %s", w->index, what,
			 err ? err->message : "");
}

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	uint64_t rnd = 0x9e3779b97f4a7c15ull * (uint64_t)(w->index + 1);
	struct sb_client *c;
	struct sb_error err;
	if (sb_client_new(&c, pressed_daemon.url, "stress-load", &err) < 0) {
		worker_fail(w, "connect", &err);
		return NULL;
	}
	struct sb_addr tcp_addr, udp_addr;
	sb_addr_inet(&tcp_addr, "127.0.0.1", w->servers->tcp_port);
	sb_addr_inet(&udp_addr, "127.0.0.1", w->servers->udp_port);
	sb_handle tcp = 0, udp = 0;
	if (sb_socket(c, AF_INET, SOCK_STREAM, 0, &tcp, &err) < 0 ||
	    sb_connect(c, tcp, &tcp_addr, &err) < 0 ||
	    sb_socket(c, AF_INET, SOCK_DGRAM, 0, &udp, &err) < 0) {
		worker_fail(w, "setting up", &err);
		sb_client_free(c);
		return NULL;
	}
	size_t cap = 1 << 20;
	uint8_t *out = malloc(cap), *in = malloc(cap);
	if (!out || !in) {
		worker_fail(w, "out of memory", NULL);
		goto done;
	}
	for (int i = 0; i < w->ops && !w->errors; i++) {
		unsigned kind = (unsigned)(next_random(&rnd) % 100);
		if (kind < 50) {
			/* Log-uniform sizes from 1 byte to 1 MiB. */
			unsigned shift = (unsigned)(next_random(&rnd) % 21);
			size_t len = 1 + (size_t)(next_random(&rnd) % ((1u << shift)));
			if (len > cap)
				len = cap;
			for (size_t k = 0; k < len; k++)
				out[k] = (uint8_t)(next_random(&rnd) >> 24);
			if (sb_sendall(c, tcp, out, len, 0, &err) < 0) {
				worker_fail(w, "sendall", &err);
				break;
			}
			ssize_t n = sb_recv(c, tcp, in, len, MSG_WAITALL, &err);
			if (n != (ssize_t)len) {
				worker_fail(w, "recv", n < 0 ? &err : NULL);
				break;
			}
			if (memcmp(in, out, len) != 0) {
				worker_fail(w, "the echo differs from what was sent (lost or reordered bytes)",
				     NULL);
				break;
			}
			w->tcp_bytes += (long long)len;
		} else if (kind < 70) {
			size_t len = 1 + (size_t)(next_random(&rnd) % 1024);
			for (size_t k = 0; k < len; k++)
				out[k] = (uint8_t)(next_random(&rnd) >> 24);
			if (sb_settimeout(c, udp, 10.0, &err) < 0 ||
			    sb_sendto(c, udp, out, len, 0, &udp_addr, &err) != (ssize_t)len) {
				worker_fail(w, "sendto", &err);
				break;
			}
			ssize_t n = sb_recvfrom(c, udp, in, cap, 0, NULL, &err);
			if (n != (ssize_t)len || memcmp(in, out, len) != 0) {
				worker_fail(w, "the UDP echo differs from what was sent", n < 0 ? &err : NULL);
				break;
			}
			w->udp_bytes += (long long)len;
		} else if (kind < 85) {
			sb_handle h;
			if (sb_socket(c, AF_INET, SOCK_STREAM, 0, &h, &err) < 0 ||
			    sb_connect(c, h, &tcp_addr, &err) < 0 || sb_close(c, h, &err) < 0) {
				worker_fail(w, "connect/close", &err);
				break;
			}
			w->churns++;
		} else {
			/* A byte on its way back: Poll sees the socket readable. */
			if (sb_sendall(c, tcp, "p", 1, 0, &err) < 0) {
				worker_fail(w, "sendall before poll", &err);
				break;
			}
			struct sb_pollitem item = { .handle = tcp, .events = SB_POLL_READABLE };
			size_t ready = 0;
			char b;
			if (sb_poll(c, &item, 1, 10.0, &ready, &err) < 0 || ready != 1 ||
			    sb_recv(c, tcp, &b, 1, 0, &err) != 1 || b != 'p') {
				worker_fail(w, "poll", &err);
				break;
			}
			w->polls++;
		}
	}
done:
	free(out);
	free(in);
	sb_close(c, tcp, &err);
	sb_close(c, udp, &err);
	sb_client_free(c);
	return NULL;
}

START_TEST(load)
{
	int threads = env_count("STRESS_THREADS", 100), ops = env_count("STRESS_OPS", 1000);
	test_daemon_start(&pressed_daemon, getenv("STRESS_CONFIG"));
	long long start_rss = stress_rss_bytes(pressed_daemon.pid, "VmRSS:");
	struct servers servers;
	servers_start(&servers);
	struct worker *workers = calloc((size_t)threads, sizeof(*workers));
	ck_assert_ptr_nonnull(workers);
	int64_t t0 = test_now_ms();
	for (int i = 0; i < threads; i++) {
		workers[i] = (struct worker){ .index = i, .ops = ops, .servers = &servers };
		ck_assert_int_eq(pthread_create(&workers[i].thread, NULL, worker_run, &workers[i]), 0);
	}
	long long tcp = 0, udp = 0, churns = 0, polls = 0, errors = 0;
	const char *first = NULL;
	for (int i = 0; i < threads; i++) {
		pthread_join(workers[i].thread, NULL);
		tcp += workers[i].tcp_bytes;
		udp += workers[i].udp_bytes;
		churns += workers[i].churns;
		polls += workers[i].polls;
		errors += workers[i].errors;
		if (workers[i].errors && !first)
			first = workers[i].error;
	}
	int64_t ms = test_now_ms() - t0;
	long long peak = stress_rss_bytes(pressed_daemon.pid, "VmHWM:") - start_rss;
	printf("load: %d threads x %d operations in %.1f s: %.1f MiB TCP echoed and compared, "
	       "%lld UDP bytes, %lld connect/close, %lld polls, %lld errors; daemon peak RSS "
	       "%.1f MiB above start\n",
	       threads, ops, (double)ms / 1000, (double)tcp / (double)MIB, udp, churns, polls,
	       errors, (double)peak / (double)MIB);
	fflush(stdout);
	if (errors)
		test_daemon_dump_log(&pressed_daemon);
	ck_assert_msg(errors == 0, "%s", first ? first : "");
	servers_stop(&servers);
	free(workers);
	ck_assert_int_eq(test_daemon_stop(&pressed_daemon), 0);
}
END_TEST

/* ---- faults -------------------------------------------------------------- */

/* In a child: start one operation that waits, and wait to be killed. */
static void
child_run(unsigned kind, unsigned port)
{
	struct sb_client *c;
	struct sb_error err;
	if (sb_client_new(&c, pressed_daemon.url, "stress-fault", &err) < 0)
		_exit(1);
	sb_handle h, pair[2];
	struct sb_addr addr;
	sb_addr_inet(&addr, "127.0.0.1", port);
	static char big[8 << 20];
	char buf[64];
	switch (kind) {
	case 0: /* a parked recv */
		if (sb_socketpair(c, AF_UNIX, SOCK_STREAM, 0, pair, &err) == 0)
			sb_recv(c, pair[0], buf, sizeof(buf), 0, &err);
		break;
	case 1: /* a half-sent sendall: the peer reads nothing */
		if (sb_socket(c, AF_INET, SOCK_STREAM, 0, &h, &err) == 0 &&
		    sb_connect(c, h, &addr, &err) == 0)
			sb_sendall(c, h, big, sizeof(big), 0, &err);
		break;
	case 2: { /* a lookup */
		struct sb_addrinfo *res;
		size_t n;
		for (int i = 0; i < 100; i++)
			if (sb_getaddrinfo(c, "localhost", "80", AF_UNSPEC, SOCK_STREAM, 0, 0, &res,
					   &n, &err) == 0)
				sb_addrinfo_free(res);
		break;
	}
	default: /* a Poll */
		if (sb_socketpair(c, AF_UNIX, SOCK_STREAM, 0, pair, &err) == 0) {
			struct sb_pollitem item = { .handle = pair[0], .events = SB_POLL_READABLE };
			size_t ready;
			sb_poll(c, &item, 1, 30.0, &ready, &err);
		}
		break;
	}
	pause(); /* bounded: the parent kills it */
	_exit(0);
}

START_TEST(faults)
{
	int cycles = env_count("STRESS_CYCLES", 500);
	test_daemon_start(&pressed_daemon, NULL);
	/* A sink that accepts and never reads, for the half-sent sendall. */
	int sink = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(sink, 0);
	unsigned port = bound_port(sink);
	ck_assert_int_eq(listen(sink, 1024), 0);
	ck_assert_int_eq(fcntl(sink, F_SETFL, O_NONBLOCK), 0);
	/* Warm up (the first session, the resolver threads), then the baseline. */
	struct sb_client *c;
	struct sb_error err;
	ck_assert_int_eq(sb_client_new(&c, pressed_daemon.url, "baseline", &err), 0);
	struct sb_addrinfo *res;
	size_t n;
	ck_assert_int_eq(sb_getaddrinfo(c, "localhost", "80", AF_UNSPEC, SOCK_STREAM, 0, 0, &res,
					&n, &err), 0);
	sb_addrinfo_free(res);
	sb_client_free(c);
	/* The baseline once the warm-up session's end has run (its count settles). */
	int base_fds = test_daemon_fd_count(&pressed_daemon), was = -1;
	for (int i = 0; i < 50 && base_fds != was; i++) {
		test_sleep_ms(50);
		was = base_fds;
		base_fds = test_daemon_fd_count(&pressed_daemon);
	}
	long long base_rss = stress_rss_bytes(pressed_daemon.pid, "VmRSS:");

	uint64_t rnd = 12345;
	int64_t t0 = test_now_ms();
	for (int i = 0; i < cycles; i++) {
		unsigned kind = (unsigned)(next_random(&rnd) % 4);
		int delay_us = (int)(next_random(&rnd) % 20000);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0)
			child_run(kind, port);
		usleep((useconds_t)delay_us);
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
		/* Take the sink's connections off its queue and drop them. */
		int fd;
		while ((fd = accept4(sink, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
			close(fd);
	}
	int64_t ms = test_now_ms() - t0;
	/* The daemon notices each end; its counts settle back (bounded wait). */
	int fds = test_daemon_wait_fd_count(&pressed_daemon, base_fds, 10000);
	long long rss = stress_rss_bytes(pressed_daemon.pid, "VmRSS:");
	long long peak = stress_rss_bytes(pressed_daemon.pid, "VmHWM:");
	printf("faults: %d clients killed with SIGKILL in %.1f s; daemon descriptors %d "
	       "(baseline %d), RSS %.1f MiB (baseline %.1f, peak %.1f)\n",
	       cycles, (double)ms / 1000, fds, base_fds, (double)rss / (double)MIB,
	       (double)base_rss / (double)MIB, (double)peak / (double)MIB);
	fflush(stdout);
	close(sink);
	ck_assert_int_eq(fds, base_fds);
	ck_assert_msg(!stress_measured() || rss < base_rss + 16 * MIB, "RSS %lld MiB after, %lld before",
		      rss / MIB, base_rss / MIB);
	ck_assert_int_eq(test_daemon_stop(&pressed_daemon), 0);
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("load");
	TCase *tc = tcase_create("load");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, load);
	tcase_add_test(tc, faults);
	suite_add_tcase(suite, tc);
	return fixture_run(suite);
}
