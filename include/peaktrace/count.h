/*
 * count.h: the syntax of the counts the runtime reads from its
 * environment (PEAKTRACE_SAMPLE_BYTES, PEAKTRACE_STACK_DEPTH, ...) and the
 * limits of the two that `peaktrace run` also takes as options, shared so
 * that the command refuses exactly what the runtime would. Header-only,
 * allocation-free, async-signal-safe.
 */
#ifndef PEAKTRACE_COUNT_H
#define PEAKTRACE_COUNT_H

#include <stdbool.h>
#include <stdint.h>

#define PT_MAX_SAMPLE_BYTES ((uint64_t)1 << 40) /* mean sampling interval */
#define PT_MAX_STACK_DEPTH 256                   /* native frames kept */

/* Decimal digits, then an optional binary suffix k, m or g (KiB, MiB,
 * GiB); false on anything else, or on overflow. */
static inline bool pt_parse_count(const char *s, uint64_t *out)
{
	if (!s || !*s)
		return false;
	uint64_t v = 0;
	const char *p = s;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	unsigned shift = 0;
	if (*p == 'k' || *p == 'K')
		shift = 10, p++;
	else if (*p == 'm' || *p == 'M')
		shift = 20, p++;
	else if (*p == 'g' || *p == 'G')
		shift = 30, p++;
	if (*p || p == s || (shift && v > (UINT64_MAX >> shift)))
		return false;
	*out = v << shift;
	return true;
}

#endif
