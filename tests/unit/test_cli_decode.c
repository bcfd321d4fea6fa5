/*
 * test_cli_decode.c: `peaktrace decode`, `peaktrace failpoints` and
 * `peaktrace --version` as a script sees them: exit statuses, the exact
 * one-line errors, JSON lines on stdout, warnings on stderr (DESIGN.md,
 * the interface contract). Runs the built binary (PEAKTRACE_BIN) in a
 * child process per case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/encoder.h"
#include "failpoints/failpoints.h"
#include "peaktrace/format.h"
#include "tracebuf.h"
#include "clirun.h"

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_whole_trace(void **state)
{
	struct tb *t = tb_small_trace();
	(void)state;
	const char *p = write_file("whole.ptrace", t->data, t->len);
	assert_int_equal(run(NULL, (const char *[]){ "decode", p, NULL }), 0);
	assert_string_equal(err, "");
	assert_int_equal(count_lines(out), t->nlog);
	assert_true(strncmp(out, "{\"type\":\"header\",\"format_version\":1,"
				 "\"pid\":4242,", 37) == 0);
	assert_non_null(strstr(out,
		"{\"type\":\"alloc\",\"tid\":100,\"addr\":\"0x7f0000010000\","
		"\"size\":4096,\"weight\":524288,\"stack_id\":1}\n"));
	assert_non_null(strstr(out, "{\"type\":\"stack\",\"id\":1,\"frames\":"
				    "[{\"pyframe\":1},{\"ip\":\"0x55550000123a\"},"
				    "{\"ip\":\"0x7f0000001000\"}]}\n"));
	assert_non_null(strstr(out, "{\"type\":\"free\",\"addr\":\"0x7f0000020000\"}\n"));
	assert_non_null(strstr(out, "{\"type\":\"end\",\"t_ns\":7000,"));
	/* `--` ends the options */
	assert_int_equal(run(NULL, (const char *[]){ "decode", "--", p, NULL }), 0);
	tb_free(t);
}

static void test_json_escaping(void **state)
{
	struct tb *t = tb_new(1024);
	struct pt_rec r;
	(void)state;

	/* quote, backslash, controls, NUL, DEL, valid UTF-8 (é, €, 😀),
	 * invalid bytes (lone continuation, overlong '/', surrogate, cut
	 * sequence at the end) */
	static const char s[] = "q\"b\\n\nt\tc\x01z\0d\x7f"
				"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
				"|\x80|\xc0\xaf|\xed\xa0\x80|\xe2\x82";
	r = (struct pt_rec){ .type = PT_REC_STRING };
	r.u.string.id = 1;
	r.u.string.s = (struct pt_str){ s, sizeof s - 1 };
	tb_rec(t, &r);
	r = tb_end(1, 1);
	tb_rec(t, &r);
	tb_flush(t);
	const char *p = write_file("esc.ptrace", t->data, t->len);
	assert_int_equal(run(NULL, (const char *[]){ "decode", p, NULL }), 0);
	const char *want =
		"{\"type\":\"string\",\"id\":1,\"str\":\"q\\\"b\\\\n\\nt\\tc"
		"\\u0001z\\u0000d\\u007f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
		"|\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd"
		"\\ufffd|\\ufffd\\ufffd\"}\n";
	assert_true(strncmp(out, want, strlen(want)) == 0);
	tb_free(t);
}

static void test_damaged_traces_exit_0(void **state)
{
	struct tb *t = tb_small_trace();
	(void)state;

	/* cut inside the last chunk */
	const char *p = write_file("cut.ptrace", t->data, t->len - 3);
	assert_int_equal(run(NULL, (const char *[]){ "decode", p, NULL }), 0);
	assert_non_null(strstr(err, "peaktrace: warning: trace truncated after chunk 1"));
	assert_int_equal(count_lines(out), t->nlog - 3);
	/* a flipped byte in the middle chunk */
	uint8_t *buf = malloc(t->len);
	assert_non_null(buf);
	memcpy(buf, t->data, t->len);
	buf[t->chunk_off[1] + 20] ^= 0x20;
	p = write_file("flip.ptrace", buf, t->len);
	assert_int_equal(run(NULL, (const char *[]){ "decode", p, NULL }), 0);
	assert_non_null(strstr(err, "peaktrace: warning: skipped "));
	assert_non_null(strstr(err, "chunk fails its CRC check"));
	assert_non_null(strstr(err, "1 corrupt chunks skipped"));
	assert_int_equal(count_lines(out), t->nlog - 4);
	/* every warning line has the prefix */
	for (char *l = err; *l; l = strchr(l, '\n') + 1)
		assert_true(strncmp(l, "peaktrace: warning: ", 20) == 0);
	free(buf);
	tb_free(t);
}

static void expect_unreadable(const char *path, const char *reason)
{
	char want[512];
	assert_int_equal(run(NULL, (const char *[]){ "decode", path, NULL }), 2);
	snprintf(want, sizeof want, "peaktrace: cannot read '%s': %s\n", path,
		 reason);
	assert_string_equal(err, want);
	assert_string_equal(out, "");
}

