/* execer: holds 30 MiB from site_before_exec, tries to exec a program that
 * does not exist (execvp fails: this image goes on), adds 10 MiB from
 * site_after_failed_exec, then execs /bin/sh at once, which prints a
 * line. The image that exec'd must leave a trace with all 40 MiB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((noinline)) static char *site_before_exec(size_t n)
{
	char *p = malloc(n);
	if (p)
		memset(p, 1, n);
	return p;
}

__attribute__((noinline)) static char *site_after_failed_exec(size_t n)
{
	char *p = malloc(n);
	if (p)
		memset(p, 2, n);
	return p;
}

int main(void)
{
	char *a = site_before_exec(30u << 20);
	char *const nope[] = { "peaktrace-no-such-program", NULL };
	if (execvp(nope[0], nope) == 0)
		return 1;
	char *b = site_after_failed_exec(10u << 20);
	printf("still here %d\n", a[5] + b[5]);
	fflush(stdout);
	execl("/bin/sh", "sh", "-c", "echo exec\\'d", (char *)NULL);
	return 2;
}
