/*
 * test_maps.c: the set of mapped ranges (core/maps.c) against a page
 * bitmap model: random adds, cuts and moves between two sets, and each
 * call's byte count checked against what the model says changed; plus
 * the fixed shapes (hole, head, tail, span) and a full set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/maps.h"

#define PAGES 512
#define PG 4096u
#define BASE ((uintptr_t)1 << 40)

static uintptr_t at(unsigned page)
{
	return BASE + (uintptr_t)page * PG;
}

static uint64_t covered_pages(struct pt_maps *m)
{
	return pt_maps_covered(m, at(0), (size_t)PAGES * PG) / PG;
}

static void shapes(void **state)
{
	struct pt_maps m;
	uint64_t rep;
	(void)state;

	assert_int_equal(pt_maps_init(&m), 0);
	assert_true(pt_maps_add(&m, at(0), 64 * PG, &rep));
	assert_int_equal(rep, 0);
	assert_int_equal(pt_maps_cut(&m, at(16), 32 * PG), 32 * PG); /* hole */
	assert_int_equal(m.n, 2);
	assert_int_equal(pt_maps_cut(&m, at(0), 8 * PG), 8 * PG);    /* head */
	assert_int_equal(pt_maps_cut(&m, at(60), 4 * PG), 4 * PG);   /* tail */
	assert_int_equal(covered_pages(&m), 8 + 12);
	/* one cut over both pieces and the gap between them */
	assert_int_equal(pt_maps_cut(&m, at(0), 64 * PG), 20 * PG);
	assert_int_equal(m.n, 0);
	/* MAP_FIXED over part of a range: replaced bytes reported */
	assert_true(pt_maps_add(&m, at(0), 32 * PG, &rep));
	assert_true(pt_maps_add(&m, at(16), 32 * PG, &rep));
	assert_int_equal(rep, 16 * PG);
	assert_int_equal(covered_pages(&m), 48);
	/* a cut of nothing counted */
	assert_int_equal(pt_maps_cut(&m, at(100), 8 * PG), 0);
	/* a full set takes no more, and loses nothing it has */
	struct pt_maps f;
	assert_int_equal(pt_maps_init(&f), 0);
	assert_true(pt_maps_add(&f, BASE - 8 * PG, 3 * PG, &rep));
	for (unsigned i = 1; i < PT_MAPS_CAP; i++)
		assert_true(pt_maps_add(&f, BASE + (uintptr_t)i * 2 * PG, PG, &rep));
	assert_false(pt_maps_add(&f, BASE - 16 * PG, PG, &rep));
	assert_int_equal(pt_maps_covered(&f, BASE + 2 * PG, PG), PG);
	/* a hole in a full set: no room for the far side, which is dropped
	 * (uncounted) and reported with the hole */
	assert_int_equal(pt_maps_cut(&f, BASE - 7 * PG, PG), 2 * PG);
	assert_int_equal(pt_maps_covered(&f, BASE - 8 * PG, 3 * PG), PG);
}

static uint64_t rng = 0x243f6a8885a308d3ull;
static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* Random operations on two sets (counted, reserved) against a model. */
static void against_a_model(void **state)
{
	struct pt_maps a, b;
	static unsigned char ma[PAGES], mb[PAGES];
	(void)state;

	assert_int_equal(pt_maps_init(&a), 0);
	assert_int_equal(pt_maps_init(&b), 0);
	memset(ma, 0, sizeof ma);
	memset(mb, 0, sizeof mb);
	for (int step = 0; step < 20000; step++) {
		unsigned p = rnd(PAGES - 1), n = 1 + rnd(PAGES - p < 40 ? PAGES - p : 40);
		unsigned op = rnd(4);
		uint64_t want = 0, got, rep, landed;
		if (op == 0) {          /* add to a */
			for (unsigned i = p; i < p + n; i++) {
				want += ma[i];
				ma[i] = 1;
			}
			assert_true(pt_maps_add(&a, at(p), (size_t)n * PG, &rep));
			assert_int_equal(rep, want * PG);
		} else if (op == 1) {   /* cut from a */
			for (unsigned i = p; i < p + n; i++) {
				want += ma[i];
				ma[i] = 0;
			}
			got = pt_maps_cut(&a, at(p), (size_t)n * PG);
			assert_int_equal(got, want * PG);
		} else if (op == 2 || op == 3) { /* move a -> b or b -> a */
			unsigned char *from = op == 2 ? ma : mb, *to = op == 2 ? mb : ma;
			for (unsigned i = p; i < p + n; i++) {
				if (from[i]) {
					want++;
					from[i] = 0;
					to[i] = 1;
				}
			}
			got = op == 2 ? pt_maps_move(&a, &b, at(p), (size_t)n * PG, &landed)
				      : pt_maps_move(&b, &a, at(p), (size_t)n * PG, &landed);
			/* at most 16 pieces move in one call: compare what did */
			if (got != want * PG) {
				assert_true(got < want * PG);
				/* resync the model from the sets */
				for (unsigned i = 0; i < PAGES; i++) {
					ma[i] = pt_maps_covered(&a, at(i), PG) != 0;
					mb[i] = pt_maps_covered(&b, at(i), PG) != 0;
				}
			}
			assert_int_equal(landed, got);
		}
		uint64_t ca = 0, cb = 0;
		for (unsigned i = 0; i < PAGES; i++) {
			ca += ma[i];
			cb += mb[i];
		}
		assert_int_equal(covered_pages(&a), ca);
		assert_int_equal(covered_pages(&b), cb);
		/* ranges stay sorted and disjoint */
		for (size_t i = 1; i < a.n; i++)
			assert_true(a.v[i - 1].end <= a.v[i].start);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shapes),
		cmocka_unit_test(against_a_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
