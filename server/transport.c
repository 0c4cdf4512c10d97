#include "transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "list.h"
#include "log.h"

enum tx_state {
	TX_IDLE,      /* on the free list */
	TX_RECEIVING, /* posted for receive */
	TX_BUSY,      /* holding a request, waiting for its reply */
	TX_SENDING,   /* reply being sent */
};

struct tx {
	struct transport *transport;
	nng_ctx ctx;
	nng_aio *aio;
	nng_msg *reply;
	uint32_t pipe_id;
	enum tx_state state;
	struct list link; /* transport::all_tx */
	struct tx *next_idle;
};

struct transport {
	nng_socket socket;
	bool socket_open;
	struct transport_config config;
	const struct transport_callbacks *callbacks;
	void *userdata;

	pthread_mutex_t lock;
	struct list all_tx;     /* tx::link, guarded by lock */
	struct tx *idle;        /* tx::next_idle, guarded by lock */
	unsigned n_idle;
	unsigned n_receiving;
	unsigned n_sending;     /* replies handed to NNG and not yet sent */
	pthread_cond_t sent;    /* with lock; signalled when n_sending drops to 0 */
	bool stopping;
	bool closed;            /* the socket is closed: replies are dropped */

	/* Listeners, kept so that the watchdog can restart a stuck one. */
	struct listener_entry *listeners;
	size_t n_listeners;
	pthread_t watchdog;
	bool watchdog_running;
	pthread_cond_t watchdog_wake; /* with lock; signalled by transport_stop() */
};

struct listener_entry {
	char *url;
	nng_listener listener;
	bool watched; /* ipc:// or abstract://: probed by the watchdog */
};

/*
 * The watchdog works around a defect of NNG 1.5 (fixed upstream in later
 * releases): a connection that goes away during the SP handshake ends the
 * listener's accept loop, so one careless or hostile local process could
 * stop every later client from connecting. Every WATCHDOG_PERIOD_MS the
 * watchdog dials each ipc/abstract listener from inside the daemon; one that
 * does not complete a handshake within WATCHDOG_PROBE_MS is closed and opened
 * again (sessions already connected are not affected).
 */
#define WATCHDOG_PERIOD_MS 2000
#define WATCHDOG_PROBE_MS 5000

static void init_monotonic_cond(pthread_cond_t *cond);

/* More idle contexts than this are closed rather than kept. */
#define MAX_IDLE_TX 64

static int
errno_from_nng(int rv)
{
	if (rv & NNG_ESYSERR)
		return rv & ~NNG_ESYSERR;
	switch (rv) {
	case NNG_ENOMEM:
		return ENOMEM;
	case NNG_EINVAL:
		return EINVAL;
	case NNG_EADDRINUSE:
		return EADDRINUSE;
	case NNG_EADDRINVAL:
		return EADDRNOTAVAIL;
	case NNG_EPERM:
		return EACCES;
	case NNG_ENOENT:
		return ENOENT;
	case NNG_ENOTSUP:
		return EOPNOTSUPP;
	case NNG_EBUSY:
		return EBUSY;
	case NNG_ETIMEDOUT:
		return ETIMEDOUT;
	case NNG_ECLOSED:
		return EBADF;
	default:
		return EIO;
	}
}

static void tx_callback(void *arg);

static struct tx *
tx_new(struct transport *transport)
{
	struct tx *tx = calloc(1, sizeof(*tx));
	if (!tx)
		return NULL;
	tx->transport = transport;
	int rv = nng_aio_alloc(&tx->aio, tx_callback, tx);
	if (rv != 0)
		goto err_free;
	if ((rv = nng_ctx_open(&tx->ctx, transport->socket)) != 0)
		goto err_aio;
	pthread_mutex_lock(&transport->lock);
	list_append(&transport->all_tx, &tx->link);
	pthread_mutex_unlock(&transport->lock);
	return tx;

err_aio:
	nng_aio_free(tx->aio);
err_free:
	free(tx);
	log_error("transport: cannot open a receive context: %s", nng_strerror(rv));
	return NULL;
}

/* Wait for the next request on `tx`, for as long as it takes: the aio may
 * still carry the timeout of the reply it sent last. */
static void
receive(struct tx *tx)
{
	nng_aio_set_timeout(tx->aio, NNG_DURATION_INFINITE);
	nng_ctx_recv(tx->ctx, tx->aio);
}

