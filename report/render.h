/*
 * render.h: the renderers, each turning a loaded struct pt_model into one
 * output format. They read the model only, write to the FILE they are
 * given (html: into a directory), and return 0 or a negative errno (-EIO
 * when writing failed: the caller reports it; -ENOMEM; -EINVAL for a bad
 * option). None prints diagnostics of its own.
 *
 * Every renderer must give valid output for any model, including an empty
 * one (no header, no allocations, no ticks) and one whose strings hold
 * bytes that are special in the format (quotes, ';', newlines, invalid
 * UTF-8).
 */
#ifndef PT_RENDER_H
#define PT_RENDER_H

#include <stdio.h>

#include "report/model.h"

struct pt_render_opts {
	unsigned top;          /* rows of the top-sites tables; 0 = default (20) */
	const char *trace_path;/* shown in headers; may be NULL */
};

#define PT_RENDER_DEFAULT_TOP 20

/* text: a terminal summary (report/render_text.c). */
int pt_render_text(const struct pt_model *m, FILE *out,
		   const struct pt_render_opts *o);

/* collapsed: flamegraph.pl input, the peak-memory stacks, `outer;...;inner
 * BYTES` a line, sorted (report/render_collapsed.c). */
int pt_render_collapsed(const struct pt_model *m, FILE *out,
			const struct pt_render_opts *o);

/* json: the model, schema in docs/JSON.md (report/render_json.c). */
int pt_render_json(const struct pt_model *m, FILE *out,
		   const struct pt_render_opts *o);

/* svg: a standalone peak-memory flamegraph. */
int pt_render_svg(const struct pt_model *m, FILE *out,
		  const struct pt_render_opts *o);

/* speedscope: https://www.speedscope.app/file-format-schema.json */
int pt_render_speedscope(const struct pt_model *m, FILE *out,
			 const struct pt_render_opts *o);

/* pprof: gzipped profile.proto (inuse_space at the peak, alloc_space). */
int pt_render_pprof(const struct pt_model *m, FILE *out,
		    const struct pt_render_opts *o);

/* html: the report folder; dir is created if needed and gets index.html
 * (and whatever it links to). */
int pt_render_html(const struct pt_model *m, const char *dir,
		   const struct pt_render_opts *o);

/* Helpers shared by renderers (report/render_collapsed.c). */

/* Writes name to out with ';' replaced by ':' and '\n', '\r' by ' ' (the
 * collapsed format's separators). Returns 0 or -EIO. */
int pt_collapsed_put_frame(FILE *out, const char *name);

/* Writes s as a JSON string, quotes included, always valid UTF-8 JSON:
 * '"', '\\' and control characters escaped, each byte of an invalid UTF-8
 * sequence written as U+FFFD (report/render_json.c). Errors show in
 * ferror(out). */
void pt_json_put_str(FILE *out, const char *s);

#endif
