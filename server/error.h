/*
 * error: the daemon's one error convention (the shape of dbus-broker's error.h).
 *
 * - OS and fatal errors are negative errno values. A function that can fail returns 0 (or a
 *   documented non-negative result) or -errno, and a caller that cannot handle the error
 *   passes it up unchanged (`if (r < 0) return r;`), never turned into text on the way. Out
 *   of memory is -ENOMEM like any other: no allocation failure is ignored; a caller that
 *   cannot pass it up completes what it was doing with an error instead.
 * - Request errors are positive: the client asked for something the daemon refuses or cannot
 *   do (a malformed argument, a denial, a quota, a handle it does not own, an operation this
 *   daemon lacks). Where it is found, the reply's error is filled with its kind (enum
 *   error_kind, wire.h), errno and message by error_fill(), and OP_FAILED (ops/ops.h) goes up.
 * - A handler's result becomes the reply in exactly one place, complete() in dispatch.c:
 *   -errno becomes kind OS with the kernel's message; OP_FAILED keeps the error filled.
 * - Start-up code (configuration, listeners, privileges, the daemon itself) fills the
 *   caller's `err` buffer and returns -errno without logging; main() reports it, once.
 *
 * Header only; error_fill() and set_err() are pure.
 */
#ifndef SOCKBROKER_ERROR_H
#define SOCKBROKER_ERROR_H

#include <stdarg.h>
#include <stdio.h>

#include "wire.h"

static inline void
error_vfill(struct reply_error *error, enum error_kind kind, int errnum, const char *fmt,
	    va_list ap) __attribute__((format(printf, 4, 0)));

/* Set the kind, errno and message (printf `fmt`) of `error`; its other fields (the rule, the
 * operation, a resolver's code) are the caller's to set, before or after. */
static inline void
error_vfill(struct reply_error *error, enum error_kind kind, int errnum, const char *fmt,
	    va_list ap)
{
	error->kind = kind;
	error->errnum = errnum;
	vsnprintf(error->message, sizeof(error->message), fmt, ap);
}

static inline void
error_fill(struct reply_error *error, enum error_kind kind, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static inline void
error_fill(struct reply_error *error, enum error_kind kind, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vfill(error, kind, errnum, fmt, ap);
	va_end(ap);
}

static inline void
set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Start-up code's report: the message, in the caller's `err` of `errlen` bytes (NULL or 0:
 * none wanted). */
static inline void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

#endif
