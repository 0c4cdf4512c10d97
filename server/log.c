#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Read on every log call from any thread; nothing else is ordered by it, so relaxed. */
static atomic_int current_level = LOG_LEVEL_INFO;

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

#define N_LEVELS (sizeof(level_names) / sizeof(level_names[0]))

static const char truncated_mark[] = "...";

void
log_set_level(enum log_level level)
{
	atomic_store_explicit(&current_level, (int)level, memory_order_relaxed);
}

enum log_level
log_get_level(void)
{
	return (enum log_level)atomic_load_explicit(&current_level, memory_order_relaxed);
}

bool
log_enabled(enum log_level level)
{
	return (int)level <= atomic_load_explicit(&current_level, memory_order_relaxed);
}

int
log_level_from_name(const char *name, enum log_level *out)
{
	if (!name)
		return -EINVAL;
	for (size_t i = 0; i < N_LEVELS; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *
log_level_name(enum log_level level)
{
	if ((unsigned)level >= N_LEVELS)
		return "unknown";
	return level_names[level];
}

/* Append the message to line[*pos..cap), escaping control characters; false if cut short. */
static bool
append_escaped(char *line, size_t *pos, size_t cap, const char *msg)
{
	static const char hex[] = "0123456789abcdef";
	size_t len = strlen(msg);

	/* A trailing newline is the caller's habit from printf, not part of the message. */
	if (len > 0 && msg[len - 1] == '\n')
		len--;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)msg[i];
		char esc[4];
		size_t n = 0;

		if (c == '\n') {
			esc[n++] = '\\';
			esc[n++] = 'n';
		} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
			esc[n++] = '\\';
			esc[n++] = 'x';
			esc[n++] = hex[c >> 4];
			esc[n++] = hex[c & 0xf];
		} else {
			esc[n++] = (char)c;
		}
		if (*pos + n > cap)
			return false;
		memcpy(line + *pos, esc, n);
		*pos += n;
	}
	return true;
}

/* Where a cut line should end so that it does not finish in half a UTF-8 character. */
static size_t
utf8_boundary(const char *line, size_t start, size_t pos)
{
	size_t end = pos;

	while (end > start && ((unsigned char)line[end - 1] & 0xc0) == 0x80)
		end--;
	if (end > start && ((unsigned char)line[end - 1] & 0xc0) == 0xc0)
		end--;
	/* Continuation bytes that follow no lead byte are not ours to repair. */
	if (end == start)
		return pos;
	return end;
}

static void
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* Nowhere left to report a failure to report. */
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	char msg[LOG_LINE_MAX];
	/* Room kept back for the truncation mark and the newline. */
	size_t cap = sizeof(line) - (sizeof(truncated_mark) - 1) - 1;
	size_t pos;
	size_t msg_start;
	struct timespec now;
	struct tm tm;
	int saved_errno = errno;
	va_list ap;
	int n;

	if (!log_enabled(level))
		return;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	pos = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line + pos, sizeof(line) - pos, ".%03ldZ sockbrokerd[%ld]: %s: ",
		     now.tv_nsec / 1000000L, (long)getpid(), log_level_name(level));
	pos += (size_t)n;
	msg_start = pos;

	/* The message may quote anything (%m included), so errno is restored before formatting. */
	errno = saved_errno;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		snprintf(msg, sizeof(msg), "(unformattable message: %s)", fmt);

	if (!append_escaped(line, &pos, cap, msg) || (n > 0 && (size_t)n >= sizeof(msg))) {
		pos = utf8_boundary(line, msg_start, pos);
		memcpy(line + pos, truncated_mark, sizeof(truncated_mark) - 1);
		pos += sizeof(truncated_mark) - 1;
	}
	line[pos++] = '\n';

	write_all(STDERR_FILENO, line, pos);
	errno = saved_errno;
}
