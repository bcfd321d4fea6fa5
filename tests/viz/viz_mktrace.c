/*
 * viz_mktrace.c: writes the traces the visual renderers are tested on.
 *
 *   viz_mktrace clean OUT.ptrace     a realistic Python ETL job
 *   viz_mktrace hostile OUT.ptrace   hostile frame names, drops, a trip,
 *                                    a corrupt chunk and a cut tail
 *
 * The records go through the real encoder (core/encoder.h, via
 * tests/unit/tracebuf.h). Native frames are real addresses in this
 * process: malloc, calloc, realloc and strdup (in libc, or in a
 * sanitizer's runtime), and the three "extension" functions below in this
 * executable, with MODULE records for every loaded object taken from
 * dl_iterate_phdr, so the reporter's symbolizer resolves them
 * to names when it reads the trace on this machine, as it would for a
 * real run.
 *
 * The clean trace's known answers (tests/viz/viz.py relies on them):
 * the PEAK record is 1,237,319,680 bytes at 8.62 s; the live set at the
 * peak is 2,360 samples of 512 KiB (1,237,319,680 bytes) of which
 * tokenizer_make_room's stack holds 1,240 (650,117,120 bytes).
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/tracebuf.h"

#define W 524288ull /* sampling interval and weight, bytes */

/* Stand-ins for a C extension's functions: real code, real symbols. */
__attribute__((noinline)) void tokenizer_make_room(volatile int *x);
__attribute__((noinline)) void parse_rows_c(volatile int *x);
__attribute__((noinline)) void np_array_new(volatile int *x);
void tokenizer_make_room(volatile int *x) { for (int i = 0; i < 8; i++) *x += i; }
void parse_rows_c(volatile int *x) { for (int i = 0; i < 8; i++) *x ^= i; }
void np_array_new(volatile int *x) { for (int i = 0; i < 8; i++) *x -= i; }

struct mod {
	char path[4096];
	uint64_t bias, start, end;
};

#define MAX_MODS 256
static struct mod mods[MAX_MODS];
static int nmods;

/* Every loaded object, as the runtime records them: the main program
 * (empty name) by /proc/self/exe, the vDSO skipped. */
static int phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	const char *name = info->dlpi_name ? info->dlpi_name : "";
	struct mod *m;

	(void)size;
	(void)arg;
	if (nmods >= MAX_MODS || strstr(name, "linux-vdso") ||
	    (name[0] == '\0' && nmods > 0))
		return 0;
	m = &mods[nmods];
	m->bias = info->dlpi_addr;
	m->start = UINT64_MAX;
	m->end = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		if (info->dlpi_addr + ph->p_vaddr < m->start)
			m->start = info->dlpi_addr + ph->p_vaddr;
		if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > m->end)
			m->end = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
	}
	if (m->start >= m->end)
		return 0;
	if (name[0]) {
		snprintf(m->path, sizeof m->path, "%s", name);
	} else {
		ssize_t n = readlink("/proc/self/exe", m->path,
				     sizeof m->path - 1);
		m->path[n > 0 ? n : 0] = '\0';
	}
	nmods++;
	return 0;
}

static void rec(struct tb *t, struct pt_rec r)
{
	if (tb_rec(t, &r) != 0) {
		fprintf(stderr, "viz_mktrace: cannot encode record type %u\n",
			r.type);
		exit(1);
	}
}

static uint32_t nstr = 0, npyf = 0, nstk = 0;

static uint32_t str(struct tb *t, const char *s)
{
	rec(t, tb_string(++nstr, s));
	return nstr;
}

static uint64_t pyf(struct tb *t, const char *fn, const char *file,
		    uint32_t line)
{
	struct pt_rec r = { .type = PT_REC_PYFRAME };
	uint32_t f = str(t, fn), fl = str(t, file);

	r.u.pyframe = (struct pt_rec_pyframe){ ++npyf, f, fl, line };
	rec(t, r);
	return PT_FRAME_PY(npyf);
}

static uint64_t nat(void *fn)
{
	return PT_FRAME_NATIVE((uint64_t)(uintptr_t)fn + 4);
}

