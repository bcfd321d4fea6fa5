/*
 * workload.c: a realistic native workload for the overhead benchmark.
 *
 * A log-processing job in miniature: it generates records (strings of
 * varied length), tokenises them into words, counts words in a chained hash
 * table that grows by rehashing, keeps a sliding window of recent records,
 * and periodically sorts a snapshot of the table. Allocation sizes span
 * 16 B to a few MiB (table arrays), the mix a text-processing service has;
 * compute dominates, as it does in real jobs.
 *
 * usage: bench_workload ROUNDS   -- prints a checksum (same with and without
 * the profiler) and "seconds S".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct entry {
	struct entry *next;
	char *word;
	uint64_t count;
};

static struct entry **table;
static size_t nbuckets = 1024, nentries;
static uint64_t rng = 88172645463325252ULL;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void rehash(void)
{
	size_t nb = nbuckets * 2;
	struct entry **t = calloc(nb, sizeof *t);
	for (size_t i = 0; i < nbuckets; i++) {
		struct entry *e = table[i];
		while (e) {
			struct entry *n = e->next;
			size_t b = hash(e->word) & (nb - 1);
			e->next = t[b];
			t[b] = e;
			e = n;
		}
	}
	free(table);
	table = t;
	nbuckets = nb;
}

static void count_word(const char *w, size_t len)
{
	char buf[64];
	if (len >= sizeof buf)
		len = sizeof buf - 1;
	memcpy(buf, w, len);
	buf[len] = 0;
	size_t b = hash(buf) & (nbuckets - 1);
	for (struct entry *e = table[b]; e; e = e->next)
		if (!strcmp(e->word, buf)) {
			e->count++;
			return;
		}
	struct entry *e = malloc(sizeof *e);
	e->word = malloc(len + 1);
	memcpy(e->word, buf, len + 1);
	e->count = 1;
	e->next = table[b];
	table[b] = e;
	if (++nentries > nbuckets * 2)
		rehash();
}

static int cmp(const void *a, const void *b)
{
	const struct entry *x = *(struct entry *const *)a, *y = *(struct entry *const *)b;
	return x->count < y->count ? 1 : x->count > y->count ? -1 : strcmp(x->word, y->word);
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 200;
	table = calloc(nbuckets, sizeof *table);
	enum { WIN = 4096 };
	char **window = calloc(WIN, sizeof *window);
	uint64_t checksum = 0;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long r = 0; r < rounds; r++) {
		for (int i = 0; i < 2000; i++) {
			size_t len = 20 + next() % 300;
			char *rec = malloc(len + 1);
			for (size_t k = 0; k < len; k++) {
				uint64_t v = next() % 40;
				rec[k] = v < 6 ? ' ' : (char)('a' + v % 12);
			}
			rec[len] = 0;
			const char *p = rec;
			while (*p) {
				while (*p == ' ')
					p++;
				const char *s = p;
				while (*p && *p != ' ')
					p++;
				if (p > s)
					count_word(s, (size_t)(p - s));
			}
			size_t slot = next() % WIN;
			free(window[slot]);
			window[slot] = rec;
		}
		if (r % 20 == 19) {
			struct entry **snap = malloc(nentries * sizeof *snap);
			size_t n = 0;
			for (size_t i = 0; i < nbuckets; i++)
				for (struct entry *e = table[i]; e; e = e->next)
					snap[n++] = e;
			qsort(snap, n, sizeof *snap, cmp);
			checksum += snap[0]->count + n;
			free(snap);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("checksum %llu entries %zu\n", (unsigned long long)checksum, nentries);
	printf("seconds %.3f\n", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	return 0;
}
