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
#include <stddef.h>

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

/* The reason of the first trip, or NULL while active (also for the instant
 * between the trip and the publication of its reason). Async-signal-safe. */
const char *pt_ks_reason(void);

/* Called once after a trip (if set), from the tripping thread, to record the
 * reason in the trace. Must be async-signal-safe. */
void pt_ks_set_trip_listener(void (*fn)(const char *reason));

/* For unit tests only: back to active, reason cleared. */
void pt_ks_reset_for_tests(void);

/* ---- fault recovery --------------------------------------------------- */

#define PT_GUARD_FAULTED (-14) /* -EFAULT */

/* Size of the alternate signal stack pt_guard_run() maps per thread, in
 * bytes (plus one PROT_NONE guard page below it). Untouched pages cost no
 * memory; the program's chained handlers run on it too. */
#define PT_GUARD_ALTSTACK_SIZE ((size_t)128 * 1024)

/* Installs the handlers for SIGSEGV, SIGBUS, SIGILL and SIGFPE, and for
 * the stop signals (SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGXCPU)
 * (idempotent, thread-safe). Handlers the program set before this call are
 * captured and chained. Also calls pt_guard_wire_contracts(). Call it once,
 * early, from the runtime's start-up; not async-signal-safe (it may call
 * dlsym). Returns 0 or -errno. */
int pt_guard_install(void);

/* fn(sig) runs when the process is about to die of sig (a fault or a stop
 * signal whose action is SIG_DFL), in the signal handler, before the
 * default action: async-signal-safe, bounded. */
void pt_guard_set_fatal_listener(void (*fn)(int sig));

/* Makes a release-build contract violation trip the kill-switch with the
 * violation's text as the reason (pt_contract_set_hook). Idempotent;
 * async-signal-safe. */
void pt_guard_wire_contracts(void);

/* Runs fn(arg) inside a guarded region and returns its result, or
 * PT_GUARD_FAULTED when a fault was recovered (the kill-switch is then
 * tripped). Nests. Needs no lock; the alternate signal stack of the calling
 * thread is set up on first use from mmap (never malloc) unless the thread
 * already has one. fn must hold no lock that recovery would leave held. */
int pt_guard_run(int (*fn)(void *arg), void *arg);
/*
 * pt_guard_run() details: async-signal-safe and reentrancy-safe (a guarded
 * fn, or a signal handler interrupting one, may call it again; a fault
 * returns to the innermost caller). Only kernel-generated faults (si_code
 * > 0) are recovered: a SIGSEGV sent with kill(2)/raise(3) is not ours and
 * goes to the program's handler. The failpoint site guard_fault is
 * evaluated inside the region: "segv" faults there for real, "return"
 * behaves as a recovered fault. Needs pt_guard_install() first, else a
 * fault is not recovered. fn must return normally (no longjmp past
 * pt_guard_run). Errno may change; shims save it.
 */

/* True while the calling thread is inside a guarded region. */
bool pt_guard_in_region(void);

/* Releases the calling thread's alternate stack; for the thread-exit hook
 * (a thread that never calls it keeps its 132 KiB mapping until the
 * process ends). Async-signal-safe. */
void pt_guard_thread_exit(void);

/* For the atfork child handler: releases the lock that serialises
 * sigaction calls, should another thread have held it at the fork.
 * Async-signal-safe. */
void pt_guard_fork_child(void);

/* ---- sigaction interposition (called by shims/signal.c) --------------- */

/* True for the signals whose program action the guard records and keeps
 * first on (the fault signals, the stop signals and SIGABRT):
 * pt_guard_sigaction() handles those. Async-signal-safe. */
bool pt_guard_keeps(int sig);

/* For one of the four fault signals, records act as the program's handler
 * (chained behind ours) and reports the previously recorded one in oldact
 * (the program's, never ours); returns 1. Before pt_guard_install() it
 * passes the call to the real sigaction (1, or -errno on failure), so the
 * install captures it. For other signals returns 0 and the shim calls the
 * real sigaction. Async-signal-safe (briefly spins against a concurrent
 * sigaction call on another thread). */
int pt_guard_sigaction(int sig, const struct sigaction *act,
		       struct sigaction *oldact);

/* The sigaction behind our interposer: dlsym(RTLD_NEXT, "sigaction"),
 * resolved on first use (pt_guard_install resolves it), else glibc's
 * __sigaction. Returns 0 or -errno; keeps errno. Async-signal-safe once
 * resolved. */
int pt_guard_real_sigaction(int sig, const struct sigaction *act,
			    struct sigaction *oldact);

#endif
