/*
 * encoder.c: appends trace records to a chunk payload (format.h is the
 * format, docs/FORMAT.md its specification).
 *
 * Each record is described as a short list of fields (varint, address,
 * string, frame array). One pass sizes the body exactly, a check against
 * the room left makes the record all-or-nothing, a second pass writes
 * type, body length and body in place: no scratch buffer, no memmove.
 *
 * Workload: the writer thread calls this for every event it drains from the
 * ring, so ALLOC and FREE are the hot records (a dozen bytes each); strings
 * and stacks are interned upstream and written once.
 *
 * Everything here is allocation-free, lock-free, async-signal-safe and
 * reentrancy-safe on distinct struct pt_enc; errno is not touched.
 */
#include "core/encoder.h"

#include <errno.h>
#include <string.h>

#include "contracts/contracts.h"

#include "contracts/banned.h"

enum field_kind {
	F_U64,    /* plain varint */
	F_ADDR,   /* zigzag delta against the chunk's previous address */
	F_STR,    /* varint length + bytes */
	F_FRAMES, /* varint count + count varints */
};

struct field {
	enum field_kind kind;
	uint64_t v;          /* F_U64, F_ADDR */
	const void *p;       /* F_STR bytes, F_FRAMES array */
	size_t n;            /* F_STR bytes, F_FRAMES count */
};

#define U64(x) { .kind = F_U64, .v = (uint64_t)(x) }
#define ADDR(x) { .kind = F_ADDR, .v = (uint64_t)(x) }
#define STR(s, len) { .kind = F_STR, .p = (s), .n = (len) }
#define FRAMES(f, cnt) { .kind = F_FRAMES, .p = (f), .n = (cnt) }
#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

/* Appends one record; all or nothing. */
static int enc_record(struct pt_enc *e, uint8_t type, const struct field *f,
		      size_t nf)
{
	uint64_t prev = e->last_addr;
	size_t body = 0;
	size_t i, j;

	if (!PT_ALWAYS(e->len <= e->cap))
		return -EINVAL;
	for (i = 0; i < nf; i++) {
		switch (f[i].kind) {
		case F_U64:
			body += pt_varint_len(f[i].v);
			break;
		case F_ADDR:
			body += pt_varint_len(pt_addr_delta_enc(f[i].v, prev));
			prev = f[i].v;
			break;
		case F_STR:
			if (f[i].n > PT_FMT_MAX_STRING)
				return -EINVAL;
			if (f[i].n && !PT_ALWAYS(f[i].p != NULL))
				return -EINVAL;
			body += pt_varint_len(f[i].n) + f[i].n;
			break;
		case F_FRAMES:
			if (f[i].n > PT_FMT_MAX_FRAMES)
				return -EINVAL;
			if (f[i].n && !PT_ALWAYS(f[i].p != NULL))
				return -EINVAL;
			body += pt_varint_len(f[i].n);
			for (j = 0; j < f[i].n; j++)
				body += pt_varint_len(((const uint64_t *)f[i].p)[j]);
			break;
		}
	}
	/* body <= 3 strings of 1 MiB + 1024 frames of 10 bytes: no overflow. */
	size_t total = 1 + pt_varint_len(body) + body;
	if (total > e->cap - e->len)
		return -ENOSPC;

	uint8_t *o = e->p + e->len;
	*o++ = type;
	o += pt_varint_put(o, body);
	prev = e->last_addr;
	for (i = 0; i < nf; i++) {
		switch (f[i].kind) {
		case F_U64:
			o += pt_varint_put(o, f[i].v);
			break;
		case F_ADDR:
			o += pt_varint_put(o, pt_addr_delta_enc(f[i].v, prev));
			prev = f[i].v;
			break;
		case F_STR:
			o += pt_varint_put(o, f[i].n);
			if (f[i].n)
				memcpy(o, f[i].p, f[i].n);
			o += f[i].n;
			break;
		case F_FRAMES:
			o += pt_varint_put(o, f[i].n);
			for (j = 0; j < f[i].n; j++)
				o += pt_varint_put(o, ((const uint64_t *)f[i].p)[j]);
			break;
		}
	}
	PT_ENSURE((size_t)(o - (e->p + e->len)) == total);
	e->len += total;
	e->last_addr = prev;
	return 0;
}

void pt_enc_init(struct pt_enc *e, uint8_t *buf, size_t cap)
{
	PT_REQUIRE(buf != NULL || cap == 0);
	e->p = buf;
	e->len = 0;
	e->cap = cap > PT_FMT_MAX_CHUNK ? PT_FMT_MAX_CHUNK : cap;
	e->last_addr = 0;
}

