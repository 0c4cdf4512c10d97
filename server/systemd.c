#include "systemd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A count beyond this is a malformed environment, not a real service. */
#define MAX_PASSED 64

unsigned
systemd_listen_count(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	if (!pid || !fds)
		return 0;
	char *end;
	errno = 0;
	unsigned long listen_pid = strtoul(pid, &end, 10);
	if (errno || *end || listen_pid != (unsigned long)getpid())
		return 0;
	unsigned long n = strtoul(fds, &end, 10);
	if (errno || *end || n > MAX_PASSED)
		return 0;
	return (unsigned)n;
}

const char *
systemd_listen_name(unsigned index, char *buf, size_t len)
{
	const char *names = getenv("LISTEN_FDNAMES");
	buf[0] = '\0';
	for (unsigned i = 0; names && i < index; i++) {
		names = strchr(names, ':');
		if (names)
			names++;
	}
	if (!names)
		return buf;
	size_t n = strcspn(names, ":");
	snprintf(buf, len, "%.*s", (int)n, names);
	return buf;
}

void
systemd_listen_done(void)
{
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

int
systemd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || !*path)
		return 0;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t n = strlen(path);
	if (n >= sizeof(sun.sun_path) || (path[0] != '/' && path[0] != '@'))
		return -EINVAL;
	memcpy(sun.sun_path, path, n);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun, len) < 0
			? -errno
			: 0;
	close(fd);
	return r;
}
