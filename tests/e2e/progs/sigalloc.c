/* sigalloc.c: malloc, calloc, realloc and free from a signal handler that
 * interrupts the program's own allocations and the profiler.
 *
 * A timer (ITIMER_REAL, 100 us by default, re-armed by the handler)
 * raises SIGALRM while the main loop churns through ITERS malloc/free pairs
 * (with calloc and realloc among them) over a window of live blocks. The handler
 * (sigalloc_handler) allocates, touches and frees a handful of small
 * blocks of varied sizes.
 *
 * Calling malloc from a handler is not async-signal-safe in glibc: a
 * handler that interrupted glibc's malloc and calls it again may deadlock
 * on the arena's lock. So the program stays correct without the profiler:
 * the main loop raises `in_alloc` around each of its allocator calls, and
 * the handler allocates only when
 *  - in_alloc is down (the main loop is not in the allocator), or
 *  - the interrupted instruction is inside libpeaktrace.so or libunwind
 *    (the profiler's shim, its sampling path or its stack unwinding): glibc
 *    never calls back into those, so glibc's allocator is not running on
 *    this thread then, and the handler's calls are exactly the "malloc from
 *    a handler that interrupted the profiler" case under test.
 * Otherwise (the allocator itself, or libc called from it) it does nothing.
 * Without the profiler neither library is loaded and only the first case
 * happens.
 *
 * stdout (one line) and the exit status are deterministic: the handler's
 * count varies from run to run, so it is not printed there. With a path as
 * argv[1] the handler's counts are written to that file:
 *   signals N / free N / profiler N / unwinder N / skipped N
 * (free: allocations run with the main loop outside the allocator;
 * profiler/unwinder: run with the interrupted pc in libpeaktrace.so /
 * libunwind; skipped: the handler did nothing). argv[2], if given, is the
 * timer's interval in microseconds.
 *
 * The handler checks what it gets (calloc zeroed, realloc kept the
 * contents); a failure counts as an error, which is printed on stdout, so
 * it shows as a difference from the unprofiled run. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <link.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <ucontext.h>

#define ITERS 300000
#define WINDOW 512

static volatile sig_atomic_t in_alloc; /* the main loop is in the allocator */
static volatile sig_atomic_t quiet;    /* the handler does nothing any more */

static volatile unsigned long n_signals, n_free, n_profiler, n_unwinder, n_skipped;
static volatile unsigned long n_errors;

struct range {
	uintptr_t lo, hi;
};
#define MAXR 16
static struct range prof_r[MAXR], unw_r[MAXR];
static int n_prof_r, n_unw_r;

static int find_text(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	(void)data;
	const char *name = info->dlpi_name ? info->dlpi_name : "";
	struct range *r;
	int *n;
	if (strstr(name, "libpeaktrace")) {
		r = prof_r;
		n = &n_prof_r;
	} else if (strstr(name, "libunwind")) {
		r = unw_r;
		n = &n_unw_r;
	} else {
		return 0;
	}
	for (int i = 0; i < info->dlpi_phnum && *n < MAXR; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		r[*n].lo = info->dlpi_addr + ph->p_vaddr;
		r[*n].hi = r[*n].lo + ph->p_memsz;
		(*n)++;
	}
	return 0;
}

static int in_ranges(const struct range *r, int n, uintptr_t pc)
{
	for (int i = 0; i < n; i++)
		if (pc >= r[i].lo && pc < r[i].hi)
			return 1;
	return 0;
}

static uintptr_t interrupted_pc(void *ucv)
{
	ucontext_t *uc = ucv;
#if defined(__x86_64__)
	return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
	return (uintptr_t)uc->uc_mcontext.pc;
#else
	(void)uc;
	return 0; /* unknown: only the in_alloc == 0 case allocates */
#endif
}

/* The allocations of the handler: a handful, sizes varied, every block
 * written and checked, all freed before returning. */
static void handler_allocs(unsigned long k)
{
	unsigned s = (unsigned)k * 2654435761u;
	size_t a = 8 + (s >> 3) % 250;
	size_t b = 1 + (s >> 11) % 300;
	size_t c = 64 + (s >> 19) % 3000;
	unsigned char *p = malloc(a);
	int *q = calloc(b, sizeof *q);
	unsigned char *r = malloc(c);
	if (!p || !q || !r) {
		n_errors++;
		free(p);
		free(q);
		free(r);
		return;
	}
	memset(p, 0x5a, a);
	memset(r, 0xa5, c);
	if (q[0] != 0 || q[b - 1] != 0)
		n_errors++;
	q[0] = q[b - 1] = 7;
	unsigned char *p2 = realloc(p, a * 3);
	if (!p2) {
		n_errors++;
		free(p);
	} else {
		if (p2[0] != 0x5a || p2[a - 1] != 0x5a)
			n_errors++;
		memset(p2, 0x3c, a * 3);
		free(p2);
	}
	free(r);
	free(q);
}

