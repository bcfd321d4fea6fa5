/*
 * shim.h: what the shims share: the real functions and the bootstrap.
 */
#ifndef PT_SHIM_H
#define PT_SHIM_H

#include <stddef.h>
#include <sys/types.h>

#define PT_EXPORT __attribute__((visibility("default")))

struct pt_real {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*reallocarray)(void *, size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	size_t (*malloc_usable_size)(void *);
	void *(*mmap)(void *, size_t, int, int, int, off_t);
	int (*munmap)(void *, size_t);
	void *(*mremap)(void *, size_t, size_t, int, ...);
	void (*exit_)(int);   /* noreturn; the callers say so */
	void (*Exit_)(int);
	void (*abort_)(void);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	int (*close)(int);
	long (*syscall)(long, ...);
	int (*dlclose)(void *);
};

extern struct pt_real pt_real;

/* Resolves pt_real with dlsym(RTLD_NEXT); safe to call at any time, from
 * any allocation, including the ones dlsym makes (those are served from a
 * static bootstrap buffer). */
void pt_shim_resolve(void);

/* The next definition of name after ours (dlsym(RTLD_NEXT)), looked up
 * once into *slot; NULL when there is none. For shims outside pt_real's
 * table (exec, namespaces). */
void *pt_shim_next(void *_Atomic *slot, const char *name);

/* In a shim that returns int: declares `type real`, the next definition of
 * name, and returns -1 with errno ENOSYS when there is none. */
#define PT_SHIM_NEXT_OR_ENOSYS(type, name)                               \
	static void *_Atomic next_##name;                                \
	type real = (type)pt_shim_next(&next_##name, #name);             \
	if (!real) {                                                     \
		errno = ENOSYS;                                          \
		return -1;                                               \
	}

/* mmap.c: finds the code of the allocator behind pt_real.malloc when it is
 * a shared object other than the C library, whose own mappings are then
 * not counted (they hold blocks the malloc shims count). Once, at
 * start-up, after pt_shim_resolve; takes the loader's lock. */
void pt_mmap_note_allocator(void);

/* sandbox.c: before the program sets a seccomp mode (seccomp(2) through
 * syscall(), or prctl): finishes the trace and switches profiling off.
 * Keeps errno; not async-signal-safe. */
void pt_sandbox_before_seccomp(void);

#endif
