/*
 * fmt.c: see fmt.h. Async-signal-safe; no allocation; keeps errno.
 */
#include "contracts/fmt.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "contracts/banned.h"

void pt_buf_init(struct pt_buf *b, char *storage, size_t cap)
{
	b->p = storage;
	b->cap = cap;
	b->len = 0;
	if (cap)
		storage[0] = '\0';
}

void pt_buf_putn(struct pt_buf *b, const char *s, size_t n)
{
	if (b->cap == 0)
		return;
	size_t room = b->cap - 1 - b->len;
	if (n > room)
		n = room;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void pt_buf_puts(struct pt_buf *b, const char *s)
{
	pt_buf_putn(b, s ? s : "(null)", strlen(s ? s : "(null)"));
}

void pt_buf_putc(struct pt_buf *b, char c)
{
	pt_buf_putn(b, &c, 1);
}

void pt_buf_putu(struct pt_buf *b, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof tmp;
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	pt_buf_putn(b, tmp + i, sizeof tmp - i);
}

void pt_buf_puti(struct pt_buf *b, int64_t v)
{
	if (v < 0) {
		pt_buf_putc(b, '-');
		pt_buf_putu(b, (uint64_t)0 - (uint64_t)v);
	} else {
		pt_buf_putu(b, (uint64_t)v);
	}
}

void pt_buf_putx(struct pt_buf *b, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[18];
	size_t i = sizeof tmp;
	do {
		tmp[--i] = digits[v & 15];
		v >>= 4;
	} while (v);
	tmp[--i] = 'x';
	tmp[--i] = '0';
	pt_buf_putn(b, tmp + i, sizeof tmp - i);
}

void pt_write_all(int fd, const char *s, size_t n)
{
	int saved = errno;
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		s += w;
		n -= (size_t)w;
	}
	errno = saved;
}

void pt_errmsg(const char *msg)
{
	char storage[1024];
	struct pt_buf b;
	pt_buf_init(&b, storage, sizeof storage);
	pt_buf_puts(&b, "peaktrace: ");
	pt_buf_puts(&b, msg);
	if (b.len == sizeof storage - 1)
		b.len--; /* keep room for the newline */
	b.p[b.len++] = '\n';
	pt_write_all(2, b.p, b.len);
}
