#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "paths.h"
#include "sockbroker.pb-c.h"
#include "transport.h"

/* Used when the daemon announces no max_data_size. */
#define DEFAULT_MAX_DATA_SIZE (1024 * 1024)
/* Room before a packed request for the `seq` field: tag + 10-byte varint. */
#define SEQ_PREFIX_MAX 11
/* Buckets of the tables of calls by request id and of handles by id. */
#define CALL_BUCKETS 256
#define HANDLE_BUCKETS 256
/*
 * Sends larger than this are not written behind. Measured through today's
 * daemon (bench-bulk, 2 cores): write-behind makes a stream of 16 KiB sends
 * 2.7x faster, is even at 64 KiB, and costs a third of the throughput at
 * 256 KiB, where one round trip per send is already amortised and more
 * requests in flight only add work to the daemon.
 */
#define WRITE_BEHIND_MAX (64 * 1024)
/* The high bit of an SP request id says "last hop"; the other 31 are ours. */
#define REQUEST_ID_BIT 0x80000000u
/* The length of a resume secret (HelloReply.resume_secret) and of the constants digest. */
#define RESUME_SECRET_LEN 16
#define DIGEST_LEN 32

/* errors */

const char *
sb_error_kind_name(enum sb_error_kind kind)
{
	switch (kind) {
	case SB_ERR_NONE:
		return "none";
	case SB_ERR_OS:
		return "os";
	case SB_ERR_TIMEOUT:
		return "timeout";
	case SB_ERR_GAI:
		return "gai";
	case SB_ERR_HERROR:
		return "herror";
	case SB_ERR_DENIED:
		return "denied";
	case SB_ERR_BAD_REQUEST:
		return "bad_request";
	case SB_ERR_BAD_HANDLE:
		return "bad_handle";
	case SB_ERR_UNSUPPORTED:
		return "unsupported";
	case SB_ERR_QUOTA:
		return "quota";
	case SB_ERR_CANCELLED:
		return "cancelled";
	case SB_ERR_TRANSPORT:
		return "transport";
	}
	return "unknown";
}

int
sb__missing_argument(struct sb_error *err, const char *name)
{
	return sb__error_set(err, SB_ERR_BAD_REQUEST, EINVAL, "%s must not be NULL", name);
}

int
sb__out_of_memory(struct sb_error *err)
{
	return sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "out of memory");
}

void
sb__error_clear(struct sb_error *err)
{
	if (err == NULL)
		return;
	err->kind = SB_ERR_NONE;
	err->errno_number = 0;
	err->errno_name[0] = '\0';
	err->message[0] = '\0';
	err->gai_code = 0;
	err->herror_code = 0;
	err->rule[0] = '\0';
}

int
sb__error_set(struct sb_error *err, enum sb_error_kind kind, int errnum, const char *fmt, ...)
{
	const char *name;
	va_list args;

	if (err != NULL) {
		sb__error_clear(err);
		err->kind = kind;
		err->errno_number = errnum;
		name = sb__errno_name(errnum);
		snprintf(err->errno_name, sizeof(err->errno_name), "%s", name != NULL ? name : "");
		va_start(args, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, args);
		va_end(args);
	}
	return -errnum;
}

static enum sb_error_kind
kind_from_wire(Sockbroker__V1__ErrorKind kind)
{
	switch (kind) {
	case SOCKBROKER__V1__ERROR_KIND__TIMEOUT:
		return SB_ERR_TIMEOUT;
	case SOCKBROKER__V1__ERROR_KIND__GAI:
		return SB_ERR_GAI;
	case SOCKBROKER__V1__ERROR_KIND__HERROR:
		return SB_ERR_HERROR;
	case SOCKBROKER__V1__ERROR_KIND__DENIED:
		return SB_ERR_DENIED;
	case SOCKBROKER__V1__ERROR_KIND__BAD_REQUEST:
		return SB_ERR_BAD_REQUEST;
	case SOCKBROKER__V1__ERROR_KIND__BAD_HANDLE:
		return SB_ERR_BAD_HANDLE;
	case SOCKBROKER__V1__ERROR_KIND__UNSUPPORTED:
		return SB_ERR_UNSUPPORTED;
	case SOCKBROKER__V1__ERROR_KIND__QUOTA:
		return SB_ERR_QUOTA;
	case SOCKBROKER__V1__ERROR_KIND__CANCELLED:
		return SB_ERR_CANCELLED;
	default:
		return SB_ERR_OS;
	}
}

/* The errno a kind stands for when the daemon named none. */
static int
kind_default_errno(enum sb_error_kind kind)
{
	switch (kind) {
	case SB_ERR_TIMEOUT:
		return ETIMEDOUT;
	case SB_ERR_CANCELLED:
		return ECANCELED;
	case SB_ERR_DENIED:
		return EACCES;
	case SB_ERR_BAD_REQUEST:
		return EINVAL;
	case SB_ERR_BAD_HANDLE:
		return EBADF;
	case SB_ERR_UNSUPPORTED:
		return ENOSYS;
	case SB_ERR_QUOTA:
		return ENOBUFS;
	case SB_ERR_GAI:
	case SB_ERR_HERROR:
		/*
		 * Name service failures have no errno of their own; callers
		 * tell them apart by kind, and "no such entry" is what most
		 * of them mean.
		 */
		return ENOENT;
	default:
		return EIO;
	}
}

int
sb__error_from_wire(struct sb_error *err, const struct Sockbroker__V1__Error *wire)
{
	enum sb_error_kind kind;
	int errnum;

	kind = wire->has_kind ? kind_from_wire(wire->kind) : SB_ERR_OS;
	errnum = sb__errno_from_name(wire->errno_name);
	if (errnum == 0 && wire->has_errno_number && wire->errno_number > 0)
		errnum = wire->errno_number;
	if (errnum == 0)
		errnum = kind_default_errno(kind);

	if (err != NULL) {
		sb__error_clear(err);
		err->kind = kind;
		err->errno_number = errnum;
		if (wire->errno_name != NULL && wire->errno_name[0] != '\0') {
			snprintf(err->errno_name, sizeof(err->errno_name), "%s", wire->errno_name);
		} else {
			const char *name = sb__errno_name(errnum);

			snprintf(err->errno_name, sizeof(err->errno_name), "%s",
				 name != NULL ? name : "");
		}
		if (wire->message != NULL && wire->message[0] != '\0')
			snprintf(err->message, sizeof(err->message), "%s", wire->message);
		else if (kind == SB_ERR_UNSUPPORTED && wire->operation != NULL)
			snprintf(err->message, sizeof(err->message),
				 "the broker does not support %s", wire->operation);
		else
			snprintf(err->message, sizeof(err->message), "%s", strerror(errnum));
		err->gai_code = wire->has_gai_code ? wire->gai_code : 0;
		err->herror_code = wire->has_herror_code ? wire->herror_code : 0;
		if (wire->rule != NULL)
			snprintf(err->rule, sizeof(err->rule), "%s", wire->rule);
	}

	/* The reference raises timeout and cancellation whatever errno came. */
	if (kind == SB_ERR_TIMEOUT)
		return -ETIMEDOUT;
	if (kind == SB_ERR_CANCELLED)
		return -ECANCELED;
	return -errnum;
}

/* URL */

char *
sb_default_url(char *buf, size_t len)
{
	/* The daemon's rule (common/paths.c); on overflow the truncated URL is kept. */
	if (buf != NULL && len != 0)
		paths_default_url(buf, len);
	return buf;
}

/* the client */

struct constant {
	char *name;
	int64_t value;
};

