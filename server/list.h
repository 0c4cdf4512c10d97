/*
 * Intrusive doubly-linked lists (the wl_list shape). A list head is a
 * `struct list` whose next/prev point at itself when empty; an element embeds
 * a `struct list` and is found again with list_entry(). Fields that are list
 * heads say which field of which struct links into them.
 */
#ifndef SOCKBROKER_LIST_H
#define SOCKBROKER_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "container.h"

struct list {
	struct list *prev;
	struct list *next;
};

#define list_entry(ptr, type, member) container_of(ptr, type, member)

static inline void
list_init(struct list *list)
{
	list->prev = list;
	list->next = list;
}

static inline bool
list_empty(const struct list *list)
{
	return list->next == list;
}

/* Whether an element is linked into some list (it must have been
 * list_init()ed or removed with list_remove()). */
static inline bool
list_linked(const struct list *elm)
{
	return elm->next != elm;
}

static inline void
list_insert_before(struct list *pos, struct list *elm)
{
	elm->next = pos;
	elm->prev = pos->prev;
	pos->prev->next = elm;
	pos->prev = elm;
}

static inline void
list_append(struct list *list, struct list *elm)
{
	list_insert_before(list, elm);
}

static inline void
list_remove(struct list *elm)
{
	elm->prev->next = elm->next;
	elm->next->prev = elm->prev;
	elm->next = elm;
	elm->prev = elm;
}

static inline struct list *
list_first(const struct list *list)
{
	return list_empty(list) ? NULL : list->next;
}

#define list_for_each_safe(pos, tmp, head) \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); \
	     (pos) = (tmp), (tmp) = (pos)->next)

#endif
