/*
 * exec.c: the exec family, interposed so the image being replaced gets
 * its trace written first. exec ends an image without destructors or
 * exit handlers: the writer flushes every 100 ms, so a job that allocated
 * and exec'd within that lost the allocations (or, started less than
 * 100 ms before, its whole trace). Before the real call the writer writes
 * everything recorded so far (pt_writer_flush_now, 500 ms at most); the
 * trace stays open and profiling goes on, since an exec can fail (execvp
 * tries each directory of PATH) and the program then continues. A trace
 * whose image exec'd has no END record: the decoder says the process did
 * not finish, which is what happened to that image.
 *
 * glibc's exec functions call its internal __execve, not execve: each
 * entry point a program may call is interposed (execve, execv, execvp,
 * execvpe, execl, execle, execlp, fexecve, execveat), each forwarding to
 * the next definition of the same name. Pass-through when profiling is
 * off or the call comes from inside the runtime.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/guard.h"
#include "core/runtime.h"
#include "shims/shim.h"

static void before_exec(void)
{
	if (pt_tls.busy || !pt_ks_active() || !pt_started())
		return;
	int saved = errno;
	pt_tls.busy++;
	pt_flush_delta();
	pt_writer_flush_now(500);
	pt_tls.busy--;
	errno = saved;
}


typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*execv_fn)(const char *, char *const[]);
typedef int (*fexecve_fn)(int, char *const[], char *const[]);
typedef int (*execveat_fn)(int, const char *, char *const[], char *const[], int);

PT_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	PT_SHIM_NEXT_OR_ENOSYS(execve_fn, execve)
	before_exec();
	return real(path, argv, envp);
}

PT_EXPORT int execv(const char *path, char *const argv[])
{
	PT_SHIM_NEXT_OR_ENOSYS(execv_fn, execv)
	before_exec();
	return real(path, argv);
}

PT_EXPORT int execvp(const char *file, char *const argv[])
{
	PT_SHIM_NEXT_OR_ENOSYS(execv_fn, execvp)
	before_exec();
	return real(file, argv);
}

PT_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	PT_SHIM_NEXT_OR_ENOSYS(execve_fn, execvpe)
	before_exec();
	return real(file, argv, envp);
}

PT_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	PT_SHIM_NEXT_OR_ENOSYS(fexecve_fn, fexecve)
	before_exec();
	return real(fd, argv, envp);
}

PT_EXPORT int execveat(int dirfd, const char *path, char *const argv[],
		       char *const envp[], int flags)
{
	PT_SHIM_NEXT_OR_ENOSYS(execveat_fn, execveat)
	before_exec();
	return real(dirfd, path, argv, envp, flags);
}

/* The execl family takes its arguments as a list: collected into an array
 * (on the stack up to ARGS_ON_STACK, in an anonymous mapping beyond; no
 * malloc here), then the array form of the same search. */
#define ARGS_ON_STACK 512

struct args {
	char *stack[ARGS_ON_STACK];
	char **v;
	size_t map_len;
};

/* argv[0] = arg0, then the list up to its NULL; false when there is no
 * memory for it (errno ENOMEM). */
static bool collect(struct args *a, const char *arg0, va_list *ap)
{
	size_t n = 1;
	va_list count;
	va_copy(count, *ap);
	while (va_arg(count, char *) != NULL)
		n++;
	va_end(count);
	a->v = a->stack;
	a->map_len = 0;
	if (n + 1 > ARGS_ON_STACK) {
		a->map_len = (n + 1) * sizeof(char *);
		pt_tls.busy++; /* ours: not the program's mapping */
		void *m = mmap(NULL, a->map_len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		pt_tls.busy--;
		if (m == MAP_FAILED) {
			errno = ENOMEM;
			return false;
		}
		a->v = m;
	}
	a->v[0] = (char *)arg0;
	for (size_t i = 1; i <= n; i++)
		a->v[i] = va_arg(*ap, char *);
	return true;
}

static int release(struct args *a, int rc)
{
	int saved = errno;
	if (a->map_len) {
		pt_tls.busy++;
		munmap(a->v, a->map_len);
		pt_tls.busy--;
	}
	errno = saved;
	return rc;
}

/* execl and execlp: the list, then the array form of the same search. */
static int exec_list(execv_fn real, const char *file, const char *arg, va_list *ap)
{
	struct args a;
	if (!collect(&a, arg, ap))
		return -1;
	before_exec();
	return release(&a, real(file, a.v));
}

PT_EXPORT int execl(const char *path, const char *arg, ...)
{
	PT_SHIM_NEXT_OR_ENOSYS(execv_fn, execv)
	va_list ap;
	va_start(ap, arg);
	int rc = exec_list(real, path, arg, &ap);
	va_end(ap);
	return rc;
}

PT_EXPORT int execlp(const char *file, const char *arg, ...)
{
	PT_SHIM_NEXT_OR_ENOSYS(execv_fn, execvp)
	va_list ap;
	va_start(ap, arg);
	int rc = exec_list(real, file, arg, &ap);
	va_end(ap);
	return rc;
}

PT_EXPORT int execle(const char *path, const char *arg, ...)
{
	PT_SHIM_NEXT_OR_ENOSYS(execve_fn, execve)
	struct args a;
	va_list ap;
	va_start(ap, arg);
	bool ok = collect(&a, arg, &ap);
	char *const *envp = ok ? va_arg(ap, char *const *) : NULL;
	va_end(ap);
	if (!ok)
		return -1;
	before_exec();
	return release(&a, real(path, a.v, envp));
}
