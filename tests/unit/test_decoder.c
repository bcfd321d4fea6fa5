/*
 * test_decoder.c: the decoder's promises on damaged and hostile input.
 *
 * What a user relies on (DESIGN.md, "The trace format"):
 *  - a trace cut at ANY byte decodes without a crash to exactly the records
 *    of its whole chunks, with a warning;
 *  - a damaged chunk is skipped whole (none of its records is trusted), with
 *    a warning, and the other chunks still decode, addresses included;
 *  - a file that is not a trace, or of another version, or empty, is
 *    refused at open with the exact message `peaktrace decode` prints;
 *  - records of a newer version (unknown types, extra fields) are skipped
 *    or ignored, not fatal;
 *  - hostile lengths neither crash, allocate without bound, nor hang.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/encoder.h"
#include "peaktrace/fp.h"
#include "peaktrace/format.h"
#include "report/decoder.h"
#include "tracebuf.h"

/* ---- helpers ------------------------------------------------------------ */

struct result {
	int open_rc;
	char err[256];
	int end_rc;                 /* last pt_dec_next result */
	size_t n;                   /* records decoded */
	struct pt_rec recs[TB_MAX_LOG]; /* shallow: type and scalar fields */
	int match;                  /* every record equal to the expected one */
	size_t nwarn;
	char warns[8][320];
	struct pt_dec_stats st;
};

static struct result res;

/* Decodes buf; checks each record against want[] (shallow compare is done
 * by tb_rec_eq, valid because it runs before the next pt_dec_next). */
static void decode_buf(const uint8_t *buf, size_t len, const struct pt_rec *want,
		       size_t nwant)
{
	struct pt_dec *d;
	struct pt_rec r;
	int rc;

	memset(&res, 0, sizeof res);
	res.match = 1;
	res.open_rc = pt_dec_open_mem(&d, buf, len, res.err, sizeof res.err);
	if (res.open_rc < 0)
		return;
	while ((rc = pt_dec_next(d, &r)) == 1) {
		if (res.n < nwant && want && !tb_rec_eq(&r, &want[res.n]))
			res.match = 0;
		if (res.n < TB_MAX_LOG)
			res.recs[res.n] = r;
		res.n++;
	}
	res.end_rc = rc;
	res.nwarn = pt_dec_warning_count(d);
	for (size_t i = 0; i < res.nwarn && i < 8; i++)
		snprintf(res.warns[i], sizeof res.warns[i], "%s",
			 pt_dec_warning(d, i));
	pt_dec_stats(d, &res.st);
	pt_dec_close(d);
}

static int warned(const char *needle)
{
	for (size_t i = 0; i < res.nwarn && i < 8; i++)
		if (strstr(res.warns[i], needle))
			return 1;
	return 0;
}

static void dump_warnings(void)
{
	for (size_t i = 0; i < res.nwarn && i < 8; i++)
		print_message("warning: %s\n", res.warns[i]);
}

/* The records of t that went into chunks other than `skip`, in order. */
static size_t records_without_chunk(const struct tb *t, size_t skip,
				    struct pt_rec *out)
{
	size_t n = 0;
	for (size_t i = 0; i < t->nlog; i++)
		if (t->log_chunk[i] != skip)
			out[n++] = t->log[i];
	return n;
}

static char tmpdir[] = "/tmp/pt_test_decoder.XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	if (n)
		assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* ---- open errors ---------------------------------------------------------- */

static void expect_open_error(const void *p, size_t n, int want_rc,
			      const char *want_msg)
{
	char path[256], err[256];
	struct pt_dec *d = (struct pt_dec *)1;

	snprintf(path, sizeof path, "%s/t.ptrace", tmpdir);
	write_file(path, p, n);
	assert_int_equal(pt_dec_open(&d, path, err, sizeof err), want_rc);
	assert_null(d);
	assert_string_equal(err, want_msg);
	/* the memory source says the same */
	assert_int_equal(pt_dec_open_mem(&d, p, n, err, sizeof err), want_rc);
	assert_string_equal(err, want_msg);
}