/* Post one receive context, reusing an idle one when there is one. */
static void
post_receive(struct transport *transport)
{
	pthread_mutex_lock(&transport->lock);
	if (transport->stopping) {
		pthread_mutex_unlock(&transport->lock);
		return;
	}
	struct tx *tx = transport->idle;
	if (tx) {
		transport->idle = tx->next_idle;
		transport->n_idle--;
	}
	transport->n_receiving++;
	pthread_mutex_unlock(&transport->lock);

	if (!tx && !(tx = tx_new(transport))) {
		pthread_mutex_lock(&transport->lock);
		transport->n_receiving--;
		pthread_mutex_unlock(&transport->lock);
		return;
	}
	tx->state = TX_RECEIVING;
	tx->pipe_id = 0;
	receive(tx);
}

/* A reply went out (or failed): keep the context for reuse, or top the
 * receive pool up if an earlier allocation failure left it short. */
static void
recycle(struct tx *tx)
{
	struct transport *transport = tx->transport;
	bool repost = false;

	pthread_mutex_lock(&transport->lock);
	if (!transport->stopping) {
		if (transport->n_receiving < transport->config.pool_size) {
			repost = true;
			transport->n_receiving++;
		} else if (transport->n_idle < MAX_IDLE_TX) {
			tx->state = TX_IDLE;
			tx->next_idle = transport->idle;
			transport->idle = tx;
			transport->n_idle++;
			pthread_mutex_unlock(&transport->lock);
			return;
		}
	}
	if (!repost) {
		/* Too many idle: retire this one. Its aio cannot be freed from
		 * its own callback, so the reaper thread does that. */
		tx->state = TX_IDLE;
		if (!transport->stopping) {
			list_remove(&tx->link);
			pthread_mutex_unlock(&transport->lock);
			nng_ctx_close(tx->ctx);
			nng_aio_reap(tx->aio);
			free(tx);
			return;
		}
		pthread_mutex_unlock(&transport->lock);
		return;
	}
	pthread_mutex_unlock(&transport->lock);
	tx->state = TX_RECEIVING;
	tx->pipe_id = 0;
	receive(tx);
}

static void
on_received(struct tx *tx)
{
	struct transport *transport = tx->transport;
	int rv = nng_aio_result(tx->aio);

	pthread_mutex_lock(&transport->lock);
	transport->n_receiving--;
	bool stopping = transport->stopping;
	pthread_mutex_unlock(&transport->lock);

	if (rv != 0) {
		if (rv != NNG_ECLOSED && rv != NNG_ECANCELED)
			log_warn("transport: receiving a request failed: %s", nng_strerror(rv));
		if (!stopping)
			recycle(tx);
		return;
	}

	nng_msg *msg = nng_aio_get_msg(tx->aio);
	tx->pipe_id = nng_pipe_id(nng_msg_get_pipe(msg));
	tx->state = TX_BUSY;
	/* Replace ourselves in the pool before handing the request on: the
	 * pool must never drain, whatever the request then waits for. */
	post_receive(transport);
	transport->callbacks->request(transport->userdata, tx, tx->pipe_id, nng_msg_body(msg),
				      nng_msg_len(msg));
	nng_msg_free(msg);
}

static void
on_sent(struct tx *tx)
{
	struct transport *transport = tx->transport;
	pthread_mutex_lock(&transport->lock);
	if (--transport->n_sending == 0)
		pthread_cond_broadcast(&transport->sent);
	pthread_mutex_unlock(&transport->lock);

	int rv = nng_aio_result(tx->aio);
	if (rv != 0) {
		nng_msg_free(nng_aio_get_msg(tx->aio));
		nng_aio_set_msg(tx->aio, NULL);
		if (rv == NNG_ETIMEDOUT) {
			log_warn("transport: client on connection %u did not read its replies "
				 "within %d ms; closing the connection (its handles are closed)",
				 tx->pipe_id, tx->transport->config.reply_timeout_ms);
			transport_disconnect(tx->transport, tx->pipe_id);
		} else if (rv != NNG_ECLOSED && rv != NNG_ECANCELED) {
			log_warn("transport: sending a reply on connection %u failed: %s",
				 tx->pipe_id, nng_strerror(rv));
		}
	}
	recycle(tx);
}

static void
tx_callback(void *arg)
{
	struct tx *tx = arg;
	switch (tx->state) {
	case TX_RECEIVING:
		on_received(tx);
		break;
	case TX_SENDING:
		on_sent(tx);
		break;
	case TX_IDLE:
	case TX_BUSY:
		break;
	}
}