static uint32_t stack(struct tb *t, const uint64_t *frames, uint32_t n)
{
	struct pt_rec r = { .type = PT_REC_STACK };

	r.u.stack.id = ++nstk;
	r.u.stack.n = n;
	r.u.stack.frames = frames;
	rec(t, r);
	return nstk;
}

static void modules(struct tb *t)
{
	struct pt_rec r = { .type = PT_REC_MODULE };

	dl_iterate_phdr(phdr_cb, NULL);
	for (int i = 0; i < nmods; i++) {
		r.u.module = (struct pt_rec_module){ (uint32_t)i + 1,
						     str(t, mods[i].path),
						     mods[i].bias,
						     mods[i].start, mods[i].end,
						     { "", 0 } };
		rec(t, r);
	}
}

static uint64_t next_addr = 0x7f3a00000000ull;

/* n sampled allocations of stack s by thread tid; returns the first
 * address (they are consecutive, W apart). */
static uint64_t allocs(struct tb *t, uint32_t tid, uint32_t s, unsigned n)
{
	uint64_t first = next_addr;

	for (unsigned i = 0; i < n; i++) {
		rec(t, tb_alloc(tid, next_addr, 4096 + (i * 7919) % 600000, W,
				s));
		next_addr += W;
	}
	return first;
}

static void frees(struct tb *t, uint64_t first, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		rec(t, tb_free_rec(first + i * W));
}

static void tick(struct tb *t, uint64_t t_ns, uint64_t heap, uint64_t mapped,
		 uint64_t peak)
{
	struct pt_rec r = { .type = PT_REC_TICK };

	r.u.tick = (struct pt_rec_tick){ t_ns, heap, mapped, peak };
	rec(t, r);
}

/* heap bytes at time s of the 14 s run: ramp to the peak at 8.62 s */
static double heap_at(double s)
{
	const double peak = 1237319680.0;

	if (s < 0.6)
		return 40e6 * s / 0.6;
	if (s < 8.62) {
		double u = (s - 0.6) / (8.62 - 0.6);
		/* a staircase of reads with a growing trend */
		return 40e6 + (peak - 40e6) * (0.85 * u + 0.15 * u * u) *
		       (0.97 + 0.03 * ((int)(s * 3) % 2));
	}
	if (s < 10.5)
		return peak - (peak - 420e6) * (s - 8.62) / (10.5 - 8.62);
	return 420e6 - 300e6 * (s - 10.5) / 3.5;
}

static void thread_name(struct tb *t, uint32_t tid, const char *name)
{
	struct pt_rec r = { .type = PT_REC_THREAD };

	r.u.thread.tid = tid;
	r.u.thread.name.p = name;
	r.u.thread.name.len = (uint32_t)strlen(name);
	rec(t, r);
}

static struct tb *clean(void)
{
	struct tb *t = tb_new(65536);
	struct pt_rec r;
	uint64_t modl, mainf, run, load, rcsv, rd, crd, bidx, dcomp, agg, gsum,
		 lcomp, cfg, jl, topq;
	uint32_t sA, sB, sC, sD, sE, sF, sG, sH;
	uint64_t aG;
	unsigned tn = 0;

	r = tb_header("python3 etl_job.py --input data/events-2024.csv "
		      "--rows 5000000 --out out/daily.parquet");
	r.u.header.pid = 31337;
	r.u.header.ppid = 31330;
	r.u.header.python_version.p = "3.12.1";
	r.u.header.python_version.len = 6;
	rec(t, r);
	modules(t);
	thread_name(t, 31337, "MainThread");
	thread_name(t, 31341, "ThreadPoolExecutor-0_0");

