/*
 * runtime.h: the in-process engine's shared state and its entry points for
 * the shims.
 *
 * State machine of the process-wide runtime:
 *   unresolved -> resolved (real allocator functions known; exact byte
 *   accounting runs) -> started (constructor ran: config read, tables
 *   mapped, trace open; sampling runs) -> finished (exit flushed the trace;
 *   accounting continues, sampling stops). The kill-switch (guard.h) can
 *   turn everything into pass-through at any point.
 *
 * Per-thread state is one __thread struct (initial-exec TLS, so reading it
 * never allocates): a reentrancy depth, the batched byte delta, the
 * sampler's countdown and random state, the kernel tid.
 */
#ifndef PT_RUNTIME_H
#define PT_RUNTIME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/intern.h"
#include "core/live.h"
#include "core/maps.h"
#include "core/ring.h"
#include "peaktrace/count.h" /* PT_MAX_STACK_DEPTH */
#include "peaktrace/format.h"

#define PT_TLS_IE __attribute__((tls_model("initial-exec")))


#define PT_DEFAULT_SAMPLE_BYTES (256u * 1024u)
#define PT_DEFAULT_STACK_DEPTH 64
/* Per-thread heap delta batched before it reaches the global counter. The
 * exact peak is known to within this many bytes per thread (sampled mode;
 * exact mode flushes every change). */
#define PT_BATCH_BYTES (64 * 1024)

struct pt_config {
	enum pt_mode mode;
	uint64_t sample_bytes;      /* mean sampling interval, bytes, >= 1; the
				       writer doubles it as the trace nears its
				       size budget (read with pt_sample_bytes) */
	uint64_t max_trace_bytes;   /* trace size budget, bytes */
	unsigned stack_depth;       /* native frames kept, 1..PT_MAX_STACK_DEPTH */
	bool on_env_error_disable;  /* PEAKTRACE_ON_ENV_ERROR=disable */
	bool follow_fork;           /* children of fork() write their own trace */
	bool follow_exec;           /* exec'd programs inherit the preload */
	bool python;                /* read Python frames when an interpreter runs */
	unsigned live_log2;         /* live table slots, log2 */
	char out_dir[1024];
};

struct pt_tls {
	int64_t delta;         /* heap bytes not yet added to the global count */
	int64_t countdown;     /* bytes until the next sample (0 before start:
				  every allocation takes the slow path) */
	int64_t cd_mark;       /* countdown when last set or accounted: the
				  bytes requested since are cd_mark - countdown */
	uint64_t nallocs;      /* allocations not yet added to pt_g.total_allocs */
	uint64_t nbytes;       /* requested bytes not yet added to total_alloc_bytes
				  (slow paths only; see cd_mark) */
	unsigned gen;          /* pt_g.gen this state was set up for (0: never) */
	int busy;              /* reentrancy depth: >0 means no sampling */
	uint64_t rng;          /* xorshift state */
	uint32_t tid;          /* kernel thread id */
	int pyarena;           /* >0 inside pymalloc's arena allocator: its mmaps
				  are counted but not sampled (pyalloc.c) */
	uint32_t name_check;   /* samples until the thread's name is read again */
	int py_eval_at;        /* where the eval loop was in this thread's last
				  walk (stack.c), 0: not known */
	char name[16];         /* the name last sent to the writer ("" : none) */
};

extern __thread struct pt_tls pt_tls PT_TLS_IE;

struct pt_state {
	atomic_int phase;          /* 0 unresolved, 1 resolved, 2 started, 3 finished */
	atomic_uint gen;           /* bumped at start and in a fork child: per-thread
				      state of an older generation is set up again */
	struct pt_config cfg;
	/* exact accounting, bytes. Written on every batched flush: kept on
	 * cache lines of their own, away from the read-mostly fields above
	 * that every allocation reads (false sharing doubles the cost of the
	 * fast path with two threads). */
	_Alignas(64) atomic_int_least64_t heap;     /* usable bytes of live heap blocks */
	atomic_int_least64_t mapped;   /* bytes of live anonymous mappings we saw */
	atomic_int_least64_t peak;     /* max of heap + mapped */
	atomic_uint peak_seq;          /* seqlock over the peak triple */
	atomic_int peak_lock;
	atomic_int at_peak;            /* 1 while the exact total has not gone
					  down since its last new peak */
	atomic_uint_least64_t peak_alloc_w; /* sampled weight allocated and */
	atomic_uint_least64_t peak_free_w;  /* freed since that peak, and the */
	atomic_int_least64_t peak_best_net; /* highest net seen (hooks.c) */
	uint64_t peak_pos;             /* ring position at the peak */
	uint64_t peak_t_ns;            /* monotonic time of the peak */
	atomic_uint_least64_t total_allocs;
	atomic_uint_least64_t total_alloc_bytes;
	atomic_uint_least64_t drops;   /* events lost (ring full, table full) */
	_Alignas(64) uint64_t start_mono_ns;
	uint64_t start_unix_ns;
	pid_t pid;
	struct pt_ring ring;
	_Alignas(64) struct pt_live live;   /* read on every free: own lines */
	struct pt_maps maps;           /* the anonymous mappings we count (maps.h) */
	struct pt_maps reserved;       /* ... and those without access (PROT_NONE):
					  address space, not memory, until made
					  accessible */
	struct pt_intern stacks;       /* blobs of u64 frames */
	struct pt_intern strings;      /* UTF-8 names */
	struct pt_intern pyframes;     /* {func_sid, file_sid, line} triples */
	uintptr_t self_lo, self_hi;    /* our own text, skipped in stacks */
};