static void test_open_errors(void **state)
{
	char path[256], err[256];
	struct pt_dec *d;
	uint8_t h[32];
	(void)state;

	snprintf(path, sizeof path, "%s/missing.ptrace", tmpdir);
	assert_int_equal(pt_dec_open(&d, path, err, sizeof err), -ENOENT);
	assert_string_equal(err, "No such file or directory");
	assert_int_equal(pt_dec_open(&d, tmpdir, err, sizeof err), -EISDIR);
	assert_string_equal(err, "is a directory");

	expect_open_error("", 0, -EPROTO, "empty file");
	expect_open_error("#!/bin/sh\necho not a trace\n", 26, -EPROTO,
			  "not a peaktrace trace (bad magic)");
	expect_open_error("PEAK", 4, -EPROTO, "truncated file header (4 of 16 bytes)");
	expect_open_error("PEEK", 4, -EPROTO, "not a peaktrace trace (bad magic)");
	pt_enc_file_header(h);
	expect_open_error(h, 15, -EPROTO, "truncated file header (15 of 16 bytes)");
	h[8] = 2;
	expect_open_error(h, 16, -EPROTO,
			  "unsupported trace version 2 (this decoder reads 1)");
	h[8] = 0;
	h[9] = 1;
	expect_open_error(h, 16, -EPROTO,
			  "unsupported trace version 256 (this decoder reads 1)");
	/* flags and reserved bytes are ignored */
	pt_enc_file_header(h);
	memset(h + 10, 0xff, 6);
	decode_buf(h, 16, NULL, 0);
	assert_int_equal(res.open_rc, 0);
	assert_int_equal(res.end_rc, 0);
	assert_int_equal(res.n, 0);
}

/* ---- whole, truncated, corrupted ------------------------------------------ */

static void test_whole_trace_no_warnings(void **state)
{
	struct tb *t = tb_small_trace();
	(void)state;

	decode_buf(t->data, t->len, t->log, t->nlog);
	assert_int_equal(res.open_rc, 0);
	assert_int_equal(res.end_rc, 0);
	assert_int_equal(res.n, t->nlog);
	assert_true(res.match);
	assert_int_equal(res.nwarn, 0);
	assert_int_equal(res.st.chunks_read, 3);
	assert_int_equal(res.st.truncated, 0);
	assert_int_equal(res.st.file_bytes, t->len);
	tb_free(t);
}

static void test_truncated_at_every_offset(void **state)
{
	struct tb *t = tb_small_trace();
	(void)state;

	for (size_t cut = 0; cut <= t->len; cut++) {
		/* a copy of exactly cut bytes, so ASan sees any overread */
		uint8_t *buf = malloc(cut ? cut : 1);
		assert_non_null(buf);
		memcpy(buf, t->data, cut);
		decode_buf(buf, cut, t->log, t->nlog);
		free(buf);

		if (cut == 0) {
			assert_int_equal(res.open_rc, -EPROTO);
			assert_string_equal(res.err, "empty file");
			continue;
		}
		if (cut < PT_FMT_FILE_HEADER_LEN) {
			assert_int_equal(res.open_rc, -EPROTO);
			assert_non_null(strstr(res.err, "truncated file header"));
			continue;
		}
		assert_int_equal(res.open_rc, 0);
		assert_int_equal(res.end_rc, 0);
		/* exactly the records of the whole chunks before the cut */
		size_t whole = 0;
		while (whole < t->nchunks && t->chunk_end[whole] <= cut)
			whole++;
		size_t want = 0;
		while (want < t->nlog && t->log_chunk[want] < whole)
			want++;
		if (res.n != want || !res.match)
			fail_msg("cut at %zu: %zu records (want %zu), match %d",
				 cut, res.n, want, res.match);
		if (cut == t->len) {
			assert_int_equal(res.nwarn, 0);
			continue;
		}
		assert_true(res.nwarn >= 1);
		int at_boundary = cut == PT_FMT_FILE_HEADER_LEN ||
				  (whole > 0 && t->chunk_end[whole - 1] == cut);
		if (at_boundary) {
			/* whole chunks, but the trace stops before END */
			assert_true(warned("trace has no end record"));
			assert_int_equal(res.st.truncated, 0);
		} else {
			char want_msg[64];
			if (whole)
				snprintf(want_msg, sizeof want_msg,
					 "trace truncated after chunk %zu",
					 whole - 1);
			else
				snprintf(want_msg, sizeof want_msg,
					 "trace truncated before its first "
					 "whole chunk");
			if (!warned(want_msg)) {
				dump_warnings();
				fail_msg("cut at %zu: no '%s'", cut, want_msg);
			}
			assert_int_equal(res.st.truncated, 1);
			assert_int_equal(res.nwarn, 1);
		}
	}
	tb_free(t);
}

