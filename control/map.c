/*
 * control/map.c: the chained hash map of map.h.  FNV-1a over the key bytes; buckets double when
 * the entry count passes the bucket count, so a lookup reads about one entry.
 */
#include "control/map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t hash_key(const void *key, size_t klen)
{
	const uint8_t *p = key;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < klen; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

void ctl_map_init(struct ctl_map *m)
{
	memset(m, 0, sizeof(*m));
}

void ctl_map_fini(struct ctl_map *m)
{
	for (size_t i = 0; i < m->nb; i++) {
		struct ctl_map_ent *e = m->b[i];
		while (e) {
			struct ctl_map_ent *n = e->next;
			free(e);
			e = n;
		}
	}
	free(m->b);
	memset(m, 0, sizeof(*m));
}

static struct ctl_map_ent **find(const struct ctl_map *m, const void *key, size_t klen, uint32_t h)
{
	if (!m->nb)
		return NULL;
	struct ctl_map_ent **pp = &m->b[h & (m->nb - 1)];
	for (; *pp; pp = &(*pp)->next) {
		struct ctl_map_ent *e = *pp;
		if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
			return pp;
	}
	return NULL;
}

void *ctl_map_get(const struct ctl_map *m, const void *key, size_t klen)
{
	struct ctl_map_ent **pp = find(m, key, klen, hash_key(key, klen));
	return pp ? (*pp)->value : NULL;
}

static int grow(struct ctl_map *m)
{
	size_t nb = m->nb ? m->nb * 2 : 16;
	struct ctl_map_ent **b = calloc(nb, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < m->nb; i++) {
		struct ctl_map_ent *e = m->b[i];
		while (e) {
			struct ctl_map_ent *n = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
			e = n;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
	return 0;
}

int ctl_map_put(struct ctl_map *m, const void *key, size_t klen, void *value, void **old)
{
	uint32_t h = hash_key(key, klen);
	struct ctl_map_ent **pp = find(m, key, klen, h);
	if (pp) {
		if (old)
			*old = (*pp)->value;
		(*pp)->value = value;
		return 0;
	}
	if (old)
		*old = NULL;
	if (m->n >= m->nb && grow(m))
		return -ENOMEM;
	struct ctl_map_ent *e = malloc(sizeof(*e) + klen + 1);
	if (!e)
		return -ENOMEM;
	e->value = value;
	e->hash = h;
	e->klen = (uint32_t)klen;
	memcpy(e->key, key, klen);
	e->key[klen] = 0;
	e->next = m->b[h & (m->nb - 1)];
	m->b[h & (m->nb - 1)] = e;
	m->n++;
	return 0;
}

void *ctl_map_del(struct ctl_map *m, const void *key, size_t klen)
{
	struct ctl_map_ent **pp = find(m, key, klen, hash_key(key, klen));
	if (!pp)
		return NULL;
	struct ctl_map_ent *e = *pp;
	void *v = e->value;
	*pp = e->next;
	free(e);
	m->n--;
	return v;
}

void ctl_map_iter_init(struct ctl_map_iter *it, struct ctl_map *m)
{
	it->m = m;
	it->bucket = 0;
	it->prev = NULL;
	it->cur = NULL;
}

void *ctl_map_next(struct ctl_map_iter *it)
{
	struct ctl_map *m = it->m;
	if (it->bucket >= m->nb)
		return NULL;
	if (it->cur)
		it->prev = &it->cur->next;
	else if (!it->prev)
		it->prev = &m->b[0];
	/* else the current entry was removed and *prev already names its successor */
	while (!*it->prev) {
		if (++it->bucket >= m->nb) {
			it->cur = NULL;
			return NULL;
		}
		it->prev = &m->b[it->bucket];
	}
	it->cur = *it->prev;
	return it->cur->value;
}

void ctl_map_iter_remove(struct ctl_map_iter *it)
{
	struct ctl_map_ent *e = it->cur;
	*it->prev = e->next;
	free(e);
	it->m->n--;
	it->cur = NULL;
}

void **ctl_map_values(struct ctl_map *m, size_t *n)
{
	*n = 0;
	if (!m->n)
		return NULL;
	void **v = malloc(m->n * sizeof(*v));
	if (!v)
		abort();
	struct ctl_map_iter it;
	void *x;
	ctl_map_iter_init(&it, m);
	while ((x = ctl_map_next(&it)))
		v[(*n)++] = x;
	return v;
}
