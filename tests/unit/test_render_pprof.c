/*
 * test_render_pprof.c: the pprof export (report/render_pprof.c), decoded
 * here with zlib and a minimal protobuf reader: the message profile.proto
 * describes, with the numbers a consumer sums. tests/viz reads the same
 * output with `go tool pprof`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <zlib.h>

#include "tests/unit/vizfix.h"

/* ---- a minimal protobuf reader -------------------------------------------- */

struct rd {
	const uint8_t *p, *end;
};

static uint64_t varint(struct rd *r)
{
	uint64_t v = 0;

	for (int s = 0; s < 64; s += 7) {
		assert_true(r->p < r->end);
		uint8_t b = *r->p++;

		v |= (uint64_t)(b & 0x7f) << s;
		if (!(b & 0x80))
			return v;
	}
	fail_msg("varint too long");
	return 0;
}

/* Next field: returns 0 at the end. Sets *field, and either *v (varint)
 * or *sub (length-delimited). */
static int next(struct rd *r, uint32_t *field, uint64_t *v, struct rd *sub)
{
	uint64_t key, n;

	if (r->p >= r->end)
		return 0;
	key = varint(r);
	*field = (uint32_t)(key >> 3);
	switch (key & 7) {
	case 0:
		*v = varint(r);
		sub->p = sub->end = NULL;
		return 1;
	case 2:
		n = varint(r);
		assert_true(n <= (uint64_t)(r->end - r->p));
		sub->p = r->p;
		sub->end = r->p + n;
		r->p += n;
		return 1;
	default:
		fail_msg("unexpected wire type %u", (unsigned)(key & 7));
		return 0;
	}
}

/* Varint values of a field that may be packed or not. */
static size_t values(uint64_t v, const struct rd *sub, uint64_t *out,
		     size_t cap)
{
	size_t n = 0;

	if (!sub->p) {
		out[0] = v;
		return 1;
	}
	for (struct rd r = *sub; r.p < r.end && n < cap;)
		out[n++] = varint(&r);
	return n;
}

/* ---- the decoded profile --------------------------------------------------- */

#define MAXN 64

struct prof {
	char *str[256];
	size_t nstr;
	uint64_t st_type[8], st_unit[8];
	size_t nst;
	struct {
		uint64_t loc[16];
		size_t nloc;
		uint64_t val[8];
		size_t nval;
	} sample[MAXN];
	size_t nsample;
	uint64_t loc_id[MAXN], loc_fn[MAXN], loc_line[MAXN], loc_addr[MAXN];
	size_t nloc;
	uint64_t fn_id[MAXN], fn_name[MAXN], fn_file[MAXN];
	size_t nfn;
	uint64_t default_type, period, duration, time;
	uint64_t period_type[2];
	size_t ncomment;
};

static uint8_t *gunzip(const char *gz, size_t len, size_t *outlen)
{
	z_stream zs;
	size_t cap = 1 << 20;
	uint8_t *out = malloc(cap);

	memset(&zs, 0, sizeof zs);
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = (Bytef *)gz;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	*outlen = zs.total_out;
	inflateEnd(&zs);
	return out;
}

