/* base/arena.c: bump allocator with a byte limit (see arena.h). */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct rt_arena_chunk {
	struct rt_arena_chunk *next;
	size_t size;  /* payload bytes */
	size_t used;
	_Alignas(16) unsigned char mem[];
};

void rt_arena_init(struct rt_arena *a, size_t chunk_size, size_t limit)
{
	a->head = NULL;
	a->used = 0;
	a->limit = limit;
	a->chunk_size = chunk_size ? chunk_size : 16384;
}

static void free_chain(struct rt_arena_chunk *c)
{
	while (c) {
		struct rt_arena_chunk *n = c->next;
		free(c);
		c = n;
	}
}

void rt_arena_fini(struct rt_arena *a)
{
	free_chain(a->head);
	a->head = NULL;
	a->used = 0;
}

void rt_arena_reset(struct rt_arena *a)
{
	/* Keep only a chunk of the default size: one huge request must not pin its memory. */
	if (a->head && a->head->size > a->chunk_size) {
		free_chain(a->head);
		a->head = NULL;
	}
	if (a->head) {
		free_chain(a->head->next);
		a->head->next = NULL;
		a->head->used = 0;
	}
	a->used = 0;
}

void *rt_arena_alloc(struct rt_arena *a, size_t n)
{
	size_t need = (n + 15) & ~(size_t)15;
	if (need < n) return NULL;
	if (a->limit && (need > a->limit || a->used > a->limit - need)) return NULL;
	struct rt_arena_chunk *c = a->head;
	if (!c || c->size - c->used < need) {
		size_t sz = need > a->chunk_size ? need : a->chunk_size;
		if (sz > SIZE_MAX - sizeof(*c)) return NULL;
		c = malloc(sizeof(*c) + sz);
		if (!c) return NULL;
		c->size = sz;
		c->used = 0;
		/* A big one-off allocation goes behind the head so the head's free space stays usable. */
		if (a->head && need > a->chunk_size) {
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
		}
	}
	void *p = c->mem + c->used;
	c->used += need;
	a->used += need;
	memset(p, 0, n);
	return p;
}

void *rt_arena_calloc(struct rt_arena *a, size_t count, size_t size)
{
	if (size && count > SIZE_MAX / size) return NULL;
	return rt_arena_alloc(a, count * size);
}

char *rt_arena_strndup(struct rt_arena *a, const char *s, size_t n)
{
	if (n == SIZE_MAX) return NULL;
	char *d = rt_arena_alloc(a, n + 1);
	if (!d) return NULL;
	memcpy(d, s, n);
	d[n] = 0;
	return d;
}
