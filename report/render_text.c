/*
 * render_text.c: a terminal summary of the run, for `peaktrace report
 * --format text` and for a quick look over ssh:
 *
 *     peaktrace: python3 job.py --rows 10 (pid 4242)
 *     warning: trace truncated after chunk 3 ...
 *     peak:      1.2 GiB at 3.4 s (run 5.0 s, sampled every 512 KiB)
 *     ...
 *     top 20 allocation sites at the peak
 *           bytes      %  samples  site
 *         1.2 GiB  61.0%      123  load_data (job.py:42)
 *
 * Warnings (decoder, drops, kill-switch trips) come first: a figure from a
 * damaged or partial trace must not be read without its caveat. Names are
 * printed with control characters replaced by '?', so a hostile trace
 * cannot move the cursor or clear the screen of whoever reads the report.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report/flame.h"
#include "report/render.h"

/* s with control characters (C0, DEL) as '?'. */
static void put_clean(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		putc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
}

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static void title(FILE *f, const struct pt_render_opts *o)
{
	fputs("peaktrace report", f);
	if (o && o->trace_path) {
		fputs(" of ", f);
		put_clean(f, o->trace_path);
	}
	putc('\n', f);
}

static void facts(FILE *f, const struct pt_model *m)
{
	char b[32];

	if (m->have_header) {
		fputs("command:   ", f);
		put_clean(f, m->cmdline[0] ? m->cmdline : m->exe);
		fprintf(f, " (pid %u)\n", m->pid);
		if (m->python_version[0]) {
			fputs("python:    ", f);
			put_clean(f, m->python_version);
			putc('\n', f);
		}
		if (m->mode == PT_MODE_EXACT)
			fputs("mode:      exact (every allocation recorded)\n",
			      f);
		else
			fprintf(f, "mode:      sampled (mean interval %s)\n",
				pt_fmt_bytes(m->sample_bytes, b, sizeof b));
	} else {
		fputs("command:   unknown (trace header lost)\n", f);
	}
	fprintf(f, "duration:  %.3f s%s\n", secs(m->duration_ns),
		m->ended ? "" : " (no end record: incomplete run)");
}

static void warnings(FILE *f, const struct pt_model *m)
{
	for (size_t i = 0; i < m->nwarnings; i++) {
		fputs("warning:   ", f);
		put_clean(f, m->warnings[i]);
		putc('\n', f);
	}
	if (m->warnings_total > m->nwarnings)
		fprintf(f, "warning:   ... and %llu more warnings\n",
			(unsigned long long)(m->warnings_total - m->nwarnings));
	if (m->drops)
		fprintf(f, "warning:   %llu events were dropped (the writer "
			   "fell behind): figures below are underestimates\n",
			(unsigned long long)m->drops);
	for (size_t i = 0; i < m->ntrip_reasons; i++) {
		fputs("warning:   profiling stopped early (kill-switch): ", f);
		put_clean(f, m->trip_reasons[i]);
		putc('\n', f);
	}
	if (m->ntrips > m->ntrip_reasons)
		fprintf(f, "warning:   ... and %zu more kill-switch trips\n",
			m->ntrips - m->ntrip_reasons);
}

static void peak(FILE *f, const struct pt_model *m)
{
	char b[32], c[32];

	switch (m->peak_source) {
	case PT_PEAK_SRC_NONE:
		fputs("peak:      none (no allocation recorded)\n", f);
		return;
	case PT_PEAK_SRC_LIVE_MAX:
		fprintf(f, "peak:      %s (estimated from samples) at %.3f s\n",
			pt_fmt_bytes(m->peak_bytes, b, sizeof b),
			secs(m->peak_t_ns));
		break;
	default:
		fprintf(f, "peak:      %s at %.3f s\n",
			pt_fmt_bytes(m->peak_bytes, b, sizeof b),
			secs(m->peak_t_ns));
	}
	if (m->mode == PT_MODE_EXACT) /* every allocation, requested bytes */
		fprintf(f, "recorded:  %s live at the peak in %llu allocations "
			   "(bytes requested)\n",
			pt_fmt_bytes(m->peak_live_bytes, c, sizeof c),
			(unsigned long long)m->peak_live_count);
	else
		fprintf(f, "sampled:   %s live at the peak in %llu samples\n",
			pt_fmt_bytes(m->peak_live_bytes, c, sizeof c),
			(unsigned long long)m->peak_live_count);
	if (m->ended)
		fprintf(f, "allocated: %llu allocations, %s over the run\n",
			(unsigned long long)m->total_allocs,
			pt_fmt_bytes(m->total_alloc_bytes, b, sizeof b));
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? (double)part * 100.0 / (double)whole : 0.0;
}

/* Sites merged by display name, as in the html table and the flamegraph
 * (a native function without line information is one row, not one per
 * call site). */
static int top_sites(FILE *f, const struct pt_model *m, unsigned top)
{
	char b[32];
	size_t shown = 0, nrows;
	struct pt_site_row *rows = pt_flame_site_rows(m, &nrows);

	if (!rows)
		return -ENOMEM;
	fprintf(f, "\ntop %u allocation sites at the peak\n", top);
	fprintf(f, "%12s %7s %9s  %s\n", "bytes", "%", "samples", "site");
	for (size_t i = 0; i < nrows && shown < top; i++) {
		const struct pt_site_row *s = &rows[i];

		if (!s->peak_bytes)
			break; /* sorted: the rest hold nothing at the peak */
		fprintf(f, "%12s %6.1f%% %9llu  ",
			pt_fmt_bytes(s->peak_bytes, b, sizeof b),
			pct(s->peak_bytes, m->peak_live_bytes),
			(unsigned long long)s->peak_count);
		put_clean(f, m->frames[s->frame].name);
		putc('\n', f);
		shown++;
	}
	if (!shown)
		fputs("  (no sampled allocation live at the peak)\n", f);
	free(rows);
	return 0;
}

static void threads(FILE *f, const struct pt_model *m, unsigned top)
{
	char b[32];
	size_t shown = 0;

	if (m->nthreads < 2)
		return;
	fputs("\nthreads at the peak\n", f);
	fprintf(f, "%12s %7s %9s  %s\n", "bytes", "%", "tid", "name");
	for (size_t i = 0; i < m->nthreads && shown < top; i++) {
		const struct pt_mthread *t = &m->threads[i];

		if (!t->peak_bytes)
			break;
		fprintf(f, "%12s %6.1f%% %9u  ",
			pt_fmt_bytes(t->peak_bytes, b, sizeof b),
			pct(t->peak_bytes, m->peak_live_bytes), t->tid);
		put_clean(f, t->name[0] ? t->name : "-");
		putc('\n', f);
		shown++;
	}
}

int pt_render_text(const struct pt_model *m, FILE *out,
		   const struct pt_render_opts *o)
{
	unsigned top = o && o->top ? o->top : PT_RENDER_DEFAULT_TOP;

	title(out, o);
	warnings(out, m);
	facts(out, m);
	peak(out, m);
	if (top_sites(out, m, top) < 0)
		return -ENOMEM;
	threads(out, m, top);
	if (fflush(out) != 0 || ferror(out))
		return -EIO;
	return 0;
}
