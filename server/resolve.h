/*
 * The resolver: a small pool of worker threads for the calls that block in
 * libc (getaddrinfo, getnameinfo, gethostby*_r, getservby*_r, ...), so that
 * they never run on the reactor. A job is submitted from the reactor thread;
 * its `work` runs on a worker, and then it comes back to the reactor thread
 * through reactor_post(), where its `complete` runs.
 *
 * A job is a struct that embeds `struct resolve_job` and carries its own
 * arguments and results: `work` touches only those, never reactor state.
 * A job whose requester went away is abandoned (its requester sets
 * userdata to NULL on the reactor thread) and freed by `complete` when it
 * comes back; nobody waits for it, so a lookup that hangs holds one worker
 * and nothing else.
 *
 * Fairness: each job names its owner (the session). The jobs of one owner
 * occupy at most as many workers at once as the pool was started with; the
 * rest of that owner's jobs wait in the queue while other owners' jobs go
 * ahead. When every worker is busy and a job could run, the pool grows, up
 * to RESOLVER_MAX_THREADS; a worker beyond the initial ones that finds
 * nothing to do for RESOLVER_IDLE_SECONDS ends. So lookups that hang (a
 * name server that does not answer) stall their own session, not others.
 */
#ifndef SOCKBROKER_RESOLVE_H
#define SOCKBROKER_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "reactor.h"

struct resolver;

struct resolve_job {
	struct reactor_task done; /* posted to the reactor when finished */
	struct resolve_job *next; /* resolver::queue */

	/* Runs on a worker thread and may block. */
	void (*work)(struct resolve_job *job);
	/* Runs on the reactor thread; it owns the job then. */
	void (*complete)(struct resolve_job *job);
	void *userdata; /* the requester's; NULL once it went away (reactor thread) */
	uint64_t owner; /* whose share of the workers it uses (a session id; 0 is one too) */
	/* Set when the resolver stopped before the job ran: `work` never ran. */
	bool cancelled;
};

/* One host name to its first IP address: the lookup behind a host name in
 * the address of bind, connect and sendto. */
struct resolve_address_job {
	struct resolve_job job; /* job.work = resolve_address_work */

	/* Input. */
	char host[256];
	int family; /* AF_INET or AF_INET6 */
	int socktype;

	/* Output: gai_error 0 and the first address, or the EAI_* error. */
	int gai_error;
	int sys_errno; /* for EAI_SYSTEM */
	struct sockaddr_storage result;
	socklen_t result_len;
};

/* The `work` of a struct resolve_address_job: getaddrinfo() of its host. */
void resolve_address_work(struct resolve_job *job);

/* The most workers the pool grows to, and how long a worker beyond the
 * initial ones stays without work before it ends. */
#define RESOLVER_MAX_THREADS 64
#define RESOLVER_IDLE_SECONDS 30

/* Start `threads` workers (1 to RESOLVER_MAX_THREADS) posting results to
 * `reactor`; `threads` is also each owner's share. Returns 0 or -errno. */
int resolver_new(struct resolver **out, struct reactor *reactor, unsigned threads);

/* Stop the workers: queued jobs come back with `cancelled` set, without
 * running; a job in progress is waited for (a lookup is bounded by the
 * resolver's own timeouts, resolv.conf's timeout and attempts). NULL is a
 * no-op. */
void resolver_free(struct resolver *resolver);

/* Queue a job (reactor thread). job->work, job->complete and job->owner must
 * be set. It runs on a worker when its owner has a share free, in the order
 * the owner submitted its jobs. */
void resolver_submit(struct resolver *resolver, struct resolve_job *job);

/* The workers alive now (for the log and the tests). */
unsigned resolver_thread_count(struct resolver *resolver);

#endif
