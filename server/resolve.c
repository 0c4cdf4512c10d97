#include "resolve.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "container.h"
#include "log.h"
#include "privileges.h"

/* One worker thread. A slot is reused once its thread ended and was joined. */
struct worker_slot {
	struct resolver *resolver;
	pthread_t thread;
	bool started;  /* thread is joinable */
	bool exited;   /* the thread ended (guarded by lock) */
	bool busy;     /* running a job of `owner` (guarded by lock) */
	bool extra;    /* beyond the initial workers: ends when idle */
	uint64_t owner;
};

struct resolver {
	struct reactor *reactor;
	pthread_mutex_t lock;
	pthread_cond_t wake;               /* a job was queued, or a share came free */
	struct resolve_job *queue_head;    /* guarded by lock */
	struct resolve_job *queue_tail;
	bool stopping;
	unsigned share;                    /* workers one owner may occupy at once */
	unsigned n_live;                   /* threads not ended (guarded by lock) */
	unsigned n_busy;                   /* threads running a job (guarded by lock) */
	bool said_cannot_grow;
	struct worker_slot slots[RESOLVER_MAX_THREADS];
};

void
resolve_address_work(struct resolve_job *base)
{
	struct resolve_address_job *job = (struct resolve_address_job *)(void *)base;
	struct addrinfo hints = { 0 }, *result = NULL;
	hints.ai_family = job->family;
	hints.ai_socktype = job->socktype;
	/* No AI_ADDRCONFIG: the reference resolves without it, and glibc does not count loopback
	 * addresses as configured, so in a loopback-only namespace it made "localhost" fail. */

	job->gai_error = getaddrinfo(job->host, NULL, &hints, &result);
	if (job->gai_error == EAI_SYSTEM)
		job->sys_errno = errno;
	if (job->gai_error == 0) {
		if (result->ai_addrlen <= sizeof(job->result)) {
			memcpy(&job->result, result->ai_addr, result->ai_addrlen);
			job->result_len = result->ai_addrlen;
		} else {
			job->gai_error = EAI_FAMILY;
		}
		freeaddrinfo(result);
	}
}

/* How many workers run a job of `owner` now. Called with the lock held. */
static unsigned
owner_running(const struct resolver *resolver, uint64_t owner)
{
	unsigned running = 0;
	for (unsigned i = 0; i < RESOLVER_MAX_THREADS; i++)
		running += resolver->slots[i].busy && resolver->slots[i].owner == owner;
	return running;
}

/* The first queued job whose owner has a share free, taken off the queue
 * when `take`; NULL when none can run now. Called with the lock held. */
static struct resolve_job *
find_runnable(struct resolver *resolver, bool take)
{
	struct resolve_job *prev = NULL;
	for (struct resolve_job *job = resolver->queue_head; job; prev = job, job = job->next) {
		if (owner_running(resolver, job->owner) >= resolver->share)
			continue;
		if (!take)
			return job;
		if (prev)
			prev->next = job->next;
		else
			resolver->queue_head = job->next;
		if (resolver->queue_tail == job)
			resolver->queue_tail = prev;
		job->next = NULL;
		return job;
	}
	return NULL;
}

static int start_worker(struct resolver *resolver, bool extra);

/* No worker is free but a queued job could run: start one more, so that
 * owners whose lookups hang do not hold up the others. Called with the lock
 * held, when a job was queued and when a worker took one. */
static void
grow_if_needed(struct resolver *resolver)
{
	if (resolver->n_busy < resolver->n_live || resolver->n_live >= RESOLVER_MAX_THREADS ||
	    !find_runnable(resolver, false))
		return;
	int r = start_worker(resolver, true);
	if (r < 0 && !resolver->said_cannot_grow) {
		resolver->said_cannot_grow = true;
		log_warn("resolver: cannot start another worker thread (%s); lookups wait for "
			 "the %u running ones",
			 strerror(-r), resolver->n_live);
	}
}

