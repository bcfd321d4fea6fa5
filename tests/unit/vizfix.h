/*
 * vizfix.h: the small run model the visual renderers' unit tests render
 * (test_render_html.c, _svg.c, _speedscope.c, _pprof.c, _flame.c).
 *
 * vizfix_load(kind) writes a trace with the real encoder (tracebuf.h) to
 * a temporary file and loads it with pt_model_load_opts (no native
 * symbolization: native frames are "0xADDR"), so the tests see exactly
 * the model the reporter builds. Kinds:
 *
 *  VIZFIX_CLEAN    a whole run: header, END, no warning
 *  VIZFIX_HOSTILE  the same stacks with hostile names (markup, quotes,
 *                  invalid UTF-8), plus drops, a kill-switch trip and no
 *                  END record
 *  VIZFIX_EMPTY    a file header and one empty chunk: no header record,
 *                  no allocation, no tick
 *
 * Known answers (weights of W bytes): live at the peak, stack "load" 2 W
 * (3 allocated, 1 freed), the native+"evil" stack 2 W, "bad" 1 W, the
 * second "load" frame (same function, file and line, another pyframe id:
 * merged by name) 1 W: VIZFIX_LIVE = 6 W. After the peak "bad" allocates
 * 4 W more: all allocations VIZFIX_ALLOC = 11 W.
 */
#ifndef PT_TEST_VIZFIX_H
#define PT_TEST_VIZFIX_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/escape.h"
#include "report/model.h"
#include "report/render.h"
#include "tests/unit/tracebuf.h"

#define VIZFIX_W 65536ull
#define VIZFIX_LIVE (6 * VIZFIX_W)
#define VIZFIX_ALLOC (11 * VIZFIX_W)
#define VIZFIX_EVIL "</script><img src=x onerror=alert(1)>"
#define VIZFIX_EVIL_JSON \
	"\\u003c/script\\u003e\\u003cimg src=x onerror=alert(1)\\u003e"
#define VIZFIX_EVIL_XML "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"

enum vizfix_kind { VIZFIX_CLEAN, VIZFIX_HOSTILE, VIZFIX_EMPTY };

static inline void vizfix_rec(struct tb *t, struct pt_rec r)
{
	if (tb_rec(t, &r) != 0)
		abort();
}

static inline void vizfix_pyframe(struct tb *t, uint32_t id, uint32_t fn,
				  uint32_t file, uint32_t line)
{
	struct pt_rec r = { .type = PT_REC_PYFRAME };

	r.u.pyframe = (struct pt_rec_pyframe){ id, fn, file, line };
	vizfix_rec(t, r);
}

static inline void vizfix_stack(struct tb *t, uint32_t id,
				const uint64_t *frames, uint32_t n)
{
	struct pt_rec r = { .type = PT_REC_STACK };

	r.u.stack.id = id;
	r.u.stack.n = n;
	r.u.stack.frames = frames;
	vizfix_rec(t, r);
}