/* A thread waiting in await(): for its call's reply, or for a handle to settle. */
struct waiter {
	struct waiter *prev, *next; /* sb_client::waiters */
	pthread_cond_t wake;
};

/*
 * One request in flight. It is registered (on sb_client::pending_calls and
 * in sb_client::calls_by_id) from the moment it has a number until its
 * reply, or the connection's loss, is in, so that sb_cancel_handle() can
 * name it and the reader can hand it its reply. A call written behind
 * belongs to the client: the reader that receives its reply finishes and
 * frees it, or its writer does once the frame is out, if the reply (or the
 * connection's loss) came first.
 */
struct pending_call {
	struct pending_call *prev, *next; /* sb_client::pending_calls */
	struct pending_call *id_next;     /* sb_client::calls_by_id */
	uint32_t id;
	uint64_t seq;
	sb_handle handle;
	int op; /* the request's op case */
	bool is_cancel;
	bool behind;         /* written behind: no thread waits for it */
	size_t behind_bytes; /* its share of its handle's behind_bytes */
	bool registered;
	bool in_write; /* its frame is being written: a written-behind call is not freed yet */
	bool done;
	int result;                    /* when done: 0 with `reply`, or a negative errno */
	Sockbroker__V1__Reply *reply;  /* when done with a decoded reply; owned */
	int handed_fd_plus1; /* the socket the reply handed over, plus one; 0: none (owned) */
	struct waiter *waiter;         /* the thread waiting for this call, or NULL */
	uint8_t *packed;               /* headroom, seq room, then the packed request */
	size_t packed_len;             /* bytes of the packed request */
};

/*
 * What the client knows of one stream handle for write-behind: whether it
 * is connected and not shut down (only then does the kernel take bytes at
 * once: a send on an unconnected or shut-down socket fails there and then),
 * the credit its last reply carried, what was written behind and is not
 * answered yet, and the first error one of those sends left for the next
 * call.
 */
struct handle_state {
	struct handle_state *next; /* sb_client::handles */
	sb_handle handle;
	bool connected; /* a reply showed it connected */
	bool shut_down; /* shutdown() was asked: no write-behind any more */
	bool has_credit;
	uint64_t credit;       /* Reply.send_space of the last reply about it */
	uint64_t behind_bytes; /* written behind, reply not read yet */
	unsigned behind_calls;
	int error;             /* 0, or the -errno of a failed write-behind send */
	uint64_t error_seq;    /* the number of that send */
	struct sb_error error_detail;
};

struct sb_client {
	struct sb__transport *transport;
	char *url;
	struct sb_server_info info;
	struct constant *constants; /* sorted by name */
	size_t n_constants;
	_Atomic double default_timeout;

	/* One frame on the wire at a time, in number order; taken before `lock`. */
	pthread_mutex_t write_lock;
	uint64_t last_seq; /* guarded by write_lock */

	/* Resuming the session over a new connection (tcp, tls+tcp): what the first
	 * connection was made with (owned copies), and what the broker's Hello gave.
	 * Set before any other thread can see the client. */
	struct sb_client_options options;
	char *client_name, *token, *tls_ca_file, *tls_cert_key_file;
	uint8_t resume_secret[RESUME_SECRET_LEN];
	bool has_resume_secret;
	uint32_t resume_grace_ms; /* 0: the session ends with its connection */
	uint8_t constants_digest[DIGEST_LEN];
	bool has_digest;

	pthread_mutex_t lock;
	/* Everything below is guarded by `lock`. */
	pthread_cond_t calls_done;
	uint32_t last_id;
	bool reading; /* a waiting thread holds the reader role */
	bool lost;    /* the connection failed or was shut down */
	int lost_errno;
	/* A send failed on a resumable session: the reader resumes it, and the frames of
	 * registered calls are sent again then. */
	bool link_down;
	char resume_error[200]; /* why resuming failed, when it did */
	bool closing; /* sb_client_free() has begun */
	unsigned active_calls;
	struct pending_call *pending_calls;
	struct pending_call *calls_by_id[CALL_BUCKETS];
	struct waiter *waiters;
	struct handle_state *handles[HANDLE_BUCKETS];
};

/* Called with client->lock held: the error of a call that cannot go on. */
static int
unusable_error(const struct sb_client *client, struct sb_error *err)
{
	if (client->closing)
		return sb__error_set(err, SB_ERR_TRANSPORT, ECONNRESET,
				     "the client was closed while the call was in flight");
	if (client->resume_error[0])
		return sb__error_set(err, SB_ERR_TRANSPORT, ECONNRESET,
				     "the connection to the broker at %s was lost (%s) and the "
				     "session could not be resumed: %s; make a new client",
				     client->url, strerror(client->lost_errno), client->resume_error);
	return sb__error_set(err, SB_ERR_TRANSPORT, ECONNRESET,
			     "the connection to the broker at %s was lost (%s); the session and "
			     "its handles are gone: make a new client",
			     client->url, strerror(client->lost_errno));
}

static int
protocol_error(struct sb_error *err, const char *what)
{
	return sb__error_set(err, SB_ERR_TRANSPORT, EPROTO, "the broker %s", what);
}

/* ---- tables (called with client->lock held) ---- */

static void
call_register(struct sb_client *client, struct pending_call *call)
{
	struct pending_call **bucket = &client->calls_by_id[call->id % CALL_BUCKETS];

	call->prev = NULL;
	call->next = client->pending_calls;
	if (client->pending_calls != NULL)
		client->pending_calls->prev = call;
	client->pending_calls = call;
	call->id_next = *bucket;
	*bucket = call;
	call->registered = true;
}

static void
call_unregister(struct sb_client *client, struct pending_call *call)
{
	struct pending_call **link = &client->calls_by_id[call->id % CALL_BUCKETS];

	if (!call->registered)
		return;
	if (call->prev != NULL)
		call->prev->next = call->next;
	else
		client->pending_calls = call->next;
	if (call->next != NULL)
		call->next->prev = call->prev;
	call->prev = call->next = NULL;
	while (*link != call)
		link = &(*link)->id_next;
	*link = call->id_next;
	call->id_next = NULL;
	call->registered = false;
}

static struct pending_call *
call_find(struct sb_client *client, uint32_t id)
{
	struct pending_call *call = client->calls_by_id[id % CALL_BUCKETS];

	while (call != NULL && call->id != id)
		call = call->id_next;
	return call;
}

/* A request id no registered call has; ids wrap after 2^31 requests. */
static uint32_t
next_request_id(struct sb_client *client)
{
	uint32_t id;

	do {
		client->last_id = (client->last_id + 1) & ~REQUEST_ID_BIT;
		id = client->last_id | REQUEST_ID_BIT;
	} while (call_find(client, id) != NULL);
	return id;
}

static struct handle_state **
state_link(struct sb_client *client, sb_handle handle)
{
	struct handle_state **link = &client->handles[handle % HANDLE_BUCKETS];

	while (*link != NULL && (*link)->handle != handle)
		link = &(*link)->next;
	return link;
}

static struct handle_state *
state_find(struct sb_client *client, sb_handle handle)
{
	return *state_link(client, handle);
}

/* Forget a handle's state once nothing depends on it. */
static void
state_drop_if_idle(struct sb_client *client, sb_handle handle)
{
	struct handle_state **link = state_link(client, handle), *state = *link;

	if (state == NULL || state->has_credit || state->behind_calls > 0 || state->error != 0 ||
	    state->shut_down)
		return;
	*link = state->next;
	free(state);
}

static void
state_drop(struct sb_client *client, sb_handle handle)
{
	struct handle_state **link = state_link(client, handle), *state = *link;

	if (state == NULL)
		return;
	*link = state->next;
	free(state);
}

