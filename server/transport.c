#include "transport.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "budget.h"
#include "container.h"
#include "idmap.h"
#include "list.h"
#include "log.h"
#include "reactor.h"

/* The SP handshake: 00 'S' 'P' 00, the protocol (u16be), two reserved zero bytes. */
#define SP_HANDSHAKE_LEN 8
#define SP_PROTO_REQ0 0x30
#define SP_PROTO_REP0 0x31
/* An ipc frame starts with this message type byte, then a u64be length. */
#define SP_IPC_MSG 0x01
/* A request may carry a backtrace of hops (devices) before its request id;
 * the id is the first word with the high bit set. */
#define SP_MAX_HOPS 8
#define SP_ID_BIT 0x80000000u
/* Room in front of every reply for its frame header and SP header. */
#define FRAME_ROOM (9 + SP_MAX_HOPS * 4)
/* What one read() takes for small frames; larger bodies get a buffer of their own. */
#define INPUT_BUFFER 8192
#define LISTEN_BACKLOG 4096
/* At most one "too many connections" or EMFILE line this often. */
#define REFUSAL_LOG_INTERVAL_NS (5ULL * 1000 * 1000 * 1000)
/* Connections accepted per listener per loop turn. */
#define ACCEPTS_PER_TURN 64
/* How long a listener rests when no descriptor is left to accept with. */
#define LISTENER_BACKOFF_NS (100ULL * 1000 * 1000)

enum listener_kind {
	KIND_IPC,
	KIND_ABSTRACT,
	KIND_TCP,
	KIND_TLS,
};

struct listener {
	struct reactor_source source;
	struct transport *transport;
	enum listener_kind kind;
	char *url;
	char *socket_path; /* ipc: the file to remove when the listener closes */
	struct reactor_timer backoff; /* armed while out of descriptors */
	bool watched;                 /* added to the reactor by transport_start() */
};

enum conn_state {
	CONN_TLS_HANDSHAKE, /* tls+tcp: before the TLS handshake completes */
	CONN_SP_HANDSHAKE,  /* waiting for the peer's SP handshake */
	CONN_OPEN,          /* announced; frames flow */
	CONN_CLOSED,        /* fd closed, removal pending or done */
};

/* One queued reply: its frame, whole, and how much of it went out. */
struct outbuf {
	struct outbuf *next;
	uint64_t queued_ns;
	size_t len;  /* bytes of data[] to send, from `start` */
	size_t sent; /* of len */
	size_t start;
	int fd;      /* goes with the first byte (SCM_RIGHTS); -1: none */
	size_t charged; /* to the connection's memory budget */
	uint8_t data[];
};

struct tx {
	struct conn *conn; /* holds a reference */
	struct outbuf *reply;
	int fd; /* attached to the reply; -1: none */
	size_t body_len;
	size_t header_len;
	uint8_t header[SP_MAX_HOPS * 4];
};

struct conn {
	struct reactor_source source;
	struct transport *transport;
	uint32_t id;
	enum listener_kind kind;
	enum conn_state state;
	unsigned refs; /* one while open, one per unanswered tx */
	bool announced;
	bool paused;   /* over the output bound: requests are not read */
	bool pumping;  /* inside pump_input(): do not re-enter it */
	bool hung_up;  /* the peer closed or failed: read until the end */
	SSL *ssl;
	struct peer_identity identity;
	void *tag; /* transport_set_tag() */

	/* Before CONN_OPEN: the handshake deadline; after: the age of the
	 * oldest unsent reply. */
	struct reactor_timer timer;
	/* A request frame begun and not whole yet: since when (0: none), and
	 * the deadline by which it must be. */
	uint64_t partial_since_ns;
	struct reactor_timer frame_timer;
	struct reactor_task removed_task;

	uint8_t handshake_out[SP_HANDSHAKE_LEN];
	size_t handshake_sent;

	/* A frame too large for `input` is read into a buffer of its own. */
	uint8_t *body;
	size_t body_len, body_have;

	struct outbuf *out_head, *out_tail;
	size_t out_bytes;

	/* The memory budget (budget.h): what this connection holds (a large
	 * frame's buffer, queued replies), charged to its identity. */
	struct budget_share budget;
	bool budget_paused; /* a frame did not fit: not read until memory is given back */
	struct list budget_link; /* transport::budget_waiters while budget_paused */
	bool identity_known; /* transport_set_identity() ran (after Hello) */

	struct list link; /* transport::conns */

	size_t in_start, in_end; /* unparsed bytes of input[] */
	uint8_t input[INPUT_BUFFER];
};

struct transport {
	struct reactor *reactor;
	struct transport_config config;
	const struct transport_callbacks *callbacks;
	void *userdata;
	SSL_CTX *tls;

	struct listener **listeners;
	size_t n_listeners;

	struct list conns; /* conn::link */
	struct idmap by_id;
	unsigned n_conns;
	uint32_t last_id;

	/* Held open so that accept() under EMFILE can take a connection off
	 * the queue (and close it) instead of spinning on it. */
	int reserve_fd;
	uint64_t last_refusal_log_ns;
	bool flushing; /* stopping: replies go out, no request is read */
	struct reactor_task budget_task; /* resumes budget_paused connections */
	struct list budget_waiters;      /* conn::budget_link */
	bool budget_task_pending;
	bool stopped;
};

