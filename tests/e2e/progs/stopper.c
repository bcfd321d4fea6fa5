/* stopper MODE: how a stop signal ends a program, profiled or not.
 *   dfl      prints SIGTERM's disposition as sigaction reports it, holds
 *            40 MiB from site_stop, says "ready", sleeps (the test sends a
 *            stop signal: the process dies of it)
 *   handler  installs a SIGTERM handler, says "ready", waits for it, then
 *            prints "caught" and exits 3
 *   ignexec  ignores SIGHUP, then execs a shell that sends itself SIGHUP
 *            and prints "alive" (an ignored signal stays ignored across
 *            exec; a handled one would not)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void on_term(int sig)
{
	(void)sig;
	got = 1;
}

__attribute__((noinline)) static char *site_stop(size_t n)
{
	char *p = malloc(n);
	if (p)
		memset(p, 5, n);
	return p;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	if (strcmp(argv[1], "dfl") == 0) {
		struct sigaction cur;
		sigaction(SIGTERM, NULL, &cur);
		printf("SIGTERM is %s\n", cur.sa_handler == SIG_DFL ? "default" : "something else");
		char *p = site_stop(40u << 20);
		printf("ready\n");
		fflush(stdout);
		sleep(30);
		return p[1];
	}
	if (strcmp(argv[1], "handler") == 0) {
		signal(SIGTERM, on_term);
		printf("ready\n");
		fflush(stdout);
		while (!got)
			pause();
		printf("caught\n");
		return 3;
	}
	if (strcmp(argv[1], "ignexec") == 0) {
		signal(SIGHUP, SIG_IGN);
		execl("/bin/sh", "sh", "-c", "kill -HUP $$; echo alive", (char *)NULL);
		return 1;
	}
	return 2;
}
