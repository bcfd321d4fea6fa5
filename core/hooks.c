/*
 * hooks.c: what every allocation and free costs: exact byte accounting and
 * the sampler's countdown on the fast path; stack capture, interning, the
 * live table and the event ring on the (rare) sampled path.
 *
 * Fast path (every call, no lock, no atomic in the common case):
 *   alloc: pt_tls.countdown -= req before the call, pt_tls.delta += usable
 *          after it; two compares.
 *   free:  pt_tls.delta -= usable; with the shims' gate open, a sampled
 *          block is known by its tag (shims/malloc.c) from the header word
 *          read for its size; otherwise one load from the live table's
 *          filter.
 * The delta reaches the global counters (one atomic add) when it passes
 * PT_BATCH_BYTES either way, and the peak is checked then.
 *
 * Sampling (DESIGN.md "Measuring memory"): each thread's countdown is drawn
 * from an exponential distribution with mean S bytes; an allocation of n
 * bytes that crosses it is sampled, which happens with probability
 * p = 1 - exp(-n/S), and the sample carries weight n/p (Horvitz-Thompson),
 * so the estimate of every site's bytes is unbiased for every n: ~S for
 * n << S, ~n for n >> S (the arithmetic is in sampler.c).
 *
 * The fast path itself is inline in runtime.h (pt_fast_alloc, pt_fast_free);
 * the slow paths here raise pt_tls.busy while they sample, so an allocation
 * made from inside (libunwind, dlsym, the loader) is accounted but never
 * sampled. Exact mode samples everything with weight n and records every
 * free without a table lookup.
 */
#include "core/runtime.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "contracts/arith.h"
#include "contracts/contracts.h"
#include "contracts/covmarks.h"
#include "core/guard.h"
#include "core/pyglue.h"
#include "core/sampler.h"
#include "peaktrace/fp.h"

#include "contracts/banned.h"

__thread struct pt_tls pt_tls PT_TLS_IE;
struct pt_state pt_g = { .live = PT_LIVE_INITIALIZER };

uint64_t pt_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Exponential draw with mean S (sampler.h); 0 in exact mode. */
static int64_t next_countdown(struct pt_tls *t)
{
	if (pt_g.cfg.mode == PT_MODE_EXACT)
		return 0;
	return pt_sampler_draw(&t->rng, pt_sample_bytes());
}

/* Adds the bytes requested since the countdown was last set or accounted
 * to nbytes (the fast path keeps no byte total of its own). */
static inline void account_bytes(struct pt_tls *t)
{
	t->nbytes += (uint64_t)(t->cd_mark - t->countdown);
	t->cd_mark = t->countdown;
}

/* Sets the sampler's countdown, the old one's bytes accounted first. */
static inline void set_countdown(struct pt_tls *t, int64_t v)
{
	account_bytes(t);
	t->countdown = t->cd_mark = v;
}

static void tls_init(struct pt_tls *t)
{
	t->gen = atomic_load_explicit(&pt_g.gen, memory_order_relaxed);
	t->tid = (uint32_t)syscall(SYS_gettid);
	t->name_check = 0;
	t->py_eval_at = 0;
	memset(t->name, 0, sizeof t->name);
	uint64_t seed = pt_now_ns() ^ ((uint64_t)t->tid << 32) ^ (uintptr_t)t;
	t->rng = seed ? seed : 0x853c49e6748fea9bULL;
	/* before start: never sample, but stay on the slow path, which sets
	 * the thread up again once the generation changes at start */
	t->countdown = t->cd_mark = pt_started() ? next_countdown(t) : 0;
}

void pt_tls_reinit_self(void)
{
	/* a fork child: its totals start at 0, its heap is the parent's */
	pt_tls.nallocs = pt_tls.nbytes = 0;
	tls_init(&pt_tls);
}

