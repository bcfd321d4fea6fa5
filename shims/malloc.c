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

/* ---- tagged blocks ---------------------------------------------------------
 *
 * With the gate open (sampled mode, glibc's allocator, these shims the ones
 * the program calls: envcheck.c), the sampler decides before the real call,
 * and a block it picks is tagged: allocated `off` bytes larger (16, or its
 * alignment), with the program given q = raw + off and two words of ours
 * before q:
 *   q[-1] = off << 3 | 2   bit 2 is glibc's "mmapped" bit: the free fast
 *                          path's one test of the header word sends a
 *                          tagged block to free_slow, as it does glibc's
 *                          mmapped chunks and the bootstrap blocks; above
 *                          bit 20, the sample itself (its weight and
 *                          generation: runtime.h, PT_TAG_SAMPLE_SHIFT),
 *                          so the live table is not used for it at all;
 *   q[-2] = TAG_KEY ^ q    where glibc keeps an mmapped chunk's prev_size,
 *                          an offset below a page: with TAG_KEY's top bits
 *                          set, no user address makes it one.
 * So a free learns whether its block was sampled from the header word that
 * glibc's free loads anyway. The live table's filter, 32 KiB read at a
 * random place on every free, missed L1 on about half the frees of a
 * small-block workload (cachegrind, bench_malloc_pairs 1 16 1024); it stays
 * for the paths that cannot tag (Python's allocators, another allocator,
 * exact mode, which records every free). free, realloc and
 * malloc_usable_size recognise a tag at any time, after a trip too, and
 * glibc only ever gets the raw block back. Cost: off bytes per sampled
 * block; its usable size as the program sees it is what is counted.
 */
#define TAG_OFF ((size_t)16)
#define TAG_KEY ((uintptr_t)0xd6e8feb86659fd93ULL)
/* Larger alignments are not sampled (the tag would cost the alignment):
 * they are counted, and the countdown goes on. */
#define TAG_MAX_ALIGN ((size_t)1 << 16)

/* Only where glibc's chunk headers are readable: q[-1] and q[-2] are then
 * always mapped and ours or glibc's. */
static inline bool is_tagged(const void *q)
{
	const uintptr_t *w = q;
	return (w[-1] & 2) && w[-2] == (TAG_KEY ^ (uintptr_t)q);
}

static inline bool tags_possible(void)
{
	return pt_glibc_chunk_sizes;
}

static inline void *tag(void *raw, size_t off)
{
	uintptr_t *w = (uintptr_t *)((char *)raw + off);
	w[-1] = (uintptr_t)off << 3 | 2;
	w[-2] = TAG_KEY ^ (uintptr_t)w;
	return w;
}

static inline size_t tag_off(const void *q)
{
	return (((const uintptr_t *)q)[-1] & ~PT_TAG_SAMPLE_MASK) >> 3;
}

static inline void *tag_raw(void *q)
{
	return (char *)q - tag_off(q);
}

/* The bytes the program may use at q (what malloc_usable_size says, and
 * what is counted). */
static inline size_t tag_usable(void *q)
{
	return pt_glibc_usable(tag_raw(q)) - tag_off(q);
}

/* Before glibc gets the block back: a second free of q must not find it. */
static inline void untag(void *q)
{
	((uintptr_t *)q)[-2] = 0;
}

static inline void *tag_record(void *raw, size_t off, size_t req)
{
	PT_MARK(shim_tag_alloc);
	uintptr_t *q = tag(raw, off);
	return pt_sampled_record(&pt_tls, q, req, pt_glibc_usable(raw) - off, &q[-1]);
}

/* The sampled allocations: the raw block, tagged and recorded. */
static __attribute__((noinline)) void *malloc_sampled(size_t n)
{
	void *raw = n <= PTRDIFF_MAX - TAG_OFF ? pt_real.malloc(n + TAG_OFF) : NULL;
	if (!raw)
		return n <= PTRDIFF_MAX - TAG_OFF ? NULL : pt_real.malloc(n); /* its errno */
	return tag_record(raw, TAG_OFF, n); /* a tail call */
}

static __attribute__((noinline)) void *calloc_sampled(size_t total)
{
	void *raw = total <= PTRDIFF_MAX - TAG_OFF ? pt_real.calloc(1, total + TAG_OFF) : NULL;
	if (!raw)
		return total <= PTRDIFF_MAX - TAG_OFF ? NULL : pt_real.calloc(1, total);
	return tag_record(raw, TAG_OFF, total);
}

