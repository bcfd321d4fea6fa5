/* quick: prints errno as main finds it (0 without a profiler), holds
 * 8 MiB from site_quick, and leaves through quick_exit(4), whose _exit
 * glibc calls internally. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int errno_at_main = -1;

__attribute__((noinline)) static char *site_quick(size_t n)
{
	char *p = malloc(n);
	if (p)
		memset(p, 4, n);
	return p;
}

int main(void)
{
	errno_at_main = errno;
	printf("errno at main: %d\n", errno_at_main);
	char *p = site_quick(8u << 20);
	printf("%d\n", p[2]);
	fflush(stdout);
	quick_exit(4);
}
