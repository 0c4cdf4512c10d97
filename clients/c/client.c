#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "internal.h"
#include "sockbroker.pb-c.h"

/* Contexts kept open between calls; more are opened when calls overlap. */
#define MAX_IDLE_CONTEXTS 32
/* Used when the daemon announces no max_data_size. */
#define DEFAULT_MAX_DATA_SIZE (1024 * 1024)
/*
 * Reconnection is never wanted (a new connection is a new session without
 * the old handles), and extra pipes are rejected anyway; the dialer's
 * back-off is only made long so that it does not keep trying in vain.
 */
#define RECONNECT_INTERVAL_MS (24 * 60 * 60 * 1000)
/* Used if NNG refuses an infinite resend time: about 24 days. */
#define RESEND_FALLBACK_MS INT32_MAX
/* Room before a packed request for the `seq` field: tag + 10-byte varint. */
#define SEQ_PREFIX_MAX 11
#define TLS_CA_FILE_ENV "SOCKBROKER_TLS_CA_FILE"
#define TLS_CERT_KEY_FILE_ENV "SOCKBROKER_TLS_CERT_KEY_FILE"

/* errno names */

#define ERRNO_NAMES(X)                                                                       \
	X(EPERM) X(ENOENT) X(ESRCH) X(EINTR) X(EIO) X(ENXIO) X(E2BIG) X(ENOEXEC) X(EBADF)      \
	X(ECHILD) X(EAGAIN) X(ENOMEM) X(EACCES) X(EFAULT) X(ENOTBLK) X(EBUSY) X(EEXIST)        \
	X(EXDEV) X(ENODEV) X(ENOTDIR) X(EISDIR) X(EINVAL) X(ENFILE) X(EMFILE) X(ENOTTY)        \
	X(ETXTBSY) X(EFBIG) X(ENOSPC) X(ESPIPE) X(EROFS) X(EMLINK) X(EPIPE) X(EDOM) X(ERANGE)  \
	X(EDEADLK) X(ENAMETOOLONG) X(ENOLCK) X(ENOSYS) X(ENOTEMPTY) X(ELOOP) X(ENOMSG)         \
	X(EIDRM) X(ECHRNG) X(EL2NSYNC) X(EL3HLT) X(EL3RST) X(ELNRNG) X(EUNATCH) X(ENOCSI)      \
	X(EL2HLT) X(EBADE) X(EBADR) X(EXFULL) X(ENOANO) X(EBADRQC) X(EBADSLT) X(EBFONT)        \
	X(ENOSTR) X(ENODATA) X(ETIME) X(ENOSR) X(ENONET) X(ENOPKG) X(EREMOTE) X(ENOLINK)       \
	X(EADV) X(ESRMNT) X(ECOMM) X(EPROTO) X(EMULTIHOP) X(EDOTDOT) X(EBADMSG) X(EOVERFLOW)   \
	X(ENOTUNIQ) X(EBADFD) X(EREMCHG) X(ELIBACC) X(ELIBBAD) X(ELIBSCN) X(ELIBMAX)           \
	X(ELIBEXEC) X(EILSEQ) X(ERESTART) X(ESTRPIPE) X(EUSERS) X(ENOTSOCK) X(EDESTADDRREQ)    \
	X(EMSGSIZE) X(EPROTOTYPE) X(ENOPROTOOPT) X(EPROTONOSUPPORT) X(ESOCKTNOSUPPORT)         \
	X(EOPNOTSUPP) X(EPFNOSUPPORT) X(EAFNOSUPPORT) X(EADDRINUSE) X(EADDRNOTAVAIL)           \
	X(ENETDOWN) X(ENETUNREACH) X(ENETRESET) X(ECONNABORTED) X(ECONNRESET) X(ENOBUFS)       \
	X(EISCONN) X(ENOTCONN) X(ESHUTDOWN) X(ETOOMANYREFS) X(ETIMEDOUT) X(ECONNREFUSED)       \
	X(EHOSTDOWN) X(EHOSTUNREACH) X(EALREADY) X(EINPROGRESS) X(ESTALE) X(EUCLEAN)           \
	X(ENOTNAM) X(ENAVAIL) X(EISNAM) X(EREMOTEIO) X(EDQUOT) X(ENOMEDIUM) X(EMEDIUMTYPE)     \
	X(ECANCELED) X(ENOKEY) X(EKEYEXPIRED) X(EKEYREVOKED) X(EKEYREJECTED) X(EOWNERDEAD)     \
	X(ENOTRECOVERABLE) X(ERFKILL) X(EHWPOISON)                                              \
	X(EWOULDBLOCK) X(EDEADLOCK) X(ENOTSUP)

