/*
 * test_arith.c: property tests of contracts/arith.h against a naive model
 * in unsigned __int128 (SQLite's habit of checking against a model).
 *
 * For every operation (add, sub, mul; checked and saturating; size_t and
 * uint64_t) and 100,000 operand pairs each: the checked form reports
 * overflow exactly when the exact result leaves the type, and leaves the
 * result modulo 2^N; the saturating form clamps to 0 or the maximum. The
 * pairs mix edge values (0, 1, MAX, MAX-1, powers of two and their
 * neighbours) with random values of random bit length, so that products
 * land on both sides of the overflow boundary, not almost always above.
 * The seed is fixed (reproducible); PT_TEST_SEED overrides it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "contracts/arith.h"

#define PAIRS 100000

typedef unsigned __int128 u128;

static uint64_t rng_state;

/* splitmix64 */
static uint64_t next_u64(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* An operand for a type whose maximum is max (a 2^N - 1). */
static uint64_t pick(uint64_t max)
{
	unsigned bits = max == UINT64_MAX ? 64 : (unsigned)__builtin_popcountll(max);
	uint64_t r = next_u64();
	switch (r % 8) {
	case 0: {
		static const uint64_t small[] = { 0, 1, 2, 3 };
		return small[(r >> 8) % 4];
	}
	case 1: {
		uint64_t top[] = { max, max - 1, max - 2, max / 2, max / 2 + 1 };
		return top[(r >> 8) % 5];
	}
	case 2: { /* 2^k, 2^k - 1, 2^k + 1 */
		unsigned k = (unsigned)((r >> 8) % bits);
		uint64_t p = (uint64_t)1 << k;
		int d = (int)((r >> 16) % 3) - 1;
		return (p + (uint64_t)(int64_t)d) & max;
	}
	default: { /* random value of random bit length */
		unsigned len = 1 + (unsigned)((r >> 8) % bits);
		uint64_t v = next_u64();
		return len == 64 ? v : v & (((uint64_t)1 << len) - 1);
	}
	}
}

static const uint64_t edge_u64[] = {
	0, 1, 2, UINT64_MAX, UINT64_MAX - 1, (uint64_t)1 << 32,
	((uint64_t)1 << 32) - 1, ((uint64_t)1 << 32) + 1, (uint64_t)1 << 63,
	((uint64_t)1 << 63) - 1, ((uint64_t)1 << 63) + 1,
};
#define N_EDGE (sizeof edge_u64 / sizeof edge_u64[0])

/* Pair i of a run: first every pair of edge values, then random ones. */
static void pair(unsigned i, uint64_t max, uint64_t *a, uint64_t *b)
{
	if (i < N_EDGE * N_EDGE) {
		*a = edge_u64[i / N_EDGE] & max;
		*b = edge_u64[i % N_EDGE] & max;
		return;
	}
	*a = pick(max);
	*b = pick(max);
}

enum op { ADD, SUB, MUL };

/* The model: the exact result and whether it fits in [0, max]. */
static u128 exact(enum op op, uint64_t a, uint64_t b, int *below_zero)
{
	*below_zero = 0;
	switch (op) {
	case ADD:
		return (u128)a + b;
	case SUB:
		if (a < b) {
			*below_zero = 1;
			return 0;
		}
		return (u128)a - b;
	case MUL:
		return (u128)a * b;
	}
	return 0;
}

static uint64_t wrapped(enum op op, uint64_t a, uint64_t b, uint64_t max)
{
	u128 m = (u128)max + 1;
	switch (op) {
	case ADD:
		return (uint64_t)(((u128)a + b) % m);
	case SUB:
		return (uint64_t)(((u128)a + m - b) % m);
	case MUL:
		return (uint64_t)(((u128)a * b) % m);
	}
	return 0;
}

static void check_u64(enum op op)
{
	unsigned overflows = 0, fits = 0;
	for (unsigned i = 0; i < PAIRS; i++) {
		uint64_t a, b, got;
		pair(i, UINT64_MAX, &a, &b);
		int neg;
		u128 r = exact(op, a, b, &neg);
		bool over = neg || r > UINT64_MAX;
		bool ov;
		uint64_t sat;
		switch (op) {
		case ADD:
			ov = pt_add_overflow_u64(a, b, &got);
			sat = pt_add_sat_u64(a, b);
			break;
		case SUB:
			ov = pt_sub_overflow_u64(a, b, &got);
			sat = pt_sub_sat_u64(a, b);
			break;
		default:
			ov = pt_mul_overflow_u64(a, b, &got);
			sat = pt_mul_sat_u64(a, b);
			break;
		}
		if (ov != over || got != wrapped(op, a, b, UINT64_MAX) ||
		    sat != (neg ? 0 : over ? UINT64_MAX : (uint64_t)r))
			fail_msg("u64 op %d: a=%#llx b=%#llx: overflow %d (want %d), "
				 "result %#llx, saturated %#llx",
				 op, (unsigned long long)a, (unsigned long long)b,
				 ov, over, (unsigned long long)got,
				 (unsigned long long)sat);
		overflows += over;
		fits += !over;
	}
	/* The sample reaches both sides of the boundary. */
	assert_true(overflows > PAIRS / 50);
	assert_true(fits > PAIRS / 50);
}

static void check_sz(enum op op)
{
	unsigned overflows = 0, fits = 0;
	for (unsigned i = 0; i < PAIRS; i++) {
		uint64_t a64, b64;
		pair(i, SIZE_MAX, &a64, &b64);
		size_t a = (size_t)a64, b = (size_t)b64, got, sat;
		int neg;
		u128 r = exact(op, a, b, &neg);
		bool over = neg || r > SIZE_MAX;
		bool ov;
		switch (op) {
		case ADD:
			ov = pt_add_overflow_sz(a, b, &got);
			sat = pt_add_sat_sz(a, b);
			break;
		case SUB:
			ov = pt_sub_overflow_sz(a, b, &got);
			sat = pt_sub_sat_sz(a, b);
			break;
		default:
			ov = pt_mul_overflow_sz(a, b, &got);
			sat = pt_mul_sat_sz(a, b);
			break;
		}
		if (ov != over || got != wrapped(op, a, b, SIZE_MAX) ||
		    sat != (neg ? 0 : over ? SIZE_MAX : (size_t)r))
			fail_msg("size_t op %d: a=%#zx b=%#zx: overflow %d (want %d), "
				 "result %#zx, saturated %#zx",
				 op, a, b, ov, over, got, sat);
		overflows += over;
		fits += !over;
	}
	assert_true(overflows > PAIRS / 50);
	assert_true(fits > PAIRS / 50);
}

static int seed_setup(void **state)
{
	(void)state;
	const char *s = getenv("PT_TEST_SEED");
	rng_state = s ? strtoull(s, NULL, 0) : 0x5eed5eed12345678ULL;
	return 0;
}

static void test_add_u64(void **state)
{
	(void)state;
	check_u64(ADD);
}

static void test_sub_u64(void **state)
{
	(void)state;
	check_u64(SUB);
}

static void test_mul_u64(void **state)
{
	(void)state;
	check_u64(MUL);
}

static void test_add_sz(void **state)
{
	(void)state;
	check_sz(ADD);
}

static void test_sub_sz(void **state)
{
	(void)state;
	check_sz(SUB);
}

static void test_mul_sz(void **state)
{
	(void)state;
	check_sz(MUL);
}

/* A few exact answers, so a bug in the model cannot hide one in the code. */
static void test_known_answers(void **state)
{
	(void)state;
	uint64_t r;
	size_t z;
	assert_false(pt_add_overflow_u64(UINT64_MAX - 1, 1, &r));
	assert_true(r == UINT64_MAX);
	assert_true(pt_add_overflow_u64(UINT64_MAX, 1, &r));
	assert_true(r == 0);
	assert_true(pt_sub_overflow_u64(0, 1, &r));
	assert_true(r == UINT64_MAX);
	assert_true(pt_mul_overflow_u64((uint64_t)1 << 32, (uint64_t)1 << 32, &r));
	assert_true(r == 0);
	assert_false(pt_mul_overflow_u64(((uint64_t)1 << 32) - 1,
					 ((uint64_t)1 << 32) + 1, &r));
	assert_true(r == UINT64_MAX);
	assert_true(pt_mul_sat_sz(SIZE_MAX / 2 + 1, 2) == SIZE_MAX);
	assert_true(pt_mul_sat_sz(SIZE_MAX / 2, 2) == SIZE_MAX - 1);
	assert_true(pt_sub_sat_sz(3, 5) == 0);
	assert_true(pt_add_sat_sz(SIZE_MAX, SIZE_MAX) == SIZE_MAX);
	assert_true(pt_add_sat_u64(0, 0) == 0);
	assert_false(pt_mul_overflow_sz(0, SIZE_MAX, &z));
	assert_true(z == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_add_u64, seed_setup),
		cmocka_unit_test_setup(test_sub_u64, seed_setup),
		cmocka_unit_test_setup(test_mul_u64, seed_setup),
		cmocka_unit_test_setup(test_add_sz, seed_setup),
		cmocka_unit_test_setup(test_sub_sz, seed_setup),
		cmocka_unit_test_setup(test_mul_sz, seed_setup),
		cmocka_unit_test(test_known_answers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
