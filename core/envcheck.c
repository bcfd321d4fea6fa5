/*
 * envcheck.c: the start-up environment checks (DESIGN.md guard layer, 6).
 *
 * Each check tests one thing the runtime relies on and, on failure, says
 * what is wrong and what to do. They run in the constructor of every
 * profiled process (fail fast) and by hand through `peaktrace doctor`,
 * which runs them inside a real preloaded process (PEAKTRACE_DOCTOR=1) and
 * prints one line per check. Each has a failpoint (envcheck_*) so the
 * failure paths are tested.
 */
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <dlfcn.h>
#include <errno.h>
#include <gnu/libc-version.h>
#include <link.h>
#include <string.h>
#include <time.h>

#include "contracts/fmt.h"
#include "core/runtime.h"
#include "peaktrace/fp.h"

#include "contracts/banned.h"

#define MIN_GLIBC_MAJOR 2
#define MIN_GLIBC_MINOR 28

static int check_glibc(struct pt_buf *b)
{
	const char *v = gnu_get_libc_version();
	unsigned major = 0, minor = 0;
	const char *p = v;
	while (*p >= '0' && *p <= '9')
		major = major * 10 + (unsigned)(*p++ - '0');
	if (*p == '.')
		p++;
	while (*p >= '0' && *p <= '9')
		minor = minor * 10 + (unsigned)(*p++ - '0');
	if (PT_FAIL(envcheck_glibc) || major < MIN_GLIBC_MAJOR ||
	    (major == MIN_GLIBC_MAJOR && minor < MIN_GLIBC_MINOR)) {
		pt_buf_puts(b, "glibc ");
		pt_buf_puts(b, v);
		pt_buf_puts(b, " is older than 2.28, the oldest this peaktrace supports");
		return -ENOTSUP;
	}
	pt_buf_puts(b, "glibc ");
	pt_buf_puts(b, v);
	return 0;
}

static int check_symbols(struct pt_buf *b)
{
	static const char *const need[] = {
		"malloc", "free", "calloc", "realloc", "malloc_usable_size",
		"posix_memalign", "aligned_alloc", "memalign", "mmap", "munmap",
		"mremap",
	};
	for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
		if (PT_FAIL(envcheck_symbols) || !dlsym(RTLD_NEXT, need[i])) {
			pt_buf_puts(b, "the C library does not export '");
			pt_buf_puts(b, need[i]);
			pt_buf_puts(b, "', which the allocator shims forward to");
			return -ENOSYS;
		}
	}
	pt_buf_puts(b, "allocator symbols found");
	return 0;
}

static int check_unwind(struct pt_buf *b)
{
	void *ips[4];
	/* as inside a sample: what libunwind sets up on first use (its
	 * validation pipe, shims/pipe.c) is made the runtime's way */
	pt_tls.busy++;
	int n = PT_FAIL(envcheck_unwind) ? 0 : unw_backtrace(ips, 4);
	pt_tls.busy--;
	if (n <= 0) {
		pt_buf_puts(b, "libunwind cannot walk this process's stack (unw_backtrace gave ");
		pt_buf_puti(b, n);
		pt_buf_puts(b, " frames); is libunwind8 installed and matching?");
		return -ENOTSUP;
	}
	pt_buf_puts(b, "libunwind walks the stack");
	return 0;
}

static int check_clock(struct pt_buf *b)
{
	struct timespec ts;
	if (PT_FAIL(envcheck_clock) || clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
		pt_buf_puts(b, "CLOCK_MONOTONIC is not available");
		return -ENOTSUP;
	}
	pt_buf_puts(b, "monotonic clock");
	return 0;
}

static int adds_probe(struct dl_phdr_info *info, size_t size, void *data)
{
	*(int *)data = size >= offsetof(struct dl_phdr_info, dlpi_subs) +
				       sizeof info->dlpi_subs;
	return 1;
}