struct errno_entry {
	const char *name;
	int number;
};

/* Aliases come last, so that a number's first entry is its canonical name. */
static const struct errno_entry errno_table[] = {
#define ERRNO_ENTRY(name) { #name, name },
	ERRNO_NAMES(ERRNO_ENTRY)
#undef ERRNO_ENTRY
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

int
sb__errno_from_name(const char *name)
{
	if (name == NULL)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(errno_table); i++) {
		if (strcmp(errno_table[i].name, name) == 0)
			return errno_table[i].number;
	}
	return 0;
}

const char *
sb__errno_name(int errnum)
{
	for (size_t i = 0; i < ARRAY_SIZE(errno_table); i++) {
		if (errno_table[i].number == errnum)
			return errno_table[i].name;
	}
	return NULL;
}

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

/* NNG's errors in errno terms, for transport failures. */
static int
errno_from_nng(int rv)
{
	if (rv & NNG_ESYSERR)
		return rv & ~NNG_ESYSERR;
	switch (rv) {
	case NNG_EINTR:
		return EINTR;
	case NNG_ENOMEM:
		return ENOMEM;
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
		return EINVAL;
	case NNG_EBUSY:
		return EBUSY;
	case NNG_ETIMEDOUT:
		return ETIMEDOUT;
	case NNG_ECONNREFUSED:
		return ECONNREFUSED;
	case NNG_ECLOSED:
	case NNG_ECONNRESET:
	case NNG_ECONNSHUT:
		return ECONNRESET;
	case NNG_EAGAIN:
		return EAGAIN;
	case NNG_ENOTSUP:
		return EPROTONOSUPPORT;
	case NNG_EADDRINUSE:
		return EADDRINUSE;
	case NNG_ENOENT:
		return ENOENT;
	case NNG_EPROTO:
		return EPROTO;
	case NNG_EUNREACHABLE:
		return EHOSTUNREACH;
	case NNG_EPERM:
	case NNG_EPEERAUTH:
		return EACCES;
	case NNG_EMSGSIZE:
		return EMSGSIZE;
	case NNG_ECONNABORTED:
		return ECONNABORTED;
	case NNG_ECANCELED:
		return ECANCELED;
	case NNG_ENOFILES:
		return EMFILE;
	case NNG_ENOSPC:
		return ENOSPC;
	default:
		return EIO;
	}
}

/* URL */

char *
sb_default_url(char *buf, size_t len)
{
	const char *env = getenv(SB_URL_ENV);
	const char *runtime_dir = getenv("XDG_RUNTIME_DIR");

	if (buf == NULL || len == 0)
		return buf;
	if (env != NULL && env[0] != '\0')
		snprintf(buf, len, "%s", env);
	else if (geteuid() == 0)
		snprintf(buf, len, "ipc:///run/sockbroker/sockbroker.sock");
	else if (runtime_dir != NULL)
		snprintf(buf, len, "ipc://%s/sockbroker/sockbroker.sock", runtime_dir);
	else
		snprintf(buf, len, "ipc:///tmp/sockbroker-%u/sockbroker.sock", (unsigned)getuid());
	return buf;
}

/* the client */

struct constant {
	char *name;
	int64_t value;
};