	modl = pyf(t, "<module>", "etl_job.py", 132);
	mainf = pyf(t, "main", "etl_job.py", 118);
	run = pyf(t, "run_pipeline", "etl_job.py", 96);
	load = pyf(t, "load_events", "etl_job.py", 42);
	rcsv = pyf(t, "read_csv", "pandas/io/parsers/readers.py", 1026);
	rd = pyf(t, "_read", "pandas/io/parsers/readers.py", 626);
	crd = pyf(t, "read", "pandas/io/parsers/c_parser_wrapper.py", 234);
	bidx = pyf(t, "build_index", "etl_job.py", 57);
	dcomp = pyf(t, "<dictcomp>", "etl_job.py", 59);
	agg = pyf(t, "aggregate", "etl_job.py", 80);
	gsum = pyf(t, "groupby_sum", "etl_job.py", 86);
	lcomp = pyf(t, "<listcomp>", "etl_job.py", 47);
	cfg = pyf(t, "load_config", "etl_job.py", 21);
	jl = pyf(t, "loads", "json/__init__.py", 346);
	topq = pyf(t, "top_customers", "etl_job.py", 101);

	/* A: the CSV tokenizer's buffers, the biggest site */
	{
		uint64_t s[] = { nat(malloc), nat(tokenizer_make_room),
				 nat(parse_rows_c), crd, rd, rcsv, load, run,
				 mainf, modl };
		sA = stack(t, s, 10);
	}
	/* B: the index built from a dict comprehension */
	{
		uint64_t s[] = { nat(malloc), nat(np_array_new), dcomp, bidx,
				 run, mainf, modl };
		sB = stack(t, s, 7);
	}
	/* C: group-by in a worker thread, realloc'd */
	{
		uint64_t s[] = { nat(realloc), nat(np_array_new), gsum, agg,
				 run, mainf, modl };
		sC = stack(t, s, 7);
	}
	/* D: calloc'd result arrays */
	{
		uint64_t s[] = { nat(calloc), nat(np_array_new), gsum, agg, run,
				 mainf, modl };
		sD = stack(t, s, 7);
	}
	/* E: a list comprehension (pymalloc, no native frame) */
	{
		uint64_t s[] = { lcomp, load, run, mainf, modl };
		sE = stack(t, s, 5);
	}
	/* F: strings duplicated by the tokenizer */
	{
		uint64_t s[] = { nat(strdup), nat(parse_rows_c), crd, rd, rcsv,
				 load, run, mainf, modl };
		sF = stack(t, s, 9);
	}
	/* G: the config, parsed early and freed before the peak */
	{
		uint64_t s[] = { nat(malloc), jl, cfg, mainf, modl };
		sG = stack(t, s, 5);
	}
	/* H: the top-customers query, after the peak */
	{
		uint64_t s[] = { nat(malloc), nat(np_array_new), topq, run,
				 mainf, modl };
		sH = stack(t, s, 6);
	}
	tb_flush(t);

	/* the run: 280 ticks over 14 s, allocations interleaved */
	aG = allocs(t, 31337, sG, 60);
	for (; tn < 12; tn++)
		tick(t, tn * 50000000ull, (uint64_t)heap_at(tn * 0.05),
		     48u << 20, (uint64_t)heap_at(tn * 0.05));
	frees(t, aG, 60);
	allocs(t, 31337, sA, 1240);
	allocs(t, 31337, sE, 80);
	allocs(t, 31337, sF, 20);
	for (; tn < 90; tn++)
		tick(t, tn * 50000000ull, (uint64_t)heap_at(tn * 0.05),
		     (48u << 20) + tn * (1u << 18),
		     (uint64_t)heap_at(tn * 0.05));
	tb_flush(t);
	allocs(t, 31337, sB, 360);
	for (; tn < 140; tn++)
		tick(t, tn * 50000000ull, (uint64_t)heap_at(tn * 0.05),
		     (48u << 20) + tn * (1u << 18),
		     (uint64_t)heap_at(tn * 0.05));
	allocs(t, 31341, sC, 480);
	allocs(t, 31341, sD, 180);
	for (; tn < 172; tn++)
		tick(t, tn * 50000000ull, (uint64_t)heap_at(tn * 0.05),
		     (48u << 20) + tn * (1u << 18),
		     (uint64_t)heap_at(tn * 0.05));
	tick(t, 8620000000ull, 1237319680ull, (48u << 20) + 172 * (1u << 18),
	     1237319680ull);
	r = (struct pt_rec){ .type = PT_REC_PEAK };
	r.u.peak.t_ns = 8620000000ull;
	r.u.peak.bytes = 1237319680ull;
	rec(t, r);
	tb_flush(t);
	/* after the peak: the tokenizer's buffers go, a query runs */
	frees(t, 0x7f3a00000000ull + 60 * W, 1240);
	allocs(t, 31337, sH, 200);
	for (tn = 173; tn < 280; tn++)
		tick(t, tn * 50000000ull, (uint64_t)heap_at(tn * 0.05),
		     (48u << 20) + 172 * (1u << 18),
		     1237319680ull);
	r = tb_end(14000000000ull, 1237319680ull);
	r.u.end.peak_t_ns = 8620000000ull;
	r.u.end.total_allocs = 48512331;
	r.u.end.total_alloc_bytes = 9987654321ull;
	rec(t, r);
	tb_flush(t);
	return t;
}