/* The handle a reply tells the credit of: a new one for accept and create_connection. */
static sb_handle
reply_subject(const struct pending_call *call, const Sockbroker__V1__Reply *reply)
{
	if (reply->result_case == SOCKBROKER__V1__REPLY__RESULT_ACCEPT &&
	    reply->accept->socket != NULL)
		return reply->accept->socket->handle;
	if (reply->result_case == SOCKBROKER__V1__REPLY__RESULT_CREATE_CONNECTION &&
	    reply->create_connection->socket != NULL)
		return reply->create_connection->socket->handle;
	if (call->handle == SB__POLL_HANDLE)
		return 0;
	return call->handle;
}

/* Whether a successful reply shows its handle connected. */
static bool
shows_connected(const struct pending_call *call, const Sockbroker__V1__Reply *reply)
{
	switch (reply->result_case) {
	case SOCKBROKER__V1__REPLY__RESULT_ACCEPT:
	case SOCKBROKER__V1__REPLY__RESULT_CREATE_CONNECTION:
		return true;
	case SOCKBROKER__V1__REPLY__RESULT_DONE:
		return call->op == SOCKBROKER__V1__REQUEST__OP_CONNECT;
	case SOCKBROKER__V1__REPLY__RESULT_CONNECT:
		/* connect_ex: 0 is connected; an errno is not. */
		return (reply->connect->errno_name == NULL || reply->connect->errno_name[0] == '\0') &&
		       (!reply->connect->has_errno_number || reply->connect->errno_number == 0);
	case SOCKBROKER__V1__REPLY__RESULT_SEND:
		return call->op != SOCKBROKER__V1__REQUEST__OP_SENDTO && reply->send->count > 0;
	case SOCKBROKER__V1__REPLY__RESULT_RECV:
		return reply->recv->data.len > 0;
	case SOCKBROKER__V1__REPLY__RESULT_RECVMSG:
		return reply->recvmsg->data.len > 0;
	default:
		return false;
	}
}

static void
update_credit(struct sb_client *client, const struct pending_call *call,
	      const Sockbroker__V1__Reply *reply)
{
	sb_handle handle = reply_subject(call, reply);
	struct handle_state *state;

	if (handle == 0)
		return;
	state = state_find(client, handle);
	if (!reply->has_send_space) {
		if (state != NULL) {
			state->has_credit = false;
			state_drop_if_idle(client, handle);
		}
		return;
	}
	if (state == NULL) {
		/* Without memory there is just no write-behind on this handle. */
		state = calloc(1, sizeof(*state));
		if (state == NULL)
			return;
		state->handle = handle;
		state->next = client->handles[handle % HANDLE_BUCKETS];
		client->handles[handle % HANDLE_BUCKETS] = state;
	}
	state->has_credit = true;
	state->credit = reply->send_space;
	if (reply->error == NULL && shows_connected(call, reply))
		state->connected = true;
	if (call->op == SOCKBROKER__V1__REQUEST__OP_SHUTDOWN)
		state->shut_down = true;
}

static void
call_free_behind(struct pending_call *call)
{
	sb__reply_free(call->reply);
	free(call->packed);
	free(call);
}

/* A written-behind call's reply is in: account for it, keep its error. */
static void
finish_behind(struct sb_client *client, struct pending_call *call)
{
	struct handle_state *state = state_find(client, call->handle);

	call_unregister(client, call);
	if (state != NULL) {
		state->behind_bytes -= call->behind_bytes;
		state->behind_calls--;
		if (call->result == 0 && call->reply->error != NULL && state->error == 0) {
			state->error = sb__error_from_wire(&state->error_detail, call->reply->error);
			state->error_seq = call->seq;
		}
		if (state->behind_calls == 0) {
			/* Settling threads check their handle themselves. */
			for (struct waiter *w = client->waiters; w != NULL; w = w->next)
				pthread_cond_signal(&w->wake);
		}
		state_drop_if_idle(client, call->handle);
	}
	call_free_behind(call);
}

/*
 * The connection is gone (or being shut down): every registered call ends
 * with `errnum`, written-behind ones are dropped, every waiter wakes.
 */
static void
connection_lost(struct sb_client *client, int errnum)
{
	struct pending_call *call, *next;

	if (!client->lost) {
		client->lost = true;
		client->lost_errno = errnum;
		sb__transport_shutdown(client->transport);
	}
	for (call = client->pending_calls; call != NULL; call = next) {
		next = call->next;
		if (call->behind && !call->in_write) {
			call_unregister(client, call);
			call_free_behind(call);
			continue;
		}
		call->done = true;
		call->result = -ECONNRESET;
		call_unregister(client, call);
	}
	for (size_t i = 0; i < HANDLE_BUCKETS; i++) {
		while (client->handles[i] != NULL) {
			struct handle_state *state = client->handles[i];

			client->handles[i] = state->next;
			free(state);
		}
	}
	for (struct waiter *w = client->waiters; w != NULL; w = w->next)
		pthread_cond_signal(&w->wake);
}

/* Give the reply `reply` (owned; NULL with `result` < 0 when it could not be decoded)
 * and the descriptor it handed over (owned; -1: none). */
static void
deliver(struct sb_client *client, uint32_t id, Sockbroker__V1__Reply *reply, int result,
	int handed_fd)
{
	struct pending_call *call = call_find(client, id);

	/* Nobody asked: a reply to a request this client never sent. */
	if (call == NULL || call->behind) {
		if (handed_fd >= 0)
			close(handed_fd);
	}
	if (call == NULL) {
		sb__reply_free(reply);
		return;
	}
	call->done = true;
	call->result = result;
	call->reply = reply;
	if (!call->behind)
		call->handed_fd_plus1 = handed_fd + 1;
	if (reply != NULL)
		update_credit(client, call, reply);
	if (call->behind) {
		/* Its writer finishes it once the frame is out (see send_calls()). */
		if (!call->in_write)
			finish_behind(client, call);
		return;
	}
	call_unregister(client, call);
	if (call->waiter != NULL)
		pthread_cond_signal(&call->waiter->wake);
}

/* ---- resuming the session over a new connection ---------------------------------- */

static uint8_t *set_seq(struct pending_call *call, size_t *length);

/* Called with client->lock held: whether a lost connection is worth resuming. */
static bool
resumable(const struct sb_client *client)
{
	return client->has_resume_secret && client->resume_grace_ms > 0 && !client->closing &&
	       !client->lost;
}

