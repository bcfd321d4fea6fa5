/*
 * render_json.c: the run model as one JSON document; the schema is
 * docs/JSON.md ("schema": "peaktrace-report", "version": 1). The output
 * is valid JSON (RFC 8259) and valid UTF-8 whatever the trace holds:
 * strings go through pt_json_put_str. Integers are JSON numbers, exact up
 * to 2^64 - 1 in the text (parsers limited to doubles lose precision past
 * 2^53); addresses are "0x..." strings, as in `peaktrace decode`.
 *
 * Written in one pass with fprintf; the document is as large as the model
 * (frames, stacks, sites, threads, modules, at most PT_MODEL_MAX_POINTS
 * series points), never the trace.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "report/escape.h"
#include "report/render.h"

void pt_json_put_str(FILE *out, const char *s)
{
	pt_esc_json(out, s);
}

static void key(FILE *f, const char *k)
{
	fprintf(f, "\"%s\":", k);
}

static void kstr(FILE *f, const char *k, const char *v)
{
	key(f, k);
	pt_json_put_str(f, v);
}

static void ku64(FILE *f, const char *k, uint64_t v)
{
	fprintf(f, "\"%s\":%llu", k, (unsigned long long)v);
}

static void khex(FILE *f, const char *k, uint64_t v)
{
	fprintf(f, "\"%s\":\"0x%llx\"", k, (unsigned long long)v);
}

static void kbool(FILE *f, const char *k, int v)
{
	fprintf(f, "\"%s\":%s", k, v ? "true" : "false");
}

static const char *mode_name(const struct pt_model *m)
{
	if (!m->have_header)
		return "unknown";
	switch (m->mode) {
	case PT_MODE_SAMPLED:
		return "sampled";
	case PT_MODE_EXACT:
		return "exact";
	}
	return "unknown";
}

static const char *peak_source_name(int s)
{
	switch (s) {
	case PT_PEAK_SRC_RECORD:
		return "record";
	case PT_PEAK_SRC_END:
		return "end";
	case PT_PEAK_SRC_LIVE_MAX:
		return "live_max";
	}
	return "none";
}

static const char *kind_name(unsigned k)
{
	switch (k) {
	case PT_FRAME_KIND_PYTHON:
		return "python";
	case PT_FRAME_KIND_NATIVE:
		return "native";
	}
	return "unknown";
}

static void run_facts(FILE *f, const struct pt_model *m,
		      const struct pt_render_opts *o)
{
	key(f, "run");
	putc('{', f);
	kbool(f, "have_header", m->have_header);
	putc(',', f);
	ku64(f, "pid", m->pid);
	putc(',', f);
	ku64(f, "ppid", m->ppid);
	putc(',', f);
	kstr(f, "cmdline", m->cmdline);
	putc(',', f);
	kstr(f, "exe", m->exe);
	putc(',', f);
	kstr(f, "python_version", m->python_version);
	putc(',', f);
	kstr(f, "mode", mode_name(m));
	putc(',', f);
	ku64(f, "sample_bytes", m->sample_bytes);
	putc(',', f);
	ku64(f, "page_size", m->page_size);
	putc(',', f);
	ku64(f, "start_unix_ns", m->start_unix_ns);
	putc(',', f);
	ku64(f, "duration_ns", m->duration_ns);
	putc(',', f);
	kbool(f, "ended", m->ended);
	putc(',', f);
	ku64(f, "total_allocs", m->total_allocs);
	putc(',', f);
	ku64(f, "total_alloc_bytes", m->total_alloc_bytes);
	putc(',', f);
	ku64(f, "sampled_allocs", m->sampled_allocs);
	putc(',', f);
	ku64(f, "sampled_alloc_bytes", m->sampled_alloc_bytes);
	putc(',', f);
	ku64(f, "drops", m->drops);
	putc(',', f);
	key(f, "trace");
	pt_json_put_str(f, o && o->trace_path ? o->trace_path : "");
	fputs("},\n", f);
}

static void problems(FILE *f, const struct pt_model *m)
{
	key(f, "trips");
	putc('{', f);
	ku64(f, "count", m->ntrips);
	fputs(",\"reasons\":[", f);
	for (size_t i = 0; i < m->ntrip_reasons; i++) {
		if (i)
			putc(',', f);
		pt_json_put_str(f, m->trip_reasons[i]);
	}
	fputs("]},\n", f);

	key(f, "warnings");
	putc('{', f);
	ku64(f, "count", m->warnings_total);
	putc(',', f);
	kbool(f, "truncated", m->truncated);
	putc(',', f);
	ku64(f, "chunks_read", m->chunks_read);
	putc(',', f);
	ku64(f, "chunks_skipped", m->chunks_skipped);
	fputs(",\"messages\":[", f);
	for (size_t i = 0; i < m->nwarnings; i++) {
		if (i)
			putc(',', f);
		pt_json_put_str(f, m->warnings[i]);
	}
	fputs("]},\n", f);
}

static void peak(FILE *f, const struct pt_model *m)
{
	key(f, "peak");
	putc('{', f);
	kstr(f, "source", peak_source_name(m->peak_source));
	putc(',', f);
	ku64(f, "bytes", m->peak_bytes);
	putc(',', f);
	ku64(f, "t_ns", m->peak_t_ns);
	putc(',', f);
	ku64(f, "sampled_bytes", m->peak_live_bytes);
	putc(',', f);
	ku64(f, "sampled_count", m->peak_live_count);
	fputs("},\n", f);
}

static void series(FILE *f, const struct pt_model *m)
{
	key(f, "series");
	putc('{', f);
	ku64(f, "ticks", m->ticks);
	putc(',', f);
	ku64(f, "ticks_per_point", m->ticks_per_point);
	fputs(",\"columns\":[\"t_ns\",\"heap_bytes\",\"mapped_bytes\","
	      "\"peak_bytes\"],\"points\":[",
	      f);
	for (size_t i = 0; i < m->npoints; i++) {
		const struct pt_mpoint *p = &m->points[i];

		fprintf(f, "%s[%llu,%llu,%llu,%llu]", i ? ",\n" : "\n",
			(unsigned long long)p->t_ns,
			(unsigned long long)p->heap_bytes,
			(unsigned long long)p->mapped_bytes,
			(unsigned long long)p->peak_bytes);
	}
	fputs("]},\n", f);
}

static void frames(FILE *f, const struct pt_model *m)
{
	fputs("\"frames\":[", f);
	for (size_t i = 0; i < m->nframes; i++) {
		const struct pt_mframe *fr = &m->frames[i];

		fputs(i ? ",\n{" : "\n{", f);
		kstr(f, "kind", kind_name(fr->kind));
		putc(',', f);
		kstr(f, "name", fr->name);
		putc(',', f);
		kstr(f, "function", fr->function);
		putc(',', f);
		kstr(f, "file", fr->file);
		putc(',', f);
		ku64(f, "line", fr->line);
		if (fr->kind == PT_FRAME_KIND_NATIVE) {
			putc(',', f);
			kstr(f, "module", fr->module);
			putc(',', f);
			khex(f, "ip", fr->ip);
			putc(',', f);
			khex(f, "module_offset", fr->module_offset);
			putc(',', f);
			kbool(f, "resolved", fr->resolved);
		}
		putc('}', f);
	}
	fputs("],\n", f);
}

static void stacks(FILE *f, const struct pt_model *m)
{
	fputs("\"stacks\":[", f);
	for (size_t i = 0; i < m->nstacks; i++) {
		const struct pt_mstack *s = &m->stacks[i];

		fputs(i ? ",\n{" : "\n{", f);
		ku64(f, "id", s->id);
		putc(',', f);
		kbool(f, "defined", s->defined);
		fputs(",\"frames\":[", f);
		for (uint32_t j = 0; j < s->nframes; j++)
			fprintf(f, "%s%u", j ? "," : "", s->frames[j]);
		fputs("],", f);
		ku64(f, "site", s->site);
		putc(',', f);
		ku64(f, "peak_bytes", s->peak_bytes);
		putc(',', f);
		ku64(f, "peak_count", s->peak_count);
		putc(',', f);
		ku64(f, "end_bytes", s->end_bytes);
		putc(',', f);
		ku64(f, "end_count", s->end_count);
		putc(',', f);
		ku64(f, "alloc_bytes", s->alloc_bytes);
		putc(',', f);
		ku64(f, "alloc_count", s->alloc_count);
		putc('}', f);
	}
	fputs("],\n", f);
}

static void sites(FILE *f, const struct pt_model *m,
		  const struct pt_render_opts *o)
{
	size_t n = m->nsites;

	if (o && o->top && o->top < n)
		n = o->top;
	fputs("\"sites\":[", f);
	for (size_t i = 0; i < n; i++) {
		const struct pt_msite *s = &m->sites[i];
		double pct = m->peak_live_bytes
				     ? (double)s->peak_bytes * 100.0 /
					       (double)m->peak_live_bytes
				     : 0.0;

		fputs(i ? ",\n{" : "\n{", f);
		ku64(f, "frame", s->frame);
		putc(',', f);
		kstr(f, "name", m->frames[s->frame].name);
		putc(',', f);
		ku64(f, "peak_bytes", s->peak_bytes);
		putc(',', f);
		ku64(f, "peak_count", s->peak_count);
		fprintf(f, ",\"peak_percent\":%.2f,", pct);
		ku64(f, "alloc_bytes", s->alloc_bytes);
		putc(',', f);
		ku64(f, "alloc_count", s->alloc_count);
		putc('}', f);
	}
	fputs("],\n", f);
}

static void threads(FILE *f, const struct pt_model *m)
{
	fputs("\"threads\":[", f);
	for (size_t i = 0; i < m->nthreads; i++) {
		const struct pt_mthread *t = &m->threads[i];

		fputs(i ? ",\n{" : "\n{", f);
		ku64(f, "tid", t->tid);
		putc(',', f);
		kstr(f, "name", t->name);
		putc(',', f);
		ku64(f, "peak_bytes", t->peak_bytes);
		putc(',', f);
		ku64(f, "peak_count", t->peak_count);
		putc(',', f);
		ku64(f, "alloc_bytes", t->alloc_bytes);
		putc(',', f);
		ku64(f, "alloc_count", t->alloc_count);
		putc('}', f);
	}
	fputs("],\n", f);
}

static void modules(FILE *f, const struct pt_model *m)
{
	fputs("\"modules\":[", f);
	for (size_t i = 0; i < m->nmodules; i++) {
		const struct pt_mmodule *mo = &m->modules[i];

		fputs(i ? ",\n{" : "\n{", f);
		ku64(f, "id", mo->id);
		putc(',', f);
		kstr(f, "path", mo->path);
		putc(',', f);
		khex(f, "load_bias", mo->load_bias);
		putc(',', f);
		khex(f, "start", mo->start);
		putc(',', f);
		khex(f, "end", mo->end);
		putc(',', f);
		kstr(f, "build_id", mo->build_id);
		putc('}', f);
	}
	fputs("]\n", f);
}

int pt_render_json(const struct pt_model *m, FILE *out,
		   const struct pt_render_opts *o)
{
	fputs("{\"schema\":\"peaktrace-report\",\"version\":1,\n", out);
	run_facts(out, m, o);
	problems(out, m);
	peak(out, m);
	series(out, m);
	frames(out, m);
	stacks(out, m);
	sites(out, m, o);
	threads(out, m);
	modules(out, m);
	fputs("}\n", out);
	if (fflush(out) != 0 || ferror(out))
		return -EIO;
	return 0;
}
