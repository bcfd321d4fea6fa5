/* tagged.c: every function of the malloc family on blocks the sampler
 * picked. Run with PEAKTRACE_SAMPLE_BYTES=1, every block is sampled and so
 * carries the shims' tag (shims/malloc.c); the program checks what a
 * program relies on: contents kept by realloc in every direction, calloc's
 * zeroes, alignment, malloc_usable_size at least the size asked for and
 * all of it writable, realloc(p, 0), the errors glibc gives (bad
 * alignments, impossible sizes). A fork child and the parent then check,
 * grow and free the blocks the parent made; with a failpoint that trips the
 * kill-switch part way through (e2e.py), the blocks made before the trip
 * are reallocated and freed after it. Last, large blocks are shrunk by
 * realloc (at the default interval: sampled, then not). Prints one line
 * per step and a digest, which must be the unprofiled run's.
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 64

struct blk {
	unsigned char *p;
	size_t n;
	size_t align;
	unsigned char seed;
};

static struct blk b[N];
static int bad;

static void fill(struct blk *x)
{
	for (size_t i = 0; i < x->n; i++)
		x->p[i] = (unsigned char)(x->seed + i * 7);
}

static int intact(const struct blk *x, size_t upto)
{
	for (size_t i = 0; i < upto && i < x->n; i++)
		if (x->p[i] != (unsigned char)(x->seed + i * 7))
			return 0;
	return 1;
}

static void expect(int cond, const char *what, int i)
{
	if (!cond) {
		printf("BROKEN: %s (block %d)\n", what, i);
		bad++;
	}
}

static void *make(int i, size_t *n, size_t *align)
{
	size_t sizes[] = { 0, 1, 15, 16, 24, 25, 100, 1000, 4096, 100000, 300000 };
	size_t sz = sizes[i % (int)(sizeof sizes / sizeof sizes[0])];
	*n = sz;
	*align = 16;
	void *p = NULL;
	switch (i % 8) {
	case 0:
		return malloc(sz);
	case 1: {
		p = calloc(sz + 1, 3);
		*n = (sz + 1) * 3;
		for (size_t k = 0; k < *n; k++)
			if (((unsigned char *)p)[k])
				expect(0, "calloc zeroes", i);
		return p;
	}
	case 2:
		*align = (size_t)64 << (i % 5);
		return posix_memalign(&p, *align, sz) == 0 ? p : NULL;
	case 3:
		*align = (size_t)32 << (i % 4);
		return aligned_alloc(*align, sz);
	case 4:
		*align = 256;
		return memalign(256, sz);
	case 5:
		*align = 4096;
		return valloc(sz);
	case 6:
		*align = 4096;
		p = pvalloc(sz);
		*n = (sz + 4095) & ~(size_t)4095;
		return p;
	default:
		*n = 2 * (sz + 1);
		return reallocarray(NULL, sz + 1, 2);
	}
}

static void check_all(const char *who)
{
	for (int i = 0; i < N; i++) {
		if (!b[i].p)
			continue;
		expect(intact(&b[i], b[i].n), "contents", i);
		expect((uintptr_t)b[i].p % b[i].align == 0, "alignment", i);
		size_t u = malloc_usable_size(b[i].p);
		expect(u >= b[i].n, "usable size", i);
		memset(b[i].p + b[i].n, 0xee, u - b[i].n); /* all usable bytes are ours */
	}
	printf("%s: checked\n", who);
}

/* grow, shrink, keep: contents up to the smaller size stay */
static void reshape(int round)
{
	for (int i = 0; i < N; i++) {
		if (!b[i].p)
			continue;
		size_t nn = (i + round) % 3 == 0 ? b[i].n * 3 + 5 : (i + round) % 3 == 1 ? b[i].n / 2 : b[i].n;
		unsigned char *q = realloc(b[i].p, nn);
		if (nn == 0) {
			/* glibc frees and returns NULL */
			expect(q == NULL, "realloc to 0 frees", i);
			b[i].p = NULL;
			continue;
		}
		expect(q != NULL, "realloc", i);
		if (!q)
			continue;
		size_t keep = nn < b[i].n ? nn : b[i].n;
		b[i].p = q;
		expect(intact(&b[i], keep), "contents after realloc", i);
		b[i].n = nn;
		b[i].align = 16;
		fill(&b[i]);
	}
}

static void release(void)
{
	for (int i = 0; i < N; i++) {
		free(b[i].p);
		b[i].p = NULL;
	}
}

int main(void)
{
	for (int i = 0; i < N; i++) {
		b[i].seed = (unsigned char)(i * 13 + 1);
		b[i].p = make(i, &b[i].n, &b[i].align);
		if (b[i].p)
			fill(&b[i]);
		else
			expect(0, "allocation", i);
	}
	check_all("made");

	/* what glibc refuses, refused the same way */
	void *p = NULL;
	int e1 = posix_memalign(&p, 24, 100);
	int e2 = posix_memalign(&p, 0, 100);
	errno = 0;
	volatile size_t huge = SIZE_MAX - 8;
	void *h = malloc(huge);
	int e3 = errno;
	void *r = realloc(b[0].p, (size_t)1 << 60);
	printf("refused: %d %d %s %d %s\n", e1, e2, h ? "no" : "yes", e3, r ? "no" : "yes");

	/* past the failpoint's trip, when e2e.py arms one */
	for (int i = 0; i < 400; i++)
		free(malloc(32 + (size_t)i));

	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		check_all("child");
		reshape(1);
		check_all("child reshaped");
		release();
		printf("child: %s\n", bad ? "BROKEN" : "all kept");
		fflush(stdout);
		_exit(bad ? 1 : 0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	check_all("parent");
	reshape(0);
	check_all("parent reshaped");
	reshape(2);
	check_all("parent reshaped again");
	release();

	/* Blocks of 8 MiB, sampled for sure at the default interval, shrunk
	 * to 24 bytes, which are sampled again about once in 10^4: the realloc
	 * keeps the tag of a block it does not sample (e2e.py asserts the
	 * mark); contents and usable size as ever. */
	for (int i = 0; i < 8; i++) {
		unsigned char *big = malloc((size_t)8 << 20);
		expect(big != NULL, "big block", i);
		if (!big)
			continue;
		for (int k = 0; k < 64; k++)
			big[k] = (unsigned char)(k * 3 + i);
		unsigned char *small = realloc(big, 24);
		expect(small != NULL, "big block shrunk", i);
		if (!small)
			continue;
		int same = 1;
		for (int k = 0; k < 24; k++)
			same &= small[k] == (unsigned char)(k * 3 + i);
		expect(same, "contents after the shrink", i);
		expect(malloc_usable_size(small) >= 24, "usable size after the shrink", i);
		memset(small, 0x5a, malloc_usable_size(small));
		free(small);
	}
	printf("parent: %s, child %d\n", bad ? "BROKEN" : "all kept", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return bad != 0;
}