static void conn_close(struct conn *conn, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void pump_input(struct conn *conn);
static void flush_output(struct conn *conn);
static void send_handshake(struct conn *conn);

static inline void
put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static inline uint64_t
get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static inline uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static size_t
frame_header_len(enum listener_kind kind)
{
	return kind == KIND_IPC || kind == KIND_ABSTRACT ? 9 : 8;
}

static const char *
tls_error_string(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();
	if (!e)
		return "no further detail";
	ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* ---- connection I/O: plain sockets or TLS ------------------------------- */

/* The outcome of an SSL_read/SSL_write that returned `n`: the count, -EAGAIN
 * when it must be tried again on the next readiness, or -errno; `eof` is what
 * an orderly end means for this direction. */
static ssize_t
ssl_result(struct conn *conn, int n, ssize_t eof)
{
	if (n > 0)
		return n;
	int saved_errno = errno;
	int e = SSL_get_error(conn->ssl, n);
	/* OpenSSL's error queue is per thread: another connection's failure
	 * must not be read as this one's. */
	ERR_clear_error();
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return eof;
	case SSL_ERROR_SYSCALL:
		return saved_errno ? -saved_errno : eof;
	default:
		return -EPROTO;
	}
}

/* Read up to `len` bytes. Returns the count, 0 at end of stream, -EAGAIN when
 * nothing is there yet, or another -errno. */
static ssize_t
conn_read(struct conn *conn, void *buf, size_t len)
{
	if (!conn->ssl) {
		ssize_t n = recv(conn->source.fd, buf, len, 0);
		if (n < 0)
			return errno == EINTR ? -EAGAIN : -errno;
		return n;
	}
	ERR_clear_error();
	errno = 0;
	return ssl_result(conn, SSL_read(conn->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len),
			  0);
}

/* Write up to `len` bytes. Returns the count, -EAGAIN, or another -errno. */
static ssize_t
conn_write(struct conn *conn, const void *buf, size_t len)
{
	if (!conn->ssl) {
		ssize_t n = send(conn->source.fd, buf, len, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EINTR ? -EAGAIN : -errno;
		return n;
	}
	ERR_clear_error();
	errno = 0;
	return ssl_result(conn,
			  SSL_write(conn->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len),
			  -EPIPE);
}

/* ---- connection lifetime ------------------------------------------------ */

/* ---- memory budget ------------------------------------------------------ */

static void
body_free(struct conn *conn)
{
	if (!conn->body)
		return;
	free(conn->body);
	conn->body = NULL;
	budget_share_release(&conn->budget, conn->body_len);
}

static void
outbuf_free(struct conn *conn, struct outbuf *buf)
{
	budget_share_release(&conn->budget, buf->charged);
	free(buf);
}

/* Stop reading `conn` until memory is given back. */
static void
budget_pause(struct conn *conn)
{
	if (!conn->budget_paused) {
		conn->budget_paused = true;
		list_append(&conn->transport->budget_waiters, &conn->budget_link);
	}
	budget_wait(conn->budget.account->budget);
}

/* A frame of `len` bytes begins: its buffer is charged, or, when it does not
 * fit, the connection stops reading until memory is given back (the frame's
 * deadline still runs). */
static bool
budget_admit_frame(struct conn *conn, uint64_t len)
{
	const char *limit = budget_share_try(&conn->budget, len);
	if (!limit)
		return true;
	if (!conn->budget_paused)
		log_debug("connection %u (%s): a request of %llu bytes would pass %s; not "
			  "reading it until memory is given back", conn->id, conn->identity.peer,
			  (unsigned long long)len, limit);
	budget_pause(conn);
	return false;
}

static void
budget_resume(struct reactor_task *task)
{
	struct transport *transport = container_of(task, struct transport, budget_task);
	transport->budget_task_pending = false;
	/* Each waiter is tried once: one that pauses again goes back on the
	 * transport's list, and one closed meanwhile has left this one. */
	struct list waiting, *first;
	list_init(&waiting);
	while ((first = list_first(&transport->budget_waiters))) {
		list_remove(first);
		list_append(&waiting, first);
	}
	while ((first = list_first(&waiting))) {
		struct conn *conn = list_entry(first, struct conn, budget_link);
		list_remove(first);
		conn->budget_paused = false;
		pump_input(conn);
	}
}

static void
budget_released(void *userdata)
{
	struct transport *transport = userdata;
	if (transport->budget_task_pending || transport->stopped)
		return;
	transport->budget_task_pending = true;
	reactor_defer(transport->reactor, &transport->budget_task);
}

static void
conn_unref(struct conn *conn)
{
	if (--conn->refs > 0)
		return;
	body_free(conn);
	budget_share_close(&conn->budget);
	free(conn);
}

static void
free_output(struct conn *conn)
{
	struct outbuf *buf = conn->out_head;
	while (buf) {
		struct outbuf *next = buf->next;
		if (buf->fd >= 0)
			close(buf->fd);
		outbuf_free(conn, buf);
		buf = next;
	}
	conn->out_head = conn->out_tail = NULL;
	conn->out_bytes = 0;
}

static void
run_removed(struct reactor_task *task)
{
	struct conn *conn = container_of(task, struct conn, removed_task);
	struct transport *transport = conn->transport;
	if (conn->announced)
		transport->callbacks->connection_removed(transport->userdata, conn->id);
	conn_unref(conn);
}

/* End the connection now: its fd closes at once, its removal runs at the end
 * of the turn. The log line says why, at `level`. */
static void
conn_close(struct conn *conn, enum log_level level, const char *fmt, ...)
{
	struct transport *transport = conn->transport;
	if (conn->state == CONN_CLOSED)
		return;
	if (log_enabled(level)) {
		char why[256];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
		log_msg(level, "connection %u (%s): %s", conn->id, conn->identity.peer, why);
	}
	conn->state = CONN_CLOSED;
	reactor_timer_cancel(transport->reactor, &conn->timer);
	reactor_timer_cancel(transport->reactor, &conn->frame_timer);
	reactor_del_fd(transport->reactor, &conn->source);
	if (conn->ssl) {
		SSL_free(conn->ssl);
		conn->ssl = NULL;
	}
	close(conn->source.fd);
	conn->source.fd = -1;
	free_output(conn);
	body_free(conn);
	if (conn->budget_paused) {
		list_remove(&conn->budget_link);
		conn->budget_paused = false;
	}
	list_remove(&conn->link);
	idmap_remove(&transport->by_id, conn->id);
	transport->n_conns--;
	if (transport->stopped) {
		/* No loop turn is coming: nothing is told, the sessions are gone. */
		conn->announced = false;
		run_removed(&conn->removed_task);
		return;
	}
	reactor_defer(transport->reactor, &conn->removed_task);
}

static void
conn_timer_expired(struct reactor_timer *timer)
{
	struct conn *conn = container_of(timer, struct conn, timer);
	struct transport *transport = conn->transport;

	if (conn->state != CONN_OPEN) {
		conn_close(conn, LOG_LEVEL_DEBUG, "no %s handshake within %d ms; closed",
			   conn->state == CONN_TLS_HANDSHAKE ? "TLS" : "SP",
			   transport->config.handshake_timeout_ms);
		return;
	}
	if (!conn->out_head)
		return;
	uint64_t deadline = conn->out_head->queued_ns +
			    (uint64_t)transport->config.reply_timeout_ms * 1000000ULL;
	if (deadline > reactor_now_ns()) {
		if (reactor_timer_arm(transport->reactor, &conn->timer, deadline) < 0)
			conn_close(conn, LOG_LEVEL_ERROR, "out of memory for the reply deadline; closed");
		return;
	}
	conn_close(conn, LOG_LEVEL_WARN,
		   "the client did not read its replies within %d ms (%zu bytes waiting); "
		   "closing the connection, which ends its session and closes its sockets",
		   transport->config.reply_timeout_ms, conn->out_bytes);
}

/* Start the deadline of a request frame that began now. */
static void
arm_frame_deadline(struct conn *conn)
{
	struct transport *transport = conn->transport;

	conn->partial_since_ns = reactor_now_ns();
	if (reactor_timer_arm(transport->reactor, &conn->frame_timer,
			      conn->partial_since_ns +
				      (uint64_t)transport->config.frame_timeout_ms * 1000000ULL) < 0)
		conn_close(conn, LOG_LEVEL_ERROR, "out of memory for a frame deadline; closed");
}

static void
frame_timer_expired(struct reactor_timer *timer)
{
	struct conn *conn = container_of(timer, struct conn, frame_timer);
	struct transport *transport = conn->transport;

	if (conn->state == CONN_CLOSED || !conn->partial_since_ns)
		return;
	/* Not the client's delay while its replies hold the reading back. */
	if (conn->paused) {
		arm_frame_deadline(conn);
		return;
	}
	if (conn->budget_paused) {
		const char *limit = budget_share_over(&conn->budget);
		conn_close(conn, LOG_LEVEL_WARN,
			   "a request waited %d ms (limits.frame_timeout_ms) for memory: its "
			   "identity holds %llu bytes (%s is %llu); closing the connection, which "
			   "ends its session", transport->config.frame_timeout_ms,
			   (unsigned long long)(conn->budget.account ? conn->budget.account->used : 0),
			   limit ? limit : BUDGET_LIMIT_IDENTITY,
			   (unsigned long long)budget_share_limit(
				   &conn->budget, limit ? limit : BUDGET_LIMIT_IDENTITY));
		return;
	}
	conn_close(conn, LOG_LEVEL_WARN,
		   "a request stayed incomplete for %d ms (limits.frame_timeout_ms; %zu bytes of "
		   "it held); closing the connection, which ends its session",
		   transport->config.frame_timeout_ms,
		   conn->body ? conn->body_have : conn->in_end - conn->in_start);
}

/* After reading: a frame left incomplete starts (or keeps) its deadline; none
 * left, none kept. */
static void
watch_partial_frame(struct conn *conn)
{
	struct transport *transport = conn->transport;
	bool partial = conn->state == CONN_OPEN &&
		       (conn->body != NULL || conn->in_end > conn->in_start);

	if (!partial) {
		conn->partial_since_ns = 0;
		reactor_timer_cancel(transport->reactor, &conn->frame_timer);
		return;
	}
	if (!conn->partial_since_ns)
		arm_frame_deadline(conn);
}

/* ---- output ------------------------------------------------------------- */

/* Send the rest of `buf` with its descriptor attached to the first byte; once
 * any byte went, the descriptor went with it and our copy is closed. */
static ssize_t
send_with_fd(struct conn *conn, struct outbuf *buf)
{
	struct iovec iov = { .iov_base = buf->data + buf->start + buf->sent,
			     .iov_len = buf->len - buf->sent };
	union {
		char space[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	memset(&control, 0, sizeof(control));
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.space,
			      .msg_controllen = sizeof(control.space) };
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &buf->fd, sizeof(int));
	ssize_t n = sendmsg(conn->source.fd, &msg, MSG_NOSIGNAL);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? -EAGAIN : -errno;
	close(buf->fd);
	buf->fd = -1;
	return n;
}

/* Write what the socket takes; keep the age deadline on the oldest reply
 * left, and resume reading once the queue is back under its bound. */
static void
flush_output(struct conn *conn)
{
	struct transport *transport = conn->transport;

	/* Our handshake goes first, whole. */
	if (conn->handshake_sent < SP_HANDSHAKE_LEN) {
		send_handshake(conn);
		if (conn->handshake_sent < SP_HANDSHAKE_LEN)
			return;
	}
	while (conn->out_head && conn->state != CONN_CLOSED) {
		struct outbuf *buf = conn->out_head;
		ssize_t n = buf->fd >= 0 ? send_with_fd(conn, buf)
					 : conn_write(conn, buf->data + buf->start + buf->sent,
						      buf->len - buf->sent);
		if (n == -EAGAIN)
			break;
		if (n < 0) {
			conn_close(conn, LOG_LEVEL_DEBUG, "writing a reply failed: %s; closed",
				   strerror((int)-n));
			return;
		}
		buf->sent += (size_t)n;
		conn->out_bytes -= (size_t)n;
		if (buf->sent < buf->len)
			continue;
		conn->out_head = buf->next;
		if (!conn->out_head)
			conn->out_tail = NULL;
		outbuf_free(conn, buf);
	}
	if (conn->state == CONN_CLOSED)
		return;
	if (conn->out_head && !reactor_timer_armed(&conn->timer)) {
		uint64_t deadline = conn->out_head->queued_ns +
				    (uint64_t)transport->config.reply_timeout_ms * 1000000ULL;
		if (reactor_timer_arm(transport->reactor, &conn->timer, deadline) < 0) {
			conn_close(conn, LOG_LEVEL_ERROR, "out of memory for the reply deadline; closed");
			return;
		}
	}
	if (!conn->out_head)
		reactor_timer_cancel(transport->reactor, &conn->timer);
	if (conn->paused && conn->out_bytes <= transport->config.max_message_size / 2) {
		conn->paused = false;
		pump_input(conn);
	}
}

static void
queue_output(struct conn *conn, struct outbuf *buf)
{
	buf->next = NULL;
	buf->queued_ns = reactor_now_ns();
	if (conn->out_tail)
		conn->out_tail->next = buf;
	else
		conn->out_head = buf;
	conn->out_tail = buf;
	conn->out_bytes += buf->len;
	if (conn->out_bytes > conn->transport->config.max_message_size)
		conn->paused = true;
	if (conn->out_head == buf)
		flush_output(conn);
}

/* ---- input -------------------------------------------------------------- */

static void
deliver(struct conn *conn, const uint8_t *frame, size_t len)
{
	struct transport *transport = conn->transport;
	size_t header_len = 0;

	for (;;) {
		if (header_len + 4 > len || header_len == SP_MAX_HOPS * 4) {
			conn_close(conn, LOG_LEVEL_INFO, "a request without a valid request id; closed "
				   "(the client does not speak SP req0)");
			return;
		}
		uint32_t word = get_be32(frame + header_len);
		header_len += 4;
		if (word & SP_ID_BIT)
			break;
	}
	struct tx *tx = malloc(sizeof(*tx));
	if (!tx) {
		conn_close(conn, LOG_LEVEL_ERROR, "out of memory for a request; closed");
		return;
	}
	tx->conn = conn;
	conn->refs++;
	tx->reply = NULL;
	tx->fd = -1;
	tx->body_len = 0;
	tx->header_len = header_len;
	memcpy(tx->header, frame, header_len);
	/* A whole frame: what follows it, if anything, is a new one. */
	conn->partial_since_ns = 0;
	reactor_timer_cancel(transport->reactor, &conn->frame_timer);
	transport->callbacks->request(transport->userdata, tx, conn->id, frame + header_len,
				      len - header_len);
}

static bool
handshake_received(struct conn *conn, const uint8_t *peer)
{
	uint16_t proto = (uint16_t)(peer[4] << 8 | peer[5]);
	if (peer[0] != 0 || peer[1] != 'S' || peer[2] != 'P' || peer[3] != 0 || peer[6] ||
	    peer[7]) {
		conn_close(conn, LOG_LEVEL_INFO, "not an SP handshake; closed (clients speak NNG's SP "
			   "req0 protocol: libsockbroker, the Python or Node client, or any "
			   "req0 socket)");
		return false;
	}
	if (proto != SP_PROTO_REQ0) {
		conn_close(conn, LOG_LEVEL_INFO, "the peer speaks SP protocol 0x%x, not req0 (0x30); "
			   "closed", proto);
		return false;
	}
	conn->state = CONN_OPEN;
	reactor_timer_cancel(conn->transport->reactor, &conn->timer);
	conn->announced = true;
	conn->transport->callbacks->connection_added(conn->transport->userdata, conn->id,
						     &conn->identity);
	return conn->state == CONN_OPEN;
}

/* Parse the frames in input[]; returns false when the connection closed or
 * must stop reading for now. */
static bool
parse_input(struct conn *conn)
{
	struct transport *transport = conn->transport;
	size_t hlen = frame_header_len(conn->kind);

	while (conn->state != CONN_CLOSED && !conn->paused) {
		size_t avail = conn->in_end - conn->in_start;
		const uint8_t *p = conn->input + conn->in_start;

		if (conn->state == CONN_SP_HANDSHAKE) {
			if (avail < SP_HANDSHAKE_LEN)
				break;
			conn->in_start += SP_HANDSHAKE_LEN;
			if (!handshake_received(conn, p))
				return false;
			continue;
		}
		if (avail < hlen)
			break;
		if (conn->identity_known && budget_share_over(&conn->budget)) {
			/* Its identity holds all it may: nothing more is read. Not
			 * before Hello, which may name another identity (a token)
			 * than the uid counted until then. */
			budget_pause(conn);
			break;
		}
		if (hlen == 9 && p[0] != SP_IPC_MSG) {
			conn_close(conn, LOG_LEVEL_INFO, "a frame of unknown type %u; closed", p[0]);
			return false;
		}
		uint64_t len = get_be64(p + hlen - 8);
		if (len > transport->config.max_message_size) {
			conn_close(conn, LOG_LEVEL_INFO,
				   "a request of %llu bytes, over limits.max_message_size (%zu); "
				   "closed", (unsigned long long)len,
				   transport->config.max_message_size);
			return false;
		}
		if (avail - hlen >= len) {
			conn->in_start += hlen + len;
			deliver(conn, p + hlen, len);
			continue;
		}
		/* Incomplete: a small frame waits in input[]; a large one gets a
		 * buffer of its own, filled by the reads that follow. */
		if (hlen + len <= sizeof(conn->input))
			break;
		if (!budget_admit_frame(conn, len))
			return false;
		if (!(conn->body = malloc(len))) {
			budget_share_release(&conn->budget, len);
			conn_close(conn, LOG_LEVEL_ERROR, "out of memory for a request of %llu bytes; "
				   "closed", (unsigned long long)len);
			return false;
		}
		conn->body_len = len;
		conn->body_have = avail - hlen;
		memcpy(conn->body, p + hlen, conn->body_have);
		conn->in_start = conn->in_end = 0;
		return true;
	}
	if (conn->in_start == conn->in_end)
		conn->in_start = conn->in_end = 0;
	return conn->state != CONN_CLOSED && !conn->paused;
}

/* Read and hand on requests until the socket is empty, the connection
 * closes, or its output is over the bound. */
static void
pump_input(struct conn *conn)
{
	if (conn->pumping || conn->state == CONN_CLOSED || conn->state == CONN_TLS_HANDSHAKE ||
	    conn->transport->flushing)
		return;
	conn->pumping = true;
	conn->refs++;
	/* A plain socket that gave less than asked for is empty for now (the
	 * next arrival raises a new edge); TLS may hold decrypted bytes back. */
	bool drained = false;

	while (parse_input(conn) && !drained) {
		ssize_t n;
		size_t want;
		if (conn->body) {
			want = conn->body_len - conn->body_have;
			n = conn_read(conn, conn->body + conn->body_have, want);
		} else {
			if (conn->in_start > 0) {
				memmove(conn->input, conn->input + conn->in_start,
					conn->in_end - conn->in_start);
				conn->in_end -= conn->in_start;
				conn->in_start = 0;
			}
			want = sizeof(conn->input) - conn->in_end;
			n = conn_read(conn, conn->input + conn->in_end, want);
		}
		if (n == -EAGAIN)
			break;
		if (n == 0) {
			conn_close(conn, LOG_LEVEL_DEBUG, "the client closed the connection");
			break;
		}
		if (n < 0) {
			conn_close(conn, LOG_LEVEL_DEBUG, "reading failed: %s; closed", strerror((int)-n));
			break;
		}
		drained = !conn->ssl && !conn->hung_up && (size_t)n < want;
		if (!conn->body) {
			conn->in_end += (size_t)n;
			continue;
		}
		conn->body_have += (size_t)n;
		if (conn->body_have < conn->body_len)
			continue;
		uint8_t *body = conn->body;
		conn->body = NULL;
		deliver(conn, body, conn->body_len);
		free(body);
		budget_share_release(&conn->budget, conn->body_len);
	}
	if (conn->state != CONN_CLOSED && !conn->paused)
		watch_partial_frame(conn);
	conn->pumping = false;
	conn_unref(conn);
}

static void
send_handshake(struct conn *conn)
{
	while (conn->handshake_sent < SP_HANDSHAKE_LEN && conn->state != CONN_CLOSED) {
		ssize_t n = conn_write(conn, conn->handshake_out + conn->handshake_sent,
				       SP_HANDSHAKE_LEN - conn->handshake_sent);
		if (n == -EAGAIN)
			return;
		if (n < 0) {
			conn_close(conn, LOG_LEVEL_DEBUG, "sending the SP handshake failed: %s; closed",
				   strerror((int)-n));
			return;
		}
		conn->handshake_sent += (size_t)n;
	}
}

static void
tls_handshake(struct conn *conn)
{
	ERR_clear_error();
	int r = SSL_do_handshake(conn->ssl);
	if (r == 1) {
		X509 *cert = SSL_get_peer_certificate(conn->ssl);
		unsigned digest_len = 0;
		conn->identity.tls_verified = cert && SSL_get_verify_result(conn->ssl) == X509_V_OK &&
					      X509_digest(cert, EVP_sha256(),
							  conn->identity.cert_sha256, &digest_len) &&
					      digest_len == sizeof(conn->identity.cert_sha256);
		X509_free(cert);
		conn->state = CONN_SP_HANDSHAKE;
		send_handshake(conn);
		return;
	}
	int e = SSL_get_error(conn->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return;
	char buf[256], reason[320];
	long verify = SSL_get_verify_result(conn->ssl);
	if (verify != X509_V_OK)
		snprintf(reason, sizeof(reason), "the client certificate was refused: %s",
			 X509_verify_cert_error_string(verify));
	else if (e == SSL_ERROR_SYSCALL)
		snprintf(reason, sizeof(reason), "the client went away");
	else
		snprintf(reason, sizeof(reason), "%s", tls_error_string(buf, sizeof(buf)));
	ERR_clear_error();
	/* A client that presented nothing gets OpenSSL's "peer did not return a
	 * certificate": say what to do about it. */
	if (strstr(reason, "did not return a certificate") || strstr(reason, "certificate required"))
		snprintf(reason + strlen(reason), sizeof(reason) - strlen(reason),
			 " (the client sent no certificate: give it one signed by tls.ca_file)");
	/* Told before the close: the identity goes with the connection. */
	if (conn->transport->callbacks->handshake_refused)
		conn->transport->callbacks->handshake_refused(conn->transport->userdata,
							      &conn->identity, reason);
	conn_close(conn, LOG_LEVEL_INFO, "TLS handshake failed: %s", reason);
}

static void
conn_ready(struct reactor_source *source, uint32_t events)
{
	struct conn *conn = (struct conn *)(void *)source;
	if (conn->state == CONN_CLOSED)
		return;
	conn->refs++;
	/* The end of the stream may come in the same edge as the last data. */
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		conn->hung_up = true;
	if (conn->state == CONN_TLS_HANDSHAKE)
		tls_handshake(conn);
	if (conn->handshake_sent < SP_HANDSHAKE_LEN && conn->state == CONN_SP_HANDSHAKE)
		send_handshake(conn);
	/* TLS may need to write to read and read to write: try both. */
	if (conn->out_head && (conn->ssl || (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))))
		flush_output(conn);
	if (conn->ssl || (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)))
		pump_input(conn);
	conn_unref(conn);
}

/* ---- accept ------------------------------------------------------------- */

static void
describe_peer(struct conn *conn, const struct sockaddr_storage *ss)
{
	struct peer_identity *id = &conn->identity;
	char host[INET6_ADDRSTRLEN] = "?";

	switch (conn->kind) {
	case KIND_IPC:
		id->transport = POLICY_TRANSPORT_IPC;
		snprintf(id->peer, sizeof(id->peer), "ipc");
		break;
	case KIND_ABSTRACT:
		id->transport = POLICY_TRANSPORT_ABSTRACT;
		snprintf(id->peer, sizeof(id->peer), "abstract");
		break;
	case KIND_TCP:
	case KIND_TLS:
		id->transport = conn->kind == KIND_TLS ? POLICY_TRANSPORT_TLS : POLICY_TRANSPORT_TCP;
		if (ss->ss_family == AF_INET) {
			const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
			inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
			snprintf(id->peer, sizeof(id->peer), "tcp %s:%u", host,
				 ntohs(sin->sin_port));
		} else {
			const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
			inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
			snprintf(id->peer, sizeof(id->peer), "tcp [%s]:%u", host,
				 ntohs(sin6->sin6_port));
		}
		break;
	}
	if (conn->kind == KIND_IPC || conn->kind == KIND_ABSTRACT) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		if (getsockopt(conn->source.fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
			id->has_credentials = true;
			id->uid = cred.uid;
			id->gid = cred.gid;
			id->pid = cred.pid;
		}
	}
}

/* Dead-peer detection: a client whose host vanished (link down, crash, a NAT
 * that forgot the flow) sends nothing more, so only probes notice it. The
 * kernel ends the connection after keepalive_count unanswered probes, and
 * the reactor sees the error like any other. */
static void
set_keepalive(struct conn *conn)
{
	const struct transport_config *c = &conn->transport->config;
	int fd = conn->source.fd, one = 1;

	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0 ||
	    (c->keepalive_idle_s > 0 && setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE,
						   &c->keepalive_idle_s, sizeof(int)) < 0) ||
	    (c->keepalive_interval_s > 0 &&
	     setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &c->keepalive_interval_s, sizeof(int)) <
		     0) ||
	    (c->keepalive_count > 0 &&
	     setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &c->keepalive_count, sizeof(int)) < 0))
		log_warn("connection %u (%s): cannot set TCP keepalive: %s; a vanished client "
			 "may go unnoticed", conn->id, conn->identity.peer, strerror(errno));
}

