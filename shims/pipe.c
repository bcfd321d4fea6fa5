/*
 * pipe.c: pipe2, read, write, close and syscall, interposed to keep
 * libunwind's validation pipe from ever touching a file of the program's.
 *
 * libunwind (1.6) validates addresses while it unwinds by writing a byte
 * from each into a pipe of its own (mem_validate_pipe: mincore, then a
 * write), made on first use; when reading that pipe fails, it closes both
 * numbers and makes a new one. A program that closes every descriptor and
 * opens files of its own (daemons do) gets those numbers back, after which
 * libunwind read from, wrote bytes of memory into, and closed the
 * program's files: seen in e2e.closed_descriptor. Refusing the pipe is no
 * answer: every validation then fails and no stack is walked at all.
 *
 * So, inside the runtime only (pt_tls.busy: our stack walks, and the
 * start-up check that walks once):
 *  - pipe2 makes the pipe at the top quarter of the descriptor range
 *    (core/fd.h), out of the way of programs that open the lowest free
 *    number, and records its numbers and identity (device, inode);
 *  - read, write and close on either number act only while the number
 *    still names that pipe (one fstat); otherwise they fail with EBADF
 *    and touch nothing, and libunwind makes a new pipe. libunwind writes
 *    through syscall(SYS_write, ...), not write() (seen in CI: two bytes
 *    of memory written into the program's files when the new pipe could
 *    not be made at a full descriptor table), so syscall is checked the
 *    same way for SYS_read, SYS_write and SYS_close.
 * Every other call is the plain C library function (cancellation points
 * stay cancellation points): one thread-local load more per call.
 * syscall(SYS_seccomp, ...) setting a mode first ends the trace
 * (sandbox.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "contracts/covmarks.h"
#include "core/fd.h"
#include "core/runtime.h"
#include "shims/shim.h"

static struct {
	int fd[2];
	dev_t dev;
	ino_t ino;
} lu = { { -1, -1 }, 0, 0 };

PT_EXPORT int pipe2(int fds[2], int flags)
{
	int rc = (int)syscall(SYS_pipe2, fds, flags);
	if (rc != 0 || !pt_tls.busy)
		return rc;
	int saved = errno;
	PT_MARK(pipe_in_runtime);
	fds[0] = pt_fd_move_high(fds[0]);
	fds[1] = pt_fd_move_high(fds[1]);
	struct stat st;
	if (fstat(fds[0], &st) == 0) {
		lu.dev = st.st_dev;
		lu.ino = st.st_ino;
		lu.fd[0] = fds[0];
		lu.fd[1] = fds[1];
	}
	errno = saved;
	return 0;
}

/* From inside the runtime: false when fd is one of the pipe's numbers but
 * no longer the pipe (the program closed it and reused the number). */
static bool may_touch(int fd)
{
	if (fd < 0 || (fd != lu.fd[0] && fd != lu.fd[1]) || pt_fd_is(fd, lu.dev, lu.ino))
		return true;
	PT_MARK(pipe_number_taken);
	errno = EBADF;
	return false;
}

static void resolve(void)
{
	if (!pt_real.close)
		pt_shim_resolve();
}

PT_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	if (__builtin_expect(pt_tls.busy != 0, 0) && !may_touch(fd))
		return -1;
	resolve();
	if (__builtin_expect(pt_real.read != NULL, 1))
		return pt_real.read(fd, buf, n);
	return syscall(SYS_read, fd, buf, n);
}

PT_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	if (__builtin_expect(pt_tls.busy != 0, 0) && !may_touch(fd))
		return -1;
	resolve();
	if (__builtin_expect(pt_real.write != NULL, 1))
		return pt_real.write(fd, buf, n);
	return syscall(SYS_write, fd, buf, n);
}

PT_EXPORT int close(int fd)
{
	if (__builtin_expect(pt_tls.busy != 0, 0)) {
		if (!may_touch(fd))
			return -1;
		if (fd == lu.fd[0])
			lu.fd[0] = -1;
		else if (fd == lu.fd[1])
			lu.fd[1] = -1;
	}
	resolve();
	if (__builtin_expect(pt_real.close != NULL, 1))
		return pt_real.close(fd);
	return (int)syscall(SYS_close, fd);
}

/* Before the real functions are known (the first calls of a process): the
 * system call itself, as the C library's syscall() makes it. */
static long raw_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
#if defined(__x86_64__)
	long ret;
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	if (ret < 0 && ret > -4096) {
		errno = (int)-ret;
		return -1;
	}
	return ret;
#else
	(void)n; (void)a1; (void)a2; (void)a3; (void)a4; (void)a5; (void)a6;
	errno = ENOSYS;
	return -1;
#endif
}

PT_EXPORT long syscall(long n, ...)
{
	/* six argument registers, as the C library's own syscall() reads them
	 * whatever the call passed */
	va_list ap;
	va_start(ap, n);
	long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
	long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
	va_end(ap);
	if (__builtin_expect(pt_tls.busy != 0, 0) &&
	    (n == SYS_read || n == SYS_write || n == SYS_close) && !may_touch((int)a1))
		return -1;
	/* seccomp(2) has no glibc wrapper: SECCOMP_SET_MODE_STRICT (0) and
	 * _FILTER (1) come here (sandbox.c) */
	if (__builtin_expect(n == SYS_seccomp, 0) && (a1 == 0 || a1 == 1))
		pt_sandbox_before_seccomp();
	if (__builtin_expect(pt_real.syscall != NULL, 1))
		return pt_real.syscall(n, a1, a2, a3, a4, a5, a6);
	return raw_syscall(n, a1, a2, a3, a4, a5, a6);
}
