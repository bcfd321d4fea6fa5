/* vforker.c: children that share or copy the parent's memory without the
 * atfork handlers: vfork children that _exit (directly, and after a failed
 * exec), and children of raw clone system calls that _exit. Then the
 * parent allocates its peak: 24 MiB in grow_after_children(), which its
 * trace must hold (a vfork child's _exit once ended the parent's trace,
 * and left its thread unprofiled). Prints what the children returned. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int status_of(pid_t p)
{
	int st = 0;
	if (p < 0 || waitpid(p, &st, 0) != p)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void grow_after_children(void)
{
	char *volatile p = malloc(24u << 20);
	memset(p, 1, 24u << 20);
	printf("grew %d\n", p[12345]);
	free(p);
}

int main(void)
{
	for (int i = 0; i < 5; i++) {
		char *volatile q = malloc(1000 + (size_t)i);
		q[0] = 1;
		pid_t p = vfork();
		if (p == 0)
			_exit(10 + i);
		printf("vfork _exit: %d\n", status_of(p));
		free(q);
	}
	pid_t p = vfork();
	if (p == 0) {
		execl("/nonexistent/program", "x", (char *)NULL);
		_exit(42);
	}
	printf("vfork failed exec: %d\n", status_of(p));
	p = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (p == 0)
		_exit(7);
	printf("raw clone _exit: %d\n", status_of(p));
	fflush(stdout);
	grow_after_children();
	return 0;
}
