/* chdirer DIR: changes to DIR, then holds 12 MiB from site_after_chdir. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((noinline)) static char *site_after_chdir(size_t n)
{
	char *p = malloc(n);
	if (p)
		memset(p, 6, n);
	return p;
}

int main(int argc, char **argv)
{
	if (argc != 2 || chdir(argv[1]) != 0)
		return 2;
	char *p = site_after_chdir(12u << 20);
	printf("%d\n", p[3]);
	return 0;
}
