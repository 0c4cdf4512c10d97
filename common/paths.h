/*
 * paths: where the broker listens by default, shared by the daemon and the C client so that
 * both agree without configuration.
 *
 * The rule, in order: $SOCKBROKER_URL when set and not empty (clients only); for root the
 * system-wide ipc:///run/sockbroker/sockbroker.sock; for any other user a socket in that
 * user's $XDG_RUNTIME_DIR, or failing that in /tmp/sockbroker-<uid>. The directory is private
 * to its user (the daemon creates it), which is what keeps other users out of a personal
 * broker. Every function writes a NUL-terminated string and never allocates.
 */
#ifndef SOCKBROKER_PATHS_H
#define SOCKBROKER_PATHS_H

#include <stddef.h>
#include <sys/types.h>

/* The environment variable that names the broker URL for clients. */
#define PATHS_URL_ENV "SOCKBROKER_URL"

/* The system-wide broker, used when running as root. */
#define PATHS_SYSTEM_URL "ipc:///run/sockbroker/sockbroker.sock"

/*
 * The URL a client connects to when given none: $SOCKBROKER_URL if set and not empty, else
 * paths_default_listen_url(). Writes it to buf and returns buf; returns NULL if it did not fit
 * in len bytes (buf then holds a truncated string, or nothing when len is 0).
 */
char *paths_default_url(char *buf, size_t len);

/*
 * The URL the daemon listens on when configured with none: the rule above for the effective
 * user and $XDG_RUNTIME_DIR, ignoring $SOCKBROKER_URL (a client setting). Same buffer
 * contract as paths_default_url().
 */
char *paths_default_listen_url(char *buf, size_t len);

/*
 * The rule itself, without reading the process state: the default URL for effective user
 * `euid` whose $XDG_RUNTIME_DIR is `runtime_dir` (NULL when unset). Per the XDG base directory
 * specification an empty or relative runtime_dir is ignored. Same buffer contract as
 * paths_default_url().
 */
char *paths_url_for(char *buf, size_t len, uid_t euid, const char *runtime_dir);

#endif
