/*
 * encoder.h: writes trace records (include/peaktrace/format.h) into chunk
 * payload buffers. Runtime side: the writer thread owns a struct pt_enc per
 * chunk being filled, appends records to it, and when it is full (a call
 * returns -ENOSPC) or a flush is due, seals it:
 *
 *     uint8_t hdr[PT_FMT_CHUNK_HEADER_LEN];
 *     pt_chunk_seal(hdr, e.p, e.len, seq++);
 *     write hdr, then e.p[0..e.len)
 *     pt_enc_init(&e, buf, cap);        // next chunk: address state reset
 *
 * A record is all or nothing: on -ENOSPC (or -EINVAL) e->len and
 * e->last_addr are unchanged and the bytes in e->p[0..e->len) are intact
 * (bytes past e->len may have been scribbled on). A record never spans
 * chunks, so a record larger than an empty chunk's cap can never be
 * written: size the buffer for the largest record (a header with three
 * PT_FMT_MAX_STRING strings needs about 3 MiB; keep strings shorter).
 *
 * Every function is allocation-free, lock-free, async-signal-safe and
 * reentrancy-safe on distinct struct pt_enc; a struct pt_enc is used by one
 * thread at a time. Errors: -ENOSPC (record does not fit), -EINVAL (an
 * argument breaks a format limit: string > PT_FMT_MAX_STRING, stack >
 * PT_FMT_MAX_FRAMES, unknown record type).
 */
#ifndef PT_ENCODER_H
#define PT_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "peaktrace/format.h"

struct pt_enc {
	uint8_t *p;          /* payload buffer, cap bytes, caller-owned */
	size_t len;          /* payload bytes written so far, <= cap */
	size_t cap;          /* bytes of p, <= PT_FMT_MAX_CHUNK */
	uint64_t last_addr;  /* previous ALLOC/FREE address in this chunk */
};

/* Starts a chunk payload in buf (cap bytes; cap is clamped to
 * PT_FMT_MAX_CHUNK). */
void pt_enc_init(struct pt_enc *e, uint8_t *buf, size_t cap);

int pt_enc_header(struct pt_enc *e, const struct pt_rec_header *h);
int pt_enc_string(struct pt_enc *e, uint32_t id, const char *s, size_t n);
/* build_id: the object's GNU build-id (build_id_len 0: none). */
int pt_enc_module(struct pt_enc *e, uint32_t id, uint32_t path_string_id,
		  uint64_t load_bias, uint64_t start, uint64_t end,
		  const uint8_t *build_id, size_t build_id_len);
int pt_enc_pyframe(struct pt_enc *e, uint32_t id, uint32_t function_string_id,
		   uint32_t file_string_id, uint32_t line);
/* frames: n PT_FRAME_NATIVE/PT_FRAME_PY values, innermost first. */
int pt_enc_stack(struct pt_enc *e, uint32_t id, const uint64_t *frames,
		 uint32_t n);
int pt_enc_alloc(struct pt_enc *e, uint32_t tid, uint64_t addr, uint64_t size,
		 uint64_t weight, uint32_t stack_id);
int pt_enc_free(struct pt_enc *e, uint64_t addr);
int pt_enc_tick(struct pt_enc *e, uint64_t t_ns, uint64_t heap_bytes,
		uint64_t mapped_bytes, uint64_t peak_bytes);
int pt_enc_peak(struct pt_enc *e, uint64_t t_ns, uint64_t bytes);
int pt_enc_thread(struct pt_enc *e, uint32_t tid, const char *name, size_t n);
int pt_enc_trip(struct pt_enc *e, const char *reason, size_t n);
int pt_enc_drops(struct pt_enc *e, uint64_t total);
int pt_enc_end(struct pt_enc *e, const struct pt_rec_end *end);

/* Any record, by its type (the decoder's output fed back; tests, tools). */
int pt_enc_rec(struct pt_enc *e, const struct pt_rec *r);

/* Writes the 16-byte file header; returns 16. */
size_t pt_enc_file_header(uint8_t out[PT_FMT_FILE_HEADER_LEN]);

/* Fills the 16-byte chunk header for payload[0..len) (len <=
 * PT_FMT_MAX_CHUNK) with sequence number seq; returns 16. The writer numbers
 * chunks 0, 1, 2, ... in file order. */
size_t pt_chunk_seal(uint8_t hdr[PT_FMT_CHUNK_HEADER_LEN],
		     const uint8_t *payload, size_t len, uint32_t seq);

#endif
