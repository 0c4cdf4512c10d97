/*
 * constants: the host's constants by name, the table the Hello reply announces.
 *
 * Numbers on the wire are the daemon's native values (AF_*, SOCK_*, SOL_*, SO_*, IPPROTO_*,
 * MSG_*, errno numbers and the rest), and they differ between platforms, so a client on another
 * platform learns them here by name. The table holds every name of those families that the
 * headers the daemon was built with define and whose value is an integer constant, each name
 * once. Values are the native numbers widened to int64_t: an unsigned constant keeps its
 * magnitude (INADDR_NONE is 4294967295, not -1), a negative one its sign (EAI_*). The table is
 * sorted by name in strcmp() order, so it can be searched with bsearch(); it is constant data,
 * safe to read from any thread.
 */
#ifndef SOCKBROKER_CONSTANTS_H
#define SOCKBROKER_CONSTANTS_H

#include <stddef.h>
#include <stdint.h>

/* Also defined, identically, by wire.h, whose Hello reply points at this table. */
#ifndef SOCKBROKER_CONSTANT_DEFINED
#define SOCKBROKER_CONSTANT_DEFINED
struct constant {
	const char *name;
	int64_t value;
};
#endif

/*
 * The table of constants; its length goes to *count (which must not be NULL). The array and its
 * strings are static: the caller neither frees nor changes them.
 */
const struct constant *constants_table(size_t *count);

#endif
