/*
 * test_render.c: the text, collapsed and json renderers on models from
 * encoded traces: the collapsed output against a golden text (Python
 * frames, unresolved native frames as module+offset and 0xADDR, merged
 * stacks, sanitized names, zero stacks omitted, sorted), JSON that a real
 * parser accepts (python3's json module, when python3 is installed; its
 * structure checked in C too) whatever bytes the trace holds, and the text
 * summary showing warnings first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "reptest.h"

#define LIB_BIAS 0x7f0000000000ull

/*
 * main (job.py:50) -> load_data (job.py:42) -> libfoo.so+0x1234 -> 0x1000
 * (innermost first in the trace, outermost first in the output)
 */
static struct tb *golden_trace(void)
{
	static const uint64_t s1[] = {
		PT_FRAME_NATIVE(0x1000),                 /* no module */
		PT_FRAME_NATIVE(LIB_BIAS + 0x1234),      /* libfoo.so */
		PT_FRAME_PY(2), PT_FRAME_PY(1),
	};
	static const uint64_t s2[] = {
		/* the same frames under another stack id: merged with
		 * s1 in the collapsed output */
		PT_FRAME_NATIVE(0x1000),
		PT_FRAME_NATIVE(LIB_BIAS + 0x1234),
		PT_FRAME_PY(2), PT_FRAME_PY(1),
	};
	static const uint64_t s3[] = { PT_FRAME_PY(3), PT_FRAME_PY(1) };
	static const uint64_t s4[] = { PT_FRAME_PY(1) };
	struct tb *t = tb_new(1 << 16);

	rt_header(t);
	rt_string(t, 1, "main");
	rt_string(t, 2, "job.py");
	rt_string(t, 3, "load_data");
	rt_string(t, 4, "/nonexistent/lib/libfoo.so");
	rt_string(t, 5, "odd;name\nwith breaks");
	rt_pyframe(t, 1, 1, 2, 50);
	rt_pyframe(t, 2, 3, 2, 42);
	rt_pyframe(t, 3, 5, 2, 0);
	rt_module(t, 1, 4, LIB_BIAS, LIB_BIAS, LIB_BIAS + 0x100000);
	rt_stack(t, 1, s1, 4);
	rt_stack(t, 2, s2, 4);
	rt_stack(t, 3, s3, 2);
	rt_stack(t, 4, s4, 1);
	rt_alloc(t, 1, 0x10, 1000, 1);
	rt_alloc(t, 1, 0x20, 24, 2);
	rt_alloc(t, 1, 0x30, 500, 3);
	rt_alloc(t, 1, 0x40, 77, 4);
	rt_free(t, 0x40);            /* stack 4: 0 bytes at the peak */
	rt_alloc(t, 1, 0x50, 9, 99); /* stack 99: definition lost */
	rt_peak(t, 1000000, 1533);
	rt_end(t, 2000000, 1533, 1000000);
	tb_flush(t);
	return t;
}

static void collapsed_golden(void **state)
{
	struct tb *t = golden_trace();
	struct pt_model *m = rt_load(t, 1); /* symbolize: the file is missing */
	char *out = rt_render(m, pt_render_collapsed, NULL);
	(void)state;

	assert_string_equal(out,
		"[unknown] 9\n"
		"main (job.py:50);load_data (job.py:42);libfoo.so+0x1234;0x1000 1024\n"
		"main (job.py:50);odd:name with breaks (job.py) 500\n");
	assert_true(rt_has_warning(m, "cannot read symbols of "
				      "'/nonexistent/lib/libfoo.so'"));
	free(out);
	pt_model_free(m);
	tb_free(t);
}

static void collapsed_frame_helper_sanitizes(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	(void)state;

	assert_int_equal(pt_collapsed_put_frame(f, "a;b\nc\rd"), 0);
	fclose(f);
	assert_string_equal(buf, "a:b c d");
	free(buf);
}

static void collapsed_of_empty_model_is_empty(void **state)
{
	struct tb *t = tb_new(4096);
	(void)state;

	tb_flush(t);
	struct pt_model *m = rt_load(t, 0);
	char *out = rt_render(m, pt_render_collapsed, NULL);

	assert_string_equal(out, "");
	free(out);
	out = rt_render(m, pt_render_json, NULL);
	assert_non_null(strstr(out, "\"stacks\":[]"));
	free(out);
	out = rt_render(m, pt_render_text, NULL);
	assert_non_null(strstr(out, "no allocation recorded"));
	free(out);
	pt_model_free(m);
	tb_free(t);
}

