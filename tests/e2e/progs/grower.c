/* grower.c: a heap that grows steadily to many live blocks.
 *
 * usage: e2e_grower BLOCKS SIZE PAUSE_EVERY PAUSE_MS
 * Allocates BLOCKS blocks of SIZE bytes (site_grow), touching each, with a
 * pause of PAUSE_MS after every PAUSE_EVERY blocks (a job that builds its
 * working set over time), holds them all at the peak, frees them and
 * prints a checksum. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static char **blocks;

__attribute__((noinline)) void site_grow(long n, size_t size, long every, long ms)
{
	for (long i = 0; i < n; i++) {
		blocks[i] = malloc(size);
		blocks[i][0] = (char)i;
		if (every > 0 && (i + 1) % every == 0) {
			struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s BLOCKS SIZE PAUSE_EVERY PAUSE_MS\n", argv[0]);
		return 2;
	}
	long n = atol(argv[1]), every = atol(argv[3]), ms = atol(argv[4]);
	size_t size = (size_t)atol(argv[2]);
	if (n < 1 || size < 1) {
		fprintf(stderr, "grower: bad arguments\n");
		return 2;
	}
	blocks = calloc((size_t)n, sizeof *blocks);
	if (!blocks)
		return 1;
	site_grow(n, size, every, ms);
	unsigned long sum = 0;
	for (long i = 0; i < n; i++)
		sum += (unsigned char)blocks[i][0];
	for (long i = 0; i < n; i++)
		free(blocks[i]);
	free(blocks);
	printf("grower: checksum %lu\n", sum);
	return 0;
}
