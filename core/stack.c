/*
 * stack.c: capturing the calling thread's stack at a sampled allocation.
 *
 * Native frames come from pt_unwind_backtrace (unwind.c): the program's
 * own unwind tables (.eh_frame), read once per code address into a cache
 * of frame rules and checked once against libunwind, so that a walk keeps
 * three registers and reads one return address per frame; libunwind's
 * unw_backtrace walks what the cache does not model (signal frames, CFA
 * expressions, code without tables) and every stack once a library has
 * been unloaded. Both take the loader's lock through dl_iterate_phdr on a
 * miss, which is safe because we hold no lock of ours while they run.
 * Frame pointers are never followed: Debian's glibc and most of its
 * libraries are built without them, where the RBP chain gives wrong
 * frames. Our own frames are few (the shims tail-call into the slow path;
 * sampling and the capture are inline). Instruction
 * pointers are stored raw; symbolization happens outside the application
 * (the reporter reads the modules the writer recorded). Frames inside
 * libpeaktrace.so itself are dropped wherever they appear.
 *
 * Python frames, when an interpreter runs and its reader accepted it, come
 * from pystack.c and are placed outermost... innermost-first order is kept
 * for the whole stack: native frames from malloc up to the interpreter,
 * then the Python frames, innermost first.
 *
 * A stack is encoded as u64 frames: a native ip as (ip << 1), a Python frame
 * as (pyframe_id << 1) | 1, and interned in pt_g.stacks.
 *
 * Runs inside a guarded region (a fault while unwinding is recovered);
 * allocates nothing; async-signal-safe as far as libunwind's local unwinder
 * is; reentrancy-safe (malloc calls from libunwind pass through).
 */
#include <dlfcn.h>
#include <link.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "contracts/covmarks.h"
#include "core/pyglue.h"
#include "core/runtime.h"
#include "core/unwind.h"
#include "peaktrace/fp.h"

#include "contracts/banned.h"

static int find_self(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	uintptr_t me = (uintptr_t)data;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		uintptr_t hi = lo + ph->p_memsz;
		if (me >= lo && me < hi) {
			pt_g.self_lo = lo;
			pt_g.self_hi = hi;
			return 1;
		}
	}
	return 0;
}

int pt_stack_init(void)
{
	/* Our own executable segment, to drop our frames from stacks. Called
	 * from the constructor, holding no lock of ours. */
	dl_iterate_phdr(find_self, (void *)(uintptr_t)pt_stack_init);
	(void)pt_unwind_init(); /* without its cache, libunwind walks */
	return 0;
}

/* Inline in pt_stack_capture_guarded: one frame fewer for every walk. */
static inline __attribute__((always_inline)) uint32_t stack_capture(void)
{
	void *ips[PT_MAX_STACK_DEPTH + 8];
	uint64_t frames[PT_MAX_STACK_DEPTH + PT_PY_MAX_FRAMES + 1];
	unsigned depth = pt_g.cfg.stack_depth;
	/* Under Python the native part is cut at the interpreter's eval loop
	 * (pyglue.c), which is a few frames from malloc even in C extensions:
	 * unwinding the interpreter's deep C stack below it would be wasted. */
	bool py = pt_pyglue_active();
	if (depth > PT_PY_NATIVE_DEPTH && py)
		depth = PT_PY_NATIVE_DEPTH;
	int n = 0;
	if (PT_FAIL(unwind)) {
		n = 0;
	} else if (py && pt_tls.py_eval_at > 0 &&
		   pt_tls.py_eval_at + 2 < (int)depth + 8) {
		/* Under Python everything below the eval loop is cut, and
		 * the loop sits at about the same depth from one allocation
		 * to the next: unwind a little past where it was last time,
		 * and all the way only when it is not there. Halves the
		 * frames unwound per sample (the interpreter's own C stack
		 * below the loop is a dozen frames deep). */
		int want = pt_tls.py_eval_at + 2;
		n = pt_unwind_backtrace(ips, want);
		if (n == want && pt_pyglue_eval_at(ips, n) < 0) {
			PT_MARK(python_unwind_again);
			n = pt_unwind_backtrace(ips, (int)depth + 8);
		}
	} else {
		n = pt_unwind_backtrace(ips, (int)depth + 8);
	}
	if (py) {
		int at = pt_pyglue_eval_at(ips, n);
		if (at >= 0)
			pt_tls.py_eval_at = at;
	}
	/* Our own frames go, wherever they are: the innermost ones (the shim,
	 * the sampler) and the Python allocator wrappers in the middle of a
	 * stack (PyObject_Malloc -> w_malloc -> _PyObject_Malloc). */
	unsigned nf = 0;
	for (int i = 0; i < n && nf < depth; i++) {
		uintptr_t ip = (uintptr_t)ips[i];
		if (ip >= pt_g.self_lo && ip < pt_g.self_hi)
			continue;
		frames[nf++] = (uint64_t)ip << 1;
	}
	nf = pt_pyglue_merge(frames, nf, PT_MAX_STACK_DEPTH + PT_PY_MAX_FRAMES);
	if (nf == 0) {
		PT_MARK(stack_empty);
		return 0;
	}
	return pt_intern_put(&pt_g.stacks, frames, (uint32_t)(nf * sizeof frames[0]));
}

