/*
 * The transport: the only module that speaks NNG. It owns one rep0 socket in
 * cooked mode with its listeners, and a pool of contexts kept posted for
 * receive. A received request holds its context (a `struct tx`) until
 * transport_reply_send() answers it; a fresh context is posted in its place
 * at once, so the pool never drains however many requests are parked.
 *
 * Callbacks run on NNG's threads: they must not block and must not touch
 * reactor state (they hand work over with reactor_post()). Replies may be
 * sent from any thread. Pipe (connection) events are delivered before any
 * request from that pipe. A reply that the client does not read within the
 * reply timeout closes the client's connection.
 */
#ifndef SOCKBROKER_TRANSPORT_H
#define SOCKBROKER_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "policy.h"

struct transport;

/* One received request awaiting its reply. Owned by the transport; whoever
 * received it must answer it exactly once with transport_reply_send(). */
struct tx;

/* Who is at the other end of a connection, as the transport saw it when
 * the connection was added. */
struct peer_identity {
	bool has_credentials; /* uid/gid/pid are valid (ipc:// and abstract://) */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	bool tls_verified; /* a client certificate was verified (tls+tcp://) */
	enum policy_transport transport; /* which kind of listener accepted it */
	char peer[96];     /* "ipc", "tcp 127.0.0.1:40112", ... */
};

struct transport_callbacks {
	/* A connection was negotiated and is about to be added; its requests
	 * come after this call returns (hence the "pre" event: NNG may deliver
	 * a request before its "post" event has run). */
	void (*pipe_added)(void *userdata, uint32_t pipe_id, const struct peer_identity *identity);
	/* A connection went away. */
	void (*pipe_removed)(void *userdata, uint32_t pipe_id);
	/* A request arrived. `body` is valid only during the call. */
	void (*request)(void *userdata, struct tx *tx, uint32_t pipe_id, const void *body,
			size_t len);
};

struct transport_config {
	size_t max_message_size;   /* NNG_OPT_RECVMAXSZ of every listener */
	int reply_timeout_ms;      /* how long a reply may wait for the client */
	unsigned ipc_mode;         /* permissions of ipc socket files */
	bool ipc_chown;            /* give ipc socket files to ipc_uid:ipc_gid once created */
	uid_t ipc_uid;
	gid_t ipc_gid;
	const char *tls_cert_key_file;
	const char *tls_ca_file;
	unsigned pool_size;        /* contexts kept posted for receive */
};

/* Open the rep0 socket. `callbacks` and `userdata` must outlive the
 * transport. Returns 0 or -errno. */
int transport_new(struct transport **out, const struct transport_config *config,
		  const struct transport_callbacks *callbacks, void *userdata);

/* Start listening on `url`. On failure `err` says why. Returns 0 or
 * -errno. */
int transport_listen(struct transport *transport, const char *url, char *err, size_t errlen);

/* Post the receive contexts: requests flow from now on. Returns 0 or
 * -errno. */
int transport_start(struct transport *transport);

/* Wait until every reply handed to transport_reply_send() so far has been
 * sent (or failed), for at most `timeout_ms`; says in the log when some were
 * not. The daemon calls it when it stops, after answering every waiting
 * operation and before transport_stop(), so that those answers reach their
 * clients. Must not be called from an NNG callback. */
void transport_flush(struct transport *transport, int timeout_ms);

/* Stop: close the socket and listeners, abort everything in flight, and
 * wait until no callback is running. Requests received but not answered
 * may still be answered: the reply is discarded (and freed). */
void transport_stop(struct transport *transport);

/* Free a stopped transport. Every tx must have been answered. NULL is a
 * no-op. */
void transport_free(struct transport *transport);

/* A reply buffer of `len` bytes for `tx`, to fill before
 * transport_reply_send(). NULL on allocation failure (then answer with a
 * smaller reply). Calling it again replaces the buffer. */
void *transport_reply_buffer(struct tx *tx, size_t len);

/* Send the reply buffer (an empty reply if none was made). After this call
 * `tx` belongs to the transport again. Any thread. */
void transport_reply_send(struct tx *tx);

/* The pipe a request came from. */
uint32_t transport_tx_pipe(const struct tx *tx);

/* Close one client connection (a misbehaving client). Any thread. */
void transport_disconnect(struct transport *transport, uint32_t pipe_id);

#endif
