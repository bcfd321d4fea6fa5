/* aslimit MIB: allocates MIB blocks of 1 MiB and touches them; says how
 * many it got. Run under an address-space limit (ulimit -v). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	int want = argc > 1 ? atoi(argv[1]) : 0, got = 0;
	static void *blocks[4096];
	for (; got < want && got < 4096; got++) {
		blocks[got] = malloc(1u << 20);
		if (!blocks[got])
			break;
		memset(blocks[got], 1, 1u << 20);
	}
	printf("got %d of %d MiB\n", got, want);
	for (int i = 0; i < got; i++)
		free(blocks[i]);
	return got == want ? 0 : 1;
}