static void
format_peer(nng_pipe pipe, struct peer_identity *identity)
{
	nng_sockaddr sa;
	char host[INET6_ADDRSTRLEN];

	snprintf(identity->peer, sizeof(identity->peer), "unknown");
	if (nng_pipe_get_addr(pipe, NNG_OPT_REMADDR, &sa) != 0)
		return;
	switch (sa.s_family) {
	case NNG_AF_IPC:
		snprintf(identity->peer, sizeof(identity->peer), "ipc");
		identity->transport = POLICY_TRANSPORT_IPC;
		break;
	case NNG_AF_ABSTRACT:
		snprintf(identity->peer, sizeof(identity->peer), "abstract");
		identity->transport = POLICY_TRANSPORT_ABSTRACT;
		break;
	case NNG_AF_INET:
		identity->transport = POLICY_TRANSPORT_TCP;
		inet_ntop(AF_INET, &sa.s_in.sa_addr, host, sizeof(host));
		snprintf(identity->peer, sizeof(identity->peer), "tcp %s:%u", host,
			 ntohs(sa.s_in.sa_port));
		break;
	case NNG_AF_INET6:
		identity->transport = POLICY_TRANSPORT_TCP;
		inet_ntop(AF_INET6, sa.s_in6.sa_addr, host, sizeof(host));
		snprintf(identity->peer, sizeof(identity->peer), "tcp [%s]:%u", host,
			 ntohs(sa.s_in6.sa_port));
		break;
	default:
		break;
	}
}

static void
pipe_event(nng_pipe pipe, nng_pipe_ev event, void *arg)
{
	struct transport *transport = arg;
	uint32_t pipe_id = nng_pipe_id(pipe);

	if (event == NNG_PIPE_EV_ADD_PRE) {
		struct peer_identity identity = { 0 };
		uint64_t uid, gid, pid;
		format_peer(pipe, &identity);
		/* NNG gives peer credentials as 64-bit options. */
		if (nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_UID, &uid) == 0 &&
		    nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_GID, &gid) == 0) {
			identity.has_credentials = true;
			identity.uid = (uid_t)uid;
			identity.gid = (gid_t)gid;
			if (nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_PID, &pid) == 0)
				identity.pid = (pid_t)pid;
		}
		/* The watchdog's own probe is not a client. */
		if (identity.has_credentials && identity.pid == getpid())
			return;
		bool verified = false;
		/* Only a TLS pipe has the option: that is how tls+tcp:// tells
		 * itself apart from tcp://. */
		if (nng_pipe_get_bool(pipe, NNG_OPT_TLS_VERIFIED, &verified) == 0) {
			identity.tls_verified = verified;
			identity.transport = POLICY_TRANSPORT_TLS;
		}
		transport->callbacks->pipe_added(transport->userdata, pipe_id, &identity);
	} else if (event == NNG_PIPE_EV_REM_POST) {
		transport->callbacks->pipe_removed(transport->userdata, pipe_id);
	}
}

int
transport_new(struct transport **out, const struct transport_config *config,
	      const struct transport_callbacks *callbacks, void *userdata)
{
	int rv;
	struct transport *transport = calloc(1, sizeof(*transport));
	if (!transport)
		return -ENOMEM;
	transport->config = *config;
	if (transport->config.pool_size == 0)
		transport->config.pool_size = 8;
	transport->callbacks = callbacks;
	transport->userdata = userdata;
	pthread_mutex_init(&transport->lock, NULL);
	init_monotonic_cond(&transport->watchdog_wake);
	init_monotonic_cond(&transport->sent);
	list_init(&transport->all_tx);

	if ((rv = nng_rep0_open(&transport->socket)) != 0) {
		log_error("transport: cannot open the reply socket: %s", nng_strerror(rv));
		goto err;
	}
	transport->socket_open = true;
	if ((rv = nng_socket_set_size(transport->socket, NNG_OPT_RECVMAXSZ,
				      config->max_message_size)) != 0 ||
	    (rv = nng_socket_set_ms(transport->socket, NNG_OPT_SENDTIMEO,
				    config->reply_timeout_ms)) != 0 ||
	    (rv = nng_pipe_notify(transport->socket, NNG_PIPE_EV_ADD_PRE, pipe_event,
				  transport)) != 0 ||
	    (rv = nng_pipe_notify(transport->socket, NNG_PIPE_EV_REM_POST, pipe_event,
				  transport)) != 0) {
		log_error("transport: cannot configure the reply socket: %s", nng_strerror(rv));
		goto err;
	}
	*out = transport;
	return 0;

err:
	if (transport->socket_open)
		nng_close(transport->socket);
	pthread_cond_destroy(&transport->watchdog_wake);
	pthread_cond_destroy(&transport->sent);
	pthread_mutex_destroy(&transport->lock);
	free(transport);
	return -errno_from_nng(rv);
}

