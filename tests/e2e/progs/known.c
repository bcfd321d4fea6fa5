/* known.c: a known-answer program. At its peak it holds exactly
 *   site_large:  64 blocks of 1 MiB        = 67108864 bytes
 *   site_medium: 2048 blocks of 10000 B    = 20480000 bytes
 *   site_small:  200000 blocks of 100 B    = 20000000 bytes
 * then frees everything and makes a smaller second hill (site_after,
 * 16 MiB) that must not appear in the peak. Prints a checksum so the
 * profiled output can be compared with the unprofiled one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NL 64
#define NM 2048
#define NS 200000
static char *large[NL], *medium[NM], *small[NS];

__attribute__((noinline)) void site_large(void)
{
	for (int i = 0; i < NL; i++) {
		large[i] = malloc(1 << 20);
		memset(large[i], i, 1 << 20);
	}
}

__attribute__((noinline)) void site_medium(void)
{
	for (int i = 0; i < NM; i++) {
		medium[i] = malloc(10000);
		memset(medium[i], 1, 10000);
	}
}

__attribute__((noinline)) void site_small(void)
{
	for (int i = 0; i < NS; i++) {
		small[i] = malloc(100);
		small[i][0] = (char)i;
	}
}

__attribute__((noinline)) void site_after(void)
{
	char *p = malloc(16 << 20);
	memset(p, 2, 16 << 20);
	free(p);
}

int main(void)
{
	site_large();
	site_medium();
	site_small();
	unsigned long sum = 0;
	for (int i = 0; i < NL; i++)
		sum += (unsigned char)large[i][7];
	for (int i = 0; i < NS; i++)
		sum += (unsigned char)small[i][0];
	for (int i = 0; i < NL; i++)
		free(large[i]);
	for (int i = 0; i < NM; i++)
		free(medium[i]);
	for (int i = 0; i < NS; i++)
		free(small[i]);
	site_after();
	printf("known: checksum %lu\n", sum);
	return 0;
}
