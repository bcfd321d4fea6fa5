/*
 * harness.h: the one fuzz body shared by the libFuzzer target
 * (fuzz_decoder.c) and the AFL++ harness (fuzz_decoder_afl.c).
 *
 * For any byte string the decoder must: not crash, not hang, not leak;
 * return only records within the format's limits, whose strings are
 * NUL-terminated and whose pointers are readable; and return records that
 * survive a round trip: encode(r) decodes to a record that encodes to the
 * same bytes (nothing lost or invented between decoder and encoder).
 * A broken property calls __builtin_trap(), which both fuzzers report as a
 * crash.
 */
#ifndef PT_FUZZ_HARNESS_H
#define PT_FUZZ_HARNESS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/encoder.h"
#include "peaktrace/format.h"
#include "report/decoder.h"

#define PT_FUZZ_CHECK(c)                                                       \
	do {                                                                   \
		if (!(c))                                                      \
			__builtin_trap();                                      \
	} while (0)

static uint64_t pt_fuzz_sink;

static void pt_fuzz_touch(struct pt_str s)
{
	PT_FUZZ_CHECK(s.len <= PT_FMT_MAX_STRING);
	PT_FUZZ_CHECK(s.p != NULL);
	PT_FUZZ_CHECK(s.p[s.len] == '\0');
	for (uint32_t i = 0; i < s.len; i++)
		pt_fuzz_sink += (unsigned char)s.p[i];
}

/* Encodes r alone in a chunk of a fresh file; returns the file length. */
static size_t pt_fuzz_encode(const struct pt_rec *r, uint8_t *file, size_t cap)
{
	struct pt_enc e;
	size_t n = pt_enc_file_header(file);

	pt_enc_init(&e, file + n + PT_FMT_CHUNK_HEADER_LEN,
		    cap - n - PT_FMT_CHUNK_HEADER_LEN);
	PT_FUZZ_CHECK(pt_enc_rec(&e, r) == 0);
	pt_chunk_seal(file + n, e.p, e.len, 0);
	return n + PT_FMT_CHUNK_HEADER_LEN + e.len;
}

static void pt_fuzz_round_trip(const struct pt_rec *r)
{
	/* a record re-encodes to its string bytes plus at most 20 varints
	 * or 1024 frames */
	size_t cap = 512 + (size_t)PT_FMT_VARINT_MAX * PT_FMT_MAX_FRAMES;
	if (r->type == PT_REC_HEADER)
		cap += (size_t)r->u.header.python_version.len +
		       r->u.header.cmdline.len + r->u.header.exe.len;
	else if (r->type == PT_REC_STRING)
		cap += r->u.string.s.len;
	else if (r->type == PT_REC_THREAD)
		cap += r->u.thread.name.len;
	else if (r->type == PT_REC_TRIP)
		cap += r->u.trip.reason.len;
	uint8_t *a = malloc(cap), *b = malloc(cap);
	PT_FUZZ_CHECK(a && b);

	size_t na = pt_fuzz_encode(r, a, cap);
	struct pt_dec *d;
	struct pt_rec r2;
	char err[128];
	PT_FUZZ_CHECK(pt_dec_open_mem(&d, a, na, err, sizeof err) == 0);
	PT_FUZZ_CHECK(pt_dec_next(d, &r2) == 1);
	size_t nb = pt_fuzz_encode(&r2, b, cap);
	PT_FUZZ_CHECK(na == nb && memcmp(a, b, na) == 0);
	PT_FUZZ_CHECK(pt_dec_next(d, &r2) == 0);
	pt_dec_close(d);
	free(a);
	free(b);
}

static int pt_fuzz_one(const uint8_t *data, size_t size)
{
	struct pt_dec *d;
	struct pt_rec r;
	char err[256];
	int rc;

	if (pt_dec_open_mem(&d, data, size, err, sizeof err) != 0) {
		PT_FUZZ_CHECK(err[0] != '\0');
		return 0;
	}
	while ((rc = pt_dec_next(d, &r)) == 1) {
		PT_FUZZ_CHECK(pt_rec_type_name(r.type) != NULL);
		switch (r.type) {
		case PT_REC_HEADER:
			pt_fuzz_touch(r.u.header.python_version);
			pt_fuzz_touch(r.u.header.cmdline);
			pt_fuzz_touch(r.u.header.exe);
			break;
		case PT_REC_STRING:
			pt_fuzz_touch(r.u.string.s);
			break;
		case PT_REC_THREAD:
			pt_fuzz_touch(r.u.thread.name);
			break;
		case PT_REC_TRIP:
			pt_fuzz_touch(r.u.trip.reason);
			break;
		case PT_REC_STACK:
			PT_FUZZ_CHECK(r.u.stack.n <= PT_FMT_MAX_FRAMES);
			for (uint32_t i = 0; i < r.u.stack.n; i++)
				pt_fuzz_sink += r.u.stack.frames[i];
			break;
		}
		pt_fuzz_round_trip(&r);
	}
	PT_FUZZ_CHECK(rc == 0); /* a memory source has no read errors */
	size_t nw = pt_dec_warning_count(d);
	PT_FUZZ_CHECK(nw <= PT_DEC_MAX_WARNINGS);
	for (size_t i = 0; i < nw; i++)
		PT_FUZZ_CHECK(pt_dec_warning(d, i) != NULL);
	pt_dec_close(d);
	return 0;
}

#endif
