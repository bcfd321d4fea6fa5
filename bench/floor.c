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
 *
 * Built a second time with PT_FLOOR_COUNT as libpt_bench_count.so, the
 * accounting floor: the same forwarder plus the least that exact byte
 * accounting takes on every call (what peaktrace's Deliver 2 asks for),
 * and nothing else: malloc can no longer end in a jump to glibc, since it
 * must see the block, read its usable size from glibc's chunk header and
 * add it to a per-thread delta; free reads the header and subtracts; a
 * delta past 64 KiB either way goes to a global counter with its peak.
 * No sampling, no stacks, no trace. It counts malloc, calloc, realloc
 * and free (not the aligned functions, which the benchmarks do not call),
 * and only under glibc's allocator. bench/run.py prints it beside peaktrace, so that what the
 * accounting costs and what the sampler adds can be told apart.
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

#ifdef PT_FLOOR_COUNT
#define BATCH (64 * 1024)
static __thread long delta __attribute__((tls_model("initial-exec")));
static long heap, peak;

static __attribute__((noinline)) void flush(void)
{
	long d = __atomic_exchange_n(&delta, 0, __ATOMIC_RELAXED);
	long now = __atomic_add_fetch(&heap, d, __ATOMIC_RELAXED);
	long old = __atomic_load_n(&peak, __ATOMIC_RELAXED);
	while (now > old && !__atomic_compare_exchange_n(&peak, &old, now, 1, __ATOMIC_RELAXED,
							  __ATOMIC_RELAXED))
		;
}

/* glibc's usable size: the chunk size less one header word, two when
 * glibc mmapped the chunk (bit 2) */
static inline long usable(const void *p)
{
	size_t f = ((const size_t *)p)[-1];
	return (long)((f & ~(size_t)7) - ((f & 2) ? 16 : 8));
}

/* one instruction, so that a signal handler's allocation is not lost */
static inline void add(long v)
{
	__asm__ volatile("addq %1, %0" : "+m"(delta) : "er"(v));
}

static inline void *counted(void *p)
{
	if (__builtin_expect(p != NULL, 1)) {
		add(usable(p));
		if (__builtin_expect(delta > BATCH, 0))
			flush();
	}
	return p;
}
#else
#define counted(p) (p)
#endif

EXPORT void *malloc(size_t n)
{
	if (__builtin_expect(!r_malloc, 0)) {
		resolve();
		if (!r_malloc)
			return boot_alloc(n);
	}
	return counted(r_malloc(n));
}

EXPORT void free(void *p)
{
	if (__builtin_expect(p != NULL && !is_boot(p), 1)) {
#ifdef PT_FLOOR_COUNT
		add(-usable(p));
		if (__builtin_expect(delta < -BATCH, 0))
			flush();
#endif
		r_free(p);
	}
}

EXPORT void *calloc(size_t n, size_t size)
{
	if (__builtin_expect(!r_malloc, 0)) {
		resolve();
		if (!r_malloc)
			return boot_alloc(n * size); /* static: zero already */
	}
	return counted(r_calloc(n, size));
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
#ifdef PT_FLOOR_COUNT
	long old = usable(p);
	add(-old);
	void *q = r_realloc(p, n);
	if (!q && n != 0)
		add(old); /* failed: p stays */
	return counted(q);
#else
	return r_realloc(p, n);
#endif
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