static bool
refusal_log_due(struct transport *transport)
{
	uint64_t now = reactor_now_ns();
	if (transport->last_refusal_log_ns &&
	    now - transport->last_refusal_log_ns < REFUSAL_LOG_INTERVAL_NS)
		return false;
	transport->last_refusal_log_ns = now;
	return true;
}

static uint32_t
next_conn_id(struct transport *transport)
{
	uint32_t id;
	do
		id = ++transport->last_id;
	while (id == 0 || idmap_get(&transport->by_id, id));
	return id;
}

/* A new connection's fields, before it has a budget or is watched. */
static void
conn_init(struct conn *conn, struct listener *listener, int fd,
	  const struct sockaddr_storage *ss)
{
	struct transport *transport = listener->transport;

	conn->source.fd = fd;
	conn->source.ready = conn_ready;
	conn->transport = transport;
	conn->kind = listener->kind;
	conn->refs = 1;
	conn->state = listener->kind == KIND_TLS ? CONN_TLS_HANDSHAKE : CONN_SP_HANDSHAKE;
	conn->id = next_conn_id(transport);
	conn->removed_task.run = run_removed;
	reactor_timer_init(&conn->timer, conn_timer_expired);
	reactor_timer_init(&conn->frame_timer, frame_timer_expired);
	list_init(&conn->link);
	list_init(&conn->budget_link);
	static const uint8_t handshake[SP_HANDSHAKE_LEN] = { 0, 'S', 'P', 0, 0, SP_PROTO_REP0,
							      0, 0 };
	memcpy(conn->handshake_out, handshake, sizeof(handshake));
	describe_peer(conn, ss);
}