static void test_flipped_byte_skips_only_its_chunk(void **state)
{
	struct tb *t = tb_small_trace();
	uint8_t *buf = malloc(t->len);
	static struct pt_rec want[TB_MAX_LOG];
	static const uint8_t patterns[] = { 0xff, 0x01, 0x80 };
	(void)state;

	assert_non_null(buf);
	for (size_t c = 0; c < t->nchunks; c++) {
		size_t nwant = records_without_chunk(t, c, want);
		for (size_t off = t->chunk_off[c]; off < t->chunk_end[c]; off++) {
			for (size_t k = 0; k < sizeof patterns; k++) {
				memcpy(buf, t->data, t->len);
				buf[off] ^= patterns[k];
				decode_buf(buf, t->len, NULL, 0);
				assert_int_equal(res.open_rc, 0);
				assert_int_equal(res.end_rc, 0);
				size_t in_hdr = off - t->chunk_off[c];
				if (in_hdr >= 12 && in_hdr < 16) {
					/* the sequence number is not covered
					 * by the CRC: every record decodes, and
					 * the jump is reported */
					assert_int_equal(res.n, t->nlog);
					assert_true(warned("sequence"));
					continue;
				}
				if (res.n != nwant) {
					dump_warnings();
					fail_msg("flip 0x%02x at %zu (chunk %zu): %zu "
						 "records, want %zu", patterns[k],
						 off, c, res.n, nwant);
				}
				for (size_t i = 0; i < nwant; i++)
					assert_int_equal(res.recs[i].type,
							 want[i].type);
				assert_true(res.nwarn >= 1);
				/* a chunk counts as skipped when its magic
				 * was intact; otherwise its bytes are
				 * garbage */
				if (res.st.truncated)
					assert_int_equal(res.st.chunks_skipped, 0);
				else if (in_hdr >= 4)
					assert_int_equal(res.st.chunks_skipped, 1);
				else
					assert_true(res.st.bytes_skipped >= 16);
				if (!warned("corrupt") &&
				    !warned("trace truncated")) {
					dump_warnings();
					fail_msg("flip at %zu: no warning", off);
				}
			}
		}
	}
	/* Addresses in a chunk after a lost one decode right: the delta
	 * state restarts at each chunk. Chunk 2's FREE has 0x7f0000020000. */
	memcpy(buf, t->data, t->len);
	buf[t->chunk_off[1] + 20] ^= 0xff;
	decode_buf(buf, t->len, NULL, 0);
	int found = 0;
	for (size_t i = 0; i < res.n; i++)
		if (res.recs[i].type == PT_REC_FREE) {
			assert_true(res.recs[i].u.free.addr == 0x7f0000020000ull);
			found = 1;
		}
	assert_true(found);
	free(buf);
	tb_free(t);
}

static void test_garbage_between_chunks(void **state)
{
	struct tb *t = tb_small_trace();
	struct tb *g = tb_new(64);
	(void)state;

	/* header + chunk 0 + garbage (with a fake magic) + chunks 1, 2 */
	g->len = 0;
	tb_append(g, t->data, t->chunk_end[0]);
	tb_append(g, "xxPTCKyyyyyyyyyyyyyyyyyyPTC", 27);
	tb_append(g, t->data + t->chunk_end[0], t->len - t->chunk_end[0]);
	decode_buf(g->data, g->len, t->log, t->nlog);
	assert_int_equal(res.n, t->nlog);
	assert_true(res.match);
	assert_int_equal(res.nwarn, 1);
	assert_true(warned("skipped 27 bytes of corrupt data at offset"));
	assert_int_equal(res.st.bytes_skipped, 27);
	assert_int_equal(res.st.chunks_skipped, 0);
	/* trailing garbage after END */
	g->len = 0;
	tb_append(g, t->data, t->len);
	tb_append(g, "garbage", 7);
	decode_buf(g->data, g->len, t->log, t->nlog);
	assert_int_equal(res.n, t->nlog);
	assert_true(warned("to the end of the file"));
	tb_free(g);
	tb_free(t);
}

