/*
 * model.h: the run model, everything the renderers know about one trace.
 *
 * pt_model_load() decodes a trace in ONE streaming pass over pt_dec_next()
 * and builds a read-only picture of the run: the facts of the HEADER, END,
 * TRIP and DROPS records, the memory-over-time series of the TICKs, the
 * peak, the sampled live set at the peak aggregated per stack, per thread
 * and per site, allocation totals per stack over the whole run, and every
 * frame resolved to a display name (Python frames from PYFRAME + STRING
 * records, native frames through the symbolizer, report/symbolize.h).
 *
 * Memory is proportional to the distinct strings, frames, stacks, modules
 * and threads, plus the sampled allocations live at any one moment (the
 * replay table), never to the file's length: the series is capped at
 * PT_MODEL_MAX_POINTS points (neighbours merged, keeping maxima), trip
 * reasons and warnings at PT_MODEL_MAX_NOTES each.
 *
 * The peak rule (docs/FORMAT.md): the live set at the peak is the replay
 * of ALLOC and FREE records, in file order, up to the LAST PEAK record. An
 * ALLOC at an address already live replaces the old entry; a FREE of an
 * unknown address is ignored. Since the last PEAK is only known at the
 * end, the model keeps every per-stack and per-thread live total current
 * and snapshots them lazily: a PEAK record bumps an epoch, and the first
 * change to a total after an epoch bump saves the old value first. So a
 * PEAK costs O(1) and the pass stays single (the file is never re-read).
 * Without any PEAK record (a cut trace) the same trick snapshots the moment
 * the sampled live total was highest; peak_source says which was used.
 *
 * Everything in a struct pt_model is owned by it and lives until
 * pt_model_free(). Strings are NUL-terminated, never NULL (absent = ""),
 * and are the trace's bytes as they were (possibly not UTF-8, possibly
 * holding ';' or newlines): renderers escape or sanitize for their format.
 *
 * The reporter is not runtime code: malloc and stdio are fine here. Not
 * thread-safe while loading; a loaded model may be read from any thread.
 */
#ifndef PT_MODEL_H
#define PT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "peaktrace/format.h"

struct pt_dec;

#define PT_MODEL_MAX_POINTS 4096   /* series points kept (>= 2, even) */
#define PT_MODEL_MAX_NOTES 64      /* warnings / trip reasons kept each */

/* ---- frames ------------------------------------------------------------ */

enum pt_frame_kind {
	PT_FRAME_KIND_PYTHON = 0,  /* a PYFRAME: function, file, line */
	PT_FRAME_KIND_NATIVE = 1,  /* an instruction pointer */
	PT_FRAME_KIND_UNKNOWN = 2, /* a definition lost (bad chunk) or no stack */
};

/* One distinct frame. Native frames are keyed by (ip, innermost): an ip
 * that is a return address is looked up as ip - 1. */
struct pt_mframe {
	uint8_t kind;          /* enum pt_frame_kind */
	uint8_t resolved;      /* native: 1 if symbol is set (from ELF symbols) */
	uint64_t raw;          /* the PT_FRAME_* value from the trace; 0 for UNKNOWN */
	/* Display name, the one every renderer shows and the collapsed format
	 * uses: "function (file:line)" for Python ("function (file)" when the
	 * line is 0); "symbol" for a resolved native frame; "module+0xOFF" (the
	 * module's file name, OFF = ip - load_bias, hex) when the module is
	 * known but the symbol is not; "0xADDR" when no module covers ip;
	 * "[unknown]" for a lost definition. */
	const char *name;
	const char *function;  /* Python function / native symbol; "" if none */
	const char *file;      /* Python file / native source file (DWARF); "" */
	uint32_t line;         /* 1-based; 0 unknown */
	const char *module;    /* native: full path of the module; "" if none */
	uint64_t ip;           /* native: the instruction pointer; 0 otherwise */
	uint64_t module_offset;/* native with a module: ip - load_bias */
};

