/* threads.c: 8 threads allocate, realloc and hand blocks to the next
 * thread, which frees them (frees across threads). Deterministic output.
 * Thread i names itself "worker-i"; worker 0 renames itself "renamed-0"
 * halfway through (the trace must follow). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NT 8
#define ROUNDS 20000
#define Q 256

struct box {
	pthread_mutex_t mu;
	void *slot[Q];
	int n;
};
static struct box boxes[NT];
static unsigned long totals[NT];

static void *worker(void *arg)
{
	int me = (int)(long)arg;
	struct box *next = &boxes[(me + 1) % NT];
	struct box *mine = &boxes[me];
	unsigned seed = (unsigned)me * 7919u + 1;
	char name[16];
	snprintf(name, sizeof name, "worker-%d", me);
	pthread_setname_np(pthread_self(), name);
	for (int r = 0; r < ROUNDS; r++) {
		if (me == 0 && r == ROUNDS / 2)
			pthread_setname_np(pthread_self(), "renamed-0");
		seed = seed * 1103515245u + 12345u;
		size_t n = 16 + (seed >> 8) % 4096;
		char *p = malloc(n);
		memset(p, me, n);
		if (r % 3 == 0) {
			p = realloc(p, n * 2);
			memset(p, me, n * 2);
		}
		totals[me] += n;
		pthread_mutex_lock(&next->mu);
		if (next->n < Q)
			next->slot[next->n++] = p;
		else
			free(p);
		pthread_mutex_unlock(&next->mu);
		pthread_mutex_lock(&mine->mu);
		while (mine->n > 0)
			free(mine->slot[--mine->n]);
		pthread_mutex_unlock(&mine->mu);
	}
	return NULL;
}

int main(void)
{
	pthread_t t[NT];
	for (int i = 0; i < NT; i++)
		pthread_mutex_init(&boxes[i].mu, NULL);
	for (int i = 0; i < NT; i++)
		pthread_create(&t[i], NULL, worker, (void *)(long)i);
	for (int i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	unsigned long sum = 0;
	for (int i = 0; i < NT; i++) {
		while (boxes[i].n > 0)
			free(boxes[i].slot[--boxes[i].n]);
		sum += totals[i];
	}
	printf("threads: %lu bytes requested\n", sum);
	return 0;
}