int pt_enc_header(struct pt_enc *e, const struct pt_rec_header *h)
{
	const struct field f[] = {
		U64(h->format_version), U64(h->pid), U64(h->ppid),
		U64(h->start_unix_ns), U64(h->mode), U64(h->sample_bytes),
		U64(h->page_size),
		STR(h->python_version.p, h->python_version.len),
		STR(h->cmdline.p, h->cmdline.len),
		STR(h->exe.p, h->exe.len),
	};
	return enc_record(e, PT_REC_HEADER, f, NFIELDS(f));
}

int pt_enc_string(struct pt_enc *e, uint32_t id, const char *s, size_t n)
{
	const struct field f[] = { U64(id), STR(s, n) };
	return enc_record(e, PT_REC_STRING, f, NFIELDS(f));
}

int pt_enc_module(struct pt_enc *e, uint32_t id, uint32_t path_string_id,
		  uint64_t load_bias, uint64_t start, uint64_t end,
		  const uint8_t *build_id, size_t build_id_len)
{
	const struct field f[] = {
		U64(id), U64(path_string_id), U64(load_bias), U64(start), U64(end),
		STR((const char *)build_id, build_id_len),
	};
	return enc_record(e, PT_REC_MODULE, f, NFIELDS(f));
}

int pt_enc_pyframe(struct pt_enc *e, uint32_t id, uint32_t function_string_id,
		   uint32_t file_string_id, uint32_t line)
{
	const struct field f[] = {
		U64(id), U64(function_string_id), U64(file_string_id), U64(line),
	};
	return enc_record(e, PT_REC_PYFRAME, f, NFIELDS(f));
}

int pt_enc_stack(struct pt_enc *e, uint32_t id, const uint64_t *frames,
		 uint32_t n)
{
	const struct field f[] = { U64(id), FRAMES(frames, n) };
	return enc_record(e, PT_REC_STACK, f, NFIELDS(f));
}

/* ALLOC and FREE, the records of every event, skip the sizing pass when
 * the chunk has room for their longest form: the body is written after a
 * one-byte length (bodies are at most 5 varints, under 128 bytes), which
 * is filled in last. The bytes are those enc_record writes (test_format
 * compares the two). */
#define FAST_ROOM(nvarints) (2 + (nvarints) * PT_FMT_VARINT_MAX)

int pt_enc_alloc(struct pt_enc *e, uint32_t tid, uint64_t addr, uint64_t size,
		 uint64_t weight, uint32_t stack_id)
{
	if (__builtin_expect(e->len <= e->cap && e->cap - e->len >= FAST_ROOM(5), 1)) {
		uint8_t *o = e->p + e->len;
		uint8_t *b = o + 2;
		b += pt_varint_put(b, tid);
		b += pt_varint_put(b, pt_addr_delta_enc(addr, e->last_addr));
		b += pt_varint_put(b, size);
		b += pt_varint_put(b, weight);
		b += pt_varint_put(b, stack_id);
		o[0] = PT_REC_ALLOC;
		o[1] = (uint8_t)(b - (o + 2));
		e->len += (size_t)(b - o);
		e->last_addr = addr;
		return 0;
	}
	const struct field f[] = {
		U64(tid), ADDR(addr), U64(size), U64(weight), U64(stack_id),
	};
	return enc_record(e, PT_REC_ALLOC, f, NFIELDS(f));
}

int pt_enc_free(struct pt_enc *e, uint64_t addr)
{
	if (__builtin_expect(e->len <= e->cap && e->cap - e->len >= FAST_ROOM(1), 1)) {
		uint8_t *o = e->p + e->len;
		size_t n = pt_varint_put(o + 2, pt_addr_delta_enc(addr, e->last_addr));
		o[0] = PT_REC_FREE;
		o[1] = (uint8_t)n;
		e->len += 2 + n;
		e->last_addr = addr;
		return 0;
	}
	const struct field f[] = { ADDR(addr) };
	return enc_record(e, PT_REC_FREE, f, NFIELDS(f));
}

int pt_enc_tick(struct pt_enc *e, uint64_t t_ns, uint64_t heap_bytes,
		uint64_t mapped_bytes, uint64_t peak_bytes)
{
	const struct field f[] = {
		U64(t_ns), U64(heap_bytes), U64(mapped_bytes), U64(peak_bytes),
	};
	return enc_record(e, PT_REC_TICK, f, NFIELDS(f));
}

int pt_enc_peak(struct pt_enc *e, uint64_t t_ns, uint64_t bytes)
{
	const struct field f[] = { U64(t_ns), U64(bytes) };
	return enc_record(e, PT_REC_PEAK, f, NFIELDS(f));
}