static int check_loader(struct pt_buf *b)
{
	int has_adds = 0;
	dl_iterate_phdr(adds_probe, &has_adds);
	if (PT_FAIL(envcheck_loader) || !has_adds) {
		pt_buf_puts(b, "dl_iterate_phdr does not report load counts (dlpi_adds); "
			       "modules loaded later would not be symbolized");
		return -ENOTSUP;
	}
	pt_buf_puts(b, "dynamic loader reports module loads");
	return 0;
}

bool pt_glibc_chunk_sizes;

/* True when the program's malloc family resolves to the shims in this
 * library (and not to an allocator the executable defines, or one loaded
 * before us). */
static bool shims_in_use(void)
{
	static const char *const names[] = { "malloc", "free", "calloc", "realloc",
					     "malloc_usable_size" };
	Dl_info mine, theirs;
	if (!dladdr((void *)(uintptr_t)shims_in_use, &mine))
		return false;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		void *f = dlsym(RTLD_DEFAULT, names[i]);
		if (!f || !dladdr(f, &theirs) || theirs.dli_fbase != mine.dli_fbase)
			return false;
	}
	return true;
}

/* Not a failure when it does not hold: the shims then call
 * malloc_usable_size, which is slower but always right. */
static int check_chunk_sizes(struct pt_buf *b)
{
	size_t (*mus)(void *) = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
	void *(*m)(size_t) = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	void *(*al)(size_t, size_t) = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "memalign");
	void (*f)(void *) = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	static const size_t sizes[] = { 1, 8, 24, 25, 100, 1000, 4096, 65536, 200000, 4u << 20 };
	bool ok = mus && m && f && al && !PT_FAIL(envcheck_chunk_sizes);
	for (size_t i = 0; ok && i < sizeof sizes / sizeof sizes[0]; i++) {
		void *p = m(sizes[i]);
		void *q = al(64, sizes[i]);
		if (!p || mus(p) != pt_glibc_usable(p) || (q && mus(q) != pt_glibc_usable(q)))
			ok = false;
		f(p);
		f(q);
	}
	pt_glibc_chunk_sizes = ok;
	/* The gate also means that every sampled block is tagged (shims/
	 * malloc.c), which needs the shims that read tags to be the ones
	 * the program calls (a program with a malloc of its own defines
	 * them itself), and sampling: exact mode records every free. */
	bool ours = shims_in_use();
	pt_fast_gate_set(ok && ours && pt_g.cfg.mode != PT_MODE_EXACT);
	pt_buf_puts(b, ok ? "usable sizes read from glibc's chunk headers"
			  : "usable sizes through malloc_usable_size (chunk headers differ)");
	if (!ours)
		pt_buf_puts(b, "; the program defines allocator functions of its own");
	return 0;
}

int pt_envcheck_run(char *msg, size_t msglen, int verbose_fd)
{
	static int (*const checks[])(struct pt_buf *) = {
		check_glibc, check_symbols, check_unwind, check_clock, check_loader,
		check_chunk_sizes,
	};
	int rc = 0;
	for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
		char line[400];
		struct pt_buf b;
		pt_buf_init(&b, line, sizeof line);
		int r = checks[i](&b);
		if (verbose_fd >= 0) {
			char out[460];
			struct pt_buf o;
			pt_buf_init(&o, out, sizeof out);
			pt_buf_puts(&o, r < 0 ? "FAIL  " : "ok    ");
			pt_buf_puts(&o, line);
			pt_buf_putc(&o, '\n');
			pt_write_all(verbose_fd, o.p, o.len);
		}
		if (r < 0 && rc == 0) {
			rc = r;
			struct pt_buf m;
			pt_buf_init(&m, msg, msglen);
			pt_buf_puts(&m, "start-up check failed: ");
			pt_buf_puts(&m, line);
			if (verbose_fd < 0)
				return rc;
		}
	}
	return rc;
}
