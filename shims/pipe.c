/*
 * pipe.c: pipe2, interposed for the descriptors libunwind makes.
 *
 * libunwind validates addresses, when it unwinds a frame without unwind
 * information, by writing a byte from the address into a pipe it opened
 * itself (mem_validate_pipe), and when reading that pipe fails (the program
 * closed it) it closes both numbers and opens a new pipe. Left at the low
 * numbers it got at start-up, that pipe is closed by daemons that close
 * every descriptor, after which libunwind writes into and then closes
 * whatever files the program opened on those numbers (seen: e2e.closed_descriptor).
 * A pipe made inside the runtime (pt_tls.busy: only our stack walks make
 * one) is therefore moved to the top of the descriptor range (core/fd.h).
 * Every other call is the plain system call.
 */
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "contracts/covmarks.h"
#include "core/fd.h"
#include "core/runtime.h"
#include "shims/shim.h"

PT_EXPORT int pipe2(int fds[2], int flags)
{
	int rc = (int)syscall(SYS_pipe2, fds, flags);
	if (rc != 0 || !pt_tls.busy)
		return rc;
	int saved = errno;
	PT_MARK(pipe_in_runtime);
	fds[0] = pt_fd_move_high(fds[0]);
	fds[1] = pt_fd_move_high(fds[1]);
	errno = saved;
	return 0;
}
