/*
 * floor.c: libpt_bench_floor.so, the cheapest possible LD_PRELOAD
 * interposer of the malloc family. It records nothing: each function
 * forwards to the C library's through a pointer found with dlsym. Its
 * overhead is the floor every interposing profiler pays (one more call
 * layer around each allocation), which bench/run.py prints beside
 * peaktrace's so the two can be told apart.
 *
 * dlsym allocates: while the pointers are being resolved, allocations are
 * served from a static buffer, whose blocks are never freed.
 */
#include <dlfcn.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

static void *(*r_malloc)(size_t);
static void (*r_free)(void *);
static void *(*r_calloc)(size_t, size_t);
static void *(*r_realloc)(void *, size_t);
static int (*r_posix_memalign)(void **, size_t, size_t);
static void *(*r_aligned_alloc)(size_t, size_t);
static void *(*r_memalign)(size_t, size_t);

static _Alignas(64) char boot[64 * 1024];
static size_t boot_used;
static int resolving;

static void *boot_alloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (boot_used + n > sizeof boot)
		return NULL;
	void *p = boot + boot_used;
	boot_used += n;
	return p;
}

static int is_boot(const void *p)
{
	return (uintptr_t)p - (uintptr_t)boot < sizeof boot;
}

static void resolve(void)
{
	if (resolving)
		return;
	resolving = 1;
	r_free = dlsym(RTLD_NEXT, "free");
	r_calloc = dlsym(RTLD_NEXT, "calloc");
	r_realloc = dlsym(RTLD_NEXT, "realloc");
	r_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
	r_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
	r_memalign = dlsym(RTLD_NEXT, "memalign");
	r_malloc = dlsym(RTLD_NEXT, "malloc");
	resolving = 0;
}

EXPORT void *malloc(size_t n)
{
	if (__builtin_expect(!r_malloc, 0)) {
		resolve();
		if (!r_malloc)
			return boot_alloc(n);
	}
	return r_malloc(n);
}

EXPORT void free(void *p)
{
	if (__builtin_expect(p != NULL && !is_boot(p), 1))
		r_free(p);
}

EXPORT void *calloc(size_t n, size_t size)
{
	if (__builtin_expect(!r_malloc, 0)) {
		resolve();
		if (!r_malloc)
			return boot_alloc(n * size); /* static: zero already */
	}
	return r_calloc(n, size);
}

EXPORT void *realloc(void *p, size_t n)
{
	if (!p)
		return malloc(n);
	if (is_boot(p)) {
		void *q = malloc(n);
		size_t avail = (size_t)(boot + sizeof boot - (char *)p);
		if (q)
			memcpy(q, p, n < avail ? n : avail); /* never past the buffer */
		return q;
	}
	return r_realloc(p, n);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	if (!r_malloc)
		resolve();
	return r_posix_memalign(out, align, n);
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	if (!r_malloc)
		resolve();
	return r_aligned_alloc(align, n);
}

EXPORT void *memalign(size_t align, size_t n)
{
	if (!r_malloc)
		resolve();
	return r_memalign(align, n);
}
