/*
 * A test seam that test-poll preloads into sockbrokerd (LD_PRELOAD) for
 * create_connection's all_errors case: the name DUAL_NAME resolves to ::1
 * and then 127.0.0.1, as "localhost" does on hosts whose hosts file lists
 * both, so that a connection to it has two addresses to try on every
 * machine. Every other name goes to libc's getaddrinfo().
 */
#include <dlfcn.h>
#include <netdb.h>
#include <string.h>

#define DUAL_NAME "dual.sockbroker.test"

typedef int getaddrinfo_fn(const char *, const char *, const struct addrinfo *, struct addrinfo **);

int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
	    struct addrinfo **res)
{
	getaddrinfo_fn *next;
	void *sym;
	struct addrinfo numeric = {0}, *v6 = NULL, *v4 = NULL, *last;
	int r;

	/* Through memcpy: ISO C has no conversion from void * to a function pointer. */
	sym = dlsym(RTLD_NEXT, "getaddrinfo");
	memcpy(&next, &sym, sizeof(next));
	if (!node || strcmp(node, DUAL_NAME) != 0)
		return next(node, service, hints, res);

	if (hints)
		numeric = *hints;
	numeric.ai_flags |= AI_NUMERICHOST;
	numeric.ai_family = AF_INET6;
	if (!hints || hints->ai_family == AF_UNSPEC || hints->ai_family == AF_INET6) {
		if ((r = next("::1", service, &numeric, &v6)) != 0)
			return r;
	}
	numeric.ai_family = AF_INET;
	if (!hints || hints->ai_family == AF_UNSPEC || hints->ai_family == AF_INET) {
		if ((r = next("127.0.0.1", service, &numeric, &v4)) != 0) {
			if (v6)
				freeaddrinfo(v6);
			return r;
		}
	}
	if (!v6 && !v4)
		return EAI_ADDRFAMILY;
	/* libc frees a list node by node, so two lists joined free as one. */
	if (!v6) {
		*res = v4;
		return 0;
	}
	for (last = v6; last->ai_next; last = last->ai_next)
		;
	last->ai_next = v4;
	*res = v6;
	return 0;
}
