/*
 * malloc.c: the malloc family, interposed through LD_PRELOAD.
 *
 * Each shim: (1) before the real functions are known, resolve them, and
 * serve the allocations dlsym itself makes from a static bootstrap buffer
 * (so nothing relies on luck or on glibc internals); (2) kill-switch and
 * reentrancy check: when profiling is off, or the call comes from inside
 * the runtime, it is pure pass-through (plus byte accounting for a nested
 * call, so the totals stay exact); (3) the real call; (4) the core hook.
 *
 * Event order (ring.h): an allocation's hook runs after the real call
 * returns and before the shim returns; a free's hook runs before the real
 * free, so no other thread can get the same address back and record it
 * before our free is recorded.
 *
 * errno is preserved across our hooks. Blocks from the bootstrap buffer
 * carry a header word (size << 3 | BOOT_MARK); freeing one does nothing.
 */
/* This file defines malloc and free: gcc's -fanalyzer models those names
 * as the C library's and so reports the shims' own bookkeeping (reading a
 * block's header in free, the bootstrap buffer) as leaks and uses after
 * free. Those two checks are off here, and only here. */
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#pragma GCC diagnostic ignored "-Wanalyzer-use-after-free"
#pragma GCC diagnostic ignored "-Wanalyzer-double-free"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "contracts/covmarks.h"
#include "core/guard.h"
#include "core/runtime.h"
#include "shims/shim.h"

struct pt_real pt_real;

/* ---- bootstrap ---------------------------------------------------------- */

#define BOOT_SIZE (256 * 1024)
/* A bootstrap block's header word has the bit glibc sets on its mmapped
 * chunks (2): the free fast path sends both kinds to free_slow on the one
 * test, and only there are they told apart. */
#define BOOT_MARK ((size_t)2)
static _Alignas(64) uint8_t boot_buf[BOOT_SIZE];
static atomic_size_t boot_used;
static atomic_int resolve_state; /* 0 not yet, 1 resolving, 2 done */

static inline int is_boot(const void *p)
{
	return (uintptr_t)p - (uintptr_t)boot_buf < BOOT_SIZE; /* one compare */
}

static void *boot_alloc(size_t n, size_t align)
{
	PT_MARK(shim_bootstrap_alloc);
	if (align < 16)
		align = 16;
	if (n > BOOT_SIZE || align > 4096)
		return NULL;
	size_t need = ((n + 15) & ~(size_t)15) + align;
	size_t off = atomic_fetch_add(&boot_used, need);
	if (off + need > BOOT_SIZE)
		return NULL;
	uintptr_t start = (uintptr_t)(boot_buf + off) + 16;
	start = (start + align - 1) & ~(uintptr_t)(align - 1);
	((size_t *)start)[-1] = (n << 3) | BOOT_MARK;
	return (void *)start;
}

static size_t boot_size(const void *p)
{
	return ((const size_t *)p)[-1] >> 3;
}

void *pt_shim_next(void *_Atomic *slot, const char *name)
{
	void *f = atomic_load_explicit(slot, memory_order_acquire);
	if (!f) {
		f = dlsym(RTLD_NEXT, name);
		atomic_store_explicit(slot, f, memory_order_release);
	}
	return f;
}

