/*
 * test_failpoints.c: the failpoint engine (failpoints/failpoints.h) against
 * a local table of sites, independent of peaktrace's own site list.
 *
 * What a user relies on: a spec arms what it says and nothing else; a bad
 * spec arms nothing and says where and why; counts are exact under threads;
 * probabilities are honest; segv and abort really kill; sleep continues.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "failpoints/failpoints.h"

static struct pt_fp_site sites[] = {
	PT_FP_SITE_INIT("alpha", "first test site"),
	PT_FP_SITE_INIT("beta", "second test site"),
	PT_FP_SITE_INIT("gamma.delta", "a dotted name"),
	PT_FP_SITE_INIT("epsilon", "left armed across bad specs"),
};
static struct pt_fp_table table = { sites, sizeof sites / sizeof sites[0] };

#define ALPHA (&sites[0])
#define BETA (&sites[1])
#define GAMMA (&sites[2])
#define EPSILON (&sites[3])

static char err[256];

static int cfg(const char *spec)
{
	memset(err, 0, sizeof err);
	return pt_fp_configure(&table, spec, err, sizeof err);
}

static int armed(struct pt_fp_site *s)
{
	return atomic_load(&s->armed);
}

static unsigned long hits(struct pt_fp_site *s)
{
	return atomic_load(&s->hits);
}

static unsigned long fired(struct pt_fp_site *s)
{
	return atomic_load(&s->fired);
}

/* Hits s n times; returns how many hits said "take the error path". */
static unsigned hit_n(struct pt_fp_site *s, unsigned n)
{
	unsigned t = 0;
	for (unsigned i = 0; i < n; i++)
		t += PT_FP_HIT(s) ? 1 : 0;
	return t;
}

static int reset(void **state)
{
	(void)state;
	pt_fp_disarm_all(&table);
	return 0;
}

/* ---- good specs ------------------------------------------------------- */

static void test_return(void **state)
{
	(void)state;
	assert_false(PT_FP_HIT(ALPHA)); /* disarmed */
	assert_int_equal(cfg("alpha=return"), 0);
	assert_string_equal(err, "");
	assert_true(armed(ALPHA));
	assert_false(armed(BETA));
	assert_true(PT_FP_HIT(ALPHA));
	assert_true(PT_FP_HIT(ALPHA));
	assert_false(PT_FP_HIT(BETA));
	assert_int_equal(hits(ALPHA), 2);
	assert_int_equal(fired(ALPHA), 2);
	assert_int_equal(hits(BETA), 0);
}

static void test_off_disarms(void **state)
{
	(void)state;
	assert_int_equal(cfg("alpha=return"), 0);
	assert_true(PT_FP_HIT(ALPHA));
	assert_int_equal(cfg("alpha=off"), 0);
	assert_false(armed(ALPHA));
	assert_false(PT_FP_HIT(ALPHA));
	assert_int_equal(hits(ALPHA), 0);
	assert_int_equal(fired(ALPHA), 0);
}

static void test_counted_off_then_return(void **state)
{
	(void)state;
	assert_int_equal(cfg("alpha=2*off->return"), 0);
	assert_false(PT_FP_HIT(ALPHA));
	assert_false(PT_FP_HIT(ALPHA));
	assert_true(PT_FP_HIT(ALPHA));
	assert_true(PT_FP_HIT(ALPHA));
	assert_int_equal(hits(ALPHA), 4);
	assert_int_equal(fired(ALPHA), 4); /* off fires too, doing nothing */
}

static void test_sleep_continues(void **state)
{
	(void)state;
	assert_int_equal(cfg("alpha=2*sleep(1)->return"), 0);
	errno = 4321;
	assert_false(PT_FP_HIT(ALPHA));
	assert_int_equal(errno, 4321);
	assert_false(PT_FP_HIT(ALPHA));
	assert_true(PT_FP_HIT(ALPHA));
	assert_int_equal(fired(ALPHA), 3);
	assert_int_equal(cfg("alpha=sleep(0)"), 0);
	assert_false(PT_FP_HIT(ALPHA));
	assert_int_equal(fired(ALPHA), 1);
}