static void test_unreadable_exit_2(void **state)
{
	char path[256];
	uint8_t h[16];
	(void)state;

	snprintf(path, sizeof path, "%s/missing.ptrace", tmpdir);
	expect_unreadable(path, "No such file or directory");
	expect_unreadable(write_file("empty.ptrace", "", 0), "empty file");
	expect_unreadable(write_file("text.ptrace", "hello world, no trace", 21),
			  "not a peaktrace trace (bad magic)");
	pt_enc_file_header(h);
	h[8] = 7;
	expect_unreadable(write_file("v7.ptrace", h, 16),
			  "unsupported trace version 7 (this decoder reads 1)");
	expect_unreadable(tmpdir, "is a directory");
}

static void test_usage_errors_exit_1(void **state)
{
	(void)state;
	assert_int_equal(run(NULL, (const char *[]){ "decode", "--x", "t", NULL }), 1);
	assert_string_equal(err, "peaktrace: unknown option '--x' for 'decode'; "
				 "see 'peaktrace decode --help'\n");
	assert_int_equal(run(NULL, (const char *[]){ "decode", NULL }), 1);
	assert_string_equal(err, "peaktrace: missing TRACE; see 'peaktrace "
				 "decode --help'\n");
	assert_int_equal(run(NULL, (const char *[]){ "decode", "a", "b", NULL }), 1);
	assert_int_equal(run(NULL, (const char *[]){ "nosuchcmd", NULL }), 1);
	assert_string_equal(err, "peaktrace: unknown command 'nosuchcmd'; see "
				 "'peaktrace --help'\n");
	assert_int_equal(run(NULL, (const char *[]){ NULL }), 1);
	assert_int_equal(run(NULL, (const char *[]){ "decode", "--help", NULL }), 0);
	assert_true(strncmp(out, "usage: peaktrace decode TRACE", 29) == 0);
	assert_int_equal(run(NULL, (const char *[]){ "help", "decode", NULL }), 0);
	assert_true(strncmp(out, "usage: peaktrace decode TRACE", 29) == 0);
	assert_int_equal(run(NULL, (const char *[]){ "--help", NULL }), 0);
	assert_non_null(strstr(out, "  decode "));
	assert_non_null(strstr(out, "  failpoints "));
	assert_int_equal(run(NULL, (const char *[]){ "--version", NULL }), 0);
	assert_string_equal(out, "peaktrace " PT_VERSION "\n");
}

static void test_decoder_failpoints(void **state)
{
	struct tb *t = tb_small_trace();
	(void)state;
	const char *p = write_file("fp.ptrace", t->data, t->len);
	char path[256];
	snprintf(path, sizeof path, "%s", p);

	assert_int_equal(run("decoder_read=return",
			     (const char *[]){ "decode", path, NULL }), 2);
	char want[512];
	snprintf(want, sizeof want, "peaktrace: cannot read '%s': "
				    "Input/output error\n", path);
	assert_string_equal(err, want);

	assert_int_equal(run("decoder_chunk=1*return",
			     (const char *[]){ "decode", path, NULL }), 0);
	assert_non_null(strstr(err, "failpoint decoder_chunk"));
	assert_int_equal(count_lines(out), t->nlog - 5);

	/* a bad spec is a usage error */
	assert_int_equal(run("decoder_chunk=explode",
			     (const char *[]){ "decode", path, NULL }), 1);
	assert_true(strncmp(err, "peaktrace: bad PEAKTRACE_FAILPOINTS", 35) == 0);
	tb_free(t);
}

static void test_failpoints_listing(void **state)
{
	(void)state;
	assert_int_equal(run(NULL, (const char *[]){ "failpoints", "--names", NULL }), 0);
	assert_non_null(strstr(out, "decoder_read\n"));
	assert_non_null(strstr(out, "decoder_chunk\n"));
	assert_null(strchr(out, ' ')); /* bare names */
	size_t names = count_lines(out);
	assert_true(names >= 3);
	assert_int_equal(run(NULL, (const char *[]){ "failpoints", NULL }), 0);
	assert_non_null(strstr(out, "decoder_read "));
	assert_non_null(strstr(out, " decoder "));
	assert_non_null(strstr(out, pt_fp_syntax_help()));
	assert_int_equal(run(NULL, (const char *[]){ "failpoints", "--bad", NULL }), 1);
	assert_string_equal(err, "peaktrace: unknown option '--bad' for "
				 "'failpoints'; see 'peaktrace failpoints --help'\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_trace),
		cmocka_unit_test(test_json_escaping),
		cmocka_unit_test(test_damaged_traces_exit_0),
		cmocka_unit_test(test_unreadable_exit_2),
		cmocka_unit_test(test_usage_errors_exit_1),
		cmocka_unit_test(test_decoder_failpoints),
		cmocka_unit_test(test_failpoints_listing),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
