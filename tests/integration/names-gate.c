/*
 * A test seam that test-names preloads into sockbrokerd (LD_PRELOAD): a
 * getaddrinfo() of a name under GATE_DOMAIN blocks until the test opens the
 * gate, so that a lookup is still pending, for certain and for as long as
 * the test needs, while it cancels the lookup, ends its session, or checks
 * that other sessions are still served. No network, no sleeps in the test.
 *
 * $SOCKBROKER_TEST_GATE names a directory. A gated lookup adds a byte to the
 * file "reached" there (the test waits for it to hold as many as it sent), then waits until a file "open"
 * exists (polling; at most GATE_MAX_MS), and answers EAI_NONAME. Every
 * other name goes to libc's getaddrinfo().
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define GATE_DOMAIN ".gate.sockbroker.test"
#define GATE_POLL_MS 5
#define GATE_MAX_MS 60000

typedef int getaddrinfo_fn(const char *, const char *, const struct addrinfo *, struct addrinfo **);

static int
gated(const char *node)
{
	size_t n = node ? strlen(node) : 0, suffix = strlen(GATE_DOMAIN);
	return n > suffix && strcmp(node + n - suffix, GATE_DOMAIN) == 0;
}

static void
wait_at_gate(void)
{
	const char *dir = getenv("SOCKBROKER_TEST_GATE");
	char reached[512], open_path[512];
	struct timespec pause = {0, GATE_POLL_MS * 1000000L};
	struct stat st;

	if (!dir)
		return;
	snprintf(reached, sizeof(reached), "%s/reached", dir);
	snprintf(open_path, sizeof(open_path), "%s/open", dir);
	int fd = open(reached, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd >= 0) {
		ssize_t n = write(fd, "r", 1);
		(void)n;
		close(fd);
	}
	for (int waited = 0; waited < GATE_MAX_MS && stat(open_path, &st) < 0;
	     waited += GATE_POLL_MS)
		nanosleep(&pause, NULL);
}

int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
	    struct addrinfo **res)
{
	getaddrinfo_fn *next;
	void *sym;

	if (gated(node)) {
		wait_at_gate();
		return EAI_NONAME;
	}
	/* Through memcpy: ISO C has no conversion from void * to a function pointer. */
	sym = dlsym(RTLD_NEXT, "getaddrinfo");
	memcpy(&next, &sym, sizeof(next));
	return next(node, service, hints, res);
}
