/*
 * process.c: the library's constructor and destructor, and the process
 * exits that skip destructors (_exit, _Exit, abort), interposed so the
 * trace is flushed "as far as possible" before the process goes.
 *
 * Fork is handled by a pthread_atfork child handler (core/runtime.c); the
 * writer of a fork child starts with its first sample.
 *
 * A vfork child (and a CLONE_VM child) runs on its parent's memory and
 * thread-local storage until it execs or exits: the exits here touch
 * nothing of the runtime there (pt_tls.busy raised for good would have
 * left the parent's thread unprofiled, and the finish ended the parent's
 * trace). own_process() tells it, with core/runtime.c's finish().
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "contracts/covmarks.h"
#include "contracts/fmt.h"
#include "core/pyglue.h"
#include "core/guard.h"
#include "core/runtime.h"
#include "shims/shim.h"

static void doctor(void) __attribute__((noreturn));

/* False in a child that no atfork handler took over (vfork, raw clone or
 * fork system calls): the runtime's state there is its parent's.
 * Async-signal-safe. */
static bool own_process(void)
{
	return pt_g.pid == 0 || pt_g.pid == getpid();
}

static void doctor(void)
{
	char msg[512];
	int rc = pt_envcheck_run(msg, sizeof msg, 2);
	const char *why = NULL;
	if (pt_pyglue_start(&why) < 0) {
		pt_errmsg(why ? why : "unsupported python interpreter");
		rc = -1;
	} else if (*pt_pyglue_version()) {
		char line[128];
		struct pt_buf b;
		pt_buf_init(&b, line, sizeof line);
		pt_buf_puts(&b, "ok    python ");
		pt_buf_puts(&b, pt_pyglue_version());
		pt_buf_puts(&b, " (frame reader accepted)\n");
		pt_write_all(2, b.p, b.len);
	} else {
		static const char none[] = "ok    no python interpreter in this process\n";
		pt_write_all(2, none, sizeof none - 1);
	}
	if (pt_real.exit_)
		pt_real.exit_(rc < 0 ? 1 : 0);
	_exit(rc < 0 ? 1 : 0);
}

__attribute__((constructor)) static void pt_ctor(void)
{
	/* main must find errno as it would without us (0); start-up's
	 * checks leave EEXIST and the like behind */
	int saved = errno;
	pt_shim_resolve();
	const char *d = getenv("PEAKTRACE_DOCTOR");
	if (d && *d == '1')
		doctor();
	pt_tls.busy++;
	pt_runtime_start();
	if (pt_started())
		pt_mmap_note_allocator();
	pt_tls.busy--;
	errno = saved;
}

__attribute__((destructor)) static void pt_dtor(void)
{
	pt_tls.busy++;
	pt_runtime_finish("exit");
	pt_tls.busy--;
}

PT_EXPORT void _exit(int status)
{
	if (own_process()) {
		PT_MARK(shim_exit_flush);
		pt_tls.busy++;
		pt_runtime_finish("_exit");
	}
	if (!pt_real.exit_)
		pt_shim_resolve();
	pt_real.exit_(status);
	__builtin_unreachable();
}

PT_EXPORT void _Exit(int status)
{
	_exit(status);
}

/* quick_exit runs the at_quick_exit handlers, then glibc's internal
 * _exit, which the shim above does not see: finish first. The handlers
 * then run unprofiled, which is what an exit path is. */
typedef void (*quick_exit_fn)(int);
PT_EXPORT void quick_exit(int status)
{
	static void *_Atomic next;
	quick_exit_fn f = (quick_exit_fn)pt_shim_next(&next, "quick_exit");
	PT_MARK(shim_quick_exit_flush);
	pt_tls.busy++;
	pt_runtime_finish("quick_exit");
	pt_tls.busy--;
	if (f)
		f(status);
	_exit(status);
}

PT_EXPORT void abort(void)
{
	if (own_process()) {
		PT_MARK(shim_abort_flush);
		pt_tls.busy++;
		pt_runtime_finish("abort");
	}
	if (!pt_real.abort_)
		pt_shim_resolve();
	pt_real.abort_();
	__builtin_unreachable();
}

/* A failed assert() calls __assert_fail through the program's PLT, which
 * prints the message and calls glibc's internal abort, which the shim
 * above does not see: the process died of SIGABRT with the last 100 ms of
 * its trace unwritten, and, when the trace file was not made yet, with no
 * trace at all. So the trace is finished first, then the real function
 * prints and aborts as it would have (same message, same signal). The
 * guard's SIGABRT handler (core/guard.c) finishes the trace for the other
 * aborts glibc decides inside itself (heap corruption found by free,
 * fortify and stack-protector checks) while the program's SIGABRT action
 * is the default; this shim also covers a program whose own SIGABRT
 * handler returns (glibc's abort then restores the default action itself,
 * behind the guard, and raises again). */
typedef void (*assert_fail_fn)(const char *, const char *, unsigned, const char *);
typedef void (*assert_perror_fn)(int, const char *, unsigned, const char *);

void __assert_fail(const char *expr, const char *file, unsigned line, const char *func)
	__attribute__((noreturn));
void __assert_perror_fail(int errnum, const char *file, unsigned line, const char *func)
	__attribute__((noreturn));

static void before_assert_abort(void)
{
	if (!own_process())
		return;
	int saved = errno;
	PT_MARK(shim_assert_flush);
	pt_tls.busy++;
	pt_runtime_finish("assert");
	pt_tls.busy--;
	errno = saved;
}

/* The C library's abort, after its assert function returned (it does not:
 * the noreturn contract needs the loop). */
static __attribute__((noreturn)) void then_abort(void)
{
	if (!pt_real.abort_)
		pt_shim_resolve();
	for (;;) {
		if (pt_real.abort_)
			pt_real.abort_();
		kill(getpid(), SIGABRT);
	}
}

PT_EXPORT void __assert_fail(const char *expr, const char *file, unsigned line, const char *func)
{
	static void *_Atomic next;
	assert_fail_fn f = (assert_fail_fn)pt_shim_next(&next, "__assert_fail");
	before_assert_abort();
	if (f)
		f(expr, file, line, func);
	then_abort();
}

PT_EXPORT void __assert_perror_fail(int errnum, const char *file, unsigned line, const char *func)
{
	static void *_Atomic next;
	assert_perror_fn f = (assert_perror_fn)pt_shim_next(&next, "__assert_perror_fail");
	before_assert_abort();
	if (f)
		f(errnum, file, line, func);
	then_abort();
}
