/* asserts.c: holds 24 MiB from held_at_assert(), then fails an assert()
 * at once, before the writer's first periodic flush. glibc's
 * __assert_fail prints the message and aborts from inside the C library,
 * where the abort shim does not see it: the trace must still be there,
 * whole, with held_at_assert's block. */
#undef NDEBUG /* release builds define it: the assert must stay */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *held;

__attribute__((noinline)) void held_at_assert(void)
{
	held = malloc(24 << 20);
	memset(held, 5, 24 << 20);
}

int main(int argc, char **argv)
{
	(void)argv;
	held_at_assert();
	printf("asserting\n");
	fflush(stdout);
	assert(argc > 5 && "argc is small");
	return 0;
}
