/*
 * covmarks.h: coverage marks. A mark in the code says "this branch ran";
 * a test asserts that its scenario hit the mark (the technique of
 * rust-analyzer's cov_mark and SQLite's testcase()).
 *
 *     if (reentered) {
 *             PT_MARK(shim_reentry_passthrough);
 *             return real_malloc(n);
 *     }
 *
 * Each mark is a static record placed in the ELF section "pt_covmarks", so
 * the set of marks is known without registration or allocation; hits are
 * relaxed atomic counters. Unit tests query them in-process; end-to-end
 * tests set PEAKTRACE_COVMARKS_OUT and read the file the runtime writes at
 * exit: one "NAME HITS" line per mark that was hit.
 *
 * Release builds (PT_COVMARKS=0) compile marks away entirely: no section, no
 * names, no counters (tests/unit/test_covmarks_release checks the symbol
 * table). The query functions then report zero hits.
 */
#ifndef PT_COVMARKS_H
#define PT_COVMARKS_H

#include <stdatomic.h>
#include <stdbool.h>

#ifndef PT_COVMARKS
#define PT_COVMARKS 0
#endif

struct pt_covmark {
	const char *name;     /* the mark's identifier, as written */
	atomic_ulong hits;    /* times the mark ran, saturates never in practice */
};

#if PT_COVMARKS
#define PT_MARK(id)                                                            \
	do {                                                                   \
		static struct pt_covmark pt_covmark_##id = { #id, 0 };         \
		static struct pt_covmark *pt_covmark_ptr_##id                  \
			__attribute__((section("pt_covmarks"), used)) =        \
				&pt_covmark_##id;                              \
		(void)pt_covmark_ptr_##id;                                     \
		atomic_fetch_add_explicit(&pt_covmark_##id.hits, 1,            \
					  memory_order_relaxed);               \
	} while (0)
#else
#define PT_MARK(id) ((void)0)
#endif

static const bool config_covmarks = PT_COVMARKS;

/* Total hits of every mark named name (one name may mark several places).
 * Async-signal-safe. */
unsigned long pt_covmark_hits(const char *name);
/* Number of distinct mark sites compiled into this module. */
unsigned pt_covmark_count(void);
/* Sets every counter to zero (for unit tests). */
void pt_covmark_reset(void);
/* Appends "NAME HITS\n" for each mark hit to path (O_APPEND, so processes
 * sharing the file do not clobber each other). Returns 0 or -errno.
 * Async-signal-safe. */
int pt_covmarks_dump(const char *path);
/* pt_covmarks_dump(getenv("PEAKTRACE_COVMARKS_OUT")) when that is set. */
int pt_covmarks_dump_env(void);

#endif