static void decode(const uint8_t *p, size_t len, struct prof *pr)
{
	struct rd r = { p, p + len }, sub, s2, s3;
	uint32_t f, f2, f3;
	uint64_t v, v2, v3;

	memset(pr, 0, sizeof *pr);
	while (next(&r, &f, &v, &sub)) {
		switch (f) {
		case 1: /* sample_type */
			while (next(&sub, &f2, &v2, &s2))
				(f2 == 1 ? pr->st_type : pr->st_unit)[pr->nst] = v2;
			pr->nst++;
			break;
		case 2: { /* sample */
			size_t i = pr->nsample++;

			assert_true(i < MAXN);
			while (next(&sub, &f2, &v2, &s2)) {
				if (f2 == 1)
					pr->sample[i].nloc = values(v2, &s2,
						pr->sample[i].loc, 16);
				else if (f2 == 2)
					pr->sample[i].nval = values(v2, &s2,
						pr->sample[i].val, 8);
			}
			break;
		}
		case 4: { /* location */
			size_t i = pr->nloc++;

			assert_true(i < MAXN);
			while (next(&sub, &f2, &v2, &s2)) {
				if (f2 == 1)
					pr->loc_id[i] = v2;
				else if (f2 == 3)
					pr->loc_addr[i] = v2;
				else if (f2 == 4)
					while (next(&s2, &f3, &v3, &s3))
						(f3 == 1 ? pr->loc_fn
							 : pr->loc_line)[i] = v3;
			}
			break;
		}
		case 5: { /* function */
			size_t i = pr->nfn++;

			assert_true(i < MAXN);
			while (next(&sub, &f2, &v2, &s2)) {
				if (f2 == 1)
					pr->fn_id[i] = v2;
				else if (f2 == 2)
					pr->fn_name[i] = v2;
				else if (f2 == 4)
					pr->fn_file[i] = v2;
			}
			break;
		}
		case 6: /* string_table */
			assert_true(pr->nstr < 256);
			pr->str[pr->nstr] = strndup((const char *)sub.p,
						    (size_t)(sub.end - sub.p));
			assert_true(vizfix_utf8_ok((const char *)sub.p,
						   (size_t)(sub.end - sub.p)));
			pr->nstr++;
			break;
		case 9: pr->time = v; break;
		case 10: pr->duration = v; break;
		case 11:
			while (next(&sub, &f2, &v2, &s2))
				pr->period_type[f2 == 1 ? 0 : 1] = v2;
			break;
		case 12: pr->period = v; break;
		case 13: pr->ncomment++; break;
		case 14: pr->default_type = v; break;
		case 3: break; /* mapping */
		default:
			fail_msg("unexpected Profile field %u", f);
		}
	}
}

static void prof_free(struct prof *pr)
{
	for (size_t i = 0; i < pr->nstr; i++)
		free(pr->str[i]);
}

static const char *S(const struct prof *pr, uint64_t i)
{
	assert_true(i < pr->nstr);
	return pr->str[i];
}

/* the function name of location id */
static const char *loc_name(const struct prof *pr, uint64_t id)
{
	for (size_t i = 0; i < pr->nloc; i++) {
		if (pr->loc_id[i] != id)
			continue;
		for (size_t j = 0; j < pr->nfn; j++)
			if (pr->fn_id[j] == pr->loc_fn[i])
				return S(pr, pr->fn_name[j]);
		fail_msg("location %llu names no function", (unsigned long long)id);
	}
	fail_msg("no location %llu", (unsigned long long)id);
	return NULL;
}

static void load(enum vizfix_kind kind, struct prof *pr, struct pt_model **mp)
{
	struct pt_model *m = vizfix_load(kind);
	size_t gzlen, len;
	int rc;
	char *gz = vizfix_render(pt_render_pprof, m, &gzlen, &rc);
	uint8_t *raw;

	assert_int_equal(rc, 0);
	assert_true(gzlen > 18);
	assert_int_equal((uint8_t)gz[0], 0x1f);
	assert_int_equal((uint8_t)gz[1], 0x8b);
	raw = gunzip(gz, gzlen, &len);
	decode(raw, len, pr);
	free(raw);
	free(gz);
	*mp = m;
}