static int
open_listener(struct transport *transport, const char *url, nng_listener *out, char *err,
	      size_t errlen)
{
	nng_listener listener;
	int rv;
	const char *what = "create the listener";

	if ((rv = nng_listener_create(&listener, transport->socket, url)) != 0)
		goto fail;
	what = "set the maximum message size";
	if ((rv = nng_listener_set_size(listener, NNG_OPT_RECVMAXSZ,
					transport->config.max_message_size)) != 0)
		goto fail_close;
	if (strncmp(url, "ipc://", 6) == 0) {
		what = "set the socket file's permissions";
		if ((rv = nng_listener_set_int(listener, NNG_OPT_IPC_PERMISSIONS,
					       (int)transport->config.ipc_mode)) != 0)
			goto fail_close;
	}
	if (strncmp(url, "tls+tcp://", 10) == 0) {
		what = "load the TLS certificate and key";
		if (!transport->config.tls_cert_key_file || !transport->config.tls_ca_file) {
			rv = NNG_EINVAL;
			goto fail_close;
		}
		if ((rv = nng_listener_set_string(listener, NNG_OPT_TLS_CERT_KEY_FILE,
						  transport->config.tls_cert_key_file)) != 0)
			goto fail_close;
		what = "load the client CA file";
		if ((rv = nng_listener_set_string(listener, NNG_OPT_TLS_CA_FILE,
						  transport->config.tls_ca_file)) != 0)
			goto fail_close;
		what = "require client certificates";
		if ((rv = nng_listener_set_int(listener, NNG_OPT_TLS_AUTH_MODE,
					       NNG_TLS_AUTH_MODE_REQUIRED)) != 0)
			goto fail_close;
	}
	what = "start listening";
	if ((rv = nng_listener_start(listener, 0)) != 0)
		goto fail_close;
	*out = listener;
	return 0;

fail_close:
	nng_listener_close(listener);
fail:
	snprintf(err, errlen, "%s: cannot %s: %s", url, what, nng_strerror(rv));
	return -errno_from_nng(rv);
}

/* NNG creates an ipc socket file as the daemon, with no option for its owner: it is
 * given away here, before transport_start() serves anyone. lchown: a symlink planted in
 * the socket's place is never followed. */
static int
chown_socket_file(struct transport *transport, const char *url, char *err, size_t errlen)
{
	if (strncmp(url, "ipc://", 6) != 0 || !transport->config.ipc_chown)
		return 0;
	if (lchown(url + 6, transport->config.ipc_uid, transport->config.ipc_gid) < 0) {
		int r = -errno;
		snprintf(err, errlen, "%s: cannot give the socket file to uid %lu, gid %lu "
			 "(ipc.owner, ipc.group): %s", url, (unsigned long)transport->config.ipc_uid,
			 (unsigned long)transport->config.ipc_gid, strerror(-r));
		return r;
	}
	return 0;
}

int
transport_listen(struct transport *transport, const char *url, char *err, size_t errlen)
{
	struct listener_entry *entries =
		realloc(transport->listeners, (transport->n_listeners + 1) * sizeof(*entries));
	if (!entries) {
		snprintf(err, errlen, "%s: out of memory", url);
		return -ENOMEM;
	}
	transport->listeners = entries;
	struct listener_entry *entry = &entries[transport->n_listeners];
	if (!(entry->url = strdup(url))) {
		snprintf(err, errlen, "%s: out of memory", url);
		return -ENOMEM;
	}
	int r = open_listener(transport, url, &entry->listener, err, errlen);
	if (r == 0 && (r = chown_socket_file(transport, url, err, errlen)) < 0)
		nng_listener_close(entry->listener);
	if (r < 0) {
		free(entry->url);
		return r;
	}
	entry->watched = strncmp(url, "ipc://", 6) == 0 || strncmp(url, "abstract://", 11) == 0;
	transport->n_listeners++;
	return 0;
}

