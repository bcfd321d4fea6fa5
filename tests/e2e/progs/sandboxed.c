/* sandboxed.c: a program that confines itself right after start, before
 * the writer would have created the trace file, then allocates its peak
 * in peak_after_sandbox() (16 MiB) over about 300 ms.
 *   seccomp  a filter on every thread (TSYNC) that kills the process on
 *            openat, which the program itself no longer makes
 *   setuid   drops root for nobody (65534) when run as root
 *   nofile   lowers RLIMIT_NOFILE to 8, then counts the descriptors it
 *            can still open
 * Prints what it did; exit status 0. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void peak_after_sandbox(void)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char *volatile p = malloc(16u << 20);
	memset(p, 1, 16u << 20);
	while (ms_since(&t0) < 300) {
		char *volatile q = malloc(300000);
		q[0] = 1;
		free(q);
		usleep(1000);
	}
	printf("peak %d\n", p[4096]);
	free(p);
}

static int kill_on_openat(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof f / sizeof f[0], f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "seccomp";
	if (!strcmp(mode, "seccomp")) {
		printf("filter %d\n", kill_on_openat());
	} else if (!strcmp(mode, "setuid")) {
		printf("setresuid %d\n", geteuid() == 0 ? setresuid(65534, 65534, 65534) : -1);
	} else if (!strcmp(mode, "nofile")) {
		struct rlimit r = { 8, 8 };
		printf("setrlimit %d\n", setrlimit(RLIMIT_NOFILE, &r));
		int n = 0;
		for (int i = 0; i < 16; i++)
			n += open("/dev/null", O_RDONLY) >= 0;
		printf("opened %d\n", n);
	}
	fflush(stdout);
	peak_after_sandbox();
	return 0;
}
