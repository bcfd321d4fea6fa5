/* pexit MODE: main ends with pthread_exit, as some programs do; glibc
 * then calls exit(0) when the last thread ends (stdio flushed, atexit
 * handlers run).
 *   alone   main prints (buffered) and pthread_exits
 *   worker  a thread holds 20 MiB from site_worker for 200 ms, prints and
 *           returns; main pthread_exits first */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void bye(void)
{
	printf("atexit ran\n");
}

__attribute__((noinline)) static char *site_worker(size_t n)
{
	char *p = malloc(n);
	if (p)
		memset(p, 3, n);
	return p;
}

static void *work(void *arg)
{
	(void)arg;
	char *p = site_worker(20u << 20);
	usleep(200000);
	printf("worker done %d\n", p[9]);
	free(p);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	atexit(bye);
	printf("main leaving\n"); /* a pipe: buffered until exit */
	if (strcmp(argv[1], "worker") == 0) {
		pthread_t t;
		if (pthread_create(&t, NULL, work, NULL) != 0)
			return 1;
	}
	pthread_exit(NULL);
}
