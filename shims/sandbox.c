/*
 * sandbox.c: the calls with which a program confines itself after start:
 * dropping privileges (the setuid and setgid family, capset), chroot,
 * lowering RLIMIT_NOFILE, and seccomp filters. Interposed so the runtime
 * keeps its promise of doing no harm once the process can do less.
 *
 * The writer creates the trace file lazily (core/writer.c, LAZY_OPEN_NS),
 * from the writer thread. A daemon that dropped root, chrooted or lowered
 * its descriptor limit within that delay lost its whole trace ("cannot
 * create trace: Permission denied", on the program's stderr), and under
 * RLIMIT_NOFILE the trace's descriptor took one of the program's own.
 * Before each of those calls the writer is asked to write what it has
 * (pt_writer_flush_now, which creates the file with the rights the
 * process still has; a fork child's writer is started first); the file
 * then stays open across the call.
 *
 * A seccomp filter (seccomp(2) through syscall(), or prctl(PR_SET_SECCOMP))
 * may forbid any system call the runtime makes: the writer's (openat,
 * write, clock_nanosleep; every thread's with SECCOMP_FILTER_FLAG_TSYNC)
 * and the sampling thread's own (libunwind blocks signals with
 * rt_sigprocmask while it walks). A program whose filter kills the
 * process on openat, which it no longer makes itself, died of SIGSYS. So
 * before a seccomp mode is set, the trace is finished (its reason as a
 * TRIP record, then END) and profiling is switched off, quietly: the
 * program's stderr stays its own. Queries (PR_GET_SECCOMP,
 * SECCOMP_GET_ACTION_AVAIL, ...) pass straight through.
 *
 * Every wrapper forwards to the next definition of its name (dlsym
 * RTLD_NEXT), with errno as the real call leaves it. Pass-through when
 * profiling is off or the call comes from inside the runtime. Not
 * async-signal-safe on the profiled path (the flush waits for the writer,
 * 500 ms at most); none of these calls is async-signal-safe in glibc's
 * list except setuid and friends, which a signal handler does not call in
 * practice.
 */
#include <errno.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>
#include <linux/seccomp.h>

#include "contracts/covmarks.h"
#include "core/guard.h"
#include "core/runtime.h"
#include "shims/shim.h"

#include "contracts/banned.h"

/* The trace file exists and holds everything recorded so far. */
static void make_trace_now(void)
{
	if (pt_tls.busy || !pt_ks_active() || !pt_started())
		return;
	int saved = errno;
	pt_tls.busy++;
	PT_MARK(sandbox_trace_made);
	pt_flush_delta();
	if (!atomic_load_explicit(&pt_writer_running, memory_order_acquire))
		pt_writer_child_start(); /* a fork child that sampled nothing yet */
	pt_writer_flush_now(500);
	pt_tls.busy--;
	errno = saved;
}

void pt_sandbox_before_seccomp(void)
{
	if (pt_tls.busy || !pt_ks_active() || !pt_started())
		return;
	int saved = errno;
	pt_tls.busy++;
	PT_MARK(sandbox_seccomp_stop);
	pt_writer_note_trip("profiling stopped: the program installs a seccomp filter, "
			    "which may forbid the runtime's system calls");
	pt_runtime_finish("seccomp");
	/* off for good, without the trip's line on the program's stderr */
	atomic_store(&pt_ks_state, 1);
	pt_fast_gate_set(false);
	pt_tls.busy--;
	errno = saved;
}


typedef int (*id1_fn)(unsigned);
typedef int (*id2_fn)(unsigned, unsigned);
typedef int (*id3_fn)(unsigned, unsigned, unsigned);

#define WRAP1(name)                                                      \
	PT_EXPORT int name(unsigned a)                                   \
	{                                                                \
		PT_SHIM_NEXT_OR_ENOSYS(id1_fn, name)                    \
		make_trace_now();                                        \
		return real(a);                                          \
	}
#define WRAP2(name)                                                      \
	PT_EXPORT int name(unsigned a, unsigned b)                       \
	{                                                                \
		PT_SHIM_NEXT_OR_ENOSYS(id2_fn, name)                    \
		make_trace_now();                                        \
		return real(a, b);                                       \
	}
