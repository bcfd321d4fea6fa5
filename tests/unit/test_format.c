/*
 * test_format.c: the trace format's building blocks and the encoder, by
 * round trip through the real decoder.
 *
 * What a user relies on: every record the runtime writes comes back from
 * the decoder with the same values, edge values included (0, UINT64_MAX,
 * empty and 1 MiB strings, 1024-frame stacks); the bytes on disk are the
 * ones docs/FORMAT.md specifies (golden bytes below); a record that does
 * not fit leaves the chunk untouched, so the writer can seal and retry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/encoder.h"
#include "peaktrace/format.h"
#include "report/decoder.h"
#include "tracebuf.h"

/* ---- varints, zigzag, CRC ------------------------------------------------ */

static void test_varint_round_trip(void **state)
{
	static const uint64_t vals[] = {
		0, 1, 127, 128, 255, 300, 16383, 16384, UINT32_MAX,
		(uint64_t)UINT32_MAX + 1, (1ull << 56) - 1, 1ull << 63,
		UINT64_MAX - 1, UINT64_MAX,
	};
	(void)state;
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		uint8_t b[PT_FMT_VARINT_MAX];
		uint64_t v = 12345;
		size_t n = pt_varint_put(b, vals[i]);
		assert_int_equal(n, pt_varint_len(vals[i]));
		assert_int_equal(pt_varint_get(b, n, &v), n);
		assert_true(v == vals[i]);
		/* one byte short: rejected, v untouched */
		v = 12345;
		assert_int_equal(pt_varint_get(b, n - 1, &v), 0);
		assert_true(v == 12345);
	}
	uint8_t b[PT_FMT_VARINT_MAX];
	assert_int_equal(pt_varint_put(b, 0), 1);
	assert_int_equal(pt_varint_put(b, 127), 1);
	assert_int_equal(pt_varint_put(b, 128), 2);
	assert_int_equal(b[0], 0x80);
	assert_int_equal(b[1], 0x01);
	assert_int_equal(pt_varint_put(b, UINT64_MAX), 10);
	assert_int_equal(b[9], 0x01);
}

static void test_varint_rejects_bad(void **state)
{
	uint8_t eleven[11];
	uint64_t v;
	(void)state;
	/* 11 bytes: ten continuation bytes, then a terminator */
	memset(eleven, 0x80, sizeof eleven);
	eleven[10] = 0x00;
	assert_int_equal(pt_varint_get(eleven, sizeof eleven, &v), 0);
	/* 10th byte above 1: does not fit in 64 bits */
	uint8_t big[10];
	memset(big, 0xff, 9);
	big[9] = 0x02;
	assert_int_equal(pt_varint_get(big, sizeof big, &v), 0);
	big[9] = 0x01;
	assert_int_equal(pt_varint_get(big, sizeof big, &v), 10);
	assert_true(v == UINT64_MAX);
	/* an overlong zero that fits is accepted */
	uint8_t ol[2] = { 0x80, 0x00 };
	assert_int_equal(pt_varint_get(ol, 2, &v), 2);
	assert_true(v == 0);
	/* empty input */
	assert_int_equal(pt_varint_get(ol, 0, &v), 0);
}

static void test_zigzag_and_delta(void **state)
{
	(void)state;
	assert_true(pt_zigzag_enc(0) == 0);
	assert_true(pt_zigzag_enc((uint64_t)-1) == 1);
	assert_true(pt_zigzag_enc(1) == 2);
	assert_true(pt_zigzag_enc((uint64_t)-2) == 3);
	assert_true(pt_zigzag_enc(INT64_MAX) == UINT64_MAX - 1);
	assert_true(pt_zigzag_enc((uint64_t)INT64_MIN) == UINT64_MAX);
	static const uint64_t v[] = { 0, 1, 2, 1ull << 63, UINT64_MAX,
				      0x7f0000001000ull, 12345 };
	for (size_t i = 0; i < 7; i++) {
		assert_true(pt_zigzag_dec(pt_zigzag_enc(v[i])) == v[i]);
		for (size_t j = 0; j < 7; j++)
			assert_true(pt_addr_delta_dec(pt_addr_delta_enc(v[i], v[j]),
						      v[j]) == v[i]);
	}
	/* nearby addresses stay small */
	assert_true(pt_addr_delta_enc(0x7f0000001010ull, 0x7f0000001000ull) == 32);
	assert_true(pt_addr_delta_enc(0x7f0000001000ull, 0x7f0000001010ull) == 31);
}