extern struct pt_state pt_g;

static inline uint64_t pt_sample_bytes(void)
{
	return __atomic_load_n(&pt_g.cfg.sample_bytes, __ATOMIC_RELAXED);
}

static inline bool pt_started(void)
{
	return atomic_load_explicit(&pt_g.phase, memory_order_acquire) == 2;
}

uint64_t pt_now_ns(void);

/* pyalloc.c: wraps CPython's MEM/OBJ allocators once it can (GIL held,
 * interpreter initialised); called from the sampled path while pending. */
void pt_pyalloc_try_install(void);
/* pyalloc.c: wraps pymalloc's arena allocator (at start-up, pre-init). */
void pt_pyalloc_wrap_arenas(void);
bool pt_pyalloc_pending(void);

/* guard.h's pt_ks_active, for headers that cannot include guard.h */
extern atomic_int pt_ks_state;
static inline bool pt_ks_active_inline(void)
{
	return atomic_load_explicit(&pt_ks_state, memory_order_relaxed) == 0;
}

/* Set by the start-up check when glibc's chunk header gives the usable size
 * of every kind of block exactly as malloc_usable_size does. */
extern bool pt_glibc_chunk_sizes;

/* guard.c: 1 while profiling is active and pt_glibc_chunk_sizes holds (the
 * shims' fast path: one load for both); the kill-switch closes it. */
extern atomic_int pt_fast_gate;
static inline bool pt_fast_gate_open(void)
{
	return atomic_load_explicit(&pt_fast_gate, memory_order_relaxed) != 0;
}
/* Opens (when profiling is still active) or closes the gate. */
static inline void pt_fast_gate_set(bool open)
{
	atomic_store(&pt_fast_gate, open && pt_ks_active_inline());
	if (!pt_ks_active_inline()) /* a trip raced with the opening */
		atomic_store(&pt_fast_gate, 0);
}

/* The usable size of a block glibc did not mmap, from its header word
 * (the shims' fast paths test the mmapped bit, 2, themselves). */
static inline size_t pt_glibc_heap_usable(size_t field)
{
	return (field & ~(size_t)7) - sizeof(size_t);
}

static inline size_t pt_glibc_usable(const void *p)
{
	size_t field = ((const size_t *)p)[-1];
	return (field & 2) ? (field & ~(size_t)7) - 2 * sizeof(size_t) : pt_glibc_heap_usable(field);
}

/* The fast path, inlined into the shims: per-thread arithmetic only, no
 * atomic, no lock; everything else is in the slow paths (hooks.c), taken
 * when the sampler's countdown runs out, the batched delta is due, the
 * thread's state is stale, or a freed block may have been sampled.
 * Async-signal-safe, reentrancy-safe (the slow paths sample nothing while
 * pt_tls.busy is raised). */
/* Returns p, so that callers can end in a tail call to it: their frames
 * are then gone before the stack is walked (fewer frames to unwind and
 * drop). */
void *pt_slow_alloc(struct pt_tls *t, void *p, size_t req);
void pt_slow_free(struct pt_tls *t, void *p);

/* t->delta += v in one instruction. A signal handler that allocates on
 * this thread then runs before or after it, never between a load and a
 * store: split, the handler's bytes would be lost or ours counted twice,
 * and the exact total would drift for good (e2e.signal_malloc_totals; a
 * lock prefix is not needed against our own thread and would cost ~20
 * cycles per call). */
