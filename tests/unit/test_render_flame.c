/*
 * test_render_flame.c: the pieces the visual renderers share: the
 * flamegraph tree (report/flame.h), the escapers (report/escape.h) and
 * the protobuf writer (report/pb.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "report/flame.h"
#include "report/pb.h"
#include "tests/unit/vizfix.h"

static const char *node_name(const struct pt_model *m,
			     const struct pt_flame_node *n)
{
	return n->frame == PT_FLAME_NONE ? "all" : m->frames[n->frame].name;
}

/* the child of node p named name, or -1 */
static long child(const struct pt_model *m, const struct pt_flame *f, size_t p,
		  const char *name)
{
	for (size_t i = p + 1; i < p + f->nodes[p].size; i++)
		if (f->nodes[i].parent == p &&
		    strcmp(node_name(m, &f->nodes[i]), name) == 0)
			return (long)i;
	return -1;
}

static void test_flame_peak_tree(void **state)
{
	struct pt_model *m = vizfix_load(VIZFIX_CLEAN);
	struct pt_flame *f;
	long main_, load, evil, nat;

	(void)state;
	assert_int_equal(pt_flame_build(m, PT_FLAME_PEAK, &f), 0);
	/* root, main, load (two frame ids merged by name), evil, 0x401234, bad */
	assert_int_equal(f->nnodes, 6);
	assert_int_equal(f->nodes[0].value, VIZFIX_LIVE);
	assert_int_equal(f->nodes[0].size, 6);
	assert_int_equal(f->max_depth, 3);
	main_ = child(m, f, 0, "main (job.py:10)");
	assert_int_equal(main_, 1);
	assert_int_equal(f->nodes[main_].value, VIZFIX_LIVE);
	load = child(m, f, (size_t)main_, "load (job.py:20)");
	assert_true(load > 0);
	assert_int_equal(f->nodes[load].value, 3 * VIZFIX_W);
	assert_int_equal(f->nodes[load].self, 3 * VIZFIX_W);
	assert_int_equal(f->nodes[load].count, 3);
	/* the biggest child comes first: load (3 W) before evil (2 W) */
	assert_int_equal(load, 2);
	evil = child(m, f, (size_t)main_, "evil (lib.py:30)");
	assert_int_equal(evil, 3);
	assert_int_equal(f->nodes[evil].self, 0);
	nat = child(m, f, (size_t)evil, "0x401234");
	assert_int_equal(nat, 4);
	assert_int_equal(f->nodes[nat].depth, 3);
	assert_int_equal(f->nodes[nat].value, 2 * VIZFIX_W);
	/* pre-order: every parent before its children, subtrees contiguous */
	for (size_t i = 1; i < f->nnodes; i++) {
		uint32_t p = f->nodes[i].parent;

		assert_true(p < i);
		assert_true(i < p + f->nodes[p].size);
		assert_int_equal(f->nodes[i].depth, f->nodes[p].depth + 1);
	}
	pt_flame_free(f);
	pt_model_free(m);
}

static void test_flame_alloc_tree(void **state)
{
	struct pt_model *m = vizfix_load(VIZFIX_CLEAN);
	struct pt_flame *f;
	long bad;

	(void)state;
	assert_int_equal(pt_flame_build(m, PT_FLAME_ALLOC, &f), 0);
	assert_int_equal(f->nodes[0].value, VIZFIX_ALLOC);
	/* bad: 1 W at the peak, 5 W allocated: now the biggest child */
	bad = child(m, f, 1, "bad (lib.py:40)");
	assert_int_equal(bad, 2);
	assert_int_equal(f->nodes[bad].value, 5 * VIZFIX_W);
	pt_flame_free(f);
	pt_model_free(m);
}

static void test_flame_empty(void **state)
{
	struct pt_model *m = vizfix_load(VIZFIX_EMPTY);
	struct pt_flame *f;

	(void)state;
	assert_int_equal(pt_flame_build(m, PT_FLAME_PEAK, &f), 0);
	assert_int_equal(f->nnodes, 1);
	assert_int_equal(f->nodes[0].value, 0);
	assert_int_equal(f->nodes[0].parent, PT_FLAME_NONE);
	pt_flame_free(f);
	assert_int_equal(pt_flame_build(m, 7, &f), -EINVAL);
	pt_model_free(m);
}