static int64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
compare_calls_by_seq(const void *a, const void *b)
{
	const struct pending_call *x = *(struct pending_call *const *)a;
	const struct pending_call *y = *(struct pending_call *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Say the resuming Hello on `t` (request id `id`), listing the `n` seqs in `pending`, and
 * read its reply into *out (owned by the caller). Returns 0 or a negative errno. */
static int
resume_hello(struct sb_client *client, struct sb__transport *t, uint32_t id,
	     uint64_t *pending, size_t n, Sockbroker__V1__Reply **out)
{
	Sockbroker__V1__HelloRequest hello = SOCKBROKER__V1__HELLO_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	const uint8_t *body;
	size_t length;
	uint32_t got;
	int r;

	hello.has_protocol_version = true;
	hello.protocol_version = SB_PROTOCOL_VERSION;
	hello.client_name = client->client_name;
	hello.token = client->token;
	hello.has_resume_secret = true;
	hello.resume_secret.data = client->resume_secret;
	hello.resume_secret.len = RESUME_SECRET_LEN;
	hello.n_resume_pending_seqs = n;
	hello.resume_pending_seqs = pending;
	if (client->has_digest) {
		hello.has_constants_digest = true;
		hello.constants_digest.data = client->constants_digest;
		hello.constants_digest.len = DIGEST_LEN;
	}
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HELLO;
	request.hello = &hello;
	length = protobuf_c_message_get_packed_size(&request.base);
	uint8_t *frame = malloc(SB__FRAME_HEADROOM + length);
	if (frame == NULL)
		return -ENOMEM;
	protobuf_c_message_pack(&request.base, frame + SB__FRAME_HEADROOM);
	r = sb__transport_send(t, id, frame + SB__FRAME_HEADROOM, length);
	free(frame);
	if (r < 0)
		return r;
	/* Nothing of the session comes before the Hello's reply on a new connection. */
	if ((r = sb__transport_recv(t, &got, &body, &length)) < 0)
		return r;
	if (got != id)
		return -EPROTO;
	*out = sockbroker__v1__reply__unpack(NULL, length, body);
	return *out != NULL ? 0 : -EBADMSG;
}

/* Connect again and resume the session: 0 with the new transport in *out and the Hello's
 * reply in *reply, or a negative errno with `why` saying what went wrong; ends at once when
 * the broker refuses, else tries until the grace period is over. Called holding only
 * write_lock. */
static int
reconnect(struct sb_client *client, struct sb__transport **out, Sockbroker__V1__Reply **reply,
	  char *why, size_t why_len)
{
	int64_t deadline = monotonic_ms() + client->resume_grace_ms;

	for (unsigned attempt = 0;; attempt++) {
		struct sb_error e;
		struct pending_call *call;
		uint64_t *pending;
		size_t n = 0;
		uint32_t id;
		int r;

		pthread_mutex_lock(&client->lock);
		if (client->closing) {
			pthread_mutex_unlock(&client->lock);
			snprintf(why, why_len, "the client was closed");
			return -ECONNRESET;
		}
		for (call = client->pending_calls; call != NULL; call = call->next)
			n++;
		pending = malloc((n != 0 ? n : 1) * sizeof(*pending));
		n = 0;
		for (call = client->pending_calls; pending != NULL && call != NULL; call = call->next)
			pending[n++] = call->seq;
		id = next_request_id(client);
		pthread_mutex_unlock(&client->lock);
		if (pending == NULL) {
			snprintf(why, why_len, "out of memory");
			return -ENOMEM;
		}

		*out = NULL;
		*reply = NULL;
		r = sb__transport_open(out, client->url, &client->options, &e);
		if (r == 0) {
			r = resume_hello(client, *out, id, pending, n, reply);
			snprintf(e.message, sizeof(e.message), "%s", strerror(-r));
		}
		free(pending);
		if (r == 0 && (*reply)->error == NULL && (*reply)->hello != NULL &&
		    (*reply)->hello->resumed)
			return 0;
		if (r == 0) {
			/* The broker answered: no later attempt can do better. */
			snprintf(why, why_len, "%.180s",
				 (*reply)->error != NULL && (*reply)->error->message != NULL
					 ? (*reply)->error->message
					 : "the broker did not resume it");
			sb__reply_free(*reply);
			*reply = NULL;
			sb__transport_free(*out);
			*out = NULL;
			return -ESTALE;
		}
		sb__transport_free(*out);
		*out = NULL;
		snprintf(why, why_len, "%.180s", e.message);
		int64_t now = monotonic_ms();
		if (now >= deadline)
			return r;
		int64_t pause = attempt < 4 ? 100LL << attempt : 1000;
		if (pause > deadline - now)
			pause = deadline - now;
		struct timespec ts = { .tv_sec = pause / 1000, .tv_nsec = (pause % 1000) * 1000000 };
		nanosleep(&ts, NULL);
	}
}

/*
 * The connection failed with `errnum` and the session is resumable: called by the reader
 * with client->lock held, and returns with it held. Connects again (within the broker's
 * grace period) and resumes the session: the replies the broker sent while the link was
 * down are handed to their calls, the requests it never received are sent again, in
 * order, and the calls still waiting in the broker get their replies on the new
 * connection. Writers wait meanwhile (write_lock). When the broker cannot resume it, the
 * connection is lost as without resuming, and the calls fail saying why.
 */
static void
resume_session(struct sb_client *client, int errnum)
{
	struct sb__transport *t, *old;
	Sockbroker__V1__Reply *reply;
	char why[sizeof(client->resume_error)];
	int r;

	client->link_down = true;
	/* A writer blocked on the dead link lets go of write_lock. */
	sb__transport_shutdown(client->transport);
	pthread_mutex_unlock(&client->lock);
	pthread_mutex_lock(&client->write_lock);
	r = reconnect(client, &t, &reply, why, sizeof(why));
	pthread_mutex_lock(&client->lock);
	if (r == 0 && (client->closing || client->lost)) {
		/* Closed meanwhile: the new connection is not wanted. */
		sb__reply_free(reply);
		sb__transport_free(t);
		snprintf(why, sizeof(why), "the client was closed");
		r = -ECONNRESET;
	}
	if (r < 0) {
		snprintf(client->resume_error, sizeof(client->resume_error), "%s", why);
		connection_lost(client, errnum);
		pthread_mutex_unlock(&client->write_lock);
		return;
	}
	old = client->transport;
	client->transport = t;
	client->link_down = false;

	const Sockbroker__V1__HelloReply *hello = reply->hello;
	for (size_t i = 0; i < hello->n_missed_replies && i < hello->n_missed_request_ids; i++) {
		Sockbroker__V1__Reply *missed = sockbroker__v1__reply__unpack(
			NULL, hello->missed_replies[i].len, hello->missed_replies[i].data);

		deliver(client, hello->missed_request_ids[i], missed, missed != NULL ? 0 : -EBADMSG,
			-1);
	}
	/* The requests the broker never received, in their order. */
	size_t n = 0, k = 0;
	for (struct pending_call *c = client->pending_calls; c != NULL; c = c->next)
		n += c->seq >= hello->resume_next_seq;
	struct pending_call **again = malloc((n != 0 ? n : 1) * sizeof(*again));
	for (struct pending_call *c = client->pending_calls; again != NULL && c != NULL;
	     c = c->next) {
		if (c->seq >= hello->resume_next_seq) {
			c->in_write = true;
			again[k++] = c;
		}
	}
	qsort(again, k, sizeof(*again), compare_calls_by_seq);
	sb__reply_free(reply);
	pthread_mutex_unlock(&client->lock);
	sb__transport_free(old);
	r = again != NULL || n == 0 ? 0 : -ENOMEM;
	for (size_t i = 0; i < k && r == 0; i++) {
		size_t length;
		uint8_t *body = set_seq(again[i], &length);

		r = sb__transport_send(t, again[i]->id, body, length);
	}
	pthread_mutex_lock(&client->lock);
	for (size_t i = 0; i < k; i++) {
		again[i]->in_write = false;
		if (again[i]->behind && again[i]->done)
			finish_behind(client, again[i]);
	}
	free(again);
	/* A send that failed already: the next receive fails too, and resumes again. */
	if (r < 0)
		sb__transport_shutdown(t);
	pthread_mutex_unlock(&client->write_lock);
}

static bool
settled(struct sb_client *client, sb_handle handle)
{
	struct handle_state *state = state_find(client, handle);

	return state == NULL || state->behind_calls == 0;
}

/*
 * Called with client->lock held; returns with it held. Wait until `call`
 * is done, or (call NULL) until `settle`'s written-behind sends are all
 * answered. Leader/follower: whichever waiting thread finds no reader
 * becomes it, reads frames and hands each reply to its owner, until its own
 * condition holds; it then passes the role to another waiter.
 */
static void
await(struct sb_client *client, struct pending_call *call, sb_handle settle)
{
	struct waiter self;

	pthread_cond_init(&self.wake, NULL);
	self.prev = NULL;
	self.next = client->waiters;
	if (client->waiters != NULL)
		client->waiters->prev = &self;
	client->waiters = &self;
	if (call != NULL)
		call->waiter = &self;

	while (call != NULL ? !call->done : !settled(client, settle)) {
		Sockbroker__V1__Reply *reply;
		const uint8_t *body;
		size_t length;
		uint32_t id;
		int r, handed_fd;

		if (client->lost)
			break;
		if (client->reading) {
			pthread_cond_wait(&self.wake, &client->lock);
			continue;
		}
		client->reading = true;
		pthread_mutex_unlock(&client->lock);
		r = sb__transport_recv(client->transport, &id, &body, &length);
		reply = NULL;
		handed_fd = -1;
		if (r == 0) {
			/* Decoded here, while the body is still the transport's. */
			reply = sockbroker__v1__reply__unpack(NULL, length, body);
			/* Descriptors come in the order of the replies that carry them. */
			if (reply != NULL && reply->has_handed_off && reply->handed_off)
				handed_fd = sb__transport_take_fd(client->transport);
		}
		pthread_mutex_lock(&client->lock);
		if (r < 0 && resumable(client))
			resume_session(client, -r);
		else if (r < 0)
			connection_lost(client, -r);
		else
			deliver(client, id, reply, reply != NULL ? 0 : -EBADMSG, handed_fd);
		client->reading = false;
	}

	if (call != NULL)
		call->waiter = NULL;
	if (self.prev != NULL)
		self.prev->next = self.next;
	else
		client->waiters = self.next;
	if (self.next != NULL)
		self.next->prev = self.prev;
	pthread_cond_destroy(&self.wake);
	/* Pass the reader role on: one of the others still waits for something. */
	if (!client->reading && client->waiters != NULL)
		pthread_cond_signal(&client->waiters->wake);
}

/*
 * Pack a request with room in front for the frame header and its `seq`.
 * The number is written later, by set_seq(), which cannot fail:
 * allocation happens here, before a number is taken, because a number
 * taken and never sent would stall every later request of the session in
 * the daemon.
 */
static int
pack_request(Sockbroker__V1__Request *request, struct pending_call *call)
{
	size_t body_len;

	request->has_seq = false;
	body_len = protobuf_c_message_get_packed_size(&request->base);
	call->packed = malloc(SB__FRAME_HEADROOM + SEQ_PREFIX_MAX + body_len);
	if (call->packed == NULL)
		return -ENOMEM;
	protobuf_c_message_pack(&request->base,
				call->packed + SB__FRAME_HEADROOM + SEQ_PREFIX_MAX);
	call->packed_len = body_len;
	return 0;
}

/*
 * Field 1 as a varint ahead of the others (protobuf takes fields in any
 * order). Returns where the frame's body starts; its length is in *length.
 */
static uint8_t *
set_seq(struct pending_call *call, size_t *length)
{
	uint8_t prefix[SEQ_PREFIX_MAX], *body;
	uint64_t seq = call->seq;
	size_t n = 0;

	prefix[n++] = (1 << 3) | PROTOBUF_C_WIRE_TYPE_VARINT;
	do {
		uint8_t byte = seq & 0x7f;

		seq >>= 7;
		prefix[n++] = byte | (seq != 0 ? 0x80 : 0);
	} while (seq != 0);
	body = call->packed + SB__FRAME_HEADROOM + SEQ_PREFIX_MAX - n;
	memcpy(body, prefix, n);
	*length = n + call->packed_len;
	return body;
}

/*
 * Number, register and write `count` prepared calls back to back. On a
 * failure the connection is lost (a frame may be half written) and every
 * call registered here is already done with that failure (a written-behind
 * one freed); *registered says whether they got that far.
 */
static int
send_calls(struct sb_client *client, struct pending_call **calls, size_t count,
	   bool *registered, struct sb_error *err)
{
	int r = 0;

	*registered = false;
	pthread_mutex_lock(&client->write_lock);
	pthread_mutex_lock(&client->lock);
	if (client->lost || client->closing) {
		r = unusable_error(client, err);
		pthread_mutex_unlock(&client->lock);
		pthread_mutex_unlock(&client->write_lock);
		return r;
	}
	*registered = true;
	/* Registered before they are written, so that no reply can come first. */
	for (size_t i = 0; i < count; i++) {
		calls[i]->seq = ++client->last_seq;
		calls[i]->id = next_request_id(client);
		calls[i]->in_write = true;
		call_register(client, calls[i]);
	}
	pthread_mutex_unlock(&client->lock);

	/* With the link down, the frames wait for the session's resume. */
	pthread_mutex_lock(&client->lock);
	bool link_down = client->link_down;
	pthread_mutex_unlock(&client->lock);
	for (size_t i = 0; i < count && r == 0 && !link_down; i++) {
		size_t length;
		uint8_t *body = set_seq(calls[i], &length);

		r = sb__transport_send(client->transport, calls[i]->id, body, length);
	}
	pthread_mutex_lock(&client->lock);
	if (r < 0 && resumable(client)) {
		/* Registered: the reader resumes the session and sends them again. */
		client->link_down = true;
		sb__transport_shutdown(client->transport);
		r = 0;
	} else if (r < 0) {
		connection_lost(client, -r);
		r = unusable_error(client, err);
	}
	for (size_t i = 0; i < count; i++) {
		calls[i]->in_write = false;
		/* A written-behind call answered (or failed) while its frame went out. */
		if (calls[i]->behind && calls[i]->done)
			finish_behind(client, calls[i]);
	}
	pthread_mutex_unlock(&client->lock);
	pthread_mutex_unlock(&client->write_lock);
	return r;
}

/*
 * Called with client->lock held. An error a written-behind send on the
 * call's handle left, if it was sent before this call: the call reports it
 * in place of its own failure, or of a success that hands nothing back
 * (received data or a new handle stay with the caller, and the error waits
 * for the next call).
 */
static int
take_behind_error(struct sb_client *client, const struct pending_call *call,
		  Sockbroker__V1__Reply **reply, int r, struct sb_error *err)
{
	struct handle_state *state;
	int error;

	if (call->handle == 0 || call->handle == SB__POLL_HANDLE)
		return r;
	state = state_find(client, call->handle);
	if (state == NULL || state->error == 0 || state->error_seq > call->seq)
		return r;
	if (r == 0 && *reply != NULL &&
	    ((*reply)->result_case == SOCKBROKER__V1__REPLY__RESULT_RECV ||
	     (*reply)->result_case == SOCKBROKER__V1__REPLY__RESULT_RECVMSG ||
	     (*reply)->result_case == SOCKBROKER__V1__REPLY__RESULT_ACCEPT))
		return r;
	if (r == 0) {
		sb__reply_free(*reply);
		*reply = NULL;
	}
	error = state->error;
	if (err != NULL)
		*err = state->error_detail;
	state->error = 0;
	state_drop_if_idle(client, call->handle);
	return error;
}

/* Wait for the call's reply and judge it. */
static int
call_finish(struct sb_client *client, struct pending_call *call, int expected_result,
	    Sockbroker__V1__Reply **out, struct sb_error *err)
{
	Sockbroker__V1__Reply *reply;
	int r;

	pthread_mutex_lock(&client->lock);
	await(client, call, 0);
	if (!call->done) {
		call_unregister(client, call);
		r = unusable_error(client, err);
		pthread_mutex_unlock(&client->lock);
		return r;
	}
	reply = call->reply;
	call->reply = NULL;
	if (call->result == -EBADMSG) {
		r = protocol_error(err, "sent a reply that cannot be decoded");
	} else if (call->result < 0) {
		r = unusable_error(client, err);
	} else if (reply->has_seq && reply->seq != 0 && reply->seq != call->seq) {
		r = protocol_error(err, "answered with another request's sequence number");
	} else if (reply->error != NULL) {
		r = sb__error_from_wire(err, reply->error);
	} else if (expected_result != 0 && (int)reply->result_case != expected_result) {
		r = protocol_error(err, "sent a result that does not match the request");
	} else {
		r = 0;
	}
	if (call->result >= 0)
		r = take_behind_error(client, call, &reply, r, err);
	pthread_mutex_unlock(&client->lock);
	if (r < 0) {
		sb__reply_free(reply);
		return r;
	}
	*out = reply;
	return 0;
}

/* A call begins: counted, so that sb_client_free() waits for it. */
static int
call_begin(struct sb_client *client, sb_handle handle, struct sb_error *err)
{
	struct handle_state *state;
	int r = 0;

	pthread_mutex_lock(&client->lock);
	if (client->lost || client->closing) {
		r = unusable_error(client, err);
		pthread_mutex_unlock(&client->lock);
		return r;
	}
	/* An error a written-behind send left is the next call's, as the kernel's are. */
	state = handle != 0 ? state_find(client, handle) : NULL;
	if (state != NULL && state->error != 0) {
		r = state->error;
		if (err != NULL)
			*err = state->error_detail;
		state->error = 0;
		state_drop_if_idle(client, handle);
		pthread_mutex_unlock(&client->lock);
		return r;
	}
	client->active_calls++;
	pthread_mutex_unlock(&client->lock);
	return 0;
}

/* The call is over, sb_client_free() may go on. */
static void
call_end(struct sb_client *client)
{
	pthread_mutex_lock(&client->lock);
	if (--client->active_calls == 0)
		pthread_cond_broadcast(&client->calls_done);
	pthread_mutex_unlock(&client->lock);
}

static int
call_many(struct sb_client *client, struct Sockbroker__V1__Request **requests, size_t count,
	  sb_handle handle, int expected_result, struct Sockbroker__V1__Reply **replies,
	  int *handed_fds, struct sb_error *err)
{
	struct pending_call *calls = NULL, **call_ptrs = NULL;
	size_t prepared = 0;
	bool registered;
	int r = 0;

	sb__error_clear(err);
	if (replies != NULL) {
		for (size_t i = 0; i < count; i++)
			replies[i] = NULL;
	}
	if (count == 0)
		return 0;
	if ((r = call_begin(client, handle, err)) < 0)
		return r;

	calls = calloc(count, sizeof(*calls));
	call_ptrs = calloc(count, sizeof(*call_ptrs));
	if (calls == NULL || call_ptrs == NULL) {
		r = sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "out of memory");
		goto release;
	}
	for (prepared = 0; prepared < count; prepared++) {
		struct pending_call *call = &calls[prepared];

		call->handle = handle;
		call->op = requests[prepared]->op_case;
		call->is_cancel = call->op == SOCKBROKER__V1__REQUEST__OP_CANCEL;
		call_ptrs[prepared] = call;
		if (pack_request(requests[prepared], call) < 0) {
			r = sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "out of memory");
			goto release;
		}
	}
	r = send_calls(client, call_ptrs, count, &registered, err);
	if (r < 0)
		goto release;

	for (size_t i = 0; i < count; i++) {
		Sockbroker__V1__Reply *reply = NULL;
		int call_r;

		call_r = call_finish(client, &calls[i], expected_result, &reply,
				     r == 0 ? err : NULL);
		if (call_r < 0 && r == 0)
			r = call_r;
		if (replies != NULL)
			replies[i] = reply;
		else
			sb__reply_free(reply);
		if (handed_fds != NULL) {
			handed_fds[i] = calls[i].handed_fd_plus1 - 1;
			calls[i].handed_fd_plus1 = 0;
		}
	}

	/* Success and failure alike: the calls are over. */
release:
	if (calls != NULL) {
		for (size_t i = 0; i < prepared; i++) {
			sb__reply_free(calls[i].reply);
			free(calls[i].packed);
			if (calls[i].handed_fd_plus1 > 0)
				close(calls[i].handed_fd_plus1 - 1);
		}
	}
	free(call_ptrs);
	free(calls);
	call_end(client);
	return r;
}