static void test_pprof_structure(void **state)
{
	struct pt_model *m;
	struct prof pr;
	static const char *const types[][2] = {
		{ "alloc_objects", "count" }, { "alloc_space", "bytes" },
		{ "inuse_objects", "count" }, { "inuse_space", "bytes" } };

	(void)state;
	load(VIZFIX_CLEAN, &pr, &m);
	assert_string_equal(S(&pr, 0), "");
	assert_int_equal(pr.nst, 4);
	for (int i = 0; i < 4; i++) {
		assert_string_equal(S(&pr, pr.st_type[i]), types[i][0]);
		assert_string_equal(S(&pr, pr.st_unit[i]), types[i][1]);
	}
	assert_string_equal(S(&pr, pr.default_type), "inuse_space");
	assert_string_equal(S(&pr, pr.period_type[0]), "space");
	assert_string_equal(S(&pr, pr.period_type[1]), "bytes");
	assert_int_equal(pr.period, 524288);
	assert_int_equal(pr.time, 1700000000123456789ull);
	assert_int_equal(pr.duration, 3000000);
	assert_true(pr.ncomment >= 2);
	/* every sample has 4 values and locations that exist */
	for (size_t i = 0; i < pr.nsample; i++) {
		assert_int_equal(pr.sample[i].nval, 4);
		assert_true(pr.sample[i].nloc >= 1);
		for (size_t j = 0; j < pr.sample[i].nloc; j++)
			assert_non_null(loc_name(&pr, pr.sample[i].loc[j]));
	}
	/* location ids unique and nonzero */
	for (size_t i = 0; i < pr.nloc; i++) {
		assert_true(pr.loc_id[i] != 0);
		for (size_t j = 0; j < i; j++)
			assert_true(pr.loc_id[i] != pr.loc_id[j]);
	}
	prof_free(&pr);
	pt_model_free(m);
}

static void test_pprof_values(void **state)
{
	struct pt_model *m;
	struct prof pr;
	uint64_t sum[4] = { 0 };
	int seen_native = 0;

	(void)state;
	load(VIZFIX_CLEAN, &pr, &m);
	for (size_t i = 0; i < pr.nsample; i++) {
		const char *leaf = loc_name(&pr, pr.sample[i].loc[0]);
		const char *root = loc_name(&pr, pr.sample[i].loc[pr.sample[i].nloc - 1]);

		for (int k = 0; k < 4; k++)
			sum[k] += pr.sample[i].val[k];
		/* leaf first: the outermost frame is main */
		assert_string_equal(root, "main");
		if (strcmp(leaf, "0x401234") == 0) {
			seen_native = 1;
			assert_string_equal(loc_name(&pr, pr.sample[i].loc[1]), "evil");
			assert_int_equal(pr.sample[i].val[3], 2 * VIZFIX_W);
		}
	}
	assert_true(seen_native);
	assert_int_equal(sum[3], VIZFIX_LIVE);    /* inuse_space */
	assert_int_equal(sum[2], 6);              /* inuse_objects */
	assert_int_equal(sum[1], VIZFIX_ALLOC);   /* alloc_space */
	assert_int_equal(sum[0], 11);             /* alloc_objects */
	/* Python lines are in the Line, the function keeps its file */
	for (size_t i = 0; i < pr.nfn; i++)
		if (strcmp(S(&pr, pr.fn_name[i]), "load") == 0)
			assert_string_equal(S(&pr, pr.fn_file[i]), "job.py");
	for (size_t i = 0; i < pr.nloc; i++)
		if (strcmp(loc_name(&pr, pr.loc_id[i]), "load") == 0)
			assert_int_equal(pr.loc_line[i], 20);
	/* native frames keep their address */
	for (size_t i = 0; i < pr.nloc; i++)
		if (strcmp(loc_name(&pr, pr.loc_id[i]), "0x401234") == 0)
			assert_int_equal(pr.loc_addr[i], 0x401234);
	prof_free(&pr);
	pt_model_free(m);
}

static void test_pprof_hostile_and_empty(void **state)
{
	struct pt_model *m;
	struct prof pr;
	int evil = 0, bad = 0;

	(void)state;
	load(VIZFIX_HOSTILE, &pr, &m); /* decode() checks every string is UTF-8 */
	for (size_t i = 0; i < pr.nstr; i++) {
		evil |= strcmp(pr.str[i], VIZFIX_EVIL) == 0;
		bad |= strcmp(pr.str[i], "bad\xef\xbf\xbd\xef\xbf\xbd name") == 0;
	}
	assert_true(evil);
	assert_true(bad);
	prof_free(&pr);
	pt_model_free(m);

	load(VIZFIX_EMPTY, &pr, &m);
	assert_int_equal(pr.nsample, 0);
	assert_int_equal(pr.nst, 4);
	assert_string_equal(S(&pr, pr.default_type), "inuse_space");
	prof_free(&pr);
	pt_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pprof_structure),
		cmocka_unit_test(test_pprof_values),
		cmocka_unit_test(test_pprof_hostile_and_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
