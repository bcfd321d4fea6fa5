/*
 * unwind.h: native stack walks (unwind.c): the program's unwind tables
 * read once per code address and cached, libunwind where they do not do.
 */
#ifndef PT_UNWIND_H
#define PT_UNWIND_H

#include "core/runtime.h"

/* The most frames one walk is asked for. */
#define PT_UNWIND_MAX (PT_MAX_STACK_DEPTH + 8)

/* Maps the rule cache (start-up); -1 when it cannot: then every walk is
 * libunwind's. */
int pt_unwind_init(void);

/* The return addresses of the calling thread's stack, innermost first,
 * from the one into pt_unwind_backtrace's caller: unw_backtrace's
 * contract. max <= PT_UNWIND_MAX. Allocates nothing; call inside a guarded
 * region. */
int pt_unwind_backtrace(void **ips, int max);

/* A library is being unloaded: cached rules may describe code that goes
 * away, so walks are libunwind's from now on. Async-signal-safe. */
void pt_unwind_note_unload(void);

/* 1 once a cached rule disagreed with libunwind (tests). */
int pt_unwind_broken_rules(void);
/* Walks done by the cache and by libunwind so far (tests). */
void pt_unwind_counts(uint64_t *fast, uint64_t *slow);

#endif
