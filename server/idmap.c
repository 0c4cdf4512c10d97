#include "idmap.h"

#include <errno.h>
#include <stdlib.h>

void
idmap_init(struct idmap *map)
{
	map->slots = NULL;
	map->capacity = 0;
	map->count = 0;
}

void
idmap_fini(struct idmap *map)
{
	free(map->slots);
	idmap_init(map);
}

static size_t
slot_of(uint64_t id, size_t capacity)
{
	/* Ids come from counters: mix them so that neighbours spread out. */
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return (size_t)id & (capacity - 1);
}

void *
idmap_get(const struct idmap *map, uint64_t id)
{
	if (map->capacity == 0 || id == 0)
		return NULL;
	for (size_t i = slot_of(id, map->capacity);; i = (i + 1) & (map->capacity - 1)) {
		if (map->slots[i].id == id)
			return map->slots[i].value;
		if (map->slots[i].id == 0)
			return NULL;
	}
}

static int
grow(struct idmap *map)
{
	size_t capacity = map->capacity ? map->capacity * 2 : 16;
	struct idmap_slot *slots = calloc(capacity, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < map->capacity; i++) {
		if (map->slots[i].id == 0)
			continue;
		size_t j = slot_of(map->slots[i].id, capacity);
		while (slots[j].id != 0)
			j = (j + 1) & (capacity - 1);
		slots[j] = map->slots[i];
	}
	free(map->slots);
	map->slots = slots;
	map->capacity = capacity;
	return 0;
}

int
idmap_put(struct idmap *map, uint64_t id, void *value)
{
	if (id == 0)
		return -EINVAL;
	/* Keep the load under 3/4 so probes stay short. */
	if ((map->count + 1) * 4 > map->capacity * 3) {
		int r = grow(map);
		if (r < 0)
			return r;
	}
	size_t i = slot_of(id, map->capacity);
	while (map->slots[i].id != 0 && map->slots[i].id != id)
		i = (i + 1) & (map->capacity - 1);
	if (map->slots[i].id == 0)
		map->count++;
	map->slots[i].id = id;
	map->slots[i].value = value;
	return 0;
}

void *
idmap_remove(struct idmap *map, uint64_t id)
{
	if (map->capacity == 0 || id == 0)
		return NULL;
	size_t mask = map->capacity - 1;
	size_t i = slot_of(id, map->capacity);
	while (map->slots[i].id != id) {
		if (map->slots[i].id == 0)
			return NULL;
		i = (i + 1) & mask;
	}
	void *value = map->slots[i].value;
	map->count--;
	/* Backward-shift: pull later members of the probe run into the hole so
	 * lookups never stop early at it. */
	size_t hole = i;
	for (size_t j = (i + 1) & mask; map->slots[j].id != 0; j = (j + 1) & mask) {
		size_t home = slot_of(map->slots[j].id, map->capacity);
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			map->slots[hole] = map->slots[j];
			hole = j;
		}
	}
	map->slots[hole].id = 0;
	map->slots[hole].value = NULL;
	return value;
}
