/*
 * test_model.c: the run model (report/model.h) from traces built with the
 * real encoder: the live set at the LAST peak (later allocations not
 * counted, earlier frees removing samples, replaced addresses), weights
 * summed, thread attribution, allocation totals, the series capped with
 * its maximum kept, a cut trace still giving a model with a warning, the
 * fallback without a PEAK record, lost definitions as [unknown], and the
 * summary line of `peaktrace run`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "reptest.h"

static const uint64_t f_py1[] = { PT_FRAME_PY(1) };
static const uint64_t f_py2[] = { PT_FRAME_PY(2) };

/* strings 1..4, pyframes 1 (load_data job.py:42), 2 (parse job.py:7),
 * stacks 1 and 2 */
static struct tb *trace_with_defs(void)
{
	struct tb *t = tb_new(1 << 16);

	rt_header(t);
	rt_string(t, 1, "load_data");
	rt_string(t, 2, "job.py");
	rt_string(t, 3, "parse");
	rt_pyframe(t, 1, 1, 2, 42);
	rt_pyframe(t, 2, 3, 2, 7);
	rt_stack(t, 1, f_py1, 1);
	rt_stack(t, 2, f_py2, 1);
	return t;
}

static void live_set_is_taken_at_the_last_peak(void **state)
{
	struct tb *t = trace_with_defs();
	(void)state;

	rt_alloc(t, 11, 0x1000, 100, 1);
	rt_alloc(t, 12, 0x2000, 200, 2);
	rt_peak(t, 10, 300);                 /* an earlier peak */
	rt_free(t, 0x1000);                  /* freed before the last peak */
	tb_flush(t);                         /* across chunks */
	rt_alloc(t, 11, 0x3000, 400, 1);
	rt_peak(t, 20, 600);                 /* the last peak */
	rt_alloc(t, 12, 0x4000, 1000, 2);    /* after it: not counted */
	rt_free(t, 0x3000);                  /* after it: still counted */
	rt_alloc(t, 11, 0x2000, 7, 1);       /* replaces 0x2000 after it */
	rt_end(t, 50, 600, 20);
	tb_flush(t);

	struct pt_model *m = rt_load(t, 0);
	const struct pt_mstack *s1 = rt_stack_by_id(m, 1);
	const struct pt_mstack *s2 = rt_stack_by_id(m, 2);

	assert_int_equal(m->peak_source, PT_PEAK_SRC_RECORD);
	assert_int_equal(m->peak_bytes, 600);
	assert_int_equal(m->peak_t_ns, 20);
	assert_int_equal(m->peak_live_bytes, 600);
	assert_int_equal(m->peak_live_count, 2);
	assert_non_null(s1);
	assert_non_null(s2);
	assert_int_equal(s1->peak_bytes, 400);
	assert_int_equal(s1->peak_count, 1);
	assert_int_equal(s2->peak_bytes, 200);
	assert_int_equal(s2->peak_count, 1);
	/* the end state: 0x2000 now holds 7 bytes of stack 1 */
	assert_int_equal(s1->end_bytes, 7);
	assert_int_equal(s2->end_bytes, 1000);
	/* totals over the run */
	assert_int_equal(s1->alloc_bytes, 100 + 400 + 7);
	assert_int_equal(s1->alloc_count, 3);
	assert_int_equal(s2->alloc_bytes, 200 + 1000);
	assert_int_equal(s2->alloc_count, 2);
	assert_int_equal(m->sampled_allocs, 5);
	/* threads at the peak */
	assert_int_equal(rt_thread_by_tid(m, 11)->peak_bytes, 400);
	assert_int_equal(rt_thread_by_tid(m, 12)->peak_bytes, 200);
	assert_int_equal(rt_thread_by_tid(m, 12)->alloc_bytes, 1200);
	/* facts */
	assert_true(m->have_header);
	assert_int_equal(m->pid, 4242);
	assert_string_equal(m->cmdline, "python3 job.py");
	assert_string_equal(m->python_version, "3.12.1");
	assert_true(m->ended);
	assert_int_equal(m->duration_ns, 50);
	/* sites: innermost Python frame, sorted by bytes at the peak */
	assert_int_equal(m->nsites, 2);
	assert_string_equal(m->frames[m->sites[0].frame].name,
			    "load_data (job.py:42)");
	assert_int_equal(m->sites[0].peak_bytes, 400);
	assert_string_equal(m->frames[m->sites[1].frame].name,
			    "parse (job.py:7)");
	assert_int_equal(m->frames[s1->site == 0 ? m->sites[0].frame
						 : m->sites[1].frame]
				 .kind,
			 PT_FRAME_KIND_PYTHON);
	assert_int_equal(s1->site, 0);
	assert_int_equal(s2->site, 1);
	assert_int_equal(m->nwarnings, 0);
	pt_model_free(m);
	tb_free(t);
}

