/*
 * What the benchmark programs share: the paths a program can take to a
 * server (a direct kernel socket, sockbrokerd through libsockbroker, or a
 * SOCKS5 relay), a byte stream over any of them, servers on loopback that
 * run on their own thread, the clock, and percentiles.
 *
 * The programs measure; they do not recover. Every failure is reported on
 * stderr where it happens, naming what was being attempted, and passed up
 * as -errno so that the program can release what it holds and exit 1.
 * Every wait is bounded: servers look at their stop flag at least every
 * BENCH_POLL_MS, and no call here waits longer than BENCH_IO_TIMEOUT_MS for
 * a peer that went quiet.
 */
#ifndef SOCKBROKER_BENCH_COMMON_H
#define SOCKBROKER_BENCH_COMMON_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sockbroker.h"

/* How often a server thread looks at its stop flag. */
#define BENCH_POLL_MS 100
/* The longest any single read or write waits for a quiet peer. */
#define BENCH_IO_TIMEOUT_MS 10000

/* The clock every measurement uses: CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* qsort() comparator for uint64_t. */
int bench_compare_u64(const void *a, const void *b);

/* The p-th percentile (0..100, nearest rank) of `n` (> 0) values sorted in
 * ascending order. */
uint64_t bench_percentile(const uint64_t *sorted, size_t n, double p);

/*
 * Parse `value`, the argument of option `name`, as an unsigned integer in
 * [min, max]; a k/M/G suffix multiplies by 1024, 1024^2, 1024^3. Returns 0,
 * or -EINVAL with a message printed.
 */
int bench_parse_size(const char *name, const char *value, uint64_t min, uint64_t max,
		     uint64_t *out);

/* How a program reaches its server. */
enum bench_path {
	BENCH_DIRECT, /* a kernel TCP socket */
	BENCH_BROKER, /* a handle of sockbrokerd, through libsockbroker */
	BENCH_SOCKS5, /* a kernel TCP socket to a SOCKS5 relay, CONNECT without auth */
	BENCH_HANDOFF, /* the daemon's socket handed over (sb_create_connection_fd), then used
			* as a kernel socket */
};

struct bench_target {
	enum bench_path path;
	const char *broker_url;   /* BENCH_BROKER, BENCH_HANDOFF: borrowed from argv */
	struct sockaddr_in relay; /* BENCH_SOCKS5 */
};

/* "direct", "broker", "socks5", "handoff". */
const char *bench_path_name(enum bench_path path);

/* The usage text of a target, for a program's usage message. */
#define BENCH_TARGET_USAGE "direct | broker URL | handoff URL | socks5 HOST:PORT"

/*
 * Parse a target from argv[*index]: "direct", "broker URL" or
 * "socks5 HOST:PORT" (HOST an IPv4 address). *index moves past it.
 * `target` borrows from argv. Returns 0, or -EINVAL with a message printed.
 */
int bench_parse_target(int argc, char **argv, int *index, struct bench_target *target);

/*
 * Connect to the broker at `url` for `target` paths of BENCH_BROKER; other
 * paths need no client and get *out = NULL. Free it with sb_client_free().
 * Returns 0 or -errno with the broker's message printed.
 */
int bench_client_new(const struct bench_target *target, const char *program,
		     struct sb_client **out);

/* A connected byte stream to a server, on any path. */
struct bench_stream {
	enum bench_path path;
	int fd;                   /* BENCH_DIRECT, BENCH_SOCKS5, BENCH_HANDOFF; -1 when closed */
	struct sb_client *client; /* BENCH_BROKER: borrowed */
	sb_handle handle;         /* BENCH_BROKER; 0 when closed */
};

/*
 * Open a TCP stream to `server` on `target`'s path: socket + connect
 * (through the broker sb_create_connection, as a user would), and for
 * SOCKS5 the relay's CONNECT handshake. With `nodelay`, TCP_NODELAY is
 * set on the socket the program holds (the kernel socket, or the daemon's
 * socket behind the handle). `client` is borrowed (NULL unless broker).
 * Returns 0, or -errno with a message printed.
 */
int bench_stream_open(struct bench_stream *stream, const struct bench_target *target,
		      struct sb_client *client, const struct sockaddr_in *server, bool nodelay);

/* Send all `len` bytes (sb_sendall through the broker). Returns 0 or -errno. */
int bench_stream_send_all(struct bench_stream *stream, const void *buf, size_t len);

/* Receive up to `len` bytes: the count, 0 at the end of the stream, or
 * -errno. */
ssize_t bench_stream_recv(struct bench_stream *stream, void *buf, size_t len);

/* Receive exactly `len` bytes; the end of the stream first is -ECONNRESET. */
int bench_stream_recv_full(struct bench_stream *stream, void *buf, size_t len);

/* Close the stream (sb_close through the broker). Returns 0 or -errno; the
 * stream is closed either way. Closing a closed stream is a no-op. */
int bench_stream_close(struct bench_stream *stream);

/*
 * A TCP server on 127.0.0.1, on a free port, with one thread that accepts
 * connections and serves them one at a time with `serve`, which owns the
 * connection's fd (it must close it). The thread stops within
 * BENCH_POLL_MS of bench_server_stop(); `serve` must look at
 * bench_server_stopping() at least as often, which bench_server_recv() does.
 * Accepted connections have TCP_NODELAY set.
 */
struct bench_server {
	int listen_fd;
	struct sockaddr_in address; /* where it listens */
	pthread_t thread;
	bool running;
	atomic_bool stopping;
	atomic_ulong served; /* connections handed to serve() so far */
	void (*serve)(struct bench_server *server, int fd);
	void *userdata;
};

/* Start `server` (zeroed before). Returns 0 or -errno with a message
 * printed. */
int bench_server_start(struct bench_server *server, void (*serve)(struct bench_server *, int),
		       void *userdata);

/* Stop the thread and close the listening socket. A zeroed server that
 * never started is a no-op. */
void bench_server_stop(struct bench_server *server);

static inline bool
bench_server_stopping(struct bench_server *server)
{
	return atomic_load(&server->stopping);
}

/*
 * In serve(): recv() up to `len` bytes from the connection `fd`. Returns the
 * count; 0 at the end of the stream, when the server is stopping, or when
 * the peer stayed quiet for BENCH_IO_TIMEOUT_MS; or -errno.
 */
ssize_t bench_server_recv(struct bench_server *server, int fd, void *buf, size_t len);

/* write() all of `buf` to a kernel socket. Returns 0 or -errno. */
int bench_write_all(int fd, const void *buf, size_t len);

#endif
