/*
 * model.c: builds the run model (model.h) in one streaming pass.
 *
 * The pass keeps, per record type:
 *  - STRING, PYFRAME, MODULE, STACK: definitions in hash maps keyed by the
 *    trace's ids (ids are untrusted: never used as array indexes). The
 *    first definition of an id wins; a stack used before its definition
 *    (its chunk was lost) gets a placeholder that a late definition fills.
 *  - ALLOC, FREE: the replay table, address -> (weight, stack, thread), and
 *    running totals per stack, per thread and overall ("tracked" values).
 *  - PEAK: bumps epoch[SNAP_PEAK]. A tracked value remembers the epoch of
 *    its last change; the first change after a bump saves the old value.
 *    At the end a value's snapshot is the saved one if it changed since the
 *    last bump, else its current one. So every PEAK is O(1) and the live
 *    set at the LAST peak needs no second pass.
 *  - the same trick under epoch[SNAP_MAX], bumped whenever the sampled
 *    live total reaches a new high, gives the fallback snapshot for traces
 *    without a PEAK record.
 *  - TICK: the series, at most PT_MODEL_MAX_POINTS points; when full,
 *    neighbours are merged pairwise (maxima kept) and the stride doubles.
 *  - HEADER, END, TRIP, DROPS, THREAD: facts.
 *
 * Finalizing resolves frames (Python through the maps, native through the
 * symbolizer, each distinct frame once), builds sites and sorts.
 *
 * Arithmetic on weights saturates: a hostile trace may claim 2^64 bytes.
 * Containers (arena, hash map) are in tables.h.
 */
#include "report/model.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "contracts/arith.h"
#include "report/decoder.h"
#include "report/symbolize.h"
#include "report/tables.h"

#define NONE PT_MAP_NONE
#define SNAP_PEAK 0
#define SNAP_MAX 1
#define NSNAP 2

/* ---- tracked totals with lazy snapshots ------------------------------ */

struct acc {
	uint64_t bytes, count;
};

struct tracked {
	struct acc cur;
	struct acc saved[NSNAP];
	uint64_t touched[NSNAP];
};

struct bstack {
	uint32_t id;
	uint8_t defined;
	uint32_t n;
	uint64_t *raw;           /* arena */
	struct tracked live;
	struct acc alloc;
};

struct bthread {
	uint32_t tid;
	char *name;              /* malloc'd: THREAD may repeat */
	struct tracked live;
	struct acc alloc;
};

struct bpyframe {
	uint32_t fn, file, line;
};

struct bmodule {
	uint32_t id, path_sid;
	uint64_t bias, start, end;
	char build_id[2 * PT_FMT_MAX_BUILD_ID + 1]; /* hex */
};

struct live_ent {
	uint64_t weight;
	uint32_t stack, thread;  /* builder indexes; thread NONE never */
};

struct bpoint {
	struct pt_mpoint p;
	uint64_t n;              /* TICKs merged into it */
};

struct model_impl {
	struct pt_model pub;     /* first: the public view */
	struct pt_arena ar;
	struct pt_mframe *frames;
	struct pt_mstack *stacks;
	struct pt_msite *sites;
	struct pt_mthread *threads;
	struct pt_mmodule *modules;
	struct pt_mpoint *points;
	const char **warnings;
	const char **trips;
};

struct builder {
	struct model_impl *mi;
	struct pt_model *m;
	struct pt_arena *ar;
	const struct pt_model_opts *opts;

	struct pt_map strmap;       /* string id -> strs index */
	char **strs;
	size_t nstrs, capstrs;
	struct pt_map pyfmap;       /* pyframe id -> pyf index */
	struct bpyframe *pyf;
	size_t npyf, cappyf;
	struct pt_map modmap;       /* module id -> mods index */
	struct bmodule *mods;
	size_t nmods, capmods;
	struct pt_map stkmap;       /* stack id -> stk index */
	struct bstack *stk;
	size_t nstk, capstk;
	struct pt_map thrmap;       /* tid -> thr index */
	struct bthread *thr;
	size_t nthr, capthr;

	struct pt_map livemap;      /* address -> pool index */
	struct live_ent *pool;
	size_t npool, cappool;
	uint32_t *freelist;      /* recycled pool indexes */
	size_t nfree, capfree;

	struct tracked total;
	uint64_t epoch[NSNAP];
	uint64_t max_live, max_live_t;
	uint64_t last_t;
	int have_peak;
	uint64_t peak_bytes, peak_t;
	int have_end;
	struct pt_rec_end end;
	uint64_t undefined_stack_allocs;

	struct bpoint *pts;
	size_t npts;
	uint64_t stride;

	const char **warn;
	size_t nwarn, capwarn;
	uint64_t warn_total;
	const char **trips;
	size_t ntrips, captrips;
};

static void tr_touch(struct builder *b, struct tracked *t)
{
	for (int k = 0; k < NSNAP; k++) {
		if (t->touched[k] != b->epoch[k]) {
			t->saved[k] = t->cur;
			t->touched[k] = b->epoch[k];
		}
	}
}

/* A new tracked value: zero at every snapshot taken so far. */
static void tr_init(struct builder *b, struct tracked *t)
{
	memset(t, 0, sizeof *t);
	for (int k = 0; k < NSNAP; k++)
		t->touched[k] = b->epoch[k];
}

