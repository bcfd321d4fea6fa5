/* dies.c MODE: holds a known 32 MiB block from hold_me(), waits long enough
 * for the writer's periodic flush, then ends by MODE: exit, _exit, abort,
 * segv or kill (SIGKILL to itself). The trace must decode up to that
 * point and show hold_me. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *held;

__attribute__((noinline)) void hold_me(void)
{
	held = malloc(32 << 20);
	memset(held, 5, 32 << 20);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "exit";
	hold_me();
	struct timespec ts = { 0, 300 * 1000000 };
	nanosleep(&ts, NULL);
	printf("dies: %s\n", mode);
	fflush(stdout);
	if (!strcmp(mode, "_exit"))
		_exit(7);
	if (!strcmp(mode, "abort"))
		abort();
	if (!strcmp(mode, "segv"))
		*(volatile int *)16 = 1;
	if (!strcmp(mode, "kill"))
		kill(getpid(), SIGKILL);
	return 0;
}
