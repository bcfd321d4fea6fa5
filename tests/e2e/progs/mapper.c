/* mapper CASE: anonymous mappings cut in the ways allocators cut them;
 * each case peaks at 64 MiB of mapped memory (then maps 40 MiB at
 * site_after, after everything before is gone).
 *   tailhead  unmap the tail, then the head
 *   fixed     MAP_FIXED over its own mapping
 *   hole      unmap a hole in the middle, then both sides
 *   span      one munmap over two adjacent mappings
 *   trim      map 80 MiB, trim it to a 16 MiB-aligned 64 MiB (aligned mmap
 *             by over-mapping); peaks at the 80
 *   remap     grow with mremap, then shrink, then unmap
 *   dontunmap MREMAP_DONTUNMAP: old and new ranges both mapped (32 + 32)
 *   reserve   reserve 1 GiB (PROT_NONE), make 64 MiB of it accessible with
 *             mprotect, then inaccessible again (V8's way)
 *   commit    reserve 1 GiB, commit 64 MiB with mmap(MAP_FIXED) and
 *             decommit it the same way (the JVM's way)
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define M ((size_t)1 << 20)

static char *map(size_t n, void *at, int extra)
{
	char *p = mmap(at, n, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	memset(p, 1, n);
	return p;
}

__attribute__((noinline)) static void site_after(void)
{
	char *p = map(40 * M, NULL, 0);
	if (p)
		munmap(p, 40 * M);
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	const char *c = argv[1];
	char *a;
	if (!strcmp(c, "tailhead")) {
		a = map(64 * M, NULL, 0);
		munmap(a + 32 * M, 32 * M);
		munmap(a, 32 * M);
	} else if (!strcmp(c, "fixed")) {
		a = map(64 * M, NULL, 0);
		map(64 * M, a, MAP_FIXED);
		munmap(a, 64 * M);
	} else if (!strcmp(c, "hole")) {
		a = map(64 * M, NULL, 0);
		munmap(a + 16 * M, 32 * M);
		munmap(a, 16 * M);
		munmap(a + 48 * M, 16 * M);
	} else if (!strcmp(c, "span")) {
		a = map(64 * M, NULL, 0);
		munmap(a + 32 * M, 32 * M);
		map(32 * M, a + 32 * M, MAP_FIXED);
		munmap(a, 64 * M);
	} else if (!strcmp(c, "trim")) {
		a = mmap(NULL, 80 * M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (a == MAP_FAILED)
			return 3;
		uintptr_t al = ((uintptr_t)a + 16 * M - 1) & ~(uintptr_t)(16 * M - 1);
		if ((uintptr_t)a < al)
			munmap(a, al - (uintptr_t)a);
		munmap((char *)al + 64 * M, (uintptr_t)a + 80 * M - al - 64 * M);
		memset((void *)al, 1, 64 * M);
		munmap((void *)al, 64 * M);
	} else if (!strcmp(c, "remap")) {
		a = map(16 * M, NULL, 0);
		a = mremap(a, 16 * M, 64 * M, MREMAP_MAYMOVE);
		a = mremap(a, 64 * M, 8 * M, 0);
		munmap(a, 8 * M);
	} else if (!strcmp(c, "dontunmap")) {
		a = map(32 * M, NULL, 0);
		char *b = mremap(a, 32 * M, 32 * M, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
		if (b == MAP_FAILED)
			return 3;
		munmap(a, 32 * M);
		munmap(b, 32 * M);
	} else if (!strcmp(c, "reserve") || !strcmp(c, "commit")) {
		a = mmap(NULL, 1024 * M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			 -1, 0);
		if (a == MAP_FAILED)
			return 3;
		char *part = a + 256 * M;
		if (!strcmp(c, "reserve")) {
			if (mprotect(part, 64 * M, PROT_READ | PROT_WRITE) != 0)
				return 3;
			memset(part, 1, 64 * M);
			mprotect(part, 64 * M, PROT_NONE);
		} else {
			if (!map(64 * M, part, MAP_FIXED))
				return 3;
			mmap(part, 64 * M, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
		}
		munmap(a, 1024 * M);
	} else {
		return 2;
	}
	site_after();
	printf("%s done\n", c);
	return 0;
}