/* A chunk with a valid CRC around bad records: skipped whole. */
static void expect_bad_payload(const uint8_t *payload, size_t len,
			       const char *why)
{
	struct tb *t = tb_small_trace();
	struct tb *g = tb_new(64);
	uint8_t h[16];

	g->len = 0;
	tb_append(g, t->data, t->chunk_end[0]);
	pt_chunk_seal(h, payload, len, 1);
	tb_append(g, h, 16);
	tb_append(g, payload, len);
	tb_append(g, t->data + t->chunk_end[0], t->len - t->chunk_end[0]);
	decode_buf(g->data, g->len, t->log, t->nlog);
	/* chunk 0, then chunks 1 and 2 of t: all of t's records, none of ours */
	if (res.n != t->nlog || !res.match) {
		dump_warnings();
		fail_msg("%s: %zu records, want %zu", why, res.n, t->nlog);
	}
	if (!warned(why)) {
		dump_warnings();
		fail_msg("no warning containing '%s'", why);
	}
	assert_int_equal(res.st.chunks_skipped, 1);
	tb_free(g);
	tb_free(t);
}

static void test_bad_records_in_valid_chunk(void **state)
{
	(void)state;
	/* a good DROPS, then a FREE whose body runs past the chunk */
	static const uint8_t overrun[] = { 0x0c, 0x01, 0x05, 0x07, 0x09, 0x00 };
	expect_bad_payload(overrun, sizeof overrun,
			   "record 1 (free) at payload byte 3: record runs "
			   "past the end of its chunk");
	/* a field missing from a body */
	static const uint8_t shortbody[] = { 0x09, 0x01, 0x05 };
	expect_bad_payload(shortbody, sizeof shortbody,
			   "record 0 (peak) at payload byte 0: field runs past "
			   "the end of its record");
	/* an 11-byte varint */
	static const uint8_t longvar[] = { 0x0c, 0x0b, 0x80, 0x80, 0x80, 0x80,
					   0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
					   0x00 };
	expect_bad_payload(longvar, sizeof longvar, "varint longer than 10 bytes");
	/* a record length varint cut by the chunk end */
	static const uint8_t badlen[] = { 0x0c, 0x80 };
	expect_bad_payload(badlen, sizeof badlen, "bad record length");
	/* a tid of 2^32 */
	static const uint8_t bigtid[] = { 0x0a, 0x06, 0x80, 0x80, 0x80, 0x80,
					  0x10, 0x00 };
	expect_bad_payload(bigtid, sizeof bigtid, "32-bit field out of range");
	/* a string longer than its record */
	static const uint8_t longstr[] = { 0x0b, 0x02, 0x05, 'a' };
	expect_bad_payload(longstr, sizeof longstr,
			   "string runs past the end of its record");
	/* a string over the 1 MiB cap */
	static const uint8_t hugestr[] = { 0x0b, 0x04, 0x81, 0x80, 0x40, 'a' };
	expect_bad_payload(hugestr, sizeof hugestr, "string longer than 1 MiB");
	/* a stack of 1025 frames */
	static const uint8_t deep[] = { 0x05, 0x03, 0x01, 0x81, 0x08 };
	expect_bad_payload(deep, sizeof deep, "stack of more than 1024 frames");
	/* a MODULE whose build-id claims 65 bytes */
	static const uint8_t longbid[] = { 0x03, 0x06, 1, 1, 0, 0, 0, 0x41 };
	expect_bad_payload(longbid, sizeof longbid,
			   "build-id longer than 64 bytes");
}

