/*
 * decoder.h: the tolerant, streaming trace decoder (report side).
 *
 * Pull-based: open a trace, call pt_dec_next until it returns 0 (end) or a
 * negative error. Memory is bounded by the largest chunk in the file
 * (<= PT_FMT_MAX_CHUNK plus a little), never by the file's size: the
 * decoder reads chunk by chunk with read(2).
 *
 * Tolerance (docs/FORMAT.md, "what a decoder must do"):
 *  - a file cut short decodes up to its last whole chunk, with the warning
 *    "trace truncated after chunk N";
 *  - a chunk whose CRC, length or any record in it is bad is skipped WHOLE
 *    (validated before its first record is returned, so no record of a bad
 *    chunk is ever delivered), with a warning; decoding resumes at the next
 *    chunk magic found after it;
 *  - records of unknown type are skipped with a warning (once per type);
 *    bytes after the known fields of a record are ignored.
 * None of these is an error: pt_dec_next still ends with 0. Errors (<0) are
 * kept for what makes the rest of the file unreadable (a read(2) failure).
 *
 * Not thread-safe: one decoder, one thread at a time.
 */
#ifndef PT_DECODER_H
#define PT_DECODER_H

#include <stddef.h>
#include <stdint.h>

#include "peaktrace/format.h"

struct pt_dec;

/* Opens the trace at path and checks its file header. Returns 0, or a
 * negative errno with one line in err (no "peaktrace: " prefix, no path):
 *   -ENOENT, -EACCES, ...   strerror text ("No such file or directory")
 *   -EISDIR                 "is a directory"
 *   -EPROTO                 "empty file", "not a peaktrace trace (bad magic)",
 *                           "truncated file header (N of 16 bytes)",
 *                           "unsupported trace version N (this decoder reads 1)"
 *   -ENOMEM                 "out of memory"
 *   -EIO                    read error text */
int pt_dec_open(struct pt_dec **out, const char *path, char *err,
		size_t errlen);

/* The same over an open fd (not closed by pt_dec_close unless own_fd). */
int pt_dec_open_fd(struct pt_dec **out, int fd, int own_fd, char *err,
		   size_t errlen);

/* The same over bytes in memory (fuzzers, tests); buf must outlive the
 * decoder. */
int pt_dec_open_mem(struct pt_dec **out, const void *buf, size_t len,
		    char *err, size_t errlen);

/* Decodes the next record into *r. Returns 1 (a record), 0 (clean end of
 * the trace, warnings or not) or a negative errno (unrecoverable; see
 * pt_dec_error). Pointers in *r (strings, frames) stay valid until the next
 * pt_dec_next or pt_dec_close on d; copy what you keep. Strings are
 * NUL-terminated (p[len] == 0) but may also hold NULs and invalid UTF-8. */
int pt_dec_next(struct pt_dec *d, struct pt_rec *r);

/* The message of the last unrecoverable error, "" if none. */
const char *pt_dec_error(const struct pt_dec *d);

/* Warnings so far, oldest first: "trace truncated after chunk 3", ... At
 * most PT_DEC_MAX_WARNINGS are kept; later ones are only counted
 * (pt_dec_stats.warnings_total). Index i < pt_dec_warning_count(d); the
 * strings live until pt_dec_close. */
#define PT_DEC_MAX_WARNINGS 64
size_t pt_dec_warning_count(const struct pt_dec *d);
const char *pt_dec_warning(const struct pt_dec *d, size_t i);

struct pt_dec_stats {
	uint64_t chunks_read;      /* chunks whose records were delivered */
	uint64_t chunks_skipped;   /* corrupt chunks skipped (recognised by
				    * their magic; an incomplete last chunk
				    * counts as truncation, not here) */
	uint64_t records;          /* records delivered */
	uint64_t unknown_records;  /* records of unknown type skipped */
	uint64_t bytes_skipped;    /* bytes passed over while resynchronising */
	uint64_t warnings_total;   /* warnings, kept or not */
	uint64_t file_bytes;       /* bytes read from the source so far */
	int truncated;             /* 1 when the file ends inside a chunk */
	uint32_t version;          /* file header version */
};
void pt_dec_stats(const struct pt_dec *d, struct pt_dec_stats *st);

/* Frees everything (and closes the fd it opened). NULL is fine. */
void pt_dec_close(struct pt_dec *d);

#endif