int pt_stack_capture_guarded(void *arg)
{
	*(uint32_t *)arg = stack_capture();
	return 0;
}

/* ---- fork safety ---------------------------------------------------------
 *
 * libunwind and the loader take locks of their own while a stack is walked
 * (libunwind's caches, dl_iterate_phdr's). A fork while another thread
 * holds one leaves it held forever in the child, whose first sample then
 * deadlocks (seen: e2e.fork200, once in a few runs). So walks pass through
 * a gate: pthread_atfork's prepare handler closes it and waits until no
 * walk is in progress (walks take microseconds; the wait is bounded at
 * 100 ms), and the parent and child handlers open it again. A sample that
 * finds the gate closed is recorded without a stack. Should the wait time
 * out, the child never walks native stacks (its samples keep their Python
 * frames). Enter/leave are two atomic operations on the sampled path only,
 * on one of 16 counters picked by thread id: one shared counter was a
 * cache line that every sample of every thread took from the others
 * (two locked operations on it per sample). The prepare handler reads
 * them all.
 */
#define WALK_STRIPES 16
static struct {
	_Alignas(64) atomic_int n;
} walkers[WALK_STRIPES];        /* threads inside a walk, by stripe */
static atomic_int gate_closed;  /* a fork is in progress */
static int child_unsafe;        /* a walk was in progress at fork time */
static int wait_timed_out;      /* prepare gave up waiting for the walkers */

/* The calling thread's counter: the same at enter and leave (a thread's
 * id does not change within a walk). */
static inline atomic_int *my_walkers(void)
{
	return &walkers[pt_tls.tid % WALK_STRIPES].n;
}

/* True while some thread is inside a walk (seq_cst: pairs with enter's
 * increment and gate load, Dekker style, stripe by stripe). */
static bool any_walkers(void)
{
	for (int i = 0; i < WALK_STRIPES; i++)
		if (atomic_load_explicit(&walkers[i].n, memory_order_seq_cst))
			return true;
	return false;
}

bool pt_walk_enter(void)
{
	atomic_int *w = my_walkers();
	atomic_fetch_add_explicit(w, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&gate_closed, memory_order_seq_cst) || child_unsafe) {
		atomic_fetch_sub_explicit(w, 1, memory_order_seq_cst);
		PT_MARK(walk_gate_closed);
		return false;
	}
	return true;
}

void pt_walk_leave(void)
{
	atomic_fetch_sub_explicit(my_walkers(), 1, memory_order_seq_cst);
}

void pt_walk_fork_prepare(void)
{
	atomic_store_explicit(&gate_closed, 1, memory_order_seq_cst);
	if (PT_FAIL(fork_walk_wait)) {
		wait_timed_out = 1;
		return;
	}
	for (int i = 0; i < 2000 && any_walkers(); i++) {
		struct timespec ts = { 0, 50000 };
		nanosleep(&ts, NULL);
	}
	wait_timed_out = any_walkers();
}

void pt_walk_fork_parent(void)
{
	wait_timed_out = 0;
	atomic_store_explicit(&gate_closed, 0, memory_order_seq_cst);
}

void pt_walk_fork_child(void)
{
	if (wait_timed_out || any_walkers()) {
		PT_MARK(walk_unsafe_in_child);
		child_unsafe = 1;
	}
	wait_timed_out = 0;
	for (int i = 0; i < WALK_STRIPES; i++)
		atomic_store_explicit(&walkers[i].n, 0, memory_order_relaxed);
	atomic_store_explicit(&gate_closed, 0, memory_order_seq_cst);
}