/* Charge a new connection to its peer's budget: 0, or -1 (logged) when out of
 * memory or the peer holds all the connections or descriptors it may. */
static int
conn_take_budget(struct listener *listener, struct conn *conn)
{
	struct transport *transport = listener->transport;

	char key[96];
	budget_key(key, sizeof(key), NULL, conn->identity.has_credentials,
		   (unsigned)conn->identity.uid, conn->identity.peer, conn->id);
	if (budget_share_open(&conn->budget, transport->config.budget, key) < 0) {
		log_error("transport: %s: out of memory for a new connection; closed it",
			  listener->url);
		return -1;
	}
	const char *limit = budget_share_take_connection(&conn->budget);
	if (limit) {
		if (refusal_log_due(transport))
			log_warn("transport: %s: refusing connections of %s (%s): it holds %u "
				 "connections and %u descriptors, all that %s allows (this line is "
				 "repeated at most every 5 s)", listener->url, key,
				 conn->identity.peer, conn->budget.account->connections,
				 conn->budget.account->descriptors, limit);
		budget_share_close(&conn->budget);
		return -1;
	}
	return 0;
}

/* Set a new connection's socket up, register it and watch it: 0, or -1 (logged)
 * with nothing of it registered. */
static int
conn_watch(struct listener *listener, struct conn *conn, int fd)
{
	struct transport *transport = listener->transport;

	if (conn->kind == KIND_TCP || conn->kind == KIND_TLS) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		set_keepalive(conn);
	}
	if (conn->kind == KIND_TLS) {
		if (!(conn->ssl = SSL_new(transport->tls)) || !SSL_set_fd(conn->ssl, fd)) {
			log_error("transport: %s: cannot start TLS for a new connection; closed it",
				  listener->url);
			return -1;
		}
		SSL_set_accept_state(conn->ssl);
	}
	if (idmap_put(&transport->by_id, conn->id, conn) < 0) {
		log_error("transport: %s: out of memory for a new connection; closed it",
			  listener->url);
		return -1;
	}
	int r = reactor_timer_arm(transport->reactor, &conn->timer,
				  reactor_now_ns() + (uint64_t)transport->config.handshake_timeout_ms *
							     1000000ULL);
	if (r == 0)
		r = reactor_add_fd(transport->reactor, &conn->source,
				   EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
	if (r < 0) {
		log_error("transport: %s: cannot watch a new connection: %s; closed it",
			  listener->url, strerror(-r));
		reactor_timer_cancel(transport->reactor, &conn->timer);
		idmap_remove(&transport->by_id, conn->id);
		return -1;
	}
	return 0;
}

