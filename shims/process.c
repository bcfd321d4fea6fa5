/*
 * process.c: the library's constructor and destructor, and the process
 * exits that skip destructors (_exit, _Exit, abort), interposed so the
 * trace is flushed "as far as possible" before the process goes.
 *
 * Fork is handled by a pthread_atfork child handler (core/runtime.c); the
 * writer of a fork child starts with its first sample.
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
	PT_MARK(shim_exit_flush);
	pt_tls.busy++;
	pt_runtime_finish("_exit");
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
	PT_MARK(shim_abort_flush);
	pt_tls.busy++;
	pt_runtime_finish("abort");
	if (!pt_real.abort_)
		pt_shim_resolve();
	pt_real.abort_();
	__builtin_unreachable();
}
