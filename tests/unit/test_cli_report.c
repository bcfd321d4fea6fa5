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

extern char **environ;

static char tmpdir[] = "/tmp/pt_test_clirep.XXXXXX";
static char out[1 << 16], err[1 << 16];

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, cap - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
}

/* Runs peaktrace with args (NULL-terminated); fills out and err; returns
 * the exit status. */
static int run(const char *const *args)
{
	char opath[256], epath[256];
	char *argv[16];
	size_t n = 0;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status;

	snprintf(opath, sizeof opath, "%s/stdout", tmpdir);
	snprintf(epath, sizeof epath, "%s/stderr", tmpdir);
	argv[n++] = (char *)PEAKTRACE_BIN;
	for (; args[n - 1] && n < 15; n++)
		argv[n] = (char *)args[n - 1];
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, opath,
					 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, epath,
					 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(posix_spawn(&pid, PEAKTRACE_BIN, &fa, NULL, argv,
				     environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	slurp(opath, out, sizeof out);
	slurp(epath, err, sizeof err);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static const char *write_file(const char *name, const void *p, size_t n)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	if (n)
		assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	return path;
}

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

	assert_int_equal(run((const char *[]){ "report", path, "--format",
					       "collapsed", NULL }), 0);
	assert_string_equal(out, GOLDEN);
	assert_string_equal(err, "");
	/* --format=VALUE too */
	assert_int_equal(run((const char *[]){ "report", "--format=collapsed",
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
	assert_int_equal(run((const char *[]){ "report", trace, "--format",
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

	assert_int_equal(run((const char *[]){ "report", path, "--format",
					       "text", "--top", "5", NULL }), 0);
	assert_non_null(strstr(out, "peak:      4.0 KiB at 0.000 s"));
	assert_non_null(strstr(out, "load_data (job.py:42)"));
	assert_int_equal(run((const char *[]){ "report", path, "--format",
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

	assert_int_equal(run((const char *[]){ "report", "/nonexistent/x.ptrace",
					       "--format", "collapsed", NULL }),
			 2);
	assert_string_equal(out, "");
	assert_string_equal(err, "peaktrace: cannot read '/nonexistent/x.ptrace': "
				 "No such file or directory\n");

	path = write_file("junk.ptrace", junk, sizeof junk);
	assert_int_equal(run((const char *[]){ "report", path, "--format",
					       "text", NULL }), 2);
	snprintf(want, sizeof want, "peaktrace: cannot read '%s': not a "
		 "peaktrace trace (bad magic)\n", path);
	assert_string_equal(err, want);

	assert_int_equal(run((const char *[]){ "report", tmpdir, "--format",
					       "text", NULL }), 2);
	assert_non_null(strstr(err, "is a directory"));
}

static void usage_errors_exit_1_with_one_line(void **state)
{
	struct tb *t = job_trace();
	const char *path = write_file("job.ptrace", t->data, t->len);
	(void)state;

	assert_int_equal(run((const char *[]){ "report", path, "--format",
					       "bogus", NULL }), 1);
	assert_non_null(strstr(err, "peaktrace: unknown format 'bogus'"));
	assert_non_null(strstr(err, "collapsed"));
	assert_int_equal(strchr(err, '\n') - err + 1, (long)strlen(err));

	assert_int_equal(run((const char *[]){ "report", path, "--frobnicate",
					       NULL }), 1);
	assert_string_equal(err, "peaktrace: unknown option '--frobnicate' for "
				 "'report'; see 'peaktrace report --help'\n");

	assert_int_equal(run((const char *[]){ "report", NULL }), 1);
	assert_non_null(strstr(err, "no trace given"));

	assert_int_equal(run((const char *[]){ "report", path, "--top", "0",
					       NULL }), 1);
	assert_int_equal(run((const char *[]){ "report", path, "--format",
					       NULL }), 1);
	assert_int_equal(run((const char *[]){ "report", path, path, NULL }), 1);
	assert_int_equal(strchr(err, '\n') - err + 1, (long)strlen(err));

	assert_int_equal(run((const char *[]){ "report", "--help", NULL }), 0);
	assert_non_null(strstr(out, "usage: peaktrace report TRACE"));
	tb_free(t);
}

static void cut_trace_renders_with_warnings(void **state)
{
	struct tb *t = job_trace();
	/* cut inside the second chunk: the peak is in the first */
	const char *path = write_file("cut.ptrace", t->data, t->len - 5);
	(void)state;

	assert_int_equal(run((const char *[]){ "report", path, "--format",
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

	assert_int_equal(run((const char *[]){ "report", path, "--format",
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