#define WRAP3(name)                                                      \
	PT_EXPORT int name(unsigned a, unsigned b, unsigned c)           \
	{                                                                \
		PT_SHIM_NEXT_OR_ENOSYS(id3_fn, name)                    \
		make_trace_now();                                        \
		return real(a, b, c);                                    \
	}

/* uid_t and gid_t are unsigned int on Linux: the prototypes of <unistd.h>
 * are kept below by the compiler's own check (conflicting types) */
_Static_assert(sizeof(uid_t) == sizeof(unsigned) && (uid_t)-1 > 0, "uid_t");
_Static_assert(sizeof(gid_t) == sizeof(unsigned) && (gid_t)-1 > 0, "gid_t");

WRAP1(setuid)
WRAP1(setgid)
WRAP1(seteuid)
WRAP1(setegid)
WRAP2(setreuid)
WRAP2(setregid)
WRAP3(setresuid)
WRAP3(setresgid)

PT_EXPORT int chroot(const char *path)
{
	typedef int (*chroot_fn)(const char *);
	PT_SHIM_NEXT_OR_ENOSYS(chroot_fn, chroot)
	make_trace_now();
	return real(path);
}

/* capset(2): declared by <sys/capability.h> of libcap, not by glibc's
 * headers; the arguments are passed through untouched. */
int capset(void *hdr, const void *data);
PT_EXPORT int capset(void *hdr, const void *data)
{
	typedef int (*capset_fn)(void *, const void *);
	PT_SHIM_NEXT_OR_ENOSYS(capset_fn, capset)
	make_trace_now();
	return real(hdr, data);
}

typedef int (*setrlimit_fn)(__rlimit_resource_t, const struct rlimit *);
typedef int (*setrlimit64_fn)(__rlimit_resource_t, const struct rlimit64 *);
typedef int (*prlimit_fn)(pid_t, enum __rlimit_resource, const struct rlimit *,
			  struct rlimit *);
typedef int (*prlimit64_fn)(pid_t, enum __rlimit_resource, const struct rlimit64 *,
			    struct rlimit64 *);

/* Only a new RLIMIT_NOFILE of this process matters: the trace needs a
 * descriptor, made while the program's limit still leaves one. */
static void before_rlimit(pid_t pid, int res, const void *r)
{
	if (res == RLIMIT_NOFILE && r && (pid == 0 || pid == getpid()))
		make_trace_now();
}

PT_EXPORT int setrlimit(__rlimit_resource_t res, const struct rlimit *r)
{
	PT_SHIM_NEXT_OR_ENOSYS(setrlimit_fn, setrlimit)
	before_rlimit(0, (int)res, r);
	return real(res, r);
}

PT_EXPORT int setrlimit64(__rlimit_resource_t res, const struct rlimit64 *r)
{
	PT_SHIM_NEXT_OR_ENOSYS(setrlimit64_fn, setrlimit64)
	before_rlimit(0, (int)res, r);
	return real(res, r);
}

PT_EXPORT int prlimit(pid_t pid, enum __rlimit_resource res, const struct rlimit *r,
		      struct rlimit *old)
{
	PT_SHIM_NEXT_OR_ENOSYS(prlimit_fn, prlimit)
	before_rlimit(pid, (int)res, r);
	return real(pid, res, r, old);
}

PT_EXPORT int prlimit64(pid_t pid, enum __rlimit_resource res, const struct rlimit64 *r,
			struct rlimit64 *old)
{
	PT_SHIM_NEXT_OR_ENOSYS(prlimit64_fn, prlimit64)
	before_rlimit(pid, (int)res, r);
	return real(pid, res, r, old);
}

/* prctl takes up to four arguments after the option, which glibc's
 * wrapper passes on whatever the caller gave: so do we. */
typedef int (*prctl_fn)(int, unsigned long, unsigned long, unsigned long, unsigned long);
PT_EXPORT int prctl(int option, ...)
{
	va_list ap;
	va_start(ap, option);
	unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long);
	unsigned long a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
	va_end(ap);
	PT_SHIM_NEXT_OR_ENOSYS(prctl_fn, prctl)
	if (option == PR_SET_SECCOMP && (a2 == SECCOMP_MODE_STRICT || a2 == SECCOMP_MODE_FILTER))
		pt_sandbox_before_seccomp();
	return real(option, a2, a3, a4, a5);
}
