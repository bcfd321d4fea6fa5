/*
 * live.c: the live sampled-allocation table (see live.h).
 */
#include "core/live.h"

#include <errno.h>
#include <string.h>

#include "core/arena.h"
#include "contracts/contracts.h"
#include "contracts/covmarks.h"
#include "peaktrace/fp.h"

#include "contracts/banned.h"

#define KEY_EMPTY ((uintptr_t)0)
#define KEY_TOMB ((uintptr_t)1)

static inline size_t slot_of(const struct pt_live *t, uintptr_t addr)
{
	uint64_t h = (uint64_t)addr;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (size_t)h & t->mask;
}

static inline size_t filter_of(uintptr_t addr)
{
	uint64_t h = (uint64_t)addr * 0x9e3779b97f4a7c15ULL;
	return (size_t)(h >> (64 - PT_LIVE_FILTER_LOG2));
}

/* What filter points to while no filter is mapped (before init, after
 * destroy): answers "not sampled" for every address, so the free fast path
 * needs no NULL check. Zero pages of .bss: nothing is written to it. */
atomic_uint_least8_t pt_live_no_filter[(size_t)1 << PT_LIVE_FILTER_LOG2];

int pt_live_init(struct pt_live *t, unsigned slots_log2)
{
	/* Frees in other threads read t->filter at any time: it goes from the
	 * empty filter to the new one in one store, never through NULL. */
	size_t n = (size_t)1 << slots_log2;
	struct pt_live_slot *slots = pt_map_zeroed(n * sizeof *slots);
	atomic_uint_least8_t *filter = pt_map_zeroed(sizeof *filter << PT_LIVE_FILTER_LOG2);
	if (!slots || !filter) {
		if (slots)
			pt_unmap(slots, n * sizeof *slots);
		if (filter)
			pt_unmap((void *)filter, sizeof *filter << PT_LIVE_FILTER_LOG2);
		return -ENOMEM;
	}
	t->slots = slots;
	t->all = false;
	atomic_store(&t->occupied, 0);
	atomic_store(&t->live, 0);
	t->mask = n - 1;
	t->limit = n - n / 4;
	t->filter = filter;
	return 0;
}

void pt_live_destroy(struct pt_live *t)
{
	if (t->slots)
		pt_unmap(t->slots, (t->mask + 1) * sizeof *t->slots);
	atomic_uint_least8_t *filter = t->filter;
	t->filter = pt_live_no_filter;
	if (filter && filter != pt_live_no_filter)
		pt_unmap((void *)filter, sizeof *filter << PT_LIVE_FILTER_LOG2);
	t->slots = NULL;
	t->mask = t->limit = 0;
	t->all = false;
	atomic_store(&t->occupied, 0);
	atomic_store(&t->live, 0);
}

static void fill_all(struct pt_live *t)
{
	for (size_t i = 0; i < (size_t)1 << PT_LIVE_FILTER_LOG2; i++)
		atomic_store_explicit(&t->filter[i], 1, memory_order_relaxed);
}

void pt_live_set_all(struct pt_live *t)
{
	if (!t->slots)
		return;
	t->all = true;
	fill_all(t);
}

void pt_live_reset(struct pt_live *t)
{
	if (!t->slots)
		return;
	pt_zero_mapping(t->slots, (t->mask + 1) * sizeof *t->slots);
	pt_zero_mapping((void *)t->filter, sizeof *t->filter << PT_LIVE_FILTER_LOG2);
	if (t->all)
		fill_all(t);
	atomic_store(&t->occupied, 0);
	atomic_store(&t->live, 0);
}

static void filter_add(struct pt_live *t, uintptr_t addr, int d)
{
	atomic_uint_least8_t *c = &t->filter[filter_of(addr)];
	uint_least8_t v = atomic_load_explicit(c, memory_order_relaxed);
	for (;;) {
		if (v == UINT8_MAX)
			return; /* saturated: stays "maybe" for good */
		if (d < 0 && v == 0)
			return;
		uint_least8_t nv = (uint_least8_t)(v + d);
		if (atomic_compare_exchange_weak_explicit(c, &v, nv, memory_order_relaxed,
							  memory_order_relaxed))
			return;
	}
}