static void replaced_address_and_unknown_free_before_the_peak(void **state)
{
	struct tb *t = trace_with_defs();
	(void)state;

	rt_alloc(t, 1, 0x1000, 100, 1);
	rt_alloc(t, 1, 0x1000, 50, 2);  /* same address: replaces */
	rt_free(t, 0x9999);             /* unknown: ignored */
	rt_alloc(t, 1, 0x5000, 30, 2);
	rt_alloc(t, 1, 0x6000, 20, 2);  /* weights of one stack add up */
	rt_peak(t, 5, 100);
	rt_end(t, 9, 100, 5);
	tb_flush(t);

	struct pt_model *m = rt_load(t, 0);

	assert_int_equal(rt_stack_by_id(m, 1)->peak_bytes, 0);
	assert_int_equal(rt_stack_by_id(m, 1)->alloc_bytes, 100);
	assert_int_equal(rt_stack_by_id(m, 2)->peak_bytes, 100);
	assert_int_equal(rt_stack_by_id(m, 2)->peak_count, 3);
	assert_int_equal(m->peak_live_bytes, 100);
	assert_int_equal(m->peak_live_count, 3);
	pt_model_free(m);
	tb_free(t);
}

static void thread_names_and_attribution(void **state)
{
	struct tb *t = trace_with_defs();
	(void)state;

	rt_thread(t, 7, "worker-old");
	rt_thread(t, 7, "worker");       /* the latest name wins */
	rt_thread(t, 8, "loader");
	rt_alloc(t, 7, 0x1000, 100, 1);
	rt_alloc(t, 8, 0x2000, 300, 1);
	rt_alloc(t, 8, 0x3000, 50, 2);
	rt_free(t, 0x1000);
	rt_alloc(t, 7, 0x4000, 10, 2);
	rt_peak(t, 5, 360);
	tb_flush(t);

	struct pt_model *m = rt_load(t, 0);

	assert_int_equal(m->nthreads, 2);
	/* sorted by bytes at the peak */
	assert_int_equal(m->threads[0].tid, 8);
	assert_string_equal(m->threads[0].name, "loader");
	assert_int_equal(m->threads[0].peak_bytes, 350);
	assert_int_equal(m->threads[0].peak_count, 2);
	assert_int_equal(m->threads[1].tid, 7);
	assert_string_equal(m->threads[1].name, "worker");
	assert_int_equal(m->threads[1].peak_bytes, 10);
	assert_int_equal(m->threads[1].alloc_bytes, 110);
	pt_model_free(m);
	tb_free(t);
}

static void series_is_capped_and_keeps_the_maximum(void **state)
{
	struct tb *t = tb_new(1 << 16);
	const uint64_t n = 3 * PT_MODEL_MAX_POINTS + 123;
	const uint64_t spike_at = 5000;
	(void)state;

	rt_header(t);
	for (uint64_t i = 0; i < n; i++)
		rt_tick(t, i * 1000, i == spike_at ? 999999 : 1000 + i % 7);
	tb_flush(t);

	struct pt_model *m = rt_load(t, 0);
	uint64_t max = 0, max_t = 0, prev_t = 0;

	assert_int_equal(m->ticks, n);
	assert_true(m->npoints <= PT_MODEL_MAX_POINTS);
	assert_true(m->npoints >= PT_MODEL_MAX_POINTS / 2);
	assert_int_equal(m->ticks_per_point, 4);
	for (size_t i = 0; i < m->npoints; i++) {
		if (m->points[i].heap_bytes > max) {
			max = m->points[i].heap_bytes;
			max_t = m->points[i].t_ns;
		}
		assert_true(i == 0 || m->points[i].t_ns > prev_t);
		prev_t = m->points[i].t_ns;
	}
	assert_int_equal(max, 999999);
	assert_int_equal(max_t, spike_at * 1000);
	/* the last tick is in the series: no TICK lost at the end */
	assert_int_equal(m->duration_ns, (n - 1) * 1000);
	pt_model_free(m);
	tb_free(t);
}

