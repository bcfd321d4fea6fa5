/*
 * signal.c: the sigaction/signal interposers of libpeaktrace.so.
 *
 * The fault handler of core/guard.c must see every SIGSEGV, SIGBUS, SIGILL
 * and SIGFPE first: it recovers faults inside the runtime's guarded
 * regions and passes everything else on. (Its stop handler likewise
 * finishes the trace before SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE,
 * SIGXCPU and SIGABRT end the process: pt_guard_keeps names them all.) A
 * program (or a library such as a crash reporter) that installs its own
 * handler after us would otherwise replace ours in the kernel. So for
 * those signals these wrappers do not set the kernel's action themselves:
 * pt_guard_sigaction() records the program's action, reports the
 * previously recorded one as oldact (the program's, never ours), and the
 * guard's handler calls the recorded action for every fault that is not
 * its own, the way the kernel would have. Before
 * pt_guard_install() the call goes straight to the real sigaction, and the
 * install captures what it left.
 *
 * Decision (docs/GUARD.md, "Staying first"): interpose the libc entry
 * points a program uses to set a handler: sigaction, signal, bsd_signal,
 * sysv_signal and __sysv_signal (what `signal` names under strict
 * -std=c99/-D_XOPEN_SOURCE builds), for every signal the guard keeps.
 * Every other signal goes unchanged to the next definition in the lookup
 * order (dlsym(RTLD_NEXT), resolved on first use, so another interposer
 * such as a sanitizer runtime or libjsig keeps working); should dlsym find
 * nothing, signal() and friends are rebuilt on the real sigaction with
 * glibc's flags. Not covered, knowingly:
 * sigset(3) and siginterrupt(3) (glibc calls its internal sigaction
 * directly), the raw rt_sigaction syscall, and glibc's __sigaction; a
 * program using those replaces our handler, and faults inside the runtime
 * are then fatal as they would be without recovery.
 *
 * Every function here is as async-signal-safe as the call it replaces,
 * except on the first call of each, which may run dlsym. errno is set only
 * on failure.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "core/guard.h"

#include "contracts/banned.h"

#define PT_EXPORT __attribute__((visibility("default")))

typedef void (*handler_fn)(int);
typedef handler_fn (*signal_fn)(int, handler_fn);

/* Not declared by <signal.h> in every feature-macro combination. */
handler_fn bsd_signal(int sig, handler_fn handler);
handler_fn sysv_signal(int sig, handler_fn handler);
handler_fn __sysv_signal(int sig, handler_fn handler);

PT_EXPORT int sigaction(int sig, const struct sigaction *act,
			struct sigaction *oldact)
{
	int rc = pt_guard_sigaction(sig, act, oldact);
	if (rc == 0)
		rc = pt_guard_real_sigaction(sig, act, oldact);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}

/* signal() for one of the guard's signals, with glibc's semantics: BSD
 * (SA_RESTART, the signal blocked in its handler) or System V
 * (SA_RESETHAND | SA_NODEFER). */
static handler_fn set_handler(int sig, handler_fn handler, bool sysv)
{
	if (handler == SIG_ERR || sig <= 0 || sig >= NSIG) {
		errno = EINVAL;
		return SIG_ERR;
	}
	struct sigaction act, old;
	memset(&act, 0, sizeof act);
	act.sa_handler = handler;
	sigemptyset(&act.sa_mask);
	if (sysv) {
		act.sa_flags = SA_RESETHAND | SA_NODEFER;
	} else {
		sigaddset(&act.sa_mask, sig);
		act.sa_flags = SA_RESTART;
	}
	if (sigaction(sig, &act, &old) != 0)
		return SIG_ERR;
	return old.sa_handler;
}

static signal_fn resolve(_Atomic(signal_fn) *slot, const char *name)
{
	signal_fn f = atomic_load_explicit(slot, memory_order_acquire);
	if (f)
		return f;
	int saved = errno;
	f = (signal_fn)dlsym(RTLD_NEXT, name);
	errno = saved;
	if (f)
		atomic_store_explicit(slot, f, memory_order_release);
	return f;
}

static _Atomic(signal_fn) real_signal, real_bsd_signal, real_sysv_signal,
	real___sysv_signal;

/* Every signal whose action the guard records (core/guard.c: the four
 * fault signals, the stop signals and SIGABRT). The stop signals once
 * went to the next signal(), which sets the kernel's action through
 * glibc's internal sigaction: the program's handler replaced ours (no
 * final flush), and a later sigaction(sig, NULL, &old) reported SIG_DFL,
 * the guard's stale record, instead of that handler. */
static bool guards(int sig)
{
	return pt_guard_keeps(sig);
}

static handler_fn forward(_Atomic(signal_fn) *slot, const char *name, int sig,
			  handler_fn handler, bool sysv)
{
	if (!guards(sig)) {
		signal_fn real = resolve(slot, name);
		if (real) {
			handler_fn old = real(sig, handler);
			return old;
		}
	}
	return set_handler(sig, handler, sysv);
}

PT_EXPORT handler_fn signal(int sig, handler_fn handler)
{
	return forward(&real_signal, "signal", sig, handler, false);
}

PT_EXPORT handler_fn bsd_signal(int sig, handler_fn handler)
{
	return forward(&real_bsd_signal, "bsd_signal", sig, handler, false);
}

PT_EXPORT handler_fn sysv_signal(int sig, handler_fn handler)
{
	return forward(&real_sysv_signal, "sysv_signal", sig, handler, true);
}

PT_EXPORT handler_fn __sysv_signal(int sig, handler_fn handler)
{
	return forward(&real___sysv_signal, "__sysv_signal", sig, handler,
		       true);
}