static inline struct pt_tls *tls_get(void)
{
	struct pt_tls *t = &pt_tls;
	if (__builtin_expect(t->gen != atomic_load_explicit(&pt_g.gen, memory_order_relaxed), 0))
		tls_init(t);
	return t;
}

/* Records a new peak: the winner of the CAS on peak stores where in the
 * event stream and when it happened, under a seqlock the writer reads. A
 * concurrent winner that finds the lock taken skips: the other thread is
 * recording an equally recent peak. */
static void note_peak(int64_t now_bytes)
{
	int64_t old = atomic_load_explicit(&pt_g.peak, memory_order_relaxed);
	while (now_bytes > old) {
		if (atomic_compare_exchange_weak_explicit(&pt_g.peak, &old, now_bytes,
							  memory_order_relaxed,
							  memory_order_relaxed)) {
			int unlocked = 0;
			if (!atomic_compare_exchange_strong(&pt_g.peak_lock, &unlocked, 1))
				return;
			atomic_fetch_add_explicit(&pt_g.peak_seq, 1, memory_order_acq_rel);
			pt_g.peak_pos = pt_ring_head(&pt_g.ring);
			pt_g.peak_t_ns = pt_now_ns();
			atomic_fetch_add_explicit(&pt_g.peak_seq, 1, memory_order_acq_rel);
			atomic_store_explicit(&pt_g.peak_alloc_w, 0, memory_order_relaxed);
			atomic_store_explicit(&pt_g.peak_free_w, 0, memory_order_relaxed);
			atomic_store_explicit(&pt_g.peak_best_net, 0, memory_order_relaxed);
			atomic_store_explicit(&pt_g.at_peak, 1, memory_order_relaxed);
			atomic_store_explicit(&pt_g.peak_lock, 0, memory_order_release);
			return;
		}
	}
}

/* Sampled mode: blocks carved from memory already counted (pymalloc's
 * arenas, free space in the heap) do not raise the exact total, so the
 * exact peak's stream position alone would stop at the last moment the
 * total grew and miss the objects made after it (up to an arena, 1 MiB).
 * While the exact total stays at its peak, the position moves on to every
 * sampled allocation that takes the sampled live weight (allocated minus
 * freed since the peak) to a new high. Exact mode records no weights at
 * free (no table), so there the position stays with the exact total. */
static void extend_peak(uint64_t weight)
{
	if (pt_g.cfg.mode == PT_MODE_EXACT ||
	    !atomic_load_explicit(&pt_g.at_peak, memory_order_relaxed))
		return;
	uint64_t a = atomic_fetch_add_explicit(&pt_g.peak_alloc_w, weight,
					       memory_order_relaxed) + weight;
	int64_t net = (int64_t)(a - atomic_load_explicit(&pt_g.peak_free_w,
							 memory_order_relaxed));
	int64_t best = atomic_load_explicit(&pt_g.peak_best_net, memory_order_relaxed);
	if (net <= best)
		return;
	int unlocked = 0;
	if (!atomic_compare_exchange_strong(&pt_g.peak_lock, &unlocked, 1))
		return;
	if (atomic_load_explicit(&pt_g.at_peak, memory_order_relaxed)) {
		PT_MARK(peak_extended);
		atomic_store_explicit(&pt_g.peak_best_net, net, memory_order_relaxed);
		atomic_fetch_add_explicit(&pt_g.peak_seq, 1, memory_order_acq_rel);
		pt_g.peak_pos = pt_ring_head(&pt_g.ring);
		pt_g.peak_t_ns = pt_now_ns();
		atomic_fetch_add_explicit(&pt_g.peak_seq, 1, memory_order_acq_rel);
	}
	atomic_store_explicit(&pt_g.peak_lock, 0, memory_order_release);
}

/* A sampled block of weight w was freed: while the total is at its peak,
 * the sampled weight freed since it grows (extend_peak). Away from the
 * peak nothing: the next peak starts it from 0, and an unconditional add
 * was a locked instruction on a shared line for every sampled free. */
