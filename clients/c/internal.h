/*
 * libsockbroker internals, shared by client.c (calls, errors, write-behind),
 * transport.c (the connection: SP frames), ops.c (one function per
 * operation) and addr.c (addresses).
 *
 * Only the library's .c files include the generated protobuf header; this
 * one names the wire messages by their struct tags alone, so that the unit
 * tests can include it without the generated code. Every request goes out
 * through sb__call(), sb__call_many() or sb__call_behind(), which number it
 * (`seq`) and give it its SP request id under the lock that writes it: the
 * order of numbers is the order on the wire, and a number once taken is
 * always sent, because the daemon starts a connection's requests in order.
 *
 * Calls from many threads share the one connection. Each call registers
 * under its request id before it is written; then whichever waiting thread
 * finds no reader becomes the reader, hands every reply it reads to its
 * owner, and passes the role on when its own reply is in (leader/follower).
 * No thread of the library's own exists.
 */
#ifndef SOCKBROKER_INTERNAL_H
#define SOCKBROKER_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>

#include "errname.h"
#include "sockbroker.h"

struct Sockbroker__V1__Address;
struct Sockbroker__V1__Error;
struct Sockbroker__V1__Reply;
struct Sockbroker__V1__Request;
struct Sockbroker__V1__SendRequest;

/* errno names */

/*
 * The client's errno number for a Linux errno name ("ECONNREFUSED"), or 0
 * when the name is unknown or NULL. Aliases (EWOULDBLOCK, EDEADLOCK,
 * ENOTSUP) are known too. The table is common/errname.c, the daemon's.
 */
static inline int
sb__errno_from_name(const char *name)
{
	return errname_to_errno(name);
}

/* The canonical name of a client errno number, or NULL when unknown.
 * The string is static. */
static inline const char *
sb__errno_name(int errnum)
{
	return errname_from_errno(errnum);
}

/* errors */

/*
 * Fill `err` (may be NULL) with a locally made error: `kind`, the errno
 * `errnum` (its name looked up) and a printf-style message. Returns
 * -errnum, so that callers can `return sb__error_set(...)`.
 */
