/* forker.c: a multi-threaded program that forks 200 times while its other
 * threads keep allocating; each child allocates, prints nothing and exits
 * with a code the parent checks. A hang here means a lock was left held
 * across fork. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static atomic_int stop;

static void *churn(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		void *p = malloc(512 + (size_t)(rand() % 100000));
		free(p);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int forks = argc > 1 ? atoi(argv[1]) : 200;
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, churn, NULL);
	int ok = 0;
	for (int i = 0; i < forks; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			char *p = malloc(1 << 20);
			memset(p, 1, 1 << 20);
			free(p);
			_exit(i % 7);
		}
		int st;
		if (waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == i % 7)
			ok++;
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	printf("forker: %d of %d children ok\n", ok, forks);
	return ok == forks ? 0 : 1;
}