static inline void note_peak_free(uint64_t w)
{
	if (w && atomic_load_explicit(&pt_g.at_peak, memory_order_relaxed))
		atomic_fetch_add_explicit(&pt_g.peak_free_w, w, memory_order_relaxed);
}

static inline void left_peak(void)
{
	if (atomic_load_explicit(&pt_g.at_peak, memory_order_relaxed))
		atomic_store_explicit(&pt_g.at_peak, 0, memory_order_relaxed);
}

static void flush_delta(struct pt_tls *t)
{
	account_bytes(t);
	if (t->nallocs) {
		atomic_fetch_add_explicit(&pt_g.total_allocs, t->nallocs, memory_order_relaxed);
		atomic_fetch_add_explicit(&pt_g.total_alloc_bytes, t->nbytes, memory_order_relaxed);
		t->nallocs = t->nbytes = 0;
	}
	/* taken in one instruction, for the reason pt_delta_add gives */
	int64_t d = __atomic_exchange_n(&t->delta, 0, __ATOMIC_RELAXED);
	if (d == 0)
		return;
	int64_t heap = atomic_fetch_add_explicit(&pt_g.heap, d, memory_order_relaxed) + d;
	if (d > 0) {
		int64_t mapped = atomic_load_explicit(&pt_g.mapped, memory_order_relaxed);
		note_peak(heap + mapped);
	} else {
		left_peak();
	}
}

void pt_flush_delta(void)
{
	flush_delta(tls_get());
}

/* Set when a push that waited for the writer gave up: the writer is
 * stalled (a slow disk, a stopped process), not merely behind. Until a push
 * succeeds again, the events that would wait are dropped at once: 64
 * yields for every free of an exact-mode program made it 160 times slower
 * while the ring stayed full. */
static atomic_int ring_congested;

static void push_or_drop(const struct pt_event *ev, bool must)
{
	for (int tries = 0;; tries++) {
		if (pt_ring_push(&pt_g.ring, ev) == 0) {
			if (atomic_load_explicit(&ring_congested, memory_order_relaxed))
				atomic_store_explicit(&ring_congested, 0, memory_order_relaxed);
			return;
		}
		/* A lost free leaves a sample live forever in the report, so a
		 * free (and, in exact mode, every event) gets a few yields for the
		 * writer to catch up; never more, and none while the writer is
		 * known to be stalled. */
		bool congested = atomic_load_explicit(&ring_congested, memory_order_relaxed);
		if (!must || tries >= 64 || congested) {
			if (must && !congested) {
				PT_MARK(ring_congested);
				atomic_store_explicit(&ring_congested, 1, memory_order_relaxed);
			}
			PT_MARK(ring_full_drop);
			atomic_fetch_add_explicit(&pt_g.drops, 1, memory_order_relaxed);
			return;
		}
		sched_yield();
	}
}

/* The thread's name goes to the trace from the thread itself (one prctl,
 * no descriptor: the writer reading /proc/self/task/N/comm would open one,
 * and a program closing every descriptor could hand its number to a file
 * of its own before our close). Read at the thread's first sample and
 * every 64th after it, so a later pthread_setname_np is seen; pushed
 * before the sample, so the writer has it first. */
static void note_thread_name(struct pt_tls *t)
{
	if (t->name_check--)
		return;
	t->name_check = 63;
	char name[16] = { 0 };
	if (prctl(PR_GET_NAME, name, 0, 0, 0) != 0 || !name[0])
		return;
	name[15] = 0;
	if (memcmp(name, t->name, sizeof name) == 0)
		return;
	struct pt_event ev = { .kind = PT_EV_THREAD, .tid = t->tid };
	memcpy(&ev.addr, name, 8);
	memcpy(&ev.size, name + 8, 8);
	if (pt_ring_push(&pt_g.ring, &ev) == 0)
		memcpy(t->name, name, sizeof name);
	else
		t->name_check = 0; /* the ring is full: again at the next sample */
}

