/*
 * cmd_decode.c: `peaktrace decode TRACE`: every record of a trace as one
 * JSON object per line, for debugging and for other tools.
 *
 *   {"type":"alloc","tid":12,"addr":"0x7f3a2c000010","size":64,"weight":64,"stack_id":3}
 *
 * Keys are the field names of docs/FORMAT.md; addresses (addr, load_bias,
 * start, end, native frames) are "0x..." strings, other integers are JSON
 * numbers (exact up to 2^64-1; parsers limited to doubles lose precision
 * past 2^53). Strings are escaped so the output is always valid UTF-8 JSON:
 * '"', '\\' and control characters are escaped, each byte of an invalid
 * UTF-8 sequence becomes U+FFFD.
 *
 * Exit status (DESIGN.md): 0 on a whole trace; 0 with "peaktrace: warning:"
 * lines on stderr on a cut or partly corrupt one; 2 with one line
 * "peaktrace: cannot read 'PATH': REASON" when it cannot be read; 1 on a
 * usage error.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "report/escape.h"
#include "report/decoder.h"

static void help(void)
{
	printf("usage: peaktrace decode TRACE\n"
	       "\n"
	       "Prints every record of TRACE ('-': standard input) as one JSON\n"
	       "object per line on stdout. A trace cut short or partly corrupt\n"
	       "still decodes: what is readable is printed, with warnings on\n"
	       "stderr, and the exit status is 0.\n"
	       "\n"
	       "exit status: 0 decoded (warnings or not), 1 usage error,\n"
	       "2 TRACE cannot be read (missing, not a peaktrace trace,\n"
	       "unsupported version, read error)\n");
}

/* ---- JSON ------------------------------------------------------------------ */

static void kstr(FILE *f, const char *k, struct pt_str s)
{
	fprintf(f, ",\"%s\":", k);
	pt_esc_json_n(f, s.p, s.len);
}

static void ku(FILE *f, const char *k, uint64_t v)
{
	fprintf(f, ",\"%s\":%llu", k, (unsigned long long)v);
}

static void kx(FILE *f, const char *k, uint64_t v)
{
	fprintf(f, ",\"%s\":\"0x%llx\"", k, (unsigned long long)v);
}

/* Bytes as lower-case hex, the way build-ids are written (readelf, file,
 * /usr/lib/debug/.build-id). */
static void khex(FILE *f, const char *k, struct pt_str s)
{
	fprintf(f, ",\"%s\":\"", k);
	for (uint32_t i = 0; i < s.len; i++)
		fprintf(f, "%02x", (unsigned char)s.p[i]);
	fputc('"', f);
}

static void print_rec(FILE *f, const struct pt_rec *r)
{
	fprintf(f, "{\"type\":\"%s\"", pt_rec_type_name(r->type));
	switch (r->type) {
	case PT_REC_HEADER: {
		const struct pt_rec_header *h = &r->u.header;
		ku(f, "format_version", h->format_version);
		ku(f, "pid", h->pid);
		ku(f, "ppid", h->ppid);
		ku(f, "start_unix_ns", h->start_unix_ns);
		if (h->mode == PT_MODE_SAMPLED)
			fputs(",\"mode\":\"sampled\"", f);
		else if (h->mode == PT_MODE_EXACT)
			fputs(",\"mode\":\"exact\"", f);
		else
			ku(f, "mode", h->mode);
		ku(f, "sample_bytes", h->sample_bytes);
		ku(f, "page_size", h->page_size);
		kstr(f, "python_version", h->python_version);
		kstr(f, "cmdline", h->cmdline);
		kstr(f, "exe", h->exe);
		break;
	}
	case PT_REC_STRING:
		ku(f, "id", r->u.string.id);
		kstr(f, "str", r->u.string.s);
		break;
	case PT_REC_MODULE:
		ku(f, "id", r->u.module.id);
		ku(f, "path_string_id", r->u.module.path_string_id);
		kx(f, "load_bias", r->u.module.load_bias);
		kx(f, "start", r->u.module.start);
		kx(f, "end", r->u.module.end);
		khex(f, "build_id", r->u.module.build_id);
		break;
	case PT_REC_PYFRAME:
		ku(f, "id", r->u.pyframe.id);
		ku(f, "function_string_id", r->u.pyframe.function_string_id);
		ku(f, "file_string_id", r->u.pyframe.file_string_id);
		ku(f, "line", r->u.pyframe.line);
		break;
	case PT_REC_STACK:
		ku(f, "id", r->u.stack.id);
		fputs(",\"frames\":[", f);
		for (uint32_t i = 0; i < r->u.stack.n; i++) {
			uint64_t fr = r->u.stack.frames[i];
			if (i)
				putc(',', f);
			if (pt_frame_is_py(fr))
				fprintf(f, "{\"pyframe\":%llu}",
					(unsigned long long)pt_frame_value(fr));
			else
				fprintf(f, "{\"ip\":\"0x%llx\"}",
					(unsigned long long)pt_frame_value(fr));
		}
		putc(']', f);
		break;
	case PT_REC_ALLOC:
		ku(f, "tid", r->u.alloc.tid);
		kx(f, "addr", r->u.alloc.addr);
		ku(f, "size", r->u.alloc.size);
		ku(f, "weight", r->u.alloc.weight);
		ku(f, "stack_id", r->u.alloc.stack_id);
		break;
	case PT_REC_FREE:
		kx(f, "addr", r->u.free.addr);
		break;
	case PT_REC_TICK:
		ku(f, "t_ns", r->u.tick.t_ns);
		ku(f, "heap_bytes", r->u.tick.heap_bytes);
		ku(f, "mapped_bytes", r->u.tick.mapped_bytes);
		ku(f, "peak_bytes", r->u.tick.peak_bytes);
		break;
	case PT_REC_PEAK:
		ku(f, "t_ns", r->u.peak.t_ns);
		ku(f, "bytes", r->u.peak.bytes);
		break;
	case PT_REC_THREAD:
		ku(f, "tid", r->u.thread.tid);
		kstr(f, "name", r->u.thread.name);
		break;
	case PT_REC_TRIP:
		kstr(f, "reason", r->u.trip.reason);
		break;
	case PT_REC_DROPS:
		ku(f, "total", r->u.drops.total);
		break;
	case PT_REC_END:
		ku(f, "t_ns", r->u.end.t_ns);
		ku(f, "peak_bytes", r->u.end.peak_bytes);
		ku(f, "peak_t_ns", r->u.end.peak_t_ns);
		ku(f, "total_allocs", r->u.end.total_allocs);
		ku(f, "total_alloc_bytes", r->u.end.total_alloc_bytes);
		break;
	}
	fputs("}\n", f);
}

