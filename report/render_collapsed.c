/*
 * render_collapsed.c: the peak-memory stacks in the collapsed ("folded")
 * format of flamegraph.pl, the interface contract of DESIGN.md:
 *
 *     main (job.py:50);load_data (job.py:42);PyList_New 1048576
 *
 * one stack a line, frames outermost first joined by ';', then one space
 * and the estimated bytes live at the peak for that stack (a decimal
 * integer, the sum of sample weights). Frames are the model's display
 * names: "function (file:line)" for Python, "symbol" for native code
 * ("module+0xOFF" or "0xADDR" unresolved, "[unknown]" lost).
 *
 * Rules: stacks with 0 bytes at the peak are omitted; stacks that are the
 * same after symbolization (two ips in one function, two stack ids with
 * one display form) are merged, their bytes added; lines are sorted by
 * the stack text (byte order, strcmp) so the output is stable; ';' inside
 * a name becomes ':' and line breaks become ' ', since they are the
 * format's separators. Nothing else is escaped: the bytes are the trace's.
 *
 * Memory: one string per stack with bytes at the peak.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "contracts/arith.h"
#include "report/render.h"

struct line {
	char *text;
	uint64_t bytes;
};

struct sbuf {
	char *p;
	size_t len, cap;
};

static int sb_putc(struct sbuf *b, char c)
{
	if (b->len + 1 >= b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 256;
		char *p = realloc(b->p, nc);

		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = nc;
	}
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
	return 0;
}

static char sanitize(char c)
{
	if (c == ';')
		return ':';
	if (c == '\n' || c == '\r')
		return ' ';
	return c;
}

int pt_collapsed_put_frame(FILE *out, const char *name)
{
	for (const char *p = name; *p; p++)
		if (putc(sanitize(*p), out) == EOF)
			return -EIO;
	return 0;
}

static int cmp_line(const void *a, const void *b)
{
	const struct line *x = a, *y = b;

	return strcmp(x->text, y->text);
}

/* The stack's text, outermost first. */
static int stack_text(const struct pt_model *m, const struct pt_mstack *s,
		      char **out)
{
	struct sbuf b = { 0 };

	for (uint32_t j = s->nframes; j-- > 0;) {
		const char *name = m->frames[s->frames[j]].name;

		if (j + 1 != s->nframes && sb_putc(&b, ';'))
			goto oom;
		if (!*name && sb_putc(&b, '?'))
			goto oom;
		for (const char *p = name; *p; p++)
			if (sb_putc(&b, sanitize(*p)))
				goto oom;
	}
	if (!b.p && sb_putc(&b, '?'))
		goto oom;
	*out = b.p;
	return 0;
oom:
	free(b.p);
	return -ENOMEM;
}

int pt_render_collapsed(const struct pt_model *m, FILE *out,
			const struct pt_render_opts *o)
{
	struct line *lines;
	size_t n = 0;
	int rc = 0;

	(void)o;
	lines = calloc(m->nstacks ? m->nstacks : 1, sizeof *lines);
	if (!lines)
		return -ENOMEM;
	for (size_t i = 0; i < m->nstacks; i++) {
		const struct pt_mstack *s = &m->stacks[i];

		if (!s->peak_bytes)
			continue;
		rc = stack_text(m, s, &lines[n].text);
		if (rc)
			goto out;
		lines[n++].bytes = s->peak_bytes;
	}
	qsort(lines, n, sizeof *lines, cmp_line);
	for (size_t i = 0; i < n;) {
		uint64_t bytes = lines[i].bytes;
		size_t j = i + 1;

		while (j < n && strcmp(lines[j].text, lines[i].text) == 0)
			bytes = pt_add_sat_u64(bytes, lines[j++].bytes);
		if (fprintf(out, "%s %llu\n", lines[i].text,
			    (unsigned long long)bytes) < 0) {
			rc = -EIO;
			goto out;
		}
		i = j;
	}
	if (fflush(out) != 0 || ferror(out))
		rc = -EIO;
out:
	for (size_t i = 0; i < n; i++)
		free(lines[i].text);
	free(lines);
	return rc;
}
