/*
 * malloc_pairs.c: the malloc/free microbenchmark.
 *
 * usage: bench_malloc_pairs THREADS MIN_SIZE MAX_SIZE PAIRS_PER_THREAD
 * Each thread keeps a window of 256 live blocks and, PAIRS times, frees a
 * pseudo-random one and allocates a new block of a pseudo-random size in
 * [MIN, MAX] (touching its first byte). Prints "ns_per_pair N" (wall time
 * per malloc+free pair per thread). The program is the same with and
 * without the profiler; bench/run.py runs it both ways in one invocation
 * and prints the ratios.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define WINDOW 256

static size_t min_size, max_size;
static long pairs;

static void *worker(void *arg)
{
	unsigned long x = (unsigned long)arg * 0x9e3779b97f4a7c15UL + 1;
	char *win[WINDOW] = { 0 };
	size_t span = max_size - min_size + 1;
	for (long i = 0; i < pairs; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		unsigned slot = (unsigned)(x % WINDOW);
		free(win[slot]);
		size_t n = min_size + (size_t)((x >> 16) % span);
		win[slot] = malloc(n);
		win[slot][0] = (char)i;
	}
	for (int i = 0; i < WINDOW; i++)
		free(win[i]);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s THREADS MIN MAX PAIRS\n", argv[0]);
		return 1;
	}
	int threads = atoi(argv[1]);
	min_size = (size_t)atol(argv[2]);
	max_size = (size_t)atol(argv[3]);
	pairs = atol(argv[4]);
	if (threads < 1 || threads > 64 || min_size < 1 || max_size < min_size || pairs < 1) {
		fprintf(stderr, "bench_malloc_pairs: bad arguments\n");
		return 1;
	}
	pthread_t t[64];
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, (void *)(long)(i + 1));
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
	printf("ns_per_pair %.2f\n", ns / (double)pairs);
	return 0;
}