/*
 * One request in flight. It sits on sb_client::pending_calls from the
 * moment it has a number until its reply (or failure) is in, so that
 * sb_cancel_handle() can name it and a lost connection can abort it.
 */
struct pending_call {
	struct pending_call *prev, *next; /* sb_client::pending_calls */
	uint64_t seq;
	sb_handle handle;
	bool is_cancel;
	nng_ctx ctx;
	bool ctx_open;
	bool ctx_broken; /* closed instead of kept once the call ends */
	nng_aio *aio;
	nng_msg *request_msg;
};

struct sb_client {
	nng_socket socket;
	char *url;
	struct sb_server_info info;
	struct constant *constants; /* sorted by name */
	size_t n_constants;
	_Atomic double default_timeout;

	pthread_mutex_t lock;
	/* Everything below is guarded by `lock`. */
	pthread_cond_t calls_done;
	uint64_t last_seq;
	uint32_t session_pipe; /* the connection the session lives on; 0 before it */
	bool lost;             /* that connection dropped */
	bool closing;          /* sb_client_free() has begun */
	unsigned active_calls;
	struct pending_call *pending_calls;
	nng_ctx idle_contexts[MAX_IDLE_CONTEXTS];
	size_t n_idle_contexts;
};

/* Called with client->lock held. */
static void
pending_insert(struct sb_client *client, struct pending_call *call)
{
	call->prev = NULL;
	call->next = client->pending_calls;
	if (client->pending_calls != NULL)
		client->pending_calls->prev = call;
	client->pending_calls = call;
}

/* Called with client->lock held. */
static void
pending_remove(struct sb_client *client, struct pending_call *call)
{
	if (call->prev != NULL)
		call->prev->next = call->next;
	else
		client->pending_calls = call->next;
	if (call->next != NULL)
		call->next->prev = call->prev;
	call->prev = call->next = NULL;
}

/* Called with client->lock held. */
static void
abort_pending_calls(struct sb_client *client)
{
	for (struct pending_call *call = client->pending_calls; call != NULL; call = call->next)
		nng_aio_abort(call->aio, NNG_ECONNRESET);
}

/* Called with client->lock held: the error of a call that cannot go on. */
static int
unusable_error(const struct sb_client *client, struct sb_error *err)
{
	if (client->closing)
		return sb__error_set(err, SB_ERR_TRANSPORT, ECONNRESET,
				     "the client was closed while the call was in flight");
	return sb__error_set(err, SB_ERR_TRANSPORT, ECONNRESET,
			     "the connection to the broker at %s was lost; the session and its "
			     "handles are gone",
			     client->url);
}

/*
 * Pipe events run on NNG's threads. The first pipe is the session; any
 * later one would be a silent new session without the client's handles
 * (NNG redials on its own), so it is refused, and the loss of the first
 * marks the client dead and fails every call still waiting.
 */
static void
pipe_added(nng_pipe pipe, nng_pipe_ev event, void *arg)
{
	struct sb_client *client = arg;
	uint32_t id = (uint32_t)nng_pipe_id(pipe);
	bool reject;

	pthread_mutex_lock(&client->lock);
	if (client->session_pipe == 0 && !client->lost)
		client->session_pipe = id;
	reject = client->session_pipe != id;
	pthread_mutex_unlock(&client->lock);
	if (reject)
		nng_pipe_close(pipe);
}

static void
pipe_removed(nng_pipe pipe, nng_pipe_ev event, void *arg)
{
	struct sb_client *client = arg;

	pthread_mutex_lock(&client->lock);
	if (client->session_pipe == (uint32_t)nng_pipe_id(pipe)) {
		client->lost = true;
		abort_pending_calls(client);
	}
	pthread_mutex_unlock(&client->lock);
}

static int
context_take(struct sb_client *client, nng_ctx *ctx)
{
	pthread_mutex_lock(&client->lock);
	if (client->n_idle_contexts > 0) {
		*ctx = client->idle_contexts[--client->n_idle_contexts];
		pthread_mutex_unlock(&client->lock);
		return 0;
	}
	pthread_mutex_unlock(&client->lock);
	return nng_ctx_open(ctx, client->socket);
}

