/*
 * arena.c: mmap-backed memory for the runtime (see arena.h).
 */
#include "core/arena.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "contracts/arith.h"
#include "peaktrace/fp.h"

#include "contracts/banned.h"

void *pt_map_zeroed(size_t len)
{
	if (PT_FAIL(arena_map))
		return NULL;
	int saved = errno;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	/* Our tables are large and sparse (the live table's samples, the
	 * interners' hash slots land on random pages): with transparent huge
	 * pages on "always", every slot touched would make 2 MiB resident,
	 * and the runtime's memory would be its tables' size, not what it
	 * holds (measured: +20 MiB on bench_workload, +6 MiB without). */
	if (p != MAP_FAILED)
		madvise(p, len, MADV_NOHUGEPAGE);
	errno = saved;
	return p == MAP_FAILED ? NULL : p;
}

void pt_unmap(void *p, size_t len)
{
	int saved = errno;
	if (p)
		munmap(p, len);
	errno = saved;
}

void pt_zero_mapping(void *p, size_t len)
{
	int saved = errno;
	if (p && madvise(p, len, MADV_DONTNEED) != 0)
		memset(p, 0, len);
	errno = saved;
}

int pt_arena_init(struct pt_arena *a, size_t cap)
{
	size_t page = 4096;
	cap = pt_add_sat_sz(cap, page - 1) & ~(page - 1);
	a->base = pt_map_zeroed(cap);
	if (!a->base) {
		a->cap = 0;
		atomic_store(&a->used, 0);
		return -ENOMEM;
	}
	a->cap = cap;
	atomic_store(&a->used, 0);
	return 0;
}

void *pt_arena_alloc(struct pt_arena *a, size_t n)
{
	if (!a->base)
		return NULL;
	size_t need = pt_add_sat_sz(n, 15) & ~(size_t)15;
	if (need > a->cap)
		return NULL;
	size_t off = atomic_fetch_add_explicit(&a->used, need, memory_order_relaxed);
	if (off > a->cap - need || PT_FAIL(arena_grow))
		return NULL; /* at the ceiling: the caller degrades */
	return a->base + off;
}

void pt_arena_reset(struct pt_arena *a)
{
	if (!a->base)
		return;
	pt_zero_mapping(a->base, a->cap);
	atomic_store(&a->used, 0);
}
