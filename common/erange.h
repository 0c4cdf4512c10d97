/*
 * erange: the buffer of a reentrant libc lookup (getpwnam_r, getgrgid_r, gethostbyname_r,
 * getservbyname_r, ...), which answers ERANGE while the buffer is too small for the entry.
 * The one loop, written as
 *
 *	char *buffer = NULL;
 *	size_t len = 0;
 *	int r = ERANGE, g;
 *	while ((g = erange_grow(&buffer, &len, r, START, MAX)) > 0)
 *		r = getpwnam_r(name, &pw, buffer, len, &result);
 *	if (g < 0)
 *		... out of memory ...
 *	free(buffer);	(whichever way it ended)
 *
 * Header only.
 */
#ifndef SOCKBROKER_ERANGE_H
#define SOCKBROKER_ERANGE_H

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

/* After a lookup that returned `r` with a buffer of *len bytes (0 before the first): 1 when
 * it is to be called again, *buffer now `start` bytes or twice as large as it was; 0 when
 * it is done (r is not ERANGE, or *len reached `max`: an entry larger than that is a broken
 * name service); -ENOMEM when the buffer cannot grow (*buffer is kept as it was). */
static inline int
erange_grow(char **buffer, size_t *len, int r, size_t start, size_t max)
{
	if (r != ERANGE || *len >= max)
		return 0;
	size_t want = *len ? *len * 2 : start;
	char *grown = realloc(*buffer, want);
	if (!grown)
		return -ENOMEM;
	*buffer = grown;
	*len = want;
	return 1;
}

#endif