static inline void pt_delta_add(struct pt_tls *t, int64_t v)
{
#if defined(__x86_64__)
	__asm__ volatile("addq %1, %0" : "+m"(t->delta) : "er"(v));
#else
	__atomic_fetch_add(&t->delta, v, __ATOMIC_RELAXED);
#endif
}

/* The accounting of one allocation; true when a slow path is due (the
 * caller then calls pt_slow_alloc, preferably as a tail call). */
static inline bool pt_fast_alloc_due(struct pt_tls *t, size_t req, size_t usable)
{
	pt_delta_add(t, (int64_t)usable);
	t->nallocs++;
	t->countdown -= (int64_t)req;
	/* A thread whose state is stale (new, set up before start) has a
	 * countdown of 0 and lands in the slow path, which sets it up; a fork
	 * child's thread is set up again by the atfork handler. */
	return __builtin_expect((t->countdown <= 0) | (t->delta > PT_BATCH_BYTES), 0);
}

static inline void pt_fast_alloc(void *p, size_t req, size_t usable)
{
	struct pt_tls *t = &pt_tls;
	if (pt_fast_alloc_due(t, req, usable))
		(void)pt_slow_alloc(t, p, req);
}

/* The accounting of one free; true when a slow path is due: the batched
 * delta is due, or the block may have been sampled (pt_slow_free_any). */
static inline bool pt_fast_free_due(struct pt_tls *t, void *p, size_t usable)
{
	pt_delta_add(t, -(int64_t)usable);
	return __builtin_expect((t->delta < -PT_BATCH_BYTES) |
				pt_live_maybe(&pt_g.live, (uintptr_t)p), 0);
}

/* The shims' tagged path (shims/malloc.c), with the gate open: the
 * sampler's countdown is taken before the real call, so that a sampled
 * block can be allocated in a form the free fast path recognises without
 * a lookup.
 * pt_sample_due: req took the countdown to 0 or below; sets the next
 * countdown (setting a stale thread up first); true when this allocation
 * is to be sampled (started, not from inside the runtime).
 * pt_sampled_record: accounts a block of usable bytes and records the
 * sample of req bytes at p, which is tagged: the sample goes into its tag
 * word (*tagword, see PT_TAG_SAMPLE_SHIFT), not into the live table;
 * returns p (callers end in a tail call).
 * pt_count_flush: the batched delta is due; returns p.
 * pt_tagged_free: before a tagged block q goes back to glibc (kill-switch
 * active), with its tag word: its bytes are uncounted and, when the tag
 * holds a sample of this process, its free is recorded. */
bool pt_sample_due(struct pt_tls *t, size_t req);
void *pt_sampled_record(struct pt_tls *t, void *p, size_t req, size_t usable, uintptr_t *tagword);
void *pt_count_flush(struct pt_tls *t, void *p);
void pt_tagged_free(struct pt_tls *t, void *q, size_t usable, uintptr_t tagword);

/* A tagged block's tag word (shims/malloc.c) carries its sample, so that
 * neither its allocation nor its free touches the live table (its slot
 * and the filter, a few locked instructions on shared lines and a cache
 * miss each way, were a third of what a sample cost):
 *   bits 0-19   glibc's "mmapped" bit and the tag's offset (the shims')
 *   bits 20-27  the generation (pt_g.gen) the sample was recorded in: a
 *               fork child's trace has none of its parent's samples, and
 *               records no free of them
 *   bits 28-63  the sample's weight; 0: not a sample (not recorded, or
 *               recorded and freed by a realloc that did not sample the
 *               block again); PT_TAG_W_TABLE: a weight too large for the
 *               field (2^36 bytes or more), kept in the live table. */
#define PT_TAG_SAMPLE_SHIFT 20
#define PT_TAG_W_SHIFT 28
#define PT_TAG_W_TABLE ((UINT64_C(1) << (64 - PT_TAG_W_SHIFT)) - 1)
#define PT_TAG_SAMPLE_MASK (~(uintptr_t)0 << PT_TAG_SAMPLE_SHIFT)

/* The accounting of an allocation whose sampling was decided before the
 * call; true when the batched delta is due (pt_count_flush). */
static inline bool pt_fast_count_due(struct pt_tls *t, size_t usable)
{
	pt_delta_add(t, (int64_t)usable);
	t->nallocs++;
	return __builtin_expect(t->delta > PT_BATCH_BYTES, 0);
}

/* The countdown taken before the call; true when a sample may be due (or
 * req is not a size glibc could serve, >= 2^63: pt_sample_due sorts it
 * out, never sampling it). */