/* A MODULE from a runtime that wrote no build-id decodes with an empty
 * one; one with a build-id keeps its bytes. */
static void test_module_build_id_optional(void **state)
{
	static const uint8_t payload[] = {
		0x03, 0x05, 1, 2, 3, 4, 5,
		0x03, 0x09, 2, 2, 3, 4, 5, 0x03, 0xab, 0x00, 0xcd,
	};
	struct tb *g = tb_new(64);
	uint8_t h[16];
	(void)state;

	struct pt_rec want[2] = { { .type = PT_REC_MODULE },
				  { .type = PT_REC_MODULE } };
	want[0].u.module = (struct pt_rec_module){ 1, 2, 3, 4, 5, { "", 0 } };
	want[1].u.module = (struct pt_rec_module){ 2, 2, 3, 4, 5,
						   { "\xab\x00\xcd", 3 } };
	pt_chunk_seal(h, payload, sizeof payload, 0);
	tb_append(g, h, 16);
	tb_append(g, payload, sizeof payload);
	decode_buf(g->data, g->len, want, 2);
	assert_int_equal(res.n, 2);
	assert_true(res.match);
	assert_int_equal(res.nwarn, 1);
	assert_true(warned("no end record"));
	tb_free(g);
}

static void test_newer_records_are_skipped(void **state)
{
	uint8_t payload[64];
	size_t n = 0;
	(void)state;
	/* unknown type 200 twice, a DROPS with an extra trailing field, and
	 * an END */
	const uint8_t unk[] = { 200, 0x03, 1, 2, 3 };
	memcpy(payload + n, unk, sizeof unk);
	n += sizeof unk;
	const uint8_t drops[] = { 0x0c, 0x03, 0x2a, 0xff, 0x01 };
	memcpy(payload + n, drops, sizeof drops);
	n += sizeof drops;
	const uint8_t unk2[] = { 200, 0x00 };
	memcpy(payload + n, unk2, sizeof unk2);
	n += sizeof unk2;
	const uint8_t type0[] = { 0, 0x00 };
	memcpy(payload + n, type0, sizeof type0);
	n += sizeof type0;
	const uint8_t end[] = { 0x0d, 0x05, 1, 2, 3, 4, 5 };
	memcpy(payload + n, end, sizeof end);
	n += sizeof end;

	struct tb *g = tb_new(64);
	uint8_t h[16];
	pt_chunk_seal(h, payload, n, 0);
	tb_append(g, h, 16);
	tb_append(g, payload, n);
	decode_buf(g->data, g->len, NULL, 0);
	assert_int_equal(res.end_rc, 0);
	assert_int_equal(res.n, 2);
	assert_int_equal(res.recs[0].type, PT_REC_DROPS);
	assert_true(res.recs[0].u.drops.total == 42);
	assert_int_equal(res.recs[1].type, PT_REC_END);
	assert_true(res.recs[1].u.end.total_alloc_bytes == 5);
	assert_int_equal(res.st.unknown_records, 3);
	/* one warning per unknown type, not per record */
	assert_int_equal(res.nwarn, 2);
	assert_true(warned("unknown type 200"));
	assert_true(warned("unknown type 0"));
	tb_free(g);
}

