/*
 * The --token-file option of the command-line tools (sbcat, sockbrokerctl):
 * read an access token from a file, never from the command line, which
 * other users of the machine can read. Compiled into each tool; not part of
 * libsockbroker.
 */
#ifndef SOCKBROKER_TOKENFILE_H
#define SOCKBROKER_TOKENFILE_H

#include <stddef.h>

/* The room a token read by tokenfile_read() needs: at most 4096 bytes, a
 * line break and the NUL. */
#define TOKENFILE_BUF_LEN (4096 + 3)

/*
 * Read the token in `path` into buf (len bytes, NUL-terminated), without its
 * trailing line break. Returns 0, or -1 after saying on stderr, as
 * "PROGRAM: --token-file PATH: why", what is wrong (never the token).
 */
int tokenfile_read(const char *program, const char *path, char *buf, size_t len);

#endif
