/*
 * cmd_report.c: `peaktrace report TRACE [--format FMT] [-o OUT] [--top N]`.
 *
 * Loads the trace into the run model (report/model.h) and hands it to one
 * renderer (report/render.h). Formats that write one file (text, collapsed,
 * json, svg, speedscope, pprof) go to stdout, or to the file -o names;
 * html writes a folder, -o DIR, by default the trace's path without its
 * .ptrace suffix (DESIGN.md: DIR/peaktrace-PID.ptrace ->
 * DIR/peaktrace-PID/). Without --format the html report is made when this
 * build has the html renderer, else the text summary. TRACE "-" is standard
 * input (then html needs -o); OUT "-" is stdout. A file OUT is written
 * under a temporary name and renamed when complete (sink_open).
 *
 * THE FORMAT TABLE below lists the renderers that exist; a renderer added
 * to report/ adds its line here.
 *
 * Exit status: 0 rendered (a cut or partly corrupt trace renders, with
 * "peaktrace: warning: ..." lines on stderr); 1 usage error; 2 the trace
 * cannot be read ("peaktrace: cannot read 'PATH': REASON") or the output
 * cannot be written ("peaktrace: cannot write 'PATH': REASON").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "report/model.h"
#include "report/render.h"

struct fmt {
	const char *name;
	/* exactly one of: */
	int (*to_file)(const struct pt_model *, FILE *,
		       const struct pt_render_opts *);
	int (*to_dir)(const struct pt_model *, const char *,
		      const struct pt_render_opts *);
};

/* ---- THE FORMAT TABLE ------------------------------------------------------ */
static const struct fmt formats[] = {
	{ "text", pt_render_text, NULL },
	{ "collapsed", pt_render_collapsed, NULL },
	{ "json", pt_render_json, NULL },
	{ "html", NULL, pt_render_html },
	{ "svg", pt_render_svg, NULL },
	{ "speedscope", pt_render_speedscope, NULL },
	{ "pprof", pt_render_pprof, NULL },
};
/* ---- end of the format table ----------------------------------------------- */

#define NFORMATS (sizeof formats / sizeof formats[0])

static const struct fmt *find_fmt(const char *name)
{
	for (size_t i = 0; i < NFORMATS; i++)
		if (strcmp(formats[i].name, name) == 0)
			return &formats[i];
	return NULL;
}

static void format_list(char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < NFORMATS && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "",
				      formats[i].name);
}

static void help(void)
{
	char list[256];

	format_list(list, sizeof list);
	printf("usage: peaktrace report TRACE [--format FMT] [-o OUT] "
	       "[--top N]\n\n"
	       "Renders a trace: what was live at the memory peak, and how "
	       "memory moved.\n\n"
	       "  --format FMT  one of: %s\n"
	       "                (default: html when built in, else text)\n"
	       "                collapsed: flamegraph.pl input, the peak "
	       "stacks, 'outer;...;inner BYTES'\n"
	       "                json: the whole run model (docs/JSON.md)\n"
	       "  -o OUT        write to the file OUT instead of stdout; for "
	       "html, the folder\n"
	       "                (default: TRACE without its .ptrace suffix)\n"
	       "                TRACE '-' reads standard input (html then "
	       "needs -o)\n"
	       "  --top N       rows of the top-sites tables (default %d; "
	       "json: all sites)\n\n"
	       "A trace cut short or partly corrupt still renders, with "
	       "warnings on stderr.\n\n"
	       "exit status: 0 rendered (warnings or not), 1 usage error, 2 "
	       "TRACE cannot be\nread or OUT cannot be written\n",
	       list, PT_RENDER_DEFAULT_TOP);
}

/* TRACE minus ".ptrace", or TRACE + ".report" when it has no such suffix. */
static char *default_dir(const char *trace)
{
	size_t n = strlen(trace);
	const char *suf = ".ptrace";
	size_t sn = strlen(suf);
	char *d;

	if (n > sn && strcmp(trace + n - sn, suf) == 0 && trace[n - sn - 1] != '/') {
		d = strndup(trace, n - sn);
	} else {
		d = malloc(n + sizeof ".report");
		if (d)
			snprintf(d, n + sizeof ".report", "%s.report", trace);
	}
	return d;
}

