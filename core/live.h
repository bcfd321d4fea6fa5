/*
 * live.h: the set of live sampled allocations, keyed by address.
 *
 * Every free() asks "was this block sampled?"; almost always the answer is
 * no, so the question must cost next to nothing. A counting filter (2^15
 * 8-bit counters indexed by a hash of the address, 32 KiB; a counter that
 * reaches 255 stays there, a permanent "maybe") answers "no"
 * for most unsampled blocks with one load from a small, cache-resident
 * array; only on a filter hit is the open-addressing table probed.
 *
 * Table: linear probing over slots {key, value}; key 0 = empty, 1 =
 * tombstone. Insert CASes an empty or tombstone slot to the address (an
 * address already present is overwritten in place: its earlier block was
 * freed through a path we did not see); remove CASes the key to a tombstone.
 * No lock anywhere; no allocation (the table is one mmap made at start-up).
 *
 * Bounded: inserts fail at 3/4 occupancy (live + tombstones) and the caller
 * counts the drop. Values: the mapping length in pt_g.maps, the sample's
 * weight in pt_g.live.
 *
 * Every function is async-signal-safe and reentrancy-safe; none blocks.
 */
#ifndef PT_LIVE_H
#define PT_LIVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PT_LIVE_FILTER_LOG2 15 /* 32 KiB of 8-bit counters: half of L1d or
				   less to compete with (it was 16-bit: the
				   largest source of L1 misses in Python churn) */

struct pt_live_slot {
	atomic_uintptr_t key;   /* address; 0 empty, 1 tombstone */
	atomic_uint_least64_t val;
};

struct pt_live {
	/* read-mostly: one cache line */
	_Alignas(64) struct pt_live_slot *slots; /* 2^k slots */
	size_t mask;
	size_t limit;               /* max occupied (live + tombstones) */
	bool all;                   /* exact mode: every block counts as sampled
				       (the filter is all ones) and the table
				       itself is not used */
	/* written by inserts and removes: another line */
	_Alignas(64) atomic_size_t occupied; /* slots ever taken (live + tombstones) */
	atomic_size_t live;         /* keys currently present */
	/* Read by every free. Inline, not mapped: its address is a link-time
	 * constant (one load on the free path, not two), and it is valid (all
	 * "no") before the table exists. Zero pages until a sample lands. */
	_Alignas(64) atomic_uint_least8_t filter[(size_t)1 << PT_LIVE_FILTER_LOG2];
};

#define PT_LIVE_INITIALIZER { .slots = NULL }

int pt_live_init(struct pt_live *t, unsigned slots_log2);
/* Exact mode: every address counts as sampled (the filter all ones). */
void pt_live_set_all(struct pt_live *t);
void pt_live_destroy(struct pt_live *t);
/* Empties the table (fork child). Not concurrent with other calls. */
void pt_live_reset(struct pt_live *t);

/* addr's counter in the filter (multiplicative hashing: the top bits). */
static inline size_t pt_live_filter_of(uintptr_t addr)
{
	uint64_t h = (uint64_t)addr * 0x9e3779b97f4a7c15ULL;
	return (size_t)(h >> (64 - PT_LIVE_FILTER_LOG2));
}

/* addr's home slot (a 64-bit finaliser: heap addresses differ in their
 * middle bits). */
static inline size_t pt_live_slot_of(const struct pt_live *t, uintptr_t addr)
{
	uint64_t h = (uint64_t)addr;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (size_t)h & t->mask;
}

/* Cheap pre-check: false means addr is certainly not in the table. */
static inline bool pt_live_maybe(const struct pt_live *t, uintptr_t addr)
{
	return atomic_load_explicit(&t->filter[pt_live_filter_of(addr)], memory_order_relaxed) != 0;
}

/* Starts loading addr's home slot and filter counter into the cache: a
 * sample calls this before it walks the stack, so the insert after the
 * walk finds both (random lines of an L2-sized table and of the filter)
 * already there.
 * Always inline: a function whose only effect is a prefetch is "const" to
 * gcc's IPA pure-const analysis, and a call to it that was not inlined
 * early is then deleted as dead. That had happened to every sampled
 * allocation's prefetch but the Python path's (gcc 12, -O2; ci/static.sh
 * checks the release library). */
static inline __attribute__((always_inline)) void pt_live_prefetch(const struct pt_live *t,
								   uintptr_t addr)
{
	if (t->slots) {
		__builtin_prefetch(&t->slots[pt_live_slot_of(t, addr)], 1);
		__builtin_prefetch(&t->filter[pt_live_filter_of(addr)], 1);
	}
}

/* Adds addr with val. Returns 0, or -ENOSPC when the table is full. */
int pt_live_insert(struct pt_live *t, uintptr_t addr, uint64_t val);
/* Removes addr; returns true and its value in *val when it was present. */
bool pt_live_remove(struct pt_live *t, uintptr_t addr, uint64_t *val);
/* True when addr is present (for tests). */
bool pt_live_contains(struct pt_live *t, uintptr_t addr);

#endif
