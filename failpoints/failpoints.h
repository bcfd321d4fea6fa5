/*
 * failpoints.h: named failure-injection sites (in the spirit of fail-rs and
 * FreeBSD's fail(9)), reusable by any C project.
 *
 * A project declares its sites in one table of struct pt_fp_site (static
 * storage, no registration at run time, no allocation anywhere) and tests a
 * site in code with PT_FP_HIT:
 *
 *     if (PT_FP_HIT(&sites[SITE_WRITER_WRITE]))
 *             return -EIO;             // the "return" action: take the error path
 *
 * A disarmed site costs one relaxed load and a predicted branch.
 *
 * Spec syntax (PEAKTRACE_FAILPOINTS and pt_fp_configure):
 *     spec  := entry (';' entry)*          empty entries are skipped
 *     entry := NAME '=' term ('->' term)*
 *     term  := [P '%'] [N '*'] action ['(' ARG ')']
 *     action:= off | return | segv | abort | sleep      (sleep takes ms)
 * Whitespace may surround any token. P is 0..100 (probability the term
 * fires on a hit; default 100), N 1..2147483647 the number of times it fires
 * before it is exhausted (default: forever). Examples: "writer_write=return",
 * "ring_push=20%return", "unwind=3*off->segv", "writer_flush=sleep(50)".
 *
 * Evaluation (fail-rs semantics): on each hit the terms are tried in order;
 * the first one that is not exhausted and wins its probability roll fires
 * and uses up one of its count. A term that loses its roll passes the hit to
 * the next term. Once every term is exhausted the site behaves as off. A
 * term after one that always fires (100%, no count) could never fire and is
 * rejected. "NAME=off" alone disarms the site. Naming one site twice in a
 * spec is an error. docs/FAILPOINTS.md has the whole story.
 *
 * Actions when a term fires: off does nothing; return makes PT_FP_HIT true;
 * segv performs a real invalid memory access (to exercise fault recovery);
 * abort ends the process with SIGABRT; sleep(ms) sleeps, then continues.
 *
 * Thread-safety: PT_FP_HIT and pt_fp_eval are lock-free, allocation-free,
 * keep errno, and are async-signal-safe (sleep aside). pt_fp_configure and
 * pt_fp_disarm_all must not race with themselves or each other; they may
 * race with evaluations, which then see the old or the new configuration
 * (or, for one hit, a mix of both terms), never a crash.
 */
#ifndef PT_FAILPOINTS_H
#define PT_FAILPOINTS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pt_fp_action {
	PT_FP_OFF = 0,
	PT_FP_RETURN,
	PT_FP_SEGV,
	PT_FP_ABORT,
	PT_FP_SLEEP,
};

#define PT_FP_MAX_TERMS 8              /* terms chained with '->' per site */
#define PT_FP_MAX_ENTRIES 64           /* sites named in one spec */
#define PT_FP_MAX_COUNT 2147483647     /* largest N in "N*" */
#define PT_FP_MAX_SLEEP_MS 3600000u    /* largest ms in "sleep(ms)": one hour */

/* One term of a site's chain. Every field is a relaxed atomic so that a
 * configure racing with evaluations is free of data races; each field on
 * its own always holds a valid value. */
struct pt_fp_term {
	atomic_uchar action;    /* enum pt_fp_action */
	atomic_uchar pct;       /* 0..100, probability of firing on a hit */
	atomic_uint arg;        /* sleep: milliseconds, <= PT_FP_MAX_SLEEP_MS */
	atomic_int count;       /* times left to fire; -1 = unlimited, 0 = exhausted */
};

struct pt_fp_site {
	const char *name;        /* identifier used in specs */
	const char *desc;        /* one line, for `peaktrace failpoints` */
	atomic_int armed;        /* fast-path flag: nonzero when configured */
	atomic_ulong hits;       /* evaluations while armed */
	atomic_ulong fired;      /* evaluations whose term fired (any action) */
	atomic_uint cur;         /* hint: terms below this index are exhausted */
	atomic_uint nterms;      /* terms in use, <= PT_FP_MAX_TERMS */
	struct pt_fp_term terms[PT_FP_MAX_TERMS];
};

struct pt_fp_table {
	struct pt_fp_site *sites;
	size_t n;
};

#define PT_FP_SITE_INIT(name_, desc_) { .name = (name_), .desc = (desc_) }

/* Evaluates an armed site: tries its terms, rolls their probabilities, runs
 * the action of the one that fires. Returns true when the caller should
 * take its error path (action "return"). Counts the hit even when nothing
 * fires. Async-signal-safe (except for sleep), reentrancy-safe, no
 * allocation, errno preserved. */
bool pt_fp_eval(struct pt_fp_site *site);

#define PT_FP_HIT(site)                                                         \
	(__builtin_expect(atomic_load_explicit(&(site)->armed,                  \
					       memory_order_relaxed) != 0, 0) && \
	 pt_fp_eval(site))

/* Parses spec and arms the named sites of t, replacing their terms and
 * zeroing their counters; every site not named is left as it was. The
 * whole spec is parsed before anything is armed: on a bad spec nothing at
 * all changes, -EINVAL is returned and err (if not NULL) receives one line
 * "column C: PROBLEM" (C counts bytes from 1), truncated to errlen. A NULL
 * or empty spec arms nothing and returns 0. No allocation; uses about 3 KiB
 * of stack. */
int pt_fp_configure(struct pt_fp_table *t, const char *spec, char *err,
		    size_t errlen);

/* pt_fp_configure(t, getenv("PEAKTRACE_FAILPOINTS")). When the variable is
 * unset returns 0; on a bad spec writes one line to stderr with write(2),
 * "peaktrace: bad PEAKTRACE_FAILPOINTS: column C: PROBLEM; no failpoint
 * armed", and returns -EINVAL (the caller runs on). */
int pt_fp_configure_env(struct pt_fp_table *t);

/* Disarms every site and zeroes the counters. */
void pt_fp_disarm_all(struct pt_fp_table *t);

/* Looks a site up by name; NULL when unknown. */
struct pt_fp_site *pt_fp_find(struct pt_fp_table *t, const char *name);

/* The spec syntax (a few lines, for `peaktrace failpoints`). */
const char *pt_fp_syntax_help(void);

#endif
