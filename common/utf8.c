#include "utf8.h"

#include <string.h>

size_t
utf8_sequence(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	}
	return len;
}

bool
utf8_valid(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t len = utf8_sequence(u + i, n - i);
		if (!len)
			return false;
		i += len;
	}
	return true;
}

size_t
utf8_escape(const char *s, size_t n, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t need = 0, used = 0;
	bool full = outlen == 0;

	for (size_t i = 0; i < n;) {
		char esc[4];
		const char *piece = s + i;
		size_t len = utf8_sequence(u + i, n - i);
		size_t step = len;
		if (!len) {
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = hex[u[i] >> 4];
			esc[3] = hex[u[i] & 0xf];
			piece = esc;
			len = 4;
			step = 1;
		}
		if (!full && used + len < outlen) {
			memcpy(out + used, piece, len);
			used += len;
		} else {
			full = true;
		}
		need += len;
		i += step;
	}
	if (outlen)
		out[used] = '\0';
	return need;
}
