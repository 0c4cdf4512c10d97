/*
 * bench-connect: connect + send 1 byte + close, against a loopback server,
 * over a direct kernel socket, through sockbrokerd, or through a SOCKS5
 * relay.
 *
 * usage: bench-connect MODE [--count N] [--warmup N] [--time-limit SECONDS]
 *   MODE  direct | broker URL | socks5 HOST:PORT
 *   --count N       connections measured (default 5000)
 *   --warmup N      connections before measuring (default 100)
 *   --time-limit S  stop measuring after S seconds (default 20)
 *
 * The program runs its own server thread on 127.0.0.1 that accepts, reads
 * one byte and closes. Each iteration is timed with CLOCK_MONOTONIC: socket
 * + connect (+ the SOCKS5 handshake) + send of one byte + close; through
 * the broker that is sb_create_connection + sb_send + sb_close. It prints
 * one line, rate being connections per second:
 *   connect mode=direct n=5000 median_us=30.1 p99_us=55.0 rate=31000
 * and exits 0, or 1 with the reason on stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define PROGRAM "bench-connect"
#define DEFAULT_COUNT 5000
#define DEFAULT_WARMUP 100
#define DEFAULT_TIME_LIMIT_S 20
#define MAX_COUNT 1000000
#define MAX_TIME_LIMIT_S 3600
/* The warm-up is bounded too, by this or the time limit if shorter. */
#define WARMUP_TIME_LIMIT_S 5
/* How long the server may take to catch up with the last connections. */
#define DRAIN_TIMEOUT_MS 5000

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

/* Read the one byte, then close. */
static void
serve_one_byte(struct bench_server *server, int fd)
{
	char byte;
	ssize_t n = bench_server_recv(server, fd, &byte, 1);

	if (n < 0)
		fprintf(stderr, "server: recv failed: %s\n", strerror((int)-n));
	else if (n == 0 && !bench_server_stopping(server))
		fprintf(stderr, "server: a connection closed without its byte\n");
	close(fd);
}

/* One byte with a single send (sb_send through the broker). */
static int
send_byte(struct bench_stream *stream)
{
	struct sb_error err;
	ssize_t n;

	if (stream->path == BENCH_BROKER) {
		n = sb_send(stream->client, stream->handle, "x", 1, 0, &err);
		if (n < 0)
			fprintf(stderr, "broker: send failed: %s (%s %s)\n", err.message,
				sb_error_kind_name(err.kind), err.errno_name);
	} else {
		n = send(stream->fd, "x", 1, MSG_NOSIGNAL);
		if (n < 0) {
			n = -errno;
			fprintf(stderr, "send failed: %s\n", strerror(errno));
		}
	}
	if (n == 0) {
		fprintf(stderr, "send took no byte\n");
		n = -EIO;
	}
	return n < 0 ? (int)n : 0;
}

static int
connect_once(const struct options *options, struct sb_client *client,
	     const struct sockaddr_in *server)
{
	struct bench_stream stream;
	int r, close_r;

	if ((r = bench_stream_open(&stream, &options->target, client, server, false)) < 0)
		return r;
	r = send_byte(&stream);
	close_r = bench_stream_close(&stream);
	return r < 0 ? r : close_r;
}

/*
 * Up to `count` connections within `limit_ns`; with `times`, each one's
 * duration is stored there. *done is how many completed.
 */
static int
run_connections(const struct options *options, struct sb_client *client,
		const struct sockaddr_in *server, uint64_t count, uint64_t limit_ns,
		uint64_t *times, uint64_t *done)
{
	uint64_t start = bench_now_ns();
	int r;

	*done = 0;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t before, after;

		if (bench_now_ns() - start >= limit_ns)
			break;
		before = bench_now_ns();
		if ((r = connect_once(options, client, server)) < 0)
			return r;
		after = bench_now_ns();
		if (times != NULL)
			times[i] = after - before;
		*done = i + 1;
	}
	return 0;
}

/* Let the server take the last connections before it is stopped. */
static void
wait_for_server(struct bench_server *server, uint64_t connections)
{
	uint64_t deadline = bench_now_ns() + DRAIN_TIMEOUT_MS * 1000000ULL;
	struct timespec pause = { .tv_nsec = 1000000 };

	while (atomic_load(&server->served) < connections && bench_now_ns() < deadline)
		nanosleep(&pause, NULL);
	if (atomic_load(&server->served) < connections)
		fprintf(stderr, "%s: the server accepted %lu of %" PRIu64 " connections\n", PROGRAM,
			atomic_load(&server->served), connections);
}

static void
report(const struct options *options, uint64_t *times, uint64_t n)
{
	uint64_t total = 0;

	for (uint64_t i = 0; i < n; i++)
		total += times[i];
	qsort(times, n, sizeof(*times), bench_compare_u64);
	printf("connect mode=%s n=%" PRIu64 " median_us=%.1f p99_us=%.1f rate=%.0f\n",
	       bench_path_name(options->target.path), n,
	       bench_percentile(times, n, 50) / 1e3, bench_percentile(times, n, 99) / 1e3,
	       total > 0 ? (double)n * 1e9 / (double)total : 0.0);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct bench_server server = { 0 };
	struct sb_client *client = NULL;
	struct options options;
	uint64_t *times = NULL, warmed_up, done, warmup_limit_ns;
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
	if (bench_server_start(&server, serve_one_byte, NULL) < 0)
		goto out;
	if (bench_client_new(&options.target, PROGRAM, &client) < 0)
		goto out;

	warmup_limit_ns = (options.time_limit_s < WARMUP_TIME_LIMIT_S ? options.time_limit_s
								       : WARMUP_TIME_LIMIT_S) *
			  1000000000u;
	r = run_connections(&options, client, &server.address, options.warmup, warmup_limit_ns,
			    NULL, &warmed_up);
	if (r < 0)
		goto out;
	r = run_connections(&options, client, &server.address, options.count,
			    options.time_limit_s * 1000000000u, times, &done);
	if (r < 0)
		goto out;
	wait_for_server(&server, warmed_up + done);
	if (done < options.count)
		fprintf(stderr, "%s: the time limit of %" PRIu64 " s ended the run after %" PRIu64
			" of %" PRIu64 " connections\n", PROGRAM, options.time_limit_s, done,
			options.count);
	report(&options, times, done);
	status = 0;

out:
	sb_client_free(client);
	bench_server_stop(&server);
	free(times);
	return status;
}