/* ---- the command ------------------------------------------------------------ */

/* Prints the warnings from *shown on; stdout first, so they land after
 * the records they follow when both go to one terminal. */
static void flush_warnings(const struct pt_dec *d, size_t *shown)
{
	size_t n = pt_dec_warning_count(d);

	if (*shown == n)
		return;
	fflush(stdout);
	for (; *shown < n; (*shown)++)
		fprintf(stderr, "peaktrace: warning: %s\n",
			pt_dec_warning(d, *shown));
}

int pt_cmd_decode(int argc, char **argv)
{
	static char outbuf[1 << 16];
	const char *path = NULL;
	int opts = 1;

	for (int i = 1; i < argc; i++) {
		if (opts && pt_cli_is_help(argv[i])) {
			help();
			return PT_EXIT_OK;
		} else if (opts && strcmp(argv[i], "--") == 0) {
			opts = 0;
		} else if (opts && argv[i][0] == '-' && argv[i][1] != '\0') {
			return pt_cli_unknown_option("decode", argv[i]);
		} else if (path) {
			return pt_cli_usage_error("decode",
						  "unexpected argument '%s'",
						  argv[i]);
		} else {
			path = argv[i];
		}
	}
	if (!path)
		return pt_cli_usage_error("decode", "missing TRACE");

	struct pt_dec *d;
	char err[256];
	int rc = strcmp(path, "-") == 0
			 ? pt_dec_open_fd(&d, 0, 0, err, sizeof err)
			 : pt_dec_open(&d, path, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "peaktrace: cannot read '%s': %s\n", path, err);
		return PT_EXIT_UNREADABLE;
	}
	setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);

	struct pt_rec r;
	size_t shown = 0;
	while ((rc = pt_dec_next(d, &r)) == 1) {
		flush_warnings(d, &shown); /* they precede this record */
		print_rec(stdout, &r);
	}
	flush_warnings(d, &shown);

	int status = PT_EXIT_OK;
	struct pt_dec_stats st;
	pt_dec_stats(d, &st);
	fflush(stdout);
	if (rc < 0) {
		fprintf(stderr, "peaktrace: cannot read '%s': %s\n", path,
			pt_dec_error(d));
		status = PT_EXIT_UNREADABLE;
	} else if (st.warnings_total > 0) {
		if (st.warnings_total > shown)
			fprintf(stderr, "peaktrace: warning: %llu more warnings "
					"not shown\n",
				(unsigned long long)(st.warnings_total - shown));
		fprintf(stderr, "peaktrace: warning: decoded %llu records from "
				"%llu chunks of '%s'",
			(unsigned long long)st.records,
			(unsigned long long)st.chunks_read, path);
		if (st.chunks_skipped)
			fprintf(stderr, "; %llu corrupt chunks skipped",
				(unsigned long long)st.chunks_skipped);
		if (st.truncated)
			fprintf(stderr, "; the trace is truncated");
		fputc('\n', stderr);
	}
	pt_dec_close(d);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "peaktrace: cannot write the records: %s\n",
			strerror(errno));
		return PT_EXIT_UNREADABLE;
	}
	return status;
}
