/*
 * sampler.c: see sampler.h.
 */
#include "core/sampler.h"

#include <math.h>

#include "contracts/banned.h"

int64_t pt_sampler_draw(uint64_t *rng, uint64_t mean_bytes)
{
	double s = (double)mean_bytes;
	/* u in (0, 1]: 53 random bits, never 0 (log(0) = -inf) */
	double u = (double)((pt_rng_next(rng) >> 11) + 1) * (1.0 / 9007199254740992.0);
	double d = -log(u) * s;
	if (d < 1.0)
		d = 1.0;
	if (d > 9.0e18)
		d = 9.0e18;
	return (int64_t)d;
}

uint64_t pt_sampler_weight(uint64_t req, uint64_t mean_bytes)
{
	double s = (double)mean_bytes;
	double prob = -expm1(-(double)req / s);
	double w = prob > 0 ? (double)req / prob : s;
	if (w >= 1.8e19)
		return UINT64_MAX;
	uint64_t weight = (uint64_t)(w + 0.5);
	return weight ? weight : 1;
}
