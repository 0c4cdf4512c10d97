/*
 * utf8: well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF),
 * and the one way the project writes bytes that are not: each such byte as the four characters
 * \xHH (a backslash, 'x', two lower-case hex digits), the convention of Python's
 * "backslashreplace". The audit log and the daemon's replies use it, so a name that is not
 * UTF-8 reads the same in both. Pure functions, thread-safe.
 */
#ifndef SOCKBROKER_UTF8_H
#define SOCKBROKER_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* The length of the well-formed sequence that starts at s (n >= 1 bytes available), or 0 when
 * s[0] starts none. */
size_t utf8_sequence(const unsigned char *s, size_t n);

/* Whether the n bytes at s are well-formed UTF-8 (a NUL byte is; it is U+0000). */
bool utf8_valid(const char *s, size_t n);

/*
 * Write the n bytes at s to out (outlen bytes, NUL-terminated when outlen > 0), well-formed
 * sequences as they are and every other byte as \xHH; stops before a sequence that does not
 * fit. Returns the length the whole escaped text needs, without the NUL, so that a caller can
 * size `out` with a first call of outlen 0.
 */
size_t utf8_escape(const char *s, size_t n, char *out, size_t outlen);

#endif
