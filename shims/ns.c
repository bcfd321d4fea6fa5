/*
 * ns.c: unshare and setns, interposed for user namespaces. The kernel
 * refuses to move a multithreaded process into a new user namespace
 * (EINVAL), and the trace writer makes every profiled process
 * multithreaded: sandboxing tools a profiled job runs (unshare -U, bwrap,
 * browser sandboxes) failed. For a call that asks for a user namespace the
 * writer writes what it has and ends its thread first, and starts again
 * after the call, whatever its result; events of the pause wait in the
 * ring (a full ring drops and counts them). Every other call passes
 * straight through.
 */
#include <errno.h>
#include <sched.h>

#include "core/guard.h"
#include "core/runtime.h"
#include "shims/shim.h"

typedef int (*unshare_fn)(int);
typedef int (*setns_fn)(int, int);

static bool pause_writer(void)
{
	if (pt_tls.busy || !pt_ks_active() || !pt_started())
		return false;
	pt_tls.busy++;
	bool paused = pt_writer_pause();
	pt_tls.busy--;
	return paused;
}

static void resume_writer(bool paused)
{
	if (!paused)
		return;
	int saved = errno;
	pt_tls.busy++;
	pt_writer_resume();
	pt_tls.busy--;
	errno = saved;
}

PT_EXPORT int unshare(int flags)
{
	static void *_Atomic next;
	unshare_fn real = (unshare_fn)pt_shim_next(&next, "unshare");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	bool paused = (flags & CLONE_NEWUSER) && pause_writer();
	int rc = real(flags);
	resume_writer(paused);
	return rc;
}

PT_EXPORT int setns(int fd, int nstype)
{
	static void *_Atomic next;
	setns_fn real = (setns_fn)pt_shim_next(&next, "setns");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	/* nstype 0 accepts any kind: the descriptor may name a user namespace */
	bool paused = (nstype == 0 || nstype == CLONE_NEWUSER) && pause_writer();
	int rc = real(fd, nstype);
	resume_writer(paused);
	return rc;
}
