/*
 * test_render_html.c: the html report (report/render_html.c) as text:
 * what the page says, that trace strings cannot inject markup or script,
 * the warnings banner, and rendering edge cases. tests/viz runs the page
 * in Chromium.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>

#include "tests/unit/vizfix.h"

static char dir[] = "/tmp/pt-html-XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[64];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd);
}

/* Renders m into dir/sub; returns index.html's text (malloc'd). */
static char *render(const struct pt_model *m, const char *sub,
		    const struct pt_render_opts *o, size_t *len)
{
	char d[256], path[300];
	FILE *f;
	char *buf;
	long n;

	snprintf(d, sizeof d, "%s/%s", dir, sub);
	assert_int_equal(pt_render_html(m, d, o), 0);
	snprintf(path, sizeof path, "%s/index.html", d);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void test_html_clean(void **state)
{
	struct pt_model *m = vizfix_load(VIZFIX_CLEAN);
	struct pt_render_opts o = { .trace_path = "run/peaktrace-4242.ptrace" };
	size_t len;
	char *h;

	(void)state;
	h = render(m, "clean", &o, &len);
	assert_true(strncmp(h, "<!DOCTYPE html>", 15) == 0);
	assert_true(vizfix_utf8_ok(h, len));
	/* one file, no network: nothing is fetched */
	assert_null(strstr(h, "src=\"http"));
	assert_null(strstr(h, "href=\"http"));
	assert_null(strstr(h, "<link"));
	assert_non_null(strstr(h, "default-src 'none'"));
	/* the headline */
	assert_non_null(strstr(h, "python3 job.py --rows 10"));
	assert_non_null(strstr(h, "pid 4242"));
	assert_non_null(strstr(h, "3.12.1"));
	assert_non_null(strstr(h, ">sampled<"));
	assert_non_null(strstr(h, "interval 512 KiB"));
	assert_non_null(strstr(h, "393,316 bytes"));   /* peak: 6 W + 100 */
	assert_non_null(strstr(h, "run/peaktrace-4242.ptrace"));
	/* no banner for a whole trace */
	assert_null(strstr(h, "id=\"warnings\""));
	/* the sections */
	assert_non_null(strstr(h, "id=\"flame\""));
	assert_non_null(strstr(h, "id=\"timeline\""));
	assert_non_null(strstr(h, "id=\"search\""));
	assert_non_null(strstr(h, "id=\"match-status\""));
	/* the data: frames and both trees */
	assert_non_null(strstr(h, "\"load (job.py:20)\""));
	assert_non_null(strstr(h, "\"views\": {\"peak\""));
	assert_non_null(strstr(h, "\"live_bytes\": 393216"));
	/* the top table: load first (3 W of 6 W) */
	assert_non_null(strstr(h, "id=\"top-sites\""));
	{
		const char *load = strstr(h, "<span class=\"fn\">load</span>");
		const char *bad = strstr(h, "<span class=\"fn\">bad</span>");

		assert_non_null(load);
		assert_non_null(bad);
		assert_true(load < bad);
		assert_non_null(strstr(load, "50.0%"));
	}
	free(h);
	pt_model_free(m);
}

static void test_html_hostile_no_injection(void **state)
{
	struct pt_model *m = vizfix_load(VIZFIX_HOSTILE);
	size_t len;
	char *h;

	(void)state;
	h = render(m, "hostile", NULL, &len);
	assert_true(vizfix_utf8_ok(h, len));
	/* exactly the page's own two script elements end */
	assert_int_equal(vizfix_count(h, "</script>"), 2);
	assert_int_equal(vizfix_count(h, "<script"), 2);
	assert_null(strstr(h, "<img"));
	assert_null(strstr(h, "<b>x</b>"));
	assert_null(strstr(h, "<!--"));
	/* the name is in the data as escaped JSON, in the table as text */
	assert_non_null(strstr(h, VIZFIX_EVIL_JSON));
	assert_non_null(strstr(h, VIZFIX_EVIL_XML));
	assert_non_null(strstr(h, "python3 &lt;script&gt;alert(1)&lt;/script&gt;.py"));
	assert_non_null(strstr(h, "dir/&quot;q&quot; &amp; &#39;a&#39;.py"));
	/* invalid UTF-8 became U+FFFD */
	assert_non_null(strstr(h, "bad\\ufffd\\ufffd name"));
	assert_non_null(strstr(h, "bad\xef\xbf\xbd\xef\xbf\xbd name"));
	free(h);
	pt_model_free(m);
}

static void test_html_warnings(void **state)
{
	struct pt_model *m = vizfix_load(VIZFIX_HOSTILE);
	size_t len;
	char *h, *banner, *end;

	(void)state;
	h = render(m, "warn", NULL, &len);
	banner = strstr(h, "id=\"warnings\"");
	assert_non_null(banner);
	end = strstr(banner, "</section>");
	assert_non_null(end);
	*end = '\0';
	/* the banner comes before the headline */
	assert_null(strstr(h, "class=\"headline\""));
	assert_non_null(strstr(banner, "class=\"w-drops\""));
	assert_non_null(strstr(banner, "77 events were dropped"));
	assert_non_null(strstr(banner, "class=\"w-trip\""));
	assert_non_null(strstr(banner, "writer: disk full &lt;b&gt;x&lt;/b&gt;"));
	assert_non_null(strstr(banner, "class=\"w-noend\""));
	free(h);
	pt_model_free(m);
}

static void test_html_empty(void **state)
{
	struct pt_model *m = vizfix_load(VIZFIX_EMPTY);
	size_t len;
	char *h;

	(void)state;
	h = render(m, "empty", NULL, &len);
	assert_non_null(strstr(h, "class=\"w-noheader\""));
	assert_non_null(strstr(h, "class=\"w-nopeak\""));
	assert_non_null(strstr(h, "No sampled allocation was live at the peak"));
	assert_non_null(strstr(h, "\"series\": []"));
	assert_non_null(strstr(h, "</html>"));
	free(h);
	pt_model_free(m);
}

static void test_html_top_and_overwrite(void **state)
{
	struct pt_model *m = vizfix_load(VIZFIX_CLEAN);
	struct pt_render_opts o = { .top = 1 };
	size_t len;
	char *h;

	(void)state;
	h = render(m, "top", NULL, &len);
	free(h);
	/* rendering again replaces the page; --top limits the table */
	h = render(m, "top", &o, &len);
	assert_non_null(strstr(h, "<span class=\"fn\">load</span>"));
	assert_null(strstr(h, "<span class=\"fn\">bad</span>"));
	free(h);
	pt_model_free(m);
}

static void test_html_bad_dir(void **state)
{
	struct pt_model *m = vizfix_load(VIZFIX_CLEAN);
	char file[300], sub[320];
	FILE *f;

	(void)state;
	snprintf(file, sizeof file, "%s/plain-file", dir);
	f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(sub, sizeof sub, "%s/report", file);
	assert_int_equal(pt_render_html(m, sub, NULL), -ENOTDIR);
	assert_int_equal(pt_render_html(m, "", NULL), -EINVAL);
	pt_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_html_clean),
		cmocka_unit_test(test_html_hostile_no_injection),
		cmocka_unit_test(test_html_warnings),
		cmocka_unit_test(test_html_empty),
		cmocka_unit_test(test_html_top_and_overwrite),
		cmocka_unit_test(test_html_bad_dir),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
