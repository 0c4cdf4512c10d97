/*
 * container: the struct that embeds a member, from a pointer to that member (the kernel's
 * container_of). Callbacks of the reactor, the handle table and the lists get a pointer to
 * the member they registered and find their object with it. Header only.
 */
#ifndef SOCKBROKER_CONTAINER_H
#define SOCKBROKER_CONTAINER_H

#include <stddef.h>

/* The `type` whose field `member` is at `ptr`. */
#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#endif
