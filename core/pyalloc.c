/*
 * pyalloc.c: seeing Python's own allocators (pymalloc).
 *
 * Small Python objects (<= 512 bytes) live in pymalloc's pools, inside
 * arenas that pymalloc maps with mmap: the malloc shims never see them.
 * Running the job with PYTHONMALLOC=malloc would, but costs the job ~40%
 * on small-object work (examples/job.py, 400k records: 0.60 s with pymalloc,
 * 0.85 s with PYTHONMALLOC=malloc, same machine, same run of the shell),
 * far above the overhead budget. So peaktrace wraps the allocators instead,
 * as tracemalloc does, once the interpreter is up:
 *
 *  - PYMEM_DOMAIN_MEM and PYMEM_DOMAIN_OBJ get a wrapper that forwards to
 *    the allocator it replaced and samples the blocks pymalloc serves
 *    itself (1..512 bytes) with the same per-thread countdown as malloc;
 *    larger requests fall through to PyMem_RawMalloc, i.e. to malloc, where
 *    the shim samples them: nothing is sampled twice.
 *  - The arena allocator gets a wrapper that marks its mmap calls: arena
 *    bytes count in the exact total (as mapped bytes), but an arena is not
 *    sampled as an allocation of its own, which would count the objects in
 *    it a second time.
 *
 * Installation needs the GIL (PyMem_SetAllocator after initialisation
 * must wrap the current allocator and be called with the GIL held): it is
 * attempted from the sampled path whenever Python runs, Py_IsInitialized()
 * and PyGILState_Check() say yes, until it succeeds once. Only the CPython
 * functions named here are called, all resolved with dlsym once.
 *
 * The struct layouts used (PyMemAllocatorEx, PyObjectArenaAllocator, the
 * domain numbers) are part of CPython's stable C API since 3.5.
 */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>

#include "contracts/covmarks.h"
#include "core/pyglue.h"
#include "core/runtime.h"

#include "contracts/banned.h"

#define PYMEM_DOMAIN_MEM 1
#define PYMEM_DOMAIN_OBJ 2
#define PYMALLOC_MAX 512

struct py_alloc {
	void *ctx;
	void *(*fn_malloc)(void *ctx, size_t size);
	void *(*fn_calloc)(void *ctx, size_t nelem, size_t elsize);
	void *(*fn_realloc)(void *ctx, void *ptr, size_t new_size);
	void (*fn_free)(void *ctx, void *ptr);
};

struct py_arena {
	void *ctx;
	void *(*alloc)(void *ctx, size_t size);
	void (*fn_free)(void *ctx, void *ptr, size_t size);
};

static struct py_alloc orig_mem, orig_obj;
static struct py_arena orig_arena;
static atomic_int state; /* 0 not tried, 1 installing, 2 installed, 3 given up */

/* Counts a pymalloc allocation of n (1..PYMALLOC_MAX) bytes against the
 * sampler; true when a sample is due. */
static inline bool py_due(size_t n)
{
	struct pt_tls *t = &pt_tls;
	t->nallocs++;
	t->countdown -= (int64_t)n;
	return __builtin_expect(t->countdown <= 0, 0);
}

static inline void py_sampled_alloc(void *p, size_t n)
{
	if (!p || n - 1 >= PYMALLOC_MAX)
		return; /* served by PyMem_RawMalloc: the malloc shim saw it */
	if (py_due(n))
		(void)pt_slow_alloc(&pt_tls, p, n);
}

/* No NULL test: NULL is never in the table (a filter hit on it finds
 * nothing there). */
static inline bool py_maybe_sampled(void *p)
{
	return __builtin_expect(pt_live_maybe(&pt_g.live, (uintptr_t)p), 0);
}

static inline void py_sampled_free(void *p)
{
	if (py_maybe_sampled(p))
		pt_slow_free(&pt_tls, p);
}

/* The countdown is taken before the call, so that the common case (no
 * sample due) ends in a tail call to pymalloc: no frame of ours, nothing
 * done after it. Only a sample needs the block's address. */
static __attribute__((noinline)) void *w_malloc_due(struct py_alloc *o, size_t n)
{
	void *p = o->fn_malloc(o->ctx, n);
	if (!p)
		return p;
	return pt_slow_alloc(&pt_tls, p, n); /* a tail call: our frame is gone before the walk */
}

/* No kill-switch test on these paths: the countdown and the filter are
 * per-thread arithmetic and one load from memory that is always mapped;
 * pt_slow_alloc and pt_slow_free, where the work is, test it. */
static void *w_malloc(void *ctx, size_t n)
{
	struct py_alloc *o = ctx;
	if (__builtin_expect(n - 1 < PYMALLOC_MAX, 1) && py_due(n))
		return w_malloc_due(o, n);
	/* larger blocks: pymalloc hands them to PyMem_RawMalloc, whose malloc
	 * the malloc shim sees */
	return o->fn_malloc(o->ctx, n);
}

