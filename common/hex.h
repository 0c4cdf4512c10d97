/*
 * hex: the value of one hexadecimal digit, either case (token hashes, URL-encoded abstract
 * socket names). Header only, pure.
 */
#ifndef SOCKBROKER_HEX_H
#define SOCKBROKER_HEX_H

/* 0 to 15 for '0'-'9', 'a'-'f' and 'A'-'F'; -1 for anything else, '\0' included. */
static inline int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
