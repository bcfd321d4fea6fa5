/*
 * flame.c: stacks into a flamegraph tree (flame.h).
 *
 * Two phases. Insertion walks each stack outermost frame first and finds
 * or makes the child (parent, frame) in a hash table keyed by both, so a
 * stack costs O(depth) whatever the fan-out. Then the children of every
 * node are sorted (value desc, name asc) and the tree is written out in
 * pre-order with an explicit stack (stacks may be PT_FMT_MAX_FRAMES deep:
 * no recursion).
 */
#include "report/flame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "contracts/arith.h"

/* ---- a small open-addressing hash: u64 key -> u32 value ----------------- */

struct hmap {
	uint64_t *keys;
	uint32_t *vals;      /* PT_FLAME_NONE = empty slot */
	size_t cap, n;       /* cap a power of two */
};

static size_t hmix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return (size_t)x;
}

static int hmap_init(struct hmap *h, size_t want)
{
	size_t cap = 16;

	while (cap < want * 2)
		cap *= 2;
	h->keys = calloc(cap, sizeof *h->keys);
	h->vals = malloc(cap * sizeof *h->vals);
	if (!h->keys || !h->vals)
		return -ENOMEM;
	memset(h->vals, 0xff, cap * sizeof *h->vals);
	h->cap = cap;
	h->n = 0;
	return 0;
}

static void hmap_free(struct hmap *h)
{
	free(h->keys);
	free(h->vals);
}

static uint32_t *hmap_slot(struct hmap *h, uint64_t key)
{
	size_t i = hmix(key) & (h->cap - 1);

	while (h->vals[i] != PT_FLAME_NONE && h->keys[i] != key)
		i = (i + 1) & (h->cap - 1);
	h->keys[i] = key;
	return &h->vals[i];
}

static int hmap_grow(struct hmap *h)
{
	struct hmap nh;

	if (h->n * 2 < h->cap)
		return 0;
	if (hmap_init(&nh, h->cap)) {
		hmap_free(&nh);
		return -ENOMEM;
	}
	for (size_t i = 0; i < h->cap; i++)
		if (h->vals[i] != PT_FLAME_NONE)
			*hmap_slot(&nh, h->keys[i]) = h->vals[i];
	nh.n = h->n;
	hmap_free(h);
	*h = nh;
	return 0;
}

/* FNV-1a, for names */
static uint64_t hstr(const char *s)
{
	uint64_t x = 0xcbf29ce484222325ull;

	while (*s)
		x = (x ^ (unsigned char)*s++) * 0x100000001b3ull;
	return x;
}

uint32_t *pt_flame_canon(const struct pt_model *m)
{
	uint32_t *canon = malloc((m->nframes ? m->nframes : 1) * sizeof *canon);
	struct hmap h = { 0 };

	if (!canon || hmap_init(&h, m->nframes))
		goto oom;
	for (size_t i = 0; i < m->nframes; i++) {
		/* probe by name hash, comparing names: hash collisions chain
		 * through a second-level linear scan of the key space */
		uint64_t key = hstr(m->frames[i].name);
		uint32_t *slot;

		canon[i] = (uint32_t)i;
		for (;;) {
			slot = hmap_slot(&h, key);
			if (*slot == PT_FLAME_NONE) {
				*slot = (uint32_t)i;
				h.n++;
				break;
			}
			if (strcmp(m->frames[*slot].name, m->frames[i].name) == 0) {
				canon[i] = *slot;
				break;
			}
			key++; /* a different name with the same hash */
		}
		if (hmap_grow(&h))
			goto oom;
	}
	hmap_free(&h);
	return canon;
oom:
	hmap_free(&h);
	free(canon);
	return NULL;
}

/* ---- building ---------------------------------------------------------- */

struct bnode {
	uint32_t frame, parent;
	uint32_t first, next;  /* first child, next sibling */
	uint64_t value, self, count;
};

struct builder {
	const struct pt_model *m;
	struct bnode *n;
	size_t len, cap;
	struct hmap children;  /* (parent << 32 | frame) -> node */
};

