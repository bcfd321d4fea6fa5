/*
 * test_render_speedscope.c: the speedscope export
 * (report/render_speedscope.c) as text. tests/viz validates it against
 * the file-format schema with Python's JSON parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/vizfix.h"

/* index of the frame named name in shared.frames, or -1 */
static int frame_index(const char *s, const char *name)
{
	char key[256];
	const char *p = strstr(s, "\"frames\": [");
	const char *hit;
	int i = 0;

	snprintf(key, sizeof key, "{\"name\": \"%s\"", name);
	hit = strstr(s, key);
	if (!p || !hit)
		return -1;
	for (p = strstr(p, "{\"name\""); p && p < hit; p = strstr(p + 1, "{\"name\""))
		i++;
	return i;
}

static void test_speedscope_clean(void **state)
{
	struct pt_model *m = vizfix_load(VIZFIX_CLEAN);
	size_t len;
	int rc;
	char *s = vizfix_render(pt_render_speedscope, m, &len, &rc);
	char want[128];
	int main_, load, bad;

	(void)state;
	assert_int_equal(rc, 0);
	assert_true(vizfix_utf8_ok(s, len));
	assert_non_null(strstr(s, "\"$schema\": \"https://www.speedscope.app/"
				  "file-format-schema.json\""));
	assert_non_null(strstr(s, "\"exporter\": \"peaktrace "));
	assert_int_equal(vizfix_count(s, "\"type\": \"sampled\""), 2);
	assert_int_equal(vizfix_count(s, "\"unit\": \"bytes\""), 2);
	snprintf(want, sizeof want, "\"endValue\": %llu",
		 (unsigned long long)VIZFIX_LIVE);
	assert_non_null(strstr(s, want));
	snprintf(want, sizeof want, "\"endValue\": %llu",
		 (unsigned long long)VIZFIX_ALLOC);
	assert_non_null(strstr(s, want));
	/* Python frames: function name, file and line; merged by name */
	assert_non_null(strstr(s, "{\"name\": \"load\", \"file\": \"job.py\", "
				  "\"line\": 20}"));
	assert_int_equal(vizfix_count(s, "{\"name\": \"load\""), 1);
	assert_non_null(strstr(s, "{\"name\": \"0x401234\"}"));
	/* samples outermost first: [main, load], weighted 2 W */
	main_ = frame_index(s, "main");
	load = frame_index(s, "load");
	bad = frame_index(s, "bad");
	assert_true(main_ >= 0 && load >= 0 && bad >= 0);
	snprintf(want, sizeof want, "[%d,%d]", main_, load);
	assert_non_null(strstr(s, want));
	snprintf(want, sizeof want, "\"weights\": [%llu,",
		 (unsigned long long)(2 * VIZFIX_W));
	assert_non_null(strstr(s, want));
	free(s);
	pt_model_free(m);
}

static void test_speedscope_hostile(void **state)
{
	struct pt_model *m = vizfix_load(VIZFIX_HOSTILE);
	size_t len;
	int rc;
	char *s = vizfix_render(pt_render_speedscope, m, &len, &rc);

	(void)state;
	assert_int_equal(rc, 0);
	assert_true(vizfix_utf8_ok(s, len));
	assert_non_null(strstr(s, "{\"name\": \"" VIZFIX_EVIL_JSON "\""));
	assert_non_null(strstr(s, "\"file\": \"dir/\\\"q\\\" \\u0026 \\u0027a\\u0027.py\""));
	assert_non_null(strstr(s, "\"bad\\ufffd\\ufffd name\""));
	assert_null(strstr(s, "</script>"));
	free(s);
	pt_model_free(m);
}

static void test_speedscope_empty(void **state)
{
	struct pt_model *m = vizfix_load(VIZFIX_EMPTY);
	size_t len;
	int rc;
	char *s = vizfix_render(pt_render_speedscope, m, &len, &rc);

	(void)state;
	assert_int_equal(rc, 0);
	/* speedscope reads profiles[0].name: a profile even when empty */
	assert_int_equal(vizfix_count(s, "\"type\": \"sampled\""), 2);
	assert_int_equal(vizfix_count(s, "\"samples\": []"), 2);
	assert_int_equal(vizfix_count(s, "\"weights\": []"), 2);
	assert_non_null(strstr(s, "\"frames\": []"));
	free(s);
	pt_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_speedscope_clean),
		cmocka_unit_test(test_speedscope_hostile),
		cmocka_unit_test(test_speedscope_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
