#include "handle.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "container.h"
#include "log.h"
#include "quota.h"
#include "session.h"

static void
handle_ready(struct reactor_source *source, uint32_t events)
{
	struct handle *handle = container_of(source, struct handle, source);
	if (handle->state != HANDLE_OPEN)
		return;
	handle->table->ready(handle, events);
}

static void
handle_free_task(struct reactor_task *task)
{
	struct handle *handle = container_of(task, struct handle, free_task);
	free(handle->bound_path);
	free(handle);
}

void
handle_table_init(struct handle_table *table, struct reactor *reactor,
		  void (*ready)(struct handle *handle, uint32_t events))
{
	idmap_init(&table->by_id);
	table->last_id = 0;
	table->reactor = reactor;
	table->count = 0;
	table->ready = ready;
}

void
handle_table_fini(struct handle_table *table)
{
	if (table->count)
		log_error("handle table: %zu handles still open at shutdown", table->count);
	idmap_fini(&table->by_id);
}

int
handle_new(struct handle_table *table, struct session *session, int fd, int family, int type,
	   int proto, int64_t timeout_ns, struct handle **out)
{
	int r;
	struct handle *handle = calloc(1, sizeof(*handle));
	if (!handle) {
		r = -ENOMEM;
		goto err_fd;
	}
	handle->id = ++table->last_id;
	handle->fd = fd;
	handle->family = family;
	handle->type = type;
	handle->proto = proto;
	handle->timeout_ns = timeout_ns;
	handle->state = HANDLE_OPEN;
	handle->refs = 1;
	handle->session = session;
	handle->table = table;
	list_init(&handle->parked_reads);
	list_init(&handle->parked_writes);
	list_init(&handle->poll_waiters);
	handle->source.fd = fd;
	handle->source.ready = handle_ready;
	handle->free_task.run = handle_free_task;

	if ((r = idmap_put(&table->by_id, handle->id, handle)) < 0)
		goto err_free;
	/* Edge-triggered: an operation is always tried first and parks only on
	 * EAGAIN, so an edge is needed only to wake what is parked. */
	if ((r = reactor_add_fd(table->reactor, &handle->source,
				EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)) < 0)
		goto err_map;
	list_append(&session->handles, &handle->session_link);
	session->n_handles++;
	if (session->quota)
		session->quota->handles++;
	budget_share_take_descriptors(&session->budget, 1, true);
	table->count++;
	*out = handle;
	return 0;

err_map:
	idmap_remove(&table->by_id, handle->id);
err_free:
	free(handle);
err_fd:
	close(fd);
	return r;
}

struct handle *
handle_find(struct handle_table *table, const struct session *session, uint64_t id)
{
	struct handle *handle = idmap_get(&table->by_id, id);
	if (!handle || handle->session != session || handle->state != HANDLE_OPEN)
		return NULL;
	return handle;
}

struct handle *
handle_ref(struct handle *handle)
{
	handle->refs++;
	return handle;
}

void
handle_unref(struct handle *handle)
{
	if (--handle->refs == 0)
		reactor_defer(handle->table->reactor, &handle->free_task);
}

int
handle_close(struct handle *handle)
{
	int r = 0;
	struct handle_table *table = handle->table;

	if (handle->state != HANDLE_OPEN)
		return 0;
	handle->state = HANDLE_CLOSED;
	idmap_remove(&table->by_id, handle->id);
	list_remove(&handle->session_link);
	handle->session->n_handles--;
	if (handle->session->quota)
		handle->session->quota->handles--;
	budget_share_put_descriptors(&handle->session->budget, 1);
	table->count--;
	reactor_del_fd(table->reactor, &handle->source);
	if (close(handle->fd) < 0)
		r = -errno;
	handle->fd = -1;
	handle_unref(handle);
	return r;
}
