#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SOCKS5_VERSION 5
#define SOCKS5_NO_AUTH 0
#define SOCKS5_CONNECT 1
#define SOCKS5_ATYP_IPV4 1
#define SOCKS5_ATYP_DOMAIN 3
#define SOCKS5_ATYP_IPV6 4
#define SOCKS5_REFUSED 5
#define LISTEN_BACKLOG 1024

uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
bench_compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

uint64_t
bench_percentile(const uint64_t *sorted, size_t n, double p)
{
	size_t rank;

	if (p <= 0)
		return sorted[0];
	/* Nearest rank: the smallest value with at least p% at or below it. */
	rank = (size_t)((p / 100.0) * (double)n + 0.999999);
	if (rank == 0)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

int
bench_parse_size(const char *name, const char *value, uint64_t min, uint64_t max,
		 uint64_t *out)
{
	unsigned long long number;
	uint64_t multiplier = 1;
	char *end;

	if (value == NULL) {
		fprintf(stderr, "%s needs a value\n", name);
		return -EINVAL;
	}
	errno = 0;
	number = strtoull(value, &end, 10);
	if (end != value && *end != '\0' && end[1] == '\0') {
		switch (*end) {
		case 'k':
		case 'K':
			multiplier = 1024;
			end++;
			break;
		case 'M':
			multiplier = 1024 * 1024;
			end++;
			break;
		case 'G':
			multiplier = 1024 * 1024 * 1024;
			end++;
			break;
		default:
			break;
		}
	}
	if (errno != 0 || end == value || *end != '\0' || value[0] == '-' ||
	    number > UINT64_MAX / multiplier || number * multiplier < min ||
	    number * multiplier > max) {
		fprintf(stderr, "%s: '%s' is not a number from %" PRIu64 " to %" PRIu64 "\n", name,
			value, min, max);
		return -EINVAL;
	}
	*out = (uint64_t)number * multiplier;
	return 0;
}

const char *
bench_path_name(enum bench_path path)
{
	switch (path) {
	case BENCH_DIRECT:
		return "direct";
	case BENCH_BROKER:
		return "broker";
	case BENCH_SOCKS5:
		return "socks5";
	case BENCH_HANDOFF:
		return "handoff";
	}
	return "unknown";
}

static int
parse_host_port(const char *text, struct sockaddr_in *out)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = strrchr(text, ':');
	unsigned long port;
	char *end;

	if (colon == NULL || (size_t)(colon - text) >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || port == 0 || port > 65535)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

int
bench_parse_target(int argc, char **argv, int *index, struct bench_target *target)
{
	const char *mode = *index < argc ? argv[*index] : NULL;

	memset(target, 0, sizeof(*target));
	if (mode == NULL) {
		fprintf(stderr, "missing the mode: %s\n", BENCH_TARGET_USAGE);
		return -EINVAL;
	}
	if (strcmp(mode, "direct") == 0) {
		target->path = BENCH_DIRECT;
		*index += 1;
		return 0;
	}
	if (strcmp(mode, "broker") == 0 || strcmp(mode, "handoff") == 0 ||
	    strcmp(mode, "socks5") == 0) {
		const char *argument = *index + 1 < argc ? argv[*index + 1] : NULL;

		if (argument == NULL) {
			fprintf(stderr, "mode %s needs %s\n", mode,
				mode[0] != 's' ? "the broker's URL" : "the relay's HOST:PORT");
			return -EINVAL;
		}
		if (mode[0] == 'b' || mode[0] == 'h') {
			target->path = mode[0] == 'b' ? BENCH_BROKER : BENCH_HANDOFF;
			target->broker_url = argument;
		} else {
			target->path = BENCH_SOCKS5;
			if (parse_host_port(argument, &target->relay) < 0) {
				fprintf(stderr, "'%s' is not IPv4-ADDRESS:PORT\n", argument);
				return -EINVAL;
			}
		}
		*index += 2;
		return 0;
	}
	fprintf(stderr, "unknown mode '%s': %s\n", mode, BENCH_TARGET_USAGE);
	return -EINVAL;
}

int
bench_client_new(const struct bench_target *target, const char *program, struct sb_client **out)
{
	struct sb_error err;
	int r;

	*out = NULL;
	if (target->path != BENCH_BROKER && target->path != BENCH_HANDOFF)
		return 0;
	r = sb_client_new(out, target->broker_url, program, &err);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", program, err.message);
		return r;
	}
	/* Handles start in timeout mode, so that a stuck peer cannot hang the run. */
	sb_client_set_default_timeout(*out, BENCH_IO_TIMEOUT_MS / 1000.0);
	return 0;
}