static int parse_top(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!s[0] || s[0] == '-')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > 1000000)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static void print_warnings(const struct pt_model *m)
{
	for (size_t i = 0; i < m->nwarnings; i++)
		fprintf(stderr, "peaktrace: warning: %s\n", m->warnings[i]);
	if (m->warnings_total > m->nwarnings)
		fprintf(stderr, "peaktrace: warning: ... and %llu more\n",
			(unsigned long long)(m->warnings_total - m->nwarnings));
	if (m->drops)
		fprintf(stderr, "peaktrace: warning: %llu events were dropped: "
				"the figures are underestimates\n",
			(unsigned long long)m->drops);
	if (m->ntrips)
		fprintf(stderr, "peaktrace: warning: the kill-switch tripped "
				"(profiling stopped early): %s\n",
			m->ntrip_reasons ? m->trip_reasons[0] : "reason lost");
}

/* Where a file format goes. stdout when out is NULL or "-". A regular
 * file (or a new one) is written to OUT.tmp-PID beside it and renamed over
 * OUT once complete, so OUT is never left half written (disk full, a
 * kill, a renderer error) and an existing OUT survives a failed render.
 * Anything else (/dev/null, a FIFO, a terminal, a symlink) is written in
 * place and never removed: unlinking "/dev/full" after a failed write
 * would delete the device node. So is an existing OUT in a directory where
 * no temporary file can be made. */
struct sink {
	FILE *fp;
	char *tmp;  /* the temporary name, or NULL when writing in place */
};

static int sink_open(struct sink *k, const char *out)
{
	struct stat st;
	int fd, exists = 0;

	k->fp = stdout;
	k->tmp = NULL;
	if (!out || strcmp(out, "-") == 0)
		return 0;
	if (lstat(out, &st) == 0) {
		exists = 1;
		if (S_ISDIR(st.st_mode))
			return -EISDIR;
		if (!S_ISREG(st.st_mode)) {
			k->fp = fopen(out, "wb");
			return k->fp ? 0 : -errno;
		}
		if (access(out, W_OK) != 0)
			return -errno;
	} else if (errno != ENOENT) {
		return -errno;
	}
	size_t cap = strlen(out) + 32;
	k->tmp = malloc(cap);
	if (!k->tmp)
		return -ENOMEM;
	snprintf(k->tmp, cap, "%s.tmp-%ld", out, (long)getpid());
	fd = open(k->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	/* the new OUT keeps the old one's permissions (a private 0600 file
	 * stays private) */
	if (fd >= 0 && exists)
		(void)fchmod(fd, st.st_mode & 07777);
	if (fd < 0 || !(k->fp = fdopen(fd, "wb"))) {
		int e = errno;

		if (fd >= 0) {
			close(fd);
			unlink(k->tmp);
		}
		free(k->tmp);
		k->tmp = NULL;
		/* a writable OUT in a directory we may not create files in
		 * (a pre-made log file): written in place, as before */
		if (exists) {
			k->fp = fopen(out, "wb");
			return k->fp ? 0 : -errno;
		}
		return -e;
	}
	return 0;
}

/* Closes the sink; rc is the render's result. On success renames the
 * temporary file over out; on failure removes it. Returns 0 or -errno. */
static int sink_close(struct sink *k, const char *out, int rc)
{
	if (k->fp != stdout) {
		errno = 0;
		if (fclose(k->fp) != 0 && rc == 0)
			rc = errno ? -errno : -EIO;
	} else if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
		rc = errno ? -errno : -EIO;
	}
	if (k->tmp) {
		if (rc == 0 && rename(k->tmp, out) != 0)
			rc = -errno;
		if (rc)
			unlink(k->tmp);
		free(k->tmp);
		k->tmp = NULL;
	}
	return rc;
}