static void test_crc32c(void **state)
{
	(void)state;
	assert_true(pt_crc32c(0, "123456789", 9) == 0xE3069283u);
	assert_true(pt_crc32c(0, "", 0) == 0);
	uint32_t c = pt_crc32c(0, "1234", 4);
	assert_true(pt_crc32c(c, "56789", 5) == 0xE3069283u);
	/* 32 zero bytes: RFC 3720 B.4 test vector */
	uint8_t z[32] = { 0 };
	assert_true(pt_crc32c(0, z, sizeof z) == 0x8A9136AAu);
	/* the table loop and the machine's instruction (when it has one)
	 * agree on every length and alignment */
	uint8_t rnd[300];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < sizeof rnd; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		rnd[i] = (uint8_t)x;
	}
	for (size_t off = 0; off < 9; off++)
		for (size_t n = 0; n + off <= sizeof rnd; n += 1 + n / 8)
			assert_true(pt_crc32c(0x1234u, rnd + off, n) ==
				    pt_crc32c_sw(0x1234u, rnd + off, n));
}

/* ---- golden bytes --------------------------------------------------------- */

static void test_file_header_bytes(void **state)
{
	static const uint8_t want[16] = { 'P', 'E', 'A', 'K', 'T', 'R', 'C', 0,
					  1, 0, 0, 0, 0, 0, 0, 0 };
	uint8_t h[16];
	(void)state;
	memset(h, 0xaa, sizeof h);
	assert_int_equal(pt_enc_file_header(h), 16);
	assert_memory_equal(h, want, 16);
}

static void test_record_and_chunk_bytes(void **state)
{
	uint8_t buf[64];
	struct pt_enc e;
	(void)state;

	pt_enc_init(&e, buf, sizeof buf);
	assert_int_equal(pt_enc_alloc(&e, 7, 0x1000, 16, 16, 3), 0);
	assert_int_equal(pt_enc_free(&e, 0xff0), 0);
	/* ALLOC: type 6, body 6 bytes: tid 7, zigzag(0x1000 - 0) = 0x2000
	 * = 80 40, size 16, weight 16, stack 3.
	 * FREE: type 7, body 1 byte: zigzag(0xff0 - 0x1000) = zigzag(-16) = 31 */
	static const uint8_t want[] = { 0x06, 0x06, 0x07, 0x80, 0x40, 0x10,
					0x10, 0x03, 0x07, 0x01, 0x1f };
	assert_int_equal(e.len, sizeof want);
	assert_memory_equal(buf, want, sizeof want);
	assert_true(e.last_addr == 0xff0);

	uint8_t h[16];
	assert_int_equal(pt_chunk_seal(h, buf, e.len, 0x01020304), 16);
	assert_memory_equal(h, "PTCK", 4);
	assert_int_equal(pt_get_le32(h + 4), sizeof want);
	assert_int_equal(h[4], sizeof want);
	assert_true(pt_get_le32(h + 8) == pt_crc32c(0, buf, e.len));
	assert_int_equal(h[12], 0x04);
	assert_int_equal(h[15], 0x01);

	/* a new chunk starts the address delta from 0 again */
	pt_enc_init(&e, buf, sizeof buf);
	assert_int_equal(pt_enc_free(&e, 1), 0);
	static const uint8_t want2[] = { 0x07, 0x01, 0x02 };
	assert_memory_equal(buf, want2, sizeof want2);
}

/* ---- round trips ---------------------------------------------------------- */

