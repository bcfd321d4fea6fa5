/*
 * covmarks.c: enumeration of the "pt_covmarks" section (see covmarks.h).
 *
 * The linker provides __start_/__stop_ symbols for a section whose name is a
 * C identifier; they are weak here so that a module without any mark (every
 * release build) still links, with an empty range.
 */
#include "contracts/covmarks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "contracts/fmt.h"

#include "contracts/banned.h"

extern struct pt_covmark *__start_pt_covmarks[] __attribute__((weak, visibility("hidden")));
extern struct pt_covmark *__stop_pt_covmarks[] __attribute__((weak, visibility("hidden")));

#define FOR_EACH_MARK(m)                                                       \
	for (struct pt_covmark **m##_it = __start_pt_covmarks, *m;             \
	     m##_it && m##_it < __stop_pt_covmarks && ((m = *m##_it), 1);      \
	     m##_it++)

unsigned long pt_covmark_hits(const char *name)
{
	unsigned long total = 0;
	FOR_EACH_MARK(m)
	{
		if (strcmp(m->name, name) == 0)
			total += atomic_load_explicit(&m->hits, memory_order_relaxed);
	}
	return total;
}

unsigned pt_covmark_count(void)
{
	unsigned n = 0;
	FOR_EACH_MARK(m)
	{
		(void)m;
		n++;
	}
	return n;
}

void pt_covmark_reset(void)
{
	FOR_EACH_MARK(m)
	{
		atomic_store_explicit(&m->hits, 0, memory_order_relaxed);
	}
}

int pt_covmarks_dump(const char *path)
{
	if (!path || !*path)
		return -EINVAL;
	int saved = errno;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		int rc = -errno;
		errno = saved;
		return rc;
	}
	FOR_EACH_MARK(m)
	{
		unsigned long hits = atomic_load_explicit(&m->hits, memory_order_relaxed);
		if (!hits)
			continue;
		char line[256];
		struct pt_buf b;
		pt_buf_init(&b, line, sizeof line);
		pt_buf_puts(&b, m->name);
		pt_buf_putc(&b, ' ');
		pt_buf_putu(&b, hits);
		pt_buf_putc(&b, '\n');
		pt_write_all(fd, b.p, b.len);
	}
	close(fd);
	errno = saved;
	return 0;
}

int pt_covmarks_dump_env(void)
{
	const char *path = getenv("PEAKTRACE_COVMARKS_OUT");
	if (!path || !*path)
		return 0;
	return pt_covmarks_dump(path);
}
