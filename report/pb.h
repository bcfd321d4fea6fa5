/*
 * pb.h: a tiny protocol-buffers writer, enough for pprof's profile.proto.
 *
 * A struct pt_pb is a growable byte buffer that fields are appended to in
 * wire format. A nested message is built in its own buffer and appended
 * with pt_pb_msg (length-delimited). Errors are sticky: after a failed
 * allocation every call is a no-op and pt_pb_error() returns -ENOMEM, so
 * callers check once at the end. Only what profile.proto needs: varint
 * (wire type 0) and length-delimited (wire type 2) fields.
 *
 * proto3 rules followed by the helpers: a scalar field equal to 0 is not
 * written (pt_pb_uint); repeated strings are always written, even empty
 * (pt_pb_bytes), since their position is their meaning (string_table).
 */
#ifndef PT_PB_H
#define PT_PB_H

#include <stddef.h>
#include <stdint.h>

struct pt_pb {
	uint8_t *p;          /* len bytes of wire data, malloc'd */
	size_t len, cap;
	int err;             /* 0 or -ENOMEM, sticky */
};

enum { PT_PB_VARINT = 0, PT_PB_LEN = 2 };

void pt_pb_init(struct pt_pb *b);
void pt_pb_reset(struct pt_pb *b);   /* len = 0, keeps the buffer */
void pt_pb_free(struct pt_pb *b);
int pt_pb_error(const struct pt_pb *b);

void pt_pb_raw_varint(struct pt_pb *b, uint64_t v);
void pt_pb_key(struct pt_pb *b, uint32_t field, unsigned wire_type);

/* field = v as a varint (uint64/int64 of a non-negative value, bool);
 * omitted when v == 0. */
void pt_pb_uint(struct pt_pb *b, uint32_t field, uint64_t v);

/* field = n bytes (string, bytes), always written. */
void pt_pb_bytes(struct pt_pb *b, uint32_t field, const void *p, size_t n);

/* field = the message in sub. */
void pt_pb_msg(struct pt_pb *b, uint32_t field, const struct pt_pb *sub);

/* A packed repeated varint field of n values; omitted when n == 0. */
void pt_pb_packed(struct pt_pb *b, uint32_t field, const uint64_t *v, size_t n);

#endif