static int render_file(const struct fmt *f, const struct pt_model *m,
		       const char *out, const struct pt_render_opts *o)
{
	struct sink k;
	int rc;

	rc = sink_open(&k, out);
	if (rc == 0) {
		errno = 0;
		rc = f->to_file(m, k.fp, o);
		/* renderers return -EIO for a stream error: errno says which */
		if (rc == -EIO && errno)
			rc = -errno;
		rc = sink_close(&k, out, rc);
	}
	if (rc) {
		fprintf(stderr, "peaktrace: cannot write '%s': %s\n",
			out && strcmp(out, "-") != 0 ? out : "stdout",
			strerror(-rc));
		return PT_EXIT_UNREADABLE;
	}
	return PT_EXIT_OK;
}

static int render_dir(const struct fmt *f, const struct pt_model *m,
		      const char *trace, const char *out,
		      const struct pt_render_opts *o)
{
	char *dir = out ? strdup(out) : default_dir(trace);
	int rc;

	if (!dir) {
		fprintf(stderr, "peaktrace: out of memory\n");
		return PT_EXIT_UNREADABLE;
	}
	rc = f->to_dir(m, dir, o);
	if (rc) {
		fprintf(stderr, "peaktrace: cannot write '%s': %s\n", dir,
			strerror(-rc));
		free(dir);
		return PT_EXIT_UNREADABLE;
	}
	fprintf(stderr, "peaktrace: report in %s/index.html\n", dir);
	free(dir);
	return PT_EXIT_OK;
}

int pt_cmd_report(int argc, char **argv)
{
	const char *trace = NULL, *out = NULL, *fmtname = NULL;
	struct pt_render_opts o = { 0 };
	const struct fmt *f;
	struct pt_model *m;
	char err[512];
	int rc, opts_done = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;

		if (!opts_done && pt_cli_is_help(a)) {
			help();
			return PT_EXIT_OK;
		}
		if (!opts_done && strcmp(a, "--") == 0) {
			opts_done = 1;
			continue;
		}
		if (opts_done || a[0] != '-' || a[1] == '\0') {
			if (trace)
				return pt_cli_usage_error("report", "more than "
							  "one trace given "
							  "('%s')", a);
			trace = a;
			continue;
		}
		/* options with a value: "--opt V" or "--opt=V" */
		const char *names[] = { "--format", "-o", "--output", "--top" };
		size_t k;

		for (k = 0; k < 4; k++) {
			size_t nl = strlen(names[k]);

			if (strcmp(a, names[k]) == 0) {
				if (i + 1 >= argc || strcmp(argv[i + 1], "--") == 0)
					return pt_cli_usage_error(
						"report", "option '%s' needs a "
						"value", a);
				v = argv[++i];
				break;
			}
			if (names[k][1] == '-' && strncmp(a, names[k], nl) == 0 &&
			    a[nl] == '=') {
				v = a + nl + 1;
				break;
			}
		}
		if (k == 4)
			return pt_cli_unknown_option("report", a);
		if (k == 0)
			fmtname = v;
		else if (k == 1 || k == 2)
			out = v;
		else if (parse_top(v, &o.top) != 0)
			return pt_cli_usage_error("report", "bad value '%s' for "
						  "--top (a count from 1 to 1000000)", v);
	}
	if (!trace)
		return pt_cli_usage_error("report", "no trace given");
	if (fmtname) {
		f = find_fmt(fmtname);
		if (!f) {
			char list[256];

			format_list(list, sizeof list);
			return pt_cli_usage_error("report", "unknown format "
						  "'%s' (one of: %s)",
						  fmtname, list);
		}
	} else {
		f = find_fmt("html");
		if (!f)
			f = find_fmt("text");
	}
	if (!f)
		return pt_cli_usage_error("report", "no output format is built in");
	o.trace_path = trace;

	if (!f->to_file && !out && strcmp(trace, "-") == 0)
		return pt_cli_usage_error("report", "the %s report of a trace read "
					  "from standard input needs -o DIR", f->name);
	rc = pt_model_load(trace, &m, err, sizeof err);
	if (rc) {
		fprintf(stderr, "peaktrace: cannot read '%s': %s\n", trace, err);
		return PT_EXIT_UNREADABLE;
	}
	print_warnings(m);
	if (f->to_file)
		rc = render_file(f, m, out, &o);
	else
		rc = render_dir(f, m, trace, out, &o);
	pt_model_free(m);
	return rc;
}
