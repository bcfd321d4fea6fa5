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


static void filter_zero(struct pt_live *t)
{
	for (size_t i = 0; i < (size_t)1 << PT_LIVE_FILTER_LOG2; i++)
		atomic_store_explicit(&t->filter[i], 0, memory_order_relaxed);
}

static void fill_all(struct pt_live *t)
{
	for (size_t i = 0; i < (size_t)1 << PT_LIVE_FILTER_LOG2; i++)
		atomic_store_explicit(&t->filter[i], 1, memory_order_relaxed);
}

int pt_live_init(struct pt_live *t, unsigned slots_log2)
{
	size_t n = (size_t)1 << slots_log2;
	struct pt_live_slot *slots = pt_map_zeroed(n * sizeof *slots);
	if (!slots)
		return -ENOMEM;
	t->all = false;
	atomic_store(&t->occupied, 0);
	atomic_store(&t->live, 0);
	t->mask = n - 1;
	t->limit = n - n / 4;
	t->slots = slots;
	return 0;
}

void pt_live_destroy(struct pt_live *t)
{
	if (t->slots)
		pt_unmap(t->slots, (t->mask + 1) * sizeof *t->slots);
	filter_zero(t);
	t->slots = NULL;
	t->mask = t->limit = 0;
	t->all = false;
	atomic_store(&t->occupied, 0);
	atomic_store(&t->live, 0);
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
	if (t->all)
		fill_all(t);
	else
		filter_zero(t);
	atomic_store(&t->occupied, 0);
	atomic_store(&t->live, 0);
}

static void filter_add(struct pt_live *t, uintptr_t addr, int d)
{
	atomic_uint_least8_t *c = &t->filter[pt_live_filter_of(addr)];
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

/* Slot i has just become a tombstone. When the slot after it is empty, no
 * key of this cluster lies beyond i (a key is always placed before the
 * first empty slot on its probe path), so i and the tombstones right before
 * it go back to empty, right to left. Without this a table under steady
 * churn fills with tombstones until every insert that meets an empty slot
 * first fails (a quarter of all samples at the 3/4 limit).
 *
 * The race with an insert that probed slot i while it still held the
 * removed key and then took the empty slot after it is closed from both
 * sides (Dekker style, sequentially consistent): the insert re-reads its
 * path after placing its key (place() below) and this re-reads the next
 * slot after emptying i; whichever comes second sees the other and undoes.
 * Left open: a lookup of that new key in the few instructions between our
 * emptying i and putting it back would miss it, leaving a stale live entry
 * (overwritten by its address's next sample). It needs the block freed by
 * another thread before its malloc has returned a handful of instructions
 * earlier. */
static void reclaim(struct pt_live *t, size_t i)
{
	for (size_t n = 0; n <= t->mask; n++) {
		size_t next = (i + 1) & t->mask;
		struct pt_live_slot *s = &t->slots[i];
		if (atomic_load_explicit(&t->slots[next].key, memory_order_acquire) != KEY_EMPTY)
			return;
		uintptr_t k = KEY_TOMB;
		/* seq_cst: this store and the load of next below pair with the
		 * insert's placing CAS and its re-read of the path (place()) */
		if (!atomic_compare_exchange_strong_explicit(&s->key, &k, KEY_EMPTY, memory_order_seq_cst,
							     memory_order_acquire))
			return; /* a live key (or reused meanwhile): the cluster goes on */
		atomic_fetch_sub_explicit(&t->occupied, 1, memory_order_relaxed);
		if (atomic_load_explicit(&t->slots[next].key, memory_order_seq_cst) != KEY_EMPTY) {
			PT_MARK(live_reclaim_raced);
			uintptr_t e = KEY_EMPTY;
			if (atomic_compare_exchange_strong_explicit(&s->key, &e, KEY_TOMB,
								    memory_order_acq_rel,
								    memory_order_acquire))
				atomic_fetch_add_explicit(&t->occupied, 1, memory_order_relaxed);
			return;
		}
		PT_MARK(live_tombstone_reclaimed);
		i = (i - 1) & t->mask;
	}
}

enum { PLACED, REPLACED, FULL, RETRY };

/* One attempt to put addr into the table (see pt_live_insert). */
static int place(struct pt_live *t, uintptr_t addr, uint64_t val)
{
	size_t h = pt_live_slot_of(t, addr), i = h;
	for (size_t probes = 0; probes <= t->mask; probes++, i = (i + 1) & t->mask) {
		struct pt_live_slot *s = &t->slots[i];
		uintptr_t k = atomic_load_explicit(&s->key, memory_order_acquire);
		if (k == addr) {
			/* stale entry: its free went unseen; reuse it */
			PT_MARK(live_stale_overwrite);
			atomic_store_explicit(&s->val, val, memory_order_relaxed);
			return REPLACED;
		}
		if (k == KEY_EMPTY) {
			if (atomic_load_explicit(&t->occupied, memory_order_relaxed) >= t->limit)
				return FULL;
			if (!atomic_compare_exchange_strong_explicit(&s->key, &k, addr,
								     memory_order_seq_cst,
								     memory_order_acquire))
				continue;
			atomic_fetch_add_explicit(&t->occupied, 1, memory_order_relaxed);
		} else if (k == KEY_TOMB) {
			if (!atomic_compare_exchange_strong_explicit(&s->key, &k, addr,
								     memory_order_seq_cst,
								     memory_order_acquire))
				continue;
			PT_MARK(live_tombstone_reused);
		} else {
			continue;
		}
		atomic_store_explicit(&s->val, val, memory_order_relaxed);
		/* A lookup stops at the first empty slot: if a reclaim emptied
		 * one on our path while we probed, take the key out and retry. */
		for (size_t j = h; j != i; j = (j + 1) & t->mask) {
			if (atomic_load_explicit(&t->slots[j].key, memory_order_seq_cst) == KEY_EMPTY) {
				PT_MARK(live_insert_raced);
				uintptr_t mine = addr;
				if (atomic_compare_exchange_strong_explicit(&s->key, &mine, KEY_TOMB,
									    memory_order_acq_rel,
									    memory_order_acquire))
					reclaim(t, i);
				return RETRY;
			}
		}
		atomic_fetch_add_explicit(&t->live, 1, memory_order_relaxed);
		return PLACED;
	}
	return FULL;
}

int pt_live_insert(struct pt_live *t, uintptr_t addr, uint64_t val)
{
	if (!t->slots || addr <= KEY_TOMB || PT_FAIL(live_insert))
		return -ENOSPC;
	/* Count the filter first so a concurrent free of addr (impossible for a
	 * block not yet returned, but cheap to keep right) sees "maybe". */
	filter_add(t, addr, +1);
	for (int attempt = 0; attempt < 16; attempt++) {
		switch (place(t, addr, val)) {
		case PLACED:
			return 0;
		case REPLACED:
			filter_add(t, addr, -1);
			return 0;
		case FULL:
			attempt = 16;
			break;
		default:
			break;
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
	size_t i = pt_live_slot_of(t, addr);
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
		reclaim(t, i);
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
	size_t i = pt_live_slot_of(t, addr);
	for (size_t probes = 0; probes <= t->mask; probes++, i = (i + 1) & t->mask) {
		uintptr_t k = atomic_load_explicit(&t->slots[i].key, memory_order_acquire);
		if (k == KEY_EMPTY)
			return false;
		if (k == addr)
			return true;
	}
	return false;
}
