/*
 * test_live.c: the live table of sampled allocations (core/live.c).
 *
 * What the free fast path relies on: the filter never says "not sampled"
 * for an address in the table; it never needs a NULL check (a table not
 * mapped yet, or destroyed, answers "no" through the empty filter); exact
 * mode answers "maybe" for every address, also after a fork child's reset;
 * removals return each sample's value once; a full table refuses inserts
 * without leaving stale filter counts; concurrent inserts and removes of
 * distinct addresses leave it empty; a filter counter shared by more
 * live entries than it can count saturates and never wraps to "no".
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/live.h"
#include "core/sampler.h"

static uintptr_t addr_of(uint64_t *rng)
{
	return (uintptr_t)(pt_rng_next(rng) & 0x7ffffffffff0ULL) | 0x10000;
}

static size_t maybes(const struct pt_live *t, uint64_t seed, size_t n)
{
	size_t hits = 0;
	for (size_t i = 0; i < n; i++)
		hits += pt_live_maybe(t, addr_of(&seed));
	return hits;
}

static void unmapped_table_says_no(void **state)
{
	(void)state;
	struct pt_live t = PT_LIVE_INITIALIZER;
	assert_int_equal(maybes(&t, 7, 100000), 0);
	assert_int_equal(pt_live_insert(&t, 0x1000, 1), -ENOSPC);
	assert_false(pt_live_remove(&t, 0x1000, NULL));
	pt_live_set_all(&t); /* no table: stays "no" */
	assert_int_equal(maybes(&t, 7, 1000), 0);
}

static void insert_then_remove(void **state)
{
	(void)state;
	struct pt_live t = PT_LIVE_INITIALIZER;
	assert_int_equal(pt_live_init(&t, 14), 0);
	uint64_t rng = 42;
	enum { N = 5000 };
	static uintptr_t a[N];
	for (size_t i = 0; i < N; i++) {
		a[i] = addr_of(&rng);
		assert_int_equal(pt_live_insert(&t, a[i], i + 1), 0);
	}
	for (size_t i = 0; i < N; i++) {
		assert_true(pt_live_maybe(&t, a[i])); /* never a false "no" */
		assert_true(pt_live_contains(&t, a[i]));
	}
	/* 5000 entries in 32768 counters: most other addresses still say no */
	size_t fp = maybes(&t, 99, 100000);
	assert_true(fp < 100000 / 5);
	for (size_t i = 0; i < N; i++) {
		uint64_t v = 0;
		assert_true(pt_live_remove(&t, a[i], &v));
		assert_int_equal(v, i + 1);
		assert_false(pt_live_remove(&t, a[i], &v)); /* once only */
	}
	assert_int_equal(maybes(&t, 99, 100000), 0); /* no count left behind */
	assert_int_equal(atomic_load(&t.live), 0);
	pt_live_destroy(&t);
	assert_int_equal(maybes(&t, 99, 1000), 0); /* destroyed: the empty filter */
}

static void full_table_refuses_cleanly(void **state)
{
	(void)state;
	struct pt_live t = PT_LIVE_INITIALIZER;
	assert_int_equal(pt_live_init(&t, 6), 0); /* 64 slots, 48 usable */
	uint64_t rng = 5;
	uintptr_t a[64];
	size_t ok = 0;
	for (size_t i = 0; i < 64; i++) {
		a[i] = addr_of(&rng);
		if (pt_live_insert(&t, a[i], 1) == 0)
			ok++;
		else
			assert_false(pt_live_contains(&t, a[i]));
	}
	assert_int_equal(ok, 48);
	for (size_t i = 0; i < 64; i++)
		pt_live_remove(&t, a[i], NULL);
	assert_int_equal(maybes(&t, 5, 64), 0); /* refused inserts left no count */
	pt_live_destroy(&t);
}

static void exact_mode_says_maybe_always(void **state)
{
	(void)state;
	struct pt_live t = PT_LIVE_INITIALIZER;
	assert_int_equal(pt_live_init(&t, 10), 0);
	pt_live_set_all(&t);
	assert_int_equal(maybes(&t, 3, 100000), 100000);
	pt_live_reset(&t); /* a fork child: still every address */
	assert_int_equal(maybes(&t, 4, 100000), 100000);
	pt_live_destroy(&t);
	assert_int_equal(maybes(&t, 4, 1000), 0);
}

static void reset_empties(void **state)
{
	(void)state;
	struct pt_live t = PT_LIVE_INITIALIZER;
	assert_int_equal(pt_live_init(&t, 10), 0);
	uint64_t rng = 11;
	for (int i = 0; i < 300; i++)
		assert_int_equal(pt_live_insert(&t, addr_of(&rng), 1), 0);
	pt_live_reset(&t);
	assert_int_equal(maybes(&t, 11, 300), 0);
	assert_int_equal(atomic_load(&t.live), 0);
	pt_live_destroy(&t);
}

