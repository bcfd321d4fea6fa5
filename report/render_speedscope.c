/*
 * render_speedscope.c: the run in speedscope's file format
 * (https://www.speedscope.app/file-format-schema.json), for
 * https://www.speedscope.app and its offline builds.
 *
 *   {"$schema": "https://www.speedscope.app/file-format-schema.json",
 *    "shared": {"frames": [{"name", "file"?, "line"?}, ...]},
 *    "profiles": [{"type": "sampled", "name", "unit": "bytes",
 *                  "startValue": 0, "endValue": TOTAL,
 *                  "samples": [[frame, ...outermost first], ...],
 *                  "weights": [bytes, ...]}, ...],
 *    "name", "activeProfileIndex": 0, "exporter"}
 *
 * Two profiles: the memory live at the peak (the one shown first) and
 * every sampled allocation of the run. A "sample" is one model stack,
 * weighted by its estimated bytes; stacks with weight 0 are left out.
 * Frames are shared, one per distinct display name (model frames that
 * symbolize alike are one frame). Python frames carry file and line;
 * native frames their source file and line when known, else their module.
 *
 * speedscope reads profiles[0].name when the file has no name: there is
 * always at least one profile, even for an empty run.
 */
#include "report/render.h"

#include <errno.h>
#include <stdlib.h>

#include "report/escape.h"
#include "report/flame.h"

static void put_u64(FILE *out, uint64_t v)
{
	fprintf(out, "%llu", (unsigned long long)v);
}

static void profile(FILE *out, const struct pt_model *m,
		    const uint32_t *canon, const uint32_t *sid, int peak)
{
	uint64_t total = 0;
	int first;

	fputs("    {\"type\": \"sampled\", \"name\": ", out);
	pt_esc_json(out, peak ? "memory live at the peak"
			      : "allocations over the run (sampled)");
	fputs(", \"unit\": \"bytes\", \"startValue\": 0, \"endValue\": ", out);
	for (size_t i = 0; i < m->nstacks; i++)
		total += peak ? m->stacks[i].peak_bytes
			      : m->stacks[i].alloc_bytes;
	put_u64(out, total);
	fputs(",\n     \"samples\": [", out);
	first = 1;
	for (size_t i = 0; i < m->nstacks; i++) {
		const struct pt_mstack *s = &m->stacks[i];
		uint64_t w = peak ? s->peak_bytes : s->alloc_bytes;

		if (!w)
			continue;
		fputs(first ? "\n      [" : ",\n      [", out);
		for (uint32_t j = s->nframes; j-- > 0;)
			fprintf(out, j + 1 == s->nframes ? "%u" : ",%u",
				sid[canon[s->frames[j]]]);
		putc(']', out);
		first = 0;
	}
	fputs("],\n     \"weights\": [", out);
	first = 1;
	for (size_t i = 0; i < m->nstacks; i++) {
		uint64_t w = peak ? m->stacks[i].peak_bytes
				  : m->stacks[i].alloc_bytes;

		if (!w)
			continue;
		if (!first)
			putc(',', out);
		put_u64(out, w);
		first = 0;
	}
	fputs("]}", out);
}

int pt_render_speedscope(const struct pt_model *m, FILE *out,
			 const struct pt_render_opts *o)
{
	uint32_t *canon, *sid;
	uint32_t n = 0;

	(void)o;
	if (!m || !out)
		return -EINVAL;
	canon = pt_flame_canon(m);
	sid = malloc((m->nframes ? m->nframes : 1) * sizeof *sid);
	if (!canon || !sid) {
		free(canon);
		free(sid);
		return -ENOMEM;
	}
	fputs("{\"$schema\": \"https://www.speedscope.app/file-format-schema."
	      "json\",\n \"shared\": {\"frames\": [", out);
	for (size_t i = 0; i < m->nframes; i++) {
		const struct pt_mframe *f = &m->frames[i];
		const char *file = f->file[0] ? f->file : f->module;

		if (canon[i] != i)
			continue;
		sid[i] = n;
		fputs(n ? ",\n  {\"name\": " : "\n  {\"name\": ", out);
		if (f->kind == PT_FRAME_KIND_PYTHON && f->function[0])
			pt_esc_json(out, f->function);
		else
			pt_esc_json(out, f->name);
		if (file[0]) {
			fputs(", \"file\": ", out);
			pt_esc_json(out, file);
		}
		if (f->line)
			fprintf(out, ", \"line\": %u", f->line);
		putc('}', out);
		n++;
	}
	fputs("]},\n \"profiles\": [\n", out);
	profile(out, m, canon, sid, 1);
	fputs(",\n", out);
	profile(out, m, canon, sid, 0);
	fputs("],\n \"name\": ", out);
	pt_esc_json(out, m->cmdline[0] ? m->cmdline
		    : o && o->trace_path ? o->trace_path : "peaktrace");
	fputs(",\n \"activeProfileIndex\": 0,\n \"exporter\": \"peaktrace "
	      PT_VERSION "\"}\n", out);
	free(canon);
	free(sid);
	if (fflush(out) || ferror(out))
		return -EIO;
	return 0;
}