/* ---- stacks ------------------------------------------------------------ */

/* One stack of the trace (by stack id; distinct ids may symbolize to the
 * same names: renderers that key by name merge them). Byte figures are
 * sums of sample weights (estimated bytes); counts are samples. */
struct pt_mstack {
	uint32_t id;           /* the trace's stack id; 0 = "no stack captured" */
	uint8_t defined;       /* 1 if its STACK record was seen */
	uint32_t nframes;      /* >= 1 (a lost stack is one "[unknown]" frame) */
	const uint32_t *frames;/* nframes indices into model->frames, INNERMOST first */
	uint32_t site;         /* index into model->sites */
	uint64_t peak_bytes;   /* live at the peak */
	uint64_t peak_count;
	uint64_t end_bytes;    /* live at the end of the trace */
	uint64_t end_count;
	uint64_t alloc_bytes;  /* all allocations of the run (pprof alloc_space) */
	uint64_t alloc_count;
};

/* A site: the frame allocations are attributed to in the top table, the
 * innermost PYTHON frame of a stack when it has one (the line of the job
 * that allocated; the interpreter's own C frames below it are the same
 * for every site), else its innermost frame. */
struct pt_msite {
	uint32_t frame;        /* index into model->frames */
	uint64_t peak_bytes;   /* live at the peak, sum over its stacks */
	uint64_t peak_count;
	uint64_t alloc_bytes;
	uint64_t alloc_count;
};

struct pt_mthread {
	uint32_t tid;
	const char *name;      /* last THREAD name; "" when none was recorded */
	uint64_t peak_bytes;   /* live at the peak, allocated by this thread */
	uint64_t peak_count;
	uint64_t alloc_bytes;
	uint64_t alloc_count;
};

struct pt_mmodule {
	uint32_t id;
	const char *path;
	uint64_t load_bias, start, end; /* [start, end) runtime addresses */
	char build_id[2 * PT_FMT_MAX_BUILD_ID + 1]; /* lower-case hex; "" if none */
};

/* ---- series ------------------------------------------------------------ */

/* One point of the memory-over-time series: stride TICKs merged. */
struct pt_mpoint {
	uint64_t t_ns;         /* since start: the time of the TICK with the
				  highest heap_bytes within the point */
	uint64_t heap_bytes;   /* max over the merged TICKs */
	uint64_t mapped_bytes; /* max over the merged TICKs */
	uint64_t peak_bytes;   /* max over the merged TICKs */
};

/* ---- the model ------------------------------------------------------------ */

enum pt_peak_source {
	PT_PEAK_SRC_NONE = 0,     /* no peak known (no allocation at all) */
	PT_PEAK_SRC_RECORD = 1,   /* the last PEAK record (the normal case) */
	PT_PEAK_SRC_END = 2,      /* END's peak (no PEAK record), live set from
				     the highest sampled live total */
	PT_PEAK_SRC_LIVE_MAX = 3, /* neither: the moment of the highest sampled
				     live total (a cut trace) */
};

struct pt_model {
	/* facts (HEADER); have_header 0 = the header's chunk was lost */
	int have_header;
	uint32_t pid, ppid;
	uint32_t mode;             /* enum pt_mode */
	uint64_t sample_bytes;     /* mean sampling interval; 0 in exact mode */
	uint64_t page_size;
	uint64_t start_unix_ns;    /* wall clock at start */
	const char *python_version;/* "" for a native program */
	const char *cmdline;
	const char *exe;

	/* end: duration is END.t_ns, else the latest t_ns seen (TICK, PEAK) */
	int ended;                 /* 1 if an END record was seen */
	uint64_t duration_ns;
	uint64_t total_allocs;     /* END's; 0 without END */
	uint64_t total_alloc_bytes;/* END's; 0 without END */
	uint64_t sampled_allocs;   /* ALLOC records */
	uint64_t sampled_alloc_bytes; /* sum of their weights (estimated bytes) */
	uint64_t drops;            /* events lost (highest DROPS.total) */

