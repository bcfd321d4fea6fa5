/*
 * sampler.c: see sampler.h.
 *
 * No libm on the sampled path: glibc's log and expm1 read tables of their
 * own, a few cache lines a sample that the program has long evicted
 * (cachegrind, bench_malloc_pairs 1 16 1024: 6 of the ~100 L1 misses each
 * sample cost). Both functions here are a handful of multiplications, to
 * within a few ulps of libm's results (tests/unit/test_sampler.c compares
 * them over their whole range).
 */
#include "core/sampler.h"

#include <stdint.h>
#include <string.h>

#include "contracts/banned.h"

double pt_sampler_ln(double u)
{
	/* u = m * 2^e with m in [sqrt(1/2), sqrt(2)); ln m = 2 atanh(s),
	 * s = (m - 1) / (m + 1), |s| <= 0.1716: the series to s^19 is
	 * within 1e-16 relative (s^21 / 21 < 1.4e-17). */
	uint64_t bits;
	memcpy(&bits, &u, sizeof bits);
	int e = (int)((bits >> 52) & 0x7ff) - 1023;
	bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL; /* m in [1, 2) */
	double m;
	memcpy(&m, &bits, sizeof m);
	if (m > 1.4142135623730951) {
		m *= 0.5;
		e++;
	}
	double s = (m - 1.0) / (m + 1.0);
	double z = s * s;
	/* p(z) = sum of z^i / (2i + 1), i = 0..9, by Estrin's scheme: four
	 * dependent multiply-adds instead of Horner's ten (a sample's draw
	 * waited on that chain) */
	double z2 = z * z;
	double z4 = z2 * z2;
	double q0 = 1.0 + z * (1.0 / 3);
	double q1 = 1.0 / 5 + z * (1.0 / 7);
	double q2 = 1.0 / 9 + z * (1.0 / 11);
	double q3 = 1.0 / 13 + z * (1.0 / 15);
	double q4 = 1.0 / 17 + z * (1.0 / 19);
	double p = (q0 + z2 * q1) + z4 * ((q2 + z2 * q3) + z4 * q4);
	return (double)e * 0.69314718055994530942 + 2.0 * s * p;
}

int64_t pt_sampler_draw(uint64_t *rng, uint64_t mean_bytes)
{
	double s = (double)mean_bytes;
	/* u in (0, 1]: 53 random bits, never 0 (log(0) = -inf); a normal
	 * double, so pt_sampler_ln's exponent arithmetic holds */
	double u = (double)((pt_rng_next(rng) >> 11) + 1) * (1.0 / 9007199254740992.0);
	double d = -pt_sampler_ln(u) * s;
	if (d < 1.0)
		d = 1.0;
	if (d > 9.0e18)
		d = 9.0e18;
	return (int64_t)d;
}

/* 1 - exp(-x) for x >= 0: the series below 1/8 (to x^10, within 1e-16
 * relative: x^11/11! < 1.2e-18), 1 - e^-x from e^-x = (e^-x/2^k)^(2^k)
 * above, where no cancellation matters (1 - e^-x >= 0.117). */
static double one_minus_exp_neg(double x)
{
	if (x < 0.125) {
		double p = -1.0 / 3628800;          /* -x^10/10! ... */
		p = p * x + 1.0 / 362880;
		p = p * x - 1.0 / 40320;
		p = p * x + 1.0 / 5040;
		p = p * x - 1.0 / 720;
		p = p * x + 1.0 / 120;
		p = p * x - 1.0 / 24;
		p = p * x + 1.0 / 6;
		p = p * x - 1.0 / 2;
		p = p * x + 1.0;
		return x * p;
	}
	if (x > 745.0)
		return 1.0; /* e^-x below the smallest double */
	/* e^-y for y = x / 2^k <= 1/8 by its series, squared k times */
	int k = 0;
	double y = x;
	while (y > 0.125) {
		y *= 0.5;
		k++;
	}
	double q = 1.0 / 3628800;
	q = q * -y + 1.0 / 362880;
	q = q * -y + 1.0 / 40320;
	q = q * -y + 1.0 / 5040;
	q = q * -y + 1.0 / 720;
	q = q * -y + 1.0 / 120;
	q = q * -y + 1.0 / 24;
	q = q * -y + 1.0 / 6;
	q = q * -y + 1.0 / 2;
	q = q * -y + 1.0;
	q = q * -y + 1.0;
	while (k-- > 0)
		q *= q;
	return 1.0 - q;
}

/* x / (1 - e^-x) for 0 <= x < 1/2 by its series, 1 + x/2 + sum of
 * B(2k) x^2k / (2k)! (Bernoulli numbers): through x^10 it is within
 * 2e-13 relative there (the next term, 691/2730 x^12 / 12!, is below
 * 1.3e-13; the terms alternate and shrink). One division fewer than
 * x / (1 - e^-x) and a short chain: the common case, every allocation
 * below half the interval. */
static double weight_factor_small(double x)
{
	double z = x * x;
	double z2 = z * z;
	double a = 1.0 / 12 - z * (1.0 / 720);
	double b = 1.0 / 30240 - z * (1.0 / 1209600);
	return (1.0 + 0.5 * x) + z * (a + z2 * (b + z2 * (1.0 / 47900160)));
}

uint64_t pt_sampler_weight(uint64_t req, uint64_t mean_bytes)
{
	double s = (double)mean_bytes;
	double x = (double)req / s;
	double w;
	if (x < 0.5) {
		w = s * weight_factor_small(x);
	} else {
		double prob = one_minus_exp_neg(x);
		w = prob > 0 ? (double)req / prob : s;
	}
	if (w >= 1.8e19)
		return UINT64_MAX;
	uint64_t weight = (uint64_t)(w + 0.5);
	return weight ? weight : 1;
}