static void
format_address(const struct sockaddr_in *address, char *buf, size_t len)
{
	char host[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &address->sin_addr, host, sizeof(host));
	snprintf(buf, len, "%s:%u", host, ntohs(address->sin_port));
}

static int
set_io_timeouts(int fd)
{
	struct timeval tv = {
		.tv_sec = BENCH_IO_TIMEOUT_MS / 1000,
		.tv_usec = (BENCH_IO_TIMEOUT_MS % 1000) * 1000,
	};

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

static void
set_server_timeouts(int fd)
{
	struct timeval receive = { .tv_usec = BENCH_POLL_MS * 1000 };
	struct timeval send = { .tv_sec = BENCH_IO_TIMEOUT_MS / 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &receive, sizeof(receive));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send, sizeof(send));
}

static int
set_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		return -errno;
	return 0;
}

/* A kernel read with the socket's timeout: EAGAIN means the peer went quiet. */
static ssize_t
read_some(int fd, void *buf, size_t len)
{
	ssize_t n;

	do {
		n = recv(fd, buf, len, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	return n;
}

static int
read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read_some(fd, (char *)buf + done, len - done);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -ECONNRESET;
		done += (size_t)n;
	}
	return 0;
}

int
bench_write_all(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(fd, (const char *)buf + done, len - done, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

static int
kernel_connect(const struct sockaddr_in *to, bool nodelay, int *out)
{
	char where[32];
	int fd, r;

	format_address(to, where, sizeof(where));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		fprintf(stderr, "cannot make a TCP socket: %s\n", strerror(-r));
		return r;
	}
	if ((r = set_io_timeouts(fd)) < 0 || (nodelay && (r = set_nodelay(fd)) < 0)) {
		fprintf(stderr, "cannot set socket options: %s\n", strerror(-r));
		goto err;
	}
	if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0) {
		r = -errno;
		fprintf(stderr, "cannot connect to %s: %s\n", where, strerror(-r));
		goto err;
	}
	*out = fd;
	return 0;

err:
	close(fd);
	return r;
}

static const char *
socks5_reply_text(unsigned code)
{
	static const char *const texts[] = {
		"succeeded",
		"general SOCKS server failure",
		"connection not allowed by ruleset",
		"network unreachable",
		"host unreachable",
		"connection refused",
		"TTL expired",
		"command not supported",
		"address type not supported",
	};

	return code < sizeof(texts) / sizeof(texts[0]) ? texts[code] : "unknown reply code";
}

/* RFC 1928: method selection (no authentication), then CONNECT to an IPv4
 * address; the reply's bound address is read and dropped. */
static int
socks5_handshake(int fd, const struct sockaddr_in *relay, const struct sockaddr_in *server)
{
	uint8_t greeting[3] = { SOCKS5_VERSION, 1, SOCKS5_NO_AUTH };
	uint8_t request[10] = { SOCKS5_VERSION, SOCKS5_CONNECT, 0, SOCKS5_ATYP_IPV4 };
	uint8_t reply[4 + 1 + 255 + 2];
	char where[32];
	size_t at = 4, rest;
	int r;

	format_address(relay, where, sizeof(where));
	memcpy(request + 4, &server->sin_addr, 4);
	memcpy(request + 8, &server->sin_port, 2);
	if ((r = bench_write_all(fd, greeting, sizeof(greeting))) < 0 ||
	    (r = read_full(fd, reply, 2)) < 0)
		goto err_io;
	if (reply[0] != SOCKS5_VERSION || reply[1] != SOCKS5_NO_AUTH) {
		fprintf(stderr, "the SOCKS5 relay at %s refused the no-authentication method "
			"(answered version %u, method %u)\n", where, reply[0], reply[1]);
		return -EPROTO;
	}
	if ((r = bench_write_all(fd, request, sizeof(request))) < 0 ||
	    (r = read_full(fd, reply, 4)) < 0)
		goto err_io;
	if (reply[0] != SOCKS5_VERSION || reply[1] != 0) {
		fprintf(stderr, "the SOCKS5 relay at %s refused CONNECT: %s (code %u)\n", where,
			socks5_reply_text(reply[1]), reply[1]);
		return reply[1] == SOCKS5_REFUSED ? -ECONNREFUSED : -EPROTO;
	}
	switch (reply[3]) {
	case SOCKS5_ATYP_IPV4:
		rest = 4 + 2;
		break;
	case SOCKS5_ATYP_IPV6:
		rest = 16 + 2;
		break;
	case SOCKS5_ATYP_DOMAIN:
		if ((r = read_full(fd, reply + at, 1)) < 0)
			goto err_io;
		rest = (size_t)reply[at] + 2;
		at++;
		break;
	default:
		fprintf(stderr, "the SOCKS5 relay at %s answered an unknown address type %u\n",
			where, reply[3]);
		return -EPROTO;
	}
	if ((r = read_full(fd, reply + at, rest)) < 0)
		goto err_io;
	return 0;

err_io:
	fprintf(stderr, "SOCKS5 handshake with %s failed: %s\n", where, strerror(-r));
	return r;
}

