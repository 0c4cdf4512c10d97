#include "errname.h"

#include <stddef.h>
#include <string.h>

struct errname {
	int number;
	const char *name;
};

#define ERRNAME_ENTRY(e) { e, #e },
static const struct errname canonical[] = { ERRNAME_CANONICAL(ERRNAME_ENTRY) };
static const struct errname aliases[] = { ERRNAME_ALIASES(ERRNAME_ENTRY) };
#undef ERRNAME_ENTRY

const char *
errname_from_errno(int e)
{
	/* A switch rather than a search: the compiler rejects two canonical names with one
	 * number, which is how an alias slipping into the canonical list would show. */
	switch (e) {
#define ERRNAME_CASE(name) case name: return #name;
		ERRNAME_CANONICAL(ERRNAME_CASE)
#undef ERRNAME_CASE
	default:
		break;
	}

	/* On a few architectures an alias has a number of its own (EDEADLOCK is 58 on powerpc);
	 * there it is the only name that number has. */
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
		if (aliases[i].number == e)
			return aliases[i].name;
	}
	return NULL;
}

int
errname_to_errno(const char *name)
{
	if (!name)
		return 0;
	for (size_t i = 0; i < sizeof(canonical) / sizeof(canonical[0]); i++) {
		if (strcmp(canonical[i].name, name) == 0)
			return canonical[i].number;
	}
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
		if (strcmp(aliases[i].name, name) == 0)
			return aliases[i].number;
	}
	return 0;
}
