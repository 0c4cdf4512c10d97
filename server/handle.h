/*
 * Handles: the daemon's side of a client socket. A handle owns one fd and
 * the state the reference keeps per socket object (family/type/proto,
 * timeout mode, inheritable flag), plus the FIFO queues of operations parked
 * on it. Handles live in one table keyed by id; ids come from a counter and
 * are never reused. A lookup is scoped to a session: another session's
 * handle is not found.
 *
 * Reference counting: the table holds one reference; anything that outlives
 * a handler (a parked operation) holds another. handle_close() takes the
 * handle out of the table and closes the fd at once; the memory goes when
 * the last reference drops, at the end of the reactor turn, so that an
 * epoll event already fetched for it in this turn finds a closed handle and
 * not freed memory. All of it runs on the reactor thread.
 */
#ifndef SOCKBROKER_HANDLE_H
#define SOCKBROKER_HANDLE_H

#include <stdbool.h>
#include <stdint.h>

#include "idmap.h"
#include "list.h"
#include "reactor.h"

struct session;

enum handle_state {
	HANDLE_OPEN,
	HANDLE_CLOSED,
};

struct handle {
	uint64_t id;
	int fd;
	int family, type, proto;
	int64_t timeout_ns; /* TIMEOUT_NONE, 0 or a positive timeout */
	bool inheritable;
	enum handle_state state;
	unsigned refs;

	struct session *session;
	struct list session_link;  /* session::handles */
	struct list parked_reads;  /* op::handle_link */
	struct list parked_writes; /* op::handle_link */
	struct list poll_waiters;  /* poll_waiter::handle_link (ops/poll.c) */

	struct reactor_source source;
	struct reactor_task free_task;
	struct handle_table *table;

	uint64_t bytes_in, bytes_out, op_count;
	/* AF_UNIX bound through a pinned directory (ops/permit.c): the path the
	 * client named, which getsockname reports; NULL otherwise. */
	char *bound_path;
};

struct handle_table {
	struct idmap by_id;
	uint64_t last_id;
	struct reactor *reactor;
	size_t count;
	/* Called when a handle's fd is ready: the operation queues run. */
	void (*ready)(struct handle *handle, uint32_t events);
};

/* Initialise an empty table. */
void handle_table_init(struct handle_table *table, struct reactor *reactor,
		       void (*ready)(struct handle *handle, uint32_t events));

/* Release the table; every handle must have been closed. */
void handle_table_fini(struct handle_table *table);

/* Make a handle for `fd` (which it then owns, also on failure: the fd is
 * closed) in `session`, and watch it in the reactor. Returns 0 or -errno. */
int handle_new(struct handle_table *table, struct session *session, int fd, int family, int type,
	       int proto, int64_t timeout_ns, struct handle **out);

/* The handle `id` of `session`, or NULL (unknown, closed, or another
 * session's). No reference is taken: the result is valid until the
 * handler returns. */
struct handle *handle_find(struct handle_table *table, const struct session *session, uint64_t id);

/* Take a reference. */
struct handle *handle_ref(struct handle *handle);

/* Drop a reference; the last one frees the handle at the end of the turn. */
void handle_unref(struct handle *handle);

/* Take the handle out of the table and its session, stop watching and close
 * the fd, and drop the table's reference. Its parked operations must have
 * been completed by the caller first. Returns 0 or the -errno of close(). */
int handle_close(struct handle *handle);

#endif
