/*
 * viz_render.c: renders one trace in every visual and interchange format,
 * by calling the renderers directly (report/render.h), for tests/viz/viz.py:
 *
 *   viz_render TRACE OUTDIR
 *     OUTDIR/report/index.html, OUTDIR/flame.svg,
 *     OUTDIR/profile.speedscope.json, OUTDIR/profile.pb.gz
 *
 * Exit 0 when all four rendered, 2 when the trace cannot be read, 1 when
 * a renderer failed (the message names it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "report/model.h"
#include "report/render.h"

static int to_file(const char *dir, const char *name,
		   int (*fn)(const struct pt_model *, FILE *,
			     const struct pt_render_opts *),
		   const struct pt_model *m, const struct pt_render_opts *o)
{
	char path[4096];
	FILE *f;
	int rc;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f) {
		fprintf(stderr, "viz_render: cannot write '%s': %s\n", path,
			strerror(errno));
		return 1;
	}
	rc = fn(m, f, o);
	if (fclose(f) && !rc)
		rc = -EIO;
	if (rc) {
		fprintf(stderr, "viz_render: rendering '%s' failed: %s\n", name,
			strerror(-rc));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct pt_render_opts o = { 0 };
	struct pt_model *m;
	char err[512], dir[4096];
	int rc = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: viz_render TRACE OUTDIR\n");
		return 1;
	}
	if (pt_model_load(argv[1], &m, err, sizeof err)) {
		fprintf(stderr, "viz_render: cannot read '%s': %s\n", argv[1], err);
		return 2;
	}
	mkdir(argv[2], 0777);
	o.trace_path = argv[1];
	snprintf(dir, sizeof dir, "%s/report", argv[2]);
	if (pt_render_html(m, dir, &o)) {
		fprintf(stderr, "viz_render: rendering html failed\n");
		rc = 1;
	}
	rc |= to_file(argv[2], "flame.svg", pt_render_svg, m, &o);
	rc |= to_file(argv[2], "profile.speedscope.json", pt_render_speedscope,
		      m, &o);
	rc |= to_file(argv[2], "profile.pb.gz", pt_render_pprof, m, &o);
	pt_model_free(m);
	return rc;
}