/* Runs python3's json parser over the file; 0 if it parsed, 1 if not,
 * -1 if python3 is missing. */
static int python_parses(const char *path)
{
	char cmd[2048];
	int rc;

	if (system("python3 -c 'pass' >/dev/null 2>&1") != 0)
		return -1;
	snprintf(cmd, sizeof cmd,
		 "python3 -c 'import json,sys\n"
		 "d = json.load(open(sys.argv[1], encoding=\"utf-8\"))\n"
		 "assert d[\"schema\"] == \"peaktrace-report\"\n"
		 "assert d[\"peak\"][\"bytes\"] == 1533\n"
		 "names = [f[\"name\"] for f in d[\"frames\"]]\n"
		 "assert \"odd;name\\nwith breaks (job.py)\" in names, names\n"
		 "assert d[\"run\"][\"cmdline\"].startswith(\"py\\\"th\\ufffd\"), d[\"run\"]\n"
		 "s = [x for x in d[\"stacks\"] if x[\"id\"] == 1][0]\n"
		 "assert s[\"peak_bytes\"] == 1000\n"
		 "assert [d[\"frames\"][i][\"name\"] for i in s[\"frames\"]][0] == \"0x1000\"\n"
		 "assert d[\"sites\"][0][\"name\"] == \"load_data (job.py:42)\"\n"
		 "assert len(d[\"series\"][\"points\"]) == 2\n"
		 "' '%s'",
		 path);
	rc = system(cmd);
	return rc == 0 ? 0 : 1;
}

static void json_is_valid_for_hostile_strings(void **state)
{
	struct tb *t = tb_new(1 << 16);
	struct tb *g = golden_trace();
	(void)state;

	/* the golden trace's records behind a header with hostile bytes */
	rt_rec(t, tb_header("py\"th\xff\x01 \\ \xe2\x82 tab\t"));
	for (size_t i = 1; i < g->nlog; i++)
		rt_rec(t, g->log[i]);
	rt_tick(t, 10, 100);
	rt_tick(t, 20, 1533);
	rt_thread(t, 1, "w\xc3\x28rk");
	tb_flush(t);

	struct pt_model *m = rt_load(t, 0);
	struct pt_render_opts o = { .trace_path = "/tmp/x \"y\".ptrace" };
	char *out = rt_render(m, pt_render_json, &o);
	char path[] = "/tmp/pt_rep_json.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, out, strlen(out)), (ssize_t)strlen(out));
	close(fd);
	/* structure, checked here whatever python does */
	assert_true(out[0] == '{');
	assert_non_null(strstr(out, "\"schema\":\"peaktrace-report\""));
	assert_non_null(strstr(out, "\"cmdline\":\"py\\\"th\\ufffd\\u0001 "
				    "\\\\ \\ufffd\\ufffd tab\\t\""));
	assert_non_null(strstr(out, "\"name\":\"w\\ufffd(rk\""));
	assert_null(strchr(out, '\x01'));
	int rc = python_parses(path);
	if (rc < 0)
		print_message("python3 missing: JSON checked in C only\n");
	else
		assert_int_equal(rc, 0);
	unlink(path);
	free(out);
	pt_model_free(m);
	tb_free(t);
	tb_free(g);
}

static void json_top_limits_sites(void **state)
{
	struct tb *t = golden_trace();
	struct pt_model *m = rt_load(t, 0);
	struct pt_render_opts o = { .top = 1 };
	char *out = rt_render(m, pt_render_json, &o);
	const char *sites = strstr(out, "\"sites\":[");
	(void)state;

	assert_non_null(sites);
	assert_non_null(strstr(sites, "load_data (job.py:42)"));
	/* one site object only: the second would start with ",\n{" before
	 * the threads array */
	const char *thr = strstr(sites, "\"threads\":[");
	const char *second = strstr(sites, "},\n{");
	assert_true(second == NULL || second > thr);
	free(out);
	pt_model_free(m);
	tb_free(t);
}