static void
add_conn(struct listener *listener, int fd, const struct sockaddr_storage *ss)
{
	struct transport *transport = listener->transport;

	if (transport->n_conns >= transport->config.max_connections) {
		if (refusal_log_due(transport))
			log_warn("transport: %s: refusing connections: %u are open, the "
				 "limits.max_sessions; raise it or find the client that holds "
				 "them (this line is repeated at most every 5 s)",
				 listener->url, transport->n_conns);
		close(fd);
		return;
	}
	struct conn *conn = calloc(1, sizeof(*conn));
	if (!conn) {
		log_error("transport: %s: out of memory for a new connection; closed it",
			  listener->url);
		close(fd);
		return;
	}
	conn_init(conn, listener, fd, ss);
	if (conn_take_budget(listener, conn) < 0) {
		close(fd);
		free(conn);
		return;
	}

	if (conn_watch(listener, conn, fd) < 0)
		goto err;
	list_append(&transport->conns, &conn->link);
	transport->n_conns++;
	log_debug("connection %u (%s): accepted on %s", conn->id, conn->identity.peer,
		  listener->url);
	if (conn->kind == KIND_TLS)
		tls_handshake(conn);
	else
		send_handshake(conn);
	return;

err:
	if (conn->ssl)
		SSL_free(conn->ssl);
	close(fd);
	budget_share_close(&conn->budget);
	free(conn);
}

/* Out of descriptors and no reserve left to refuse with: stop watching the
 * listener for a moment instead of waking on it in a loop. */
static void
listener_back_off(struct listener *listener)
{
	struct transport *transport = listener->transport;
	if (reactor_timer_armed(&listener->backoff))
		return;
	if (reactor_timer_arm(transport->reactor, &listener->backoff,
			      reactor_now_ns() + LISTENER_BACKOFF_NS) < 0)
		return;
	reactor_del_fd(transport->reactor, &listener->source);
}

static void
listener_backoff_expired(struct reactor_timer *timer)
{
	struct listener *listener = container_of(timer, struct listener, backoff);
	struct transport *transport = listener->transport;
	if (transport->reserve_fd < 0)
		transport->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (listener->source.fd >= 0 &&
	    reactor_add_fd(transport->reactor, &listener->source, EPOLLIN) < 0)
		listener_back_off(listener);
}

static void
listener_ready(struct reactor_source *source, uint32_t events)
{
	struct listener *listener = (struct listener *)(void *)source;
	struct transport *transport = listener->transport;

	/* Level-triggered and bounded per turn, so that a flood of connections
	 * cannot hold the loop: what is left is seen next turn. */
	for (int i = 0; i < ACCEPTS_PER_TURN; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(source->fd, (struct sockaddr *)&ss, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			add_conn(listener, fd, &ss);
			continue;
		}
		int e = errno;
		if (e == EAGAIN || e == EWOULDBLOCK)
			return;
		if (e == EINTR || e == ECONNABORTED || e == EPROTO)
			continue;
		if (e == EMFILE || e == ENFILE) {
			if (refusal_log_due(transport))
				log_warn("transport: %s: out of file descriptors (%s); refusing new "
					 "connections until some close (this line is repeated at "
					 "most every 5 s)", listener->url, strerror(e));
			/* Take the connection off the queue with the reserve and close
			 * it, rather than leave it there to wake the loop again. */
			if (transport->reserve_fd >= 0) {
				close(transport->reserve_fd);
				fd = accept4(source->fd, NULL, NULL, SOCK_CLOEXEC);
				if (fd >= 0)
					close(fd);
				transport->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				if (fd >= 0)
					continue;
			}
			listener_back_off(listener);
			return;
		}
		log_error("transport: %s: accept failed: %s", listener->url, strerror(e));
		listener_back_off(listener);
		return;
	}
}

/* ---- listeners ---------------------------------------------------------- */

