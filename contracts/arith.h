/*
 * arith.h: checked and saturating arithmetic on size_t and uint64_t.
 *
 * Sizes in the runtime come from the program (malloc(n) with any n) and
 * counters run for days; an overflow must never wrap silently. The checked
 * forms return true on overflow and leave the wrapped result in *out; the
 * saturating forms clamp to 0 or the type's maximum. All are inline, pure,
 * async-signal-safe, built on the compiler's __builtin_*_overflow.
 */
#ifndef PT_ARITH_H
#define PT_ARITH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline bool pt_add_overflow_sz(size_t a, size_t b, size_t *out)
{
	return __builtin_add_overflow(a, b, out);
}
static inline bool pt_sub_overflow_sz(size_t a, size_t b, size_t *out)
{
	return __builtin_sub_overflow(a, b, out);
}
static inline bool pt_mul_overflow_sz(size_t a, size_t b, size_t *out)
{
	return __builtin_mul_overflow(a, b, out);
}
static inline bool pt_add_overflow_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_add_overflow(a, b, out);
}
static inline bool pt_sub_overflow_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_sub_overflow(a, b, out);
}
static inline bool pt_mul_overflow_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_mul_overflow(a, b, out);
}

static inline size_t pt_add_sat_sz(size_t a, size_t b)
{
	size_t r;
	return __builtin_add_overflow(a, b, &r) ? SIZE_MAX : r;
}
static inline size_t pt_sub_sat_sz(size_t a, size_t b)
{
	return a > b ? a - b : 0;
}
static inline size_t pt_mul_sat_sz(size_t a, size_t b)
{
	size_t r;
	return __builtin_mul_overflow(a, b, &r) ? SIZE_MAX : r;
}
static inline uint64_t pt_add_sat_u64(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}
static inline uint64_t pt_sub_sat_u64(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}
static inline uint64_t pt_mul_sat_u64(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

#endif
