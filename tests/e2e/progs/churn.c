/* churn.c MS: allocates and frees for MS milliseconds (default 1500),
 * holding a changing working set; prints a fixed line. For tests that
 * need the program to keep allocating after something happened in the
 * runtime (a kill-switch trip, a writer stall). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double ms = argc > 1 ? atof(argv[1]) : 1500;
	static char *live[4096];
	unsigned x = 12345;
	double end = now() + ms / 1000.0;
	while (now() < end) {
		for (int i = 0; i < 1000; i++) {
			x = x * 1103515245u + 12345u;
			unsigned k = (x >> 8) % 4096;
			free(live[k]);
			size_t n = 16 + (x >> 4) % 20000;
			live[k] = malloc(n);
			memset(live[k], 1, n < 64 ? n : 64);
		}
	}
	for (int i = 0; i < 4096; i++)
		free(live[i]);
	printf("churn: done\n");
	return 0;
}