static int
listen_fail(char *err, size_t errlen, const char *url, const char *what, int r)
{
	snprintf(err, errlen, "%s: cannot %s: %s", url, what, strerror(-r));
	return r;
}

/* An ipc:// path that exists: a socket nobody answers on is left over from a
 * daemon that stopped uncleanly and is removed; one that answers is another
 * daemon's. */
static int
clear_stale_socket(const char *url, const struct sockaddr_un *sun, socklen_t len, char *err,
		   size_t errlen)
{
	struct stat st;
	if (lstat(sun->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : listen_fail(err, errlen, url, "look at the path", -errno);
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s: the path exists and is not a socket; remove it or "
			 "choose another path", url);
		return -EEXIST;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return listen_fail(err, errlen, url, "create a socket", -errno);
	int r = connect(fd, (const struct sockaddr *)sun, len);
	int e = errno;
	close(fd);
	if (r == 0) {
		snprintf(err, errlen, "%s: another daemon is listening there already", url);
		return -EADDRINUSE;
	}
	if (e == ECONNREFUSED && unlink(sun->sun_path) < 0 && errno != ENOENT)
		return listen_fail(err, errlen, url, "remove the stale socket file", -errno);
	return 0;
}

static int
unix_address(const char *url, enum listener_kind kind, struct sockaddr_un *sun, socklen_t *len,
	     char *err, size_t errlen)
{
	const char *name = url + (kind == KIND_IPC ? 6 : 11);
	size_t n = strlen(name);
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (n == 0 || n + 1 > sizeof(sun->sun_path)) {
		snprintf(err, errlen, "%s: the %s must be 1 to %zu bytes long", url,
			 kind == KIND_IPC ? "path" : "name", sizeof(sun->sun_path) - 2);
		return -EINVAL;
	}
	if (kind == KIND_IPC) {
		memcpy(sun->sun_path, name, n);
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
		return 0;
	}
	/* As NNG does: the name is URL-encoded (%00 for a NUL byte). */
	size_t out = 1;
	for (size_t i = 0; i < n; i++) {
		if (name[i] == '%' && i + 2 < n && isxdigit((unsigned char)name[i + 1]) &&
		    isxdigit((unsigned char)name[i + 2])) {
			char hex[3] = { name[i + 1], name[i + 2], 0 };
			sun->sun_path[out++] = (char)strtoul(hex, NULL, 16);
			i += 2;
		} else {
			sun->sun_path[out++] = name[i];
		}
	}
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + out);
	return 0;
}

/*
 * An ipc:// socket is bound under a temporary name next to its path, given its
 * mode and owner, made to listen, and only then renamed into place: a client
 * that finds the file finds it ready, and nobody could connect while its
 * permissions were still the umask's.
 */
static int
open_unix_listener(struct transport *transport, struct listener *listener, char *err,
		   size_t errlen)
{
	struct sockaddr_un sun, bound;
	socklen_t len, bound_len;
	int r = unix_address(listener->url, listener->kind, &sun, &len, err, errlen);
	if (r < 0)
		return r;
	bound = sun;
	bound_len = len;
	bool ipc = listener->kind == KIND_IPC;
	if (ipc) {
		if ((r = clear_stale_socket(listener->url, &sun, len, err, errlen)) < 0)
			return r;
		size_t n = strlen(sun.sun_path);
		/* A path too long for the suffix is bound in place. */
		if (n + sizeof(".new") <= sizeof(bound.sun_path)) {
			memcpy(bound.sun_path + n, ".new", sizeof(".new"));
			bound_len = (socklen_t)(len + sizeof(".new") - 1);
			unlink(bound.sun_path);
		}
		if (!(listener->socket_path = strdup(sun.sun_path))) {
			snprintf(err, errlen, "%s: out of memory", listener->url);
			return -ENOMEM;
		}
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return listen_fail(err, errlen, listener->url, "create a socket", -errno);
	mode_t old_mask = ipc ? umask(0777) : 0;
	r = bind(fd, (const struct sockaddr *)&bound, bound_len) < 0 ? -errno : 0;
	if (ipc)
		umask(old_mask);
	if (r < 0) {
		close(fd);
		return listen_fail(err, errlen, listener->url, "bind", r);
	}
	if (ipc) {
		/* Mode before owner: once given away, changing the mode needs CAP_FOWNER. */
		if (chmod(bound.sun_path, transport->config.ipc_mode) < 0) {
			r = listen_fail(err, errlen, listener->url,
					"set the socket file's permissions", -errno);
			goto err_file;
		}
		if (transport->config.ipc_chown &&
		    lchown(bound.sun_path, transport->config.ipc_uid, transport->config.ipc_gid) < 0) {
			r = -errno;
			snprintf(err, errlen, "%s: cannot give the socket file to uid %lu, gid %lu "
				 "(ipc.owner, ipc.group): %s", listener->url,
				 (unsigned long)transport->config.ipc_uid,
				 (unsigned long)transport->config.ipc_gid, strerror(-r));
			goto err_file;
		}
	}
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		r = listen_fail(err, errlen, listener->url, "listen", -errno);
		goto err_file;
	}
	if (ipc && strcmp(bound.sun_path, sun.sun_path) != 0 &&
	    rename(bound.sun_path, sun.sun_path) < 0) {
		r = listen_fail(err, errlen, listener->url, "move the socket file into place", -errno);
		goto err_file;
	}
	listener->source.fd = fd;
	return 0;

err_file:
	close(fd);
	if (ipc)
		unlink(bound.sun_path);
	return r;
}

static int
open_tcp_listener(struct listener *listener, char *err, size_t errlen)
{
	const char *rest = strstr(listener->url, "://") + 3;
	char host[256];
	const char *colon = strrchr(rest, ':');
	if (!colon || colon == rest + strlen(rest) - 1 || (size_t)(colon - rest) >= sizeof(host)) {
		snprintf(err, errlen, "%s: expected HOST:PORT (tcp://127.0.0.1:7070, "
			 "tcp://[::1]:7070)", listener->url);
		return -EINVAL;
	}
	memcpy(host, rest, (size_t)(colon - rest));
	host[colon - rest] = '\0';
	const char *node = host;
	size_t hlen = strlen(host);
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host[hlen - 1] = '\0';
		node = host + 1;
	}
	if (node[0] == '\0' || strcmp(node, "*") == 0)
		node = NULL;

	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *ai;
	int gai = getaddrinfo(node, colon + 1, &hints, &ai);
	if (gai != 0) {
		snprintf(err, errlen, "%s: cannot resolve the address: %s", listener->url,
			 gai_strerror(gai));
		return -EINVAL;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int r = 0;
	if (fd < 0) {
		r = listen_fail(err, errlen, listener->url, "create a socket", -errno);
		goto out;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		r = listen_fail(err, errlen, listener->url, "bind", -errno);
	else if (listen(fd, LISTEN_BACKLOG) < 0)
		r = listen_fail(err, errlen, listener->url, "listen", -errno);
	if (r < 0)
		close(fd);
	else
		listener->source.fd = fd;
out:
	freeaddrinfo(ai);
	return r;
}

/* Load the server's certificate chain and key and the client CA into `ctx`: what a tls+tcp://
 * listener and --check-config both do. A file that cannot be opened is named with errno's
 * words; one OpenSSL cannot use, with OpenSSL's. Returns 0 or -EINVAL. */
static int
tls_load_files(SSL_CTX *ctx, const char *cert_key_file, const char *ca_file, char *err,
	       size_t errlen)
{
	char buf[256];
	const char *files[] = { cert_key_file, ca_file };
	const char *keys[] = { "tls.cert_key_file", "tls.ca_file" };

	for (int i = 0; i < 2; i++) {
		int fd = open(files[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			snprintf(err, errlen, "%s: cannot open %s: %s", keys[i], files[i],
				 strerror(errno));
			return -EINVAL;
		}
		close(fd);
	}
	const char *what = "no certificate chain (PEM) in";
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_key_file) != 1)
		goto fail;
	what = "no private key (PEM) matching its certificate in";
	if (SSL_CTX_use_PrivateKey_file(ctx, cert_key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		snprintf(err, errlen, "tls.ca_file: no CA certificate (PEM) in %s: %s", ca_file,
			 tls_error_string(buf, sizeof(buf)));
		return -EINVAL;
	}
	return 0;
fail:
	snprintf(err, errlen, "tls.cert_key_file: %s %s: %s", what, cert_key_file,
		 tls_error_string(buf, sizeof(buf)));
	return -EINVAL;
}

static int
tls_setup(struct transport *transport, const char *url, char *err, size_t errlen)
{
	char buf[256];
	const struct transport_config *config = &transport->config;

	if (transport->tls)
		return 0;
	if (!config->tls_cert_key_file || !config->tls_ca_file) {
		snprintf(err, errlen, "%s: a TLS listener needs tls.cert_key_file and tls.ca_file "
			 "(client certificates are required)", url);
		return -EINVAL;
	}
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		snprintf(err, errlen, "%s: cannot create a TLS context: %s", url,
			 tls_error_string(buf, sizeof(buf)));
		return -ENOMEM;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* A client that closes without close_notify has simply gone. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	int r = tls_load_files(ctx, config->tls_cert_key_file, config->tls_ca_file, buf,
			       sizeof(buf));
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", url, buf);
		SSL_CTX_free(ctx);
		return r;
	}
	transport->tls = ctx;
	return 0;
}