/* The sample bits of a tag word (PT_TAG_SAMPLE_SHIFT): weight w (or
 * PT_TAG_W_TABLE) recorded in this generation. */
static inline uintptr_t tag_sample_bits(uint64_t w)
{
	unsigned gen = atomic_load_explicit(&pt_g.gen, memory_order_relaxed) & 0xffu;
	return (uintptr_t)w << PT_TAG_W_SHIFT | (uintptr_t)gen << PT_TAG_SAMPLE_SHIFT;
}

/* Inline in its callers: one frame fewer for every walk. tagword: the
 * tag word of a tagged block (the sample goes there, see runtime.h), or
 * NULL (the live table). */
static inline __attribute__((always_inline)) void sample(struct pt_tls *t, void *p, size_t req,
							 uint8_t flags, uintptr_t *tagword)
{
	/* Exact mode records every block, so a free needs no lookup to know
	 * it was recorded: the table (a cache and TLB miss per call on tens of
	 * MiB) is skipped and every free is written (live.all). A tagged
	 * block's sample is in its tag, unless the weight is too large. */
	bool exact = pt_g.cfg.mode == PT_MODE_EXACT;
	uint64_t weight = exact ? req : pt_sampler_weight(req, pt_sample_bytes());
	bool table = !exact && (!tagword || weight >= PT_TAG_W_TABLE || PT_FAIL(tag_weight));
	if (table)
		pt_live_prefetch(&pt_g.live, (uintptr_t)p);
	pt_ring_prefetch(&pt_g.ring);
	if (__builtin_expect(pt_pyalloc_pending(), 0) && pt_pyglue_active())
		pt_pyalloc_try_install();
	uint32_t stack = 0;
	if (pt_walk_enter()) {
		int rc = pt_guard_run(pt_stack_capture_guarded, &stack);
		pt_walk_leave();
		if (rc == PT_GUARD_FAULTED) {
			PT_MARK(sample_capture_faulted);
			return; /* the kill-switch is tripped; nothing else to do */
		}
	}
	if (table && pt_live_insert(&pt_g.live, (uintptr_t)p, weight) < 0) {
		atomic_fetch_add_explicit(&pt_g.drops, 1, memory_order_relaxed);
		return;
	}
	if (__builtin_expect(!atomic_load_explicit(&pt_writer_running, memory_order_relaxed), 0))
		pt_writer_child_start(); /* first sample of a fork child */
	note_thread_name(t);
	struct pt_event ev = {
		.kind = PT_EV_ALLOC, .flags = flags, .tid = t->tid,
		.addr = (uintptr_t)p, .size = req, .weight = weight, .stack = stack,
	};
	if (pt_ring_push(&pt_g.ring, &ev) == 0) {
		extend_peak(weight);
		if (tagword) {
			PT_MARK(sample_in_tag);
			*tagword |= tag_sample_bits(table ? PT_TAG_W_TABLE : weight);
		}
	} else {
		if (exact) {
			push_or_drop(&ev, true);
			return;
		}
		PT_MARK(ring_full_drop);
		atomic_fetch_add_explicit(&pt_g.drops, 1, memory_order_relaxed);
		if (table)
			pt_live_remove(&pt_g.live, (uintptr_t)p, NULL);
	}
}

/* A sample the countdown called for, taken with busy raised: the
 * allocations the walk and the tables make are accounted, not sampled. */
static inline __attribute__((always_inline)) void take_sample(struct pt_tls *t, void *p,
							      size_t req, uint8_t flags,
							      uintptr_t *tagword)
{
	PT_MARK(sampled);
	t->busy++;
	sample(t, p, req, flags, tagword);
	t->busy--;
}