static void test_count_exhaustion(void **state)
{
	(void)state;
	assert_int_equal(cfg("alpha=3*return"), 0);
	assert_int_equal(hit_n(ALPHA, 10), 3);
	/* Exhausted: behaves as off, still armed, hits still counted. */
	assert_true(armed(ALPHA));
	assert_int_equal(hits(ALPHA), 10);
	assert_int_equal(fired(ALPHA), 3);
	for (unsigned i = 0; i < 5; i++)
		assert_false(PT_FP_HIT(ALPHA));
}

static void test_chaining(void **state)
{
	(void)state;
	assert_int_equal(cfg("alpha=2*return->1*off->3*return"), 0);
	bool want[] = { true, true, false, true, true, true, false, false };
	for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++)
		assert_int_equal(PT_FP_HIT(ALPHA), want[i]);
	assert_int_equal(fired(ALPHA), 6);
	assert_int_equal(hits(ALPHA), 8);
}

static void test_probability_0_and_100(void **state)
{
	(void)state;
	assert_int_equal(cfg("alpha=0%return; beta=100%return"), 0);
	assert_int_equal(hit_n(ALPHA, 5000), 0);
	assert_int_equal(hit_n(BETA, 5000), 5000);
	assert_int_equal(hits(ALPHA), 5000);
	assert_int_equal(fired(ALPHA), 0);
	assert_int_equal(fired(BETA), 5000);
}

static void test_probability_50(void **state)
{
	(void)state;
	assert_int_equal(cfg("alpha=50%return"), 0);
	unsigned t = hit_n(ALPHA, 10000);
	/* Mean 5000, sd 50: these bounds are 20 sd wide. */
	assert_in_range(t, 4000, 6000);
	assert_int_equal(fired(ALPHA), t);
	assert_int_equal(hits(ALPHA), 10000);
}

static void test_miss_keeps_count(void **state)
{
	(void)state;
	assert_int_equal(cfg("alpha=0%2*return"), 0);
	assert_int_equal(hit_n(ALPHA, 100), 0);
	assert_int_equal(atomic_load(&ALPHA->terms[0].count), 2);

	/* With a probability the count still ends up exactly used. */
	assert_int_equal(cfg("alpha=30%5*return"), 0);
	assert_int_equal(hit_n(ALPHA, 10000), 5);
	assert_int_equal(fired(ALPHA), 5);
}

static void test_miss_passes_to_next_term(void **state)
{
	(void)state;
	/* fail-rs: a term that loses its roll hands the hit to the next. */
	assert_int_equal(cfg("alpha=50%return->sleep(0)"), 0);
	unsigned t = hit_n(ALPHA, 2000);
	assert_in_range(t, 600, 1400);
	assert_int_equal(fired(ALPHA), 2000); /* every hit fired one term */
}

static void test_multiple_entries_and_whitespace(void **state)
{
	(void)state;
	assert_int_equal(cfg(" \talpha = 2 * return -> off ;\n"
			     " gamma.delta=100 % 1 * return ; ; beta = "
			     "sleep ( 0 ) ;"),
			 0);
	assert_true(armed(ALPHA));
	assert_true(armed(BETA));
	assert_true(armed(GAMMA));
	assert_false(armed(EPSILON));
	assert_int_equal(hit_n(ALPHA, 5), 2);
	assert_int_equal(fired(ALPHA), 5);
	assert_int_equal(hit_n(GAMMA, 5), 1);
	assert_int_equal(hit_n(BETA, 3), 0);
	assert_int_equal(fired(BETA), 3);
}

static void test_empty_specs(void **state)
{
	(void)state;
	assert_int_equal(cfg("epsilon=return"), 0);
	assert_int_equal(cfg(""), 0);
	assert_int_equal(cfg(" ; ;\t"), 0);
	assert_int_equal(pt_fp_configure(&table, NULL, err, sizeof err), 0);
	assert_true(armed(EPSILON)); /* left as it was */
	assert_false(armed(ALPHA));
}

