/*
 * maps.h: the anonymous mappings the program made through our mmap, as a
 * set of disjoint address ranges, for the "mapped bytes" count.
 *
 * A mapping is not only unmapped whole: programs and allocators (jemalloc,
 * Go-style runtimes, aligned mmap by over-allocating and trimming) unmap a
 * head, a tail or a hole, map over a range with MAP_FIXED, or unmap two
 * adjacent mappings with one call. Keyed by start address only, as the
 * live table is, none of that was seen (a peak of 64 MiB reported as 72,
 * 88, 96 or 128). Here every cut removes exactly the bytes it overlaps.
 *
 * A sorted array of ranges in one lazily touched mapping (PT_MAPS_CAP
 * ranges, 1 MiB of address space), under a spinlock: mmap and munmap are
 * system calls, not the allocator's fast path. Callers hold pt_tls.busy
 * around these calls, so a signal handler's mmap on the same thread passes
 * through instead of waiting for a lock its thread holds. Full: a new
 * range is not counted (and its munmap later changes nothing).
 */
#ifndef PT_MAPS_H
#define PT_MAPS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PT_MAPS_CAP 65536

struct pt_span {
	uintptr_t start, end; /* [start, end) */
};

struct pt_maps {
	struct pt_span *v;  /* sorted by start, disjoint */
	size_t n;
	atomic_flag lock;
};

int pt_maps_init(struct pt_maps *m);

/* Unmaps the set's array (a start-up that failed, single-threaded). */
void pt_maps_destroy(struct pt_maps *m);
/* Removes [start, start + len) from the set; returns the bytes it took
 * away (0: nothing of it was counted). */
uint64_t pt_maps_cut(struct pt_maps *m, uintptr_t start, size_t len);

/* Adds [start, start + len) after removing what of it was in the set
 * (*replaced: those bytes, MAP_FIXED over a mapping of ours); returns
 * false when the set is full (not counted). */
bool pt_maps_add(struct pt_maps *m, uintptr_t start, size_t len, uint64_t *replaced);

/* Moves what of [start, start + len) is in from into to (the ranges as
 * they are); returns the bytes taken out of from, and in *landed those put
 * into to (fewer when to is full). The sets are locked one after the
 * other, from first. */
uint64_t pt_maps_move(struct pt_maps *from, struct pt_maps *to, uintptr_t start,
		      size_t len, uint64_t *landed);

/* The bytes of [start, start + len) in the set. */
uint64_t pt_maps_covered(struct pt_maps *m, uintptr_t start, size_t len);

/* In a fork child (one thread): a lock another thread held is free. */
void pt_maps_fork_child(struct pt_maps *m);

#endif
