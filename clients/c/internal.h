/*
 * libsockbroker internals, shared by client.c (connection, calls, errors),
 * ops.c (one function per operation) and addr.c (addresses).
 *
 * Only the library's .c files include the generated protobuf header; this
 * one names the wire messages by their struct tags alone, so that the unit
 * tests can include it without the generated code. Every request goes out
 * through sb__call() or sb__call_many(), which number it (`seq`) at the
 * moment it is handed to NNG: the order of numbers is the order on the wire,
 * and a number once taken is always sent, because the daemon starts
 * numbered requests strictly in order and would wait for a missing one.
 */
#ifndef SOCKBROKER_INTERNAL_H
#define SOCKBROKER_INTERNAL_H

#include <stdarg.h>

#include "sockbroker.h"

struct Sockbroker__V1__Address;
struct Sockbroker__V1__Error;
struct Sockbroker__V1__Reply;
struct Sockbroker__V1__Request;

/* errno names */

/*
 * The client's errno number for a Linux errno name ("ECONNREFUSED"), or 0
 * when the name is unknown or NULL. Aliases (EWOULDBLOCK, EDEADLOCK,
 * ENOTSUP) are known too.
 */
int sb__errno_from_name(const char *name);

/* The canonical name of a client errno number, or NULL when unknown.
 * The string is static. */
const char *sb__errno_name(int errnum);

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
 * consecutively and handed to NNG in order under one lock, so they reach
 * the daemon back to back, and then every reply is collected. `replies`
 * (may be NULL) receives one reply per request, NULL where that request
 * failed. Returns 0 when all succeeded, else the first failure in request
 * order (the one `err` describes), after all replies are in.
 */
int sb__call_many(struct sb_client *client, struct Sockbroker__V1__Request **requests,
		  size_t count, sb_handle handle, int expected_result,
		  struct Sockbroker__V1__Reply **replies, struct sb_error *err);

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