static void test_reconfigure_replaces_and_leaves_others(void **state)
{
	(void)state;
	assert_int_equal(cfg("alpha=1*return;beta=return"), 0);
	assert_int_equal(hit_n(ALPHA, 3), 1);
	assert_int_equal(hit_n(BETA, 3), 3);
	assert_int_equal(cfg("alpha=2*return"), 0);
	assert_int_equal(hits(ALPHA), 0); /* counters restart */
	assert_int_equal(hit_n(ALPHA, 3), 2);
	assert_true(armed(BETA));         /* not named: untouched */
	assert_int_equal(hits(BETA), 3);
}

static void test_disarm_all(void **state)
{
	(void)state;
	assert_int_equal(cfg("alpha=return;beta=return;epsilon=3*return"), 0);
	hit_n(ALPHA, 2);
	hit_n(EPSILON, 2);
	pt_fp_disarm_all(&table);
	for (size_t i = 0; i < table.n; i++) {
		assert_false(armed(&sites[i]));
		assert_int_equal(hits(&sites[i]), 0);
		assert_int_equal(fired(&sites[i]), 0);
		assert_false(PT_FP_HIT(&sites[i]));
	}
}

static void test_find(void **state)
{
	(void)state;
	assert_ptr_equal(pt_fp_find(&table, "alpha"), ALPHA);
	assert_ptr_equal(pt_fp_find(&table, "gamma.delta"), GAMMA);
	assert_null(pt_fp_find(&table, "alph"));
	assert_null(pt_fp_find(&table, "alphaa"));
	assert_null(pt_fp_find(&table, ""));
	assert_null(pt_fp_find(&table, NULL));
}

static void test_syntax_help(void **state)
{
	(void)state;
	const char *h = pt_fp_syntax_help();
	assert_non_null(h);
	assert_non_null(strstr(h, "->"));
	assert_non_null(strstr(h, "sleep"));
	assert_non_null(strstr(h, "segv"));
	assert_non_null(strstr(h, "abort"));
}

/* ---- bad specs -------------------------------------------------------- */

struct bad {
	const char *spec;
	const char *msg;
};

#define ACTIONS "an action (off, return, segv, abort, sleep)"

static const struct bad bad_specs[] = {
	{ "alpha=rtn", "column 7: unknown action 'rtn'" },
	{ "alpha=return;beta=rtn", "column 19: unknown action 'rtn'" },
	{ "  foo=return", "column 3: unknown failpoint 'foo'" },
	{ "alpha=return; foo = off", "column 15: unknown failpoint 'foo'" },
	{ "alpha=150%return", "column 7: probability 150 out of range 0..100" },
	{ "alpha = 20%3*return;beta=101%return",
	  "column 26: probability 101 out of range 0..100" },
	{ "alpha return", "column 7: expected '=' after failpoint name" },
	{ "alpha", "column 6: expected '=' after failpoint name" },
	{ "=return", "column 1: empty failpoint name" },
	{ "alpha=return; =off", "column 15: empty failpoint name" },
	{ "alpha=return;-", "column 14: unexpected '-', expected a failpoint name" },
	{ "alpha=sleep", "column 12: sleep needs an argument in milliseconds" },
	{ "alpha=sleep()", "column 13: sleep needs an argument in milliseconds" },
	{ "alpha=sleep(x)", "column 13: sleep needs an argument in milliseconds" },
	{ "alpha=sleep(5", "column 14: missing ')'" },
	{ "alpha=sleep(5 x)", "column 15: missing ')'" },
	{ "alpha=sleep(3600001)",
	  "column 13: sleep milliseconds 3600001 out of range 0..3600000" },
	{ "alpha=return(1)", "column 13: action 'return' takes no argument" },
	{ "alpha=return x",
	  "column 14: unexpected 'x', expected '->' or ';' after a term" },
	{ "alpha=return)",
	  "column 13: unexpected ')', expected '->' or ';' after a term" },
	{ "alpha=0*return", "column 7: count 0 out of range 1..2147483647" },
	{ "alpha=50% 0*return", "column 11: count 0 out of range 1..2147483647" },
	{ "alpha=3000000000*return",
	  "column 7: count 3000000000 out of range 1..2147483647" },
	{ "alpha=99999999999999*return", "column 7: number too large" },
	{ "alpha=", "column 7: unexpected end of spec, expected " ACTIONS },
	{ "alpha=return->", "column 15: unexpected end of spec, expected " ACTIONS },
	{ "alpha=%return", "column 7: unexpected '%', expected " ACTIONS },
	{ "alpha=3*", "column 9: unexpected end of spec, expected " ACTIONS },
	{ "alpha=20 return",
	  "column 10: unexpected 'r', expected '%' or '*' after a number" },
	{ "alpha=20%3 return",
	  "column 12: unexpected 'r', expected '*' after a count" },
	{ "alpha=return->segv",
	  "column 15: term can never fire: the one before it fires on every "
	  "hit (give it a count or a probability)" },
	{ "alpha=off->return",
	  "column 12: term can never fire: the one before it fires on every "
	  "hit (give it a count or a probability)" },
	{ "alpha=return;alpha=off", "column 14: failpoint 'alpha' named twice" },
	{ "alpha=1*off->1*off->1*off->1*off->1*off->1*off->1*off->1*off->1*off",
	  "column 63: too many terms (max 8)" },
	{ "alpha=Return", "column 7: unknown action 'Return'" },
};

