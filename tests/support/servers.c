#include "servers.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#define IDLE_MS 10000
#define MAX_CONNECTIONS 4

static void
transform(struct echo_server *server, char *buf, ssize_t n)
{
	if (!server->upper)
		return;
	for (ssize_t i = 0; i < n; i++)
		buf[i] = (char)toupper((unsigned char)buf[i]);
}

static int
wait_readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	return poll(&pfd, 1, IDLE_MS) > 0;
}

static void
serve_stream(struct echo_server *server, int conn)
{
	char buf[65536];
	while (wait_readable(conn)) {
		ssize_t n = recv(conn, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		transform(server, buf, n);
		for (ssize_t off = 0; off < n;) {
			ssize_t w = send(conn, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
			if (w <= 0)
				return;
			off += w;
		}
	}
}

static void *
run(void *arg)
{
	struct echo_server *server = arg;
	char buf[65536];

	if (server->type == SOCK_DGRAM) {
		while (wait_readable(server->fd)) {
			struct sockaddr_storage peer;
			socklen_t len = sizeof(peer);
			ssize_t n = recvfrom(server->fd, buf, sizeof(buf), 0,
					     (struct sockaddr *)&peer, &len);
			/* No sender address: the socket was shut down (stop). */
			if (n < 0 || len == 0)
				break;
			transform(server, buf, n);
			sendto(server->fd, buf, (size_t)n, 0, (struct sockaddr *)&peer, len);
		}
		return NULL;
	}
	for (int i = 0; i < MAX_CONNECTIONS && wait_readable(server->fd); i++) {
		int conn = accept(server->fd, NULL, NULL);
		if (conn < 0)
			break;
		serve_stream(server, conn);
		close(conn);
	}
	return NULL;
}

int
echo_server_start(struct echo_server *server, int family, int type)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int one = 1;

	memset(server, 0, sizeof(*server));
	server->family = family;
	server->type = type;
	server->fd = socket(family, type | SOCK_CLOEXEC, 0);
	if (server->fd < 0)
		return -errno;
	setsockopt(server->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		len = sizeof(*sin6);
	}
	if (bind(server->fd, (struct sockaddr *)&ss, len) < 0 ||
	    (type == SOCK_STREAM && listen(server->fd, 8) < 0) ||
	    getsockname(server->fd, (struct sockaddr *)&ss, &len) < 0) {
		int r = -errno;
		close(server->fd);
		return r;
	}
	server->port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					       : ((struct sockaddr_in6 *)&ss)->sin6_port);
	if (pthread_create(&server->thread, NULL, run, server) != 0) {
		close(server->fd);
		return -EAGAIN;
	}
	return 0;
}

int
echo_server_start_unix(struct echo_server *server, const char *path, int abstract)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t n = strlen(path);
	socklen_t len;

	memset(server, 0, sizeof(*server));
	server->family = AF_UNIX;
	server->type = SOCK_STREAM;
	snprintf(server->path, sizeof(server->path), "%s", path);
	if (abstract) {
		memcpy(sun.sun_path + 1, path, n);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	} else {
		memcpy(sun.sun_path, path, n);
		len = sizeof(sun);
		unlink(path);
	}
	server->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (server->fd < 0)
		return -errno;
	if (bind(server->fd, (struct sockaddr *)&sun, len) < 0 || listen(server->fd, 8) < 0) {
		int r = -errno;
		close(server->fd);
		return r;
	}
	if (pthread_create(&server->thread, NULL, run, server) != 0) {
		close(server->fd);
		return -EAGAIN;
	}
	return 0;
}

void
echo_server_stop(struct echo_server *server)
{
	/* shutdown() wakes the thread's poll on the listening socket. */
	shutdown(server->fd, SHUT_RDWR);
	pthread_join(server->thread, NULL);
	close(server->fd);
}

uint16_t
closed_tcp_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	getsockname(fd, (struct sockaddr *)&sin, &len);
	close(fd);
	return ntohs(sin.sin_port);
}
