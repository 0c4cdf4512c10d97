#include "tokenfile.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int
tokenfile_read(const char *program, const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "%s: --token-file %s: %s\n", program, path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, len - 1, f);
	if (ferror(f)) {
		fprintf(stderr, "%s: --token-file %s: %s\n", program, path, strerror(errno));
		fclose(f);
		return -1;
	}
	fclose(f);
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (n == 0 || n >= len - 2 || strlen(buf) != n) {
		fprintf(stderr, "%s: --token-file %s: %s\n", program, path,
			n == 0 ? "the file is empty; it should hold the token"
			       : "not a token: one line of at most 4096 bytes without NUL bytes");
		return -1;
	}
	return 0;
}
