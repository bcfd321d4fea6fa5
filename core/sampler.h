/*
 * sampler.h: the arithmetic of Poisson sampling by bytes (DESIGN.md,
 * "Measuring memory"), kept apart so that it is tested on its own
 * (tests/unit/test_sampler.c runs millions of simulated allocations
 * through exactly these functions and checks the estimates are unbiased
 * below, at and far above the interval).
 *
 * Each thread keeps a countdown of bytes drawn from an exponential
 * distribution with mean S; an allocation of n bytes that takes it to zero
 * or below is sampled. By memorylessness that happens with probability
 * p = 1 - exp(-n/S), and the sample stands for n/p bytes (Horvitz-Thompson):
 * ~S for n << S, ~n for n >> S. Giving large allocations weight n "because
 * they are always sampled" is the bug golang/go#26618 fixed: at n = S it
 * over-counts by 58%.
 *
 * Pure functions of their arguments and the caller's rng state: no global
 * state, async-signal-safe, reentrant.
 */
#ifndef PT_SAMPLER_H
#define PT_SAMPLER_H

#include <stdint.h>

/* xorshift64* step; *state must not be 0. */
static inline uint64_t pt_rng_next(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* ln u for a normal double u > 0 (libm's log to within a few ulps, without
 * its tables). */
double pt_sampler_ln(double u);

/* A countdown drawn from Exp(mean S), in bytes, at least 1. */
int64_t pt_sampler_draw(uint64_t *rng, uint64_t mean_bytes);

/* The weight of a sampled allocation of req bytes: req / (1 - exp(-req/S)),
 * rounded, at least 1, saturating at UINT64_MAX. */
uint64_t pt_sampler_weight(uint64_t req, uint64_t mean_bytes);

#endif
