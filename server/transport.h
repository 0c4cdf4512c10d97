/*
 * The transport: listeners and client connections on the reactor. It speaks
 * NNG's SP request/reply wire protocol itself, as the rep0 side, on ipc://
 * and abstract:// (unix stream sockets), tcp:// and tls+tcp:// (OpenSSL):
 * accept, the SP handshake (the peer must be req0), frames, request ids, and
 * one bounded output queue per connection.
 *
 * Everything runs on the reactor thread: a request is read, handed to
 * `request` and, when the operation completes at once, its reply written in
 * the same loop turn, with no other thread in between. One connection's
 * requests are handed on strictly in the order they arrive.
 *
 * Bounds: a frame larger than max_message_size ends its connection before
 * anything is allocated for it; a connection must finish its handshakes
 * within handshake_timeout_ms, and a request frame, once begun, within
 * frame_timeout_ms; while a connection's unsent replies exceed
 * max_message_size bytes, its requests are not read (back-pressure), and a
 * reply left unread for reply_timeout_ms ends the connection. At most
 * max_connections connections exist at once; more are accepted and closed.
 * With a memory budget (budget.h), a large frame's buffer and every queued
 * reply are charged to the connection's identity: a frame that does not fit
 * is not read until memory is given back (or its frame_timeout_ms ends the
 * connection), and nothing is read from an identity that is over its bound.
 *
 * Callbacks run on the reactor thread. `connection_removed` never runs
 * inside another transport call: it is deferred to the end of the loop turn,
 * so that a connection ended while its session is busy (a reply that cannot
 * be queued) does not pull the session out from under its caller.
 */
#ifndef SOCKBROKER_TRANSPORT_H
#define SOCKBROKER_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "peer-transport.h"

struct budget;
struct reactor;
struct transport;

/* One received request awaiting its reply. Owned by the transport; whoever
 * received it must answer it exactly once with transport_reply_send(). */
struct tx;

/* Who is at the other end of a connection, as the transport saw it when
 * the connection was accepted. */
struct peer_identity {
	bool has_credentials; /* uid/gid/pid are valid (ipc:// and abstract://) */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	bool tls_verified; /* a client certificate was verified (tls+tcp://) */
	uint8_t cert_sha256[32]; /* with tls_verified: the SHA-256 of that certificate */
	enum policy_transport transport; /* which kind of listener accepted it */
	char peer[96];     /* "ipc", "tcp 127.0.0.1:40112", ... */
};

struct transport_callbacks {
	/* A connection completed its handshakes; its requests come after this
	 * call returns. */
	void (*connection_added)(void *userdata, uint32_t conn_id,
				 const struct peer_identity *identity);
	/* A connection that was added went away (at the end of the turn). */
	void (*connection_removed)(void *userdata, uint32_t conn_id);
	/* A request arrived. `body` is valid only during the call. */
	void (*request)(void *userdata, struct tx *tx, uint32_t conn_id, const void *body,
			size_t len);
	/* A tls+tcp:// client's TLS handshake failed (no certificate, one the CA did not
	 * sign, a protocol error) and its connection was closed; `reason` says which, for
	 * the operator. NULL: not told. */
	void (*handshake_refused)(void *userdata, const struct peer_identity *identity,
				  const char *reason);
	/* Resumable sessions. Every reply of a connection given a tag (transport_set_tag())
	 * passes here before it is queued, whether or not its connection is still open, in
	 * the order its client will read them; `header` is its SP request id. The answer
	 * is the connection to queue it on: its own, one that took over the tag's session
	 * (the reply keeps its request id), or 0 to drop it (the callee keeps what it
	 * needs). NULL: every reply goes to its own connection. */
	uint32_t (*reply_route)(void *userdata, void *tag, uint32_t conn_id, const uint8_t *header,
				size_t header_len, const void *body, size_t len);
};

struct transport_config {
	size_t max_message_size;   /* the largest frame read or written */
	int reply_timeout_ms;      /* how long a reply may wait for the client */
	int handshake_timeout_ms;  /* from accept to a completed SP handshake */
	int frame_timeout_ms;      /* from a request frame's first bytes to its last */
	unsigned max_connections;  /* connections at once, handshaking ones included */
	unsigned ipc_mode;         /* permissions of ipc socket files */
	bool ipc_chown;            /* give ipc socket files to ipc_uid:ipc_gid once created */
	uid_t ipc_uid;
	gid_t ipc_gid;
	const char *tls_cert_key_file; /* PEM: the certificate chain and its key */
	const char *tls_ca_file;       /* PEM: the CA that signs client certificates */
	/* The memory budget (budget.h) that connections charge their large
	 * frames and queued replies to, keyed by uid until
	 * transport_set_identity(); NULL: not counted. The transport listens
	 * to its releases to resume reading. */
	struct budget *budget;
	/* TCP keepalive on tcp:// and tls+tcp:// connections (0: the kernel's settings). */
	int keepalive_idle_s;
	int keepalive_interval_s;
	int keepalive_count;
};

