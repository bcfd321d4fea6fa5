/*
 * test_cli_report.c: `peaktrace report` as a script sees it (DESIGN.md,
 * the interface contract): the collapsed stacks on stdout or in the file
 * -o names, exit 2 with "peaktrace: cannot read 'PATH': REASON" for a
 * trace that cannot be read, exit 1 with one line for a usage error, and
 * a cut trace still rendered with "peaktrace: warning:" lines on stderr.
 * Runs the built binary (PEAKTRACE_BIN) in a child process per case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "reptest.h"
#include "clirun.h"


/* load_data (job.py:42) under main (job.py:50): 4096 bytes at the peak;
 * a second chunk with a later tick and the END record. */
static struct tb *job_trace(void)
{
	static const uint64_t s1[] = { PT_FRAME_PY(2), PT_FRAME_PY(1) };
	struct tb *t = tb_new(4096);

	rt_header(t);
	rt_string(t, 1, "main");
	rt_string(t, 2, "job.py");
	rt_string(t, 3, "load_data");
	rt_pyframe(t, 1, 1, 2, 50);
	rt_pyframe(t, 2, 3, 2, 42);
	rt_stack(t, 1, s1, 2);
	rt_alloc(t, 1, 0x1000, 4096, 1);
	rt_peak(t, 1000, 4096);
	tb_flush(t);
	rt_tick(t, 2000, 4096);
	rt_end(t, 3000, 4096, 1000);
	tb_flush(t);
	return t;
}

#define GOLDEN "main (job.py:50);load_data (job.py:42) 4096\n"

static void collapsed_on_stdout(void **state)
{
	struct tb *t = job_trace();
	const char *path = write_file("job.ptrace", t->data, t->len);
	(void)state;

	assert_int_equal(run(NULL, (const char *[]){ "report", path, "--format",
					       "collapsed", NULL }), 0);
	assert_string_equal(out, GOLDEN);
	assert_string_equal(err, "");
	/* --format=VALUE too */
	assert_int_equal(run(NULL, (const char *[]){ "report", "--format=collapsed",
					       path, NULL }), 0);
	assert_string_equal(out, GOLDEN);
	tb_free(t);
}

static void collapsed_into_a_file(void **state)
{
	struct tb *t = job_trace();
	char trace[256], dest[300], got[4096];
	(void)state;

	snprintf(trace, sizeof trace, "%s",
		 write_file("job.ptrace", t->data, t->len));
	snprintf(dest, sizeof dest, "%s/stacks.folded", tmpdir);
	assert_int_equal(run(NULL, (const char *[]){ "report", trace, "--format",
					       "collapsed", "-o", dest, NULL }),
			 0);
	assert_string_equal(out, "");
	slurp(dest, got, sizeof got);
	assert_string_equal(got, GOLDEN);
	tb_free(t);
}

static void text_and_json_formats(void **state)
{
	struct tb *t = job_trace();
	const char *path = write_file("job.ptrace", t->data, t->len);
	(void)state;

	assert_int_equal(run(NULL, (const char *[]){ "report", path, "--format",
					       "text", "--top", "5", NULL }), 0);
	assert_non_null(strstr(out, "peak:      4.0 KiB at 0.000 s"));
	assert_non_null(strstr(out, "load_data (job.py:42)"));
	assert_int_equal(run(NULL, (const char *[]){ "report", path, "--format",
					       "json", NULL }), 0);
	assert_true(out[0] == '{');
	assert_non_null(strstr(out, "\"schema\":\"peaktrace-report\""));
	tb_free(t);
}

static void unreadable_trace_exits_2(void **state)
{
	static const char junk[] = "this is not a trace, not at all";
	const char *path;
	char want[512];
	(void)state;

	assert_int_equal(run(NULL, (const char *[]){ "report", "/nonexistent/x.ptrace",
					       "--format", "collapsed", NULL }),
			 2);
	assert_string_equal(out, "");
	assert_string_equal(err, "peaktrace: cannot read '/nonexistent/x.ptrace': "
				 "No such file or directory\n");

	path = write_file("junk.ptrace", junk, sizeof junk);
	assert_int_equal(run(NULL, (const char *[]){ "report", path, "--format",
					       "text", NULL }), 2);
	snprintf(want, sizeof want, "peaktrace: cannot read '%s': not a "
		 "peaktrace trace (bad magic)\n", path);
	assert_string_equal(err, want);

	assert_int_equal(run(NULL, (const char *[]){ "report", tmpdir, "--format",
					       "text", NULL }), 2);
	assert_non_null(strstr(err, "is a directory"));
}

static void usage_errors_exit_1_with_one_line(void **state)
{
	struct tb *t = job_trace();
	const char *path = write_file("job.ptrace", t->data, t->len);
	(void)state;

	assert_int_equal(run(NULL, (const char *[]){ "report", path, "--format",
					       "bogus", NULL }), 1);
	assert_non_null(strstr(err, "peaktrace: unknown format 'bogus'"));
	assert_non_null(strstr(err, "collapsed"));
	assert_int_equal(strchr(err, '\n') - err + 1, (long)strlen(err));

	assert_int_equal(run(NULL, (const char *[]){ "report", path, "--frobnicate",
					       NULL }), 1);
	assert_string_equal(err, "peaktrace: unknown option '--frobnicate' for "
				 "'report'; see 'peaktrace report --help'\n");

	assert_int_equal(run(NULL, (const char *[]){ "report", NULL }), 1);
	assert_non_null(strstr(err, "no trace given"));

	assert_int_equal(run(NULL, (const char *[]){ "report", path, "--top", "0",
					       NULL }), 1);
	assert_int_equal(run(NULL, (const char *[]){ "report", path, "--format",
					       NULL }), 1);
	assert_int_equal(run(NULL, (const char *[]){ "report", path, path, NULL }), 1);
	assert_int_equal(strchr(err, '\n') - err + 1, (long)strlen(err));

	assert_int_equal(run(NULL, (const char *[]){ "report", "--help", NULL }), 0);
	assert_non_null(strstr(out, "usage: peaktrace report TRACE"));
	tb_free(t);
}

static void cut_trace_renders_with_warnings(void **state)
{
	struct tb *t = job_trace();
	/* cut inside the second chunk: the peak is in the first */
	const char *path = write_file("cut.ptrace", t->data, t->len - 5);
	(void)state;

	assert_int_equal(run(NULL, (const char *[]){ "report", path, "--format",
					       "collapsed", NULL }), 0);
	assert_string_equal(out, GOLDEN);
	assert_non_null(strstr(err, "peaktrace: warning: trace truncated"));
	tb_free(t);
}

static void unwritable_output_exits_2(void **state)
{
	struct tb *t = job_trace();
	const char *path = write_file("job.ptrace", t->data, t->len);
	(void)state;

	assert_int_equal(run(NULL, (const char *[]){ "report", path, "--format",
					       "collapsed", "-o",
					       "/nonexistent/dir/out", NULL }),
			 2);
	assert_string_equal(err, "peaktrace: cannot write '/nonexistent/dir/out': "
				 "No such file or directory\n");
	tb_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(collapsed_on_stdout),
		cmocka_unit_test(collapsed_into_a_file),
		cmocka_unit_test(text_and_json_formats),
		cmocka_unit_test(unreadable_trace_exits_2),
		cmocka_unit_test(usage_errors_exit_1_with_one_line),
		cmocka_unit_test(cut_trace_renders_with_warnings),
		cmocka_unit_test(unwritable_output_exits_2),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