/* Called with client->lock held. */
static void
context_give_back(struct sb_client *client, nng_ctx ctx, bool broken)
{
	if (!broken && !client->closing && client->n_idle_contexts < MAX_IDLE_CONTEXTS)
		client->idle_contexts[client->n_idle_contexts++] = ctx;
	else
		nng_ctx_close(ctx);
}

/*
 * Pack a request with room in front for its `seq`. The number is written
 * later, under the lock, by set_seq(), which cannot fail: allocation
 * happens here, before a number is taken, because a number taken and never
 * sent would stall every later request of the session in the daemon.
 */
static int
pack_request(Sockbroker__V1__Request *request, nng_msg **out)
{
	size_t body_len;
	nng_msg *msg;
	int rv;

	request->has_seq = false;
	body_len = protobuf_c_message_get_packed_size(&request->base);
	rv = nng_msg_alloc(&msg, SEQ_PREFIX_MAX + body_len);
	if (rv != 0)
		return rv;
	protobuf_c_message_pack(&request->base, (uint8_t *)nng_msg_body(msg) + SEQ_PREFIX_MAX);
	*out = msg;
	return 0;
}

/* Field 1 as a varint ahead of the others: protobuf takes fields in any order. */
static void
set_seq(nng_msg *msg, uint64_t seq)
{
	uint8_t prefix[SEQ_PREFIX_MAX];
	size_t n = 0;

	prefix[n++] = (1 << 3) | PROTOBUF_C_WIRE_TYPE_VARINT;
	do {
		uint8_t byte = seq & 0x7f;

		seq >>= 7;
		prefix[n++] = byte | (seq != 0 ? 0x80 : 0);
	} while (seq != 0);
	nng_msg_trim(msg, SEQ_PREFIX_MAX - n);
	memcpy(nng_msg_body(msg), prefix, n);
}

static int
transport_error(struct sb_error *err, int rv)
{
	return sb__error_set(err, SB_ERR_TRANSPORT, errno_from_nng(rv),
			     "cannot talk to the broker: %s", nng_strerror(rv));
}

static int
protocol_error(struct sb_error *err, const char *what)
{
	return sb__error_set(err, SB_ERR_TRANSPORT, EPROTO, "the broker %s", what);
}

static int
call_prepare(struct sb_client *client, struct pending_call *call,
	     Sockbroker__V1__Request *request, sb_handle handle, struct sb_error *err)
{
	int rv;

	call->handle = handle;
	call->is_cancel = request->op_case == SOCKBROKER__V1__REQUEST__OP_CANCEL;
	rv = pack_request(request, &call->request_msg);
	if (rv != 0)
		goto err_pack;
	rv = nng_aio_alloc(&call->aio, NULL, NULL);
	if (rv != 0)
		goto err_aio;
	/* A blocking recv may wait for hours: no timeout on this side. */
	nng_aio_set_timeout(call->aio, NNG_DURATION_INFINITE);
	rv = context_take(client, &call->ctx);
	if (rv != 0)
		goto err_ctx;
	call->ctx_open = true;
	return 0;

err_ctx:
	nng_aio_free(call->aio);
	call->aio = NULL;
err_aio:
	nng_msg_free(call->request_msg);
	call->request_msg = NULL;
err_pack:
	return transport_error(err, rv);
}

/* Release what call_prepare() took; the call is off the pending list. */
static void
call_release(struct sb_client *client, struct pending_call *call)
{
	if (call->aio != NULL)
		nng_aio_free(call->aio);
	if (call->request_msg != NULL)
		nng_msg_free(call->request_msg);
	if (call->ctx_open) {
		pthread_mutex_lock(&client->lock);
		context_give_back(client, call->ctx, call->ctx_broken);
		pthread_mutex_unlock(&client->lock);
	}
}

