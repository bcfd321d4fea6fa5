/*
 * pipe.c: pipe2, read, write and close, interposed to keep libunwind's
 * validation pipe from ever touching a file of the program's.
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
 *    and touch nothing, and libunwind makes a new pipe.
 * Every other call is the plain C library function (cancellation points
 * stay cancellation points): one thread-local load more per call.
 */
#include <errno.h>
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
	if (fd < 0 || (fd != lu.fd[0] && fd != lu.fd[1]))
		return true;
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && st.st_dev == lu.dev &&
	    st.st_ino == lu.ino)
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
		if (fd >= 0 && (fd == lu.fd[0] || fd == lu.fd[1])) {
			if (fd == lu.fd[0])
				lu.fd[0] = -1;
			else
				lu.fd[1] = -1;
		}
	}
	resolve();
	if (__builtin_expect(pt_real.close != NULL, 1))
		return pt_real.close(fd);
	return (int)syscall(SYS_close, fd);
}
