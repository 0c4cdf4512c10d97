#include "family.h"

#include <stddef.h>

const char *
family_name(int family)
{
	switch (family) {
#define FAMILY_CASE(af, short_name) case af: return #af;
		FAMILY_SERVED(FAMILY_CASE)
#undef FAMILY_CASE
	default:
		return NULL;
	}
}

const char *
family_short_name(int family)
{
	switch (family) {
#define FAMILY_CASE(af, short_name) case af: return short_name;
		FAMILY_SERVED(FAMILY_CASE)
#undef FAMILY_CASE
	default:
		return NULL;
	}
}
