/*
 * decoder.c: the tolerant, streaming trace decoder (see decoder.h for the
 * API, include/peaktrace/format.h for the bytes, docs/FORMAT.md for the
 * rules a decoder follows on corruption).
 *
 * Reading. The source (an fd or a memory buffer) is read into one window
 * buf[start, end) that grows on demand up to one whole chunk (16-byte
 * header + payload, so at most PT_FMT_MAX_CHUNK + 16 bytes plus the slack
 * of the last read): memory is bounded by the largest chunk, never by the
 * file. A chunk's records are returned straight out of the window; the
 * window is only refilled once the chunk is used up.
 *
 * Trust. A chunk is a "candidate" until it passes, in this order: its magic,
 * its length limit, its presence in full before the end of the file, its
 * CRC32C, the decoder_chunk failpoint, and a validation pass that parses
 * every record of the payload without delivering any. Only then is its
 * first record returned, so a bad chunk is skipped whole and none of it is
 * trusted. A candidate that fails opens a "bad stretch": decoding moves on
 * one byte (or past the whole chunk, when its CRC vouched for its length
 * and only its content was bad) and scans for the next chunk magic. The
 * stretch closes, with one warning, at the next good chunk or at the end of
 * the file; a stretch that began with a chunk running past the end of the
 * file and reaches it is a truncated trace.
 *
 * Cost. Scanning is linear. A file full of fake chunk headers could make
 * CRC checks quadratic; failed CRC work is therefore capped by a budget
 * (64 MiB + 8 x the bytes read), past which decoding stops with a warning.
 *
 * Report-side code: it may allocate and uses no stdio except vsnprintf for
 * messages. (The NOLINTs on vsnprintf silence a clang-tidy 14 false
 * positive, valist.Uninitialized, seen with gcc compile databases.)
 */
#include "report/decoder.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "contracts/contracts.h"
#include "peaktrace/fp.h"

#define READ_MIN ((size_t)64 << 10)    /* smallest window, bytes */
#define CRC_BUDGET_BASE (64ull << 20)  /* failed CRC bytes always allowed */
#define CRC_BUDGET_PER_BYTE 8          /* ... plus this many per byte read */

enum stretch_kind {
	STRETCH_NONE = 0,
	STRETCH_BAD,     /* corrupt chunk or garbage */
	STRETCH_TRUNC,   /* a chunk that runs past the end of the file */
};

struct pt_dec {
	/* source */
	int fd;                  /* -1 for a memory source */
	int err;                 /* sticky unrecoverable error, or 0 */
	const uint8_t *mem;      /* memory source */
	size_t mem_len, mem_pos;

	/* window: buf[start, end) are unread bytes; buf[0] is file offset base */
	uint8_t *buf;
	size_t cap, start, end;
	uint64_t base;

	/* the chunk being delivered */
	const uint8_t *chunk;    /* payload, inside buf */
	size_t chunk_len, chunk_pos;
	uint64_t last_addr;      /* address-delta state */
	uint32_t chunk_seq;

	/* chunk sequence bookkeeping */
	uint32_t last_seq;

	/* per-record storage handed out through struct pt_rec */
	char *scratch;           /* strings, each NUL-terminated */
	size_t scratch_cap;
	uint64_t frames[PT_FMT_MAX_FRAMES];

	/* the open bad stretch */
	enum stretch_kind stretch;
	uint64_t stretch_off;    /* file offset where it began */
	char stretch_why[160];

	uint64_t crc_waste;      /* bytes CRC-checked in failed candidates */
	char errmsg[256];

	char *warn[PT_DEC_MAX_WARNINGS];
	size_t nwarn;
	struct pt_dec_stats st;

	bool own_fd;             /* pt_dec_close closes fd */
	bool eof;                /* the source returned 0 */
	bool in_chunk;           /* chunk..chunk_len has records left */
	bool have_seq;           /* last_seq is set */
	bool stretch_chunk;      /* the stretch began at a chunk magic */
	bool seen_end;           /* an END record was delivered */
	bool done;               /* clean end reached */
	bool unknown_warned[256];
};

