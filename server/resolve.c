#include "resolve.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct resolver {
	struct reactor *reactor;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct resolve_job *queue_head; /* guarded by lock */
	struct resolve_job *queue_tail;
	bool stopping;
	pthread_t *threads;
	unsigned n_threads;
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

static void *
worker(void *arg)
{
	struct resolver *resolver = arg;
	for (;;) {
		pthread_mutex_lock(&resolver->lock);
		while (!resolver->queue_head && !resolver->stopping)
			pthread_cond_wait(&resolver->wake, &resolver->lock);
		if (resolver->stopping) {
			pthread_mutex_unlock(&resolver->lock);
			return NULL;
		}
		struct resolve_job *job = resolver->queue_head;
		resolver->queue_head = job->next;
		if (!resolver->queue_head)
			resolver->queue_tail = NULL;
		pthread_mutex_unlock(&resolver->lock);

		job->work(job);
		reactor_post(resolver->reactor, &job->done);
	}
}

static void
job_done(struct reactor_task *task)
{
	struct resolve_job *job = (struct resolve_job *)(void *)((char *)task -
								 offsetof(struct resolve_job, done));
	job->complete(job);
}

int
resolver_new(struct resolver **out, struct reactor *reactor, unsigned threads)
{
	int r;
	struct resolver *resolver = calloc(1, sizeof(*resolver));
	if (!resolver)
		return -ENOMEM;
	resolver->reactor = reactor;
	pthread_mutex_init(&resolver->lock, NULL);
	pthread_cond_init(&resolver->wake, NULL);
	resolver->threads = calloc(threads, sizeof(*resolver->threads));
	if (!resolver->threads) {
		r = -ENOMEM;
		goto err;
	}
	for (unsigned i = 0; i < threads; i++) {
		if ((r = pthread_create(&resolver->threads[i], NULL, worker, resolver)) != 0) {
			r = -r;
			goto err;
		}
		resolver->n_threads++;
	}
	*out = resolver;
	return 0;

err:
	resolver_free(resolver);
	return r;
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

	for (unsigned i = 0; i < resolver->n_threads; i++)
		pthread_join(resolver->threads[i], NULL);
	/* Jobs that never ran still go back to their owners, so that each
	 * request they serve gets its one reply. */
	while (job) {
		struct resolve_job *next = job->next;
		job->cancelled = true;
		reactor_post(resolver->reactor, &job->done);
		job = next;
	}
	free(resolver->threads);
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
	pthread_cond_signal(&resolver->wake);
	pthread_mutex_unlock(&resolver->lock);
}
