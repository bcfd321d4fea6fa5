/*
 * test_sampler.c: the sampling estimates are unbiased at every size.
 *
 * Simulates a thread's countdown exactly as the runtime runs it (draw,
 * subtract each request, sample when it reaches zero, weight by
 * pt_sampler_weight, draw again) over many allocations of one size, and
 * compares the sum of sample weights with the true total. Sizes: far below
 * the interval S, at S, and far above it; for each the estimate must be
 * within a bound of several standard errors (computed, not guessed), and
 * a "weight n when n >= S" rule is shown to be biased at n = S.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/sampler.h"

struct outcome {
	double truth;     /* bytes allocated */
	double estimate;  /* sum of weights of the samples */
	double naive;     /* the same with weight n for n >= S (a known bug) */
	double samples;
};

static struct outcome simulate(uint64_t n, uint64_t S, uint64_t count, uint64_t seed)
{
	struct outcome o = { 0 };
	uint64_t rng = seed;
	int64_t countdown = pt_sampler_draw(&rng, S);
	for (uint64_t i = 0; i < count; i++) {
		o.truth += (double)n;
		countdown -= (int64_t)n;
		if (countdown > 0)
			continue;
		countdown = pt_sampler_draw(&rng, S);
		o.estimate += (double)pt_sampler_weight(n, S);
		o.naive += n >= S ? (double)n : (double)pt_sampler_weight(n, S);
		o.samples++;
	}
	return o;
}

/* Relative standard error of the Horvitz-Thompson total for count
 * allocations of n bytes each sampled with p = 1 - exp(-n/S). */
static double rel_se(uint64_t n, uint64_t S, uint64_t count)
{
	double p = -expm1(-(double)n / (double)S);
	return sqrt((1 - p) / (p * (double)count));
}

static void check_unbiased(uint64_t n, uint64_t S, uint64_t count)
{
	struct outcome o = simulate(n, S, count, 0x9e3779b97f4a7c15ULL ^ n);
	double err = (o.estimate - o.truth) / o.truth;
	double bound = 5 * rel_se(n, S, count) + 1e-4;
	if (fabs(err) > bound)
		fail_msg("n=%llu S=%llu: estimate off by %.4f%% (bound %.4f%%, %.0f samples)",
			 (unsigned long long)n, (unsigned long long)S, 100 * err, 100 * bound,
			 o.samples);
}

static void unbiased_far_below(void **state)
{
	(void)state;
	check_unbiased(16, 65536, 20000000);
	check_unbiased(512, 65536, 4000000);
}

static void unbiased_at_interval(void **state)
{
	(void)state;
	check_unbiased(65536, 65536, 400000);
	check_unbiased(32768, 65536, 400000);
}

static void unbiased_far_above(void **state)
{
	(void)state;
	check_unbiased(10 * 65536, 65536, 100000);
	check_unbiased(1000 * 65536, 65536, 10000);
}

static void naive_rule_is_biased_at_interval(void **state)
{
	(void)state;
	/* weighting a sample of n >= S by n although it was taken with
	 * probability p = 1 - 1/e under-counts by 1 - p = 37% at n = S (the
	 * mirror image of golang/go#26618's 58% over-count, 1/p - 1): the
	 * estimator must not behave like either */
	struct outcome o = simulate(65536, 65536, 400000, 7);
	double naive_err = (o.naive - o.truth) / o.truth;
	double err = (o.estimate - o.truth) / o.truth;
	assert_true(naive_err < -0.30);
	assert_true(fabs(err) < 0.02);
}

static void weights(void **state)
{
	(void)state;
	/* n << S: ~S; n >> S: ~n; never 0; saturates */
	assert_in_range(pt_sampler_weight(1, 65536), 65536, 65537);
	assert_int_equal(pt_sampler_weight(100 * 65536, 65536), 100 * 65536);
	uint64_t at = pt_sampler_weight(65536, 65536);
	assert_in_range(at, 103670, 103680); /* 65536 / (1 - 1/e) = 103676.0 */
	assert_int_equal(pt_sampler_weight(UINT64_MAX, 1), UINT64_MAX);
	assert_true(pt_sampler_weight(1, 1) >= 1);
}

static void draws_have_the_mean(void **state)
{
	(void)state;
	uint64_t rng = 12345;
	double sum = 0;
	const int N = 2000000;
	for (int i = 0; i < N; i++) {
		int64_t d = pt_sampler_draw(&rng, 4096);
		assert_true(d >= 1);
		sum += (double)d;
	}
	double mean = sum / N;
	assert_true(fabs(mean - 4096) < 4096 * 5 / sqrt(N));
}

/* The libm-free arithmetic agrees with libm: ln over (0, 1] (where the
 * draws live) and beyond, and the weights over sizes from 1 byte to far
 * above the interval. */
static void agrees_with_libm(void **state)
{
	(void)state;
	uint64_t rng = 777;
	double worst = 0;
	for (int i = 0; i < 1000000; i++) {
		double u = (double)((pt_rng_next(&rng) >> 11) + 1) * (1.0 / 9007199254740992.0);
		if (i % 3 == 1)
			u = ldexp(u, -(i % 1000)); /* down to 2^-1053 */
		if (i % 3 == 2)
			u = 1.0 + u * 1e6;
		double want = log(u);
		double got = pt_sampler_ln(u);
		double err = want == 0 ? fabs(got) : fabs(got - want) / fabs(want);
		if (err > worst)
			worst = err;
	}
	if (worst > 1e-15)
		fail_msg("ln off by %g relative", worst);
	assert_true(pt_sampler_ln(1.0) == 0.0);
	for (uint64_t S = 1; S <= ((uint64_t)1 << 40); S *= 7) {
		for (uint64_t n = 1; n < ((uint64_t)1 << 50); n = n * 3 + 1) {
			double p = -expm1(-(double)n / (double)S);
			double w = (double)n / p;
			if (w >= 1.8e19)
				continue;
			double got = (double)pt_sampler_weight(n, S);
			if (fabs(got - w) > 1.0 + w * 1e-12)
				fail_msg("weight(%llu, %llu) = %.1f, libm says %.3f",
					 (unsigned long long)n, (unsigned long long)S, got, w);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unbiased_far_below),
		cmocka_unit_test(unbiased_at_interval),
		cmocka_unit_test(unbiased_far_above),
		cmocka_unit_test(naive_rule_is_biased_at_interval),
		cmocka_unit_test(weights),
		cmocka_unit_test(draws_have_the_mean),
		cmocka_unit_test(agrees_with_libm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
