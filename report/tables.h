/*
 * tables.h: small containers for the reporter (report/ and cli/ only, not
 * the runtime): they allocate with malloc.
 *
 *  - struct pt_arena: a bump allocator for strings and small arrays that
 *    live as long as a model; freed all at once. Allocations are 8-byte
 *    aligned.
 *  - struct pt_map: a hash map from u64 keys to u32 values (linear
 *    probing, load <= 3/4, backward-shift deletion, no tombstones), for
 *    ids and addresses taken from an untrusted trace: any key is fine,
 *    none is used as an index.
 *  - pt_grow / PT_GROW: doubling growth of a malloc'd array.
 *
 * Functions returning int give 0 or -ENOMEM; pointer-returning ones NULL
 * on ENOMEM. Not thread-safe.
 */
#ifndef PT_REPORT_TABLES_H
#define PT_REPORT_TABLES_H

#include <stddef.h>
#include <stdint.h>

struct pt_ablock;

struct pt_arena {
	struct pt_ablock *head;   /* NULL when empty; zero-init is valid */
};

void *pt_arena_alloc(struct pt_arena *a, size_t n);
/* p[0..n) copied, NUL added (p may be NULL when n == 0). */
char *pt_arena_strndup(struct pt_arena *a, const char *p, size_t n);
char *pt_arena_printf(struct pt_arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void pt_arena_free(struct pt_arena *a);

#define PT_MAP_NONE UINT32_MAX   /* "absent"; never stored as a value */

struct pt_map {
	uint64_t *keys;
	uint32_t *vals;          /* PT_MAP_NONE = empty slot */
	size_t cap, n;           /* cap a power of two, or 0; zero-init is valid */
};

uint32_t pt_map_get(const struct pt_map *m, uint64_t k);
/* Inserts or overwrites; v != PT_MAP_NONE. */
int pt_map_put(struct pt_map *m, uint64_t k, uint32_t v);
void pt_map_del(struct pt_map *m, uint64_t k);
void pt_map_free(struct pt_map *m);

/* Grows *arr (elements of sz bytes, *cap of them) so that index n is
 * valid. */
int pt_grow(void **arr, size_t *cap, size_t n, size_t sz);
#define PT_GROW(arr, cap, n) pt_grow((void **)&(arr), &(cap), (n), sizeof *(arr))

#endif