static int64_t
constant_or(struct sb_client *client, const char *name, int64_t fallback)
{
	int64_t value;

	return sb_constant(client, name, &value) == 0 ? value : fallback;
}

static int
broker_error(const char *what, const struct sb_error *err, int r)
{
	fprintf(stderr, "broker: %s failed: %s (%s %s)\n", what, err->message,
		sb_error_kind_name(err->kind), err->errno_name);
	return r;
}

/* As a user would: create_connection (the default timeout, as the reference
 * takes it), then TCP_NODELAY if asked for. */
static int
broker_connect(struct bench_stream *stream, const struct sockaddr_in *server, bool nodelay)
{
	struct sb_client *client = stream->client;
	char host[INET_ADDRSTRLEN];
	struct sb_error err;
	sb_handle handle;
	int r;

	inet_ntop(AF_INET, &server->sin_addr, host, sizeof(host));
	r = sb_create_connection(client, host, ntohs(server->sin_port),
				 sb_client_default_timeout(client), NULL,
				 &handle, NULL, NULL, NULL, &err);
	if (r < 0)
		return broker_error("create_connection", &err, r);
	if (nodelay) {
		r = sb_setsockopt_int(client, handle,
				      (int)constant_or(client, "IPPROTO_TCP", IPPROTO_TCP),
				      (int)constant_or(client, "TCP_NODELAY", TCP_NODELAY), 1,
				      &err);
		if (r < 0) {
			broker_error("setsockopt(TCP_NODELAY)", &err, r);
			goto err;
		}
	}
	stream->handle = handle;
	return 0;

err:
	sb_close(client, handle, NULL);
	return r;
}

/* create_connection asking for the socket itself; from then on a kernel socket. A socket
 * the daemon keeps is a failure: this path measures the handed-over socket only. */
static int
handoff_connect(struct bench_stream *stream, const struct sockaddr_in *server, bool nodelay)
{
	struct sb_client *client = stream->client;
	char host[INET_ADDRSTRLEN];
	struct sb_error err;
	sb_handle handle;
	int r, one = 1;

	inet_ntop(AF_INET, &server->sin_addr, host, sizeof(host));
	r = sb_create_connection_fd(client, host, ntohs(server->sin_port),
				    sb_client_default_timeout(client), NULL, &stream->fd, &handle,
				    NULL, &err);
	if (r < 0)
		return broker_error("create_connection", &err, r);
	if (stream->fd < 0) {
		fprintf(stderr, "broker: the socket was not handed over (a local broker whose "
				"policy allows handoff is needed)\n");
		sb_close(client, handle, NULL);
		return -EOPNOTSUPP;
	}
	/* Handed over in the daemon's non-blocking mode: this path reads blocking. */
	if (fcntl(stream->fd, F_SETFL, fcntl(stream->fd, F_GETFL) & ~O_NONBLOCK) < 0 ||
	    (nodelay &&
	     setsockopt(stream->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)) {
		r = -errno;
		fprintf(stderr, "handoff: cannot set up the socket: %s\n", strerror(-r));
		close(stream->fd);
		stream->fd = -1;
		return r;
	}
	return 0;
}

int
bench_stream_open(struct bench_stream *stream, const struct bench_target *target,
		  struct sb_client *client, const struct sockaddr_in *server, bool nodelay)
{
	int r;

	stream->path = target->path;
	stream->fd = -1;
	stream->client = client;
	stream->handle = 0;
	switch (target->path) {
	case BENCH_DIRECT:
		return kernel_connect(server, nodelay, &stream->fd);
	case BENCH_BROKER:
		return broker_connect(stream, server, nodelay);
	case BENCH_HANDOFF:
		return handoff_connect(stream, server, nodelay);
	case BENCH_SOCKS5:
		if ((r = kernel_connect(&target->relay, nodelay, &stream->fd)) < 0)
			return r;
		if ((r = socks5_handshake(stream->fd, &target->relay, server)) < 0) {
			close(stream->fd);
			stream->fd = -1;
			return r;
		}
		return 0;
	}
	return -EINVAL;
}

int
bench_stream_send_all(struct bench_stream *stream, const void *buf, size_t len)
{
	struct sb_error err;
	int r;

	if (stream->path != BENCH_BROKER) {
		r = bench_write_all(stream->fd, buf, len);
		if (r < 0)
			fprintf(stderr, "send failed: %s\n", strerror(-r));
		return r;
	}
	r = sb_sendall(stream->client, stream->handle, buf, len, 0, &err);
	if (r < 0)
		return broker_error("sendall", &err, r);
	return 0;
}

ssize_t
bench_stream_recv(struct bench_stream *stream, void *buf, size_t len)
{
	struct sb_error err;
	ssize_t n;

	if (stream->path != BENCH_BROKER) {
		n = read_some(stream->fd, buf, len);
		if (n < 0)
			fprintf(stderr, "recv failed: %s\n", strerror((int)-n));
		return n;
	}
	n = sb_recv(stream->client, stream->handle, buf, len, 0, &err);
	if (n < 0)
		return broker_error("recv", &err, (int)n);
	return n;
}

int
bench_stream_recv_full(struct bench_stream *stream, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = bench_stream_recv(stream, (char *)buf + done, len - done);

		if (n < 0)
			return (int)n;
		if (n == 0) {
			fprintf(stderr, "the stream ended after %zu of %zu bytes\n", done, len);
			return -ECONNRESET;
		}
		done += (size_t)n;
	}
	return 0;
}