static void test_bad_specs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bad_specs / sizeof bad_specs[0]; i++) {
		const struct bad *b = &bad_specs[i];
		pt_fp_disarm_all(&table);
		assert_int_equal(cfg("epsilon=3*return"), 0);
		assert_true(PT_FP_HIT(EPSILON));

		int rc = cfg(b->spec);
		if (rc != -EINVAL || strcmp(err, b->msg) != 0)
			print_error("spec \"%s\": rc %d, err \"%s\"\n", b->spec,
				    rc, err);
		assert_int_equal(rc, -EINVAL);
		assert_string_equal(err, b->msg);

		/* Nothing armed, and what was armed is as it was. */
		assert_false(armed(ALPHA));
		assert_false(armed(BETA));
		assert_false(armed(GAMMA));
		assert_true(armed(EPSILON));
		assert_int_equal(hits(EPSILON), 1);
		assert_int_equal(hit_n(EPSILON, 5), 2);
	}
}

static void test_bad_spec_error_buffer(void **state)
{
	(void)state;
	char small[8];
	memset(small, 'x', sizeof small);
	assert_int_equal(pt_fp_configure(&table, "alpha=rtn", small,
					 sizeof small),
			 -EINVAL);
	assert_string_equal(small, "column "); /* truncated, terminated */
	assert_int_equal(pt_fp_configure(&table, "alpha=rtn", NULL, 0),
			 -EINVAL);
	assert_int_equal(pt_fp_configure(&table, "alpha=rtn", small, 0),
			 -EINVAL);
	assert_false(armed(ALPHA));
}

/* A table big enough to reach the per-spec limits. */
#define BIG_N 70
static char big_names[BIG_N][8];
static struct pt_fp_site big_sites[BIG_N];
static struct pt_fp_table big_table = { big_sites, BIG_N };

static void init_big_table(void)
{
	for (unsigned i = 0; i < BIG_N; i++) {
		snprintf(big_names[i], sizeof big_names[i], "s%u", i);
		big_sites[i].name = big_names[i];
		big_sites[i].desc = "";
	}
}