static void text_shows_warnings_first_and_top_sites(void **state)
{
	struct tb *t = golden_trace();
	(void)state;

	/* add a trip and drops, then cut the trace inside a later chunk */
	struct pt_rec r = { .type = PT_REC_TRIP };
	r.u.trip.reason.p = "writer: disk full";
	r.u.trip.reason.len = (uint32_t)strlen("writer: disk full");
	rt_rec(t, r);
	r = (struct pt_rec){ .type = PT_REC_DROPS };
	r.u.drops.total = 42;
	rt_rec(t, r);
	tb_flush(t);
	rt_tick(t, 5, 5);
	tb_flush(t);

	struct pt_model *m = rt_load_len(t, t->len - 2, 0);
	struct pt_render_opts o = { .top = 2, .trace_path = "x.ptrace" };
	char *out = rt_render(m, pt_render_text, &o);
	const char *w = strstr(out, "warning:");
	const char *peak = strstr(out, "peak:");

	assert_non_null(w);
	assert_non_null(peak);
	assert_true(w < peak);
	assert_non_null(strstr(out, "truncated"));
	assert_non_null(strstr(out, "42 events were dropped"));
	assert_non_null(strstr(out, "kill-switch): writer: disk full"));
	assert_non_null(strstr(out, "peak:      1.5 KiB at 0.001 s"));
	assert_non_null(strstr(out, "top 2 allocation sites at the peak"));
	/* 1024 of 1533 sampled bytes */
	assert_non_null(strstr(out, "1.0 KiB   66.8%         2  "
				    "load_data (job.py:42)"));
	/* control characters never reach the terminal */
	assert_non_null(strstr(out, "odd;name?with breaks (job.py)"));
	assert_null(strstr(out, "odd;name\nwith"));
	free(out);
	pt_model_free(m);
	tb_free(t);
}

/* Two frame ids that symbolize alike (here two PYFRAME ids of one line)
 * are one row of the text report's top sites, as in the html table and
 * the flamegraph; a native function without line information, called
 * from several places, had one row per call site. */
static void text_top_sites_merge_alike(void **state)
{
	static const uint64_t s1[] = { PT_FRAME_PY(1) };
	static const uint64_t s2[] = { PT_FRAME_PY(2) };
	static const uint64_t s3[] = { PT_FRAME_PY(3) };
	struct tb *t = tb_new(1 << 16);
	(void)state;

	rt_header(t);
	rt_string(t, 1, "load");
	rt_string(t, 2, "job.py");
	rt_string(t, 3, "other");
	rt_pyframe(t, 1, 1, 2, 7);
	rt_pyframe(t, 2, 1, 2, 7);
	rt_pyframe(t, 3, 3, 2, 9);
	rt_stack(t, 1, s1, 1);
	rt_stack(t, 2, s2, 1);
	rt_stack(t, 3, s3, 1);
	rt_alloc(t, 1, 0x10, 300, 1);
	rt_alloc(t, 1, 0x20, 500, 2);
	rt_alloc(t, 1, 0x30, 600, 3);
	rt_peak(t, 1000000, 1400);
	rt_end(t, 2000000, 1400, 1000000);
	tb_flush(t);

	struct pt_model *m = rt_load(t, 0);
	char *out = rt_render(m, pt_render_text, NULL);
	const char *row = strstr(out, "load (job.py:7)");

	/* 800 B in 2 samples, above "other" with 600 B, and only once */
	assert_non_null(strstr(out, "     800 B   57.1%         2  load (job.py:7)\n"));
	assert_non_null(row);
	assert_null(strstr(row + 1, "load (job.py:7)"));
	assert_true(row < strstr(out, "other (job.py:9)"));
	assert_non_null(strstr(out, "sampled:   1.4 KiB live at the peak in 3 samples\n"));
	free(out);
	/* exact mode's live set is every allocation, not samples */
	m->mode = PT_MODE_EXACT;
	out = rt_render(m, pt_render_text, NULL);
	assert_non_null(strstr(out, "recorded:  1.4 KiB live at the peak in 3 allocations "
				    "(bytes requested)\n"));
	assert_null(strstr(out, "sampled:"));
	free(out);
	pt_model_free(m);
	tb_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text_top_sites_merge_alike),
		cmocka_unit_test(collapsed_golden),
		cmocka_unit_test(collapsed_frame_helper_sanitizes),
		cmocka_unit_test(collapsed_of_empty_model_is_empty),
		cmocka_unit_test(json_is_valid_for_hostile_strings),
		cmocka_unit_test(json_top_limits_sites),
		cmocka_unit_test(text_shows_warnings_first_and_top_sites),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