static void
deadline_in_ms(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void
init_monotonic_cond(pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
}

/* Whether the listener at `url` serves: a request (an empty one, which
 * any daemon answers with an error) must get its reply in time. A listener
 * whose accept loop has stopped still completes handshakes, but never hands
 * the connection to the socket, so the request goes unanswered. Resource
 * failures here count as answering: only a listener seen not to serve is
 * restarted. */
static bool
listener_answers(const char *url)
{
	nng_socket socket;
	nng_msg *reply = NULL;
	bool answered = true;

	if (nng_req0_open(&socket) != 0)
		return true;
	if (nng_socket_set_ms(socket, NNG_OPT_RECVTIMEO, WATCHDOG_PROBE_MS) == 0 &&
	    nng_socket_set_ms(socket, NNG_OPT_SENDTIMEO, WATCHDOG_PROBE_MS) == 0 &&
	    nng_socket_set_ms(socket, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE) == 0) {
		int rv = nng_dial(socket, url, NULL, 0);
		if (rv == 0) {
			rv = nng_send(socket, "", 0, 0);
			if (rv == 0)
				rv = nng_recvmsg(socket, &reply, 0);
			answered = rv != NNG_ETIMEDOUT;
			nng_msg_free(reply);
		} else {
			/* Nothing listens there (a restart that failed): try again. */
			answered = rv != NNG_ECONNREFUSED && rv != NNG_ENOENT;
		}
	}
	nng_close(socket);
	return answered;
}

/*
 * Closing a listener closes every connection it accepted (NNG has no way to
 * keep them), so the clients connected through a stuck listener lose their
 * sessions when it is restarted. Keeping the stuck one open instead is no
 * better: the connections queued on its socket keep NNG's poller thread
 * spinning. The log says what happens.
 */
static void
restart_listener(struct transport *transport, struct listener_entry *entry)
{
	char err[512];
	log_warn("transport: %s stopped accepting connections (a client dropped its "
		 "connection during the handshake, a defect of this NNG version); restarting "
		 "the listener, which disconnects the clients connected through it (they "
		 "connect again and start new sessions)",
		 entry->url);
	nng_listener_close(entry->listener);
	if (strncmp(entry->url, "ipc://", 6) == 0)
		unlink(entry->url + 6);
	if (open_listener(transport, entry->url, &entry->listener, err, sizeof(err)) < 0) {
		log_error("transport: cannot restart the listener: %s; retrying in %d ms", err,
			  WATCHDOG_PERIOD_MS);
		return;
	}
	/* After dropping privileges the daemon may no longer give the file away (a new
	 * owner needs CAP_CHOWN): the listener serves on, with the daemon as owner. */
	if (chown_socket_file(transport, entry->url, err, sizeof(err)) < 0)
		log_warn("transport: the restarted listener keeps the daemon's ownership: %s",
			 err);
}

static void *
watchdog(void *arg)
{
	struct transport *transport = arg;
	struct timespec deadline;

	pthread_mutex_lock(&transport->lock);
	while (!transport->stopping) {
		deadline_in_ms(&deadline, WATCHDOG_PERIOD_MS);
		pthread_cond_timedwait(&transport->watchdog_wake, &transport->lock, &deadline);
		for (size_t i = 0; i < transport->n_listeners && !transport->stopping; i++) {
			struct listener_entry *entry = &transport->listeners[i];
			if (!entry->watched)
				continue;
			pthread_mutex_unlock(&transport->lock);
			bool answers = listener_answers(entry->url);
			pthread_mutex_lock(&transport->lock);
			if (!answers && !transport->stopping)
				restart_listener(transport, entry);
		}
	}
	pthread_mutex_unlock(&transport->lock);
	return NULL;
}

int
transport_start(struct transport *transport)
{
	bool watched = false;
	for (size_t i = 0; i < transport->n_listeners; i++)
		watched |= transport->listeners[i].watched;
	if (watched && pthread_create(&transport->watchdog, NULL, watchdog, transport) == 0)
		transport->watchdog_running = true;

	for (unsigned i = 0; i < transport->config.pool_size; i++)
		post_receive(transport);
	pthread_mutex_lock(&transport->lock);
	unsigned receiving = transport->n_receiving;
	pthread_mutex_unlock(&transport->lock);
	return receiving ? 0 : -ENOMEM;
}

void
transport_stop(struct transport *transport)
{
	pthread_mutex_lock(&transport->lock);
	if (transport->stopping) {
		pthread_mutex_unlock(&transport->lock);
		return;
	}
	transport->stopping = true;
	pthread_cond_signal(&transport->watchdog_wake);
	pthread_mutex_unlock(&transport->lock);
	if (transport->watchdog_running) {
		pthread_join(transport->watchdog, NULL);
		transport->watchdog_running = false;
	}

	/* Closing the socket aborts every receive and send; nng_aio_stop then
	 * waits for each callback, so none runs after we return. No new tx
	 * is created once `stopping` is set, and no reply is sent once
	 * `closed` is. */
	pthread_mutex_lock(&transport->lock);
	transport->closed = true;
	pthread_mutex_unlock(&transport->lock);
	nng_close(transport->socket);
	transport->socket_open = false;
	struct list *pos, *tmp;
	list_for_each_safe (pos, tmp, &transport->all_tx) {
		struct tx *tx = list_entry(pos, struct tx, link);
		nng_aio_stop(tx->aio);
	}
}

void
transport_free(struct transport *transport)
{
	if (!transport)
		return;
	transport_stop(transport);
	struct list *pos, *tmp;
	list_for_each_safe (pos, tmp, &transport->all_tx) {
		struct tx *tx = list_entry(pos, struct tx, link);
		list_remove(&tx->link);
		nng_msg_free(tx->reply);
		nng_aio_free(tx->aio);
		free(tx);
	}
	for (size_t i = 0; i < transport->n_listeners; i++)
		free(transport->listeners[i].url);
	free(transport->listeners);
	pthread_cond_destroy(&transport->watchdog_wake);
	pthread_cond_destroy(&transport->sent);
	pthread_mutex_destroy(&transport->lock);
	free(transport);
}

void *
transport_reply_buffer(struct tx *tx, size_t len)
{
	if (tx->reply) {
		nng_msg_free(tx->reply);
		tx->reply = NULL;
	}
	if (nng_msg_alloc(&tx->reply, len) != 0) {
		tx->reply = NULL;
		return NULL;
	}
	return nng_msg_body(tx->reply);
}

void
transport_flush(struct transport *transport, int timeout_ms)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&transport->lock);
	int r = 0;
	while (transport->n_sending > 0 && r == 0)
		r = pthread_cond_timedwait(&transport->sent, &transport->lock, &deadline);
	if (transport->n_sending > 0)
		log_warn("transport: %u replies were still unsent after %d ms; their clients see "
			 "the connection close instead",
			 transport->n_sending, timeout_ms);
	pthread_mutex_unlock(&transport->lock);
}

