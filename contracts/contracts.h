/*
 * contracts.h: contract macros (design by contract, SQLite's ALWAYS/NEVER).
 *
 *   PT_REQUIRE(c)      precondition of a function
 *   PT_ENSURE(c)       postcondition
 *   PT_INVARIANT(c)    a structure's invariant
 *   PT_UNREACHABLE()   a branch believed impossible
 *   PT_ALWAYS(c)       evaluates to c; a violation if c is false
 *   PT_NEVER(c)        evaluates to c; a violation if c is true
 *
 * Debug build (PT_DEBUG=1): a violation writes "peaktrace: contract
 * violated: KIND 'COND' in FUNC() at FILE:LINE" to stderr with write(2) and
 * aborts the process (SIGABRT): fail fast, in tests.
 *
 * Release build: the same text goes to the release hook, which core/ sets to
 * the kill-switch (do no harm), and execution continues, so the defensive
 * code after the check stays live:
 *
 *     if (PT_NEVER(idx >= cap))
 *             return -EINVAL;
 *
 * contracts/ depends on nothing of ours: the hook decouples it from core/.
 * With no hook set, a release violation only writes the message.
 * Every function here is async-signal-safe and allocates nothing.
 */
#ifndef PT_CONTRACTS_H
#define PT_CONTRACTS_H

#include <stdbool.h>

#ifndef PT_DEBUG
#define PT_DEBUG 0
#endif

static const bool config_debug = PT_DEBUG;

typedef void (*pt_contract_hook_fn)(const char *reason);

/* Sets the function a release-build violation calls with its message.
 * Async-signal-safe (one atomic store). */
void pt_contract_set_hook(pt_contract_hook_fn fn);

/* Reports a violation; aborts in debug builds, calls the hook in release. */
void pt_contract_fail(const char *kind, const char *cond, const char *file,
		      int line, const char *func) __attribute__((cold, noinline));

/* For tests: the mode a violation takes, overriding config_debug.
 * -1: the build's default; 0: release behaviour; 1: debug behaviour. */
void pt_contract_force_mode(int mode);

#define PT_CONTRACT_CHECK_(kind, c)                                              \
	(__builtin_expect(!!(c), 1)                                              \
		 ? (void)0                                                       \
		 : pt_contract_fail(kind, #c, __FILE__, __LINE__, __func__))

#define PT_REQUIRE(c) PT_CONTRACT_CHECK_("precondition", c)
#define PT_ENSURE(c) PT_CONTRACT_CHECK_("postcondition", c)
#define PT_INVARIANT(c) PT_CONTRACT_CHECK_("invariant", c)
#define PT_UNREACHABLE()                                                         \
	pt_contract_fail("unreachable", "reached", __FILE__, __LINE__, __func__)

#define PT_ALWAYS(c)                                                             \
	(__builtin_expect(!!(c), 1)                                              \
		 ? 1                                                             \
		 : (pt_contract_fail("always", #c, __FILE__, __LINE__, __func__), \
		    0))
#define PT_NEVER(c)                                                              \
	(__builtin_expect(!!(c), 0)                                              \
		 ? (pt_contract_fail("never", #c, __FILE__, __LINE__, __func__), \
		    1)                                                           \
		 : 0)

/* Ends the process with SIGABRT without calling abort(3) (banned in the
 * runtime): the default action is restored and the signal raised; should a
 * handler still return, _exit(134). Async-signal-safe. */
void pt_die_abort(void) __attribute__((noreturn));

#endif