/* Decodes t and checks the records equal t->log, no warnings. */
static void expect_round_trip(struct tb *t)
{
	struct pt_dec *d;
	struct pt_rec r;
	char err[256];
	size_t i = 0;
	int rc;

	assert_int_equal(pt_dec_open_mem(&d, t->data, t->len, err, sizeof err), 0);
	while ((rc = pt_dec_next(d, &r)) == 1) {
		assert_true(i < t->nlog);
		if (!tb_rec_eq(&r, &t->log[i]))
			fail_msg("record %zu (type %u) differs after round trip",
				 i, r.type);
		assert_int_equal(r.chunk_seq, t->log_chunk[i]);
		/* decoded strings are NUL-terminated */
		if (r.type == PT_REC_STRING)
			assert_int_equal(r.u.string.s.p[r.u.string.s.len], 0);
		i++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(i, t->nlog);
	for (size_t w = 0; w < pt_dec_warning_count(d); w++)
		print_message("unexpected warning: %s\n", pt_dec_warning(d, w));
	assert_int_equal(pt_dec_warning_count(d), 0);
	struct pt_dec_stats st;
	pt_dec_stats(d, &st);
	assert_int_equal(st.chunks_read, t->nchunks);
	assert_int_equal(st.chunks_skipped, 0);
	assert_int_equal(st.records, t->nlog);
	assert_int_equal(st.version, 1);
	pt_dec_close(d);
}

static void test_every_record_edge_values(void **state)
{
	static const uint64_t vals[] = { 0, 1, 127, 128, UINT32_MAX,
					 1ull << 63, UINT64_MAX };
	static const uint32_t v32[] = { 0, 1, 127, 128, UINT32_MAX };
	static uint64_t frames[PT_FMT_MAX_FRAMES];
	static const char odd[] = "nul\0inside\xff\xfe tab\t";
	struct tb *t = tb_new(1 << 16);
	struct pt_rec r;
	(void)state;

	for (size_t i = 0; i < PT_FMT_MAX_FRAMES; i++)
		frames[i] = i % 2 ? PT_FRAME_PY(i) : PT_FRAME_NATIVE(~(uint64_t)0 >> 1) - i * 2;

	for (size_t a = 0; a < 7; a++) {
		uint64_t x = vals[a], y = vals[6 - a];
		uint32_t x32 = v32[a % 5], y32 = v32[4 - a % 5];

		r = (struct pt_rec){ .type = PT_REC_HEADER };
		r.u.header = (struct pt_rec_header){
			x32, x32, y32, x, x32, y, x,
			{ odd, sizeof odd - 1 }, { "", 0 }, { "a", 1 },
		};
		assert_int_equal(tb_rec(t, &r), 0);
		r = (struct pt_rec){ .type = PT_REC_STRING };
		r.u.string.id = x32;
		r.u.string.s = (struct pt_str){ a % 2 ? odd : "", a % 2 ? sizeof odd - 1 : 0 };
		assert_int_equal(tb_rec(t, &r), 0);
		r = (struct pt_rec){ .type = PT_REC_MODULE };
		r.u.module = (struct pt_rec_module){
			x32, y32, x, y, x,
			{ a % 2 ? odd : "", a % 2 ? (a == 1 ? sizeof odd - 1 : 7) : 0 },
		};
		assert_int_equal(tb_rec(t, &r), 0);
		r = (struct pt_rec){ .type = PT_REC_PYFRAME };
		r.u.pyframe = (struct pt_rec_pyframe){ x32, y32, x32, y32 };
		assert_int_equal(tb_rec(t, &r), 0);
		r = (struct pt_rec){ .type = PT_REC_STACK };
		r.u.stack.id = y32;
		r.u.stack.n = a == 0 ? 0 : a == 1 ? PT_FMT_MAX_FRAMES : (uint32_t)a;
		r.u.stack.frames = a == 0 ? NULL : frames;
		assert_int_equal(tb_rec(t, &r), 0);
		r = tb_alloc(x32, x, y, x, y32);
		assert_int_equal(tb_rec(t, &r), 0);
		r = tb_free_rec(y);
		assert_int_equal(tb_rec(t, &r), 0);
		r = tb_free_rec(x);
		assert_int_equal(tb_rec(t, &r), 0);
		r = (struct pt_rec){ .type = PT_REC_TICK };
		r.u.tick = (struct pt_rec_tick){ x, y, x, y };
		assert_int_equal(tb_rec(t, &r), 0);
		r = (struct pt_rec){ .type = PT_REC_PEAK };
		r.u.peak = (struct pt_rec_peak){ y, x };
		assert_int_equal(tb_rec(t, &r), 0);
		r = (struct pt_rec){ .type = PT_REC_THREAD };
		r.u.thread.tid = y32;
		r.u.thread.name = (struct pt_str){ "worker-1", 8 };
		assert_int_equal(tb_rec(t, &r), 0);
		r = (struct pt_rec){ .type = PT_REC_TRIP };
		r.u.trip.reason = (struct pt_str){ a % 2 ? "" : "disk full", a % 2 ? 0 : 9 };
		assert_int_equal(tb_rec(t, &r), 0);
		r = (struct pt_rec){ .type = PT_REC_DROPS };
		r.u.drops.total = x;
		assert_int_equal(tb_rec(t, &r), 0);
		r = (struct pt_rec){ .type = PT_REC_END };
		r.u.end = (struct pt_rec_end){ x, y, x, y, x };
		assert_int_equal(tb_rec(t, &r), 0);
		if (a % 3 == 2)
			tb_flush(t);
	}
	tb_flush(t);
	assert_true(t->nchunks >= 3);
	expect_round_trip(t);
	tb_free(t);
}

static void test_huge_strings(void **state)
{
	const size_t max = PT_FMT_MAX_STRING;
	char *s = malloc(max + 1);
	struct tb *t = tb_new(3 * max + 64);
	struct pt_rec r;
	(void)state;

	assert_non_null(s);
	for (size_t i = 0; i <= max; i++)
		s[i] = (char)(i * 7 + 1);
	r = (struct pt_rec){ .type = PT_REC_STRING };
	r.u.string.id = 9;
	r.u.string.s = (struct pt_str){ s, (uint32_t)max };
	assert_int_equal(tb_rec(t, &r), 0);
	/* a header with three strings at the cap fits a 3 MiB chunk */
	r = (struct pt_rec){ .type = PT_REC_HEADER };
	r.u.header.python_version = (struct pt_str){ s, (uint32_t)max };
	r.u.header.cmdline = (struct pt_str){ s + 1, (uint32_t)max };
	r.u.header.exe = (struct pt_str){ s, (uint32_t)max };
	assert_int_equal(tb_rec(t, &r), 0);
	r = tb_end(1, 2);
	assert_int_equal(tb_rec(t, &r), 0);
	tb_flush(t);
	/* one byte over the cap: refused, nothing written */
	size_t before = t->e.len;
	assert_int_equal(pt_enc_string(&t->e, 10, s, max + 1), -EINVAL);
	assert_int_equal(pt_enc_thread(&t->e, 1, s, max + 1), -EINVAL);
	assert_int_equal(pt_enc_trip(&t->e, s, max + 1), -EINVAL);
	assert_int_equal(t->e.len, before);
	expect_round_trip(t);
	tb_free(t);
	free(s);
}

static void test_enospc_leaves_chunk_intact(void **state)
{
	uint8_t buf[32], copy[32];
	struct pt_enc e;
	(void)state;

	pt_enc_init(&e, buf, sizeof buf);
	assert_int_equal(pt_enc_alloc(&e, 1, 0x7f0000001000ull, 64, 64, 1), 0);
	size_t len = e.len;
	uint64_t last = e.last_addr;
	memcpy(copy, buf, len);
	/* a string that cannot fit */
	assert_int_equal(pt_enc_string(&e, 1, "0123456789012345678901234567890", 31),
			 -ENOSPC);
	assert_int_equal(e.len, len);
	assert_true(e.last_addr == last);
	assert_memory_equal(buf, copy, len);
	/* a FREE that does not fit leaves the address state alone */
	while (pt_enc_drops(&e, 1) == 0)
		;
	len = e.len;
	assert_int_equal(pt_enc_free(&e, 0x100000000000ull), -ENOSPC);
	assert_true(e.last_addr == last);
	assert_int_equal(e.len, len);
	/* a record of exactly the room left fits */
	pt_enc_init(&e, buf, sizeof buf);
	/* STRING of n bytes: type 1 + len 1 + id 1 + strlen 1 + n = 4 + n */
	assert_int_equal(pt_enc_string(&e, 1, "abcdefghijklmnopqrstuvwxyz0123", 28), 0);
	assert_int_equal(e.len, 32);
	assert_int_equal(pt_enc_drops(&e, 0), -ENOSPC);
	/* zero capacity */
	pt_enc_init(&e, buf, 0);
	assert_int_equal(pt_enc_free(&e, 0), -ENOSPC);
}

/* One record written by the fast path into a (roomy: ra) and by the
 * general path into b (capacity cap: rb): the same bytes and address
 * state, or b refused a record that cannot fit. */
static void same_record(const struct pt_enc *a, int ra, const struct pt_enc *b, int rb, size_t cap)
{
	assert_int_equal(ra, 0);
	if (rb == 0) {
		assert_int_equal(a->len, b->len);
		assert_memory_equal(a->p, b->p, a->len);
		assert_true(a->last_addr == b->last_addr);
	} else {
		assert_true(a->len > cap); /* only a record that cannot fit */
	}
}

/* ALLOC and FREE have a path of their own when the chunk has room to
 * spare; near the end of a chunk they take the general one. Both must
 * write the same bytes and leave the same address state. */
static void test_fast_records_match_general(void **state)
{
	uint8_t big[256], tight[64];
	uint64_t x = 0x243f6a8885a308d3ULL;
	(void)state;
	for (int i = 0; i < 20000; i++) {
		uint64_t v[6];
		for (int k = 0; k < 6; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			/* every varint length, extremes included */
			v[k] = (i % 7 == 0) ? ~(uint64_t)0 >> (x % 64) : x >> (x % 64);
		}
		struct pt_enc a, b;
		pt_enc_init(&a, big, sizeof big);
		a.last_addr = v[5];
		/* cap 51 < 2 + 5 * 10: the general path */
		pt_enc_init(&b, tight, 51);
		b.last_addr = v[5];
		int ra = pt_enc_alloc(&a, (uint32_t)v[0], v[1], v[2], v[3], (uint32_t)v[4]);
		int rb = pt_enc_alloc(&b, (uint32_t)v[0], v[1], v[2], v[3], (uint32_t)v[4]);
		same_record(&a, ra, &b, rb, 51);
		pt_enc_init(&a, big, sizeof big);
		a.last_addr = v[4];
		pt_enc_init(&b, tight, 11); /* < 2 + 10 */
		b.last_addr = v[4];
		ra = pt_enc_free(&a, v[1]);
		rb = pt_enc_free(&b, v[1]);
		same_record(&a, ra, &b, rb, 11);
	}
}

static void test_invalid_arguments(void **state)
{
	uint8_t buf[256];
	uint64_t frames[PT_FMT_MAX_FRAMES + 1] = { 0 };
	struct pt_enc e;
	struct pt_rec r = { .type = 0 };
	(void)state;

	pt_enc_init(&e, buf, sizeof buf);
	assert_int_equal(pt_enc_stack(&e, 1, frames, PT_FMT_MAX_FRAMES + 1), -EINVAL);
	assert_int_equal(pt_enc_rec(&e, &r), -EINVAL);
	r.type = PT_REC__MAX + 1;
	assert_int_equal(pt_enc_rec(&e, &r), -EINVAL);
	assert_int_equal(e.len, 0);
	/* the cap is clamped to the chunk limit */
	pt_enc_init(&e, buf, (size_t)PT_FMT_MAX_CHUNK + 100);
	assert_true(e.cap == PT_FMT_MAX_CHUNK);
}

static void test_frame_helpers(void **state)
{
	(void)state;
	uint64_t f = PT_FRAME_NATIVE(0x7fff12345678ull);
	assert_false(pt_frame_is_py(f));
	assert_true(pt_frame_value(f) == 0x7fff12345678ull);
	f = PT_FRAME_PY(UINT32_MAX);
	assert_true(pt_frame_is_py(f));
	assert_true(pt_frame_value(f) == UINT32_MAX);
	assert_string_equal(pt_rec_type_name(PT_REC_ALLOC), "alloc");
	assert_string_equal(pt_rec_type_name(PT_REC_END), "end");
	assert_null(pt_rec_type_name(0));
	assert_null(pt_rec_type_name(PT_REC__MAX + 1));
	assert_null(pt_rec_type_name(255));
}

static void test_small_trace_round_trip(void **state)
{
	(void)state;
	struct tb *t = tb_small_trace();
	assert_int_equal(t->nchunks, 3);
	expect_round_trip(t);
	tb_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_varint_round_trip),
		cmocka_unit_test(test_varint_rejects_bad),
		cmocka_unit_test(test_zigzag_and_delta),
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_file_header_bytes),
		cmocka_unit_test(test_record_and_chunk_bytes),
		cmocka_unit_test(test_every_record_edge_values),
		cmocka_unit_test(test_huge_strings),
		cmocka_unit_test(test_enospc_leaves_chunk_intact),
		cmocka_unit_test(test_fast_records_match_general),
		cmocka_unit_test(test_invalid_arguments),
		cmocka_unit_test(test_frame_helpers),
		cmocka_unit_test(test_small_trace_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
