/*
 * test_pystack_fakepy.c: the probe against interpreters that are not there
 * when the process starts. Stand-in libraries (fakepy313t.c,
 * fakepy_debug.c) are dlopen'ed with RTLD_GLOBAL after a first probe has
 * found nothing, the way an embedding program loads libpython late:
 *  - the first probe says "none" and is not final, so a later one looks
 *    again and finds the interpreter;
 *  - a free-threaded 3.13 (debug_offsets.free_threaded) is refused with a
 *    message that names it and does not suggest rebuilding peaktrace;
 *  - a debug build (_Py_NegativeRefcount exported) is refused likewise;
 *  - once refused, the answer is final and walks return 0.
 * The tests run in order and share the process's loaded libraries.
 */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/pystack.h"

static uint32_t no_intern(const char *s, size_t n, void *ctx)
{
	(void)s;
	(void)n;
	(void)ctx;
	return 0;
}

static void late_free_threaded_313(void **state)
{
	(void)state;
	const char *why = NULL;
	assert_int_equal(pt_py_probe(&why), PT_PY_NONE);
	assert_non_null(dlopen(FAKEPY313T, RTLD_NOW | RTLD_GLOBAL));
	assert_int_equal(pt_py_probe(&why), PT_PY_UNSUPPORTED);
	assert_string_equal(pt_py_version(), "3.13.0");
	if (strstr(pt_py_readers_built(), "3.13") == NULL) {
		/* no 3.13 reader in this build: refused before any layout check */
		assert_non_null(strstr(why, "(no reader for 3.13)"));
		return;
	}
	assert_string_equal(why, "python 3.13.0 is running but it is a free-threaded build "
				 "(3.13t), whose object layout peaktrace cannot read; run the "
				 "job on a default (GIL, release) build of python or set "
				 "PEAKTRACE_ON_ENV_ERROR=disable");
	/* final: the same answer without looking again */
	const char *again = NULL;
	assert_int_equal(pt_py_probe(&again), PT_PY_UNSUPPORTED);
	assert_ptr_equal(again, why);
	struct pt_pyframe out[2];
	assert_int_equal(pt_py_walk(out, 2, no_intern, NULL, NULL), 0);
}

static void debug_build_refused(void **state)
{
	(void)state;
	const char *why = NULL;
	assert_non_null(dlopen(FAKEPY_DEBUG, RTLD_NOW | RTLD_GLOBAL));
	assert_int_equal(pt_py_probe_for_tests(NULL, NULL, 0, &why), PT_PY_UNSUPPORTED);
	assert_string_equal(why, "python 3.13.0 is a debug build (--with-pydebug), whose "
				 "object layout peaktrace cannot read; run the job on a release "
				 "build of python or set PEAKTRACE_ON_ENV_ERROR=disable");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(late_free_threaded_313),
		cmocka_unit_test(debug_build_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
