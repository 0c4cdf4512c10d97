#include "sp.h"
#include "clock.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Bounds of the waits that are not the caller's to choose. */
#define CHILD_TIMEOUT_MS 10000
#define HANDSHAKE_TIMEOUT_MS 10000
#define FRAME_TIMEOUT_MS 30000

#define SP_PROTO_REQ 0x30
#define SP_PROTO_REP 0x31
#define IPC_MSG_TYPE 0x01

/* Wait until fd is readable or `deadline_ms` (test_now_ms()) passes. Returns 1, or 0 on timeout. */
static int
wait_readable(int fd, int64_t deadline_ms)
{
	for (;;) {
		int64_t left = deadline_ms - test_now_ms();
		if (left <= 0)
			return 0;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int r = poll(&pfd, 1, (int)left);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			ck_abort_msg("poll: %s", strerror(errno));
	}
}

/* Read exactly `len` bytes by `deadline_ms`. Returns 0, -ECONNRESET at the end of the
 * stream (or a reset), -ETIMEDOUT. */
/* Descriptors that arrive with the bytes (SCM_RIGHTS) are kept in `client`, in order, when
 * one is given; without one the kernel closes them. */
static int
read_exactly_with_fds(int fd, void *buf, size_t len, int64_t deadline_ms,
		      struct sp_client *client)
{
	uint8_t *p = buf;
	while (len > 0) {
		if (!wait_readable(fd, deadline_ms))
			return -ETIMEDOUT;
		union {
			char space[CMSG_SPACE(sizeof(int) * SP_MAX_FDS)];
			struct cmsghdr align;
		} control;
		struct iovec iov = { .iov_base = p, .iov_len = len };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		if (client) {
			msg.msg_control = control.space;
			msg.msg_controllen = sizeof(control.space);
		}
		ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		for (struct cmsghdr *c = client && n > 0 ? CMSG_FIRSTHDR(&msg) : NULL; c;
		     c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < count; i++) {
				int received;
				memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				ck_assert_uint_lt(client->n_fds, SP_MAX_FDS);
				client->fds[client->n_fds++] = received;
			}
		}
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == ECONNRESET || errno == EPIPE)
				return -ECONNRESET;
			ck_abort_msg("recv: %s", strerror(errno));
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
read_exactly(int fd, void *buf, size_t len, int64_t deadline_ms)
{
	return read_exactly_with_fds(fd, buf, len, deadline_ms, NULL);
}

static int
write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reap `pid` within CHILD_TIMEOUT_MS, killing it if it overstays. */
static void
reap(pid_t pid)
{
	int64_t deadline = test_now_ms() + CHILD_TIMEOUT_MS;
	int status;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (test_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			ck_abort_msg("the child connecting to the server did not exit in time");
		}
		test_sleep_ms(1);
	}
}

void
sp_connect(struct sp_client *client, const char *url)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	ck_assert_msg(strncmp(url, "ipc://", 6) == 0, "not an ipc:// URL: %s", url);
	ck_assert_uint_lt(strlen(url + 6), sizeof(addr.sun_path));
	memcpy(addr.sun_path, url + 6, strlen(url + 6) + 1);

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));

	/* SO_PEERCRED records whoever calls connect(): the child. It ends at once (its copy
	 * of the socket closes with it, ours stays connected), by SIGKILL rather than _exit():
	 * under valgrind an exiting child runs the leak check on its copy of our heap, without
	 * the threads that referenced parts of it, and reports those parts lost. */
	pid_t pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		(void)connect(fd, (struct sockaddr *)&addr, sizeof(addr));
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	reap(pid);
	struct sockaddr_un peer;
	socklen_t peer_len = sizeof(peer);
	ck_assert_msg(getpeername(fd, (struct sockaddr *)&peer, &peer_len) == 0,
		      "the child could not connect to %s: %s", url, strerror(errno));

	const uint8_t hello[8] = {0, 'S', 'P', 0, 0, SP_PROTO_REQ, 0, 0};
	uint8_t answer[8];
	ck_assert_int_eq(write_all(fd, hello, sizeof(hello)), 0);
	int r = read_exactly(fd, answer, sizeof(answer), test_now_ms() + HANDSHAKE_TIMEOUT_MS);
	ck_assert_msg(r == 0, "no SP handshake from %s: %s", url, strerror(-r));
	const uint8_t expected[8] = {0, 'S', 'P', 0, 0, SP_PROTO_REP, 0, 0};
	ck_assert_msg(memcmp(answer, expected, sizeof(expected)) == 0,
		      "%s answered the handshake with something other than REP", url);
	client->fd = fd;
	client->peer_pid = pid;
	client->n_fds = 0;
}

