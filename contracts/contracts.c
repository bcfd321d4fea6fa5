/*
 * contracts.c: what a contract violation does (see contracts.h).
 *
 * The message is built on the stack with fmt.h and written with one
 * write(2); nothing here allocates, locks or uses stdio, so a violation can
 * be reported from a signal handler or from inside malloc.
 */
#include "contracts/contracts.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "contracts/fmt.h"

#include "contracts/banned.h"

static _Atomic(pt_contract_hook_fn) contract_hook;
static atomic_int forced_mode = -1;

void pt_contract_set_hook(pt_contract_hook_fn fn)
{
	atomic_store_explicit(&contract_hook, fn, memory_order_release);
}

void pt_contract_force_mode(int mode)
{
	atomic_store_explicit(&forced_mode, mode, memory_order_relaxed);
}

static const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

void pt_die_abort(void)
{
	/* Raw syscalls: the runtime interposes sigaction, and this must work
	 * whatever state that interposer is in. */
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		unsigned long mask;
	} dfl = { 0 };
	unsigned long unblock = 1UL << (SIGABRT - 1);
	syscall(SYS_rt_sigaction, SIGABRT, &dfl, NULL, sizeof dfl.mask);
	syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &unblock, NULL, sizeof unblock);
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGABRT);
	_exit(134);
}

void pt_contract_fail(const char *kind, const char *cond, const char *file,
		      int line, const char *func)
{
	char storage[512];
	struct pt_buf b;
	pt_buf_init(&b, storage, sizeof storage);
	pt_buf_puts(&b, "contract violated: ");
	pt_buf_puts(&b, kind);
	pt_buf_puts(&b, " '");
	pt_buf_puts(&b, cond);
	pt_buf_puts(&b, "' in ");
	pt_buf_puts(&b, func);
	pt_buf_puts(&b, "() at ");
	pt_buf_puts(&b, basename_of(file));
	pt_buf_putc(&b, ':');
	pt_buf_puti(&b, line);

	int mode = atomic_load_explicit(&forced_mode, memory_order_relaxed);
	bool debug = mode < 0 ? config_debug : mode == 1;
	if (debug) {
		pt_errmsg(b.p);
		pt_die_abort();
	}
	pt_contract_hook_fn hook =
		atomic_load_explicit(&contract_hook, memory_order_acquire);
	if (hook)
		hook(b.p);
	else
		pt_errmsg(b.p);
}
