/*
 * log: the daemon's messages to operators, on standard error, one line per event:
 *
 *	2026-11-22T10:00:00.123Z sockbrokerd[4242]: warn: message
 *
 * The time is UTC with milliseconds. A message says what happened and what to do about it;
 * it carries no trailing newline. Control characters in a message are escaped (a newline
 * becomes \n) so that one event is always one line, even when it quotes a client's bytes, and
 * an over-long message is cut to one line ending in "...". Each line is written with a single
 * write(2), so lines from different threads (NNG's among them) never interleave. Every
 * function here is thread-safe and keeps errno unchanged.
 */
#ifndef SOCKBROKER_LOG_H
#define SOCKBROKER_LOG_H

#include <stdbool.h>

/* Severities, most severe first; a level shows its own messages and all more severe ones. */
enum log_level {
	LOG_LEVEL_ERROR = 0, /* the daemon cannot do what it was asked; usually it stops */
	LOG_LEVEL_WARN,      /* something is wrong but the daemon carries on */
	LOG_LEVEL_INFO,      /* start-up, shutdown, sessions coming and going */
	LOG_LEVEL_DEBUG,     /* per-request detail for developers */
};

/* The longest line written, newline included; longer messages are cut. */
#define LOG_LINE_MAX 2048

/* Show messages of `level` and more severe ones from now on. The initial level is info. */
void log_set_level(enum log_level level);

/* The level set by log_set_level(). */
enum log_level log_get_level(void);

/* Whether a message of `level` would be written at the current level. */
bool log_enabled(enum log_level level);

/*
 * Parse a level name as the configuration file and the command line spell it: exactly "error",
 * "warn", "info" or "debug". Returns 0 and sets *out, or -EINVAL (leaving *out alone) for NULL
 * or any other string.
 */
int log_level_from_name(const char *name, enum log_level *out);

/* The name of `level` ("warn"), a static string; "unknown" for a value outside the enum. */
const char *log_level_name(enum log_level level);

/*
 * Write one line at `level` if that level is enabled. `fmt` is a printf format; the message
 * needs no trailing newline (one is tolerated and dropped). Prefer the macros below, which do
 * not evaluate their arguments when the level is filtered out.
 */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_at(level, ...) \
	do { \
		if (log_enabled(level)) \
			log_msg(level, __VA_ARGS__); \
	} while (0)

#define log_error(...) log_at(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
