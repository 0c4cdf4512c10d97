/*
 * libsockbroker's connection to the daemon: one SP req0 connection, carrying
 * whole frames. client.c builds the calls (request ids, waiters, the reader
 * role, write-behind) on top of three things this module does: send a frame,
 * receive a frame, shut the connection down.
 *
 * ipc://PATH, abstract://NAME and tcp://HOST:PORT are spoken directly on one
 * blocking, close-on-exec stream socket, with no thread of this library's
 * own: the SP handshake (`00 'S' 'P' 00 | u16be protocol | 00 00`, req0 =
 * 0x30 here, rep0 = 0x31 required of the peer), then frames of byte 0x01 +
 * u64be length + body over ipc/abstract, u64be length + body over tcp. The
 * body of a request starts with its u32be request id (high bit set), and so
 * does the reply's. abstract://NAME is NNG's form: NAME URL-decoded (%00 is
 * a NUL byte) and the socket address exactly as long as the name, as the
 * Python client does it too.
 *
 * tls+tcp://HOST:PORT is the tcp framing inside TLS (OpenSSL) on the same
 * socket: the broker's certificate is checked against the CA file (or the
 * system's) and the URL's host; the client's certificate is offered when
 * given.
 *
 * Threads: one sender at a time (the caller serialises sb__transport_send())
 * and one receiver at a time (likewise), which may overlap each other.
 * sb__transport_shutdown() may be called from any thread at any time and
 * wakes both.
 */
#ifndef SOCKBROKER_TRANSPORT_H
#define SOCKBROKER_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "sockbroker.h"

/* SP protocol numbers. */
#define SB__SP_REQ0 0x30
#define SB__SP_REP0 0x31
#define SB__SP_HANDSHAKE_SIZE 8
/* Room a caller leaves before a frame's body: type byte + length + request id. */
#define SB__FRAME_HEADROOM (1 + 8 + 4)
/* Frames larger than this are refused as a protocol error, not allocated. */
#define SB__FRAME_MAX ((uint64_t)1 << 32)

enum sb__sp_scheme {
	SB__SP_IPC,      /* unix stream socket at a path */
	SB__SP_ABSTRACT, /* unix stream socket in the abstract namespace */
	SB__SP_TCP,      /* TCP (tcp://, tcp4://, tcp6://) */
	SB__SP_TLS,      /* tls+tcp:// (OpenSSL) */
};

/* A parsed broker URL. */
struct sb__sp_address {
	enum sb__sp_scheme scheme;
	int family;       /* SB__SP_TCP: AF_UNSPEC, AF_INET (tcp4) or AF_INET6 (tcp6) */
	char host[256];   /* SB__SP_TCP: without brackets; "" means 127.0.0.1 */
	char port[8];     /* SB__SP_TCP: digits */
	struct sockaddr_un unix_address; /* SB__SP_IPC, SB__SP_ABSTRACT */
	socklen_t unix_length;
};

/*
 * Parse `url` into `address`. Returns 0, -EINVAL for an unknown scheme or a
 * malformed address (no path, no name, no port, a port over 65535, a bad %
 * escape), or -ENAMETOOLONG when a path or name does not fit a unix socket
 * address.
 */
int sb__sp_parse_url(const char *url, struct sb__sp_address *address);

/* Fill `out` with the handshake a req0 peer sends. */
void sb__sp_handshake(uint8_t out[SB__SP_HANDSHAKE_SIZE]);

/*
 * Check the handshake the peer sent: 0 when it is rep0, -EPROTO when the
 * bytes are not an SP handshake at all, -EPROTONOSUPPORT when the peer
 * speaks another SP protocol (its number in *protocol).
 */
int sb__sp_check_handshake(const uint8_t peer[SB__SP_HANDSHAKE_SIZE], unsigned *protocol);

/*
 * Parse a frame header at the start of `buf` (`n` bytes available): over
 * ipc/abstract (`ipc`) the byte 0x01 and a u64be length, over tcp the
 * length alone. Returns the header's size with the body's length in *length,
 * 0 when `n` is too short to tell yet, -EPROTO for an unknown frame type,
 * or -EMSGSIZE when the length is over SB__FRAME_MAX.
 */
int sb__sp_parse_header(const uint8_t *buf, size_t n, bool ipc, uint64_t *length);

/*
 * Write the header for a body of `length` bytes (request id included) just
 * before `body`, which must have SB__FRAME_HEADROOM bytes in front of it.
 * Returns where the frame starts.
 */
uint8_t *sb__sp_frame_header(uint8_t *body, size_t length, bool ipc, uint32_t request_id);

struct sb__transport;

/*
 * Connect to `url` and complete the SP handshake. TLS files (tls+tcp only)
 * come from `options` or the environment, as sb_client_new_with() says.
 * On success *out owns the connection; free it with sb__transport_free().
 * Errors fill `err` with kind SB_ERR_TRANSPORT and a message that names the
 * URL and what to do.
 */
int sb__transport_open(struct sb__transport **out, const char *url,
		       const struct sb_client_options *options, struct sb_error *err);

/*
 * Send one frame: `body` (`length` bytes, with SB__FRAME_HEADROOM writable
 * bytes before it, which this overwrites) under `request_id`. Blocks until
 * it is all written. Returns 0 or a negative errno (the connection is then
 * unusable).
 */
int sb__transport_send(struct sb__transport *transport, uint32_t request_id, uint8_t *body,
		       size_t length);

/*
 * Receive one frame. Returns 0 with its request id in *request_id and its
 * body in *body / *length, borrowed until the next receive; -ECONNRESET when
 * the daemon closed the connection or it was shut down; -EPROTO or
 * -EMSGSIZE for a malformed frame; another negative errno for the socket's
 * own errors.
 */
int sb__transport_recv(struct sb__transport *transport, uint32_t *request_id,
		       const uint8_t **body, size_t *length);

/* Wake any send and receive in progress: they fail, and so do later ones. */
void sb__transport_shutdown(struct sb__transport *transport);

/* Close and free; no send or receive may be in progress. NULL is a no-op. */
void sb__transport_free(struct sb__transport *transport);

/* The oldest descriptor that came with a reply (a handed-off socket, on ipc
 * and abstract connections) and is not taken yet: the caller owns it. -1
 * when none. The receiver's side: call it from the thread that holds the
 * receiving role, as the reply that carried it is read. */
int sb__transport_take_fd(struct sb__transport *t);

#endif
