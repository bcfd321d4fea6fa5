/*
 * test_render_svg.c: the standalone flamegraph (report/render_svg.c) as
 * text: geometry, escaping, the script. tests/viz parses it as XML and
 * opens it in Chromium.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/vizfix.h"

/* The value of attribute attr in the <g> whose data-n is name. */
static double frame_attr(const char *svg, const char *name, const char *attr)
{
	char key[256];
	const char *g, *a;

	snprintf(key, sizeof key, "data-n=\"%s\"", name);
	g = strstr(svg, key);
	assert_non_null(g);
	snprintf(key, sizeof key, " %s=\"", attr);
	a = strstr(g, key);
	assert_non_null(a);
	return strtod(a + strlen(key), NULL);
}

static void test_svg_clean(void **state)
{
	struct pt_model *m = vizfix_load(VIZFIX_CLEAN);
	size_t len;
	int rc;
	char *s = vizfix_render(pt_render_svg, m, &len, &rc);
	double all, load;

	(void)state;
	assert_int_equal(rc, 0);
	assert_true(strncmp(s, "<?xml version=\"1.0\"", 19) == 0);
	assert_true(vizfix_utf8_ok(s, len));
	assert_non_null(strstr(s, "xmlns=\"http://www.w3.org/2000/svg\""));
	assert_non_null(strstr(s, "</svg>\n"));
	/* widths proportional to bytes: load holds 3 of the 6 W */
	all = frame_attr(s, "all", "width");
	load = frame_attr(s, "load (job.py:20)", "width");
	assert_true(all > 1000);
	assert_true(load > all / 2 - 0.01 && load < all / 2 + 0.01);
	assert_int_equal((int)frame_attr(s, "load (job.py:20)", "data-d"), 2);
	/* Python and native frames are told apart */
	assert_non_null(strstr(s, "<g class=\"f python\" data-d=\"2\""));
	assert_non_null(strstr(s, "<g class=\"f native\" data-d=\"3\""));
	/* a frame's title says bytes and share */
	assert_non_null(strstr(s, "(196608 bytes), 50.00% of the peak, 3 samples"));
	/* one CDATA section, holding the script */
	assert_int_equal(vizfix_count(s, "<![CDATA["), 1);
	assert_int_equal(vizfix_count(s, "]]>"), 1);
	assert_non_null(strstr(s, "function zoom"));
	free(s);
	pt_model_free(m);
}

static void test_svg_hostile(void **state)
{
	struct pt_model *m = vizfix_load(VIZFIX_HOSTILE);
	size_t len;
	int rc;
	char *s = vizfix_render(pt_render_svg, m, &len, &rc);

	(void)state;
	assert_int_equal(rc, 0);
	assert_true(vizfix_utf8_ok(s, len));
	assert_null(strstr(s, "<img"));
	assert_null(strstr(s, "<script>"));
	assert_int_equal(vizfix_count(s, "]]>"), 1);
	assert_non_null(strstr(s, "data-n=\"" VIZFIX_EVIL_XML " (dir/&quot;q&quot; "
				  "&amp; &#39;a&#39;.py:30)\""));
	assert_non_null(strstr(s, "bad\xef\xbf\xbd\xef\xbf\xbd name"));
	/* the command line in the subtitle is escaped too */
	assert_non_null(strstr(s, "python3 &lt;script&gt;alert(1)&lt;/script&gt;.py"));
	free(s);
	pt_model_free(m);
}

static void test_svg_empty(void **state)
{
	struct pt_model *m = vizfix_load(VIZFIX_EMPTY);
	size_t len;
	int rc;
	char *s = vizfix_render(pt_render_svg, m, &len, &rc);

	(void)state;
	assert_int_equal(rc, 0);
	assert_non_null(strstr(s, "no allocation recorded"));
	assert_int_equal(vizfix_count(s, "<g class=\"f "), 1); /* the root */
	assert_non_null(strstr(s, "</svg>"));
	free(s);
	pt_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_svg_clean),
		cmocka_unit_test(test_svg_hostile),
		cmocka_unit_test(test_svg_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
