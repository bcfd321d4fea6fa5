/*
 * pb.c: protocol-buffers wire format writer (pb.h).
 *
 * Varints are little-endian base 128; a key is (field << 3) | wire type.
 * Packed fields need their byte length before their payload: it is
 * computed with varint_len rather than by building the payload twice.
 */
#include "report/pb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void pt_pb_init(struct pt_pb *b)
{
	memset(b, 0, sizeof *b);
}

void pt_pb_reset(struct pt_pb *b)
{
	b->len = 0;
}

void pt_pb_free(struct pt_pb *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

int pt_pb_error(const struct pt_pb *b)
{
	return b->err;
}

static int reserve(struct pt_pb *b, size_t n)
{
	size_t nc;
	uint8_t *np;

	if (b->err)
		return -1;
	if (n <= b->cap - b->len)
		return 0;
	nc = b->cap ? b->cap : 256;
	while (nc - b->len < n) {
		if (nc > SIZE_MAX / 2)
			goto oom;
		nc *= 2;
	}
	np = realloc(b->p, nc);
	if (!np)
		goto oom;
	b->p = np;
	b->cap = nc;
	return 0;
oom:
	b->err = -ENOMEM;
	return -1;
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

void pt_pb_raw_varint(struct pt_pb *b, uint64_t v)
{
	if (reserve(b, 10))
		return;
	while (v >= 0x80) {
		b->p[b->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b->p[b->len++] = (uint8_t)v;
}

void pt_pb_key(struct pt_pb *b, uint32_t field, unsigned wire_type)
{
	pt_pb_raw_varint(b, ((uint64_t)field << 3) | wire_type);
}

void pt_pb_uint(struct pt_pb *b, uint32_t field, uint64_t v)
{
	if (!v)
		return;
	pt_pb_key(b, field, PT_PB_VARINT);
	pt_pb_raw_varint(b, v);
}

void pt_pb_bytes(struct pt_pb *b, uint32_t field, const void *p, size_t n)
{
	pt_pb_key(b, field, PT_PB_LEN);
	pt_pb_raw_varint(b, n);
	if (n == 0 || reserve(b, n))
		return;
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

void pt_pb_msg(struct pt_pb *b, uint32_t field, const struct pt_pb *sub)
{
	if (sub->err) {
		b->err = sub->err;
		return;
	}
	pt_pb_bytes(b, field, sub->p, sub->len);
}

void pt_pb_packed(struct pt_pb *b, uint32_t field, const uint64_t *v, size_t n)
{
	size_t bytes = 0;

	if (!n)
		return;
	for (size_t i = 0; i < n; i++)
		bytes += varint_len(v[i]);
	pt_pb_key(b, field, PT_PB_LEN);
	pt_pb_raw_varint(b, bytes);
	if (reserve(b, bytes))
		return;
	for (size_t i = 0; i < n; i++)
		pt_pb_raw_varint(b, v[i]);
}