/* ---- messages ----------------------------------------------------------- */

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized) */
	va_end(ap);
	if (err && errlen)
		snprintf(err, errlen, "%s", tmp);
}

static void warn(struct pt_dec *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void warn(struct pt_dec *d, const char *fmt, ...)
{
	char tmp[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized) */
	va_end(ap);
	d->st.warnings_total++;
	if (d->nwarn < PT_DEC_MAX_WARNINGS) {
		char *s = strdup(tmp);
		if (s)
			d->warn[d->nwarn++] = s;
	}
}

/* ---- source and window -------------------------------------------------- */

/* Reads up to n bytes into p. Returns the count, 0 at end, or -errno. */
static ssize_t src_read(struct pt_dec *d, uint8_t *p, size_t n)
{
	if (PT_FAIL(decoder_read))
		return -EIO;
	if (d->fd < 0) {
		size_t left = d->mem_len - d->mem_pos;
		if (n > left)
			n = left;
		if (n)
			memcpy(p, d->mem + d->mem_pos, n);
		d->mem_pos += n;
		return (ssize_t)n;
	}
	for (;;) {
		ssize_t r = read(d->fd, p, n);
		if (r >= 0)
			return r;
		if (errno != EINTR)
			return -errno;
	}
}

/* Makes at least n unread bytes available unless the source ends first.
 * May move the window (pointers into buf go stale). Returns 0 or -errno. */
static int fill(struct pt_dec *d, size_t n)
{
	while (d->end - d->start < n && !d->eof) {
		if (d->start > 0 && d->cap - d->end < n - (d->end - d->start)) {
			memmove(d->buf, d->buf + d->start, d->end - d->start);
			d->base += d->start;
			d->end -= d->start;
			d->start = 0;
		}
		if (d->end == d->cap) {
			/* Grow by doubling, up to what is asked for, so that a
			 * chunk claiming 16 MiB in a 1 KiB file costs no 16 MiB
			 * allocation (start is 0 here: see the memmove above). */
			size_t lim = n > READ_MIN ? n : READ_MIN;
			size_t ncap = d->cap ? d->cap * 2 : READ_MIN;
			if (ncap > lim)
				ncap = lim;
			uint8_t *nb = realloc(d->buf, ncap);
			if (!nb)
				return -ENOMEM;
			d->buf = nb;
			d->cap = ncap;
		}
		ssize_t r = src_read(d, d->buf + d->end, d->cap - d->end);
		if (r < 0)
			return (int)r;
		if (r == 0)
			d->eof = true;
		d->end += (size_t)r;
		d->st.file_bytes += (uint64_t)r;
	}
	return 0;
}

static uint64_t cur_off(const struct pt_dec *d)
{
	return d->base + d->start;
}

/* ---- records ------------------------------------------------------------ */

struct rd {
	const uint8_t *p;
	size_t pos, len;
	const char *why; /* first failure */
};

static bool rd_u64(struct rd *c, uint64_t *v)
{
	size_t n = pt_varint_get(c->p + c->pos, c->len - c->pos, v);
	if (n == 0) {
		c->why = c->len - c->pos >= PT_FMT_VARINT_MAX
				 ? "varint longer than 10 bytes or over 64 bits"
				 : "field runs past the end of its record";
		return false;
	}
	c->pos += n;
	return true;
}

static bool rd_u32(struct rd *c, uint32_t *v)
{
	uint64_t x;
	if (!rd_u64(c, &x))
		return false;
	if (x > UINT32_MAX) {
		c->why = "32-bit field out of range";
		return false;
	}
	*v = (uint32_t)x;
	return true;
}

static bool rd_addr(struct rd *c, uint64_t *prev, uint64_t *v)
{
	uint64_t z;
	if (!rd_u64(c, &z))
		return false;
	*v = pt_addr_delta_dec(z, *prev);
	*prev = *v;
	return true;
}

/* A string; copied to the scratch area with a NUL when out is non-NULL
 * (scratch has room for the whole record body plus 3 NULs). */
static bool rd_str(struct rd *c, char **scratch, struct pt_str *out)
{
	uint64_t n;
	if (!rd_u64(c, &n))
		return false;
	if (n > PT_FMT_MAX_STRING) {
		c->why = "string longer than 1 MiB";
		return false;
	}
	if (n > c->len - c->pos) {
		c->why = "string runs past the end of its record";
		return false;
	}
	if (out) {
		memcpy(*scratch, c->p + c->pos, (size_t)n);
		(*scratch)[n] = '\0';
		out->p = *scratch;
		out->len = (uint32_t)n;
		*scratch += n + 1;
	}
	c->pos += (size_t)n;
	return true;
}

static bool rd_frames(struct rd *c, uint64_t *frames, uint32_t *n)
{
	uint32_t cnt;
	if (!rd_u32(c, &cnt))
		return false;
	if (cnt > PT_FMT_MAX_FRAMES) {
		c->why = "stack of more than 1024 frames";
		return false;
	}
	for (uint32_t i = 0; i < cnt; i++) {
		uint64_t f;
		if (!rd_u64(c, &f))
			return false;
		if (frames)
			frames[i] = f;
	}
	*n = cnt;
	return true;
}

/* Parses the fields of a record of known type from its body. With out ==
 * NULL it only validates (nothing is stored or copied). */
static bool parse_body(struct pt_dec *d, uint8_t type, struct rd *c,
		       uint64_t *prev, struct pt_rec *out)
{
	struct pt_rec tmp;
	struct pt_rec *r = out ? out : &tmp;
	char *sc = d->scratch;
	uint64_t *fr = out ? d->frames : NULL;

#define STR_(field) rd_str(c, &sc, out ? &(field) : NULL)
	switch (type) {
	case PT_REC_HEADER: {
		struct pt_rec_header *h = &r->u.header;
		return rd_u32(c, &h->format_version) && rd_u32(c, &h->pid) &&
		       rd_u32(c, &h->ppid) && rd_u64(c, &h->start_unix_ns) &&
		       rd_u32(c, &h->mode) && rd_u64(c, &h->sample_bytes) &&
		       rd_u64(c, &h->page_size) && STR_(h->python_version) &&
		       STR_(h->cmdline) && STR_(h->exe);
	}
	case PT_REC_STRING:
		return rd_u32(c, &r->u.string.id) && STR_(r->u.string.s);
	case PT_REC_MODULE: {
		struct pt_rec_module *m = &r->u.module;
		if (!(rd_u32(c, &m->id) && rd_u32(c, &m->path_string_id) &&
		      rd_u64(c, &m->load_bias) && rd_u64(c, &m->start) &&
		      rd_u64(c, &m->end)))
			return false;
		m->build_id = (struct pt_str){ "", 0 };
		if (c->pos == c->len)
			return true; /* written before build-ids were */
		uint64_t n;
		size_t at = c->pos;
		if (!rd_u64(c, &n))
			return false;
		if (n > PT_FMT_MAX_BUILD_ID) {
			c->why = "build-id longer than 64 bytes";
			return false;
		}
		c->pos = at;
		return STR_(m->build_id);
	}
	case PT_REC_PYFRAME: {
		struct pt_rec_pyframe *f = &r->u.pyframe;
		return rd_u32(c, &f->id) && rd_u32(c, &f->function_string_id) &&
		       rd_u32(c, &f->file_string_id) && rd_u32(c, &f->line);
	}
	case PT_REC_STACK:
		r->u.stack.frames = d->frames;
		return rd_u32(c, &r->u.stack.id) &&
		       rd_frames(c, fr, &r->u.stack.n);
	case PT_REC_ALLOC: {
		struct pt_rec_alloc *a = &r->u.alloc;
		return rd_u32(c, &a->tid) && rd_addr(c, prev, &a->addr) &&
		       rd_u64(c, &a->size) && rd_u64(c, &a->weight) &&
		       rd_u32(c, &a->stack_id);
	}
	case PT_REC_FREE:
		return rd_addr(c, prev, &r->u.free.addr);
	case PT_REC_TICK: {
		struct pt_rec_tick *t = &r->u.tick;
		return rd_u64(c, &t->t_ns) && rd_u64(c, &t->heap_bytes) &&
		       rd_u64(c, &t->mapped_bytes) && rd_u64(c, &t->peak_bytes);
	}
	case PT_REC_PEAK:
		return rd_u64(c, &r->u.peak.t_ns) && rd_u64(c, &r->u.peak.bytes);
	case PT_REC_THREAD:
		return rd_u32(c, &r->u.thread.tid) && STR_(r->u.thread.name);
	case PT_REC_TRIP:
		return STR_(r->u.trip.reason);
	case PT_REC_DROPS:
		return rd_u64(c, &r->u.drops.total);
	case PT_REC_END: {
		struct pt_rec_end *e = &r->u.end;
		return rd_u64(c, &e->t_ns) && rd_u64(c, &e->peak_bytes) &&
		       rd_u64(c, &e->peak_t_ns) && rd_u64(c, &e->total_allocs) &&
		       rd_u64(c, &e->total_alloc_bytes);
	}
	}
#undef STR_
	PT_UNREACHABLE();
	return false;
}

/* Frames a record at p[0..avail): type, body length, body. Returns false
 * with *why set when the framing is bad. */
static bool frame_record(const uint8_t *p, size_t avail, uint8_t *type,
			 const uint8_t **body, size_t *body_len, size_t *total,
			 const char **why)
{
	uint64_t bl;
	size_t n;

	*type = p[0];
	n = pt_varint_get(p + 1, avail - 1, &bl);
	if (n == 0) {
		*why = "bad record length";
		return false;
	}
	if (bl > avail - 1 - n) {
		*why = "record runs past the end of its chunk";
		return false;
	}
	*body = p + 1 + n;
	*body_len = (size_t)bl;
	*total = 1 + n + (size_t)bl;
	return true;
}

/* The validation pass over a whole payload: true when every record frames
 * and every known record parses. why gets the first problem. */
static bool validate_chunk(struct pt_dec *d, const uint8_t *p, size_t len,
			   char *why, size_t whylen)
{
	uint64_t prev = 0;
	size_t pos = 0, idx = 0;

	while (pos < len) {
		uint8_t type;
		const uint8_t *body;
		size_t body_len, total;
		const char *w = NULL;

		if (!frame_record(p + pos, len - pos, &type, &body, &body_len,
				  &total, &w))
			goto bad;
		if (pt_rec_type_name(type)) {
			struct rd c = { body, 0, body_len, NULL };
			if (!parse_body(d, type, &c, &prev, NULL)) {
				w = c.why;
				goto bad;
			}
		}
		pos += total;
		idx++;
		continue;
bad:
		snprintf(why, whylen,
			 "record %zu (%s) at payload byte %zu: %s", idx,
			 pt_rec_type_name(p[pos]) ? pt_rec_type_name(p[pos])
						  : "unknown type",
			 pos, w ? w : "malformed");
		return false;
	}
	return true;
}

/* ---- chunks ------------------------------------------------------------- */

static void open_stretch(struct pt_dec *d, enum stretch_kind kind,
			 bool at_chunk, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void open_stretch(struct pt_dec *d, enum stretch_kind kind,
			 bool at_chunk, const char *fmt, ...)
{
	char tmp[sizeof d->stretch_why];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized) */
	va_end(ap);
	/* the first reason of a stretch is the one reported */
	if (d->stretch == STRETCH_NONE) {
		d->stretch = kind;
		d->stretch_off = cur_off(d);
		d->stretch_chunk = at_chunk;
		memcpy(d->stretch_why, tmp, sizeof tmp);
	}
}

static void last_chunk_text(const struct pt_dec *d, char *out, size_t n)
{
	if (d->have_seq)
		snprintf(out, n, "after chunk %u", d->last_seq);
	else
		snprintf(out, n, "before its first whole chunk");
}

/* Closes the open stretch at the current offset (a good chunk or the end of
 * the file) with its warning. */
static void close_stretch(struct pt_dec *d, bool at_eof)
{
	uint64_t n = cur_off(d) - d->stretch_off;

	if (d->stretch == STRETCH_NONE)
		return;
	if (at_eof && d->stretch == STRETCH_TRUNC) {
		char where[48];
		last_chunk_text(d, where, sizeof where);
		d->st.truncated = 1;
		warn(d, "trace truncated %s (%llu bytes of an incomplete chunk "
			"at offset %llu ignored)",
		     where, (unsigned long long)n,
		     (unsigned long long)d->stretch_off);
	} else {
		if (d->stretch_chunk)
			d->st.chunks_skipped++;
		warn(d, "skipped %llu bytes of corrupt data at offset %llu%s: %s",
		     (unsigned long long)n, (unsigned long long)d->stretch_off,
		     at_eof ? " (to the end of the file)" : "", d->stretch_why);
	}
	d->stretch = STRETCH_NONE;
}

/* Moves past the first byte of a failed candidate and on to the next chunk
 * magic or the end of the data. Returns 0 or -errno. */
static int resync(struct pt_dec *d)
{
	static const uint8_t magic[] = PT_FMT_CHUNK_MAGIC;
	int rc;

	d->start++;
	d->st.bytes_skipped++;
	for (;;) {
		size_t avail = d->end - d->start;
		const uint8_t *hit = memmem(d->buf + d->start, avail, magic,
					    PT_FMT_CHUNK_MAGIC_LEN);
		if (hit) {
			size_t k = (size_t)(hit - d->buf);
			d->st.bytes_skipped += k - d->start;
			d->start = k;
			return 0;
		}
		/* Keep the last 3 bytes: they may begin a magic. */
		size_t keep = avail < 3 ? avail : 3;
		d->st.bytes_skipped += avail - keep;
		d->start = d->end - keep;
		if (d->eof) {
			d->st.bytes_skipped += keep;
			d->start = d->end;
			return 0;
		}
		rc = fill(d, keep + 1);
		if (rc < 0)
			return rc;
	}
}

static void check_seq(struct pt_dec *d, uint32_t seq, bool after_stretch)
{
	if (!after_stretch) {
		if (!d->have_seq && seq != 0)
			warn(d, "first chunk has sequence number %u: %u chunks "
				"missing at the start", seq, seq);
		else if (d->have_seq && seq != d->last_seq + 1)
			warn(d, "chunk sequence jumps from %u to %u: chunks "
				"missing", d->last_seq, seq);
	}
	d->have_seq = true;
	d->last_seq = seq;
}

/* Finds and checks the next good chunk. Returns 1 (d->chunk set), 0 (end
 * of the trace) or -errno. */
static int load_chunk(struct pt_dec *d)
{
	static const uint8_t magic[] = PT_FMT_CHUNK_MAGIC;
	const size_t H = PT_FMT_CHUNK_HEADER_LEN;
	char why[160];
	int rc;

	for (;;) {
		uint64_t budget = CRC_BUDGET_BASE +
				  CRC_BUDGET_PER_BYTE * d->st.file_bytes;
		if (d->crc_waste > budget) {
			close_stretch(d, false);
			warn(d, "too much corruption: gave up at offset %llu",
			     (unsigned long long)cur_off(d));
			return 0;
		}
		rc = fill(d, H);
		if (rc < 0)
			return rc;
		size_t avail = d->end - d->start;
		if (avail == 0) {
			close_stretch(d, true);
			return 0;
		}
		const uint8_t *p = d->buf + d->start;
		size_t cmp = avail < 4 ? avail : 4;
		if (memcmp(p, magic, cmp) != 0) {
			open_stretch(d, STRETCH_BAD, false, "no chunk magic");
			goto next;
		}
		if (avail < H) {
			open_stretch(d, STRETCH_TRUNC, true,
				     "chunk header runs past the end of the file");
			goto next;
		}
		uint32_t len = pt_get_le32(p + 4);
		uint32_t crc = pt_get_le32(p + 8);
		uint32_t seq = pt_get_le32(p + 12);
		if (len > PT_FMT_MAX_CHUNK) {
			open_stretch(d, STRETCH_BAD, true,
				     "chunk claims %u bytes, over the 16 MiB limit",
				     len);
			goto next;
		}
		rc = fill(d, H + len);
		if (rc < 0)
			return rc;
		p = d->buf + d->start;
		if (d->end - d->start < H + len) {
			open_stretch(d, STRETCH_TRUNC, true,
				     "chunk of %u bytes runs past the end of the "
				     "file", len);
			goto next;
		}
		if (pt_crc32c(0, p + H, len) != crc) {
			d->crc_waste += len;
			open_stretch(d, STRETCH_BAD, true,
				     "chunk fails its CRC check");
			goto next;
		}
		/* The CRC vouches for the length: a bad chunk from here on is
		 * skipped whole. */
		if (PT_FAIL(decoder_chunk)) {
			open_stretch(d, STRETCH_BAD, true,
				     "chunk %u rejected (failpoint decoder_chunk)",
				     seq);
			d->start += H + len;
			continue;
		}
		if (!validate_chunk(d, p + H, len, why, sizeof why)) {
			open_stretch(d, STRETCH_BAD, true, "chunk %u: %s", seq,
				     why);
			d->start += H + len;
			continue;
		}
		bool after = d->stretch != STRETCH_NONE;
		close_stretch(d, false);
		check_seq(d, seq, after);
		if (d->scratch_cap < (size_t)len + 3) {
			char *ns = realloc(d->scratch, (size_t)len + 3);
			if (!ns)
				return -ENOMEM;
			d->scratch = ns;
			d->scratch_cap = (size_t)len + 3;
		}
		d->chunk = p + H;
		d->chunk_len = len;
		d->chunk_pos = 0;
		d->chunk_seq = seq;
		d->last_addr = 0;
		d->in_chunk = true;
		d->start += H + len;
		d->st.chunks_read++;
		return 1;
next:
		rc = resync(d);
		if (rc < 0)
			return rc;
	}
}

/* ---- public ------------------------------------------------------------- */

static int fail(struct pt_dec *d, int rc)
{
	d->err = rc;
	if (rc == -ENOMEM)
		snprintf(d->errmsg, sizeof d->errmsg, "out of memory");
	else {
		uint64_t off = d->base + d->end;
		snprintf(d->errmsg, sizeof d->errmsg,
			 "read error at offset %llu: %s",
			 (unsigned long long)off, strerror(-rc));
	}
	return rc;
}

int pt_dec_next(struct pt_dec *d, struct pt_rec *r)
{
	if (d->err)
		return d->err;
	for (;;) {
		if (d->done)
			return 0;
		if (!d->in_chunk) {
			int rc = load_chunk(d);
			if (rc < 0)
				return fail(d, rc);
			if (rc == 0) {
				d->done = true;
				if (!d->seen_end && !d->st.truncated)
					warn(d, "trace has no end record: the "
						"profiled process did not finish "
						"(killed, or still running)");
				return 0;
			}
		}
		if (d->chunk_pos >= d->chunk_len) {
			d->in_chunk = false;
			continue;
		}
		uint8_t type;
		const uint8_t *body;
		size_t body_len, total;
		const char *why = NULL;
		if (!PT_ALWAYS(frame_record(d->chunk + d->chunk_pos,
					    d->chunk_len - d->chunk_pos, &type,
					    &body, &body_len, &total, &why))) {
			d->in_chunk = false; /* validated: believed impossible */
			continue;
		}
		d->chunk_pos += total;
		if (!pt_rec_type_name(type)) {
			d->st.unknown_records++;
			if (!d->unknown_warned[type]) {
				d->unknown_warned[type] = true;
				warn(d, "skipping records of unknown type %u "
					"(written by a newer peaktrace?)", type);
			}
			continue;
		}
		struct rd c = { body, 0, body_len, NULL };
		memset(r, 0, sizeof *r);
		r->type = type;
		r->chunk_seq = d->chunk_seq;
		if (!PT_ALWAYS(parse_body(d, type, &c, &d->last_addr, r))) {
			d->in_chunk = false;
			continue;
		}
		if (type == PT_REC_END)
			d->seen_end = true;
		d->st.records++;
		return 1;
	}
}

static int dec_new(struct pt_dec **out)
{
	struct pt_dec *d = calloc(1, sizeof *d);
	if (!d)
		return -ENOMEM;
	d->fd = -1;
	*out = d;
	return 0;
}

/* Reads and checks the file header. */
static int dec_start(struct pt_dec *d, char *err, size_t errlen)
{
	static const uint8_t magic[PT_FMT_MAGIC_LEN] = PT_FMT_MAGIC;
	int rc = fill(d, PT_FMT_FILE_HEADER_LEN);

	if (rc < 0) {
		seterr(err, errlen, "%s", rc == -ENOMEM ? "out of memory"
							 : strerror(-rc));
		return rc;
	}
	size_t avail = d->end - d->start;
	const uint8_t *p = d->buf + d->start;
	if (avail == 0) {
		seterr(err, errlen, "empty file");
		return -EPROTO;
	}
	size_t cmp = avail < PT_FMT_MAGIC_LEN ? avail : PT_FMT_MAGIC_LEN;
	if (memcmp(p, magic, cmp) != 0) {
		seterr(err, errlen, "not a peaktrace trace (bad magic)");
		return -EPROTO;
	}
	if (avail < PT_FMT_FILE_HEADER_LEN) {
		seterr(err, errlen, "truncated file header (%zu of %d bytes)",
		       avail, PT_FMT_FILE_HEADER_LEN);
		return -EPROTO;
	}
	uint16_t version = pt_get_le16(p + 8);
	if (version != PT_FMT_VERSION) {
		seterr(err, errlen,
		       "unsupported trace version %u (this decoder reads %d)",
		       version, PT_FMT_VERSION);
		return -EPROTO;
	}
	d->st.version = version;
	d->start += PT_FMT_FILE_HEADER_LEN;
	return 0;
}

int pt_dec_open_fd(struct pt_dec **out, int fd, int own_fd, char *err,
		   size_t errlen)
{
	struct pt_dec *d;
	struct stat sb;
	int rc;

	*out = NULL;
	if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		seterr(err, errlen, "is a directory");
		if (own_fd)
			close(fd);
		return -EISDIR;
	}
	rc = dec_new(&d);
	if (rc < 0) {
		seterr(err, errlen, "out of memory");
		if (own_fd)
			close(fd);
		return rc;
	}
	d->fd = fd;
	d->own_fd = own_fd != 0;
	rc = dec_start(d, err, errlen);
	if (rc < 0) {
		pt_dec_close(d);
		return rc;
	}
	*out = d;
	return 0;
}