/* Create a transport serving on `reactor`. `config` is copied (its strings
 * must outlive the transport); `callbacks` and `userdata` must outlive it.
 * Returns 0 or -errno. */
int transport_new(struct transport **out, struct reactor *reactor,
		  const struct transport_config *config, const struct transport_callbacks *callbacks,
		  void *userdata);

/* Open a listener on `url` (ipc://PATH, abstract://NAME, tcp://HOST:PORT,
 * tls+tcp://HOST:PORT). It accepts nothing before transport_start(). On
 * failure `err` says why. Returns 0 or -errno. */
int transport_listen(struct transport *transport, const char *url, char *err, size_t errlen);

/* Serve on `fd`, a listening stream socket handed over by the service
 * manager (socket activation): a unix socket by path or abstract name, or a
 * TCP socket, which is tls+tcp:// when `name` is "tls". The transport owns
 * `fd` from now on, even on failure; its socket file is the service
 * manager's and is left in place. On success *url (static storage of the
 * listener, valid until transport_free()) says what it is. Returns 0 or
 * -errno with `err` saying why. */
int transport_adopt(struct transport *transport, int fd, const char *name, const char **url,
		    char *err, size_t errlen);

/* Whether a tls+tcp:// listener could use these files: each can be opened, the first holds
 * a certificate chain and its private key, the second CA certificates, all PEM (for
 * --check-config). Returns 0, or -errno with `err` naming the key, the file and what is
 * wrong. */
int transport_check_tls_files(const char *cert_key_file, const char *ca_file, char *err,
			      size_t errlen);

/* Watch the listeners: connections are accepted from now on. Returns 0 or
 * -errno. */
int transport_start(struct transport *transport);

/* Write out what the connections still have queued, waiting for at most
 * `timeout_ms` in all; says in the log when some was left. The daemon calls
 * it when it stops, after answering every waiting operation, so that those
 * answers reach their clients. Reactor thread, while the reactor is not
 * running. */
void transport_flush(struct transport *transport, int timeout_ms);

/* Close the listeners (removing ipc socket files) and every connection.
 * Requests received but not answered may still be answered: the reply is
 * dropped. */
void transport_stop(struct transport *transport);

/* Free a stopped transport whose connections' removal has run (the
 * reactor drained). Every tx must have been answered. NULL is a no-op. */
void transport_free(struct transport *transport);

/* A reply buffer of `len` bytes for `tx`, to fill before
 * transport_reply_send(). NULL on allocation failure (then answer with a
 * smaller reply). Calling it again replaces the buffer. */
void *transport_reply_buffer(struct tx *tx, size_t len);

/* Whether descriptors can travel on the connection of `tx` (ipc:// and
 * abstract://). */
bool transport_tx_can_pass_fds(const struct tx *tx);

/* Attach `fd` to the reply of `tx`: it goes with SCM_RIGHTS on the first
 * byte of the reply's frame. The transport owns `fd` from this call on (it
 * closes its copy once sent, or when the connection ends first). At most one
 * per reply; only where transport_tx_can_pass_fds(). */
void transport_reply_attach_fd(struct tx *tx, int fd);

/* Queue the reply buffer (an empty reply if none was made) and write what
 * the socket takes now. `tx` is freed. */
void transport_reply_send(struct tx *tx);

/* The connection a request came from. */
uint32_t transport_tx_pipe(const struct tx *tx);

/* Give connection `conn_id` a tag for callbacks->reply_route (NULL: none). It stays with
 * the connection after it closes, for the replies still to come. Unknown ids are
 * ignored. */
void transport_set_tag(struct transport *transport, uint32_t conn_id, void *tag);

/* Close one client connection (a misbehaving client); its removal runs at
 * the end of the turn. Unknown ids are ignored. */
void transport_disconnect(struct transport *transport, uint32_t conn_id);

/* The identity of a connection is known (after Hello, its token if any):
 * its memory is counted under `key` (budget_key()) from now on, and its
 * reading pauses while that identity is over its memory bound (before,
 * only a large frame that does not fit waits). Unknown ids are ignored. */
void transport_set_identity(struct transport *transport, uint32_t conn_id, const char *key);

/* How many connections are open, handshaking ones included. */
unsigned transport_connection_count(const struct transport *transport);

#endif