int
sb__call_many(struct sb_client *client, struct Sockbroker__V1__Request **requests,
	      size_t count, sb_handle handle, int expected_result,
	      struct Sockbroker__V1__Reply **replies, struct sb_error *err)
{
	return call_many(client, requests, count, handle, expected_result, replies, NULL, err);
}

int
sb__call_fd(struct sb_client *client, struct Sockbroker__V1__Request *request, sb_handle handle,
	    int expected_result, struct Sockbroker__V1__Reply **reply, int *handed_fd,
	    struct sb_error *err)
{
	Sockbroker__V1__Reply *result;
	int r;

	*handed_fd = -1;
	r = call_many(client, &request, 1, handle, expected_result, &result, handed_fd, err);
	if (r < 0) {
		if (*handed_fd >= 0)
			close(*handed_fd);
		*handed_fd = -1;
		return r;
	}
	if (reply != NULL)
		*reply = result;
	else
		sb__reply_free(result);
	return 0;
}

int
sb__call(struct sb_client *client, struct Sockbroker__V1__Request *request, sb_handle handle,
	 int expected_result, struct Sockbroker__V1__Reply **reply, struct sb_error *err)
{
	Sockbroker__V1__Reply *result;
	int r;

	r = sb__call_many(client, &request, 1, handle, expected_result, &result, err);
	if (r < 0)
		return r;
	if (reply != NULL)
		*reply = result;
	else
		sb__reply_free(result);
	return 0;
}

