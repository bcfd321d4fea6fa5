/*
 * test_pystack_nopy.c: the Python stack dispatcher in a process without
 * CPython, which is what the preloaded runtime sees in every shell, `timeout`
 * or native program it lands in: the probe must say "none" (and stay
 * retryable), walks must return 0 without touching anything, and the
 * reader list must be what the configure step found.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/pystack.h"

static uint32_t never_intern(const char *s, size_t n, void *ctx)
{
	(void)s;
	(void)n;
	(void)ctx;
	fail_msg("intern called without an interpreter");
	return 0;
}

static void probe_finds_no_python(void **state)
{
	(void)state;
	const char *why = "unset";
	assert_int_equal(pt_py_probe(&why), PT_PY_NONE);
	assert_string_equal(why, "");
	assert_string_equal(pt_py_version(), "");
	/* not final: a later probe (after a dlopen of libpython) runs again */
	assert_int_equal(pt_py_probe(NULL), PT_PY_NONE);
}

static void walk_without_python_is_empty(void **state)
{
	(void)state;
	struct pt_pyframe out[4];
	memset(out, 0xa5, sizeof out);
	assert_int_equal(pt_py_probe(NULL), PT_PY_NONE);
	assert_int_equal(pt_py_walk(out, 4, never_intern, NULL, NULL), 0);
	assert_int_equal(out[0].file_id, 0xa5a5a5a5u); /* untouched */
	assert_null(pt_py_disable_reason());
}

static void fake_version_needs_an_interpreter(void **state)
{
	(void)state;
	const char *why = NULL;
	/* the faked version replaces the interpreter's, it does not invent one */
	assert_int_equal(pt_py_probe_for_tests("3.14.0", NULL, 0, &why), PT_PY_NONE);
	assert_string_equal(why, "");
}

static void readers_built_match_configure(void **state)
{
	(void)state;
	assert_string_equal(pt_py_readers_built(), PT_PY_EXPECT_READERS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(probe_finds_no_python),
		cmocka_unit_test(walk_without_python_is_empty),
		cmocka_unit_test(fake_version_needs_an_interpreter),
		cmocka_unit_test(readers_built_match_configure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