/* Wait for the request to go out, then for its reply. */
static int
call_finish(struct sb_client *client, struct pending_call *call, int expected_result,
	    Sockbroker__V1__Reply **out, struct sb_error *err)
{
	Sockbroker__V1__Reply *reply;
	nng_msg *msg;
	int rv, r;

	nng_aio_wait(call->aio);
	rv = nng_aio_result(call->aio);
	if (rv != 0) {
		/* An unsent message comes back to its sender. */
		nng_msg_free(nng_aio_get_msg(call->aio));
		goto err_transport;
	}

	pthread_mutex_lock(&client->lock);
	if (client->lost || client->closing) {
		r = unusable_error(client, err);
		pthread_mutex_unlock(&client->lock);
		call->ctx_broken = true;
		return r;
	}
	/* Posted under the lock so that a loss aborts it or is seen above. */
	nng_ctx_recv(call->ctx, call->aio);
	pthread_mutex_unlock(&client->lock);

	nng_aio_wait(call->aio);
	rv = nng_aio_result(call->aio);
	if (rv != 0)
		goto err_transport;

	msg = nng_aio_get_msg(call->aio);
	reply = sockbroker__v1__reply__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	nng_msg_free(msg);
	if (reply == NULL)
		return protocol_error(err, "sent a reply that cannot be decoded");
	if (reply->has_seq && reply->seq != 0 && reply->seq != call->seq) {
		r = protocol_error(err, "answered with another request's sequence number");
		goto err_reply;
	}
	if (reply->error != NULL) {
		r = sb__error_from_wire(err, reply->error);
		goto err_reply;
	}
	if (expected_result != 0 && (int)reply->result_case != expected_result) {
		r = protocol_error(err, "sent a result that does not match the request");
		goto err_reply;
	}
	*out = reply;
	return 0;

err_reply:
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	return r;

err_transport:
	call->ctx_broken = true;
	pthread_mutex_lock(&client->lock);
	/*
	 * NNG fails the recv of a request whose connection closed with
	 * ECONNRESET, possibly before pipe_removed() has run: the session is
	 * gone either way.
	 */
	if (rv == NNG_ECONNRESET && !client->lost) {
		client->lost = true;
		abort_pending_calls(client);
	}
	if (client->lost || client->closing)
		r = unusable_error(client, err);
	else
		r = transport_error(err, rv);
	pthread_mutex_unlock(&client->lock);
	return r;
}

/* Called without client->lock: the call is over, sb_client_free() may go on. */
static void
call_end(struct sb_client *client)
{
	pthread_mutex_lock(&client->lock);
	if (--client->active_calls == 0)
		pthread_cond_broadcast(&client->calls_done);
	pthread_mutex_unlock(&client->lock);
}

int
sb__call_many(struct sb_client *client, struct Sockbroker__V1__Request **requests,
	      size_t count, sb_handle handle, int expected_result,
	      struct Sockbroker__V1__Reply **replies, struct sb_error *err)
{
	struct pending_call *calls;
	size_t prepared = 0;
	int r = 0;

	sb__error_clear(err);
	if (replies != NULL) {
		for (size_t i = 0; i < count; i++)
			replies[i] = NULL;
	}
	if (count == 0)
		return 0;

	/* Counted from here, so that sb_client_free() waits for this call. */
	pthread_mutex_lock(&client->lock);
	if (client->lost || client->closing) {
		r = unusable_error(client, err);
		pthread_mutex_unlock(&client->lock);
		return r;
	}
	client->active_calls++;
	pthread_mutex_unlock(&client->lock);