static uint32_t child_of(struct builder *b, uint32_t parent, uint32_t frame)
{
	uint64_t key = ((uint64_t)parent << 32) | frame;
	uint32_t *slot = hmap_slot(&b->children, key);
	uint32_t i;

	if (*slot != PT_FLAME_NONE)
		return *slot;
	if (b->len >= PT_FLAME_NONE - 1)
		return PT_FLAME_NONE;
	if (b->len == b->cap) {
		size_t nc = b->cap * 2;
		struct bnode *nn = realloc(b->n, nc * sizeof *nn);

		if (!nn)
			return PT_FLAME_NONE;
		b->n = nn;
		b->cap = nc;
	}
	i = (uint32_t)b->len++;
	b->n[i] = (struct bnode){ frame, parent, PT_FLAME_NONE,
				  b->n[parent].first, 0, 0, 0 };
	b->n[parent].first = i;
	*slot = i;
	b->children.n++;
	if (hmap_grow(&b->children))
		return PT_FLAME_NONE;
	return i;
}

static const struct pt_model *g_m;        /* for cmp_child (qsort) */
static const struct bnode *g_nodes;

static int cmp_child(const void *pa, const void *pb)
{
	const struct bnode *x = &g_nodes[*(const uint32_t *)pa];
	const struct bnode *y = &g_nodes[*(const uint32_t *)pb];
	int c;

	if (x->value != y->value)
		return x->value > y->value ? -1 : 1;
	c = strcmp(g_m->frames[x->frame].name, g_m->frames[y->frame].name);
	if (c)
		return c;
	return x->frame < y->frame ? -1 : x->frame > y->frame;
}

/* Re-links every node's children in sorted order. */
static int sort_children(struct builder *b)
{
	uint32_t *tmp = malloc((b->len ? b->len : 1) * sizeof *tmp);

	if (!tmp)
		return -ENOMEM;
	g_m = b->m;
	g_nodes = b->n;
	for (size_t p = 0; p < b->len; p++) {
		size_t k = 0;

		for (uint32_t c = b->n[p].first; c != PT_FLAME_NONE;
		     c = b->n[c].next)
			tmp[k++] = c;
		if (k < 2)
			continue;
		qsort(tmp, k, sizeof *tmp, cmp_child);
		b->n[p].first = tmp[0];
		for (size_t j = 0; j + 1 < k; j++)
			b->n[tmp[j]].next = tmp[j + 1];
		b->n[tmp[k - 1]].next = PT_FLAME_NONE;
	}
	free(tmp);
	return 0;
}

/* Writes the tree in pre-order into f. */
static int flatten(struct builder *b, struct pt_flame *f)
{
	uint32_t *stack = malloc(b->len * sizeof *stack);   /* builder nodes */
	uint32_t *newidx = malloc(b->len * sizeof *newidx); /* builder -> out */
	size_t sp = 0, o = 0;

	f->nodes = calloc(b->len, sizeof *f->nodes);
	if (!stack || !newidx || !f->nodes) {
		free(stack);
		free(newidx);
		return -ENOMEM;
	}
	stack[sp++] = 0;
	while (sp) {
		uint32_t bi = stack[--sp];
		const struct bnode *bn = &b->n[bi];
		struct pt_flame_node *fn = &f->nodes[o];
		size_t k = 0;

		newidx[bi] = (uint32_t)o;
		fn->frame = bn->frame;
		fn->parent = bi ? newidx[bn->parent] : PT_FLAME_NONE;
		fn->depth = bi ? f->nodes[fn->parent].depth + 1 : 0;
		fn->size = 1;
		fn->value = bn->value;
		fn->self = bn->self;
		fn->count = bn->count;
		if (fn->depth > f->max_depth)
			f->max_depth = fn->depth;
		o++;
		/* push children in reverse so the first is popped first */
		for (uint32_t c = bn->first; c != PT_FLAME_NONE; c = b->n[c].next)
			k++;
		sp += k;
		for (uint32_t c = bn->first, j = 1; c != PT_FLAME_NONE;
		     c = b->n[c].next, j++)
			stack[sp - j] = c;
	}
	f->nnodes = o;
	/* subtree sizes: children come after parents, so walk backwards */
	for (size_t i = o; i-- > 1;)
		f->nodes[f->nodes[i].parent].size += f->nodes[i].size;
	free(stack);
	free(newidx);
	return 0;
}

