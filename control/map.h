/*
 * control/map.h: a hash map from byte-string keys to borrowed pointers, for the control
 * process's registries (groups by id, offsets by topic and partition).
 *
 * Separate chaining, power-of-two bucket count, doubled when the load passes 1.  The map owns a
 * copy of each key and never the values: whoever puts a value removes and frees it.  Iteration
 * order is unspecified and an iteration must not insert or remove (except through
 * ctl_map_iter_remove on the current entry).
 */
#ifndef CTL_MAP_H
#define CTL_MAP_H

#include <stddef.h>
#include <stdint.h>

struct ctl_map_ent {
	struct ctl_map_ent *next;
	void *value;                  /* borrowed */
	uint32_t hash;
	uint32_t klen;
	uint8_t key[];                /* owned copy, klen bytes then a NUL */
};

struct ctl_map {
	struct ctl_map_ent **b;       /* owned bucket array */
	size_t nb;                    /* bucket count, 0 or a power of two */
	size_t n;                     /* entries */
};

struct ctl_map_iter {
	struct ctl_map *m;
	size_t bucket;
	struct ctl_map_ent **prev;    /* link that points at the current entry */
	struct ctl_map_ent *cur;
};

/* Embedded lifetime; ctl_map_fini frees the entries, not the values. */
void ctl_map_init(struct ctl_map *m);
void ctl_map_fini(struct ctl_map *m);

/* The value stored under key, or NULL. */
void *ctl_map_get(const struct ctl_map *m, const void *key, size_t klen);

/* Stores value under key (replacing and returning any previous value through *old when given).
 * Returns 0 or -ENOMEM. */
int ctl_map_put(struct ctl_map *m, const void *key, size_t klen, void *value, void **old);

/* Removes key; returns the value that was stored, or NULL. */
void *ctl_map_del(struct ctl_map *m, const void *key, size_t klen);

/* Iteration: ctl_map_iter_init, then ctl_map_next until it returns NULL (the value; the key is
 * it->cur->key).  ctl_map_iter_remove unlinks the current entry and keeps the walk valid. */
void ctl_map_iter_init(struct ctl_map_iter *it, struct ctl_map *m);
void *ctl_map_next(struct ctl_map_iter *it);
void ctl_map_iter_remove(struct ctl_map_iter *it);

/* The values stored now, for a walk that may add or remove entries as it goes (a group that
 * rebalances or goes away).  Returns an owned array (free it) of *n values, NULL when the map is
 * empty; aborts when out of memory, as the control process does for its own bookkeeping. */
void **ctl_map_values(struct ctl_map *m, size_t *n);

static inline size_t ctl_map_size(const struct ctl_map *m) { return m->n; }

#endif