static void short_series_is_kept_whole(void **state)
{
	struct tb *t = tb_new(1 << 16);
	(void)state;

	rt_header(t);
	for (uint64_t i = 0; i < 10; i++)
		rt_tick(t, i, 100 * i);
	tb_flush(t);

	struct pt_model *m = rt_load(t, 0);

	assert_int_equal(m->npoints, 10);
	assert_int_equal(m->ticks_per_point, 1);
	for (size_t i = 0; i < 10; i++) {
		assert_int_equal(m->points[i].t_ns, i);
		assert_int_equal(m->points[i].heap_bytes, 100 * i);
		assert_int_equal(m->points[i].mapped_bytes, 50 * i);
	}
	pt_model_free(m);
	tb_free(t);
}

static void truncated_trace_gives_a_model_with_a_warning(void **state)
{
	struct tb *t = trace_with_defs();
	(void)state;

	rt_alloc(t, 1, 0x1000, 100, 1);
	rt_peak(t, 5, 100);
	tb_flush(t);
	rt_alloc(t, 1, 0x2000, 5000, 2);
	rt_peak(t, 9, 5100);
	rt_end(t, 10, 5100, 9);
	tb_flush(t);

	/* cut inside the last chunk */
	size_t cut = t->chunk_end[t->nchunks - 1] - 3;
	struct pt_model *m = rt_load_len(t, cut, 0);

	assert_true(m->truncated);
	assert_true(rt_has_warning(m, "truncated"));
	assert_false(m->ended);
	assert_int_equal(m->peak_source, PT_PEAK_SRC_RECORD);
	assert_int_equal(m->peak_bytes, 100);
	assert_int_equal(rt_stack_by_id(m, 1)->peak_bytes, 100);
	assert_string_equal(m->frames[m->sites[0].frame].name,
			    "load_data (job.py:42)");
	pt_model_free(m);
	tb_free(t);
}

static void without_peak_record_the_highest_live_total_is_used(void **state)
{
	struct tb *t = trace_with_defs();
	(void)state;

	rt_alloc(t, 1, 0x1000, 100, 1);
	rt_alloc(t, 1, 0x2000, 300, 2);   /* live 400: the high */
	rt_free(t, 0x2000);
	rt_alloc(t, 1, 0x3000, 250, 1);   /* live 350 */
	tb_flush(t);

	struct pt_model *m = rt_load(t, 0);

	assert_int_equal(m->peak_source, PT_PEAK_SRC_LIVE_MAX);
	assert_int_equal(m->peak_bytes, 400);
	assert_int_equal(m->peak_live_bytes, 400);
	assert_int_equal(rt_stack_by_id(m, 1)->peak_bytes, 100);
	assert_int_equal(rt_stack_by_id(m, 2)->peak_bytes, 300);
	assert_int_equal(rt_stack_by_id(m, 1)->end_bytes, 350);
	assert_true(rt_has_warning(m, "no peak record"));
	pt_model_free(m);
	tb_free(t);
}

static void end_record_gives_the_peak_when_peak_records_are_lost(void **state)
{
	struct tb *t = trace_with_defs();
	(void)state;

	rt_alloc(t, 1, 0x1000, 100, 1);
	rt_alloc(t, 1, 0x2000, 300, 2);
	rt_free(t, 0x1000);
	rt_end(t, 77, 123456, 33);
	tb_flush(t);

	struct pt_model *m = rt_load(t, 0);

	assert_int_equal(m->peak_source, PT_PEAK_SRC_END);
	assert_int_equal(m->peak_bytes, 123456);
	assert_int_equal(m->peak_t_ns, 33);
	assert_int_equal(rt_stack_by_id(m, 1)->peak_bytes, 100);
	assert_int_equal(rt_stack_by_id(m, 2)->peak_bytes, 300);
	pt_model_free(m);
	tb_free(t);
}