int pt_flame_build(const struct pt_model *m, enum pt_flame_metric metric,
		   struct pt_flame **out)
{
	struct builder b = { .m = m };
	struct pt_flame *f = NULL;
	uint32_t *canon = NULL;
	int rc = -ENOMEM;

	*out = NULL;
	if (!m || (metric != PT_FLAME_PEAK && metric != PT_FLAME_ALLOC))
		return -EINVAL;
	canon = pt_flame_canon(m);
	b.cap = 64;
	b.n = malloc(b.cap * sizeof *b.n);
	f = calloc(1, sizeof *f);
	if (!canon || !b.n || !f || hmap_init(&b.children, 64))
		goto out;
	b.n[0] = (struct bnode){ PT_FLAME_NONE, PT_FLAME_NONE, PT_FLAME_NONE,
				 PT_FLAME_NONE, 0, 0, 0 };
	b.len = 1;
	for (size_t i = 0; i < m->nstacks; i++) {
		const struct pt_mstack *s = &m->stacks[i];
		uint64_t v = metric == PT_FLAME_PEAK ? s->peak_bytes
						     : s->alloc_bytes;
		uint64_t c = metric == PT_FLAME_PEAK ? s->peak_count
						     : s->alloc_count;
		uint32_t cur = 0;

		if (!v && !c)
			continue;
		b.n[0].value = pt_add_sat_u64(b.n[0].value, v);
		b.n[0].count = pt_add_sat_u64(b.n[0].count, c);
		for (uint32_t j = s->nframes; j-- > 0;) {
			uint32_t fr = s->frames[j];

			if (fr >= m->nframes)
				continue; /* never, by the model's contract */
			cur = child_of(&b, cur, canon[fr]);
			if (cur == PT_FLAME_NONE)
				goto out;
			b.n[cur].value = pt_add_sat_u64(b.n[cur].value, v);
			b.n[cur].count = pt_add_sat_u64(b.n[cur].count, c);
		}
		b.n[cur].self = pt_add_sat_u64(b.n[cur].self, v);
	}
	rc = sort_children(&b);
	if (!rc)
		rc = flatten(&b, f);
out:
	free(canon);
	free(b.n);
	hmap_free(&b.children);
	if (rc) {
		pt_flame_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

void pt_flame_free(struct pt_flame *f)
{
	if (!f)
		return;
	free(f->nodes);
	free(f);
}

/* qsort_r comparator; arg: the model */
static int cmp_site_row(const void *a, const void *b, void *arg)
{
	const struct pt_site_row *x = a, *y = b;
	const struct pt_model *m = arg;

	if (x->peak_bytes != y->peak_bytes)
		return x->peak_bytes > y->peak_bytes ? -1 : 1;
	if (x->alloc_bytes != y->alloc_bytes)
		return x->alloc_bytes > y->alloc_bytes ? -1 : 1;
	return strcmp(m->frames[x->frame].name, m->frames[y->frame].name);
}

struct pt_site_row *pt_flame_site_rows(const struct pt_model *m, size_t *n)
{
	uint32_t *canon = pt_flame_canon(m);
	uint32_t *at = malloc((m->nframes ? m->nframes : 1) * sizeof *at);
	struct pt_site_row *rows = malloc((m->nsites ? m->nsites : 1) * sizeof *rows);

	*n = 0;
	if (!canon || !at || !rows) {
		free(rows);
		rows = NULL;
		goto out;
	}
	for (size_t i = 0; i < m->nframes; i++)
		at[i] = UINT32_MAX;
	for (size_t i = 0; i < m->nsites; i++) {
		const struct pt_msite *s = &m->sites[i];
		uint32_t c = canon[s->frame];

		if (at[c] == UINT32_MAX) {
			at[c] = (uint32_t)(*n)++;
			rows[at[c]] = (struct pt_site_row){ c, 0, 0, 0 };
		}
		rows[at[c]].peak_bytes = pt_add_sat_u64(rows[at[c]].peak_bytes, s->peak_bytes);
		rows[at[c]].peak_count = pt_add_sat_u64(rows[at[c]].peak_count, s->peak_count);
		rows[at[c]].alloc_bytes = pt_add_sat_u64(rows[at[c]].alloc_bytes, s->alloc_bytes);
	}
	qsort_r(rows, *n, sizeof *rows, cmp_site_row, (void *)m);
out:
	free(canon);
	free(at);
	return rows;
}
