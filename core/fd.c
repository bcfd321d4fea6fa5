/*
 * fd.c: moving the runtime's descriptors out of the program's range (fd.h).
 */
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "contracts/covmarks.h"
#include "core/fd.h"

#include "contracts/banned.h"

bool pt_fd_is(int fd, dev_t dev, ino_t ino)
{
	struct stat st;
	return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

int pt_fd_move_high(int fd)
{
	struct rlimit rl;
	if (fd < 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur < 64 || rl.rlim_cur > (rlim_t)0x7fffffff)
		return fd;
	int base = (int)(rl.rlim_cur - rl.rlim_cur / 4);
	if (fd >= base)
		return fd;
	int high = fcntl(fd, F_DUPFD_CLOEXEC, base);
	if (high < 0)
		return fd;
	/* Between our open and this close another thread of the program may
	 * have closed the low number and opened a file of its own there: close
	 * it only while it is still the file we opened. */
	struct stat st;
	if (fstat(high, &st) == 0 && pt_fd_is(fd, st.st_dev, st.st_ino)) {
		close(fd);
	} else {
		PT_MARK(fd_low_taken);
	}
	PT_MARK(fd_moved_high);
	return high;
}