int
transport_check_tls_files(const char *cert_key_file, const char *ca_file, char *err,
			  size_t errlen)
{
	char buf[256];
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		snprintf(err, errlen, "cannot create a TLS context: %s",
			 tls_error_string(buf, sizeof(buf)));
		return -ENOMEM;
	}
	int r = tls_load_files(ctx, cert_key_file, ca_file, err, errlen);
	SSL_CTX_free(ctx);
	return r;
}

int
transport_listen(struct transport *transport, const char *url, char *err, size_t errlen)
{
	struct listener *listener = calloc(1, sizeof(*listener));
	struct listener **grown =
		realloc(transport->listeners, (transport->n_listeners + 1) * sizeof(*grown));
	if (grown)
		transport->listeners = grown;
	if (!listener || !grown || !(listener->url = strdup(url))) {
		free(listener);
		snprintf(err, errlen, "%s: out of memory", url);
		return -ENOMEM;
	}
	listener->transport = transport;
	listener->source.fd = -1;
	listener->source.ready = listener_ready;
	reactor_timer_init(&listener->backoff, listener_backoff_expired);

	int r;
	if (strncmp(url, "ipc://", 6) == 0) {
		listener->kind = KIND_IPC;
		r = open_unix_listener(transport, listener, err, errlen);
	} else if (strncmp(url, "abstract://", 11) == 0) {
		listener->kind = KIND_ABSTRACT;
		r = open_unix_listener(transport, listener, err, errlen);
	} else if (strncmp(url, "tcp://", 6) == 0) {
		listener->kind = KIND_TCP;
		r = open_tcp_listener(listener, err, errlen);
	} else if (strncmp(url, "tls+tcp://", 10) == 0) {
		listener->kind = KIND_TLS;
		r = tls_setup(transport, url, err, errlen);
		if (r == 0)
			r = open_tcp_listener(listener, err, errlen);
	} else {
		snprintf(err, errlen, "%s: unknown scheme (expected ipc://PATH, abstract://NAME, "
			 "tcp://HOST:PORT or tls+tcp://HOST:PORT)", url);
		r = -EINVAL;
	}
	if (r < 0) {
		free(listener->socket_path);
		free(listener->url);
		free(listener);
		return r;
	}
	transport->listeners[transport->n_listeners++] = listener;
	return 0;
}

/* The listener a passed socket (of the service manager's unit `name`) is: its kind and its
 * URL in `text`, from the socket's own address. Returns 0, or -errno with `err` filled. */
static int
describe_passed_socket(int fd, const char *name, enum listener_kind *kind, char *text,
		       size_t size, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int type = 0, listening = 0;
	socklen_t optlen = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &optlen) < 0 || type != SOCK_STREAM ||
	    (optlen = sizeof(listening),
	     getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen) < 0) ||
	    !listening || getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		snprintf(err, errlen, "descriptor %d from the service manager is not a listening "
			 "stream socket (ListenStream= in the socket unit)", fd);
		return -EINVAL;
	}
	if (ss.ss_family == AF_UNIX) {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)&ss;
		size_t n = len > offsetof(struct sockaddr_un, sun_path)
				   ? len - offsetof(struct sockaddr_un, sun_path)
				   : 0;
		*kind = n > 0 && sun->sun_path[0] == '\0' ? KIND_ABSTRACT : KIND_IPC;
		if (*kind == KIND_ABSTRACT)
			snprintf(text, size, "abstract://%.*s", (int)(n - 1),
				 sun->sun_path + 1);
		else
			snprintf(text, size, "ipc://%.*s", (int)strnlen(sun->sun_path, n),
				 sun->sun_path);
	} else if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
		char host[INET6_ADDRSTRLEN] = "?";
		unsigned port;
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
			port = ntohs(sin->sin_port);
		} else {
			const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
			port = ntohs(sin6->sin6_port);
		}
		*kind = strcmp(name, "tls") == 0 ? KIND_TLS : KIND_TCP;
		snprintf(text, size, "%s://%s%s%s:%u", *kind == KIND_TLS ? "tls+tcp" : "tcp",
			 ss.ss_family == AF_INET6 ? "[" : "", host, ss.ss_family == AF_INET6 ? "]" : "",
			 port);
	} else {
		snprintf(err, errlen, "descriptor %d from the service manager is of address family "
			 "%d; only unix and TCP sockets are served", fd, ss.ss_family);
		return -EAFNOSUPPORT;
	}
	return 0;
}

int
transport_adopt(struct transport *transport, int fd, const char *name, const char **url,
		char *err, size_t errlen)
{
	enum listener_kind kind;
	char text[160];
	int r = describe_passed_socket(fd, name, &kind, text, sizeof(text), err, errlen);

	if (r < 0) {
		close(fd);
		return r;
	}
	if (kind == KIND_TLS)
		r = tls_setup(transport, text, err, errlen);
	struct listener *listener = r == 0 ? calloc(1, sizeof(*listener)) : NULL;
	struct listener **grown = listener ? realloc(transport->listeners,
						     (transport->n_listeners + 1) * sizeof(*grown))
					   : NULL;
	if (grown)
		transport->listeners = grown;
	if (r == 0 && (!listener || !grown || !(listener->url = strdup(text)))) {
		snprintf(err, errlen, "%s: out of memory", text);
		r = -ENOMEM;
	}
	if (r == 0 && (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
		       fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot make the socket non-blocking: %s", text,
			 strerror(-r));
	}
	if (r < 0) {
		if (listener)
			free(listener->url);
		free(listener);
		close(fd);
		return r;
	}
	listener->transport = transport;
	listener->kind = kind;
	listener->source.fd = fd;
	listener->source.ready = listener_ready;
	reactor_timer_init(&listener->backoff, listener_backoff_expired);
	transport->listeners[transport->n_listeners++] = listener;
	*url = listener->url;
	return 0;
}

int
transport_new(struct transport **out, struct reactor *reactor,
	      const struct transport_config *config, const struct transport_callbacks *callbacks,
	      void *userdata)
{
	struct transport *transport = calloc(1, sizeof(*transport));
	if (!transport)
		return -ENOMEM;
	transport->reactor = reactor;
	transport->config = *config;
	if (transport->config.handshake_timeout_ms <= 0)
		transport->config.handshake_timeout_ms = 5000;
	if (transport->config.frame_timeout_ms <= 0)
		transport->config.frame_timeout_ms = 10000;
	if (transport->config.max_connections == 0)
		transport->config.max_connections = 4096;
	transport->callbacks = callbacks;
	transport->userdata = userdata;
	list_init(&transport->conns);
	idmap_init(&transport->by_id);
	transport->budget_task.run = budget_resume;
	list_init(&transport->budget_waiters);
	if (config->budget) {
		config->budget->released = budget_released;
		config->budget->userdata = transport;
	}
	transport->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	*out = transport;
	return 0;
}