static void lost_definitions_become_unknown(void **state)
{
	static const uint64_t f[] = { PT_FRAME_PY(9), PT_FRAME_PY(1) };
	struct tb *t = trace_with_defs();
	(void)state;

	rt_stack(t, 3, f, 2);               /* pyframe 9 never defined */
	rt_alloc(t, 1, 0x1000, 100, 3);
	rt_alloc(t, 1, 0x2000, 200, 77);    /* stack 77 never defined */
	rt_alloc(t, 1, 0x3000, 300, 0);     /* no stack captured */
	rt_peak(t, 1, 600);
	tb_flush(t);

	struct pt_model *m = rt_load(t, 0);
	const struct pt_mstack *s3 = rt_stack_by_id(m, 3);
	const struct pt_mstack *s77 = rt_stack_by_id(m, 77);
	const struct pt_mstack *s0 = rt_stack_by_id(m, 0);

	assert_int_equal(s3->nframes, 2);
	assert_string_equal(m->frames[s3->frames[0]].name, "[unknown]");
	assert_string_equal(m->frames[s3->frames[1]].name,
			    "load_data (job.py:42)");
	assert_false(s77->defined);
	assert_int_equal(s77->nframes, 1);
	assert_string_equal(m->frames[s77->frames[0]].name, "[unknown]");
	assert_int_equal(s77->peak_bytes, 200);
	assert_int_equal(s0->nframes, 1);
	assert_int_equal(m->frames[s0->frames[0]].kind, PT_FRAME_KIND_UNKNOWN);
	assert_true(rt_has_warning(m, "definition was lost"));
	pt_model_free(m);
	tb_free(t);
}

static void header_lost_and_empty_trace(void **state)
{
	struct tb *t = tb_new(4096);
	(void)state;

	tb_flush(t); /* one empty chunk, nothing else */
	struct pt_model *m = rt_load(t, 0);
	char line[128];

	assert_false(m->have_header);
	assert_string_equal(m->cmdline, "");
	assert_int_equal(m->peak_source, PT_PEAK_SRC_NONE);
	assert_int_equal(m->nstacks, 0);
	assert_true(rt_has_warning(m, "header lost"));
	assert_true(pt_report_summary_line(m, line, sizeof line) > 0);
	assert_string_equal(line, "no allocations recorded");
	pt_model_free(m);
	tb_free(t);
}

static void summary_line_names_the_top_site(void **state)
{
	struct tb *t = trace_with_defs();
	char line[256], small[16];
	(void)state;

	rt_alloc(t, 1, 0x1000, 61ull << 20, 1);
	rt_alloc(t, 1, 0x2000, 39ull << 20, 2);
	rt_peak(t, 3400000000ull, 100ull << 20);
	tb_flush(t);

	struct pt_model *m = rt_load(t, 0);
	int n = pt_report_summary_line(m, line, sizeof line);

	assert_string_equal(line, "peak 100 MiB at 3.4 s, top: "
				  "load_data (job.py:42) 61%");
	assert_int_equal(n, (int)strlen(line));
	/* cut to the buffer, still NUL-terminated, length still reported */
	assert_int_equal(pt_report_summary_line(m, small, sizeof small), n);
	assert_int_equal(strlen(small), sizeof small - 1);
	pt_model_free(m);
	tb_free(t);
}

/* The top site's share is of the whole peak: bytes no sample explains
 * (allocated before the profiler started) are part of it. */
static void summary_share_is_of_the_peak(void **state)
{
	struct tb *t = trace_with_defs();
	char line[256];
	(void)state;

	rt_alloc(t, 1, 0x1000, 20ull << 20, 1);
	rt_peak(t, 1000000000ull, 100ull << 20);
	tb_flush(t);

	struct pt_model *m = rt_load(t, 0);
	assert_true(pt_report_summary_line(m, line, sizeof line) > 0);
	assert_string_equal(line, "peak 100 MiB at 1.0 s, top: "
				  "load_data (job.py:42) 20%");
	pt_model_free(m);
	tb_free(t);
}

/* The summary is one line on stderr whatever the program named its
 * functions and files. */
static void summary_line_is_one_line(void **state)
{
	struct tb *t = tb_new(1 << 16);
	char line[256];
	(void)state;

	rt_header(t);
	rt_string(t, 1, "new\nline");
	rt_string(t, 2, "/tmp/nl\r\tx.py");
	rt_pyframe(t, 1, 1, 2, 2);
	rt_stack(t, 1, f_py1, 1);
	rt_alloc(t, 1, 0x1000, 8ull << 20, 1);
	rt_peak(t, 1000, 8ull << 20);
	tb_flush(t);

	struct pt_model *m = rt_load(t, 0);
	assert_true(pt_report_summary_line(m, line, sizeof line) > 0);
	assert_string_equal(line, "peak 8.0 MiB at 0.0 s, top: "
				  "new line (/tmp/nl  x.py:2) 100%");
	pt_model_free(m);
	tb_free(t);
}

