/*
 * bench-echo: 64-byte echo round trips to a loopback echo server, over a
 * direct kernel socket, through sockbrokerd, or through a SOCKS5 relay.
 *
 * usage: bench-echo MODE [--count N] [--warmup N] [--time-limit SECONDS]
 *   MODE  direct | broker URL | socks5 HOST:PORT
 *   --count N       round trips measured (default 20000)
 *   --warmup N      round trips before measuring (default 1000)
 *   --time-limit S  stop measuring after S seconds (default 20)
 *
 * The program runs its own echo server thread on 127.0.0.1 and connects to
 * it on MODE's path with TCP_NODELAY (through the broker: sb_socket,
 * sb_setsockopt, sb_connect, then sb_sendall and sb_recv). Each round trip
 * (send 64 bytes, receive them back) is timed with CLOCK_MONOTONIC. It
 * prints one line, rate being round trips per second:
 *   echo mode=broker n=20000 median_us=41.2 p99_us=80.1 rate=23000
 * and exits 0, or 1 with the reason on stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#define PROGRAM "bench-echo"
#define MESSAGE_SIZE 64
#define DEFAULT_COUNT 20000
#define DEFAULT_WARMUP 1000
#define DEFAULT_TIME_LIMIT_S 20
#define MAX_COUNT 10000000
#define MAX_TIME_LIMIT_S 3600
/* The warm-up is bounded too, by this or the time limit if shorter. */
#define WARMUP_TIME_LIMIT_S 5

struct options {
	struct bench_target target;
	uint64_t count;
	uint64_t warmup;
	uint64_t time_limit_s;
};

static void
usage(FILE *out)
{
	fprintf(out, "usage: %s %s [--count N] [--warmup N] [--time-limit SECONDS]\n", PROGRAM,
		BENCH_TARGET_USAGE);
}

static int
parse_options(int argc, char **argv, struct options *options)
{
	int index = 1, r;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		exit(0);
	}
	options->count = DEFAULT_COUNT;
	options->warmup = DEFAULT_WARMUP;
	options->time_limit_s = DEFAULT_TIME_LIMIT_S;
	if ((r = bench_parse_target(argc, argv, &index, &options->target)) < 0)
		return r;
	while (index < argc) {
		const char *name = argv[index];
		const char *value = index + 1 < argc ? argv[index + 1] : NULL;

		if (strcmp(name, "--count") == 0)
			r = bench_parse_size(name, value, 1, MAX_COUNT, &options->count);
		else if (strcmp(name, "--warmup") == 0)
			r = bench_parse_size(name, value, 0, MAX_COUNT, &options->warmup);
		else if (strcmp(name, "--time-limit") == 0)
			r = bench_parse_size(name, value, 1, MAX_TIME_LIMIT_S,
					     &options->time_limit_s);
		else {
			fprintf(stderr, "unknown option '%s'\n", name);
			r = -EINVAL;
		}
		if (r < 0)
			return r;
		index += 2;
	}
	return 0;
}

/* Echo what comes until the peer closes. */
static void
serve_echo(struct bench_server *server, int fd)
{
	char buf[4096];
	ssize_t n;
	int r;

	while ((n = bench_server_recv(server, fd, buf, sizeof(buf))) > 0) {
		if ((r = bench_write_all(fd, buf, (size_t)n)) < 0) {
			fprintf(stderr, "echo server: send failed: %s\n", strerror(-r));
			break;
		}
	}
	if (n < 0)
		fprintf(stderr, "echo server: recv failed: %s\n", strerror((int)-n));
	close(fd);
}

static int
round_trip(struct bench_stream *stream, const char *message, char *answer)
{
	int r;

	if ((r = bench_stream_send_all(stream, message, MESSAGE_SIZE)) < 0 ||
	    (r = bench_stream_recv_full(stream, answer, MESSAGE_SIZE)) < 0)
		return r;
	if (memcmp(message, answer, MESSAGE_SIZE) != 0) {
		fprintf(stderr, "the echo came back different from what was sent\n");
		return -EPROTO;
	}
	return 0;
}

/*
 * Up to `count` round trips within `limit_ns`; with `times`, each one's
 * duration is stored there. *done is how many completed.
 */
static int
run_round_trips(struct bench_stream *stream, uint64_t count, uint64_t limit_ns,
		uint64_t *times, uint64_t *done)
{
	uint64_t start = bench_now_ns();
	char message[MESSAGE_SIZE], answer[MESSAGE_SIZE];
	int r;

	*done = 0;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t before, after;

		if (bench_now_ns() - start >= limit_ns)
			break;
		/* A different message each time, so a stale echo cannot pass. */
		memset(message, 'a' + (int)(i % 26), sizeof(message));
		memcpy(message, &i, sizeof(i));
		before = bench_now_ns();
		if ((r = round_trip(stream, message, answer)) < 0)
			return r;
		after = bench_now_ns();
		if (times != NULL)
			times[i] = after - before;
		*done = i + 1;
	}
	return 0;
}

static void
report(const struct options *options, uint64_t *times, uint64_t n)
{
	uint64_t total = 0;

	for (uint64_t i = 0; i < n; i++)
		total += times[i];
	qsort(times, n, sizeof(*times), bench_compare_u64);
	printf("echo mode=%s n=%" PRIu64 " median_us=%.1f p99_us=%.1f rate=%.0f\n",
	       bench_path_name(options->target.path), n,
	       bench_percentile(times, n, 50) / 1e3, bench_percentile(times, n, 99) / 1e3,
	       total > 0 ? (double)n * 1e9 / (double)total : 0.0);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct bench_server server = { 0 };
	struct bench_stream stream = { .fd = -1 };
	struct sb_client *client = NULL;
	struct options options;
	uint64_t *times = NULL, done, warmup_limit_ns;
	int r, status = 1;

	if (parse_options(argc, argv, &options) < 0) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	times = calloc(options.count, sizeof(*times));
	if (times == NULL) {
		fprintf(stderr, "out of memory for %" PRIu64 " samples\n", options.count);
		return 1;
	}
	if (bench_server_start(&server, serve_echo, NULL) < 0)
		goto out;
	if (bench_client_new(&options.target, PROGRAM, &client) < 0)
		goto out;
	if (bench_stream_open(&stream, &options.target, client, &server.address, true) < 0)
		goto out;

	warmup_limit_ns = (options.time_limit_s < WARMUP_TIME_LIMIT_S ? options.time_limit_s
								       : WARMUP_TIME_LIMIT_S) *
			  1000000000u;
	if ((r = run_round_trips(&stream, options.warmup, warmup_limit_ns, NULL, &done)) < 0)
		goto out;
	r = run_round_trips(&stream, options.count, options.time_limit_s * 1000000000u, times,
			    &done);
	if (r < 0)
		goto out;
	if (done < options.count)
		fprintf(stderr, "%s: the time limit of %" PRIu64 " s ended the run after %" PRIu64
			" of %" PRIu64 " round trips\n", PROGRAM, options.time_limit_s, done,
			options.count);
	report(&options, times, done);
	status = 0;

out:
	if (bench_stream_close(&stream) < 0)
		status = 1;
	sb_client_free(client);
	bench_server_stop(&server);
	free(times);
	return status;
}