int
transport_start(struct transport *transport)
{
	for (size_t i = 0; i < transport->n_listeners; i++) {
		struct listener *listener = transport->listeners[i];
		if (listener->watched)
			continue;
		int r = reactor_add_fd(transport->reactor, &listener->source, EPOLLIN);
		listener->watched = r == 0;
		if (r < 0) {
			log_error("transport: cannot watch the listener %s: %s", listener->url,
				  strerror(-r));
			return r;
		}
	}
	return 0;
}

void
transport_flush(struct transport *transport, int timeout_ms)
{
	uint64_t deadline = reactor_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	transport->flushing = true;
	for (;;) {
		struct pollfd fds[256];
		nfds_t n = 0;
		struct list *pos, *tmp;
		list_for_each_safe (pos, tmp, &transport->conns) {
			struct conn *conn = list_entry(pos, struct conn, link);
			if (conn->out_head)
				flush_output(conn);
			if (conn->state != CONN_CLOSED && conn->out_head && n < 256)
				fds[n++] = (struct pollfd){ .fd = conn->source.fd, .events = POLLOUT };
		}
		uint64_t now = reactor_now_ns();
		if (n == 0)
			return;
		if (now >= deadline) {
			log_warn("transport: %lu connections still had replies unsent after %d ms; "
				 "their clients see the connection close instead",
				 (unsigned long)n, timeout_ms);
			return;
		}
		poll(fds, n, (int)((deadline - now) / 1000000ULL) + 1);
	}
}

void
transport_stop(struct transport *transport)
{
	if (transport->stopped)
		return;
	transport->stopped = true;
	for (size_t i = 0; i < transport->n_listeners; i++) {
		struct listener *listener = transport->listeners[i];
		if (listener->source.fd < 0)
			continue;
		reactor_timer_cancel(transport->reactor, &listener->backoff);
		reactor_del_fd(transport->reactor, &listener->source);
		close(listener->source.fd);
		listener->source.fd = -1;
		if (listener->socket_path && unlink(listener->socket_path) < 0 && errno != ENOENT)
			log_warn("transport: cannot remove the socket file %s: %s",
				 listener->socket_path, strerror(errno));
	}
	struct list *first;
	while ((first = list_first(&transport->conns)))
		conn_close(list_entry(first, struct conn, link), LOG_LEVEL_DEBUG, "the daemon is stopping");
}

void
transport_free(struct transport *transport)
{
	if (!transport)
		return;
	transport_stop(transport);
	/* Memory given back from now on wakes nobody. */
	if (transport->config.budget)
		transport->config.budget->released = NULL;
	for (size_t i = 0; i < transport->n_listeners; i++) {
		free(transport->listeners[i]->socket_path);
		free(transport->listeners[i]->url);
		free(transport->listeners[i]);
	}
	free(transport->listeners);
	idmap_fini(&transport->by_id);
	if (transport->tls)
		SSL_CTX_free(transport->tls);
	if (transport->reserve_fd >= 0)
		close(transport->reserve_fd);
	free(transport);
}

void *
transport_reply_buffer(struct tx *tx, size_t len)
{
	if (tx->reply)
		outbuf_free(tx->conn, tx->reply);
	tx->reply = NULL;
	if (len > SIZE_MAX - sizeof(struct outbuf) - FRAME_ROOM)
		return NULL;
	if (!(tx->reply = malloc(sizeof(struct outbuf) + FRAME_ROOM + len)))
		return NULL;
	/* Memory already taken (the data the reply carries left the kernel):
	 * charged whether it fits or not; an identity over its bound is not
	 * read until its replies go out. */
	tx->reply->charged = FRAME_ROOM + len;
	budget_share_charge(&tx->conn->budget, tx->reply->charged);
	tx->body_len = len;
	return tx->reply->data + FRAME_ROOM;
}

void
transport_set_tag(struct transport *transport, uint32_t conn_id, void *tag)
{
	struct conn *conn = idmap_get(&transport->by_id, conn_id);
	if (conn)
		conn->tag = tag;
}

/* ---- resumable sessions: where a tagged connection's reply goes ---------- */

/* The connection to queue `tx`'s reply on: its own, or the one reply_route names. */
static struct conn *
reply_target(struct tx *tx)
{
	struct conn *conn = tx->conn;
	struct transport *transport = conn->transport;

	if (!conn->tag || !transport->callbacks->reply_route)
		return conn;
	uint32_t to = transport->callbacks->reply_route(
		transport->userdata, conn->tag, conn->id, tx->header, tx->header_len,
		tx->reply ? tx->reply->data + FRAME_ROOM : NULL, tx->reply ? tx->body_len : 0);
	if (to == conn->id)
		return conn;
	/* The same transport (resume.c checks): a descriptor can go where it could. */
	struct conn *other = to ? idmap_get(&transport->by_id, to) : NULL;
	return other && other->state != CONN_CLOSED ? other : NULL;
}

/* ---- end of resumable sessions ------------------------------------------- */

void
transport_reply_send(struct tx *tx)
{
	struct conn *conn = tx->conn;

	if (!tx->reply && !transport_reply_buffer(tx, 0)) {
		conn_close(conn, LOG_LEVEL_ERROR, "out of memory for a reply; closed, so that the "
			   "client is not left waiting for it");
		if (tx->fd >= 0)
			close(tx->fd);
		goto out;
	}
	struct conn *target = reply_target(tx);
	if (!target || target->state == CONN_CLOSED) {
		outbuf_free(conn, tx->reply);
		if (tx->fd >= 0)
			close(tx->fd);
		goto out;
	}
	struct outbuf *buf = tx->reply;
	if (target != conn) {
		/* Charged to the connection that queues it from now on. */
		budget_share_release(&conn->budget, buf->charged);
		budget_share_charge(&target->budget, buf->charged);
	}
	size_t hlen = frame_header_len(target->kind);
	size_t message_len = tx->header_len + tx->body_len;
	buf->start = FRAME_ROOM - tx->header_len - hlen;
	buf->len = hlen + message_len;
	buf->sent = 0;
	buf->fd = tx->fd;
	uint8_t *p = buf->data + buf->start;
	if (hlen == 9)
		*p++ = SP_IPC_MSG;
	put_be64(p, message_len);
	memcpy(p + 8, tx->header, tx->header_len);
	queue_output(target, buf);
out:
	conn_unref(conn);
	free(tx);
}

bool
transport_tx_can_pass_fds(const struct tx *tx)
{
	return tx->conn->kind == KIND_IPC || tx->conn->kind == KIND_ABSTRACT;
}

void
transport_reply_attach_fd(struct tx *tx, int fd)
{
	if (tx->fd >= 0)
		close(tx->fd);
	tx->fd = fd;
}

uint32_t
transport_tx_pipe(const struct tx *tx)
{
	return tx->conn->id;
}

void
transport_disconnect(struct transport *transport, uint32_t conn_id)
{
	struct conn *conn = idmap_get(&transport->by_id, conn_id);
	if (conn)
		conn_close(conn, LOG_LEVEL_DEBUG, "disconnected by the daemon");
}

void
transport_set_identity(struct transport *transport, uint32_t conn_id, const char *key)
{
	struct conn *conn = idmap_get(&transport->by_id, conn_id);
	if (!conn)
		return;
	conn->identity_known = true;
	if (budget_share_move(&conn->budget, key) < 0)
		log_error("connection %u (%s): out of memory for its memory account; it stays "
			  "counted as before", conn->id, conn->identity.peer);
}

unsigned
transport_connection_count(const struct transport *transport)
{
	return transport->n_conns;
}