static void *w_calloc(void *ctx, size_t nelem, size_t elsize)
{
	struct py_alloc *o = ctx;
	void *p = o->fn_calloc(o->ctx, nelem, elsize);
	size_t n;
	if (!__builtin_mul_overflow(nelem, elsize, &n))
		py_sampled_alloc(p, n);
	return p;
}

static __attribute__((noinline)) void *w_realloc_due(struct py_alloc *o, void *ptr, size_t n)
{
	void *p = o->fn_realloc(o->ctx, ptr, n);
	if (!p)
		return p;
	return pt_slow_alloc(&pt_tls, p, n); /* a tail call: our frame is gone before the walk */
}

static void *w_realloc(void *ctx, void *ptr, size_t n)
{
	struct py_alloc *o = ctx;
	py_sampled_free(ptr);
	if (n - 1 < PYMALLOC_MAX && py_due(n))
		return w_realloc_due(o, ptr, n);
	return o->fn_realloc(o->ctx, ptr, n);
}

static __attribute__((noinline)) void w_free_due(struct py_alloc *o, void *ptr)
{
	pt_slow_free(&pt_tls, ptr);
	o->fn_free(o->ctx, ptr);
}

/* Both ways out are tail calls: no stack frame. */
static void w_free(void *ctx, void *ptr)
{
	struct py_alloc *o = ctx;
	if (py_maybe_sampled(ptr)) {
		w_free_due(o, ptr);
		return;
	}
	o->fn_free(o->ctx, ptr);
}

static void *w_arena_alloc(void *ctx, size_t size)
{
	(void)ctx;
	pt_tls.pyarena++;
	void *p = orig_arena.alloc(orig_arena.ctx, size);
	pt_tls.pyarena--;
	return p;
}

static void w_arena_free(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	orig_arena.fn_free(orig_arena.ctx, ptr, size);
}

static atomic_int arena_state; /* 0 not wrapped, 1 wrapping, 2 wrapped */

/* Wraps the arena allocator. Called at start-up, as soon as the probe has
 * accepted the interpreter and before it initialises: the arenas mapped
 * while the interpreter starts (before the MEM/OBJ wrappers can be
 * installed) would otherwise be sampled whole, and the objects later put
 * into them sampled again. Setting the arena allocator before
 * Py_Initialize is supported (it is a plain struct in the runtime state,
 * kept across initialisation); no GIL is needed for it. */
void pt_pyalloc_wrap_arenas(void)
{
	int expected = 0;
	if (!atomic_compare_exchange_strong(&arena_state, &expected, 1))
		return;
	void (*aget)(struct py_arena *) =
		(void (*)(struct py_arena *))dlsym(RTLD_DEFAULT, "PyObject_GetArenaAllocator");
	void (*aset)(struct py_arena *) =
		(void (*)(struct py_arena *))dlsym(RTLD_DEFAULT, "PyObject_SetArenaAllocator");
	if (!aget || !aset) {
		atomic_store(&arena_state, 0);
		return;
	}
	aget(&orig_arena);
	if (!orig_arena.alloc || orig_arena.alloc == w_arena_alloc) {
		atomic_store(&arena_state, 0);
		return;
	}
	struct py_arena warena = { NULL, w_arena_alloc, w_arena_free };
	aset(&warena);
	PT_MARK(python_arenas_wrapped);
	atomic_store(&arena_state, 2);
}

void pt_pyalloc_try_install(void)
{
	int expected = 0;
	if (!atomic_compare_exchange_strong(&state, &expected, 1))
		return;
	int (*is_init)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "Py_IsInitialized");
	int (*gil_check)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "PyGILState_Check");
	void (*get)(int, struct py_alloc *) =
		(void (*)(int, struct py_alloc *))dlsym(RTLD_DEFAULT, "PyMem_GetAllocator");
	void (*set)(int, struct py_alloc *) =
		(void (*)(int, struct py_alloc *))dlsym(RTLD_DEFAULT, "PyMem_SetAllocator");
	if (!is_init || !gil_check || !get || !set) {
		atomic_store(&state, 3);
		return;
	}
	if (!is_init() || !gil_check()) {
		atomic_store(&state, 0); /* try again at a later sample */
		return;
	}
	pt_pyalloc_wrap_arenas(); /* normally done at start-up already */
	get(PYMEM_DOMAIN_MEM, &orig_mem);
	get(PYMEM_DOMAIN_OBJ, &orig_obj);
	if (!orig_mem.fn_malloc || !orig_obj.fn_malloc) {
		atomic_store(&state, 3);
		return;
	}
	struct py_alloc wmem = { &orig_mem, w_malloc, w_calloc, w_realloc, w_free };
	struct py_alloc wobj = { &orig_obj, w_malloc, w_calloc, w_realloc, w_free };
	set(PYMEM_DOMAIN_MEM, &wmem);
	set(PYMEM_DOMAIN_OBJ, &wobj);
	PT_MARK(python_allocators_wrapped);
	atomic_store(&state, 2);
}

bool pt_pyalloc_pending(void)
{
	return atomic_load_explicit(&state, memory_order_relaxed) == 0;
}