static inline struct tb *vizfix_trace(enum vizfix_kind kind)
{
	static const uint64_t s1[] = { PT_FRAME_PY(2), PT_FRAME_PY(1) };
	static const uint64_t s2[] = { PT_FRAME_NATIVE(0x401234),
				       PT_FRAME_PY(3), PT_FRAME_PY(1) };
	static const uint64_t s3[] = { PT_FRAME_PY(4), PT_FRAME_PY(1) };
	static const uint64_t s4[] = { PT_FRAME_PY(5), PT_FRAME_PY(1) };
	int h = kind == VIZFIX_HOSTILE;
	struct tb *t = tb_new(8192);
	struct pt_rec r;
	uint64_t a = 0x7f0000000000ull;

	if (kind == VIZFIX_EMPTY) {
		tb_flush(t);
		return t;
	}
	vizfix_rec(t, tb_header(h ? "python3 <script>alert(1)</script>.py"
				  : "python3 job.py --rows 10"));
	vizfix_rec(t, tb_string(1, "main"));
	vizfix_rec(t, tb_string(2, "job.py"));
	vizfix_rec(t, tb_string(3, "load"));
	vizfix_rec(t, tb_string(4, h ? VIZFIX_EVIL : "evil"));
	vizfix_rec(t, tb_string(5, h ? "bad\xff\xfe name" : "bad"));
	vizfix_rec(t, tb_string(6, h ? "dir/\"q\" & 'a'.py" : "lib.py"));
	vizfix_pyframe(t, 1, 1, 2, 10);   /* main (job.py:10) */
	vizfix_pyframe(t, 2, 3, 2, 20);   /* load (job.py:20) */
	vizfix_pyframe(t, 3, 4, 6, 30);   /* evil (lib.py:30) */
	vizfix_pyframe(t, 4, 5, 6, 40);   /* bad (lib.py:40) */
	vizfix_pyframe(t, 5, 3, 2, 20);   /* load (job.py:20) again */
	vizfix_stack(t, 1, s1, 2);
	vizfix_stack(t, 2, s2, 3);
	vizfix_stack(t, 3, s3, 2);
	vizfix_stack(t, 4, s4, 2);
	tb_flush(t);
	for (int i = 0; i < 3; i++)
		vizfix_rec(t, tb_alloc(100, a + (uint64_t)i * 0x100000, 1000,
				       VIZFIX_W, 1));
	vizfix_rec(t, tb_free_rec(a));
	vizfix_rec(t, tb_alloc(101, a + 0x1000000, 1000, VIZFIX_W, 2));
	vizfix_rec(t, tb_alloc(101, a + 0x1100000, 1000, VIZFIX_W, 2));
	vizfix_rec(t, tb_alloc(100, a + 0x2000000, 1000, VIZFIX_W, 3));
	vizfix_rec(t, tb_alloc(100, a + 0x3000000, 1000, VIZFIX_W, 4));
	r = (struct pt_rec){ .type = PT_REC_TICK };
	r.u.tick = (struct pt_rec_tick){ 1000000, 6 * VIZFIX_W, 4096,
					 6 * VIZFIX_W };
	vizfix_rec(t, r);
	r = (struct pt_rec){ .type = PT_REC_PEAK };
	r.u.peak.t_ns = 1000000;
	r.u.peak.bytes = 6 * VIZFIX_W + 100;
	vizfix_rec(t, r);
	for (int i = 0; i < 4; i++)
		vizfix_rec(t, tb_alloc(100, a + 0x4000000 + (uint64_t)i * 0x100000,
				       1000, VIZFIX_W, 3));
	r = (struct pt_rec){ .type = PT_REC_TICK };
	r.u.tick = (struct pt_rec_tick){ 2000000, 10 * VIZFIX_W, 8192,
					 6 * VIZFIX_W + 100 };
	vizfix_rec(t, r);
	if (h) {
		r = (struct pt_rec){ .type = PT_REC_DROPS };
		r.u.drops.total = 77;
		vizfix_rec(t, r);
		r = (struct pt_rec){ .type = PT_REC_TRIP };
		r.u.trip.reason.p = "writer: disk full <b>x</b>";
		r.u.trip.reason.len = (uint32_t)strlen(r.u.trip.reason.p);
		vizfix_rec(t, r);
	} else {
		r = tb_end(3000000, 6 * VIZFIX_W + 100);
		vizfix_rec(t, r);
	}
	tb_flush(t);
	return t;
}

/* Loads the fixture; fails the process on any error. */
static inline struct pt_model *vizfix_load(enum vizfix_kind kind)
{
	struct pt_model_opts opts = { .no_symbolize = 1 };
	char path[] = "/tmp/pt-vizfix-XXXXXX";
	struct tb *t = vizfix_trace(kind);
	struct pt_model *m = NULL;
	char err[256];
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, t->data, t->len) != (ssize_t)t->len)
		abort();
	close(fd);
	tb_free(t);
	if (pt_model_load_opts(path, &opts, &m, err, sizeof err) != 0) {
		fprintf(stderr, "vizfix: cannot load: %s\n", err);
		abort();
	}
	unlink(path);
	return m;
}

/* Renders with fn into memory; returns a malloc'd NUL-terminated buffer
 * (*len bytes, which may hold NULs for pprof). */
static inline char *vizfix_render(int (*fn)(const struct pt_model *, FILE *,
					    const struct pt_render_opts *),
				  const struct pt_model *m, size_t *len,
				  int *rc)
{
	/* the stream's pointer and size live on the heap: with them on the
	 * stack gcc 12's -Wdangling-pointer takes the result for a pointer
	 * to a local */
	struct { char *buf; size_t n; } *ms = calloc(1, sizeof *ms);
	char *buf;
	FILE *f;

	if (!ms || !(f = open_memstream(&ms->buf, &ms->n)))
		abort();
	*rc = fn(m, f, NULL);
	fclose(f);
	if (len)
		*len = ms->n;
	buf = ms->buf;
	free(ms);
	return buf;
}

/* 1 when s[0..n) is valid UTF-8. */
static inline int vizfix_utf8_ok(const char *s, size_t n)
{
	while (n) {
		uint32_t cp;
		size_t k = pt_utf8_next(s, n, &cp);

		if (!k)
			return 0;
		s += k;
		n -= k;
	}
	return 1;
}

/* Occurrences of needle in hay. Offsets rather than a walking pointer,
 * and not inlined: gcc 12's -Wdangling-pointer misfires on the inlined
 * pointer form in release builds. */
__attribute__((noinline, unused))
static size_t vizfix_count(const char *hay, const char *needle)
{
	size_t c = 0, nl = strlen(needle), off = 0;
	const char *p;

	while ((p = strstr(hay + off, needle)) != NULL) {
		c++;
		off = (size_t)(p - hay) + nl;
	}
	return c;
}

#endif