int
bench_stream_close(struct bench_stream *stream)
{
	struct sb_error err;
	int r = 0;

	if (stream->path == BENCH_BROKER) {
		if (stream->handle != 0) {
			r = sb_close(stream->client, stream->handle, &err);
			stream->handle = 0;
			if (r < 0)
				broker_error("close", &err, r);
		}
		return r;
	}
	if (stream->fd >= 0) {
		if (close(stream->fd) < 0) {
			r = -errno;
			fprintf(stderr, "close failed: %s\n", strerror(-r));
		}
		stream->fd = -1;
	}
	return r;
}

/* servers */

static void *
server_thread(void *arg)
{
	struct bench_server *server = arg;

	while (!bench_server_stopping(server)) {
		struct pollfd pfd = { .fd = server->listen_fd, .events = POLLIN };
		int n = poll(&pfd, 1, BENCH_POLL_MS);
		int fd;

		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "server: poll failed: %s\n", strerror(errno));
			break;
		}
		if (n <= 0)
			continue;
		fd = accept4(server->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
				continue;
			fprintf(stderr, "server: accept failed: %s\n", strerror(errno));
			break;
		}
		set_nodelay(fd);
		set_server_timeouts(fd);
		atomic_fetch_add(&server->served, 1);
		server->serve(server, fd);
	}
	return NULL;
}

int
bench_server_start(struct bench_server *server, void (*serve)(struct bench_server *, int),
		   void *userdata)
{
	socklen_t len = sizeof(server->address);
	int one = 1, r;

	memset(&server->address, 0, sizeof(server->address));
	server->running = false;
	atomic_init(&server->stopping, false);
	atomic_init(&server->served, 0);
	server->serve = serve;
	server->userdata = userdata;
	server->address.sin_family = AF_INET;
	server->address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	server->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (server->listen_fd < 0) {
		r = -errno;
		fprintf(stderr, "server: cannot make a TCP socket: %s\n", strerror(-r));
		return r;
	}
	setsockopt(server->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(server->listen_fd, (struct sockaddr *)&server->address,
		 sizeof(server->address)) < 0 ||
	    listen(server->listen_fd, LISTEN_BACKLOG) < 0 ||
	    getsockname(server->listen_fd, (struct sockaddr *)&server->address, &len) < 0) {
		r = -errno;
		fprintf(stderr, "server: cannot listen on 127.0.0.1: %s\n", strerror(-r));
		goto err;
	}
	r = -pthread_create(&server->thread, NULL, server_thread, server);
	if (r < 0) {
		fprintf(stderr, "server: cannot start its thread: %s\n", strerror(-r));
		goto err;
	}
	server->running = true;
	return 0;

err:
	close(server->listen_fd);
	server->listen_fd = -1;
	return r;
}

void
bench_server_stop(struct bench_server *server)
{
	if (!server->running)
		return;
	atomic_store(&server->stopping, true);
	pthread_join(server->thread, NULL);
	close(server->listen_fd);
	server->listen_fd = -1;
	server->running = false;
}

ssize_t
bench_server_recv(struct bench_server *server, int fd, void *buf, size_t len)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)BENCH_IO_TIMEOUT_MS * 1000000u;

	/* The receive timeout is BENCH_POLL_MS: a plain recv() per message, and
	 * a look at the stop flag whenever the peer is quiet. */
	while (!bench_server_stopping(server)) {
		ssize_t n = recv(fd, buf, len, 0);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		if (bench_now_ns() >= deadline)
			break;
	}
	return 0;
}