int pt_enc_thread(struct pt_enc *e, uint32_t tid, const char *name, size_t n)
{
	const struct field f[] = { U64(tid), STR(name, n) };
	return enc_record(e, PT_REC_THREAD, f, NFIELDS(f));
}

int pt_enc_trip(struct pt_enc *e, const char *reason, size_t n)
{
	const struct field f[] = { STR(reason, n) };
	return enc_record(e, PT_REC_TRIP, f, NFIELDS(f));
}

int pt_enc_drops(struct pt_enc *e, uint64_t total)
{
	const struct field f[] = { U64(total) };
	return enc_record(e, PT_REC_DROPS, f, NFIELDS(f));
}

int pt_enc_end(struct pt_enc *e, const struct pt_rec_end *end)
{
	const struct field f[] = {
		U64(end->t_ns), U64(end->peak_bytes), U64(end->peak_t_ns),
		U64(end->total_allocs), U64(end->total_alloc_bytes),
	};
	return enc_record(e, PT_REC_END, f, NFIELDS(f));
}

int pt_enc_rec(struct pt_enc *e, const struct pt_rec *r)
{
	switch (r->type) {
	case PT_REC_HEADER:
		return pt_enc_header(e, &r->u.header);
	case PT_REC_STRING:
		return pt_enc_string(e, r->u.string.id, r->u.string.s.p,
				     r->u.string.s.len);
	case PT_REC_MODULE:
		return pt_enc_module(e, r->u.module.id,
				     r->u.module.path_string_id,
				     r->u.module.load_bias, r->u.module.start,
				     r->u.module.end,
				     (const uint8_t *)r->u.module.build_id.p,
				     r->u.module.build_id.len);
	case PT_REC_PYFRAME:
		return pt_enc_pyframe(e, r->u.pyframe.id,
				      r->u.pyframe.function_string_id,
				      r->u.pyframe.file_string_id,
				      r->u.pyframe.line);
	case PT_REC_STACK:
		return pt_enc_stack(e, r->u.stack.id, r->u.stack.frames,
				    r->u.stack.n);
	case PT_REC_ALLOC:
		return pt_enc_alloc(e, r->u.alloc.tid, r->u.alloc.addr,
				    r->u.alloc.size, r->u.alloc.weight,
				    r->u.alloc.stack_id);
	case PT_REC_FREE:
		return pt_enc_free(e, r->u.free.addr);
	case PT_REC_TICK:
		return pt_enc_tick(e, r->u.tick.t_ns, r->u.tick.heap_bytes,
				   r->u.tick.mapped_bytes, r->u.tick.peak_bytes);
	case PT_REC_PEAK:
		return pt_enc_peak(e, r->u.peak.t_ns, r->u.peak.bytes);
	case PT_REC_THREAD:
		return pt_enc_thread(e, r->u.thread.tid, r->u.thread.name.p,
				     r->u.thread.name.len);
	case PT_REC_TRIP:
		return pt_enc_trip(e, r->u.trip.reason.p, r->u.trip.reason.len);
	case PT_REC_DROPS:
		return pt_enc_drops(e, r->u.drops.total);
	case PT_REC_END:
		return pt_enc_end(e, &r->u.end);
	default:
		return -EINVAL;
	}
}

size_t pt_enc_file_header(uint8_t out[PT_FMT_FILE_HEADER_LEN])
{
	static const uint8_t magic[PT_FMT_MAGIC_LEN] = PT_FMT_MAGIC; /* + NUL */

	memcpy(out, magic, sizeof magic);
	pt_put_le16(out + 8, PT_FMT_VERSION);
	pt_put_le16(out + 10, 0);                    /* flags */
	pt_put_le32(out + 12, 0);                    /* reserved */
	return PT_FMT_FILE_HEADER_LEN;
}

size_t pt_chunk_seal(uint8_t hdr[PT_FMT_CHUNK_HEADER_LEN],
		     const uint8_t *payload, size_t len, uint32_t seq)
{
	PT_REQUIRE(len <= PT_FMT_MAX_CHUNK);
	if (len > PT_FMT_MAX_CHUNK)
		len = PT_FMT_MAX_CHUNK; /* release: never write a length we reject */
	static const uint8_t magic[PT_FMT_CHUNK_MAGIC_LEN] = { 'P', 'T', 'C', 'K' };

	memcpy(hdr, magic, sizeof magic);
	pt_put_le32(hdr + 4, (uint32_t)len);
	pt_put_le32(hdr + 8, pt_crc32c(0, payload, len));
	pt_put_le32(hdr + 12, seq);
	return PT_FMT_CHUNK_HEADER_LEN;
}
