/*
 * tracebuf.h: builds traces in memory for the format and decoder tests,
 * with the real encoder (core/encoder.h), and compares decoded records
 * with what was written.
 *
 *     struct tb t;
 *     tb_init(&t, 4096);                   // file header written
 *     tb_rec(&t, &rec);                    // records into the open chunk
 *     tb_flush(&t);                        // seal it: chunk 0
 *     ...
 *     pt_dec_open_mem(&d, t.data, t.len, ...)
 *
 * Each test keeps its own list of the records it wrote (struct tb_log) so
 * it can check that the decoder returns exactly those, in order.
 */
#ifndef PT_TEST_TRACEBUF_H
#define PT_TEST_TRACEBUF_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/encoder.h"
#include "report/decoder.h"

#define TB_MAX_CHUNKS 4096
#define TB_MAX_LOG 4096

struct tb {
	uint8_t *data;          /* the file so far */
	size_t len, cap;
	uint8_t *payload;       /* the open chunk */
	size_t pcap;
	struct pt_enc e;
	uint32_t seq;           /* next chunk's sequence number */
	size_t nchunks;
	size_t chunk_off[TB_MAX_CHUNKS]; /* file offset of each chunk header */
	size_t chunk_end[TB_MAX_CHUNKS]; /* file offset just past it */
	/* the records written, and the chunk each went into */
	size_t nlog;
	struct pt_rec log[TB_MAX_LOG];
	size_t log_chunk[TB_MAX_LOG];
};

static inline void tb_append(struct tb *t, const void *p, size_t n)
{
	if (t->len + n > t->cap) {
		size_t nc = t->cap ? t->cap : 4096;
		while (nc < t->len + n)
			nc *= 2;
		t->data = realloc(t->data, nc);
		if (!t->data)
			abort();
		t->cap = nc;
	}
	memcpy(t->data + t->len, p, n);
	t->len += n;
}

static inline struct tb *tb_new(size_t pcap)
{
	struct tb *t = calloc(1, sizeof *t);
	uint8_t fh[PT_FMT_FILE_HEADER_LEN];

	if (!t)
		abort();
	t->payload = malloc(pcap ? pcap : 1);
	if (!t->payload)
		abort();
	t->pcap = pcap;
	pt_enc_file_header(fh);
	tb_append(t, fh, sizeof fh);
	pt_enc_init(&t->e, t->payload, pcap);
	return t;
}

static inline void tb_free(struct tb *t)
{
	if (!t)
		return;
	free(t->data);
	free(t->payload);
	free(t);
}

/* Seals the open chunk (even an empty one) and starts the next. */
static inline void tb_flush(struct tb *t)
{
	uint8_t h[PT_FMT_CHUNK_HEADER_LEN];

	if (t->nchunks >= TB_MAX_CHUNKS)
		abort();
	t->chunk_off[t->nchunks] = t->len;
	pt_chunk_seal(h, t->payload, t->e.len, t->seq++);
	tb_append(t, h, sizeof h);
	tb_append(t, t->payload, t->e.len);
	t->chunk_end[t->nchunks] = t->len;
	t->nchunks++;
	pt_enc_init(&t->e, t->payload, t->pcap);
}

/* Encodes r into the open chunk (flushing first when it is full) and logs
 * it. Returns the encoder's result. */
static inline int tb_rec(struct tb *t, const struct pt_rec *r)
{
	int rc = pt_enc_rec(&t->e, r);

	if (rc == -ENOSPC && t->e.len > 0) {
		tb_flush(t);
		rc = pt_enc_rec(&t->e, r);
	}
	if (rc == 0 && t->nlog < TB_MAX_LOG) {
		t->log[t->nlog] = *r;
		t->log_chunk[t->nlog] = t->nchunks;
		t->nlog++;
	}
	return rc;
}

static inline int tb_str_eq(struct pt_str a, struct pt_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* Deep equality of two records (strings and frames by content). */
static inline int tb_rec_eq(const struct pt_rec *a, const struct pt_rec *b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case PT_REC_HEADER: {
		const struct pt_rec_header *x = &a->u.header, *y = &b->u.header;
		return x->format_version == y->format_version &&
		       x->pid == y->pid && x->ppid == y->ppid &&
		       x->start_unix_ns == y->start_unix_ns &&
		       x->mode == y->mode && x->sample_bytes == y->sample_bytes &&
		       x->page_size == y->page_size &&
		       tb_str_eq(x->python_version, y->python_version) &&
		       tb_str_eq(x->cmdline, y->cmdline) &&
		       tb_str_eq(x->exe, y->exe);
	}
	case PT_REC_STRING:
		return a->u.string.id == b->u.string.id &&
		       tb_str_eq(a->u.string.s, b->u.string.s);
	case PT_REC_MODULE: {
		const struct pt_rec_module *x = &a->u.module, *y = &b->u.module;
		return x->id == y->id && x->path_string_id == y->path_string_id &&
		       x->load_bias == y->load_bias && x->start == y->start &&
		       x->end == y->end && tb_str_eq(x->build_id, y->build_id);
	}
	case PT_REC_PYFRAME:
		return memcmp(&a->u.pyframe, &b->u.pyframe,
			      sizeof a->u.pyframe) == 0;
	case PT_REC_STACK:
		return a->u.stack.id == b->u.stack.id &&
		       a->u.stack.n == b->u.stack.n &&
		       (a->u.stack.n == 0 ||
			memcmp(a->u.stack.frames, b->u.stack.frames,
			       a->u.stack.n * sizeof(uint64_t)) == 0);
	case PT_REC_ALLOC:
		return a->u.alloc.tid == b->u.alloc.tid &&
		       a->u.alloc.addr == b->u.alloc.addr &&
		       a->u.alloc.size == b->u.alloc.size &&
		       a->u.alloc.weight == b->u.alloc.weight &&
		       a->u.alloc.stack_id == b->u.alloc.stack_id;
	case PT_REC_FREE:
		return a->u.free.addr == b->u.free.addr;
	case PT_REC_TICK:
		return memcmp(&a->u.tick, &b->u.tick, sizeof a->u.tick) == 0;
	case PT_REC_PEAK:
		return memcmp(&a->u.peak, &b->u.peak, sizeof a->u.peak) == 0;
	case PT_REC_THREAD:
		return a->u.thread.tid == b->u.thread.tid &&
		       tb_str_eq(a->u.thread.name, b->u.thread.name);
	case PT_REC_TRIP:
		return tb_str_eq(a->u.trip.reason, b->u.trip.reason);
	case PT_REC_DROPS:
		return a->u.drops.total == b->u.drops.total;
	case PT_REC_END:
		return memcmp(&a->u.end, &b->u.end, sizeof a->u.end) == 0;
	}
	return 0;
}

