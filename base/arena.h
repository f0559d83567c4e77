/*
 * base/arena.h: a bump allocator for one request's lifetime (nginx's pool, per request).
 *
 * Decoders take arrays and other per-request objects from an arena; everything is released at
 * once by rt_arena_reset or rt_arena_fini.  `limit` bounds the total bytes an arena hands out,
 * so a hostile frame that claims a billion array elements gets NULL, never a huge allocation.
 * Not thread-safe: an arena belongs to the shard that created it.
 */
#ifndef RT_ARENA_H
#define RT_ARENA_H

#include <stddef.h>

struct rt_arena_chunk;

struct rt_arena {
	struct rt_arena_chunk *head;  /* newest chunk first; owned */
	size_t used;                  /* bytes handed out since the last reset */
	size_t limit;                 /* at most this many bytes handed out; 0 = unbounded */
	size_t chunk_size;            /* default chunk payload size */
};

/* Embedded lifetime.  chunk_size 0 picks a default (16 KiB). */
void rt_arena_init(struct rt_arena *a, size_t chunk_size, size_t limit);
void rt_arena_fini(struct rt_arena *a);

/* Frees every allocation at once; keeps one chunk of the default size for reuse. */
void rt_arena_reset(struct rt_arena *a);

/* Returns n bytes aligned to 16, zeroed; NULL when over the limit or out of memory.
 * The memory is owned by the arena. */
void *rt_arena_alloc(struct rt_arena *a, size_t n);

/* rt_arena_alloc(count * size) with an overflow check. */
void *rt_arena_calloc(struct rt_arena *a, size_t count, size_t size);

/* Copies n bytes into the arena (and a trailing NUL); returns the copy or NULL. */
char *rt_arena_strndup(struct rt_arena *a, const char *s, size_t n);

#endif