/* align: a power of two, 16 to TAG_MAX_ALIGN */
static __attribute__((noinline)) void *aligned_sampled(size_t align, size_t n)
{
	void *raw = n <= PTRDIFF_MAX - align ? pt_real.memalign(align, n + align) : NULL;
	if (!raw)
		return n <= PTRDIFF_MAX - align ? NULL : pt_real.memalign(align, n);
	return tag_record(raw, align, n);
}

/* ---- counting ------------------------------------------------------------- */

/* Gate closed (not started, another allocator, exact mode, a trip): the
 * general path, where a sampled block is found by the live table's filter.
 * Every way out of malloc's and free's fast paths is a return or a tail
 * call, so they need no stack frame. */
static __attribute__((noinline)) void *after_alloc_slow(void *p, size_t req)
{
	if (p && pt_ks_active())
		pt_fast_alloc(p, req, usable_size(p));
	return p;
}

static __attribute__((noinline)) void *counted_mmapped(void *p)
{
	struct pt_tls *t = &pt_tls;
	if (!pt_fast_count_due(t, pt_glibc_usable(p)))
		return p;
	return pt_count_flush(t, p);
}

/* Gate open, sampling decided before the call: the bytes of p (NULL: the
 * call failed) are counted. A block that glibc did not mmap has a usable
 * size of its chunk size less one header word; an mmapped one (bit 2)
 * takes counted_mmapped. Returns p. */
static inline void *counted(void *p)
{
	if (__builtin_expect(p != NULL, 1)) {
		size_t field = ((const size_t *)p)[-1];
		if (__builtin_expect(!(field & 2), 1)) {
			if (!pt_fast_count_due(&pt_tls, pt_glibc_heap_usable(field)))
				return p;
			return pt_count_flush(&pt_tls, p); /* a tail call */
		}
		return counted_mmapped(p);
	}
	return p;
}

/* With the gate open, true when this allocation of req bytes is to be
 * sampled (and so tagged). */
static inline bool sample_now(size_t req)
{
	struct pt_tls *t = &pt_tls;
	return pt_countdown_due(t, req) && pt_sample_due(t, req);
}

static inline void before_free(void *p)
{
	pt_fast_free(p, usable_size(p));
}

/* The countdown ran out (or the thread is not set up): sampled or not. */
static __attribute__((noinline)) void *malloc_due(size_t n)
{
	if (pt_sample_due(&pt_tls, n))
		return malloc_sampled(n);
	return counted(pt_real.malloc(n));
}

PT_EXPORT void *malloc(size_t n)
{
	/* the gate open implies the real functions resolved */
	if (__builtin_expect(pt_fast_gate_open(), 1)) {
		if (__builtin_expect(pt_countdown_due(&pt_tls, n), 0))
			return malloc_due(n);
		return counted(pt_real.malloc(n));
	}
	if (__builtin_expect(!ready(), 0))
		return boot_alloc(n, 16);
	return after_alloc_slow(pt_real.malloc(n), n);
}

/* A tagged block's free: recorded (it was sampled), untagged, and the raw
 * block goes back to glibc. */
static __attribute__((noinline)) void free_tagged(void *q)
{
	void *raw = tag_raw(q);
	PT_MARK(shim_tag_free);
	if (pt_ks_active()) {
		pt_tagged_free(&pt_tls, q, tag_usable(q), ((uintptr_t *)q)[-1]);
	} else {
		PT_MARK(shim_passthrough_after_trip);
	}
	untag(q);
	pt_real.free(raw);
}

static __attribute__((noinline)) void free_slow(void *p)
{
	if (!p)
		return;
	if (__builtin_expect(is_boot(p), 0))
		return;
	if (__builtin_expect(!ready(), 0))
		return; /* cannot happen: p came from somewhere */
	if (tags_possible() && is_tagged(p)) {
		free_tagged(p);
		return;
	}
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
	(void)pt_count_flush(&pt_tls, p);
	pt_real.free(p);
}