static void test_spec_limits(void **state)
{
	(void)state;
	static char spec[4096];
	size_t len = 0;

	init_big_table();
	/* 64 entries are fine, the 65th is not. */
	for (unsigned i = 0; i < 64; i++)
		len += (size_t)snprintf(spec + len, sizeof spec - len,
					"s%u=return;", i);
	assert_int_equal(pt_fp_configure(&big_table, spec, err, sizeof err), 0);
	assert_true(armed(&big_sites[0]));
	assert_true(armed(&big_sites[63]));
	pt_fp_disarm_all(&big_table);
	len += (size_t)snprintf(spec + len, sizeof spec - len, "s64=return");
	size_t col = strlen(spec) - strlen("s64=return") + 1;
	char want[128];
	snprintf(want, sizeof want,
		 "column %zu: too many failpoints in one spec (max 64)", col);
	assert_int_equal(pt_fp_configure(&big_table, spec, err, sizeof err),
			 -EINVAL);
	assert_string_equal(err, want);
	assert_false(armed(&big_sites[0]));

	/* 16 entries of 8 terms use the whole pool of 128 terms. */
	len = 0;
	size_t col129 = 0;
	for (unsigned i = 0; i < 17; i++) {
		len += (size_t)snprintf(spec + len, sizeof spec - len, "s%u=",
					i);
		for (unsigned k = 0; k < 8; k++) {
			if (i == 16 && k == 0)
				col129 = len + 1;
			len += (size_t)snprintf(spec + len, sizeof spec - len,
						"%s1*off", k ? "->" : "");
		}
		if (i == 15) {
			assert_int_equal(pt_fp_configure(&big_table, spec, err,
							 sizeof err),
					 0);
			assert_true(armed(&big_sites[15]));
			pt_fp_disarm_all(&big_table);
		}
		len += (size_t)snprintf(spec + len, sizeof spec - len, ";");
	}
	snprintf(want, sizeof want,
		 "column %zu: too many terms in one spec (max 128)", col129);
	assert_int_equal(pt_fp_configure(&big_table, spec, err, sizeof err),
			 -EINVAL);
	assert_string_equal(err, want);
	assert_false(armed(&big_sites[0]));
}

/* ---- environment ------------------------------------------------------ */

/* Runs pt_fp_configure_env with stderr captured into out. */
static int configure_env_capture(char *out, size_t outlen)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_true(dup2(fds[1], 2) >= 0);
	int rc = pt_fp_configure_env(&table);
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	close(fds[1]);
	ssize_t n = read(fds[0], out, outlen - 1);
	close(fds[0]);
	out[n > 0 ? n : 0] = '\0';
	return rc;
}

static void test_env(void **state)
{
	(void)state;
	char out[512];

	unsetenv("PEAKTRACE_FAILPOINTS");
	assert_int_equal(configure_env_capture(out, sizeof out), 0);
	assert_string_equal(out, "");

	setenv("PEAKTRACE_FAILPOINTS", "alpha=1*return", 1);
	assert_int_equal(configure_env_capture(out, sizeof out), 0);
	assert_string_equal(out, "");
	assert_true(PT_FP_HIT(ALPHA));
	assert_false(PT_FP_HIT(ALPHA));

	pt_fp_disarm_all(&table);
	setenv("PEAKTRACE_FAILPOINTS", "beta=return;alpha=rtn", 1);
	assert_int_equal(configure_env_capture(out, sizeof out), -EINVAL);
	assert_string_equal(out, "peaktrace: bad PEAKTRACE_FAILPOINTS: "
				 "column 19: unknown action 'rtn'; "
				 "no failpoint armed\n");
	assert_false(armed(ALPHA));
	assert_false(armed(BETA));
	unsetenv("PEAKTRACE_FAILPOINTS");
}

/* ---- actions that end the process ------------------------------------- */

/* Forks a child that arms spec and hits alpha `n` times; returns its wait
 * status. */
static int run_child(const char *spec, unsigned n)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };
		setrlimit(RLIMIT_CORE, &no_core);
		/* cmocka catches SIGSEGV in its own handler; the child must
		 * die of the signal as a program would. */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		if (pt_fp_configure(&table, spec, NULL, 0) != 0)
			_exit(3);
		for (unsigned i = 0; i < n; i++)
			if (PT_FP_HIT(ALPHA))
				_exit(4);
		_exit(0);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void test_segv_kills_child(void **state)
{
	(void)state;
	int st = run_child("alpha=segv", 1);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSEGV);

	/* Two hits pass, the third faults. */
	st = run_child("alpha=2*off->segv", 2);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	st = run_child("alpha=2*off->segv", 3);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSEGV);
}