static inline void maybe_sample(struct pt_tls *t, void *p, size_t req, uint8_t flags)
{
	if (!pt_started() || t->busy)
		return;
	t->nallocs++;
	t->countdown -= (int64_t)(req > INT64_MAX ? INT64_MAX : req);
	if (__builtin_expect(t->countdown > 0, 1))
		return;
	set_countdown(t, next_countdown(t));
	take_sample(t, p, req, flags, NULL);
}

void *pt_slow_alloc(struct pt_tls *t, void *p, size_t req)
{
	/* The wrappers of Python's allocators come here without a kill-switch
	 * test of their own: after a trip, nothing, and a countdown that never
	 * brings them back. */
	if (__builtin_expect(!pt_ks_active_inline(), 0)) {
		t->countdown = INT64_MAX;
		return p;
	}
	int saved = errno;
	/* Sample first, flush after: a peak this allocation makes must be
	 * recorded after its event in the stream, or the peak's live set
	 * would miss the very block that made it. A stale thread (new, or set
	 * up before start) is set up by pt_sample_due, and this allocation
	 * counts against its fresh countdown too (the first allocation of a
	 * fork child must have its chance). */
	if (t->countdown <= 0 || t->gen != atomic_load_explicit(&pt_g.gen, memory_order_relaxed)) {
		if (pt_sample_due(t, req))
			take_sample(t, p, req, 0, NULL);
	} else if (t->busy) {
		PT_MARK(shim_reentry_passthrough); /* an allocation from inside the runtime */
	}
	if (t->delta > PT_BATCH_BYTES || pt_g.cfg.mode == PT_MODE_EXACT)
		flush_delta(t);
	errno = saved;
	return p;
}

bool pt_sample_due(struct pt_tls *t, size_t req)
{
	if ((int64_t)req < 0) {
		t->countdown += (int64_t)req; /* no size at all: it fails */
		return false;
	}
	if (__builtin_expect(!pt_ks_active_inline(), 0)) {
		t->countdown = INT64_MAX;
		return false;
	}
	int saved = errno;
	bool due = false;
	if (t->busy)
		PT_MARK(shim_reentry_passthrough); /* an allocation from inside the runtime */
	if (t->gen != atomic_load_explicit(&pt_g.gen, memory_order_relaxed)) {
		tls_init(t);
		t->countdown -= (int64_t)req; /* (as in pt_slow_alloc) */
	}
	if (t->countdown <= 0) {
		if (!pt_started()) {
			set_countdown(t, 0); /* nothing is sampled before start */
		} else {
			set_countdown(t, next_countdown(t));
			due = !t->busy; /* nor from inside the runtime */
		}
	}
	errno = saved;
	return due;
}

void *pt_sampled_record(struct pt_tls *t, void *p, size_t req, size_t usable, uintptr_t *tagword)
{
	pt_delta_add(t, (int64_t)usable);
	t->nallocs++;
	if (__builtin_expect(!pt_ks_active_inline(), 0))
		return p;
	int saved = errno;
	take_sample(t, p, req, 0, tagword);
	if (t->delta > PT_BATCH_BYTES)
		flush_delta(t);
	errno = saved;
	return p;
}

void *pt_count_flush(struct pt_tls *t, void *p)
{
	int saved = errno;
	if (t->busy)
		PT_MARK(shim_reentry_passthrough); /* an allocation from inside the runtime */
	flush_delta(t);
	errno = saved;
	return p;
}

void pt_slow_free_any(struct pt_tls *t, void *p)
{
	if (t->delta < -PT_BATCH_BYTES)
		flush_delta(t);
	if (pt_live_maybe(&pt_g.live, (uintptr_t)p))
		pt_slow_free(t, p);
}

/* The free of a sample of weight w at p (the thread set up, started,
 * not from inside the runtime). */
static void record_free(struct pt_tls *t, void *p, uint64_t w)
{
	PT_MARK(free_of_sampled);
	note_peak_free(w);
	int saved = errno;
	t->busy++;
	struct pt_event ev = { .kind = PT_EV_FREE, .tid = t->tid, .addr = (uintptr_t)p };
	push_or_drop(&ev, true);
	t->busy--;
	errno = saved;
}