	calls = calloc(count, sizeof(*calls));
	if (calls == NULL) {
		r = sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "out of memory");
		goto end;
	}
	for (prepared = 0; prepared < count; prepared++) {
		r = call_prepare(client, &calls[prepared], requests[prepared], handle, err);
		if (r < 0)
			goto release;
	}

	pthread_mutex_lock(&client->lock);
	if (client->lost || client->closing) {
		r = unusable_error(client, err);
		pthread_mutex_unlock(&client->lock);
		goto release;
	}
	/* Numbered and queued in one go: wire order is number order. */
	for (size_t i = 0; i < count; i++) {
		struct pending_call *call = &calls[i];

		call->seq = ++client->last_seq;
		set_seq(call->request_msg, call->seq);
		nng_aio_set_msg(call->aio, call->request_msg);
		call->request_msg = NULL;
		nng_ctx_send(call->ctx, call->aio);
		pending_insert(client, call);
	}
	pthread_mutex_unlock(&client->lock);

	for (size_t i = 0; i < count; i++) {
		Sockbroker__V1__Reply *reply = NULL;
		int call_r;

		call_r = call_finish(client, &calls[i], expected_result, &reply,
				     r == 0 ? err : NULL);
		if (call_r < 0 && r == 0)
			r = call_r;
		if (replies != NULL)
			replies[i] = reply;
		else if (reply != NULL)
			sockbroker__v1__reply__free_unpacked(reply, NULL);
		pthread_mutex_lock(&client->lock);
		pending_remove(client, &calls[i]);
		pthread_mutex_unlock(&client->lock);
	}
	prepared = count;

	/* Success and failure alike: the calls are over. */
release:
	for (size_t i = 0; i < prepared; i++)
		call_release(client, &calls[i]);
	free(calls);
end:
	call_end(client);
	return r;
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
		sockbroker__v1__reply__free_unpacked(result, NULL);
	return 0;
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
		if (call->handle != h || call->is_cancel)
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

static int
dial_error(struct sb_client *client, struct sb_error *err, int rv)
{
	const char *reason = nng_strerror(rv);
	int errnum = errno_from_nng(rv);
	struct stat st;

	/* NNG reports a missing ipc:// socket file as refused; say what is wrong. */
	if (rv == NNG_ECONNREFUSED && strncmp(client->url, "ipc://", 6) == 0 &&
	    stat(client->url + 6, &st) < 0 && errno == ENOENT) {
		errnum = ENOENT;
		reason = strerror(ENOENT);
	}
	if (rv == NNG_EPEERAUTH || rv == NNG_ECRYPTO)
		return sb__error_set(err, SB_ERR_TRANSPORT, errnum,
				     "cannot connect to the broker at %s: %s (check %s and %s)",
				     client->url, reason, TLS_CA_FILE_ENV, TLS_CERT_KEY_FILE_ENV);
	return sb__error_set(err, SB_ERR_TRANSPORT, errnum,
			     "cannot connect to the broker at %s: %s; is sockbrokerd running? "
			     "(set %s)",
			     client->url, reason, SB_URL_ENV);
}

static int
dial(struct sb_client *client, const struct sb_client_options *options, struct sb_error *err)
{
	const char *ca_file = options->tls_ca_file != NULL ? options->tls_ca_file
							   : getenv(TLS_CA_FILE_ENV);
	const char *cert_key_file = options->tls_cert_key_file != NULL
					    ? options->tls_cert_key_file
					    : getenv(TLS_CERT_KEY_FILE_ENV);
	nng_dialer dialer;
	int rv;

	rv = nng_dialer_create(&dialer, client->socket, client->url);
	if (rv != 0)
		return sb__error_set(err, SB_ERR_TRANSPORT, errno_from_nng(rv),
				     "cannot use '%s' as the broker's URL: %s (expected ipc://PATH, "
				     "abstract://NAME, tcp://HOST:PORT or tls+tcp://HOST:PORT)",
				     client->url, nng_strerror(rv));
	if (strncmp(client->url, "tls+", 4) == 0) {
		if (ca_file != NULL && ca_file[0] != '\0') {
			rv = nng_dialer_set_string(dialer, NNG_OPT_TLS_CA_FILE, ca_file);
			if (rv != 0)
				return sb__error_set(err, SB_ERR_TRANSPORT, errno_from_nng(rv),
						     "cannot use the CA file %s (%s): %s", ca_file,
						     TLS_CA_FILE_ENV, nng_strerror(rv));
		}
		if (cert_key_file != NULL && cert_key_file[0] != '\0') {
			rv = nng_dialer_set_string(dialer, NNG_OPT_TLS_CERT_KEY_FILE,
						   cert_key_file);
			if (rv != 0)
				return sb__error_set(err, SB_ERR_TRANSPORT, errno_from_nng(rv),
						     "cannot use the certificate file %s (%s): %s",
						     cert_key_file, TLS_CERT_KEY_FILE_ENV,
						     nng_strerror(rv));
		}
	}
	nng_dialer_set_ms(dialer, NNG_OPT_RECONNMINT, RECONNECT_INTERVAL_MS);
	nng_dialer_set_ms(dialer, NNG_OPT_RECONNMAXT, RECONNECT_INTERVAL_MS);

	/* Synchronous, so that a missing daemon is an error now, not a hang. */
	rv = nng_dialer_start(dialer, 0);
	if (rv != 0)
		return dial_error(client, err, rv);
	return 0;
}