static void test_abort_kills_child(void **state)
{
	(void)state;
	int st = run_child("alpha=abort", 1);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
	st = run_child("alpha=0%abort", 100);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* A segv is a fault a handler can recover from, as the guard does. */
static sigjmp_buf recover_jmp;
static volatile sig_atomic_t recovered;

static void recover_handler(int sig)
{
	(void)sig;
	recovered = 1;
	siglongjmp(recover_jmp, 1);
}

static void test_segv_recoverable(void **state)
{
	(void)state;
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = recover_handler;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGSEGV, &sa, &old), 0);
	assert_int_equal(cfg("alpha=1*segv"), 0);
	recovered = 0;
	if (sigsetjmp(recover_jmp, 1) == 0)
		(void)PT_FP_HIT(ALPHA);
	assert_int_equal(sigaction(SIGSEGV, &old, NULL), 0);
	assert_int_equal(recovered, 1);
	assert_int_equal(fired(ALPHA), 1);
	assert_false(PT_FP_HIT(ALPHA)); /* used up */
}

/* ---- threads ---------------------------------------------------------- */

#define HAMMER_THREADS 4
#define HAMMER_HITS 20000

static void *hammer(void *arg)
{
	unsigned *out = arg;
	*out = hit_n(ALPHA, HAMMER_HITS);
	return NULL;
}

static void test_threads_exact_count(void **state)
{
	(void)state;
	pthread_t th[HAMMER_THREADS];
	unsigned got[HAMMER_THREADS];

	assert_int_equal(cfg("alpha=100*return"), 0);
	for (unsigned i = 0; i < HAMMER_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer, &got[i]),
				 0);
	unsigned total = 0;
	for (unsigned i = 0; i < HAMMER_THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		total += got[i];
	}
	assert_int_equal(total, 100);
	assert_int_equal(fired(ALPHA), 100);
	assert_int_equal(hits(ALPHA), HAMMER_THREADS * HAMMER_HITS);
}

static atomic_int race_stop;

static void *race_eval(void *arg)
{
	(void)arg;
	while (!atomic_load(&race_stop)) {
		(void)PT_FP_HIT(ALPHA);
		(void)PT_FP_HIT(BETA);
	}
	return NULL;
}

static void test_configure_races_eval(void **state)
{
	(void)state;
	static const char *const specs[] = {
		"alpha=return;beta=3*return",
		"alpha=3*off->50%2*return->sleep(0);beta=off",
		"alpha=off",
		"alpha=1*return->1*off->1*return->1*off->1*return->1*off->"
		"1*return->return",
		"beta=20%return",
	};
	pthread_t th[2];

	atomic_store(&race_stop, 0);
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, race_eval, NULL),
				 0);
	for (unsigned i = 0; i < 3000; i++) {
		if (i % 7 == 6)
			pt_fp_disarm_all(&table);
		else
			assert_int_equal(cfg(specs[i % 5]), 0);
	}
	atomic_store(&race_stop, 1);
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);

	/* Quiet again: the site behaves exactly as configured. */
	assert_int_equal(cfg("alpha=5*return"), 0);
	assert_int_equal(hit_n(ALPHA, 20), 5);
	assert_int_equal(hits(ALPHA), 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, reset, reset)
		T(test_return),
		T(test_off_disarms),
		T(test_counted_off_then_return),
		T(test_sleep_continues),
		T(test_count_exhaustion),
		T(test_chaining),
		T(test_probability_0_and_100),
		T(test_probability_50),
		T(test_miss_keeps_count),
		T(test_miss_passes_to_next_term),
		T(test_multiple_entries_and_whitespace),
		T(test_empty_specs),
		T(test_reconfigure_replaces_and_leaves_others),
		T(test_disarm_all),
		T(test_find),
		T(test_syntax_help),
		T(test_bad_specs),
		T(test_bad_spec_error_buffer),
		T(test_spec_limits),
		T(test_env),
		T(test_segv_kills_child),
		T(test_abort_kills_child),
		T(test_segv_recoverable),
		T(test_threads_exact_count),
		T(test_configure_races_eval),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