void pt_shim_resolve(void)
{
	int expected = 0;
	if (!atomic_compare_exchange_strong(&resolve_state, &expected, 1))
		return; /* done, or in progress on this thread (dlsym re-entered) */
	int saved = errno;
	PT_MARK(shim_bootstrap_resolve);
	pt_tls.busy++;
#define RESOLVE(field, name) pt_real.field = (__typeof__(pt_real.field))dlsym(RTLD_NEXT, name)
	RESOLVE(free, "free");
	RESOLVE(calloc, "calloc");
	RESOLVE(realloc, "realloc");
	RESOLVE(reallocarray, "reallocarray");
	RESOLVE(posix_memalign, "posix_memalign");
	RESOLVE(aligned_alloc, "aligned_alloc");
	RESOLVE(memalign, "memalign");
	RESOLVE(valloc, "valloc");
	RESOLVE(pvalloc, "pvalloc");
	RESOLVE(malloc_usable_size, "malloc_usable_size");
	RESOLVE(mmap, "mmap");
	RESOLVE(munmap, "munmap");
	RESOLVE(mremap, "mremap");
	RESOLVE(exit_, "_exit");
	RESOLVE(Exit_, "_Exit");
	RESOLVE(abort_, "abort");
	RESOLVE(read, "read");
	RESOLVE(write, "write");
	RESOLVE(close, "close");
	RESOLVE(syscall, "syscall");
	RESOLVE(dlclose, "dlclose");
	/* malloc last: its being set means the table is complete */
	void *m = dlsym(RTLD_NEXT, "malloc");
	atomic_store_explicit((_Atomic(void *) *)&pt_real.malloc, m, memory_order_release);
#undef RESOLVE
	pt_tls.busy--;
	atomic_store(&resolve_state, 2);
	if (atomic_load(&pt_g.phase) == 0)
		atomic_store(&pt_g.phase, 1);
	errno = saved;
}

static inline int ready(void)
{
	if (__builtin_expect(pt_real.malloc != NULL, 1))
		return 1;
	pt_shim_resolve();
	return pt_real.malloc != NULL;
}

/* ---- hooks around the real calls --------------------------------------- */

/* The usable size of a live block. glibc keeps it in the chunk header
 * (size field in the word before the block, low 3 bits flags, bit 1 =
 * mmapped); reading it inline saves a call per malloc and per free. That
 * is a glibc internal, so the start-up check (core/envcheck.c) compares the
 * inline reading with malloc_usable_size on blocks of every kind and
 * enables it only when they agree (never under another allocator). */
static inline size_t usable_size(void *p)
{
	if (__builtin_expect(pt_glibc_chunk_sizes, 1))
		return pt_glibc_usable(p);
	return pt_real.malloc_usable_size(p);
}

/* One load decides the fast path (pt_fast_gate: active, glibc headers
 * readable); the rest is out of line. Every way out of malloc's and free's
 * fast paths is a return or a tail call, so they need no stack frame. */
static __attribute__((noinline)) void *after_alloc_slow(void *p, size_t req)
{
	if (p && pt_ks_active())
		pt_fast_alloc(p, req, usable_size(p));
	return p;
}

/* Returns p. With the gate open, a block that glibc did not mmap has a
 * usable size of its chunk size less one header word; an mmapped one
 * (bit 2) takes the slow path, which reads it in full. */
static inline void *after_alloc(void *p, size_t req)
{
	if (__builtin_expect(p != NULL && pt_fast_gate_open(), 1)) {
		size_t field = ((const size_t *)p)[-1];
		if (__builtin_expect(!(field & 2), 1)) {
			if (!pt_fast_alloc_due(&pt_tls, req, pt_glibc_heap_usable(field)))
				return p;
			return pt_slow_alloc(&pt_tls, p, req); /* a tail call */
		}
	}
	return after_alloc_slow(p, req);
}

static inline void before_free(void *p)
{
	pt_fast_free(p, usable_size(p));
}

PT_EXPORT void *malloc(size_t n)
{
	if (__builtin_expect(!ready(), 0))
		return boot_alloc(n, 16);
	return after_alloc(pt_real.malloc(n), n);
}

static __attribute__((noinline)) void free_slow(void *p)
{
	if (!p)
		return;
	if (__builtin_expect(is_boot(p), 0))
		return;
	if (__builtin_expect(!ready(), 0))
		return; /* cannot happen: p came from somewhere */
	if (!pt_ks_active()) {
		PT_MARK(shim_passthrough_after_trip);
		pt_real.free(p);
		return;
	}
	before_free(p);
	pt_real.free(p);
}

static __attribute__((noinline)) void free_due(void *p)
{
	pt_slow_free_any(&pt_tls, p);
	pt_real.free(p);
}

