/*
 * A raw SP requester on an ipc:// socket, for tests that run the server in-process. A test
 * connection is made from a child process, so that the peer's credentials are another
 * process's: the child connect()s a socket the test created, and exits; the listener sees
 * the child's pid as the peer's, and the test goes on with the socket. No NNG in the child:
 * it only calls connect() and ends.
 *
 * The client speaks the SP wire protocol itself (DESIGN.md, Transport): the handshake as a
 * REQ peer, then frames of byte 0x01 + u64be length + body, each request body starting with
 * a u32be request id whose high bit is set.
 * Every wait is bounded.
 */
#ifndef SOCKBROKER_TEST_SP_H
#define SOCKBROKER_TEST_SP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SP_MAX_FDS 16

struct sp_client {
	int fd;
	pid_t peer_pid; /* the pid the listener saw connect (a child that has exited) */
	int fds[SP_MAX_FDS]; /* descriptors received with replies (SCM_RIGHTS), oldest first */
	size_t n_fds;
};

/* Connect to `url` (ipc://PATH) from a child process and complete the handshake. Aborts the
 * test on failure. */
void sp_connect(struct sp_client *client, const char *url);

/* Close the connection and the descriptors not taken; a closed client may be closed
 * again. */
void sp_close(struct sp_client *client);

/* The oldest descriptor received with a reply and not yet taken (the caller owns it), or
 * -1 when none came. */
int sp_take_fd(struct sp_client *client);

/* Send one request with request id `id` (the high bit is set here) and `len` bytes of body.
 * Returns 0, or -errno when the connection is gone (EPIPE, ECONNRESET). Never raises
 * SIGPIPE. */
int sp_send(struct sp_client *client, uint32_t id, const void *body, size_t len);

/* Wait up to `timeout_ms` for a reply to begin, then read it whole. Returns 0 with its
 * request id (high bit cleared) in *id and its body in *body (malloc'd, free() it; a
 * zero-length body is still a valid pointer) and *len; -ETIMEDOUT when nothing came; or
 * -ECONNRESET when the server closed the connection. Aborts the test on a malformed or
 * truncated frame. */
int sp_recv(struct sp_client *client, uint32_t *id, uint8_t **body, size_t *len, int timeout_ms);

/* Wait up to `timeout_ms` for the server to close the connection, discarding any replies
 * before the end. Returns 1 when it closed, 0 otherwise. */
int sp_wait_closed(struct sp_client *client, int timeout_ms);

#endif
