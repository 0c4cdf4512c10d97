/*
 * The resolver: a small pool of worker threads for the name service calls
 * that block in libc (getaddrinfo and friends), so that they never run on
 * the reactor. A job is submitted from the reactor thread, runs on a
 * worker, and comes back to the reactor thread through reactor_post(),
 * where its `complete` callback runs. A job whose requester went away is
 * abandoned (userdata set to NULL) and simply freed when it comes back.
 */
#ifndef SOCKBROKER_RESOLVE_H
#define SOCKBROKER_RESOLVE_H

#include <stddef.h>
#include <sys/socket.h>

#include "reactor.h"

struct resolver;

struct resolve_job {
	struct reactor_task done; /* posted to the reactor when finished */
	struct resolve_job *next; /* resolver::queue */

	/* Input. */
	char host[256];
	int family; /* AF_INET or AF_INET6 */
	int socktype;

	/* Output: gai_error 0 and the first address, or the EAI_* error. */
	int gai_error;
	int sys_errno; /* for EAI_SYSTEM */
	struct sockaddr_storage result;
	socklen_t result_len;

	/* Runs on the reactor thread; it owns the job then. */
	void (*complete)(struct resolve_job *job);
	void *userdata;
};

/* Start `threads` workers posting results to `reactor`. Returns 0 or
 * -errno. */
int resolver_new(struct resolver **out, struct reactor *reactor, unsigned threads);

/* Stop the workers: queued jobs complete with EAI_CANCELED without
 * running; a lookup in progress is waited for. NULL is a no-op. */
void resolver_free(struct resolver *resolver);

/* Queue a job (reactor thread). */
void resolver_submit(struct resolver *resolver, struct resolve_job *job);

#endif