static void test_hostile_lengths(void **state)
{
	struct tb *t = tb_small_trace();
	struct tb *g = tb_new(64);
	uint8_t h[16];
	(void)state;

	/* a chunk claiming more than 16 MiB, in front of the real ones */
	g->len = 0;
	tb_append(g, t->data, 16);
	memcpy(h, "PTCK", 4);
	pt_put_le32(h + 4, PT_FMT_MAX_CHUNK + 1);
	pt_put_le32(h + 8, 0);
	pt_put_le32(h + 12, 0);
	tb_append(g, h, 16);
	tb_append(g, t->data + 16, t->len - 16);
	decode_buf(g->data, g->len, t->log, t->nlog);
	assert_int_equal(res.n, t->nlog);
	assert_true(warned("over the 16 MiB limit"));

	/* a chunk claiming 16 MiB in a small file: truncated, and the
	 * decoder's buffer never grows past what the file holds (checked by
	 * ASan/valgrind runs; here, that it ends) */
	pt_put_le32(h + 4, PT_FMT_MAX_CHUNK);
	g->len = 0;
	tb_append(g, t->data, t->chunk_end[0]);
	tb_append(g, h, 16);
	tb_append(g, "tail", 4);
	decode_buf(g->data, g->len, NULL, 0);
	assert_int_equal(res.end_rc, 0);
	assert_true(warned("trace truncated after chunk 0"));

	/* A file full of fake chunk headers, each claiming the rest of the
	 * file: without the CRC work budget this is quadratic (tens of GiB
	 * of CRC); it must end. */
	size_t n = 4u << 20;
	uint8_t *big = malloc(n);
	assert_non_null(big);
	memcpy(big, t->data, 16);
	for (size_t off = 16; off + 16 <= n; off += 16) {
		memcpy(big + off, "PTCK", 4);
		pt_put_le32(big + off + 4, (uint32_t)(n - off - 16));
		pt_put_le32(big + off + 8, 0x12345678);
		pt_put_le32(big + off + 12, 0);
	}
	decode_buf(big, n, NULL, 0);
	assert_int_equal(res.end_rc, 0);
	assert_int_equal(res.n, 0);
	assert_true(warned("too much corruption"));
	free(big);
	tb_free(g);
	tb_free(t);
}

static void test_sequence_and_end_warnings(void **state)
{
	struct tb *t = tb_new(256);
	struct pt_rec r;
	(void)state;

	r = tb_header("x");
	tb_rec(t, &r);
	tb_flush(t);         /* seq 0 */
	t->seq = 5;          /* chunks 1..4 lost */
	r = tb_free_rec(1);
	tb_rec(t, &r);
	tb_flush(t);         /* seq 5, and no END */
	decode_buf(t->data, t->len, t->log, t->nlog);
	assert_int_equal(res.n, 2);
	assert_true(res.match);
	assert_true(warned("chunk sequence jumps from 0 to 5"));
	assert_true(warned("trace has no end record"));
	assert_int_equal(res.nwarn, 2);
	tb_free(t);
}

/* ---- streaming through an fd ---------------------------------------------- */

static void test_large_trace_through_fd(void **state)
{
	struct tb *t = tb_new(200000);
	char path[256], err[256];
	struct pt_dec *d;
	struct pt_rec r;
	(void)state;

	/* many small chunks, then chunks larger than the decoder's first
	 * window (64 KiB), so the window both slides and grows */
	for (uint32_t i = 0; i < 3000; i++) {
		r = tb_alloc(i, 0x7f0000000000ull + 64ull * i, 64, 64, i);
		tb_rec(t, &r);
		if (i % 10 == 9)
			tb_flush(t);
	}
	size_t nsmall = t->nlog;
	for (uint32_t i = 0; i < 40000; i++) {
		r = tb_free_rec(0x7f0000000000ull + 64ull * i);
		tb_rec(t, &r);
		if (i % 20000 == 19999)
			tb_flush(t);
	}
	r = tb_end(1, 2);
	tb_rec(t, &r);
	tb_flush(t);
	assert_true(t->nlog >= TB_MAX_LOG); /* log full: check counts only */
	snprintf(path, sizeof path, "%s/big.ptrace", tmpdir);
	write_file(path, t->data, t->len);

	assert_int_equal(pt_dec_open(&d, path, err, sizeof err), 0);
	uint64_t n = 0, frees = 0, want_addr = 0x7f0000000000ull;
	int rc;
	while ((rc = pt_dec_next(d, &r)) == 1) {
		if (n < nsmall && n < TB_MAX_LOG)
			assert_true(tb_rec_eq(&r, &t->log[n]));
		if (r.type == PT_REC_FREE) {
			assert_true(r.u.free.addr == want_addr);
			want_addr += 64;
			frees++;
		}
		n++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, 3000 + 40000 + 1);
	assert_int_equal(frees, 40000);
	assert_int_equal(pt_dec_warning_count(d), 0);
	struct pt_dec_stats st;
	pt_dec_stats(d, &st);
	assert_int_equal(st.chunks_read, t->nchunks);
	assert_int_equal(st.file_bytes, t->len);
	pt_dec_close(d);
	tb_free(t);
}

