#include "paths.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *
format(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static char *
format(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		return NULL;
	return buf;
}

char *
paths_url_for(char *buf, size_t len, uid_t euid, const char *runtime_dir)
{
	size_t dir_len;

	if (euid == 0)
		return format(buf, len, "%s", PATHS_SYSTEM_URL);

	if (runtime_dir && runtime_dir[0] == '/') {
		/* "/run/user/1000/" would otherwise give a double slash in the URL. */
		dir_len = strlen(runtime_dir);
		while (dir_len > 1 && runtime_dir[dir_len - 1] == '/')
			dir_len--;
		if (dir_len == 1)
			dir_len = 0;
		return format(buf, len, "ipc://%.*s/sockbroker/sockbroker.sock", (int)dir_len,
			      runtime_dir);
	}

	return format(buf, len, "ipc:///tmp/sockbroker-%lu/sockbroker.sock", (unsigned long)euid);
}

char *
paths_default_listen_url(char *buf, size_t len)
{
	return paths_url_for(buf, len, geteuid(), getenv("XDG_RUNTIME_DIR"));
}

char *
paths_default_url(char *buf, size_t len)
{
	const char *url = getenv(PATHS_URL_ENV);

	if (url && url[0])
		return format(buf, len, "%s", url);
	return paths_default_listen_url(buf, len);
}
