/*
 * reptest.h: helpers for the reporter tests (test_model, test_render,
 * test_symbolize, test_cli_report): records in, trace file out, model
 * back. Builds on tracebuf.h (the real encoder).
 *
 *     struct tb *t = tb_new(4096);
 *     rt_header(t); rt_alloc(t, ...); rt_peak(t, ...); tb_flush(t);
 *     struct pt_model *m = rt_load(t, 1);   // via a temp file
 */
#ifndef PT_TEST_REPTEST_H
#define PT_TEST_REPTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/model.h"
#include "report/render.h"
#include "tracebuf.h"

static inline void rt_rec(struct tb *t, struct pt_rec r)
{
	if (tb_rec(t, &r) != 0)
		abort();
}

static inline void rt_header(struct tb *t)
{
	rt_rec(t, tb_header("python3 job.py"));
}

static inline void rt_string(struct tb *t, uint32_t id, const char *s)
{
	rt_rec(t, tb_string(id, s));
}

static inline void rt_pyframe(struct tb *t, uint32_t id, uint32_t fn,
			      uint32_t file, uint32_t line)
{
	struct pt_rec r = { .type = PT_REC_PYFRAME };

	r.u.pyframe = (struct pt_rec_pyframe){ id, fn, file, line };
	rt_rec(t, r);
}

static inline void rt_stack(struct tb *t, uint32_t id, const uint64_t *frames,
			    uint32_t n)
{
	struct pt_rec r = { .type = PT_REC_STACK };

	r.u.stack.id = id;
	r.u.stack.n = n;
	r.u.stack.frames = frames;
	rt_rec(t, r);
}

static inline void rt_module(struct tb *t, uint32_t id, uint32_t path_sid,
			     uint64_t bias, uint64_t start, uint64_t end)
{
	struct pt_rec r = { .type = PT_REC_MODULE };

	r.u.module = (struct pt_rec_module){ id, path_sid, bias, start, end, { "", 0 } };
	rt_rec(t, r);
}

static inline void rt_alloc(struct tb *t, uint32_t tid, uint64_t addr,
			    uint64_t weight, uint32_t stack)
{
	rt_rec(t, tb_alloc(tid, addr, weight, weight, stack));
}

static inline void rt_free(struct tb *t, uint64_t addr)
{
	rt_rec(t, tb_free_rec(addr));
}

static inline void rt_peak(struct tb *t, uint64_t t_ns, uint64_t bytes)
{
	struct pt_rec r = { .type = PT_REC_PEAK };

	r.u.peak.t_ns = t_ns;
	r.u.peak.bytes = bytes;
	rt_rec(t, r);
}

static inline void rt_tick(struct tb *t, uint64_t t_ns, uint64_t heap)
{
	struct pt_rec r = { .type = PT_REC_TICK };

	r.u.tick = (struct pt_rec_tick){ t_ns, heap, heap / 2, heap };
	rt_rec(t, r);
}

static inline void rt_thread(struct tb *t, uint32_t tid, const char *name)
{
	struct pt_rec r = { .type = PT_REC_THREAD };

	r.u.thread.tid = tid;
	r.u.thread.name.p = name;
	r.u.thread.name.len = (uint32_t)strlen(name);
	rt_rec(t, r);
}

static inline void rt_end(struct tb *t, uint64_t t_ns, uint64_t peak,
			  uint64_t peak_t)
{
	struct pt_rec r = tb_end(t_ns, peak);

	r.u.end.peak_t_ns = peak_t;
	rt_rec(t, r);
}

/* Writes len bytes of t's file to a new temp file; returns its path
 * (static storage, overwritten by the next call). */
static inline const char *rt_write(const struct tb *t, size_t len)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof path, "/tmp/pt_rep_test.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		abort();
	if (write(fd, t->data, len) != (ssize_t)len)
		abort();
	close(fd);
	return path;
}

/* Decodes the first len bytes of t's file (from a temp file) into a
 * model; symbolize 0 = no ELF files read. Aborts on error. */
static inline struct pt_model *rt_load_len(const struct tb *t, size_t len,
					   int symbolize)
{
	struct pt_model_opts o = { .no_symbolize = !symbolize };
	struct pt_model *m = NULL;
	char err[256];
	const char *path = rt_write(t, len);
	int rc = pt_model_load_opts(path, &o, &m, err, sizeof err);

	unlink(path);
	if (rc != 0) {
		fprintf(stderr, "rt_load: %s\n", err);
		abort();
	}
	return m;
}

static inline struct pt_model *rt_load(const struct tb *t, int symbolize)
{
	return rt_load_len(t, t->len, symbolize);
}

/* Renders m with fn into a malloc'd NUL-terminated string (through a
 * temp file: the renderers write to a FILE). */
static inline char *rt_render(const struct pt_model *m,
			      int (*fn)(const struct pt_model *, FILE *,
					const struct pt_render_opts *),
			      const struct pt_render_opts *o)
{
	FILE *f = tmpfile();
	char *buf;
	long len;

	if (!f || fn(m, f, o) != 0)
		abort();
	len = ftell(f);
	if (len < 0 || fseek(f, 0, SEEK_SET) != 0)
		abort();
	buf = malloc((size_t)len + 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len)
		abort();
	buf[len] = '\0';
	fclose(f);
	return buf;
}

/* The model's stack with trace id id, or NULL. */
static inline const struct pt_mstack *rt_stack_by_id(const struct pt_model *m,
						     uint32_t id)
{
	for (size_t i = 0; i < m->nstacks; i++)
		if (m->stacks[i].id == id)
			return &m->stacks[i];
	return NULL;
}

static inline const struct pt_mthread *rt_thread_by_tid(const struct pt_model *m,
							uint32_t tid)
{
	for (size_t i = 0; i < m->nthreads; i++)
		if (m->threads[i].tid == tid)
			return &m->threads[i];
	return NULL;
}

static inline int rt_has_warning(const struct pt_model *m, const char *part)
{
	for (size_t i = 0; i < m->nwarnings; i++)
		if (strstr(m->warnings[i], part))
			return 1;
	return 0;
}

#endif