PT_EXPORT void free(void *p)
{
	/* The gate open implies the real functions are resolved, glibc's
	 * headers readable and every sampled block tagged. One bit sends
	 * tagged blocks, glibc's mmapped chunks and our bootstrap blocks
	 * (BOOT_MARK) to free_slow. */
	if (__builtin_expect(p != NULL && pt_fast_gate_open(), 1)) {
		size_t field = ((const size_t *)p)[-1];
		if (__builtin_expect(!(field & 2), 1)) {
			if (!pt_fast_uncount_due(&pt_tls, pt_glibc_heap_usable(field))) {
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
	size_t total;
	if (__builtin_expect(!ready(), 0)) {
		if (__builtin_mul_overflow(n, size, &total))
			return NULL;
		return boot_alloc(total, 16); /* static memory: already zero */
	}
	if (__builtin_mul_overflow(n, size, &total))
		return pt_real.calloc(n, size); /* fails: glibc's errno */
	if (__builtin_expect(pt_fast_gate_open(), 1)) {
		if (__builtin_expect(sample_now(total), 0))
			return calloc_sampled(total);
		return counted(pt_real.calloc(n, size));
	}
	return after_alloc_slow(pt_real.calloc(n, size), total);
}

/* The aligned family, gate open: align is what the real function would
 * align to; tagged when it is a power of two within TAG_MAX_ALIGN, only
 * counted otherwise (glibc refuses or rounds such alignments). */
static inline bool tag_align_ok(size_t align)
{
	return align >= 16 && align <= TAG_MAX_ALIGN && (align & (align - 1)) == 0;
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

/* realloc of a tagged block q (sampled when it was allocated). */
static __attribute__((noinline)) void *realloc_tagged(void *q, size_t n)
{
	void *raw = tag_raw(q);
	size_t off = tag_off(q);
	size_t old = tag_usable(q);
	if (!pt_ks_active()) {
		/* after a trip: an untagged copy, as glibc would move it */
		PT_MARK(shim_passthrough_after_trip);
		if (n == 0) {
			untag(q);
			pt_real.free(raw);
			return NULL;
		}
		void *r = pt_real.malloc(n);
		if (r) {
			memcpy(r, q, old < n ? old : n);
			untag(q);
			pt_real.free(raw);
		}
		return r;
	}
	if (n >= (size_t)1 << 56) {
		PT_MARK(shim_realloc_impossible); /* as in realloc */
		errno = ENOMEM;
		return NULL;
	}
	PT_MARK(shim_tag_realloc);
	struct pt_tls *t = &pt_tls;
	/* its free first, for the reason realloc gives; the tag then holds
	 * no sample */
	uintptr_t *word = &((uintptr_t *)q)[-1];
	pt_tagged_free(t, q, old, *word);
	*word &= ~PT_TAG_SAMPLE_MASK;
	if (n == 0) {
		/* glibc frees the block and returns NULL */
		untag(q);
		pt_real.free(raw);
		return NULL;
	}
	/* The raw block grows or shrinks where glibc can, and keeps its
	 * offset and tag: sampled again, it is recorded; if not, it stays a
	 * tagged block with no sample in its tag (its free records nothing).
	 * Untagging it would take a copy of the whole block. */
	bool again = pt_fast_gate_open() && sample_now(n);
	void *raw2 = n <= PTRDIFF_MAX - off ? pt_real.realloc(raw, n + off) : NULL;
	if (raw2) {
		if (again)
			return tag_record(raw2, off, n);
		PT_MARK(shim_tag_kept);
		void *r = tag(raw2, off);
		if (pt_fast_count_due(t, tag_usable(r)))
			return pt_count_flush(t, r);
		return r;
	}
	/* Failed: q is still allocated, and tagged; recorded again, as
	 * allocated here (see realloc). */
	PT_MARK(shim_realloc_failed);
	(void)pt_sampled_record(t, q, old, old, word);
	return NULL;
}

PT_EXPORT void *realloc(void *p, size_t n)
{
	if (!p)
		return malloc(n);
	if (__builtin_expect(is_boot(p), 0))
		return realloc_boot(p, n);
	if (__builtin_expect(!ready(), 0))
		return NULL;
	if (tags_possible() && is_tagged(p))
		return realloc_tagged(p, n);
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
	if (pt_fast_gate_open()) {
		/* p was not sampled (it would be tagged): only its bytes move */
		struct pt_tls *t = &pt_tls;
		if (n != 0 && sample_now(n)) { /* (realloc(p, 0) frees p) */
			void *raw = pt_real.malloc(n + TAG_OFF);
			if (!raw)
				return NULL; /* p stays as it was */
			memcpy((char *)raw + TAG_OFF, p, old_usable < n ? old_usable : n);
			pt_delta_add(t, -(int64_t)old_usable);
			pt_real.free(p);
			return tag_record(raw, TAG_OFF, n);
		}
		pt_delta_add(t, -(int64_t)old_usable);
		void *q = pt_real.realloc(p, n);
		if (q)
			return counted(q);
		if (n != 0)
			pt_delta_add(t, (int64_t)old_usable); /* failed: p stays */
		return q;
	}
	/* The free first: once the real realloc has moved the block, another
	 * thread may get p back and record it before we could. */
	before_free(p);
	void *q = pt_real.realloc(p, n);
	if (q) {
		after_alloc_slow(q, n);
	} else if (n != 0) {
		/* Failed: p is still allocated. Recorded again, as allocated
		 * here (its first stack is not kept anywhere to restore: in
		 * exact mode the reporter holds it); its bytes count again
		 * and it stays in the peak's stacks. */
		PT_MARK(shim_realloc_failed);
		after_alloc_slow(p, old_usable);
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

/* The aligned family with the gate open: the block aligned to align (a
 * power of two of at least 16), sampled and tagged when it is due, counted
 * otherwise; NULL when it failed. */
static inline void *aligned_gated(size_t align, size_t n)
{
	if (__builtin_expect(sample_now(n), 0))
		return aligned_sampled(align, n);
	return counted(pt_real.memalign(align, n));
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
	if (pt_fast_gate_open() && align != 0 && align % sizeof(void *) == 0 && (align & (align - 1)) == 0 &&
	    tag_align_ok(align < 16 ? 16 : align)) {
		int saved = errno;
		void *p = aligned_gated(align < 16 ? 16 : align, n);
		errno = saved; /* posix_memalign reports by its result */
		if (!p)
			return ENOMEM;
		*out = p;
		return 0;
	}
	int rc = pt_real.posix_memalign(out, align, n);
	if (rc == 0) {
		if (pt_fast_gate_open())
			counted(*out);
		else
			after_alloc_slow(*out, n);
	}
	return rc;
}

PT_EXPORT void *aligned_alloc(size_t align, size_t n)
{
	if (__builtin_expect(!ready(), 0))
		return boot_alloc(n, align);
	if (pt_fast_gate_open()) {
		if (tag_align_ok(align < 16 ? 16 : align))
			return aligned_gated(align < 16 ? 16 : align, n);
		return counted(pt_real.aligned_alloc(align, n));
	}
	return after_alloc_slow(pt_real.aligned_alloc(align, n), n);
}

PT_EXPORT void *memalign(size_t align, size_t n)
{
	if (__builtin_expect(!ready(), 0))
		return boot_alloc(n, align);
	if (pt_fast_gate_open()) {
		if (tag_align_ok(align < 16 ? 16 : align))
			return aligned_gated(align < 16 ? 16 : align, n);
		return counted(pt_real.memalign(align, n));
	}
	return after_alloc_slow(pt_real.memalign(align, n), n);
}

PT_EXPORT void *valloc(size_t n)
{
	if (__builtin_expect(!ready(), 0))
		return boot_alloc(n, 4096);
	size_t page = (size_t)getpagesize();
	if (pt_fast_gate_open()) {
		if (tag_align_ok(page))
			return aligned_gated(page, n);
		return counted(pt_real.valloc(n));
	}
	return after_alloc_slow(pt_real.valloc(n), n);
}

PT_EXPORT void *pvalloc(size_t n)
{
	if (__builtin_expect(!ready(), 0))
		return boot_alloc(n, 4096);
	size_t page = (size_t)getpagesize();
	size_t whole = (n + page - 1) & ~(page - 1); /* as glibc rounds: 0 stays 0 */
	if (pt_fast_gate_open()) {
		if (whole >= n && tag_align_ok(page))
			return aligned_gated(page, whole);
		return counted(pt_real.pvalloc(n));
	}
	return after_alloc_slow(pt_real.pvalloc(n), n);
}

PT_EXPORT size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	if (is_boot(p))
		return boot_size(p);
	if (!ready())
		return 0;
	if (tags_possible() && is_tagged(p))
		return tag_usable(p);
	return pt_real.malloc_usable_size(p);
}
