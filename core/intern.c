/*
 * intern.c: the lock-free interner (see intern.h for the protocol).
 */
#include "core/intern.h"

#include <errno.h>
#include <string.h>

#include "contracts/contracts.h"
#include "contracts/covmarks.h"

#include "contracts/banned.h"

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ULL;
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ULL;
	x ^= x >> 32;
	return x;
}

uint64_t pt_hash_bytes(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ len;
	/* One multiply per word (a stack is up to 384 words, hashed for every
	 * sample: a full mix64 per word was 6% of exact mode's instructions on
	 * Python); the final mix64 spreads the result over the index bits. */
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = (h ^ w) * 0x9fb21c651e98df25ULL;
		h ^= h >> 32;
		p += 8;
		len -= 8;
	}
	uint64_t tail = 0;
	memcpy(&tail, p, len);
	return mix64(h ^ tail ^ ((uint64_t)len << 56));
}

int pt_intern_init(struct pt_intern *t, unsigned slots_log2, size_t arena_bytes)
{
	memset(t, 0, sizeof *t);
	size_t nslots = (size_t)1 << slots_log2;
	t->slots = pt_map_zeroed(nslots * sizeof *t->slots);
	if (!t->slots)
		return -ENOMEM;
	t->mask = nslots - 1;
	t->max_ids = (uint32_t)(nslots - nslots / 4 + 1);
	t->by_id = pt_map_zeroed((size_t)t->max_ids * sizeof *t->by_id);
	if (!t->by_id || pt_arena_init(&t->arena, arena_bytes) < 0) {
		pt_intern_destroy(t);
		return -ENOMEM;
	}
	atomic_store(&t->next_id, 1);
	return 0;
}

void pt_intern_destroy(struct pt_intern *t)
{
	if (t->slots)
		pt_unmap(t->slots, (t->mask + 1) * sizeof *t->slots);
	if (t->by_id)
		pt_unmap(t->by_id, (size_t)t->max_ids * sizeof *t->by_id);
	if (t->arena.base)
		pt_unmap(t->arena.base, t->arena.cap);
	memset(t, 0, sizeof *t);
}

void pt_intern_reset(struct pt_intern *t)
{
	if (!t->slots)
		return;
	pt_zero_mapping((void *)t->slots, (t->mask + 1) * sizeof *t->slots);
	pt_zero_mapping((void *)t->by_id, (size_t)t->max_ids * sizeof *t->by_id);
	pt_arena_reset(&t->arena);
	atomic_store(&t->next_id, 1);
	atomic_store(&t->count, 0);
}

static int blob_equal(const struct pt_blob *b, uint64_t h, const void *data,
		      uint32_t len)
{
	return b->hash == h && b->len == len && memcmp(b->data, data, len) == 0;
}

uint32_t pt_intern_put(struct pt_intern *t, const void *data, uint32_t len)
{
	if (!t->slots)
		return 0;
	uint64_t h = pt_hash_bytes(data, len);
	size_t i = (size_t)h & t->mask;
	struct pt_blob *mine = NULL;
	for (size_t probes = 0; probes <= t->mask; probes++, i = (i + 1) & t->mask) {
		struct pt_blob *b = atomic_load_explicit(&t->slots[i], memory_order_acquire);
		if (b) {
			if (blob_equal(b, h, data, len))
				return b->id;
			continue;
		}
		/* empty slot: insert here */
		if (!mine) {
			unsigned used = atomic_load_explicit(&t->count, memory_order_relaxed);
			if (used >= t->max_ids - 1) {
				PT_MARK(intern_full);
				return 0;
			}
			uint32_t id = atomic_fetch_add_explicit(&t->next_id, 1,
							      memory_order_relaxed);
			if (id >= t->max_ids) {
				PT_MARK(intern_full);
				return 0;
			}
			mine = pt_arena_alloc(&t->arena, sizeof *mine + len);
			if (!mine) {
				PT_MARK(intern_arena_full);
				return 0;
			}
			mine->hash = h;
			mine->len = len;
			mine->id = id;
			memcpy(mine->data, data, len);
			atomic_store_explicit(&t->by_id[id], mine, memory_order_release);
		}
		struct pt_blob *expected = NULL;
		if (atomic_compare_exchange_strong_explicit(&t->slots[i], &expected, mine,
							    memory_order_acq_rel,
							    memory_order_acquire)) {
			atomic_fetch_add_explicit(&t->count, 1, memory_order_relaxed);
			return mine->id;
		}
		PT_MARK(intern_lost_race);
		if (blob_equal(expected, h, data, len))
			return expected->id;
	}
	return 0;
}

const struct pt_blob *pt_intern_get(const struct pt_intern *t, uint32_t id)
{
	if (id == 0 || id >= t->max_ids || !t->by_id)
		return NULL;
	return atomic_load_explicit(&t->by_id[id], memory_order_acquire);
}
