/*
 * intern.h: lock-free interning of byte strings (stacks, names, frames).
 *
 * Application threads intern what they sample (a call stack as an array of
 * u64 frames, a function or file name) and get back a small id; the writer
 * thread later looks the id up and writes the definition into the trace the
 * first time it sees the id. Nothing is ever removed.
 *
 * Structure: an open-addressing table of pointers to immutable blobs living
 * in a pt_arena, and an id -> blob array. Insertion allocates the blob, fills
 * it, publishes it in by_id (release) and then CASes it into an empty slot;
 * a thread that loses the CAS to an equal blob uses the winner's id (the
 * loser's id is simply never referenced). Readers (lookups, the writer)
 * need no lock.
 *
 * Bounded: at 3/4 load, or when the arena or the id space is exhausted,
 * pt_intern_put returns 0 and the caller degrades (the sample is recorded
 * against the "truncated" stack or dropped).
 *
 * All functions are async-signal-safe and reentrancy-safe; none blocks.
 */
#ifndef PT_INTERN_H
#define PT_INTERN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"

struct pt_blob {
	uint64_t hash;
	uint32_t id;            /* >= 1 */
	uint32_t len;           /* bytes in data */
	uint8_t data[];
};

struct pt_intern {
	_Atomic(struct pt_blob *) *slots; /* 2^k entries */
	size_t mask;                      /* slots - 1 */
	_Atomic(struct pt_blob *) *by_id; /* max_ids entries, [0] unused */
	uint32_t max_ids;
	atomic_uint next_id;              /* next id to hand out */
	atomic_uint count;                /* slots in use */
	struct pt_arena arena;            /* blob storage */
};

/* slots_log2: table size; arena_bytes: ceiling for blob storage.
 * Returns 0 or -ENOMEM. */
int pt_intern_init(struct pt_intern *t, unsigned slots_log2, size_t arena_bytes);
void pt_intern_destroy(struct pt_intern *t);
/* Empties the table (fork child). Not concurrent with other calls. */
void pt_intern_reset(struct pt_intern *t);
/* Returns the id of data[0..len), inserting it if new; 0 when full. */
uint32_t pt_intern_put(struct pt_intern *t, const void *data, uint32_t len);
/* The blob of id, or NULL if no such id was published. */
const struct pt_blob *pt_intern_get(const struct pt_intern *t, uint32_t id);

uint64_t pt_hash_bytes(const void *data, size_t len);

#endif