/* True when a free of a sample is to be recorded now (profiling active,
 * started, not from inside the runtime), the thread set up for it. */
static bool free_recordable(struct pt_tls *t)
{
	if (!pt_ks_active_inline() || !pt_started() || t->busy)
		return false;
	if (t->gen != atomic_load_explicit(&pt_g.gen, memory_order_relaxed))
		tls_init(t);
	return true;
}

void pt_slow_free(struct pt_tls *t, void *p)
{
	if (!p || !free_recordable(t))
		return; /* (NULL: from a Python wrapper, which does not test it) */
	uint64_t weight = 0;
	if (!pt_g.live.all && !pt_live_remove(&pt_g.live, (uintptr_t)p, &weight))
		return;
	record_free(t, p, weight);
}

void pt_tagged_free(struct pt_tls *t, void *q, size_t usable, uintptr_t tagword)
{
	pt_delta_add(t, -(int64_t)usable);
	if (t->delta < -PT_BATCH_BYTES)
		flush_delta(t);
	uint64_t w = (uint64_t)tagword >> PT_TAG_W_SHIFT;
	if (w == 0)
		return; /* not a sample */
	if (w == PT_TAG_W_TABLE) {
		pt_slow_free(t, q); /* its sample is in the table */
		return;
	}
	unsigned gen = atomic_load_explicit(&pt_g.gen, memory_order_relaxed);
	if (((tagword >> PT_TAG_SAMPLE_SHIFT) & 0xffu) != (gen & 0xffu)) {
		PT_MARK(tag_other_generation); /* a fork child frees its parent's sample */
		return;
	}
	if (free_recordable(t))
		record_free(t, q, w);
}

static void unsample(struct pt_tls *t, void *p)
{
	if (pt_live_maybe(&pt_g.live, (uintptr_t)p))
		pt_slow_free(t, p);
}

/* mapped += bytes: the thread's pending heap bytes go first, so the peak
 * is heap and mapped as of now */
static void mapped_add(struct pt_tls *t, uint64_t bytes)
{
	int64_t mapped = atomic_fetch_add_explicit(&pt_g.mapped, (int64_t)bytes,
						   memory_order_relaxed) + (int64_t)bytes;
	flush_delta(t);
	note_peak(atomic_load_explicit(&pt_g.heap, memory_order_relaxed) + mapped);
}

/* mapped -= bytes, and the peak's bookkeeping when it falls */
static void mapped_sub(uint64_t bytes)
{
	if (bytes == 0)
		return;
	atomic_fetch_sub_explicit(&pt_g.mapped, (int64_t)bytes, memory_order_relaxed);
	left_peak();
}

/* Counts [p, p + len), sampled like an allocation unless it is a Python
 * arena (whose objects are sampled one by one); false when the set of
 * mappings is full (not counted). */
static bool map_add(struct pt_tls *t, void *p, size_t len)
{
	uint64_t replaced = 0;
	t->busy++;
	bool ok = pt_maps_add(&pt_g.maps, (uintptr_t)p, len, &replaced);
	t->busy--;
	if (replaced) {
		/* MAP_FIXED over a mapping of ours: its bytes go first */
		PT_MARK(mmap_replaced_ours);
		mapped_sub(replaced);
		unsample(t, p);
	}
	if (!ok)
		return false;
	if (t->pyarena)
		PT_MARK(python_arena_not_sampled); /* its objects are sampled one by one */
	else
		maybe_sample(t, p, len, PT_EVF_MMAP);
	mapped_add(t, len);
	return true;
}

