/*
 * render_svg.c: a standalone, interactive peak-memory flamegraph in SVG.
 *
 * One file that any browser opens (and any SVG viewer draws, without the
 * interaction): an icicle graph of the memory live at the peak, the root
 * ("all") at the top, callees below their callers, each box as wide as
 * the bytes its subtree held. Boxes narrower than MIN_WIDTH pixels are
 * left out with their subtrees (they would be invisible), as
 * flamegraph.pl does. The embedded script (report/html/flame_svg.js, in a
 * CDATA section) zooms on click, searches (button, Ctrl-F or "/", or
 * #search=TEXT in the URL) and shows a box's details on hover.
 *
 * Text from the trace goes through pt_esc_xml (escape.h): the output is
 * well-formed XML whatever the frame names hold; the script reads names
 * back from attributes, never as markup. Python frames are drawn in blues,
 * native frames in oranges, unknown frames in grey.
 */
#include "report/render.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "html_assets.h"
#include "report/escape.h"
#include "report/flame.h"

#define WIDTH 1200      /* px */
#define PAD 10          /* px, left and right */
#define FRAME_H 18      /* px per row */
#define FONT 12         /* px */
#define TOP 64          /* px above the first row */
#define BOTTOM 34       /* px below the last row */
#define MIN_WIDTH 0.1   /* px: narrower boxes are not drawn */

static uint64_t fnv(const char *s)
{
	uint64_t x = 0xcbf29ce484222325ull;

	while (*s)
		x = (x ^ (unsigned char)*s++) * 0x100000001b3ull;
	return x;
}

/* A fill for frame f (NULL: the root): a hue family per kind, varied by
 * the function's name so neighbours differ and a function keeps its
 * colour everywhere. */
static void fill(const struct pt_mframe *f, char *buf, size_t cap)
{
	uint64_t h;
	unsigned a, b, c;

	if (!f) {
		snprintf(buf, cap, "rgb(196,200,210)");
		return;
	}
	h = fnv(f->function[0] ? f->function : f->name);
	a = (unsigned)(h & 0xff);
	b = (unsigned)((h >> 8) & 0xff);
	c = (unsigned)((h >> 16) & 0xff);
	switch (f->kind) {
	case PT_FRAME_KIND_PYTHON:
		snprintf(buf, cap, "rgb(%u,%u,%u)", 110 + a * 60 / 255,
			 170 + b * 45 / 255, 225 + c * 30 / 255);
		break;
	case PT_FRAME_KIND_NATIVE:
		snprintf(buf, cap, "rgb(%u,%u,%u)", 235 + a * 20 / 255,
			 135 + b * 70 / 255, 60 + c * 40 / 255);
		break;
	default:
		snprintf(buf, cap, "rgb(%u,%u,%u)", 175 + a * 20 / 255,
			 175 + a * 20 / 255, 175 + a * 20 / 255);
		break;
	}
}