/* write-behind */

/* Called with client->lock held. */
static bool
may_write_behind(const struct handle_state *state, size_t length, bool closing)
{
	if (state == NULL || !state->has_credit || !state->connected || state->shut_down ||
	    state->error != 0)
		return false;
	return closing || (state->behind_bytes <= state->credit &&
			   length <= state->credit - state->behind_bytes);
}

int
sb__call_behind(struct sb_client *client, struct Sockbroker__V1__Request *request,
		sb_handle handle, size_t length, bool closing, struct sb_error *err)
{
	struct handle_state *state;
	struct pending_call *call;
	bool registered;
	int r;

	sb__error_clear(err);
	pthread_mutex_lock(&client->lock);
	state = state_find(client, handle);
	if (client->lost || client->closing || !may_write_behind(state, length, closing)) {
		/* A handle being closed is forgotten whichever way the close goes. */
		if (closing && !client->lost)
			state_drop(client, handle);
		/* The usual path says what is wrong (and returns a pending error). */
		pthread_mutex_unlock(&client->lock);
		return 0;
	}
	pthread_mutex_unlock(&client->lock);

	call = calloc(1, sizeof(*call));
	if (call == NULL)
		return 0;
	call->handle = handle;
	call->op = request->op_case;
	call->behind = true;
	call->behind_bytes = length;
	if (pack_request(request, call) < 0) {
		free(call);
		return 0;
	}
	pthread_mutex_lock(&client->lock);
	/* Checked again: another thread may have spent the credit meanwhile. */
	state = state_find(client, handle);
	if (!may_write_behind(state, length, closing)) {
		if (closing)
			state_drop(client, handle);
		pthread_mutex_unlock(&client->lock);
		call_free_behind(call);
		return 0;
	}
	if (closing) {
		/* The handle is gone for this client now; its reply finds no state. */
		state_drop(client, handle);
	} else {
		state->behind_bytes += length;
		state->behind_calls++;
	}
	pthread_mutex_unlock(&client->lock);

	r = send_calls(client, &call, 1, &registered, err);
	if (r < 0 && !registered) {
		/* Never numbered: undo its share, if the handle's state is still there. */
		pthread_mutex_lock(&client->lock);
		state = closing ? NULL : state_find(client, handle);
		if (state != NULL) {
			state->behind_bytes -= length;
			state->behind_calls--;
		}
		pthread_mutex_unlock(&client->lock);
		call_free_behind(call);
	}
	/* Registered and failed: the connection's loss has freed it. */
	return r < 0 ? r : 1;
}

