/*
 * guard.h: the kill-switch and fault recovery (DESIGN.md, "The guard layer").
 *
 * Kill-switch: one global, one-way state, active -> disabled. Every shim
 * reads pt_ks_active() first; disabled means pure pass-through. The first
 * trip's reason is kept and written once to stderr as
 * "peaktrace: profiling disabled: REASON" with write(2).
 *
 * Fault recovery: code that may fault (stack walking, reading interpreter
 * frames) runs through pt_guard_run(). A SIGSEGV/SIGBUS/SIGILL/SIGFPE that
 * arrives while the faulting thread is inside a guarded region trips the
 * kill-switch and siglongjmps back out of pt_guard_run(), which returns
 * PT_GUARD_FAULTED. A fault outside any guarded region goes to the handler
 * the program installed (before or after us: sigaction/signal are
 * interposed so ours stays first and theirs is chained), or to the default
 * action, so the process dies with the same signal and core dump as without
 * the profiler.
 */
#ifndef PT_GUARD_H
#define PT_GUARD_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

/* ---- kill-switch ------------------------------------------------------ */

extern atomic_int pt_ks_state; /* 0 = active, 1 = disabled; one-way */

/* True while profiling is on. One relaxed load; async-signal-safe. */
static inline bool pt_ks_active(void)
{
	return atomic_load_explicit(&pt_ks_state, memory_order_relaxed) == 0;
}

/* Disables profiling for good. The first caller's reason is kept (copied,
 * truncated to 255 bytes) and written to stderr; later calls do nothing.
 * Async-signal-safe, reentrancy-safe, never blocks. Returns true for the
 * call that tripped the switch. */
bool pt_ks_trip(const char *reason);

/* The reason of the first trip, or NULL while active. */
const char *pt_ks_reason(void);

/* Called once after a trip (if set), from the tripping thread, to record the
 * reason in the trace. Must be async-signal-safe. */
void pt_ks_set_trip_listener(void (*fn)(const char *reason));

/* For unit tests only: back to active, reason cleared. */
void pt_ks_reset_for_tests(void);

/* ---- fault recovery --------------------------------------------------- */

#define PT_GUARD_FAULTED (-14) /* -EFAULT */

/* Installs the fault handlers (idempotent). Returns 0 or -errno. */
int pt_guard_install(void);

/* Runs fn(arg) inside a guarded region and returns its result, or
 * PT_GUARD_FAULTED when a fault was recovered (the kill-switch is then
 * tripped). Nests. Needs no lock; the alternate signal stack of the calling
 * thread is set up on first use from mmap (never malloc) unless the thread
 * already has one. fn must hold no lock that recovery would leave held. */
int pt_guard_run(int (*fn)(void *arg), void *arg);

/* True while the calling thread is inside a guarded region. */
bool pt_guard_in_region(void);

/* Releases the calling thread's alternate stack (thread exit). */
void pt_guard_thread_exit(void);

/* ---- sigaction interposition (called by shims/signal.c) --------------- */

/* For one of the four fault signals, records act as the program's handler
 * (chained behind ours) and reports the previously recorded one in oldact;
 * returns 1. For other signals returns 0 and the shim calls the real
 * sigaction. */
int pt_guard_sigaction(int sig, const struct sigaction *act,
		       struct sigaction *oldact);

#endif
