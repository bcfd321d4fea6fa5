/*
 * fmt.h: a bounded, async-signal-safe string builder.
 *
 * Runtime code may not use stdio, so every message the runtime prints
 * (kill-switch trips, contract failures, start-up errors) is assembled here
 * into a caller-provided buffer and written with write(2). The builder never
 * overflows: text past the capacity is dropped and the result stays
 * NUL-terminated. Every function is async-signal-safe and reentrant.
 */
#ifndef PT_FMT_H
#define PT_FMT_H

#include <stddef.h>
#include <stdint.h>

struct pt_buf {
	char *p;    /* caller's storage, always NUL-terminated */
	size_t len; /* bytes used, excluding the NUL; len < cap */
	size_t cap; /* size of p in bytes, >= 1 */
};

void pt_buf_init(struct pt_buf *b, char *storage, size_t cap);
void pt_buf_puts(struct pt_buf *b, const char *s);
void pt_buf_putn(struct pt_buf *b, const char *s, size_t n);
void pt_buf_putc(struct pt_buf *b, char c);
void pt_buf_putu(struct pt_buf *b, uint64_t v);
void pt_buf_puti(struct pt_buf *b, int64_t v);
void pt_buf_putx(struct pt_buf *b, uint64_t v); /* 0x-prefixed hex */

/* Writes all of s to fd, retrying on EINTR and short writes; keeps errno. */
void pt_write_all(int fd, const char *s, size_t n);
/* Writes "peaktrace: " + msg + "\n" to stderr in one write(2) where it fits. */
void pt_errmsg(const char *msg);

#endif
