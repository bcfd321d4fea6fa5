/* aborter.c MODE:
 *   query    sets handlers with signal() for SIGTERM and SIGABRT, then
 *            asks sigaction() what they are, and prints the answers
 *   corrupt  holds 24 MiB from held_at_corruption(), then frees a block
 *            twice at once: glibc finds it and aborts from inside itself
 *            (no abort shim sees that), before the writer's first
 *            periodic flush */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *held;

__attribute__((noinline)) void held_at_corruption(void)
{
	held = malloc(24 << 20);
	memset(held, 5, 24 << 20);
}

static void on_signal(int sig)
{
	(void)sig;
}

static int query(int sig)
{
	struct sigaction old;
	if (signal(sig, on_signal) == SIG_ERR || sigaction(sig, NULL, &old) != 0)
		return -1;
	return old.sa_handler == on_signal;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "query";
	if (!strcmp(mode, "query")) {
		printf("SIGTERM handler reported: %d\n", query(SIGTERM));
		printf("SIGABRT handler reported: %d\n", query(SIGABRT));
		return 0;
	}
	held_at_corruption();
	printf("corrupting\n");
	fflush(stdout);
	char *volatile q = malloc(32);
	free(q);
	free(q);
	return 0;
}
