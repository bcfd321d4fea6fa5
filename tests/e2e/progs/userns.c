/* userns: enters a new user namespace (unshare(CLONE_NEWUSER), which the
 * kernel allows only to a single-threaded process), says how it went,
 * then holds 16 MiB from site_after_unshare. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) static char *site_after_unshare(size_t n)
{
	char *p = malloc(n);
	if (p)
		memset(p, 7, n);
	return p;
}

int main(void)
{
	int rc = unshare(CLONE_NEWUSER);
	printf("unshare: %s\n", rc == 0 ? "ok" : strerror(errno));
	char *p = site_after_unshare(16u << 20);
	printf("%d\n", p[4]);
	return 0;
}