PT_EXPORT void free(void *p)
{
	/* The gate open implies the real functions are resolved and glibc's
	 * headers readable. One bit sends glibc's mmapped chunks and our
	 * bootstrap blocks (BOOT_MARK) to free_slow. */
	if (__builtin_expect(p != NULL && pt_fast_gate_open(), 1)) {
		size_t field = ((const size_t *)p)[-1];
		if (__builtin_expect(!(field & 2), 1)) {
			if (!pt_fast_free_due(&pt_tls, p, pt_glibc_heap_usable(field))) {
				pt_real.free(p);
				return;
			}
			free_due(p);
			return;
		}
	}
	free_slow(p);
}

PT_EXPORT void *calloc(size_t n, size_t size)
{
	if (__builtin_expect(!ready(), 0)) {
		size_t total;
		if (__builtin_mul_overflow(n, size, &total))
			return NULL;
		return boot_alloc(total, 16); /* static memory: already zero */
	}
	void *p = pt_real.calloc(n, size);
	after_alloc(p, n * size); /* no overflow: calloc succeeded */
	return p;
}

static void *realloc_boot(void *p, size_t n)
{
	void *q = malloc(n);
	if (q) {
		size_t old = boot_size(p);
		memcpy(q, p, old < n ? old : n);
	}
	return q;
}

PT_EXPORT void *realloc(void *p, size_t n)
{
	if (!p)
		return malloc(n);
	if (__builtin_expect(is_boot(p), 0))
		return realloc_boot(p, n);
	if (__builtin_expect(!ready(), 0))
		return NULL;
	if (!pt_ks_active())
		return pt_real.realloc(p, n);
	if (n >= (size_t)1 << 56) {
		/* Fails for sure (more than any user address space, 5-level
		 * page tables included), and p stays, still recorded where it
		 * was allocated; what glibc would say: */
		PT_MARK(shim_realloc_impossible);
		errno = ENOMEM;
		return NULL;
	}
	size_t old_usable = usable_size(p);
	/* The free first: once the real realloc has moved the block, another
	 * thread may get p back and record it before we could. */
	before_free(p);
	void *q = pt_real.realloc(p, n);
	if (q) {
		after_alloc(q, n);
	} else if (n != 0) {
		/* Failed: p is still allocated. Recorded again, as allocated
		 * here (its first stack is not kept anywhere to restore: in
		 * exact mode the reporter holds it); its bytes count again
		 * and it stays in the peak's stacks. */
		PT_MARK(shim_realloc_failed);
		after_alloc(p, old_usable);
	}
	return q;
}

PT_EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, total);
}

PT_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	if (__builtin_expect(!ready(), 0)) {
		void *p = boot_alloc(n, align);
		if (!p)
			return ENOMEM;
		*out = p;
		return 0;
	}
	int rc = pt_real.posix_memalign(out, align, n);
	if (rc == 0)
		after_alloc(*out, n);
	return rc;
}

PT_EXPORT void *aligned_alloc(size_t align, size_t n)
{
	if (__builtin_expect(!ready(), 0))
		return boot_alloc(n, align);
	void *p = pt_real.aligned_alloc(align, n);
	after_alloc(p, n);
	return p;
}

PT_EXPORT void *memalign(size_t align, size_t n)
{
	if (__builtin_expect(!ready(), 0))
		return boot_alloc(n, align);
	void *p = pt_real.memalign(align, n);
	after_alloc(p, n);
	return p;
}

PT_EXPORT void *valloc(size_t n)
{
	if (__builtin_expect(!ready(), 0))
		return boot_alloc(n, 4096);
	void *p = pt_real.valloc(n);
	after_alloc(p, n);
	return p;
}

PT_EXPORT void *pvalloc(size_t n)
{
	if (__builtin_expect(!ready(), 0))
		return boot_alloc(n, 4096);
	void *p = pt_real.pvalloc(n);
	after_alloc(p, n);
	return p;
}

PT_EXPORT size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	if (is_boot(p))
		return boot_size(p);
	if (!ready())
		return 0;
	return pt_real.malloc_usable_size(p);
}