static void tr_add(struct builder *b, struct tracked *t, uint64_t w)
{
	tr_touch(b, t);
	t->cur.bytes = pt_add_sat_u64(t->cur.bytes, w);
	t->cur.count = pt_add_sat_u64(t->cur.count, 1);
}

static void tr_sub(struct builder *b, struct tracked *t, uint64_t w)
{
	tr_touch(b, t);
	t->cur.bytes = pt_sub_sat_u64(t->cur.bytes, w);
	t->cur.count = pt_sub_sat_u64(t->cur.count, 1);
}

static struct acc tr_snap(const struct builder *b, const struct tracked *t,
			  int k)
{
	return t->touched[k] == b->epoch[k] && b->epoch[k] != 0 ? t->saved[k]
								  : t->cur;
}

static void acc_add(struct acc *a, uint64_t w)
{
	a->bytes = pt_add_sat_u64(a->bytes, w);
	a->count = pt_add_sat_u64(a->count, 1);
}

/* ---- notes ------------------------------------------------------------ */

static int note(struct builder *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int note(struct builder *b, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	b->warn_total++;
	if (b->nwarn >= PT_MODEL_MAX_NOTES)
		return 0;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (PT_GROW(b->warn, b->capwarn, b->nwarn))
		return -ENOMEM;
	b->warn[b->nwarn] = pt_arena_strndup(b->ar, buf, strlen(buf));
	if (!b->warn[b->nwarn])
		return -ENOMEM;
	b->nwarn++;
	return 0;
}

/* ---- record handlers ----------------------------------------------------- */

static char *copy_str(struct builder *b, struct pt_str s)
{
	return pt_arena_strndup(b->ar, s.len ? s.p : "", s.len);
}

static int on_header(struct builder *b, const struct pt_rec_header *h)
{
	struct pt_model *m = b->m;

	if (m->have_header)
		return note(b, "duplicate header record ignored");
	m->have_header = 1;
	m->pid = h->pid;
	m->ppid = h->ppid;
	m->mode = h->mode;
	m->sample_bytes = h->sample_bytes;
	m->page_size = h->page_size;
	m->start_unix_ns = h->start_unix_ns;
	m->python_version = copy_str(b, h->python_version);
	m->cmdline = copy_str(b, h->cmdline);
	m->exe = copy_str(b, h->exe);
	if (!m->python_version || !m->cmdline || !m->exe)
		return -ENOMEM;
	return 0;
}

static int on_string(struct builder *b, const struct pt_rec_string *s)
{
	if (pt_map_get(&b->strmap, s->id) != NONE)
		return 0;
	if (PT_GROW(b->strs, b->capstrs, b->nstrs))
		return -ENOMEM;
	b->strs[b->nstrs] = copy_str(b, s->s);
	if (!b->strs[b->nstrs])
		return -ENOMEM;
	if (pt_map_put(&b->strmap, s->id, (uint32_t)b->nstrs))
		return -ENOMEM;
	b->nstrs++;
	return 0;
}

static const char *str_of(const struct builder *b, uint32_t id)
{
	uint32_t i = id ? pt_map_get(&b->strmap, id) : NONE;

	return i == NONE ? NULL : b->strs[i];
}

static int on_pyframe(struct builder *b, const struct pt_rec_pyframe *p)
{
	if (pt_map_get(&b->pyfmap, p->id) != NONE)
		return 0;
	if (PT_GROW(b->pyf, b->cappyf, b->npyf))
		return -ENOMEM;
	b->pyf[b->npyf] = (struct bpyframe){ p->function_string_id,
					     p->file_string_id, p->line };
	if (pt_map_put(&b->pyfmap, p->id, (uint32_t)b->npyf))
		return -ENOMEM;
	b->npyf++;
	return 0;
}

static int on_module(struct builder *b, const struct pt_rec_module *r)
{
	if (pt_map_get(&b->modmap, r->id) != NONE)
		return 0;
	if (PT_GROW(b->mods, b->capmods, b->nmods))
		return -ENOMEM;
	b->mods[b->nmods] = (struct bmodule){ r->id, r->path_string_id,
					      r->load_bias, r->start, r->end,
					      "" };
	for (uint32_t i = 0; i < r->build_id.len && i < PT_FMT_MAX_BUILD_ID; i++)
		snprintf(b->mods[b->nmods].build_id + 2 * i, 3, "%02x",
			 (unsigned char)r->build_id.p[i]);
	if (pt_map_put(&b->modmap, r->id, (uint32_t)b->nmods))
		return -ENOMEM;
	b->nmods++;
	return 0;
}

/* The builder index of stack id, created (undefined) if new; NONE on
 * ENOMEM. */
static uint32_t stack_ref(struct builder *b, uint32_t id)
{
	uint32_t i = pt_map_get(&b->stkmap, id);

	if (i != NONE)
		return i;
	if (b->nstk >= NONE - 1 || PT_GROW(b->stk, b->capstk, b->nstk))
		return NONE;
	struct bstack *s = &b->stk[b->nstk];

	memset(s, 0, sizeof *s);
	s->id = id;
	tr_init(b, &s->live);
	if (pt_map_put(&b->stkmap, id, (uint32_t)b->nstk))
		return NONE;
	return (uint32_t)b->nstk++;
}

static int on_stack(struct builder *b, const struct pt_rec_stack *r)
{
	uint32_t i;
	struct bstack *s;

	if (r->id == 0)
		return 0; /* 0 means "no stack" and is never defined */
	i = stack_ref(b, r->id);
	if (i == NONE || !b->stk)
		return -ENOMEM;
	s = &b->stk[i];
	if (s->defined)
		return 0;
	s->defined = 1;
	s->n = r->n;
	if (r->n) {
		s->raw = pt_arena_alloc(b->ar, r->n * sizeof *s->raw);
		if (!s->raw)
			return -ENOMEM;
		memcpy(s->raw, r->frames, r->n * sizeof *s->raw);
	}
	return 0;
}

static uint32_t thread_ref(struct builder *b, uint32_t tid)
{
	uint32_t i = pt_map_get(&b->thrmap, tid);

	if (i != NONE)
		return i;
	if (PT_GROW(b->thr, b->capthr, b->nthr))
		return NONE;
	struct bthread *t = &b->thr[b->nthr];

	memset(t, 0, sizeof *t);
	t->tid = tid;
	tr_init(b, &t->live);
	if (pt_map_put(&b->thrmap, tid, (uint32_t)b->nthr))
		return NONE;
	return (uint32_t)b->nthr++;
}

static int on_thread(struct builder *b, const struct pt_rec_thread *r)
{
	uint32_t i = thread_ref(b, r->tid);
	char *name;

	if (i == NONE || !b->thr)
		return -ENOMEM;
	name = malloc((size_t)r->name.len + 1);
	if (!name)
		return -ENOMEM;
	if (r->name.len)
		memcpy(name, r->name.p, r->name.len);
	name[r->name.len] = '\0';
	free(b->thr[i].name);
	b->thr[i].name = name; /* the latest name wins */
	return 0;
}

static void live_remove(struct builder *b, const struct live_ent *e)
{
	tr_sub(b, &b->stk[e->stack].live, e->weight);
	tr_sub(b, &b->thr[e->thread].live, e->weight);
	tr_sub(b, &b->total, e->weight);
}

static int on_alloc(struct builder *b, const struct pt_rec_alloc *a)
{
	struct pt_model *m = b->m;
	uint32_t si, ti, li;
	struct live_ent *e;

	m->sampled_allocs = pt_add_sat_u64(m->sampled_allocs, 1);
	m->sampled_alloc_bytes = pt_add_sat_u64(m->sampled_alloc_bytes,
						a->weight);
	si = stack_ref(b, a->stack_id);
	ti = thread_ref(b, a->tid);
	if (si == NONE || ti == NONE || !b->stk || !b->thr)
		return -ENOMEM;
	if (a->stack_id != 0 && !b->stk[si].defined)
		b->undefined_stack_allocs++;

	li = pt_map_get(&b->livemap, a->addr);
	if (li != NONE && b->pool) {
		/* an address still live: its free was lost, or the writer
		 * missed it; the new allocation replaces it */
		live_remove(b, &b->pool[li]);
	} else {
		if (b->nfree) {
			li = b->freelist[--b->nfree];
		} else {
			if (b->npool >= NONE - 1 ||
			    PT_GROW(b->pool, b->cappool, b->npool))
				return -ENOMEM;
			li = (uint32_t)b->npool++;
		}
		if (pt_map_put(&b->livemap, a->addr, li))
			return -ENOMEM;
	}
	e = &b->pool[li];
	e->weight = a->weight;
	e->stack = si;
	e->thread = ti;
	tr_add(b, &b->stk[si].live, a->weight);
	tr_add(b, &b->thr[ti].live, a->weight);
	tr_add(b, &b->total, a->weight);
	acc_add(&b->stk[si].alloc, a->weight);
	acc_add(&b->thr[ti].alloc, a->weight);

	if (b->total.cur.bytes > b->max_live) {
		/* a new high of the sampled live total: the fallback
		 * snapshot moves here */
		b->max_live = b->total.cur.bytes;
		b->max_live_t = b->last_t;
		b->epoch[SNAP_MAX]++;
	}
	return 0;
}

static int on_free(struct builder *b, const struct pt_rec_free *f)
{
	uint32_t li = pt_map_get(&b->livemap, f->addr);

	if (li == NONE || !b->pool)
		return 0; /* not live: its ALLOC was lost, or a double free */
	live_remove(b, &b->pool[li]);
	pt_map_del(&b->livemap, f->addr);
	if (PT_GROW(b->freelist, b->capfree, b->nfree))
		return -ENOMEM;
	b->freelist[b->nfree++] = li;
	return 0;
}

static void see_time(struct builder *b, uint64_t t)
{
	if (t > b->last_t)
		b->last_t = t;
}

static void merge_point(struct bpoint *into, const struct bpoint *p)
{
	if (p->p.heap_bytes > into->p.heap_bytes) {
		into->p.heap_bytes = p->p.heap_bytes;
		into->p.t_ns = p->p.t_ns;
	}
	if (p->p.mapped_bytes > into->p.mapped_bytes)
		into->p.mapped_bytes = p->p.mapped_bytes;
	if (p->p.peak_bytes > into->p.peak_bytes)
		into->p.peak_bytes = p->p.peak_bytes;
	into->n += p->n;
}

static int on_tick(struct builder *b, const struct pt_rec_tick *t)
{
	struct bpoint np = { { t->t_ns, t->heap_bytes, t->mapped_bytes,
			       t->peak_bytes }, 1 };

	b->m->ticks++;
	see_time(b, t->t_ns);
	if (b->npts && b->pts[b->npts - 1].n < b->stride) {
		merge_point(&b->pts[b->npts - 1], &np);
		return 0;
	}
	if (b->npts == PT_MODEL_MAX_POINTS) {
		/* full: halve by merging neighbours, maxima kept */
		for (size_t i = 0; i < PT_MODEL_MAX_POINTS / 2; i++) {
			struct bpoint p = b->pts[2 * i];

			merge_point(&p, &b->pts[2 * i + 1]);
			b->pts[i] = p;
		}
		b->npts = PT_MODEL_MAX_POINTS / 2;
		b->stride *= 2;
	}
	if (!b->pts) {
		b->pts = malloc(PT_MODEL_MAX_POINTS * sizeof *b->pts);
		if (!b->pts)
			return -ENOMEM;
	}
	b->pts[b->npts++] = np;
	return 0;
}

static int on_peak(struct builder *b, const struct pt_rec_peak *p)
{
	see_time(b, p->t_ns);
	b->have_peak = 1;
	b->peak_bytes = p->bytes;
	b->peak_t = p->t_ns;
	b->epoch[SNAP_PEAK]++;
	return 0;
}

static int on_trip(struct builder *b, const struct pt_rec_trip *t)
{
	b->m->ntrips++;
	if (b->ntrips >= PT_MODEL_MAX_NOTES)
		return 0;
	if (PT_GROW(b->trips, b->captrips, b->ntrips))
		return -ENOMEM;
	b->trips[b->ntrips] = copy_str(b, t->reason);
	if (!b->trips[b->ntrips])
		return -ENOMEM;
	b->ntrips++;
	return 0;
}

static int on_end(struct builder *b, const struct pt_rec_end *e)
{
	see_time(b, e->t_ns);
	b->have_end = 1;
	b->end = *e;
	return 0;
}

static int on_record(struct builder *b, const struct pt_rec *r)
{
	switch (r->type) {
	case PT_REC_HEADER:
		return on_header(b, &r->u.header);
	case PT_REC_STRING:
		return on_string(b, &r->u.string);
	case PT_REC_MODULE:
		return on_module(b, &r->u.module);
	case PT_REC_PYFRAME:
		return on_pyframe(b, &r->u.pyframe);
	case PT_REC_STACK:
		return on_stack(b, &r->u.stack);
	case PT_REC_ALLOC:
		return on_alloc(b, &r->u.alloc);
	case PT_REC_FREE:
		return on_free(b, &r->u.free);
	case PT_REC_TICK:
		return on_tick(b, &r->u.tick);
	case PT_REC_PEAK:
		return on_peak(b, &r->u.peak);
	case PT_REC_THREAD:
		return on_thread(b, &r->u.thread);
	case PT_REC_TRIP:
		return on_trip(b, &r->u.trip);
	case PT_REC_DROPS:
		if (r->u.drops.total > b->m->drops)
			b->m->drops = r->u.drops.total;
		return 0;
	case PT_REC_END:
		return on_end(b, &r->u.end);
	}
	return 0;
}

/* ---- finalizing: frames ------------------------------------------------ */

struct fin {
	struct builder *b;
	struct pt_sym *sym;
	struct pt_mframe *frames;
	size_t nframes, capframes;
	struct pt_map pymap;        /* pyframe id -> frame index */
	struct pt_map natmap;       /* (ip << 1) | innermost -> frame index */
	uint32_t unknown;        /* frame index of "[unknown]", or NONE */
};

static uint32_t new_frame(struct fin *f)
{
	if (f->nframes >= NONE - 1 || PT_GROW(f->frames, f->capframes, f->nframes))
		return NONE;
	memset(&f->frames[f->nframes], 0, sizeof f->frames[0]);
	return (uint32_t)f->nframes++;
}

static uint32_t unknown_frame(struct fin *f)
{
	if (f->unknown != NONE)
		return f->unknown;
	uint32_t i = new_frame(f);

	if (i == NONE)
		return NONE;
	struct pt_mframe *fr = &f->frames[i];

	fr->kind = PT_FRAME_KIND_UNKNOWN;
	fr->name = "[unknown]";
	fr->function = fr->file = fr->module = "";
	f->unknown = i;
	return i;
}

static uint32_t py_frame(struct fin *f, uint64_t raw)
{
	struct builder *b = f->b;
	uint64_t pid = pt_frame_value(raw);
	uint32_t i = pt_map_get(&f->pymap, pid);

	if (i != NONE)
		return i;
	uint32_t pi = pid <= UINT32_MAX ? pt_map_get(&b->pyfmap, pid) : NONE;

	if (pi == NONE) {
		/* its PYFRAME was lost */
		i = unknown_frame(f);
	} else {
		const struct bpyframe *p = &b->pyf[pi];
		const char *fn = str_of(b, p->fn), *file = str_of(b, p->file);

		i = new_frame(f);
		if (i == NONE)
			return NONE;
		struct pt_mframe *fr = &f->frames[i];

		fr->kind = PT_FRAME_KIND_PYTHON;
		fr->raw = raw;
		fr->function = fn ? fn : "[unknown]";
		fr->file = file ? file : "[unknown]";
		fr->line = p->line;
		fr->module = "";
		if (p->line)
			fr->name = pt_arena_printf(b->ar, "%s (%s:%u)",
						fr->function, fr->file, p->line);
		else
			fr->name = pt_arena_printf(b->ar, "%s (%s)", fr->function,
						fr->file);
		if (!fr->name)
			return NONE;
	}
	if (i == NONE || pt_map_put(&f->pymap, pid, i))
		return NONE;
	return i;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s && s[1] ? s + 1 : path;
}

static uint32_t native_frame(struct fin *f, uint64_t raw, int innermost)
{
	struct builder *b = f->b;
	uint64_t ip = pt_frame_value(raw);
	uint64_t key = (ip << 1) | (innermost ? 1u : 0u);
	uint32_t i = pt_map_get(&f->natmap, key);
	struct pt_sym_frame sf;

	if (i != NONE)
		return i;
	i = new_frame(f);
	if (i == NONE)
		return NONE;
	pt_sym_lookup(f->sym, ip, !innermost, &sf);

	struct pt_mframe *fr = &f->frames[i];

	fr->kind = PT_FRAME_KIND_NATIVE;
	fr->raw = raw;
	fr->ip = ip;
	fr->module_offset = sf.module_offset;
	fr->module = pt_arena_strndup(b->ar, sf.module, strlen(sf.module));
	fr->function = pt_arena_strndup(b->ar, sf.symbol, strlen(sf.symbol));
	fr->file = pt_arena_strndup(b->ar, sf.file, strlen(sf.file));
	fr->line = sf.line;
	if (!fr->module || !fr->function || !fr->file)
		return NONE;
	if (sf.symbol[0]) {
		fr->resolved = 1;
		fr->name = fr->function;
	} else if (sf.module[0]) {
		fr->name = pt_arena_printf(b->ar, "%s+0x%llx",
					base_name(sf.module),
					(unsigned long long)sf.module_offset);
	} else {
		fr->name = pt_arena_printf(b->ar, "0x%llx",
					(unsigned long long)ip);
	}
	if (!fr->name || pt_map_put(&f->natmap, key, i))
		return NONE;
	return i;
}

/* ---- finalizing: the model ------------------------------------------------ */

static int cmp_stack_id(const void *a, const void *b)
{
	const struct pt_mstack *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* qsort_r comparator; arg: the frames */
static int cmp_site(const void *a, const void *b, void *arg)
{
	const struct pt_msite *x = a, *y = b;
	const struct pt_mframe *frames = arg;
	int c;

	if (x->peak_bytes != y->peak_bytes)
		return x->peak_bytes > y->peak_bytes ? -1 : 1;
	if (x->alloc_bytes != y->alloc_bytes)
		return x->alloc_bytes > y->alloc_bytes ? -1 : 1;
	c = strcmp(frames[x->frame].name, frames[y->frame].name);
	if (c)
		return c;
	return x->frame < y->frame ? -1 : x->frame > y->frame;
}

static int cmp_thread(const void *a, const void *b)
{
	const struct pt_mthread *x = a, *y = b;

	if (x->peak_bytes != y->peak_bytes)
		return x->peak_bytes > y->peak_bytes ? -1 : 1;
	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

static int cmp_module(const void *a, const void *b)
{
	const struct pt_mmodule *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int fin_modules(struct builder *b, struct fin *f)
{
	struct model_impl *mi = b->mi;

	mi->modules = calloc(b->nmods ? b->nmods : 1, sizeof *mi->modules);
	if (!mi->modules)
		return -ENOMEM;
	for (size_t i = 0; i < b->nmods; i++) {
		const struct bmodule *bm = &b->mods[i];
		const char *path = str_of(b, bm->path_sid);

		mi->modules[i] = (struct pt_mmodule){ bm->id, path ? path : "",
						      bm->bias, bm->start,
						      bm->end, "" };
		memcpy(mi->modules[i].build_id, bm->build_id,
		       sizeof bm->build_id);
		/* in file order: the symbolizer lets the later win */
		if (pt_sym_add_module(f->sym, path ? path : "", bm->bias,
				      bm->start, bm->end, bm->build_id))
			return -ENOMEM;
	}
	qsort(mi->modules, b->nmods, sizeof *mi->modules, cmp_module);
	b->m->nmodules = b->nmods;
	b->m->modules = mi->modules;
	return 0;
}

static int fin_stacks(struct builder *b, struct fin *f, int snap)
{
	struct model_impl *mi = b->mi;
	struct pt_model *m = b->m;

	mi->stacks = calloc(b->nstk ? b->nstk : 1, sizeof *mi->stacks);
	if (!mi->stacks)
		return -ENOMEM;
	for (size_t i = 0; i < b->nstk; i++) {
		const struct bstack *bs = &b->stk[i];
		struct pt_mstack *s = &mi->stacks[i];
		uint32_t *fr;
		struct acc pk = snap >= 0 ? tr_snap(b, &bs->live, snap)
					  : (struct acc){ 0, 0 };

		s->id = bs->id;
		s->defined = bs->defined;
		s->peak_bytes = pk.bytes;
		s->peak_count = pk.count;
		s->end_bytes = bs->live.cur.bytes;
		s->end_count = bs->live.cur.count;
		s->alloc_bytes = bs->alloc.bytes;
		s->alloc_count = bs->alloc.count;
		s->nframes = bs->n ? bs->n : 1;
		fr = pt_arena_alloc(b->ar, s->nframes * sizeof *fr);
		if (!fr)
			return -ENOMEM;
		if (!bs->n) {
			fr[0] = unknown_frame(f);
		} else {
			for (uint32_t j = 0; j < bs->n; j++) {
				uint64_t raw = bs->raw[j];

				fr[j] = pt_frame_is_py(raw)
						? py_frame(f, raw)
						: native_frame(f, raw, j == 0);
				if (fr[j] == NONE)
					break;
			}
		}
		for (uint32_t j = 0; j < s->nframes; j++)
			if (fr[j] == NONE)
				return -ENOMEM;
		s->frames = fr;
	}
	qsort(mi->stacks, b->nstk, sizeof *mi->stacks, cmp_stack_id);
	m->nstacks = b->nstk;
	m->stacks = mi->stacks;
	mi->frames = f->frames;
	f->frames = NULL;
	m->frames = mi->frames;
	m->nframes = f->nframes;
	return 0;
}

/* The frame a stack is attributed to: its innermost Python frame, else
 * its innermost frame. */
static uint32_t site_frame(const struct pt_model *m, const struct pt_mstack *s)
{
	for (uint32_t j = 0; j < s->nframes; j++)
		if (m->frames[s->frames[j]].kind == PT_FRAME_KIND_PYTHON)
			return s->frames[j];
	return s->frames[0];
}

static int fin_sites(struct builder *b)
{
	struct model_impl *mi = b->mi;
	struct pt_model *m = b->m;
	struct pt_map sm = { 0 };     /* frame index -> site index */
	size_t n = 0;
	int rc = -ENOMEM;

	mi->sites = calloc(m->nstacks ? m->nstacks : 1, sizeof *mi->sites);
	if (!mi->sites)
		goto out;
	for (size_t i = 0; i < m->nstacks; i++) {
		const struct pt_mstack *s = &mi->stacks[i];
		uint32_t fi = site_frame(m, s);
		uint32_t si = pt_map_get(&sm, fi);

		if (si == NONE) {
			si = (uint32_t)n++;
			mi->sites[si].frame = fi;
			if (pt_map_put(&sm, fi, si))
				goto out;
		}
		struct pt_msite *site = &mi->sites[si];

		site->peak_bytes = pt_add_sat_u64(site->peak_bytes, s->peak_bytes);
		site->peak_count = pt_add_sat_u64(site->peak_count, s->peak_count);
		site->alloc_bytes = pt_add_sat_u64(site->alloc_bytes,
						   s->alloc_bytes);
		site->alloc_count = pt_add_sat_u64(site->alloc_count,
						   s->alloc_count);
	}
	qsort_r(mi->sites, n, sizeof *mi->sites, cmp_site,
		(void *)mi->frames);
	for (size_t i = 0; i < n; i++)
		if (pt_map_put(&sm, mi->sites[i].frame, (uint32_t)i))
			goto out;
	for (size_t i = 0; i < m->nstacks; i++)
		mi->stacks[i].site = pt_map_get(&sm, site_frame(m, &mi->stacks[i]));
	rc = 0;
out:
	pt_map_free(&sm);
	m->nsites = n;
	m->sites = mi->sites;
	return rc;
}

static int fin_threads(struct builder *b, int snap)
{
	struct model_impl *mi = b->mi;
	struct pt_model *m = b->m;

	mi->threads = calloc(b->nthr ? b->nthr : 1, sizeof *mi->threads);
	if (!mi->threads)
		return -ENOMEM;
	for (size_t i = 0; i < b->nthr; i++) {
		const struct bthread *bt = &b->thr[i];
		struct pt_mthread *t = &mi->threads[i];
		struct acc pk = snap >= 0 ? tr_snap(b, &bt->live, snap)
					  : (struct acc){ 0, 0 };

		t->tid = bt->tid;
		t->name = pt_arena_strndup(b->ar, bt->name ? bt->name : "",
					bt->name ? strlen(bt->name) : 0);
		if (!t->name)
			return -ENOMEM;
		t->peak_bytes = pk.bytes;
		t->peak_count = pk.count;
		t->alloc_bytes = bt->alloc.bytes;
		t->alloc_count = bt->alloc.count;
	}
	qsort(mi->threads, b->nthr, sizeof *mi->threads, cmp_thread);
	m->nthreads = b->nthr;
	m->threads = mi->threads;
	return 0;
}

static int fin_series(struct builder *b)
{
	struct model_impl *mi = b->mi;

	mi->points = calloc(b->npts ? b->npts : 1, sizeof *mi->points);
	if (!mi->points)
		return -ENOMEM;
	for (size_t i = 0; i < b->npts; i++)
		mi->points[i] = b->pts[i].p;
	b->m->npoints = b->npts;
	b->m->points = mi->points;
	b->m->ticks_per_point = b->stride;
	return 0;
}

/* Chooses the peak; returns the snapshot to use, or -1 for none. */
static int fin_peak(struct builder *b)
{
	struct pt_model *m = b->m;

	if (b->have_peak) {
		m->peak_source = PT_PEAK_SRC_RECORD;
		m->peak_bytes = b->peak_bytes;
		m->peak_t_ns = b->peak_t;
		return SNAP_PEAK;
	}
	if (b->have_end && b->end.peak_bytes > 0) {
		m->peak_source = PT_PEAK_SRC_END;
		m->peak_bytes = b->end.peak_bytes;
		m->peak_t_ns = b->end.peak_t_ns;
		return SNAP_MAX;
	}
	if (b->max_live > 0) {
		m->peak_source = PT_PEAK_SRC_LIVE_MAX;
		m->peak_bytes = b->max_live;
		m->peak_t_ns = b->max_live_t;
		return SNAP_MAX;
	}
	m->peak_source = PT_PEAK_SRC_NONE;
	return -1;
}

static int finalize(struct builder *b, struct pt_dec *d)
{
	struct model_impl *mi = b->mi;
	struct pt_model *m = b->m;
	struct pt_dec_stats st;
	struct fin f = { .b = b, .unknown = NONE };
	int snap, rc;

	/* the decoder's warnings first: truncation is what a user must
	 * see before anything else */
	pt_dec_stats(d, &st);
	m->truncated = st.truncated;
	m->chunks_read = st.chunks_read;
	m->chunks_skipped = st.chunks_skipped;
	for (size_t i = 0; i < pt_dec_warning_count(d); i++)
		if ((rc = note(b, "%s", pt_dec_warning(d, i))))
			return rc;
	if (st.warnings_total > pt_dec_warning_count(d))
		b->warn_total += st.warnings_total - pt_dec_warning_count(d);

	if (!m->have_header && (rc = note(b, "trace header lost: pid, command "
					   "line and mode unknown")))
		return rc;
	if (b->undefined_stack_allocs &&
	    (rc = note(b, "%llu sampled allocations refer to stacks whose "
		       "definition was lost (shown as [unknown])",
		       (unsigned long long)b->undefined_stack_allocs)))
		return rc;

	m->ended = b->have_end;
	if (b->have_end) {
		m->total_allocs = b->end.total_allocs;
		m->total_alloc_bytes = b->end.total_alloc_bytes;
		m->duration_ns = b->end.t_ns;
	} else {
		m->duration_ns = b->last_t;
	}
	snap = fin_peak(b);
	if (snap >= 0) {
		struct acc t = tr_snap(b, &b->total, snap);

		m->peak_live_bytes = t.bytes;
		m->peak_live_count = t.count;
	}
	if (m->peak_source == PT_PEAK_SRC_END ||
	    m->peak_source == PT_PEAK_SRC_LIVE_MAX) {
		rc = note(b, "no peak record in the trace: the peak stacks are "
			  "those live at the highest sampled total");
		if (rc)
			return rc;
	}

	rc = pt_sym_new(&f.sym, !(b->opts && b->opts->no_symbolize));
	if (rc)
		return rc;
	if ((rc = fin_modules(b, &f)) || (rc = fin_stacks(b, &f, snap)))
		goto out;
	for (size_t i = 0; i < pt_sym_warning_count(f.sym); i++)
		if ((rc = note(b, "%s", pt_sym_warning(f.sym, i))))
			goto out;
	if ((rc = fin_sites(b)) || (rc = fin_threads(b, snap)) ||
	    (rc = fin_series(b)))
		goto out;

	mi->warnings = calloc(b->nwarn ? b->nwarn : 1, sizeof *mi->warnings);
	mi->trips = calloc(b->ntrips ? b->ntrips : 1, sizeof *mi->trips);
	if (!mi->warnings || !mi->trips) {
		rc = -ENOMEM;
		goto out;
	}
	if (b->nwarn)
		memcpy(mi->warnings, b->warn, b->nwarn * sizeof *b->warn);
	if (b->ntrips)
		memcpy(mi->trips, b->trips, b->ntrips * sizeof *b->trips);
	m->warnings = mi->warnings;
	m->nwarnings = b->nwarn;
	m->warnings_total = b->warn_total;
	m->trip_reasons = mi->trips;
	m->ntrip_reasons = b->ntrips;
	rc = 0;
out:
	free(f.frames);
	pt_map_free(&f.pymap);
	pt_map_free(&f.natmap);
	pt_sym_free(f.sym);
	return rc;
}

static void builder_free(struct builder *b)
{
	pt_map_free(&b->strmap);
	pt_map_free(&b->pyfmap);
	pt_map_free(&b->modmap);
	pt_map_free(&b->stkmap);
	pt_map_free(&b->thrmap);
	pt_map_free(&b->livemap);
	for (size_t i = 0; i < b->nthr; i++)
		free(b->thr[i].name);
	free(b->strs);
	free(b->pyf);
	free(b->mods);
	free(b->stk);
	free(b->thr);
	free(b->pool);
	free(b->freelist);
	free(b->pts);
	free(b->warn);
	free(b->trips);
}

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
}

int pt_model_build(struct pt_dec *d, const struct pt_model_opts *opts,
		   struct pt_model **out, char *err, size_t errlen)
{
	struct model_impl *mi = calloc(1, sizeof *mi);
	struct builder b;
	struct pt_rec r;
	int rc;

	*out = NULL;
	if (!mi) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memset(&b, 0, sizeof b);
	b.mi = mi;
	b.m = &mi->pub;
	b.ar = &mi->ar;
	b.opts = opts;
	b.stride = 1;
	tr_init(&b, &b.total);
	mi->pub.python_version = mi->pub.cmdline = mi->pub.exe = "";

	/* Progress for long decodes, on a terminal only (never in pipes or
	 * logs): a line rewritten in place about twice a second. */
	int progress = opts && opts->progress_total >= (64u << 20) && isatty(2);
	time_t last = time(NULL);
	uint64_t nrec = 0;
	while ((rc = pt_dec_next(d, &r)) == 1) {
		rc = on_record(&b, &r);
		if (rc)
			break;
		if (progress && (++nrec & 0xffff) == 0 && time(NULL) != last) {
			struct pt_dec_stats st;
			pt_dec_stats(d, &st);
			last = time(NULL);
			fprintf(stderr, "\rpeaktrace: reading the trace: %3.0f%%",
				100.0 * (double)st.file_bytes / (double)opts->progress_total);
		}
	}
	if (progress)
		fputs("\r\033[K", stderr);
	if (rc < 0 && rc != -ENOMEM) {
		/* a read error: what was read still makes a model */
		rc = note(&b, "stopped reading the trace: %s", pt_dec_error(d));
	}
	if (rc == 0)
		rc = finalize(&b, d);
	builder_free(&b);
	if (rc) {
		set_err(err, errlen, rc == -ENOMEM ? "out of memory"
						   : strerror(-rc));
		pt_model_free(&mi->pub);
		return rc;
	}
	*out = &mi->pub;
	return 0;
}

int pt_model_load_opts(const char *path, const struct pt_model_opts *opts,
		       struct pt_model **out, char *err, size_t errlen)
{
	struct pt_dec *d;
	int rc;

	*out = NULL;
	int is_stdin = strcmp(path, "-") == 0;
	rc = is_stdin ? pt_dec_open_fd(&d, STDIN_FILENO, 0, err, errlen)
		      : pt_dec_open(&d, path, err, errlen);
	if (rc)
		return rc;
	struct pt_model_opts o = { 0 };
	if (opts)
		o = *opts;
	struct stat st;
	if (!o.progress_total && !is_stdin && stat(path, &st) == 0)
		o.progress_total = (uint64_t)st.st_size;
	rc = pt_model_build(d, &o, out, err, errlen);
	pt_dec_close(d);
	return rc;
}

int pt_model_load(const char *path, struct pt_model **out, char *err,
		  size_t errlen)
{
	return pt_model_load_opts(path, NULL, out, err, errlen);
}

void pt_model_free(struct pt_model *m)
{
	struct model_impl *mi = (struct model_impl *)m;

	if (!m)
		return;
	free(mi->frames);
	free(mi->stacks);
	free(mi->sites);
	free(mi->threads);
	free(mi->modules);
	free(mi->points);
	free(mi->warnings);
	free(mi->trips);
	pt_arena_free(&mi->ar);
	free(mi);
}

/* ---- small helpers for every renderer ------------------------------------ */

char *pt_fmt_bytes(uint64_t bytes, char *buf, size_t cap)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB",
					     "PiB", "EiB" };
	if (bytes < 1024) {
		snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
		return buf;
	}
	double v = (double)bytes / 1024.0;
	int u = 0;

	while (v >= 1024.0 && u < 5) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, cap, v < 10.0 ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

int pt_report_summary_line(const struct pt_model *m, char *buf, size_t cap)
{
	char b[32];
	int n;

	if (!m || !buf)
		return -EINVAL;
	if (m->peak_source == PT_PEAK_SRC_NONE)
		return snprintf(buf, cap, "no allocations recorded");
	n = snprintf(buf, cap, "peak %s at %.1f s",
		     pt_fmt_bytes(m->peak_bytes, b, sizeof b),
		     (double)m->peak_t_ns / 1e9);
	if (n < 0)
		return -EIO;
	if (m->nsites && m->sites[0].peak_bytes && m->peak_live_bytes) {
		size_t used = (size_t)n < cap ? (size_t)n : (cap ? cap - 1 : 0);
		/* a share of the peak, not of what the samples explain: bytes
		 * allocated before the profiler started (other libraries'
		 * constructors) are in the peak and in no stack */
		double whole = (double)(m->peak_bytes > m->peak_live_bytes
						? m->peak_bytes : m->peak_live_bytes);
		unsigned pct = (unsigned)((double)m->sites[0].peak_bytes * 100.0 /
					  whole + 0.5);
		int k = snprintf(buf + used, cap - used, ", top: %s %u%%",
				 m->frames[m->sites[0].frame].name, pct);

		if (k < 0)
			return -EIO;
		/* one line, whatever the program named its files and
		 * functions: control characters become spaces */
		for (size_t i = used; i < cap && buf[i]; i++)
			if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
				buf[i] = ' ';
		n += k;
	}
	return n;
}
