/*
 * bench-bulk: one-way bulk stream throughput to a loopback sink, over a
 * direct kernel socket, through sockbrokerd, or through a SOCKS5 relay.
 *
 * usage: bench-bulk MODE [--bytes N] [--chunk N] [--repeat R] [--time-limit SECONDS]
 *   MODE  direct | broker URL | socks5 HOST:PORT
 *   --bytes N       bytes per run, with an optional k/M/G suffix (default 1G)
 *   --chunk N       bytes per write (default 256k)
 *   --repeat R      runs; the median is reported (default 3)
 *   --time-limit S  a run that takes longer fails (default 60)
 *
 * The program runs its own sink server thread on 127.0.0.1, which counts
 * the bytes it receives and answers one byte once it has them all. Each run
 * opens a new connection on MODE's path, writes the bytes in chunks (each
 * one sb_sendall through the broker) and is timed from the first write
 * until the sink's answer arrives. It prints one line (here folded),
 * throughput in MB/s, 10^6 bytes per second:
 *   bulk mode=direct bytes=1073741824 runs=3 median_mbps=2500.0 min_mbps=2400.0
 *     max_mbps=2600.0 chunk=262144
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

#define PROGRAM "bench-bulk"
#define DEFAULT_CHUNK (256 * 1024)
#define MAX_CHUNK (64 * 1024 * 1024)
#define SINK_BUFFER (256 * 1024)
#define DEFAULT_BYTES (1024ULL * 1024 * 1024)
#define DEFAULT_REPEAT 3
#define DEFAULT_TIME_LIMIT_S 60
#define MAX_BYTES (64ULL * 1024 * 1024 * 1024)
#define MAX_REPEAT 100
#define MAX_TIME_LIMIT_S 3600
#define SINK_DONE 'k'

struct options {
	struct bench_target target;
	uint64_t bytes;
	uint64_t chunk;
	uint64_t repeat;
	uint64_t time_limit_s;
};

static void
usage(FILE *out)
{
	fprintf(out, "usage: %s %s [--bytes N] [--chunk N] [--repeat R] [--time-limit SECONDS]\n",
		PROGRAM, BENCH_TARGET_USAGE);
}

static int
parse_options(int argc, char **argv, struct options *options)
{
	int index = 1, r;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		exit(0);
	}
	options->bytes = DEFAULT_BYTES;
	options->chunk = DEFAULT_CHUNK;
	options->repeat = DEFAULT_REPEAT;
	options->time_limit_s = DEFAULT_TIME_LIMIT_S;
	if ((r = bench_parse_target(argc, argv, &index, &options->target)) < 0)
		return r;
	while (index < argc) {
		const char *name = argv[index];
		const char *value = index + 1 < argc ? argv[index + 1] : NULL;

		if (strcmp(name, "--bytes") == 0)
			r = bench_parse_size(name, value, 1, MAX_BYTES, &options->bytes);
		else if (strcmp(name, "--chunk") == 0)
			r = bench_parse_size(name, value, 1, MAX_CHUNK, &options->chunk);
		else if (strcmp(name, "--repeat") == 0)
			r = bench_parse_size(name, value, 1, MAX_REPEAT, &options->repeat);
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

/* Count bytes; answer SINK_DONE once the run's size is in, then wait for
 * the peer to close. */
static void
serve_sink(struct bench_server *server, int fd)
{
	const uint64_t *expected = server->userdata;
	static char buf[SINK_BUFFER];
	uint64_t received = 0;
	char done = SINK_DONE;
	ssize_t n;
	int r;

	while ((n = bench_server_recv(server, fd, buf, sizeof(buf))) > 0) {
		bool was_short = received < *expected;

		received += (uint64_t)n;
		if (was_short && received >= *expected) {
			if ((r = bench_write_all(fd, &done, 1)) < 0) {
				fprintf(stderr, "sink: send failed: %s\n", strerror(-r));
				break;
			}
		}
	}
	if (n < 0)
		fprintf(stderr, "sink: recv failed: %s\n", strerror((int)-n));
	if (received != *expected)
		fprintf(stderr, "sink: received %" PRIu64 " bytes on a connection, expected %"
			PRIu64 "\n", received, *expected);
	close(fd);
}

/* One run on a new connection. *mbps is its throughput. */
static int
run_once(const struct options *options, struct sb_client *client,
	 const struct sockaddr_in *sink, const char *chunk, double *mbps)
{
	uint64_t limit_ns = options->time_limit_s * 1000000000u;
	struct bench_stream stream;
	uint64_t sent = 0, start, elapsed;
	char done;
	int r, close_r;

	if ((r = bench_stream_open(&stream, &options->target, client, sink, false)) < 0)
		return r;
	start = bench_now_ns();
	while (sent < options->bytes) {
		size_t len = options->bytes - sent < options->chunk
				     ? (size_t)(options->bytes - sent)
				     : (size_t)options->chunk;

		if ((r = bench_stream_send_all(&stream, chunk, len)) < 0)
			goto out;
		sent += len;
		if (bench_now_ns() - start > limit_ns) {
			fprintf(stderr, "%s: only %" PRIu64 " of %" PRIu64 " bytes went in %" PRIu64
				" s (--time-limit)\n", PROGRAM, sent, options->bytes,
				options->time_limit_s);
			r = -ETIMEDOUT;
			goto out;
		}
	}
	if ((r = bench_stream_recv_full(&stream, &done, 1)) < 0)
		goto out;
	elapsed = bench_now_ns() - start;
	if (done != SINK_DONE) {
		fprintf(stderr, "%s: the sink answered an unexpected byte\n", PROGRAM);
		r = -EPROTO;
		goto out;
	}
	*mbps = (double)options->bytes / ((double)elapsed / 1e9) / 1e6;

out:
	close_r = bench_stream_close(&stream);
	return r < 0 ? r : close_r;
}

static int
compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	struct bench_server server = { 0 };
	struct sb_client *client = NULL;
	struct options options;
	double *mbps = NULL, median;
	char *chunk = NULL;
	int status = 1;

	if (parse_options(argc, argv, &options) < 0) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	mbps = calloc(options.repeat, sizeof(*mbps));
	chunk = malloc(options.chunk);
	if (mbps == NULL || chunk == NULL) {
		fprintf(stderr, "out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < options.chunk; i++)
		chunk[i] = (char)(i * 7);

	if (bench_server_start(&server, serve_sink, &options.bytes) < 0)
		goto out;
	if (bench_client_new(&options.target, PROGRAM, &client) < 0)
		goto out;
	for (uint64_t i = 0; i < options.repeat; i++) {
		if (run_once(&options, client, &server.address, chunk, &mbps[i]) < 0)
			goto out;
	}
	qsort(mbps, options.repeat, sizeof(*mbps), compare_double);
	median = options.repeat % 2 ? mbps[options.repeat / 2]
				    : (mbps[options.repeat / 2 - 1] + mbps[options.repeat / 2]) / 2;
	printf("bulk mode=%s bytes=%" PRIu64 " runs=%" PRIu64
	       " median_mbps=%.1f min_mbps=%.1f max_mbps=%.1f chunk=%" PRIu64 "\n",
	       bench_path_name(options.target.path), options.bytes, options.repeat,
	       median, mbps[0], mbps[options.repeat - 1], options.chunk);
	fflush(stdout);
	status = 0;

out:
	sb_client_free(client);
	bench_server_stop(&server);
	free(chunk);
	free(mbps);
	return status;
}
