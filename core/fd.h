/*
 * fd.h: descriptors the runtime makes, kept out of the program's way.
 *
 * Programs open the lowest free number, and daemons close every number
 * below some bound and open files again. A descriptor of ours in that range
 * can be closed under us and its number handed to a file of the program's,
 * which we must then neither write nor close. So the one descriptor the
 * runtime keeps, the trace file, is moved to the top quarter of
 * RLIMIT_NOFILE (libunwind is kept from making any: shims/pipe.c).
 */
#ifndef PT_FD_H
#define PT_FD_H

#include <stdbool.h>
#include <sys/types.h>

/* Moves fd to a number in the top quarter of the descriptor limit
 * (close-on-exec) and returns the new number; returns fd unchanged when
 * the limit is too small, unlimited, or the move fails. The low number is
 * closed only while it still names the same open file. */
int pt_fd_move_high(int fd);

/* True when fd is open and names the file (device, inode) given. */
bool pt_fd_is(int fd, dev_t dev, ino_t ino);

#endif