int
sb__send_behind(struct sb_client *client, sb_handle handle,
		struct Sockbroker__V1__SendRequest *args, size_t length, struct sb_error *err)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;

	if (length > WRITE_BEHIND_MAX || length > sb__client_max_data_size(client))
		return 0;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SENDALL;
	request.sendall = args;
	return sb__call_behind(client, &request, handle, length, false, err);
}

int
sb__settle(struct sb_client *client, sb_handle handle, struct sb_error *err)
{
	struct handle_state *state;
	int r = 0;

	sb__error_clear(err);
	pthread_mutex_lock(&client->lock);
	if (!settled(client, handle)) {
		client->active_calls++;
		await(client, NULL, handle);
		if (--client->active_calls == 0)
			pthread_cond_broadcast(&client->calls_done);
	}
	if (client->lost || client->closing) {
		r = unusable_error(client, err);
	} else if ((state = state_find(client, handle)) != NULL && state->error != 0) {
		r = state->error;
		if (err != NULL)
			*err = state->error_detail;
		state->error = 0;
		state_drop_if_idle(client, handle);
	}
	pthread_mutex_unlock(&client->lock);
	return r;
}

unsigned
sb__behind_calls(struct sb_client *client, sb_handle handle)
{
	struct handle_state *state;
	unsigned n;

	pthread_mutex_lock(&client->lock);
	state = state_find(client, handle);
	n = state != NULL ? state->behind_calls : 0;
	pthread_mutex_unlock(&client->lock);
	return n;
}

void
sb__reply_free(struct Sockbroker__V1__Reply *reply)
{
	if (reply != NULL)
		sockbroker__v1__reply__free_unpacked(reply, NULL);
}

int
sb_cancel_handle(struct sb_client *c, sb_handle h, unsigned *count, struct sb_error *err)
{
	Sockbroker__V1__CancelRequest *args = NULL;
	Sockbroker__V1__Request *requests = NULL, **request_ptrs = NULL;
	Sockbroker__V1__Reply **replies = NULL;
	uint64_t *targets = NULL;
	size_t n_targets = 0, capacity = 0;
	unsigned cancelled = 0;
	int r;

	if (count != NULL)
		*count = 0;
	sb__error_clear(err);

	pthread_mutex_lock(&c->lock);
	for (struct pending_call *call = c->pending_calls; call != NULL; call = call->next) {
		if (call->handle != h || call->is_cancel || call->behind)
			continue;
		if (n_targets == capacity) {
			size_t new_capacity = capacity == 0 ? 8 : capacity * 2;
			uint64_t *grown = realloc(targets, new_capacity * sizeof(*targets));

			if (grown == NULL) {
				pthread_mutex_unlock(&c->lock);
				r = sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "out of memory");
				goto out;
			}
			targets = grown;
			capacity = new_capacity;
		}
		targets[n_targets++] = call->seq;
	}
	pthread_mutex_unlock(&c->lock);
	if (n_targets == 0) {
		r = 0;
		goto out;
	}

	args = calloc(n_targets, sizeof(*args));
	requests = calloc(n_targets, sizeof(*requests));
	request_ptrs = calloc(n_targets, sizeof(*request_ptrs));
	replies = calloc(n_targets, sizeof(*replies));
	if (args == NULL || requests == NULL || request_ptrs == NULL || replies == NULL) {
		r = sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_targets; i++) {
		sockbroker__v1__cancel_request__init(&args[i]);
		args[i].has_target_seq = true;
		args[i].target_seq = targets[i];
		sockbroker__v1__request__init(&requests[i]);
		requests[i].op_case = SOCKBROKER__V1__REQUEST__OP_CANCEL;
		requests[i].cancel = &args[i];
		request_ptrs[i] = &requests[i];
	}

	/*
	 * Numbered like any request, so the daemon starts each cancel after
	 * the call it names, which was numbered earlier.
	 */
	r = sb__call_many(c, request_ptrs, n_targets, 0, SOCKBROKER__V1__REPLY__RESULT_CANCEL,
			  replies, err);
	for (size_t i = 0; i < n_targets; i++) {
		if (replies[i] != NULL && replies[i]->cancel->has_cancelled &&
		    replies[i]->cancel->cancelled)
			cancelled++;
		sb__reply_free(replies[i]);
	}
	if (count != NULL)
		*count = cancelled;

out:
	free(replies);
	free(request_ptrs);
	free(requests);
	free(args);
	free(targets);
	return r;
}

/* connection and Hello */

static int
compare_constants(const void *a, const void *b)
{
	const struct constant *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static int
store_hello(struct sb_client *client, const Sockbroker__V1__HelloReply *hello,
	    struct sb_error *err)
{
	struct sb_server_info *info = &client->info;

	if (hello->has_protocol_version && hello->protocol_version != SB_PROTOCOL_VERSION)
		return sb__error_set(err, SB_ERR_TRANSPORT, EPROTONOSUPPORT,
				     "the broker at %s speaks protocol version %u, this client "
				     "speaks %u",
				     client->url, hello->protocol_version, SB_PROTOCOL_VERSION);

	snprintf(info->server_version, sizeof(info->server_version), "%s",
		 hello->server_version != NULL ? hello->server_version : "");
	info->protocol_version =
		hello->has_protocol_version ? hello->protocol_version : SB_PROTOCOL_VERSION;
	info->max_message_size = hello->has_max_message_size ? hello->max_message_size : 0;
	info->max_data_size = hello->has_max_data_size ? hello->max_data_size : 0;
	info->max_handles = hello->has_max_handles ? hello->max_handles : 0;
	info->max_parked = hello->has_max_parked ? hello->max_parked : 0;
	info->session_id = hello->has_session_id ? hello->session_id : 0;
	info->handoff = hello->has_handoff && hello->handoff;
	if (hello->has_resume_secret && hello->resume_secret.len == RESUME_SECRET_LEN) {
		memcpy(client->resume_secret, hello->resume_secret.data, RESUME_SECRET_LEN);
		client->has_resume_secret = true;
	}
	client->resume_grace_ms = hello->has_resume_grace_ms ? hello->resume_grace_ms : 0;
	if (hello->has_constants_digest && hello->constants_digest.len == DIGEST_LEN) {
		memcpy(client->constants_digest, hello->constants_digest.data, DIGEST_LEN);
		client->has_digest = true;
	}
	if (hello->identity != NULL) {
		const Sockbroker__V1__Identity *id = hello->identity;

		info->has_credentials = id->has_uid && id->has_gid && id->has_pid;
		info->uid = id->has_uid ? id->uid : -1;
		info->gid = id->has_gid ? id->gid : -1;
		info->pid = id->has_pid ? id->pid : -1;
		info->tls_verified = id->has_tls_verified && id->tls_verified;
		snprintf(info->token_name, sizeof(info->token_name), "%s",
			 id->token_name != NULL ? id->token_name : "");
		snprintf(info->peer, sizeof(info->peer), "%s", id->peer != NULL ? id->peer : "");
	}

	if (hello->n_constants == 0)
		return 0;
	client->constants = calloc(hello->n_constants, sizeof(*client->constants));
	if (client->constants == NULL)
		return sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "out of memory");
	for (size_t i = 0; i < hello->n_constants; i++) {
		const Sockbroker__V1__Constant *constant = hello->constants[i];

		if (constant->name == NULL || !constant->has_value)
			continue;
		client->constants[client->n_constants].name = strdup(constant->name);
		if (client->constants[client->n_constants].name == NULL)
			return sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "out of memory");
		client->constants[client->n_constants].value = constant->value;
		client->n_constants++;
	}
	qsort(client->constants, client->n_constants, sizeof(*client->constants),
	      compare_constants);
	return 0;
}

