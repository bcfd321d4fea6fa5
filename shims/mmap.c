/*
 * mmap.c: mmap, mmap64, munmap, mremap, mprotect, interposed.
 *
 * Only anonymous mappings made by the program through these symbols, and
 * only while accessible (a PROT_NONE reservation counts once mprotect or
 * mmap(MAP_FIXED) commits part of it), are counted (as "mapped" bytes) and sampled like allocations; file mappings
 * and mappings glibc's malloc makes internally (it calls the kernel
 * directly, so they never come here) are not, which is what keeps large
 * malloc blocks from being counted twice. An munmap is recorded before the
 * real call, for the same ordering reason as free.
 *
 * Another allocator in a shared object of its own (libjemalloc, linked or
 * preloaded after us) maps its extents through these symbols: its blocks
 * were counted once by the malloc shims and again, as the mappings behind
 * them, here (a 24 MiB peak reported as 70 MiB, a third of it "in
 * libjemalloc"). Calls made from that object's code are passed through
 * unrecorded, like glibc's own: pt_mmap_note_allocator() finds its range
 * once at start-up. An allocator linked into the executable itself is not
 * told apart from the program (its mappings still count twice).
 */
#include <errno.h>
#include <link.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/guard.h"
#include "core/runtime.h"
#include "shims/shim.h"

static size_t page_round(size_t n)
{
	return (n + 4095) & ~(size_t)4095;
}

/* [alloc_lo, alloc_hi): the code of the allocator behind pt_real.malloc
 * when that is a shared object other than the C library; empty otherwise.
 * Written once, at start-up, before the program's own threads run. */
static uintptr_t alloc_lo, alloc_hi;

struct find_alloc {
	uintptr_t addr;
	uintptr_t lo, hi;
	bool found;
	bool skip; /* the executable or the C library */
};

static int find_alloc_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct find_alloc *f = arg;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	bool in = false;
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;
		uintptr_t b = a + ph->p_memsz;
		if (f->addr >= a && f->addr < b)
			in = true;
		if (a < lo)
			lo = a;
		if (b > hi)
			hi = b;
	}
	if (!in)
		return 0;
	const char *name = info->dlpi_name ? info->dlpi_name : "";
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	f->found = true;
	f->skip = !*name || !strncmp(base, "libc.so", 7);
	f->lo = lo;
	f->hi = hi;
	return 1;
}

void pt_mmap_note_allocator(void)
{
	if (!pt_real.malloc)
		return;
	struct find_alloc f = { .addr = (uintptr_t)pt_real.malloc };
	dl_iterate_phdr(find_alloc_cb, &f);
	if (!f.found || f.skip)
		return;
	alloc_lo = f.lo;
	alloc_hi = f.hi;
}

/* True when the call comes from the allocator's own code (see above). */
static inline bool from_allocator(const void *ret)
{
	return (uintptr_t)ret - alloc_lo < alloc_hi - alloc_lo;
}

static void *real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (!pt_real.mmap)
		pt_shim_resolve();
	if (pt_real.mmap)
		return pt_real.mmap(addr, len, prot, flags, fd, off);
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static void *do_mmap(const void *ret, void *addr, size_t len, int prot, int flags, int fd,
		     off_t off)
{
	void *p = real_mmap(addr, len, prot, flags, fd, off);
	if (p == MAP_FAILED || !(flags & MAP_ANONYMOUS) || !pt_ks_active() || pt_tls.busy ||
	    !pt_started() || from_allocator(ret))
		return p;
	int saved = errno;
	pt_hook_mmap(p, page_round(len), prot);
	errno = saved;
	return p;
}

PT_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return do_mmap(__builtin_return_address(0), addr, len, prot, flags, fd, off);
}

PT_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return do_mmap(__builtin_return_address(0), addr, len, prot, flags, fd, off);
}

PT_EXPORT int munmap(void *addr, size_t len)
{
	if (pt_ks_active() && !pt_tls.busy && pt_started() &&
	    !from_allocator(__builtin_return_address(0))) {
		int saved = errno;
		pt_hook_munmap(addr, page_round(len));
		errno = saved;
	}
	if (!pt_real.munmap)
		pt_shim_resolve();
	if (pt_real.munmap)
		return pt_real.munmap(addr, len);
	return (int)syscall(SYS_munmap, addr, len);
}

PT_EXPORT int mprotect(void *addr, size_t len, int prot)
{
	static void *_Atomic next;
	int (*real)(void *, size_t, int) =
		(int (*)(void *, size_t, int))pt_shim_next(&next, "mprotect");
	int rc = real ? real(addr, len, prot) : (int)syscall(SYS_mprotect, addr, len, prot);
	if (rc != 0 || !pt_ks_active() || pt_tls.busy || !pt_started() ||
	    from_allocator(__builtin_return_address(0)))
		return rc;
	int saved = errno;
	pt_hook_mprotect(addr, page_round(len), prot);
	errno = saved;
	return rc;
}

PT_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *new_addr = NULL;
	/* the fifth argument is read when glibc reads it (MREMAP_FIXED or,
	 * since 2.32, MREMAP_DONTUNMAP), so that the kernel gets what it
	 * would have got without us, even from a caller that passed none */
	if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) {
		va_list ap;
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	if (!pt_real.mremap)
		pt_shim_resolve();
	void *p = pt_real.mremap
			  ? pt_real.mremap(old, old_len, new_len, flags, new_addr)
			  : (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
	if (p == MAP_FAILED || !pt_ks_active() || pt_tls.busy || !pt_started() ||
	    from_allocator(__builtin_return_address(0)))
		return p;
	int saved = errno;
	pt_hook_mremap(old, page_round(old_len), p, page_round(new_len), flags);
	errno = saved;
	return p;
}