static size_t filter_index(uintptr_t addr)
{
	uint64_t h = (uint64_t)addr * 0x9e3779b97f4a7c15ULL; /* as live.h */
	return (size_t)(h >> (64 - PT_LIVE_FILTER_LOG2));
}

static void saturated_counter_never_says_no(void **state)
{
	(void)state;
	enum { N = 300 }; /* more than an 8-bit counter holds */
	static uintptr_t same[N];
	uint64_t rng = 2024;
	uintptr_t first = addr_of(&rng);
	size_t want = filter_index(first), n = 0;
	same[n++] = first;
	while (n < N) {
		uintptr_t a = addr_of(&rng);
		if (filter_index(a) == want)
			same[n++] = a;
	}
	struct pt_live t = PT_LIVE_INITIALIZER;
	assert_int_equal(pt_live_init(&t, 12), 0);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(pt_live_insert(&t, same[i], 1), 0);
	for (size_t i = 0; i < N; i++)
		assert_true(pt_live_maybe(&t, same[i]));
	/* removing all but the last: had the counter wrapped at 256, it would
	 * now read 0 with an entry still live */
	for (size_t i = 0; i + 1 < N; i++)
		assert_true(pt_live_remove(&t, same[i], NULL));
	assert_true(pt_live_maybe(&t, same[N - 1]));
	assert_true(pt_live_remove(&t, same[N - 1], NULL));
	pt_live_destroy(&t);
}

struct worker {
	struct pt_live *t;
	uint64_t seed;
	size_t bad;
};

static void *churn(void *arg)
{
	struct worker *w = arg;
	enum { WIN = 256, ROUNDS = 200000 };
	uintptr_t win[WIN] = { 0 };
	uint64_t rng = w->seed;
	for (size_t r = 0; r < ROUNDS; r++) {
		size_t k = (size_t)(pt_rng_next(&rng) % WIN);
		if (win[k]) {
			if (!pt_live_maybe(w->t, win[k]) || !pt_live_remove(w->t, win[k], NULL))
				w->bad++;
		}
		/* distinct per thread: the low bits carry the seed */
		win[k] = (addr_of(&rng) & ~(uintptr_t)0xff0) | (uintptr_t)(w->seed << 4);
		if (pt_live_insert(w->t, win[k], r) != 0)
			win[k] = 0;
	}
	for (size_t k = 0; k < WIN; k++)
		if (win[k] && !pt_live_remove(w->t, win[k], NULL))
			w->bad++;
	return NULL;
}

static void concurrent_churn(void **state)
{
	(void)state;
	struct pt_live t = PT_LIVE_INITIALIZER;
	assert_int_equal(pt_live_init(&t, 16), 0);
	struct worker w[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .t = &t, .seed = (uint64_t)i + 1 };
		assert_int_equal(pthread_create(&th[i], NULL, churn, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].bad, 0);
	}
	assert_int_equal(atomic_load(&t.live), 0);
	assert_int_equal(maybes(&t, 77, 100000), 0);
	pt_live_destroy(&t);
}

/* A table under steady churn must keep accepting samples: freed slots come
 * back (tombstones at the end of a cluster are reclaimed), so a live set of
 * a quarter of the slots (where the writer starts coarsening the sampling)
 * never makes inserts fail, however long the run. Without reclaiming, the
 * tombstones fill the table within a few thousand rounds. */
static void steady_churn_never_fills(void **state)
{
	(void)state;
	struct pt_live t = PT_LIVE_INITIALIZER;
	assert_int_equal(pt_live_init(&t, 10), 0); /* 1024 slots, 768 usable */
	enum { WINDOW = 256 };
	uintptr_t win[WINDOW];
	uint64_t rng = 99;
	for (size_t i = 0; i < WINDOW; i++) {
		win[i] = addr_of(&rng);
		assert_int_equal(pt_live_insert(&t, win[i], 1), 0);
	}
	for (size_t i = 0; i < 200000; i++) {
		size_t k = (size_t)(pt_rng_next(&rng) % WINDOW);
		assert_true(pt_live_remove(&t, win[k], NULL));
		win[k] = addr_of(&rng);
		assert_int_equal(pt_live_insert(&t, win[k], 1), 0);
		assert_true(atomic_load(&t.occupied) <= t.limit);
	}
	for (size_t i = 0; i < WINDOW; i++)
		assert_true(pt_live_contains(&t, win[i]));
	for (size_t i = 0; i < WINDOW; i++)
		assert_true(pt_live_remove(&t, win[i], NULL));
	/* every slot is empty again, not a tombstone */
	assert_int_equal(atomic_load(&t.occupied), 0);
	assert_int_equal(atomic_load(&t.live), 0);
	pt_live_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unmapped_table_says_no),
		cmocka_unit_test(insert_then_remove),
		cmocka_unit_test(full_table_refuses_cleanly),
		cmocka_unit_test(steady_churn_never_fills),
		cmocka_unit_test(exact_mode_says_maybe_always),
		cmocka_unit_test(reset_empties),
		cmocka_unit_test(concurrent_churn),
		cmocka_unit_test(saturated_counter_never_says_no),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
