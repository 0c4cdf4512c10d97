/*
 * A map from 64-bit ids to pointers (open addressing, linear probing,
 * backward-shift deletion). Used for the handle table and the session table.
 * Id 0 is reserved as "empty" and cannot be stored. Not thread-safe: every
 * map lives on the reactor thread.
 */
#ifndef SOCKBROKER_IDMAP_H
#define SOCKBROKER_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap_slot {
	uint64_t id;
	void *value;
};

struct idmap {
	struct idmap_slot *slots;
	size_t capacity; /* a power of two, or 0 */
	size_t count;
};

/* An empty map; it allocates on first insert. */
void idmap_init(struct idmap *map);

/* Release the slots (not the values). */
void idmap_fini(struct idmap *map);

/* The value stored under id, or NULL. */
void *idmap_get(const struct idmap *map, uint64_t id);

/* Store value under id (replacing any). Returns 0, -EINVAL for id 0, or
 * -ENOMEM. */
int idmap_put(struct idmap *map, uint64_t id, void *value);

/* Remove id; returns the value it had, or NULL. */
void *idmap_remove(struct idmap *map, uint64_t id);

#endif