/*
 * A request must never be sent twice: the daemon would run the operation
 * twice (two connects, data sent twice). NNG resends after a minute by
 * default, so resending is switched off, and the setting is read back
 * because an old NNG might take the call yet keep its default.
 */
static int
disable_resend(struct sb_client *client, struct sb_error *err)
{
	nng_duration resend = 0;
	int rv;

	rv = nng_socket_set_ms(client->socket, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if (rv == 0)
		rv = nng_socket_get_ms(client->socket, NNG_OPT_REQ_RESENDTIME, &resend);
	if (rv == 0 && resend == NNG_DURATION_INFINITE)
		return 0;
	rv = nng_socket_set_ms(client->socket, NNG_OPT_REQ_RESENDTIME, RESEND_FALLBACK_MS);
	if (rv != 0)
		return sb__error_set(err, SB_ERR_TRANSPORT, errno_from_nng(rv),
				     "cannot switch off NNG's request resending: %s",
				     nng_strerror(rv));
	return 0;
}

/* Free a client that has no call in flight, its socket open. */
static void
client_destroy(struct sb_client *client)
{
	for (size_t i = 0; i < client->n_idle_contexts; i++)
		nng_ctx_close(client->idle_contexts[i]);
	/* Returns once the pipe callbacks, which take the lock, are done. */
	nng_close(client->socket);

	for (size_t i = 0; i < client->n_constants; i++)
		free(client->constants[i].name);
	free(client->constants);
	pthread_cond_destroy(&client->calls_done);
	pthread_mutex_destroy(&client->lock);
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
	int rv, r;

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
	pthread_mutex_init(&client->lock, NULL);
	pthread_cond_init(&client->calls_done, NULL);

	rv = nng_req0_open(&client->socket);
	if (rv != 0) {
		r = sb__error_set(err, SB_ERR_TRANSPORT, errno_from_nng(rv),
				  "cannot open an NNG request socket: %s", nng_strerror(rv));
		goto err_socket;
	}
	/* Before any context opens: contexts copy the socket's resend time. */
	r = disable_resend(client, err);
	if (r < 0)
		goto err_connection;
	/* The daemon bounds message sizes; the client takes what it is sent. */
	nng_socket_set_size(client->socket, NNG_OPT_RECVMAXSZ, 0);
	nng_pipe_notify(client->socket, NNG_PIPE_EV_ADD_PRE, pipe_added, client);
	nng_pipe_notify(client->socket, NNG_PIPE_EV_REM_POST, pipe_removed, client);

	r = dial(client, options, err);
	if (r < 0)
		goto err_connection;
	r = say_hello(client, options->client_name, token, err);
	if (r < 0)
		goto err_connection;

	*out = client;
	return 0;

err_connection:
	client_destroy(client);
	return r;
err_socket:
	pthread_cond_destroy(&client->calls_done);
	pthread_mutex_destroy(&client->lock);
	free(client->url);
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
	abort_pending_calls(client);
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
