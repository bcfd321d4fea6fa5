/*
 * tables.c: the reporter's containers (tables.h): a bump arena for
 * strings and small arrays, an open-addressing hash map from u64 keys to
 * u32 values, and array growth. Report-side code: malloc is fine here.
 */
#include "report/tables.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- string arena ---------------------------------------------------------- */

struct pt_ablock {
	struct pt_ablock *next;
	size_t used, cap;
	_Alignas(8) char data[];
};

void *pt_arena_alloc(struct pt_arena *a, size_t n)
{
	struct pt_ablock *b = a->head;

	n = (n + 7) & ~(size_t)7;
	if (!b || b->cap - b->used < n) {
		size_t cap = n > 60000 ? n : 60000;

		b = malloc(sizeof *b + cap);
		if (!b)
			return NULL;
		b->used = 0;
		b->cap = cap;
		b->next = a->head;
		a->head = b;
	}
	void *p = b->data + b->used;
	b->used += n;
	return p;
}

char *pt_arena_strndup(struct pt_arena *a, const char *p, size_t n)
{
	char *s = pt_arena_alloc(a, n + 1);

	if (!s)
		return NULL;
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

char *pt_arena_printf(struct pt_arena *a, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	if ((size_t)n < sizeof small)
		return pt_arena_strndup(a, small, (size_t)n);
	char *s = pt_arena_alloc(a, (size_t)n + 1);
	if (!s)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

void pt_arena_free(struct pt_arena *a)
{
	while (a->head) {
		struct pt_ablock *n = a->head->next;

		free(a->head);
		a->head = n;
	}
}

/* ---- u64 -> u32 hash map (linear probing, backward-shift deletion) ------- */


static size_t hash64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return (size_t)x;
}

uint32_t pt_map_get(const struct pt_map *m, uint64_t k)
{
	if (!m->cap)
		return PT_MAP_NONE;
	for (size_t i = hash64(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->vals[i] == PT_MAP_NONE)
			return PT_MAP_NONE;
		if (m->keys[i] == k)
			return m->vals[i];
	}
}

static int map_grow(struct pt_map *m)
{
	struct pt_map nm;
	size_t nc = m->cap ? m->cap * 2 : 64;

	nm.cap = nc;
	nm.n = 0;
	nm.keys = calloc(nc, sizeof *nm.keys);
	nm.vals = malloc(nc * sizeof *nm.vals);
	if (!nm.keys || !nm.vals) {
		free(nm.keys);
		free(nm.vals);
		return -ENOMEM;
	}
	memset(nm.vals, 0xff, nc * sizeof *nm.vals);
	for (size_t i = 0; i < m->cap; i++)
		if (m->vals[i] != PT_MAP_NONE)
			pt_map_put(&nm, m->keys[i], m->vals[i]);
	free(m->keys);
	free(m->vals);
	*m = nm;
	return 0;
}

int pt_map_put(struct pt_map *m, uint64_t k, uint32_t v)
{
	if ((m->n + 1) * 4 > m->cap * 3) {
		int rc = map_grow(m);

		if (rc)
			return rc;
	}
	for (size_t i = hash64(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->vals[i] == PT_MAP_NONE) {
			m->keys[i] = k;
			m->vals[i] = v;
			m->n++;
			return 0;
		}
		if (m->keys[i] == k) {
			m->vals[i] = v;
			return 0;
		}
	}
}

void pt_map_del(struct pt_map *m, uint64_t k)
{
	size_t mask = m->cap - 1, i, j;

	if (!m->cap)
		return;
	for (i = hash64(k) & mask;; i = (i + 1) & mask) {
		if (m->vals[i] == PT_MAP_NONE)
			return;
		if (m->keys[i] == k)
			break;
	}
	/* backward shift: pull later entries of the run into the hole when
	 * their home slot does not lie cyclically in (i, j] */
	for (j = (i + 1) & mask; m->vals[j] != PT_MAP_NONE; j = (j + 1) & mask) {
		size_t h = hash64(m->keys[j]) & mask;

		if (((j - h) & mask) >= ((j - i) & mask)) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			i = j;
		}
	}
	m->vals[i] = PT_MAP_NONE;
	m->n--;
}

void pt_map_free(struct pt_map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof *m);
}

/* Grows *arr (elements of size sz) so index n is valid. */
int pt_grow(void **arr, size_t *cap, size_t n, size_t sz)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 16;
	while (nc <= n)
		nc *= 2;
	if (nc > SIZE_MAX / sz)
		return -ENOMEM;
	void *p = realloc(*arr, nc * sz);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = nc;
	return 0;
}
