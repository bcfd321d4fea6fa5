/*
 * arena.h: the runtime's own memory, from mmap, never from malloc.
 *
 * Two kinds of memory:
 *  - pt_map_zeroed(): a whole zeroed mapping (tables, rings, stacks), with
 *    MAP_NORESERVE so a large virtual reservation costs only the pages that
 *    are touched.
 *  - struct pt_arena: a lock-free bump allocator over one reserved region,
 *    for small long-lived metadata (interned stacks and strings). Nothing is
 *    ever freed individually; the whole arena goes at once (fork child reset
 *    or exit). Its ceiling bounds the runtime's memory: at the ceiling,
 *    allocation fails and the caller degrades (drops the sample).
 *
 * Every function is async-signal-safe and reentrancy-safe; none blocks.
 */
#ifndef PT_ARENA_H
#define PT_ARENA_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct pt_arena {
	uint8_t *base;          /* start of the reservation, NULL if none */
	size_t cap;             /* reserved bytes (the ceiling) */
	atomic_size_t used;     /* bytes handed out, may exceed cap on failure */
};

/* Maps len bytes of zeroed, private, anonymous memory; NULL on failure
 * (failpoint arena_map). */
void *pt_map_zeroed(size_t len);
void pt_unmap(void *p, size_t len);

/* Zeroes a mapping made by pt_map_zeroed by giving its pages back
 * (MADV_DONTNEED): cheap however large, untouched pages stay untouched. */
void pt_zero_mapping(void *p, size_t len);

/* Reserves cap bytes (rounded to pages). Returns 0 or -ENOMEM. */
int pt_arena_init(struct pt_arena *a, size_t cap);
/* Returns n bytes aligned to 16, or NULL at the ceiling. Lock-free. */
void *pt_arena_alloc(struct pt_arena *a, size_t n);
/* Drops every allocation (the pages are given back to the kernel). */
void pt_arena_reset(struct pt_arena *a);

#endif