static inline bool pt_countdown_due(struct pt_tls *t, size_t req)
{
	int64_t cd = t->countdown - (int64_t)req;
	t->countdown = cd;
	return __builtin_expect(((cd - 1) | (int64_t)req) < 0, 0);
}

/* A free with the gate open: the block was not sampled (a sampled one is
 * tagged, and its free never comes here); true when the batched delta is
 * due. */
static inline bool pt_fast_uncount_due(struct pt_tls *t, size_t usable)
{
	pt_delta_add(t, -(int64_t)usable);
	return __builtin_expect(t->delta < -PT_BATCH_BYTES, 0);
}

/* Both slow paths of a free, as pt_fast_free_due found them due. */
void pt_slow_free_any(struct pt_tls *t, void *p);

static inline void pt_fast_free(void *p, size_t usable)
{
	struct pt_tls *t = &pt_tls;
	if (pt_fast_free_due(t, p, usable))
		pt_slow_free_any(t, p);
}

/* Hooks called by the shims. All are async-signal-safe with respect to our
 * own state, reentrancy-safe (the shim raises pt_tls.busy around them), and
 * never block. alloc: after the real call returned p != NULL.
 * free: before the real free, with the block's usable size. */
void pt_hook_mmap(void *p, size_t len, int prot);
void pt_hook_mprotect(void *p, size_t len, int prot);
void pt_hook_munmap(void *p, size_t len);
void pt_hook_mremap(void *old, size_t old_len, void *p, size_t len, int flags);

/* Pushes a pending per-thread delta to the global counters. */
void pt_flush_delta(void);
/* Sets the calling thread's state up afresh (fork child: the fast path
 * does not look at the generation). */
void pt_tls_reinit_self(void);

/* Start-up (constructor), fork child reset, and exit flush. */
void pt_runtime_start(void);
void pt_runtime_fork_child(void);
void pt_runtime_finish(const char *why);

/* Writer (writer.c). */
int pt_writer_open(char *err, size_t errlen);
int pt_writer_start(void);
/* Stops the writer after its final chunk (waits 2 s at most); join: also
 * pthread_join it (not from a signal handler). */
void pt_writer_stop(bool join);
/* Has the writer write everything recorded so far into the file now, and
 * waits for it (max_ms at most); the trace stays open. Before an exec,
 * which ends the image without destructors. */
void pt_writer_flush_now(unsigned max_ms);
/* Has the writer write what it has and end its thread (2 s at most), so
 * that the process is single-threaded for a moment (unshare of a user
 * namespace requires it); true when it stopped: then pt_writer_resume()
 * starts it again. Not from a signal handler. */
bool pt_writer_pause(void);
void pt_writer_resume(void);
/* pt_writer_pause, with the writer left to start again by itself: at the
 * next sample (pt_writer_child_start), or at exit, where pt_writer_stop
 * writes the rest of the trace on the exiting thread. */
bool pt_writer_park(void);
void pt_writer_reset_child(void);
/* The process's thread count (/proc/self/stat, field 20); -1 when it
 * cannot be read. Opens and closes a descriptor. */
int pt_proc_threads(void);
/* In a fork child: opens the child's trace and starts its writer, once,
 * when the child first has something to record. In a parent whose writer
 * is parked: starts it again. */
void pt_writer_child_start(void);
extern atomic_int pt_writer_running;
void pt_writer_note_trip(const char *reason);
const char *pt_writer_path(void);
/* The dlclose shim, before the real dlclose: describes the object of
 * handle for a MODULE record, so its frames resolve even when it is
 * unloaded before the writer's next read of the module list. */
void pt_writer_note_unload(void *handle);

/* Stacks (stack.c): captures the calling thread's stack and interns it,
 * as a function for pt_guard_run: the stack id (0 on failure) in
 * *(uint32_t *)arg. */
int pt_stack_capture_guarded(void *arg);
int pt_stack_init(void);
/* The fork gate around stack walks and loader iteration (stack.c): enter
 * returns false (walk nothing) while a fork is in progress; the three
 * others are the pthread_atfork handlers. */
bool pt_walk_enter(void);
void pt_walk_leave(void);
void pt_walk_fork_prepare(void);
void pt_walk_fork_parent(void);
void pt_walk_fork_child(void);

/* Start-up environment checks (envcheck.c). Returns 0 when all pass, else
 * a negative code with a one-line message in msg. */
int pt_envcheck_run(char *msg, size_t msglen, int verbose_fd);

#endif