/* Record constructors, for brevity in tests. */
static inline struct pt_rec tb_alloc(uint32_t tid, uint64_t addr, uint64_t size,
				     uint64_t weight, uint32_t stack)
{
	struct pt_rec r = { .type = PT_REC_ALLOC };
	r.u.alloc.tid = tid;
	r.u.alloc.addr = addr;
	r.u.alloc.size = size;
	r.u.alloc.weight = weight;
	r.u.alloc.stack_id = stack;
	return r;
}

static inline struct pt_rec tb_free_rec(uint64_t addr)
{
	struct pt_rec r = { .type = PT_REC_FREE };
	r.u.free.addr = addr;
	return r;
}

static inline struct pt_rec tb_string(uint32_t id, const char *s)
{
	struct pt_rec r = { .type = PT_REC_STRING };
	r.u.string.id = id;
	r.u.string.s.p = s;
	r.u.string.s.len = (uint32_t)strlen(s);
	return r;
}

static inline struct pt_rec tb_header(const char *cmdline)
{
	struct pt_rec r = { .type = PT_REC_HEADER };
	r.u.header.format_version = PT_FMT_VERSION;
	r.u.header.pid = 4242;
	r.u.header.ppid = 1;
	r.u.header.start_unix_ns = 1700000000123456789ull;
	r.u.header.mode = PT_MODE_SAMPLED;
	r.u.header.sample_bytes = 524288;
	r.u.header.page_size = 4096;
	r.u.header.python_version.p = "3.12.1";
	r.u.header.python_version.len = 6;
	r.u.header.cmdline.p = cmdline;
	r.u.header.cmdline.len = (uint32_t)strlen(cmdline);
	r.u.header.exe.p = "/usr/bin/python3.12";
	r.u.header.exe.len = (uint32_t)strlen("/usr/bin/python3.12");
	return r;
}

static inline struct pt_rec tb_end(uint64_t t_ns, uint64_t peak)
{
	struct pt_rec r = { .type = PT_REC_END };
	r.u.end.t_ns = t_ns;
	r.u.end.peak_bytes = peak;
	r.u.end.peak_t_ns = t_ns / 2;
	r.u.end.total_allocs = 10;
	r.u.end.total_alloc_bytes = 1000;
	return r;
}

/* A small realistic trace: 3 chunks, a few records each, ending in END. */
static inline struct tb *tb_small_trace(void)
{
	static const uint64_t frames[] = {
		PT_FRAME_PY(1), PT_FRAME_NATIVE(0x55550000123aull),
		PT_FRAME_NATIVE(0x7f0000001000ull),
	};
	struct tb *t = tb_new(4096);
	struct pt_rec r;

	r = tb_header("python3 job.py --rows 10");
	tb_rec(t, &r);
	r = tb_string(1, "main");
	tb_rec(t, &r);
	r = tb_string(2, "job.py");
	tb_rec(t, &r);
	r = (struct pt_rec){ .type = PT_REC_PYFRAME };
	r.u.pyframe = (struct pt_rec_pyframe){ 1, 1, 2, 17 };
	tb_rec(t, &r);
	r = (struct pt_rec){ .type = PT_REC_STACK };
	r.u.stack.id = 1;
	r.u.stack.n = 3;
	r.u.stack.frames = frames;
	tb_rec(t, &r);
	tb_flush(t);
	r = tb_alloc(100, 0x7f0000010000ull, 4096, 524288, 1);
	tb_rec(t, &r);
	r = tb_alloc(101, 0x7f0000020000ull, 100, 524288, 1);
	tb_rec(t, &r);
	r = tb_free_rec(0x7f0000010000ull);
	tb_rec(t, &r);
	r = (struct pt_rec){ .type = PT_REC_PEAK };
	r.u.peak.t_ns = 5000;
	r.u.peak.bytes = 1 << 20;
	tb_rec(t, &r);
	tb_flush(t);
	r = (struct pt_rec){ .type = PT_REC_TICK };
	r.u.tick = (struct pt_rec_tick){ 6000, 1 << 19, 1 << 21, 1 << 20 };
	tb_rec(t, &r);
	r = tb_free_rec(0x7f0000020000ull);
	tb_rec(t, &r);
	r = tb_end(7000, 1 << 20);
	tb_rec(t, &r);
	tb_flush(t);
	return t;
}

#endif
