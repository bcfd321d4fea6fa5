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
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
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

static void *real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (!pt_real.mmap)
		pt_shim_resolve();
	if (pt_real.mmap)
		return pt_real.mmap(addr, len, prot, flags, fd, off);
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

PT_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = real_mmap(addr, len, prot, flags, fd, off);
	if (p == MAP_FAILED || !(flags & MAP_ANONYMOUS) || !pt_ks_active() || pt_tls.busy ||
	    !pt_started())
		return p;
	int saved = errno;
	pt_hook_mmap(p, page_round(len), prot);
	errno = saved;
	return p;
}

PT_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}

PT_EXPORT int munmap(void *addr, size_t len)
{
	if (pt_ks_active() && !pt_tls.busy && pt_started()) {
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
	if (rc != 0 || !pt_ks_active() || pt_tls.busy || !pt_started())
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
	if (p == MAP_FAILED || !pt_ks_active() || pt_tls.busy || !pt_started())
		return p;
	int saved = errno;
	pt_hook_mremap(old, page_round(old_len), p, page_round(new_len), flags);
	errno = saved;
	return p;
}
