/* aligned.c: the aligned allocators and mremap; checks alignment and
 * contents, so a shim that breaks them changes the output. */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

__attribute__((noinline)) void *use_posix_memalign(size_t a, size_t n)
{
	void *p = NULL;
	if (posix_memalign(&p, a, n) != 0)
		return NULL;
	return p;
}

__attribute__((noinline)) void *use_mmap(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int main(void)
{
	int bad = 0;
	void *keep[64];
	int k = 0;
	for (size_t a = 16; a <= 65536; a *= 4) {
		void *p = use_posix_memalign(a, 3 * a + 1);
		void *q = aligned_alloc(a, 4 * a);
		void *r = memalign(a, 100);
		bad += !p || ((uintptr_t)p % a) || !q || ((uintptr_t)q % a) || !r ||
		       ((uintptr_t)r % a);
		memset(p, 1, 3 * a + 1);
		keep[k++] = p;
		free(q);
		free(r);
	}
	void *v = valloc(10000);
	bad += ((uintptr_t)v % 4096) != 0;
	free(v);
	size_t n = 8 << 20;
	char *m = use_mmap(n);
	memset(m, 3, n);
	char *m2 = mremap(m, n, 4 * n, MREMAP_MAYMOVE);
	bad += m2 == MAP_FAILED || m2[n - 1] != 3;
	memset(m2, 4, 4 * n);
	munmap(m2, 4 * n);
	void *e = use_mmap(1 << 20);
	munmap(e, 1 << 20);
	for (int i = 0; i < k; i++)
		free(keep[i]);
	printf("aligned: %s\n", bad ? "BROKEN" : "all aligned");
	return bad;
}