static void fmt_bytes_units(void **state)
{
	char b[32];
	(void)state;

	assert_string_equal(pt_fmt_bytes(0, b, sizeof b), "0 B");
	assert_string_equal(pt_fmt_bytes(1023, b, sizeof b), "1023 B");
	assert_string_equal(pt_fmt_bytes(1024, b, sizeof b), "1.0 KiB");
	assert_string_equal(pt_fmt_bytes(1288490189ull, b, sizeof b),
			    "1.2 GiB");
	assert_string_equal(pt_fmt_bytes(UINT64_MAX, b, sizeof b), "16 EiB");
}

static void unreadable_trace_is_an_error(void **state)
{
	struct pt_model *m = (struct pt_model *)1;
	char err[128];
	(void)state;

	assert_int_equal(pt_model_load("/nonexistent/x.ptrace", &m, err,
				       sizeof err),
			 -ENOENT);
	assert_null(m);
	assert_string_equal(err, "No such file or directory");
}

static void many_allocations_replay_exactly(void **state)
{
	/* the replay table against a naive model: addresses reused, freed,
	 * replaced, over many chunks; a PEAK in the middle */
	enum { N = 20000, SLOTS = 512 };
	static uint64_t naive_w[SLOTS];
	static uint32_t naive_s[SLOTS];
	uint64_t at_peak[3] = { 0 };
	struct tb *t = trace_with_defs();
	uint64_t x = 12345;
	(void)state;

	memset(naive_w, 0, sizeof naive_w);
	for (int i = 0; i < N; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		unsigned slot = (unsigned)(x >> 33) % SLOTS;
		uint64_t addr = 0x10000 + slot * 16;

		if ((x >> 20) % 3 == 0) {
			rt_free(t, addr);
			naive_w[slot] = 0;
		} else {
			uint32_t s = 1 + (uint32_t)((x >> 40) & 1);
			uint64_t w = 1 + ((x >> 45) % 1000);

			rt_alloc(t, 1, addr, w, s);
			naive_w[slot] = w;
			naive_s[slot] = s;
		}
		if (i == N / 2) {
			rt_peak(t, 1, 1);
			for (int k = 0; k < SLOTS; k++)
				if (naive_w[k])
					at_peak[naive_s[k]] += naive_w[k];
		}
	}
	tb_flush(t);

	struct pt_model *m = rt_load(t, 0);

	assert_int_equal(rt_stack_by_id(m, 1)->peak_bytes, at_peak[1]);
	assert_int_equal(rt_stack_by_id(m, 2)->peak_bytes, at_peak[2]);
	uint64_t end1 = 0, end2 = 0;
	for (int k = 0; k < SLOTS; k++) {
		if (naive_w[k] && naive_s[k] == 1)
			end1 += naive_w[k];
		if (naive_w[k] && naive_s[k] == 2)
			end2 += naive_w[k];
	}
	assert_int_equal(rt_stack_by_id(m, 1)->end_bytes, end1);
	assert_int_equal(rt_stack_by_id(m, 2)->end_bytes, end2);
	pt_model_free(m);
	tb_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(live_set_is_taken_at_the_last_peak),
		cmocka_unit_test(replaced_address_and_unknown_free_before_the_peak),
		cmocka_unit_test(thread_names_and_attribution),
		cmocka_unit_test(series_is_capped_and_keeps_the_maximum),
		cmocka_unit_test(short_series_is_kept_whole),
		cmocka_unit_test(truncated_trace_gives_a_model_with_a_warning),
		cmocka_unit_test(without_peak_record_the_highest_live_total_is_used),
		cmocka_unit_test(end_record_gives_the_peak_when_peak_records_are_lost),
		cmocka_unit_test(lost_definitions_become_unknown),
		cmocka_unit_test(header_lost_and_empty_trace),
		cmocka_unit_test(summary_line_names_the_top_site),
		cmocka_unit_test(summary_line_is_one_line),
		cmocka_unit_test(summary_share_is_of_the_peak),
		cmocka_unit_test(fmt_bytes_units),
		cmocka_unit_test(unreadable_trace_is_an_error),
		cmocka_unit_test(many_allocations_replay_exactly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