int pt_live_insert(struct pt_live *t, uintptr_t addr, uint64_t val)
{
	if (!t->slots || addr <= KEY_TOMB || PT_FAIL(live_insert))
		return -ENOSPC;
	/* Count the filter first so a concurrent free of addr (impossible for a
	 * block not yet returned, but cheap to keep right) sees "maybe". */
	filter_add(t, addr, +1);
	size_t i = slot_of(t, addr);
	for (size_t probes = 0; probes <= t->mask; probes++, i = (i + 1) & t->mask) {
		struct pt_live_slot *s = &t->slots[i];
		uintptr_t k = atomic_load_explicit(&s->key, memory_order_acquire);
		if (k == addr) {
			/* stale entry: its free went unseen; reuse it */
			PT_MARK(live_stale_overwrite);
			atomic_store_explicit(&s->val, val, memory_order_relaxed);
			filter_add(t, addr, -1);
			return 0;
		}
		if (k == KEY_EMPTY) {
			if (atomic_load_explicit(&t->occupied, memory_order_relaxed) >= t->limit)
				break;
			if (atomic_compare_exchange_strong_explicit(&s->key, &k, addr,
								    memory_order_acq_rel,
								    memory_order_acquire)) {
				atomic_fetch_add_explicit(&t->occupied, 1, memory_order_relaxed);
				atomic_store_explicit(&s->val, val, memory_order_relaxed);
				atomic_fetch_add_explicit(&t->live, 1, memory_order_relaxed);
				return 0;
			}
			continue;
		}
		if (k == KEY_TOMB) {
			if (atomic_compare_exchange_strong_explicit(&s->key, &k, addr,
								    memory_order_acq_rel,
								    memory_order_acquire)) {
				PT_MARK(live_tombstone_reused);
				atomic_store_explicit(&s->val, val, memory_order_relaxed);
				atomic_fetch_add_explicit(&t->live, 1, memory_order_relaxed);
				return 0;
			}
			continue;
		}
	}
	PT_MARK(live_table_full);
	filter_add(t, addr, -1);
	return -ENOSPC;
}

bool pt_live_remove(struct pt_live *t, uintptr_t addr, uint64_t *val)
{
	if (!t->slots || addr <= KEY_TOMB)
		return false;
	size_t i = slot_of(t, addr);
	for (size_t probes = 0; probes <= t->mask; probes++, i = (i + 1) & t->mask) {
		struct pt_live_slot *s = &t->slots[i];
		uintptr_t k = atomic_load_explicit(&s->key, memory_order_acquire);
		if (k == KEY_EMPTY)
			return false;
		if (k != addr)
			continue;
		uint64_t v = atomic_load_explicit(&s->val, memory_order_relaxed);
		if (!atomic_compare_exchange_strong_explicit(&s->key, &k, KEY_TOMB,
							     memory_order_acq_rel,
							     memory_order_acquire))
			return false; /* someone else removed it */
		atomic_fetch_sub_explicit(&t->live, 1, memory_order_relaxed);
		filter_add(t, addr, -1);
		if (val)
			*val = v;
		return true;
	}
	return false;
}

bool pt_live_contains(struct pt_live *t, uintptr_t addr)
{
	if (!t->slots || addr <= KEY_TOMB)
		return false;
	size_t i = slot_of(t, addr);
	for (size_t probes = 0; probes <= t->mask; probes++, i = (i + 1) & t->mask) {
		uintptr_t k = atomic_load_explicit(&t->slots[i].key, memory_order_acquire);
		if (k == KEY_EMPTY)
			return false;
		if (k == addr)
			return true;
	}
	return false;
}
