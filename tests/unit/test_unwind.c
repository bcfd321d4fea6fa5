/*
 * test_unwind.c: the cached unwinder (core/unwind.c) reports the frames
 * libunwind reports, in every shape of stack a sampled allocation can
 * have: plain calls, frames with a frame pointer and a variable-length
 * array (a CFA from RBP), a callback called by the C library (frames in
 * libc, no frame pointers), deep recursion, a thread, a signal handler (a
 * signal frame: the walk falls back to libunwind), and again once every
 * rule is cached. No rule may ever disagree with libunwind.
 */
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/unwind.h"

#define MAXF 128

struct walk {
	void *fast[MAXF], *ref[MAXF];
	int nfast, nref;
};

/* Both walks from one frame: their first addresses are two call sites in
 * this function, the rest must be the same. */
static __attribute__((noinline)) void capture(struct walk *w)
{
	w->nfast = pt_unwind_backtrace(w->fast, MAXF);
	w->nref = unw_backtrace(w->ref, MAXF);
	__asm__ volatile("" ::: "memory"); /* no tail call */
}

static void show(const char *what, void *const *ips, int n)
{
	for (int i = 0; i < n; i++) {
		Dl_info d;
		memset(&d, 0, sizeof d);
		dladdr(ips[i], &d);
		print_message("%s %2d %p %s\n", what, i, ips[i], d.dli_sname ? d.dli_sname : "?");
	}
}

static void same(const struct walk *w, int min_depth)
{
	if (w->nfast != w->nref) {
		show("cached  ", w->fast, w->nfast);
		show("libunwind", w->ref, w->nref);
	}
	assert_true(w->nfast >= min_depth);
	assert_int_equal(w->nfast, w->nref);
	for (int i = 1; i < w->nref; i++)
		if (w->fast[i] != w->ref[i])
			fail_msg("frame %d of %d: %p, libunwind %p", i, w->nref, w->fast[i],
				 w->ref[i]);
	/* the first: two return addresses into capture(), a few
	 * instructions apart (more under ASan's instrumentation) */
	uintptr_t d = (uintptr_t)w->fast[0] > (uintptr_t)w->ref[0]
			      ? (uintptr_t)w->fast[0] - (uintptr_t)w->ref[0]
			      : (uintptr_t)w->ref[0] - (uintptr_t)w->fast[0];
	assert_true(d < 1024);
	assert_int_equal(pt_unwind_broken_rules(), 0);
}

static struct walk W;

static __attribute__((noinline)) int rec_b(int n);

static __attribute__((noinline)) int rec_a(int n)
{
	if (n == 0) {
		capture(&W);
		return 1;
	}
	return rec_b(n - 1) + 1;
}

/* a frame pointer and a block of dynamic size on the stack (alloca): its
 * CFA comes from RBP */
__attribute__((noinline, optimize("no-omit-frame-pointer"))) static int rec_b(int n)
{
	volatile char *block = __builtin_alloca(16 + (size_t)(n & 7) * 24);
	block[0] = (char)n;
	return rec_a(n) + block[0] - (char)n;
}

static uint64_t fast_walks(void)
{
	uint64_t f, s;
	pt_unwind_counts(&f, &s);
	return f;
}

static uint64_t slow_walks(void)
{
	uint64_t f, s;
	pt_unwind_counts(&f, &s);
	return s;
}

static void plain_and_rbp_frames(void **state)
{
	(void)state;
	for (int depth = 0; depth < 40; depth += 7) {
		rec_a(depth);
		same(&W, depth + 3);
		uint64_t before = fast_walks();
		rec_a(depth); /* again, every rule cached */
		same(&W, depth + 3);
		assert_true(fast_walks() == before + 1); /* not libunwind's */
	}
}

static int calls;

static int cmp(const void *a, const void *b)
{
	if (calls++ == 3)
		capture(&W);
	return *(const int *)a - *(const int *)b;
}

static void through_libc(void **state)
{
	(void)state;
	int v[64];
	for (int i = 0; i < 64; i++)
		v[i] = (i * 37) % 64;
	calls = 0;
	uint64_t before = fast_walks();
	qsort(v, 64, sizeof v[0], cmp);
	same(&W, 4);
	assert_true(fast_walks() == before + 1);
}

static void *thread_main(void *arg)
{
	(void)arg;
	rec_a(5);
	return NULL;
}

static void in_a_thread(void **state)
{
	(void)state;
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, thread_main, NULL), 0);
	pthread_join(t, NULL);
	same(&W, 8);
}

static void on_signal(int sig)
{
	(void)sig;
	rec_a(2);
}

static void from_a_signal_handler(void **state)
{
	(void)state;
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGUSR1, &sa, &old);
	uint64_t before = slow_walks();
	raise(SIGUSR1);
	sigaction(SIGUSR1, &old, NULL);
	same(&W, 6);
	/* the signal frame is libunwind's to walk */
	assert_true(slow_walks() == before + 1);
}

static void short_buffers(void **state)
{
	(void)state;
	void *ips[3];
	assert_int_equal(pt_unwind_backtrace(ips, 0), 0);
	int n = pt_unwind_backtrace(ips, 3);
	assert_int_equal(n, 3);
}

int main(void)
{
	if (pt_unwind_init() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_and_rbp_frames),
		cmocka_unit_test(through_libc),
		cmocka_unit_test(in_a_thread),
		cmocka_unit_test(from_a_signal_handler),
		cmocka_unit_test(short_buffers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