static struct itimerval period; /* one shot: re-armed by the handler */

static void sigalloc_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	int saved = errno;
	unsigned long k = ++n_signals;
	if (quiet) {
		n_skipped++;
	} else if (!in_alloc) {
		n_free++;
		handler_allocs(k);
	} else {
		uintptr_t pc = interrupted_pc(uc);
		if (in_ranges(prof_r, n_prof_r, pc)) {
			n_profiler++;
			handler_allocs(k);
		} else if (in_ranges(unw_r, n_unw_r, pc)) {
			n_unwinder++;
			handler_allocs(k);
		} else {
			n_skipped++;
		}
	}
	/* the next signal one period after this handler ends, not after it
	 * began: a handler slower than the period (the profiler's exact mode
	 * in a debug build) must not starve the main loop */
	if (!quiet)
		setitimer(ITIMER_REAL, &period, NULL);
	errno = saved;
}

/* The main loop's allocator calls, with in_alloc raised around them. */
#define ENTER() (in_alloc = 1, atomic_signal_fence(memory_order_seq_cst))
#define LEAVE() (atomic_signal_fence(memory_order_seq_cst), in_alloc = 0)

static void *slots[WINDOW];
static size_t sizes[WINDOW];

int main(int argc, char **argv)
{
	long usec = argc > 2 ? strtol(argv[2], NULL, 10) : 100;
	dl_iterate_phdr(find_text, NULL);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = sigalloc_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) != 0) {
		perror("sigaction");
		return 1;
	}
	/* every allocator entry point the handler uses, bound before the
	 * first signal */
	free(realloc(calloc(1, 8), 16));

	if (usec < 1)
		usec = 1;
	period.it_value.tv_sec = usec / 1000000;
	period.it_value.tv_usec = usec % 1000000;
	if (setitimer(ITIMER_REAL, &period, NULL) != 0) {
		perror("setitimer");
		return 1;
	}

	unsigned seed = 12345;
	unsigned long requested = 0, checksum = 0, bad = 0;
	for (int i = 0; i < ITERS; i++) {
		seed = seed * 1103515245u + 12345u;
		unsigned k = (seed >> 8) % WINDOW;
		size_t n = 16 + (seed >> 12) % 2048;
		unsigned char *p;
		if (slots[k] && i % 8 == 0) {
			/* realloc in place of a free and a malloc */
			checksum += ((unsigned char *)slots[k])[0];
			ENTER();
			p = realloc(slots[k], n);
			LEAVE();
			if (p && p[0] != (unsigned char)sizes[k])
				bad++;
		} else {
			if (slots[k]) {
				checksum += ((unsigned char *)slots[k])[sizes[k] - 1];
				ENTER();
				free(slots[k]);
				LEAVE();
			}
			ENTER();
			p = i % 16 == 1 ? calloc(n, 1) : malloc(n);
			LEAVE();
			if (p && i % 16 == 1 && (p[0] != 0 || p[n - 1] != 0))
				bad++;
		}
		slots[k] = p;
		if (!p) {
			bad++;
			continue;
		}
		memset(p, (int)(n & 0xff), n);
		sizes[k] = n;
		requested += n;
	}

	quiet = 1; /* the handler stops re-arming; a signal still pending finds nothing to do */
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	sigprocmask(SIG_BLOCK, &set, NULL);

	for (int k = 0; k < WINDOW; k++) {
		if (slots[k])
			checksum += ((unsigned char *)slots[k])[sizes[k] / 2];
		free(slots[k]);
		slots[k] = NULL;
	}
	printf("sigalloc: %d iterations, %lu bytes requested, checksum %lu, errors %lu\n",
	       ITERS, requested, checksum, bad + n_errors);
	if (argc > 1) {
		FILE *f = fopen(argv[1], "w");
		if (f) {
			fprintf(f, "signals %lu\nfree %lu\nprofiler %lu\nunwinder %lu\nskipped %lu\n",
				n_signals, n_free, n_profiler, n_unwinder, n_skipped);
			fclose(f);
		}
	}
	return 0;
}
