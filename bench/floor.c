/*
 * bench-floor: what one brokered call costs at the least, beside what the
 * machine itself charges for a round trip between two processes.
 *
 * usage: bench-floor URL [--count N]
 *   --count N  round trips of each kind (default 20000)
 *
 * Two measurements, each timed per round trip with CLOCK_MONOTONIC:
 *   - a 64-byte ping-pong over a unix socketpair between this process and a
 *     child it forks: the kernel's floor for any request and its reply;
 *   - a brokered no-op, sb_gettimeout() on a socket of the daemon at URL: one
 *     request, decoded, run and answered by the daemon.
 * It prints one line:
 *   floor n=20000 socketpair_us=49.1 noop_us=61.0
 * and exits 0, or 1 with the reason on stderr.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define PROGRAM "bench-floor"
#define MESSAGE_SIZE 64
#define DEFAULT_COUNT 20000
#define MAX_COUNT 10000000
#define WARMUP 500

static int
exchange(int fd, char *buf)
{
	for (size_t done = 0; done < MESSAGE_SIZE;) {
		ssize_t n = read(fd, buf + done, MESSAGE_SIZE - done);
		if (n <= 0)
			return n == 0 ? -ECONNRESET : -errno;
		done += (size_t)n;
	}
	return bench_write_all(fd, buf, MESSAGE_SIZE);
}

/* The median socketpair round trip, in microseconds; negative on failure. */
static double
socketpair_floor(uint64_t count, uint64_t *samples)
{
	int pair[2];
	char buf[MESSAGE_SIZE];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(pair[0]);
		/* The echoing side: until the parent closes its end. */
		while (exchange(pair[1], buf) == 0)
			;
		_exit(0);
	}
	close(pair[1]);
	memset(buf, 'p', sizeof(buf));
	int r = 0;
	for (uint64_t i = 0; i < WARMUP + count && r == 0; i++) {
		uint64_t start = bench_now_ns();
		r = bench_write_all(pair[0], buf, sizeof(buf));
		for (size_t done = 0; r == 0 && done < sizeof(buf);) {
			ssize_t n = read(pair[0], buf + done, sizeof(buf) - done);
			if (n <= 0)
				r = -1;
			else
				done += (size_t)n;
		}
		if (i >= WARMUP)
			samples[i - WARMUP] = bench_now_ns() - start;
	}
	close(pair[0]);
	waitpid(pid, NULL, 0);
	if (r < 0)
		return -1;
	qsort(samples, count, sizeof(*samples), bench_compare_u64);
	return (double)bench_percentile(samples, count, 50) / 1000.0;
}

/* The median brokered no-op, in microseconds; negative on failure. */
static double
noop_floor(const char *url, uint64_t count, uint64_t *samples)
{
	struct sb_client *client;
	struct sb_error err;
	sb_handle h;
	double timeout;

	if (sb_client_new(&client, url, PROGRAM, &err) < 0) {
		fprintf(stderr, "%s: %s\n", PROGRAM, err.message);
		return -1;
	}
	if (sb_socket(client, AF_INET, SOCK_STREAM, 0, &h, &err) < 0) {
		fprintf(stderr, "%s: socket: %s\n", PROGRAM, err.message);
		sb_client_free(client);
		return -1;
	}
	for (uint64_t i = 0; i < WARMUP + count; i++) {
		uint64_t start = bench_now_ns();
		if (sb_gettimeout(client, h, &timeout, &err) < 0) {
			fprintf(stderr, "%s: gettimeout: %s\n", PROGRAM, err.message);
			sb_client_free(client);
			return -1;
		}
		if (i >= WARMUP)
			samples[i - WARMUP] = bench_now_ns() - start;
	}
	sb_close(client, h, NULL);
	sb_client_free(client);
	qsort(samples, count, sizeof(*samples), bench_compare_u64);
	return (double)bench_percentile(samples, count, 50) / 1000.0;
}

int
main(int argc, char **argv)
{
	uint64_t count = DEFAULT_COUNT;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fprintf(argc < 2 ? stderr : stdout, "usage: %s URL [--count N]\n", PROGRAM);
		return argc < 2 ? 1 : 0;
	}
	for (int i = 2; i < argc; i += 2) {
		if (strcmp(argv[i], "--count") != 0 ||
		    bench_parse_size(argv[i], i + 1 < argc ? argv[i + 1] : NULL, 1, MAX_COUNT,
				     &count) < 0) {
			fprintf(stderr, "usage: %s URL [--count N]\n", PROGRAM);
			return 1;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	uint64_t *samples = calloc(count, sizeof(*samples));
	if (!samples) {
		fprintf(stderr, "%s: out of memory\n", PROGRAM);
		return 1;
	}
	double pair = socketpair_floor(count, samples);
	double noop = pair < 0 ? -1 : noop_floor(argv[1], count, samples);
	free(samples);
	if (pair < 0 || noop < 0) {
		if (pair < 0)
			fprintf(stderr, "%s: the socketpair ping-pong failed: %s\n", PROGRAM,
				strerror(errno));
		return 1;
	}
	printf("floor n=%llu socketpair_us=%.1f noop_us=%.1f\n", (unsigned long long)count, pair,
	       noop);
	return 0;
}