/* Hostile names, every warning the banner knows. */
static struct tb *hostile(void)
{
	static const char *const names[] = {
		"</script><img src=x onerror=alert(1)>",
		"\"quoted\" & 'apos' <b>bold</b> <!-- comment",
		"bad\xff\xfe utf8 \xc0\xaf overlong",
		"donn\xc3\xa9" "es_\xcf\x80_\xe4\xb8\x96\xe7\x95\x8c",
		"multi\nline;semi\tcolon ]]> end",
		"sep\xe2\x80\xa8line\xe2\x80\xa9para \\ back",
	};
	struct tb *t = tb_new(4096);
	struct pt_rec r;
	uint64_t modl, frames[8];
	uint32_t s[6];

	r = tb_header("python3 <script>alert('cmd')</script>.py");
	rec(t, r);
	modl = pyf(t, "<module>", "evil.py", 1);
	for (int i = 0; i < 6; i++) {
		frames[0] = pyf(t, names[i], "evil\"dir/<x>.py", 10 + i);
		frames[1] = modl;
		s[i] = stack(t, frames, 2);
	}
	tb_flush(t);
	for (int i = 0; i < 6; i++)
		allocs(t, 7, s[i], 20 + 10 * i);
	tick(t, 1000000, 300u << 20, 1u << 20, 300u << 20);
	r = (struct pt_rec){ .type = PT_REC_PEAK };
	r.u.peak.t_ns = 1000000;
	r.u.peak.bytes = 300u << 20;
	rec(t, r);
	r = (struct pt_rec){ .type = PT_REC_DROPS };
	r.u.drops.total = 1234;
	rec(t, r);
	r = (struct pt_rec){ .type = PT_REC_TRIP };
	r.u.trip.reason.p = "guard: fault in stack walk </script><b>x</b>";
	r.u.trip.reason.len = (uint32_t)strlen(r.u.trip.reason.p);
	rec(t, r);
	tb_flush(t);
	/* a chunk that will be corrupted, then one cut short */
	tick(t, 2000000, 200u << 20, 1u << 20, 300u << 20);
	tb_flush(t);
	tick(t, 3000000, 100u << 20, 1u << 20, 300u << 20);
	tb_flush(t);
	t->data[t->chunk_end[t->nchunks - 2] - 3] ^= 0x5a; /* bad checksum */
	t->len -= 5;                                       /* cut the tail */
	return t;
}

int main(int argc, char **argv)
{
	struct tb *t;
	FILE *f;

	if (argc != 3 || (strcmp(argv[1], "clean") && strcmp(argv[1], "hostile"))) {
		fprintf(stderr, "usage: viz_mktrace clean|hostile OUT.ptrace\n");
		return 1;
	}
	t = strcmp(argv[1], "clean") == 0 ? clean() : hostile();
	f = fopen(argv[2], "wb");
	if (!f || fwrite(t->data, 1, t->len, f) != t->len || fclose(f)) {
		fprintf(stderr, "viz_mktrace: cannot write '%s': %s\n", argv[2],
			strerror(errno));
		return 1;
	}
	tb_free(t);
	return 0;
}