static int
say_hello(struct sb_client *client, const char *client_name, const char *token,
	  struct sb_error *err)
{
	Sockbroker__V1__HelloRequest hello = SOCKBROKER__V1__HELLO_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__Reply *reply;
	int r;

	hello.has_protocol_version = true;
	hello.protocol_version = SB_PROTOCOL_VERSION;
	hello.client_name = (char *)(client_name != NULL ? client_name : "libsockbroker");
	if (token != NULL && token[0] != '\0')
		hello.token = (char *)token;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HELLO;
	request.hello = &hello;

	r = sb__call(client, &request, 0, SOCKBROKER__V1__REPLY__RESULT_HELLO, &reply, err);
	if (r < 0)
		return r;
	r = store_hello(client, reply->hello, err);
	sb__reply_free(reply);
	return r;
}

/* Free a client that has no call in flight. */
static void
client_destroy(struct sb_client *client)
{
	struct pending_call *call, *next;

	/* Written-behind calls whose replies nobody read. */
	for (call = client->pending_calls; call != NULL; call = next) {
		next = call->next;
		call_unregister(client, call);
		if (call->behind)
			call_free_behind(call);
	}
	for (size_t i = 0; i < HANDLE_BUCKETS; i++) {
		while (client->handles[i] != NULL) {
			struct handle_state *state = client->handles[i];

			client->handles[i] = state->next;
			free(state);
		}
	}
	sb__transport_free(client->transport);
	if (client->token != NULL)
		explicit_bzero(client->token, strlen(client->token));
	free(client->token);
	free(client->client_name);
	free(client->tls_ca_file);
	free(client->tls_cert_key_file);
	explicit_bzero(client->resume_secret, sizeof(client->resume_secret));
	for (size_t i = 0; i < client->n_constants; i++)
		free(client->constants[i].name);
	free(client->constants);
	pthread_cond_destroy(&client->calls_done);
	pthread_mutex_destroy(&client->lock);
	pthread_mutex_destroy(&client->write_lock);
	free(client->url);
	free(client);
}

int
sb_client_new(struct sb_client **out, const char *url, const char *client_name,
	      struct sb_error *err)
{
	struct sb_client_options options = { .url = url, .client_name = client_name };

	return sb_client_new_with(out, &options, err);
}

int
sb_client_new_with(struct sb_client **out, const struct sb_client_options *options,
		   struct sb_error *err)
{
	static const struct sb_client_options defaults = { 0 };
	char default_url[4096];
	struct sb_client *client;
	const char *url, *token;
	int r;

	if (options == NULL)
		options = &defaults;
	url = options->url;
	token = options->token != NULL ? options->token : getenv(SB_TOKEN_ENV);
	sb__error_clear(err);
	if (out == NULL)
		return sb__error_set(err, SB_ERR_BAD_REQUEST, EINVAL, "no place for the client");
	if (url == NULL)
		url = sb_default_url(default_url, sizeof(default_url));

	client = calloc(1, sizeof(*client));
	if (client == NULL)
		return sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "out of memory");
	atomic_init(&client->default_timeout, SB_TIMEOUT_NONE);
	client->url = strdup(url);
	if (client->url == NULL) {
		r = sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "out of memory");
		goto err_url;
	}
	pthread_mutex_init(&client->write_lock, NULL);
	pthread_mutex_init(&client->lock, NULL);
	pthread_cond_init(&client->calls_done, NULL);
	/* What a resume connects again with: the settings in effect now. */
	client->client_name =
		strdup(options->client_name != NULL ? options->client_name : "libsockbroker");
	client->token = token != NULL && token[0] != '\0' ? strdup(token) : NULL;
	client->tls_ca_file = options->tls_ca_file != NULL ? strdup(options->tls_ca_file) : NULL;
	client->tls_cert_key_file =
		options->tls_cert_key_file != NULL ? strdup(options->tls_cert_key_file) : NULL;
	if (client->client_name == NULL || (token != NULL && token[0] != '\0' && !client->token) ||
	    (options->tls_ca_file != NULL && client->tls_ca_file == NULL) ||
	    (options->tls_cert_key_file != NULL && client->tls_cert_key_file == NULL)) {
		r = sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "out of memory");
		goto err_connection;
	}
	client->options = (struct sb_client_options){
		.url = client->url,
		.client_name = client->client_name,
		.token = client->token != NULL ? client->token : "",
		.tls_ca_file = client->tls_ca_file,
		.tls_cert_key_file = client->tls_cert_key_file,
	};

	r = sb__transport_open(&client->transport, client->url, options, err);
	if (r < 0)
		goto err_connection;
	r = say_hello(client, options->client_name, token, err);
	if (r < 0)
		goto err_connection;

	*out = client;
	return 0;

err_connection:
	/* client_destroy() frees a NULL transport as well. */
	client_destroy(client);
	return r;
err_url:
	free(client);
	return r;
}

void
sb_client_free(struct sb_client *client)
{
	if (client == NULL)
		return;

	pthread_mutex_lock(&client->lock);
	client->closing = true;
	/* Wakes the reader and any writer: their calls fail at once. */
	connection_lost(client, ECONNRESET);
	while (client->active_calls > 0)
		pthread_cond_wait(&client->calls_done, &client->lock);
	pthread_mutex_unlock(&client->lock);
	client_destroy(client);
}

void
sb_client_info(const struct sb_client *client, struct sb_server_info *info)
{
	*info = client->info;
}

int
sb_constant(const struct sb_client *client, const char *name, int64_t *value)
{
	struct constant key = { .name = (char *)name };
	const struct constant *found;

	if (name == NULL || client->n_constants == 0)
		return -ENOENT;
	found = bsearch(&key, client->constants, client->n_constants, sizeof(*client->constants),
			compare_constants);
	if (found == NULL)
		return -ENOENT;
	if (value != NULL)
		*value = found->value;
	return 0;
}

int64_t
sb__constant_or(const struct sb_client *client, const char *name, int64_t fallback)
{
	int64_t value;

	return sb_constant(client, name, &value) == 0 ? value : fallback;
}

void
sb_client_set_default_timeout(struct sb_client *client, double timeout)
{
	atomic_store(&client->default_timeout, timeout);
}

double
sb_client_default_timeout(const struct sb_client *client)
{
	return atomic_load(&client->default_timeout);
}

size_t
sb__client_max_data_size(const struct sb_client *client)
{
	uint64_t size = client->info.max_data_size;

	if (size == 0)
		return DEFAULT_MAX_DATA_SIZE;
	return size < SIZE_MAX ? (size_t)size : SIZE_MAX;
}