void
transport_reply_send(struct tx *tx)
{
	struct transport *transport = tx->transport;
	pthread_mutex_lock(&transport->lock);
	bool closed = transport->closed;
	if (!closed)
		transport->n_sending++;
	pthread_mutex_unlock(&transport->lock);
	if (closed) {
		/* Stopped: the socket is gone, and with it the client's connection. */
		nng_msg_free(tx->reply);
		tx->reply = NULL;
		tx->state = TX_IDLE;
		return;
	}
	if (!tx->reply && nng_msg_alloc(&tx->reply, 0) != 0) {
		/* Nothing can be said to this client: give the context back; its
		 * request is dropped and the client sees its connection's fate. */
		log_error("transport: out of memory for a reply on connection %u", tx->pipe_id);
		pthread_mutex_lock(&transport->lock);
		if (--transport->n_sending == 0)
			pthread_cond_broadcast(&transport->sent);
		pthread_mutex_unlock(&transport->lock);
		tx->state = TX_SENDING;
		recycle(tx);
		return;
	}
	tx->state = TX_SENDING;
	nng_aio_set_msg(tx->aio, tx->reply);
	tx->reply = NULL;
	nng_aio_set_timeout(tx->aio, tx->transport->config.reply_timeout_ms);
	nng_ctx_send(tx->ctx, tx->aio);
}

uint32_t
transport_tx_pipe(const struct tx *tx)
{
	return tx->pipe_id;
}

void
transport_disconnect(struct transport *transport, uint32_t pipe_id)
{
	nng_pipe pipe = NNG_PIPE_INITIALIZER;
	pipe.id = pipe_id;
	nng_pipe_close(pipe);
}
