/*
 * test_contracts.c: the contract macros (contracts/contracts.h) and their
 * wiring to the kill-switch (core/guard.h).
 *
 * What a user relies on: in a debug build a violation stops the process
 * with SIGABRT and says where (file, line, function) and what (kind,
 * condition); in a release build it calls the hook with that same text and
 * carries on, so the defensive code after PT_ALWAYS/PT_NEVER stays live;
 * with the guard wired, a release violation disables profiling.
 * Anything that aborts runs in a forked child.
 */
#include <errno.h>
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

#include "contracts/contracts.h"
#include "core/guard.h"

static int hook_calls;
static char hook_reason[512];

static void capture_hook(const char *reason)
{
	hook_calls++;
	snprintf(hook_reason, sizeof hook_reason, "%s", reason);
}

static int setup(void **state)
{
	(void)state;
	hook_calls = 0;
	hook_reason[0] = '\0';
	pt_contract_set_hook(capture_hook);
	pt_contract_force_mode(0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	pt_contract_set_hook(NULL);
	pt_contract_force_mode(-1);
	return 0;
}

/* Each returns the line of its contract. */
static int __attribute__((noinline)) violate_require(int v)
{
	PT_REQUIRE(v == 2);
	return __LINE__ - 1;
}

static int __attribute__((noinline)) violate_ensure(int v)
{
	PT_ENSURE(v > 10);
	return __LINE__ - 1;
}

static int __attribute__((noinline)) violate_invariant(int v)
{
	PT_INVARIANT(v % 2 == 0);
	return __LINE__ - 1;
}

static int __attribute__((noinline)) reach_unreachable(void)
{
	PT_UNREACHABLE();
	return __LINE__ - 1;
}

static void expected_msg(char *buf, size_t cap, const char *kind,
			 const char *cond, const char *func, int line)
{
	snprintf(buf, cap, "contract violated: %s '%s' in %s() at test_contracts.c:%d",
		 kind, cond, func, line);
}

/* stderr of fn() run in a child, and how the child ended. */
static int run_child(void (*fn)(void), char *err, size_t cap)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		struct rlimit no_core = { 0, 0 };
		setrlimit(RLIMIT_CORE, &no_core);
		fn();
		_exit(0);
	}
	close(p[1]);
	size_t len = 0;
	ssize_t n;
	while (len < cap - 1 &&
	       ((n = read(p[0], err + len, cap - 1 - len)) > 0 ||
		(n < 0 && errno == EINTR)))
		len += n > 0 ? (size_t)n : 0;
	err[len] = '\0';
	close(p[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

/* stderr of the calling process into buf while fn runs. */
static void capture_stderr(void (*fn)(void), char *buf, size_t cap)
{
	char path[] = "/tmp/pt-test-contracts-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	fflush(stderr);
	int saved = dup(2);
	dup2(fd, 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	ssize_t n = pread(fd, buf, cap - 1, 0);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
}

/* ---- release behaviour ---------------------------------------------------- */

static void test_release_calls_hook_and_continues(void **state)
{
	(void)state;
	char want[512];

	int line = violate_require(1);
	expected_msg(want, sizeof want, "precondition", "v == 2",
		     "violate_require", line);
	assert_int_equal(hook_calls, 1);
	assert_string_equal(hook_reason, want);

	line = violate_ensure(3);
	expected_msg(want, sizeof want, "postcondition", "v > 10",
		     "violate_ensure", line);
	assert_int_equal(hook_calls, 2);
	assert_string_equal(hook_reason, want);

	line = violate_invariant(3);
	expected_msg(want, sizeof want, "invariant", "v % 2 == 0",
		     "violate_invariant", line);
	assert_int_equal(hook_calls, 3);
	assert_string_equal(hook_reason, want);

	line = reach_unreachable();
	expected_msg(want, sizeof want, "unreachable", "reached",
		     "reach_unreachable", line);
	assert_int_equal(hook_calls, 4);
	assert_string_equal(hook_reason, want);
}

static void test_holding_contracts_are_silent(void **state)
{
	(void)state;
	violate_require(2);
	violate_ensure(11);
	PT_INVARIANT(1 + 1 == 2);
	assert_int_equal(hook_calls, 0);
}

static void test_always_never_values(void **state)
{
	(void)state;
	int evals = 0;
	assert_int_equal(PT_ALWAYS(++evals > 0), 1);
	assert_int_equal(evals, 1);
	assert_int_equal(hook_calls, 0);

	assert_int_equal(PT_ALWAYS(++evals < 0), 0);
	assert_int_equal(evals, 2);
	assert_int_equal(hook_calls, 1);
	assert_non_null(strstr(hook_reason, "always '++evals < 0'"));

	assert_int_equal(PT_NEVER(++evals < 0), 0);
	assert_int_equal(evals, 3);
	assert_int_equal(hook_calls, 1);

	assert_int_equal(PT_NEVER(++evals > 0), 1);
	assert_int_equal(evals, 4);
	assert_int_equal(hook_calls, 2);
	assert_non_null(strstr(hook_reason, "never '++evals > 0'"));

	/* The defensive branch after the check runs. */
	int idx = 9, cap = 4, taken = 0;
	if (PT_NEVER(idx >= cap))
		taken = 1;
	assert_int_equal(taken, 1);
	assert_int_equal(hook_calls, 3);
}

static void violate_without_hook(void)
{
	pt_contract_set_hook(NULL);
	violate_require(1);
	pt_contract_set_hook(capture_hook);
}

static void test_release_without_hook_writes_message(void **state)
{
	(void)state;
	char out[1024], want[600];
	capture_stderr(violate_without_hook, out, sizeof out);
	char msg[512];
	int line = violate_require(2); /* holds: only learns the line */
	expected_msg(msg, sizeof msg, "precondition", "v == 2", "violate_require",
		     line);
	snprintf(want, sizeof want, "peaktrace: %s\n", msg);
	assert_string_equal(out, want);
}

/* ---- debug behaviour ------------------------------------------------------ */

static void child_debug_require(void)
{
	pt_contract_force_mode(1);
	violate_require(1);
	/* Not reached. */
	static const char msg[] = "continued after a debug violation\n";
	if (write(2, msg, sizeof msg - 1) < 0)
		_exit(2);
	_exit(1);
}

static void test_debug_aborts_with_location(void **state)
{
	(void)state;
	char want[600], err[2048], msg[512];
	int line = violate_require(1); /* release mode: learn the line */
	expected_msg(msg, sizeof msg, "precondition", "v == 2", "violate_require",
		     line);
	snprintf(want, sizeof want, "peaktrace: %s\n", msg);

	int status = run_child(child_debug_require, err, sizeof err);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_string_equal(err, want);
}

static void child_default_mode(void)
{
	pt_contract_force_mode(-1);
	violate_invariant(1);
	_exit(hook_calls == 2 ? 0 : 1); /* one call in the parent already */
}

static void test_default_mode_follows_build(void **state)
{
	(void)state;
	char err[2048];
	violate_invariant(1);
	int status = run_child(child_default_mode, err, sizeof err);
	if (config_debug) {
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGABRT);
		assert_non_null(strstr(err, "contract violated: invariant"));
	} else {
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
}

static void returning_abrt_handler(int sig)
{
	(void)sig;
}

static void child_die_abort_despite_handler(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = returning_abrt_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGABRT, &sa, NULL);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGABRT);
	sigprocmask(SIG_BLOCK, &block, NULL);
	pt_die_abort();
}

static void test_die_abort_ends_with_sigabrt(void **state)
{
	(void)state;
	char err[256];
	int status = run_child(child_die_abort_despite_handler, err, sizeof err);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

/* ---- wiring to the kill-switch --------------------------------------------- */

static void violate_wired(void)
{
	pt_guard_wire_contracts();
	violate_ensure(0);
}

static void test_release_violation_trips_kill_switch(void **state)
{
	(void)state;
	char out[1024];
	pt_ks_reset_for_tests();
	capture_stderr(violate_wired, out, sizeof out);
	pt_contract_set_hook(capture_hook);
	assert_false(pt_ks_active());
	assert_non_null(pt_ks_reason());
	assert_non_null(strstr(pt_ks_reason(),
			       "contract violated: postcondition 'v > 10' in violate_ensure()"));
	assert_int_equal(hook_calls, 0); /* the guard's hook ran, not ours */
	assert_non_null(strstr(out, "peaktrace: profiling disabled: contract violated"));
	pt_ks_reset_for_tests();
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_release_calls_hook_and_continues),
		T(test_holding_contracts_are_silent),
		T(test_always_never_values),
		T(test_release_without_hook_writes_message),
		T(test_debug_aborts_with_location),
		T(test_default_mode_follows_build),
		T(test_die_abort_ends_with_sigabrt),
		T(test_release_violation_trips_kill_switch),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
