/*
 * test_covmarks.c: coverage marks (contracts/covmarks.h).
 *
 * What a test author relies on: in a debug build every execution of a mark
 * counts, exactly, also from several threads; marks sharing a name add up;
 * a reset zeroes them; the dump lists "NAME HITS" for the marks that were
 * hit and nothing else, appending. In a release build marks do not exist:
 * no sites, no hits, an empty dump. The same assertions run in both builds,
 * chosen by config_covmarks.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "contracts/covmarks.h"

static void hit_a(void)
{
	PT_MARK(test_mark_a);
}

static void hit_a_elsewhere(void)
{
	PT_MARK(test_mark_a); /* a second site with the same name */
}

static void hit_b(void)
{
	PT_MARK(test_mark_b);
}

static void hit_c(void)
{
	PT_MARK(test_mark_c);
}

static int reset(void **state)
{
	(void)state;
	pt_covmark_reset();
	return 0;
}

static unsigned long want(unsigned long n)
{
	return config_covmarks ? n : 0;
}

static void test_hits_are_counted(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++)
		hit_a();
	for (int i = 0; i < 2; i++)
		hit_a_elsewhere();
	hit_c();
	assert_int_equal(pt_covmark_hits("test_mark_a"), want(5));
	assert_int_equal(pt_covmark_hits("test_mark_c"), want(1));
	assert_int_equal(pt_covmark_hits("test_mark_b"), 0);
	assert_int_equal(pt_covmark_hits("no_such_mark"), 0);
}

static void test_reset_zeroes(void **state)
{
	(void)state;
	hit_a();
	hit_b();
	assert_int_equal(pt_covmark_hits("test_mark_b"), want(1));
	pt_covmark_reset();
	assert_int_equal(pt_covmark_hits("test_mark_a"), 0);
	assert_int_equal(pt_covmark_hits("test_mark_b"), 0);
	hit_b();
	assert_int_equal(pt_covmark_hits("test_mark_b"), want(1));
}

static void test_site_count(void **state)
{
	(void)state;
	if (config_covmarks)
		assert_true(pt_covmark_count() >= 4); /* the four sites above */
	else
		assert_int_equal(pt_covmark_count(), 0);
}

#define THREADS 4
#define PER_THREAD 20000

static void *hammer(void *arg)
{
	(void)arg;
	for (int i = 0; i < PER_THREAD; i++)
		hit_c();
	return NULL;
}

static void test_hits_exact_under_threads(void **state)
{
	(void)state;
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(pt_covmark_hits("test_mark_c"), want((unsigned long)THREADS * PER_THREAD));
}

static void temp_path(char *buf, size_t cap)
{
	snprintf(buf, cap, "/tmp/pt-test-covmarks-%ld", (long)getpid());
	unlink(buf);
}

static void read_file(const char *path, char *buf, size_t cap)
{
	buf[0] = '\0';
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, cap - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
}

static void test_dump_lists_hit_marks_only(void **state)
{
	(void)state;
	char path[128], out[4096];
	temp_path(path, sizeof path);
	for (int i = 0; i < 3; i++)
		hit_a();
	hit_a_elsewhere();
	assert_int_equal(pt_covmarks_dump(path), 0);
	read_file(path, out, sizeof out);
	/* The two test_mark_a sites each get a line; b and c were not hit. */
	if (config_covmarks) {
		assert_true(strcmp(out, "test_mark_a 3\ntest_mark_a 1\n") == 0 ||
			    strcmp(out, "test_mark_a 1\ntest_mark_a 3\n") == 0);
	} else {
		assert_string_equal(out, "");
	}

	/* Appends: a second dump adds its lines after the first. */
	char want_out[4096 + 32];
	snprintf(want_out, sizeof want_out, "%s%s", out,
		 config_covmarks ? "test_mark_b 1\n" : "");
	pt_covmark_reset();
	hit_b();
	assert_int_equal(pt_covmarks_dump(path), 0);
	read_file(path, out, sizeof out);
	assert_string_equal(out, want_out);
	unlink(path);
}

static void test_dump_errors(void **state)
{
	(void)state;
	assert_int_equal(pt_covmarks_dump(NULL), -EINVAL);
	assert_int_equal(pt_covmarks_dump(""), -EINVAL);
	assert_int_equal(pt_covmarks_dump("/nonexistent-dir-pt/marks"), -ENOENT);
}

static void test_dump_env(void **state)
{
	(void)state;
	char path[128], out[256];
	temp_path(path, sizeof path);
	unsetenv("PEAKTRACE_COVMARKS_OUT");
	hit_b();
	assert_int_equal(pt_covmarks_dump_env(), 0);
	assert_int_equal(access(path, F_OK), -1);
	setenv("PEAKTRACE_COVMARKS_OUT", path, 1);
	assert_int_equal(pt_covmarks_dump_env(), 0);
	unsetenv("PEAKTRACE_COVMARKS_OUT");
	read_file(path, out, sizeof out);
	assert_string_equal(out, config_covmarks ? "test_mark_b 1\n" : "");
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_hits_are_counted, reset),
		cmocka_unit_test_setup(test_reset_zeroes, reset),
		cmocka_unit_test_setup(test_site_count, reset),
		cmocka_unit_test_setup(test_hits_exact_under_threads, reset),
		cmocka_unit_test_setup(test_dump_lists_hit_marks_only, reset),
		cmocka_unit_test_setup(test_dump_errors, reset),
		cmocka_unit_test_setup(test_dump_env, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