int sb__error_set(struct sb_error *err, enum sb_error_kind kind, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Convert an error reply into `err` (may be NULL) and return the negative
 * errno the API returns for it: the client's errno for the wire's errno
 * name (falling back to the daemon's number), -ETIMEDOUT for timeouts,
 * -ECANCELED for cancellations. `wire` is borrowed.
 */
int sb__error_from_wire(struct sb_error *err, const struct Sockbroker__V1__Error *wire);

/* The errors of a NULL argument named `name` (bad_request, EINVAL) and of an
 * allocation that failed here (transport, ENOMEM): `err` filled, the
 * negative errno returned. */
int sb__missing_argument(struct sb_error *err, const char *name);
int sb__out_of_memory(struct sb_error *err);

/* Reset `err` (may be NULL) to "no error" before a call. */
void sb__error_clear(struct sb_error *err);

/* calls */

/*
 * Send `request` (borrowed; its `seq` must be left unset) and wait for the
 * reply, however long that takes: there is no client-side timeout. `handle`
 * is the handle the call may wait on (0 for none), so that
 * sb_cancel_handle() can find it. `expected_result` is the Reply result
 * case that a success must carry, or 0 to accept any (the caller checks).
 *
 * Returns 0 with *reply owning the unpacked reply (free it with
 * sb__reply_free()), or a negative errno with `err` filled: an error reply,
 * a transport failure (-ECONNRESET once the connection is lost), or a
 * reply that does not fit the request (-EPROTO). `reply` may be NULL when
 * the caller needs nothing from it.
 */
int sb__call(struct sb_client *client, struct Sockbroker__V1__Request *request, sb_handle handle,
	     int expected_result, struct Sockbroker__V1__Reply **reply, struct sb_error *err);

/*
 * Like sb__call() for `count` requests at once: they are numbered
 * consecutively and written in order under one lock, so they reach the
 * daemon back to back, and then every reply is collected. `replies`
 * (may be NULL) receives one reply per request, NULL where that request
 * failed. Returns 0 when all succeeded, else the first failure in request
 * order (the one `err` describes), after all replies are in.
 */
int sb__call_many(struct sb_client *client, struct Sockbroker__V1__Request **requests,
		  size_t count, sb_handle handle, int expected_result,
		  struct Sockbroker__V1__Reply **replies, struct sb_error *err);

/*
 * Write-behind. Every reply about a stream handle carries the kernel's free
 * send space on it (its credit). When `handle`'s last reply carried a
 * credit that `length` fits in, less what is already written behind and
 * not answered, send `request` (a sendall, borrowed) without waiting for
 * its reply: whichever thread reads next collects it, and an error it
 * carries is returned by the next call on the handle. With `closing`
 * (a close of a stream handle the client knows to be open) no credit is
 * needed, and the handle's state is forgotten at once; settle it first.
 *
 * Returns 1 when the request was written behind, 0 when it must go the
 * usual way (no credit, not enough of it, a pending error the usual call
 * will return), or a negative errno with `err` filled when the connection
 * failed.
 */
int sb__call_behind(struct sb_client *client, struct Sockbroker__V1__Request *request,
		    sb_handle handle, size_t length, bool closing, struct sb_error *err);

/*
 * sb__call_behind() for send, sendall and sendmsg: `args` (borrowed: the
 * handle, the `length` bytes of data, flags 0) go as a sendall, so that the
 * daemon delivers every byte even if the credit was spent meanwhile. Sends
 * over 64 KiB always go the usual way (client.c says why).
 * Returns 1, 0 or a negative errno as sb__call_behind() does.
 */
int sb__send_behind(struct sb_client *client, sb_handle handle,
		    struct Sockbroker__V1__SendRequest *args, size_t length, struct sb_error *err);

/*
 * Wait until every write-behind send on `handle` is answered (what close,
 * shutdown, dup, a timeout change and passing the handle in SCM_RIGHTS must
 * see first). Returns 0, the error one of those sends left (then cleared),
 * or the transport's error.
 */
int sb__settle(struct sb_client *client, sb_handle handle, struct sb_error *err);

/* How many write-behind sends on `handle` wait for their reply (for tests). */
unsigned sb__behind_calls(struct sb_client *client, sb_handle handle);

/*
 * Like sb__call() for a request that may hand its socket over
 * (Request.handoff, or the handoff flag of connect, accept and
 * create_connection): *handed_fd receives the descriptor that came with the
 * reply (owned by the caller, close-on-exec), or -1 when none came.
 */
int sb__call_fd(struct sb_client *client, struct Sockbroker__V1__Request *request,
		sb_handle handle, int expected_result, struct Sockbroker__V1__Reply **reply,
		int *handed_fd, struct sb_error *err);

/*
 * The handle under which sb_poll() registers its calls: no handle id is
 * ever this large, so sb_cancel_handle() of it (what sb_cancel_polls() does)
 * finds exactly the polls.
 */
#define SB__POLL_HANDLE UINT64_MAX

/* Free a reply from sb__call(); NULL is a no-op. */
void sb__reply_free(struct Sockbroker__V1__Reply *reply);

/* The daemon's max_data_size (a sane default if it announced none). */
size_t sb__client_max_data_size(const struct sb_client *client);

/* The daemon's value of constant `name`, or `fallback` (the client's own
 * value) when the daemon did not announce it. */
int64_t sb__constant_or(const struct sb_client *client, const char *name, int64_t fallback);

/* addresses */

/*
 * Build the wire Address for `addr`. On success *out owns a single
 * allocation holding the message and everything it points to; free it with
 * sb__addr_wire_free(). Returns -EINVAL when `addr` is malformed (a host
 * without its NUL, lengths beyond the arrays) or -ENOMEM.
 */
int sb__addr_to_wire(const struct sb_addr *addr, struct Sockbroker__V1__Address **out);

/* Free an Address from sb__addr_to_wire(); NULL is a no-op. */
void sb__addr_wire_free(struct Sockbroker__V1__Address *wire);

/*
 * Fill `addr` from a wire Address (borrowed; NULL gives family AF_UNSPEC).
 * Every member has its sb_addr form; `raw` bytes and names longer than
 * their arrays are truncated to them.
 */
void sb__addr_from_wire(struct sb_addr *addr, const struct Sockbroker__V1__Address *wire);

#endif