/* ---- failpoints ------------------------------------------------------------- */

static void arm(const char *spec)
{
	char err[128];
	if (pt_fp_configure(&pt_fp_table, spec, err, sizeof err) != 0)
		fail_msg("bad failpoint spec '%s': %s", spec, err);
}

static void test_failpoint_decoder_chunk(void **state)
{
	struct tb *t = tb_small_trace();
	static struct pt_rec want[TB_MAX_LOG];
	(void)state;

	size_t nwant = records_without_chunk(t, 0, want);
	arm("decoder_chunk=1*return");
	decode_buf(t->data, t->len, want, nwant);
	pt_fp_disarm_all(&pt_fp_table);
	assert_int_equal(res.end_rc, 0);
	assert_int_equal(res.n, nwant);
	assert_true(res.match);
	assert_true(warned("failpoint decoder_chunk"));
	assert_int_equal(res.st.chunks_skipped, 1);
	tb_free(t);
}

static void test_failpoint_decoder_read(void **state)
{
	struct tb *t = tb_small_trace();
	char path[256], err[256];
	struct pt_dec *d;
	struct pt_rec r;
	int rc;
	(void)state;

	/* at open */
	arm("decoder_read=return");
	rc = pt_dec_open_mem(&d, t->data, t->len, err, sizeof err);
	pt_fp_disarm_all(&pt_fp_table);
	assert_int_equal(rc, -EIO);
	assert_string_equal(err, "Input/output error");

	/* mid-stream: the first read succeeds, the next fails */
	snprintf(path, sizeof path, "%s/small.ptrace", tmpdir);
	write_file(path, t->data, t->len);
	arm("decoder_read=1*off->return");
	assert_int_equal(pt_dec_open(&d, path, err, sizeof err), 0);
	while ((rc = pt_dec_next(d, &r)) == 1)
		;
	pt_fp_disarm_all(&pt_fp_table);
	assert_int_equal(rc, -EIO);
	assert_non_null(strstr(pt_dec_error(d), "read error at offset"));
	/* sticky */
	assert_int_equal(pt_dec_next(d, &r), -EIO);
	pt_dec_close(d);
	tb_free(t);
}

/* ---- the committed fuzz corpus and regressions ----------------------------- */

#ifdef PT_FUZZ_DIR
static size_t replay_dir(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (!dp)
		return 0;
	while ((de = readdir(dp)) != NULL) {
		char path[1024], err[256];
		struct pt_dec *d;
		struct pt_rec r;
		int rc;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (pt_dec_open(&d, path, err, sizeof err) != 0)
			continue;
		while ((rc = pt_dec_next(d, &r)) == 1)
			;
		assert_true(rc == 0);
		pt_dec_close(d);
		n++;
	}
	closedir(dp);
	return n;
}
#endif

static void test_replay_corpus(void **state)
{
	(void)state;
#ifdef PT_FUZZ_DIR
	size_t n = replay_dir(PT_FUZZ_DIR "/corpus");
	replay_dir(PT_FUZZ_DIR "/regressions");
	assert_true(n >= 3); /* the seed corpus is committed */
#else
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_whole_trace_no_warnings),
		cmocka_unit_test(test_truncated_at_every_offset),
		cmocka_unit_test(test_flipped_byte_skips_only_its_chunk),
		cmocka_unit_test(test_garbage_between_chunks),
		cmocka_unit_test(test_bad_records_in_valid_chunk),
		cmocka_unit_test(test_newer_records_are_skipped),
		cmocka_unit_test(test_module_build_id_optional),
		cmocka_unit_test(test_hostile_lengths),
		cmocka_unit_test(test_sequence_and_end_warnings),
		cmocka_unit_test(test_large_trace_through_fd),
		cmocka_unit_test(test_failpoint_decoder_chunk),
		cmocka_unit_test(test_failpoint_decoder_read),
		cmocka_unit_test(test_replay_corpus),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