	/* kill-switch trips: reasons kept (at most PT_MODEL_MAX_NOTES) */
	size_t ntrips;             /* TRIP records seen */
	size_t ntrip_reasons;
	const char **trip_reasons;

	/* warnings: the decoder's (truncation, bad chunks, unknown records)
	 * then the model's own ("allocation with undefined stack 7", ...) */
	size_t nwarnings;
	const char **warnings;
	uint64_t warnings_total;   /* including ones not kept */
	int truncated;             /* the file ends inside a chunk */
	uint64_t chunks_read, chunks_skipped;

	/* the peak */
	int peak_source;           /* enum pt_peak_source */
	uint64_t peak_bytes;       /* exact heap bytes at the peak (PEAK/END);
				      with LIVE_MAX the sampled estimate */
	uint64_t peak_t_ns;        /* since start */
	uint64_t peak_live_bytes;  /* sampled live set at the peak: sum of weights */
	uint64_t peak_live_count;  /* its samples */

	/* memory over time */
	size_t npoints;            /* <= PT_MODEL_MAX_POINTS */
	const struct pt_mpoint *points; /* in file order */
	uint64_t ticks;            /* TICK records seen */
	uint64_t ticks_per_point;  /* merge stride, a power of two */

	size_t nframes;
	const struct pt_mframe *frames;
	size_t nstacks;
	const struct pt_mstack *stacks;  /* ordered by stack id */
	size_t nsites;
	const struct pt_msite *sites;    /* by peak_bytes desc, then alloc_bytes
					    desc, then name */
	size_t nthreads;
	const struct pt_mthread *threads;/* by peak_bytes desc, then tid */
	size_t nmodules;
	const struct pt_mmodule *modules;/* by start address */
};

struct pt_model_opts {
	int no_symbolize;          /* 1: native frames as module+0xOFF / 0xADDR
				      (fuzzers, tests); 0: read the ELF files */
	uint64_t progress_total;   /* file size in bytes: with stderr a terminal
				      and at least 64 MiB, progress is shown on
				      stderr while reading; 0: none */
};

/* Loads the trace at path ("-": standard input, read to its end and left
 * open, as `peaktrace decode -` does). Returns 0, or a negative errno with one line in
 * err (no "peaktrace: " prefix, no path), the decoder's open error (see
 * pt_dec_open: -ENOENT "No such file or directory", -EPROTO "not a
 * peaktrace trace (bad magic)", ...), -ENOMEM "out of memory", or a read
 * error. A cut or partly corrupt trace is NOT an error: it loads, with
 * warnings. */
int pt_model_load(const char *path, struct pt_model **out, char *err,
		  size_t errlen);

/* The same with options (opts may be NULL). */
int pt_model_load_opts(const char *path, const struct pt_model_opts *opts,
		       struct pt_model **out, char *err, size_t errlen);

/* Builds a model from an open decoder (which stays the caller's: it is
 * read to its end but not closed). Same returns as pt_model_load. */
int pt_model_build(struct pt_dec *d, const struct pt_model_opts *opts,
		   struct pt_model **out, char *err, size_t errlen);

/* Frees the model and everything in it. NULL is fine. */
void pt_model_free(struct pt_model *m);

/* "peak 1.2 GiB at 3.4 s, top: load_data (job.py:42) 61%": one line, no
 * newline, for `peaktrace run`'s stderr. Returns the length it needed (as
 * snprintf; the text is cut to cap - 1) or a negative errno. */
int pt_report_summary_line(const struct pt_model *m, char *buf, size_t cap);

/* Human units, "1.2 GiB", "512 B" (1024-based). Returns buf. */
char *pt_fmt_bytes(uint64_t bytes, char *buf, size_t cap);

#endif