void
sp_close(struct sp_client *client)
{
	if (client->fd >= 0)
		close(client->fd);
	client->fd = -1;
	for (size_t i = 0; i < client->n_fds; i++)
		close(client->fds[i]);
	client->n_fds = 0;
}

int
sp_take_fd(struct sp_client *client)
{
	if (client->n_fds == 0)
		return -1;
	int fd = client->fds[0];
	memmove(client->fds, client->fds + 1, (client->n_fds - 1) * sizeof(int));
	client->n_fds--;
	return fd;
}

int
sp_send(struct sp_client *client, uint32_t id, const void *body, size_t len)
{
	uint8_t header[13];
	uint64_t frame_len = (uint64_t)len + 4;
	header[0] = IPC_MSG_TYPE;
	for (int i = 0; i < 8; i++)
		header[1 + i] = (uint8_t)(frame_len >> (56 - 8 * i));
	id |= 0x80000000u;
	for (int i = 0; i < 4; i++)
		header[9 + i] = (uint8_t)(id >> (24 - 8 * i));
	int r = write_all(client->fd, header, sizeof(header));
	if (r == 0 && len > 0)
		r = write_all(client->fd, body, len);
	return r;
}

int
sp_recv(struct sp_client *client, uint32_t *id, uint8_t **body, size_t *len, int timeout_ms)
{
	uint8_t header[13];
	if (!wait_readable(client->fd, test_now_ms() + timeout_ms))
		return -ETIMEDOUT;
	/* A frame has begun: the rest of it must follow. */
	int64_t deadline = test_now_ms() + FRAME_TIMEOUT_MS;
	int r = read_exactly_with_fds(client->fd, header, 9, deadline, client);
	if (r == -ECONNRESET)
		return r;
	ck_assert_msg(r == 0, "a reply frame was cut short: %s", strerror(-r));
	ck_assert_uint_eq(header[0], IPC_MSG_TYPE);
	uint64_t frame_len = 0;
	for (int i = 0; i < 8; i++)
		frame_len = frame_len << 8 | header[1 + i];
	ck_assert_msg(frame_len >= 4 && frame_len <= 256u * 1024 * 1024,
		      "a reply frame of %llu bytes", (unsigned long long)frame_len);
	ck_assert_int_eq(read_exactly(client->fd, header + 9, 4, deadline), 0);
	uint32_t reply_id = 0;
	for (int i = 0; i < 4; i++)
		reply_id = reply_id << 8 | header[9 + i];
	size_t body_len = (size_t)frame_len - 4;
	uint8_t *buf = malloc(body_len ? body_len : 1);
	ck_assert(buf);
	r = read_exactly(client->fd, buf, body_len, deadline);
	if (r < 0) {
		free(buf);
		ck_abort_msg("a reply body of %zu bytes was cut short: %s", body_len, strerror(-r));
	}
	*id = reply_id & ~0x80000000u;
	*body = buf;
	*len = body_len;
	return 0;
}

int
sp_wait_closed(struct sp_client *client, int timeout_ms)
{
	int64_t deadline = test_now_ms() + timeout_ms;
	for (;;) {
		uint32_t id;
		uint8_t *body;
		size_t len;
		int64_t left = deadline - test_now_ms();
		int r = sp_recv(client, &id, &body, &len, left > 0 ? (int)left : 0);
		if (r == -ECONNRESET)
			return 1;
		if (r == -ETIMEDOUT)
			return 0;
		free(body);
	}
}
