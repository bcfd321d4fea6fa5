/*
 * fp_disarmed.c: what a disarmed failpoint costs on a hot path.
 *
 * The design promises that a disarmed site costs one relaxed load and a
 * predicted branch. This times a tight loop of a cheap operation (a store
 * to a volatile sink, which the compiler may neither drop nor vectorise)
 * twice: bare, and with a disarmed PT_FP_HIT site in the loop body. Rounds
 * of the two loops are interleaved so that frequency changes and noisy
 * neighbours hit both alike; the median of each is reported with their
 * ratio on one line:
 *
 *     fp_disarmed: no-site 1.02 ns/iter, disarmed-site 1.03 ns/iter, ratio 1.01
 *
 * Usage: bench_fp_disarmed [ITERATIONS_PER_ROUND [ROUNDS]]
 * Built with -O2 in every build type (bench/CMakeLists.txt).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "failpoints/failpoints.h"

static struct pt_fp_site sites[] = {
	PT_FP_SITE_INIT("bench_site", "never armed"),
};

static volatile uint64_t sink;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

__attribute__((noinline)) static uint64_t loop_no_site(uint64_t n)
{
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < n; i++)
		sink = i;
	return now_ns() - t0;
}

__attribute__((noinline)) static uint64_t loop_disarmed_site(uint64_t n)
{
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		if (PT_FP_HIT(&sites[0]))
			continue;
		sink = i;
	}
	return now_ns() - t0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

#define MAX_ROUNDS 101

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000u;
	int rounds = argc > 2 ? atoi(argv[2]) : 15;
	uint64_t bare[MAX_ROUNDS], site[MAX_ROUNDS];

	if (n == 0 || rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: bench_fp_disarmed [ITERATIONS>0 "
				"[ROUNDS 1..%d]]\n", MAX_ROUNDS);
		return 2;
	}
	loop_no_site(n / 10 + 1); /* warm up */
	loop_disarmed_site(n / 10 + 1);
	for (int r = 0; r < rounds; r++) {
		if (r & 1) {
			site[r] = loop_disarmed_site(n);
			bare[r] = loop_no_site(n);
		} else {
			bare[r] = loop_no_site(n);
			site[r] = loop_disarmed_site(n);
		}
	}
	qsort(bare, (size_t)rounds, sizeof bare[0], cmp_u64);
	qsort(site, (size_t)rounds, sizeof site[0], cmp_u64);
	double b = (double)bare[rounds / 2] / (double)n;
	double s = (double)site[rounds / 2] / (double)n;
	printf("fp_disarmed: no-site %.2f ns/iter, disarmed-site %.2f ns/iter, "
	       "ratio %.2f\n", b, s, s / b);
	return 0;
}