static void *
worker(void *arg)
{
	struct worker_slot *slot = arg;
	struct resolver *resolver = slot->resolver;

	/* A worker inherits its creator's capabilities and needs none: it runs libc's name
	 * service on names clients chose. Dropping the thread's own sets always succeeds;
	 * a failure would be a kernel refusing to drop, which cannot happen. */
	int dropped = privileges_thread_start();
	if (dropped < 0)
		log_error("resolver thread: cannot drop its capabilities: %s", strerror(-dropped));

	pthread_mutex_lock(&resolver->lock);
	while (!resolver->stopping) {
		struct resolve_job *job = find_runnable(resolver, true);
		if (job) {
			slot->busy = true;
			slot->owner = job->owner;
			resolver->n_busy++;
			grow_if_needed(resolver);
			pthread_mutex_unlock(&resolver->lock);
			job->work(job);
			reactor_post(resolver->reactor, &job->done);
			pthread_mutex_lock(&resolver->lock);
			slot->busy = false;
			resolver->n_busy--;
			/* The owner's share came free: a job of it may be runnable now. */
			pthread_cond_broadcast(&resolver->wake);
			continue;
		}
		int r = 0;
		if (slot->extra) {
			struct timespec deadline;
			clock_gettime(CLOCK_MONOTONIC, &deadline);
			deadline.tv_sec += RESOLVER_IDLE_SECONDS;
			r = pthread_cond_timedwait(&resolver->wake, &resolver->lock, &deadline);
		} else {
			pthread_cond_wait(&resolver->wake, &resolver->lock);
		}
		if (r == ETIMEDOUT)
			break;
	}
	slot->exited = true;
	resolver->n_live--;
	pthread_mutex_unlock(&resolver->lock);
	return NULL;
}

/* Start a worker in a free slot. Called with the lock held; returns 0 or
 * -errno. A slot whose thread ended is joined first (it has returned, or is
 * about to: the join does not wait for work). */
static int
start_worker(struct resolver *resolver, bool extra)
{
	struct worker_slot *slot = NULL;
	for (unsigned i = 0; i < RESOLVER_MAX_THREADS && !slot; i++) {
		struct worker_slot *s = &resolver->slots[i];
		if (s->started && s->exited) {
			pthread_join(s->thread, NULL);
			s->started = false;
		}
		if (!s->started)
			slot = s;
	}
	if (!slot)
		return -EAGAIN;
	*slot = (struct worker_slot){ .resolver = resolver, .extra = extra };
	int r = pthread_create(&slot->thread, NULL, worker, slot);
	if (r != 0)
		return -r;
	slot->started = true;
	resolver->n_live++;
	return 0;
}

static void
job_done(struct reactor_task *task)
{
	struct resolve_job *job = container_of(task, struct resolve_job, done);
	job->complete(job);
}

int
resolver_new(struct resolver **out, struct reactor *reactor, unsigned threads)
{
	int r = 0;
	if (threads < 1 || threads > RESOLVER_MAX_THREADS)
		return -EINVAL;
	struct resolver *resolver = calloc(1, sizeof(*resolver));
	if (!resolver)
		return -ENOMEM;
	resolver->reactor = reactor;
	resolver->share = threads;
	pthread_mutex_init(&resolver->lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&resolver->wake, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_lock(&resolver->lock);
	for (unsigned i = 0; i < threads && r == 0; i++)
		r = start_worker(resolver, false);
	pthread_mutex_unlock(&resolver->lock);
	if (r < 0) {
		resolver_free(resolver);
		return r;
	}
	*out = resolver;
	return 0;
}

void
resolver_free(struct resolver *resolver)
{
	if (!resolver)
		return;
	pthread_mutex_lock(&resolver->lock);
	resolver->stopping = true;
	struct resolve_job *job = resolver->queue_head;
	resolver->queue_head = resolver->queue_tail = NULL;
	pthread_cond_broadcast(&resolver->wake);
	pthread_mutex_unlock(&resolver->lock);

	for (unsigned i = 0; i < RESOLVER_MAX_THREADS; i++)
		if (resolver->slots[i].started)
			pthread_join(resolver->slots[i].thread, NULL);
	/* Jobs that never ran still go back to their owners, so that each
	 * request they serve gets its one reply. */
	while (job) {
		struct resolve_job *next = job->next;
		job->cancelled = true;
		reactor_post(resolver->reactor, &job->done);
		job = next;
	}
	pthread_cond_destroy(&resolver->wake);
	pthread_mutex_destroy(&resolver->lock);
	free(resolver);
}

void
resolver_submit(struct resolver *resolver, struct resolve_job *job)
{
	job->next = NULL;
	job->cancelled = false;
	job->done.run = job_done;
	pthread_mutex_lock(&resolver->lock);
	if (resolver->queue_tail)
		resolver->queue_tail->next = job;
	else
		resolver->queue_head = job;
	resolver->queue_tail = job;
	grow_if_needed(resolver);
	pthread_cond_broadcast(&resolver->wake);
	pthread_mutex_unlock(&resolver->lock);
}

unsigned
resolver_thread_count(struct resolver *resolver)
{
	pthread_mutex_lock(&resolver->lock);
	unsigned n = resolver->n_live;
	pthread_mutex_unlock(&resolver->lock);
	return n;
}
