/* reallocfail: realloc calls that fail leave the block allocated, and it
 * must stay in the peak's stacks. One size no address space can hold;
 * then one that fails under an address-space limit set here. Each time
 * 40 MiB from site_kept stay live with 10 MiB from site_other on top. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

__attribute__((noinline)) static char *site_kept(size_t n)
{
	char *p = malloc(n);
	if (p)
		memset(p, 2, n);
	return p;
}

__attribute__((noinline)) static char *site_other(size_t n)
{
	char *p = malloc(n);
	if (p)
		memset(p, 3, n);
	return p;
}

int main(int argc, char **argv)
{
	int limit = argc > 1 && argv[1][0] == 'l';
	char *p = site_kept(40u << 20);
	if (limit) {
		struct rlimit r;
		getrlimit(RLIMIT_AS, &r);
		r.rlim_cur = 0;
		FILE *f = fopen("/proc/self/statm", "r");
		unsigned long pages = 0;
		if (!f || fscanf(f, "%lu", &pages) != 1)
			return 2;
		fclose(f);
		r.rlim_cur = pages * 4096ul + (200ul << 20);
		if (setrlimit(RLIMIT_AS, &r) != 0)
			return 2;
	}
	void *q = realloc(p, limit ? (size_t)1 << 30 : SIZE_MAX / 2);
	printf("realloc failed: %d\n", q == NULL);
	char *o = site_other(10u << 20);
	printf("%d %d\n", p[1], o[1]);
	free(o);
	free(q ? q : p);
	return 0;
}