/* The label that fits w px, as the script computes it (0.59 em a char). */
static void label(FILE *out, const char *name, double w)
{
	long chars = (long)((w - 6) / (FONT * 0.59));
	size_t n = pt_utf8_count(name);

	if (chars < 3)
		return;
	if (n <= (size_t)chars) {
		pt_esc_xml(out, name);
		return;
	}
	pt_esc_xml_n(out, name, (size_t)chars - 2);
	fputs("..", out);
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void frame_box(FILE *out, const struct pt_model *m,
		      const struct pt_flame *fl, const struct pt_flame_node *n,
		      double x, double w)
{
	const struct pt_mframe *f = n->frame == PT_FLAME_NONE
					    ? NULL : &m->frames[n->frame];
	const char *name = f ? f->name : "all";
	uint64_t total = fl->nodes[0].value;
	double y = TOP + (double)n->depth * FRAME_H;
	char hb[32], col[32];
	const char *kind = !f ? "root"
			   : f->kind == PT_FRAME_KIND_PYTHON ? "python"
			   : f->kind == PT_FRAME_KIND_NATIVE ? "native"
							     : "unknown";

	fill(f, col, sizeof col);
	fprintf(out, "<g class=\"f %s\" data-d=\"%u\" data-v=\"%llu\" "
		     "data-n=\"", kind, n->depth,
		(unsigned long long)n->value);
	pt_esc_xml(out, name);
	fputs("\"><title>", out);
	pt_esc_xml(out, name);
	fprintf(out, " \xe2\x80\x94 %s (%llu bytes), %.2f%% of the peak, "
		     "%llu samples</title>",
		pt_fmt_bytes(n->value, hb, sizeof hb),
		(unsigned long long)n->value, pct(n->value, total),
		(unsigned long long)n->count);
	fprintf(out, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" "
		     "fill=\"%s\" rx=\"2\"/>", x, y, w, FRAME_H - 1, col);
	fprintf(out, "<text x=\"%.2f\" y=\"%.1f\">", x + 3,
		y + FRAME_H - 5.5);
	label(out, name, w);
	fputs("</text></g>\n", out);
}

int pt_render_svg(const struct pt_model *m, FILE *out,
		  const struct pt_render_opts *o)
{
	struct pt_flame *fl = NULL;
	double *xs = NULL;        /* x of each node, px */
	double scale;
	int height, rc;
	char b1[32], b2[32];
	uint32_t depth = 0;

	(void)o;
	if (!m || !out)
		return -EINVAL;
	rc = pt_flame_build(m, PT_FLAME_PEAK, &fl);
	if (rc)
		return rc;
	xs = calloc(fl->nnodes, sizeof *xs);
	if (!xs) {
		pt_flame_free(fl);
		return -ENOMEM;
	}
	scale = fl->nodes[0].value
			? (double)(WIDTH - 2 * PAD) / (double)fl->nodes[0].value
			: 0.0;
	/* x positions: a child starts where its previous sibling ended
	 * (pre-order: siblings appear in order, each after the previous
	 * one's subtree); the deepest row actually drawn sets the height */
	{
		double *next = calloc(fl->nnodes, sizeof *next);

		if (!next) {
			free(xs);
			pt_flame_free(fl);
			return -ENOMEM;
		}
		xs[0] = PAD;
		next[0] = PAD;
		for (size_t i = 1; i < fl->nnodes; i++) {
			uint32_t p = fl->nodes[i].parent;

			xs[i] = next[p];
			next[p] += (double)fl->nodes[i].value * scale;
			next[i] = xs[i];
			if ((double)fl->nodes[i].value * scale >= MIN_WIDTH &&
			    fl->nodes[i].depth > depth)
				depth = fl->nodes[i].depth;
		}
		free(next);
	}
	height = TOP + (int)(depth + 1) * FRAME_H + BOTTOM;

	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\" "
		     "standalone=\"no\"?>\n"
		     "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" "
		     "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		     "data-width=\"%d\" data-pad=\"%d\" data-font=\"%d\" "
		     "data-total=\"%llu\">\n",
		WIDTH, height, WIDTH, height, WIDTH, PAD, FONT,
		(unsigned long long)fl->nodes[0].value);
	fprintf(out, "<style>\n"
		"text { font-family: 'DejaVu Sans', Verdana, sans-serif; "
		"font-size: %dpx; fill: #1b1f24; }\n"
		"g.f text { pointer-events: none; }\n"
		"g.f:hover rect { stroke: #1b1f24; stroke-width: 0.8; }\n"
		"g.f { cursor: pointer; }\n"
		"g.parent rect { opacity: 0.55; }\n"
		"#title { font-size: 17px; font-weight: bold; }\n"
		".button { fill: #0b57d0; cursor: pointer; }\n"
		".button:hover { text-decoration: underline; }\n"
		"</style>\n", FONT);
	fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" "
		     "fill=\"#fbfbfc\"/>\n", WIDTH, height);
	fprintf(out, "<text id=\"title\" x=\"%d\" y=\"24\" "
		     "text-anchor=\"middle\">Peak memory flamegraph</text>\n",
		WIDTH / 2);
	fprintf(out, "<text id=\"subtitle\" x=\"%d\" y=\"45\" "
		     "fill=\"#555\">", PAD + 140);
	if (m->peak_source == PT_PEAK_SRC_NONE) {
		fputs("no allocation recorded", out);
	} else {
		fprintf(out, "peak %s at %.2f s; live set at the peak %s "
			     "(%llu samples)",
			pt_fmt_bytes(m->peak_bytes, b1, sizeof b1),
			(double)m->peak_t_ns / 1e9,
			pt_fmt_bytes(m->peak_live_bytes, b2, sizeof b2),
			(unsigned long long)m->peak_live_count);
	}
	if (m->cmdline[0]) {
		fputs(" \xe2\x80\x94 ", out);
		pt_esc_xml_n(out, m->cmdline, 60);
		if (pt_utf8_count(m->cmdline) > 60)
			fputs("..", out);
	}
	fputs("</text>\n", out);
	fprintf(out, "<text id=\"unzoom\" class=\"button\" x=\"%d\" y=\"24\">"
		     "Reset zoom</text>\n", PAD);
	fprintf(out, "<text id=\"search\" class=\"button\" x=\"%d\" y=\"24\" "
		     "text-anchor=\"end\">Search</text>\n", WIDTH - PAD);
	fprintf(out, "<text id=\"clear\" class=\"button\" x=\"%d\" y=\"24\" "
		     "text-anchor=\"end\" style=\"display:none\">Clear</text>\n",
		WIDTH - PAD - 60);
	fprintf(out, "<rect x=\"%d\" y=\"36\" width=\"10\" height=\"10\" "
		     "fill=\"rgb(140,190,240)\"/><text x=\"%d\" y=\"45\" "
		     "font-size=\"11\">Python</text>\n", PAD, PAD + 14);
	fprintf(out, "<rect x=\"%d\" y=\"36\" width=\"10\" height=\"10\" "
		     "fill=\"rgb(245,170,80)\"/><text x=\"%d\" y=\"45\" "
		     "font-size=\"11\">native</text>\n", PAD + 64, PAD + 78);

	for (size_t i = 0; i < fl->nnodes; i++) {
		const struct pt_flame_node *n = &fl->nodes[i];
		double w = (double)n->value * scale;

		if (i == 0) {
			frame_box(out, m, fl, n, PAD, WIDTH - 2 * PAD);
			continue;
		}
		if (w < MIN_WIDTH) {
			i += n->size - 1; /* skip the subtree */
			continue;
		}
		frame_box(out, m, fl, n, xs[i], w);
	}
	fprintf(out, "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n",
		PAD, height - 12);
	fprintf(out, "<text id=\"matched\" x=\"%d\" y=\"%d\" "
		     "text-anchor=\"end\" data-count=\"0\"></text>\n",
		WIDTH - PAD, height - 12);
	fputs("<script type=\"text/ecmascript\"><![CDATA[\n", out);
	fputs(pt_asset_flame_svg_js, out);
	fputs("]]></script>\n</svg>\n", out);
	free(xs);
	pt_flame_free(fl);
	if (fflush(out) || ferror(out))
		return -EIO;
	return 0;
}