int pt_dec_open(struct pt_dec **out, const char *path, char *err,
		size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*out = NULL;
	if (fd < 0) {
		int e = errno;
		seterr(err, errlen, "%s", strerror(e));
		return -e;
	}
	return pt_dec_open_fd(out, fd, 1, err, errlen);
}

int pt_dec_open_mem(struct pt_dec **out, const void *buf, size_t len,
		    char *err, size_t errlen)
{
	struct pt_dec *d;
	int rc;

	*out = NULL;
	rc = dec_new(&d);
	if (rc < 0) {
		seterr(err, errlen, "out of memory");
		return rc;
	}
	d->mem = buf;
	d->mem_len = buf ? len : 0;
	rc = dec_start(d, err, errlen);
	if (rc < 0) {
		pt_dec_close(d);
		return rc;
	}
	*out = d;
	return 0;
}

const char *pt_dec_error(const struct pt_dec *d)
{
	return d->errmsg;
}

size_t pt_dec_warning_count(const struct pt_dec *d)
{
	return d->nwarn;
}

const char *pt_dec_warning(const struct pt_dec *d, size_t i)
{
	return i < d->nwarn ? d->warn[i] : NULL;
}

void pt_dec_stats(const struct pt_dec *d, struct pt_dec_stats *st)
{
	*st = d->st;
}

void pt_dec_close(struct pt_dec *d)
{
	if (!d)
		return;
	if (d->own_fd && d->fd >= 0)
		close(d->fd);
	for (size_t i = 0; i < d->nwarn; i++)
		free(d->warn[i]);
	free(d->scratch);
	free(d->buf);
	free(d);
}