/* Uncounts what of [p, p + len) was counted; returns those bytes. */
static uint64_t map_cut(struct pt_tls *t, void *p, size_t len)
{
	t->busy++;
	uint64_t gone = pt_maps_cut(&pt_g.maps, (uintptr_t)p, len);
	t->busy--;
	if (gone == 0)
		return 0; /* none of it was ours (a file, libc's, before start) */
	mapped_sub(gone);
	/* a sample sits at the start of the mapping it was taken for: gone
	 * when that start is. A cut elsewhere leaves it whole (its weight
	 * then overstates what is left until the rest goes). */
	if (pt_started())
		unsample(t, p);
	return gone;
}

/* Reservations (PROT_NONE) are address space, not memory: runtimes
 * reserve gigabytes that way (the JVM its whole heap, V8 its cages) and
 * commit parts later, with mprotect or with mmap(MAP_FIXED) over them.
 * Counted as mapped, a 20 MiB Java program peaked at 7.5 GiB. They are
 * kept in a set of their own, from which access moves ranges into the
 * counted set, and back. */
void pt_hook_mmap(void *p, size_t len, int prot)
{
	if (len == 0)
		return;
	struct pt_tls *t = tls_get();
	if (prot == PROT_NONE) {
		/* a reservation, or a decommit by MAP_FIXED over memory */
		uint64_t none;
		(void)map_cut(t, p, len);
		t->busy++;
		(void)pt_maps_add(&pt_g.reserved, (uintptr_t)p, len, &none);
		t->busy--;
		PT_MARK(mmap_reserved);
		return;
	}
	t->busy++;
	(void)pt_maps_cut(&pt_g.reserved, (uintptr_t)p, len); /* committed */
	t->busy--;
	/* Only mappings recorded here are counted, so an munmap of a region
	 * mapped before we started (or by libc internally) changes nothing. */
	(void)map_add(t, p, len);
}

void pt_hook_mprotect(void *p, size_t len, int prot)
{
	struct pt_tls *t = tls_get();
	if (len == 0)
		return;
	if (prot == PROT_NONE) {
		uint64_t landed;
		t->busy++;
		/* what left the counted set is uncounted, wherever it lands */
		uint64_t gone = pt_maps_move(&pt_g.maps, &pt_g.reserved, (uintptr_t)p, len,
					     &landed);
		t->busy--;
		if (gone) {
			PT_MARK(mprotect_decommit);
			mapped_sub(gone);
			if (pt_started())
				unsample(t, p);
		}
		return;
	}
	uint64_t made;
	t->busy++;
	/* counted: what the counted set took (all of it unless full) */
	(void)pt_maps_move(&pt_g.reserved, &pt_g.maps, (uintptr_t)p, len, &made);
	t->busy--;
	if (!made)
		return; /* not a reservation of ours: a file, code, the heap */
	PT_MARK(mprotect_commit);
	maybe_sample(t, p, made, PT_EVF_MMAP);
	mapped_add(t, made);
}

void pt_hook_munmap(void *p, size_t len)
{
	struct pt_tls *t = tls_get();
	(void)map_cut(t, p, len);
	t->busy++;
	(void)pt_maps_cut(&pt_g.reserved, (uintptr_t)p, len);
	t->busy--;
}

void pt_hook_mremap(void *old, size_t old_len, void *p, size_t len, int flags)
{
	struct pt_tls *t = tls_get();
	/* Grown, shrunk or moved: counted when the old range was (a file
	 * mapping stays uncounted wherever it goes). MREMAP_DONTUNMAP leaves
	 * the old range mapped (empty), as the kernel does. */
	uint64_t was;
	if (flags & MREMAP_DONTUNMAP) {
		/* the old range stays mapped: was it ours? */
		t->busy++;
		was = pt_maps_covered(&pt_g.maps, (uintptr_t)old, old_len);
		t->busy--;
	} else {
		/* moved, or resized in place: the old range goes, the new one
		 * is counted anew */
		was = map_cut(t, old, old_len);
		t->busy++;
		(void)pt_maps_cut(&pt_g.reserved, (uintptr_t)old, old_len);
		t->busy--;
	}
	if (was && len != 0)
		(void)map_add(t, p, len);
}