static void test_flame_canon(void **state)
{
	struct pt_model *m = vizfix_load(VIZFIX_CLEAN);
	uint32_t *canon = pt_flame_canon(m);
	uint32_t load_canon[2];
	size_t loads = 0;

	(void)state;
	assert_non_null(canon);
	for (size_t i = 0; i < m->nframes; i++) {
		assert_string_equal(m->frames[canon[i]].name, m->frames[i].name);
		assert_true(canon[i] <= i);
		if (strcmp(m->frames[i].name, "load (job.py:20)") == 0 &&
		    loads < 2)
			load_canon[loads++] = canon[i];
	}
	assert_int_equal(loads, 2); /* two frames, one canonical */
	assert_int_equal(load_canon[0], load_canon[1]);
	free(canon);
	pt_model_free(m);
}

static char *esc(void (*fn)(FILE *, const char *), const char *s)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	fn(f, s);
	fclose(f);
	return buf;
}

static void test_escape_json(void **state)
{
	char *s;

	(void)state;
	s = esc(pt_esc_json, VIZFIX_EVIL);
	assert_string_equal(s, "\"" VIZFIX_EVIL_JSON "\"");
	free(s);
	s = esc(pt_esc_json, "q\"b\\n\n\x01&'\xe2\x80\xa8");
	assert_string_equal(s, "\"q\\\"b\\\\n\\n\\u0001\\u0026\\u0027\\u2028\"");
	free(s);
	/* invalid UTF-8: one U+FFFD per bad byte; valid multibyte kept */
	s = esc(pt_esc_json, "a\xff\xc0\xaf\xed\xa0\x80z\xc3\xa9");
	assert_string_equal(s, "\"a\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffdz\xc3\xa9\"");
	free(s);
}

static void test_escape_xml(void **state)
{
	char *s;

	(void)state;
	s = esc(pt_esc_xml, VIZFIX_EVIL);
	assert_string_equal(s, VIZFIX_EVIL_XML);
	free(s);
	s = esc(pt_esc_xml, "\"a\" & 'b'\n\x01\xff]]>");
	assert_string_equal(s, "&quot;a&quot; &amp; &#39;b&#39;&#10;"
			       "\xef\xbf\xbd\xef\xbf\xbd]]&gt;");
	free(s);
	assert_int_equal(pt_utf8_count("a\xc3\xa9\xff"), 3);
	s = pt_utf8_sanitize("x\xffy");
	assert_string_equal(s, "x\xef\xbf\xbdy");
	free(s);
}

static void test_pb_wire(void **state)
{
	struct pt_pb b, sub;
	const uint64_t v[] = { 1, 300, 0 };

	(void)state;
	pt_pb_init(&b);
	pt_pb_init(&sub);
	pt_pb_uint(&b, 1, 150);          /* 08 96 01 */
	pt_pb_uint(&b, 2, 0);            /* omitted */
	pt_pb_bytes(&b, 6, "", 0);       /* 32 00: repeated strings kept */
	pt_pb_packed(&b, 3, v, 3);       /* 1a 04 01 ac 02 00 */
	pt_pb_uint(&sub, 1, 1);
	pt_pb_msg(&b, 4, &sub);          /* 22 02 08 01 */
	assert_int_equal(pt_pb_error(&b), 0);
	{
		const uint8_t want[] = { 0x08, 0x96, 0x01, 0x32, 0x00, 0x1a,
					 0x04, 0x01, 0xac, 0x02, 0x00, 0x22,
					 0x02, 0x08, 0x01 };

		assert_int_equal(b.len, sizeof want);
		assert_memory_equal(b.p, want, sizeof want);
	}
	pt_pb_free(&b);
	pt_pb_free(&sub);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flame_peak_tree),
		cmocka_unit_test(test_flame_alloc_tree),
		cmocka_unit_test(test_flame_empty),
		cmocka_unit_test(test_flame_canon),
		cmocka_unit_test(test_escape_json),
		cmocka_unit_test(test_escape_xml),
		cmocka_unit_test(test_pb_wire),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
