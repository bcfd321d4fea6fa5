/*
 * test_guard.c: the kill-switch and fault recovery (core/guard.h) with the
 * sigaction/signal interposers of shims/signal.c linked in (see
 * test_guard.cmake), as they are in libpeaktrace.so.
 *
 * What a user relies on: a fault inside the runtime is recovered, the job
 * goes on, profiling stops with one line on stderr; the program's own
 * crashes die with the same signal as without us; the program's own fault
 * handlers, installed before or after us, keep working.
 *
 * Scenarios that must start from a pristine process (nothing installed) or
 * that kill the process run in a child that re-executes this binary with
 * "--child NAME" (one process per scenario, libuv style); the parent checks
 * the exit status and the child's stderr. The rest runs in-process, where
 * cmocka's own signal() calls already go through the interposers.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "contracts/contracts.h"
#include "contracts/covmarks.h"
#include "core/guard.h"
#include "peaktrace/fp.h"

/* Under ASan (the asan preset), ASan's own fault handlers would be "the
 * program's" handlers, captured and chained by the guard: a fault outside
 * a guard would end in ASan's report and exit 1, as it does without
 * peaktrace. These tests want a plain process, and threads without an
 * alternate stack of ASan's. Ignored in other builds. */
const char *__asan_default_options(void);
__attribute__((used)) const char *__asan_default_options(void)
{
	return "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:"
	       "use_sigaltstack=0";
}

/* ---- helpers ----------------------------------------------------------- */

static int fault_write(void *arg)
{
	(void)arg;
	int *volatile p = (int *)(uintptr_t)8; /* NOLINT: a bad address, on purpose */
	*p = 1;
	return 0;
}

/* UBSan would report the division itself and exit: we want the trap. */
__attribute__((no_sanitize("undefined"))) static int fault_fpe(void *arg)
{
	(void)arg;
	volatile int zero = 0, one = 1;
	volatile int q = one / zero; /* NOLINT: stored, -O2 may not drop it */
	return q;
}

static int fault_ill(void *arg)
{
	(void)arg;
	__builtin_trap(); /* ud2 on x86-64: SIGILL */
}

/* A read past the end of a mapped, empty file: SIGBUS (BUS_ADRERR). */
static int fault_bus(void *arg)
{
	(void)arg;
	int fd = memfd_create("pt-test-bus", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	volatile char *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -1;
	return p[0];
}

static int raise_segv(void *arg)
{
	(void)arg;
	raise(SIGSEGV);
	return 5;
}

static int returns_42(void *arg)
{
	int *in_region = arg;
	if (in_region)
		*in_region = pt_guard_in_region();
	return 42;
}

static int returns_minus_7(void *arg)
{
	(void)arg;
	return -7;
}

/* The kernel's view of a handler, bypassing every wrapper. */
static uintptr_t kernel_handler(int sig)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		unsigned long mask;
	} k;
	memset(&k, 0, sizeof k);
	if (syscall(SYS_rt_sigaction, sig, NULL, &k, sizeof k.mask) != 0)
		return (uintptr_t)-1;
	return (uintptr_t)k.handler;
}

/* stderr into a temporary file, in-process. */
struct capture {
	int saved;
	int fd;
};

static void capture_begin(struct capture *c)
{
	char path[] = "/tmp/pt-test-guard-XXXXXX";
	fflush(stderr);
	c->fd = mkstemp(path);
	assert_true(c->fd >= 0);
	unlink(path);
	c->saved = dup(2);
	assert_true(c->saved >= 0);
	assert_int_equal(dup2(c->fd, 2), 2);
}

static void capture_end(struct capture *c, char *buf, size_t cap)
{
	fflush(stderr);
	dup2(c->saved, 2);
	close(c->saved);
	ssize_t n = pread(c->fd, buf, cap - 1, 0);
	close(c->fd);
	buf[n > 0 ? n : 0] = '\0';
}

static unsigned count_char(const char *s, char ch)
{
	unsigned n = 0;
	for (; *s; s++)
		n += *s == ch;
	return n;
}

/* Fresh kill-switch, handlers installed. */
static int setup(void **state)
{
	(void)state;
	if (pt_guard_install() != 0)
		return -1;
	pt_ks_reset_for_tests();
	pt_ks_set_trip_listener(NULL);
	return 0;
}

/* ---- child scenarios (run with --child NAME) ---------------------------- */

static sigjmp_buf child_env;
static volatile sig_atomic_t prog_hits;
static volatile uintptr_t prog_addr;
static volatile int prog_code;
static volatile int prog_usr1_blocked, prog_segv_blocked;

static void note_mask(void)
{
	sigset_t cur;
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	prog_usr1_blocked = sigismember(&cur, SIGUSR1);
	prog_segv_blocked = sigismember(&cur, SIGSEGV);
}

static void prog_handler_jmp(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	prog_hits++;
	prog_addr = (uintptr_t)si->si_addr;
	prog_code = si->si_code;
	note_mask();
	siglongjmp(child_env, 1);
}

static void plain_handler_jmp(int sig)
{
	(void)sig;
	prog_hits++;
	note_mask();
	siglongjmp(child_env, 1);
}

static void plain_handler_exit42(int sig)
{
	(void)sig;
	_exit(42);
}

/* The crash-reporter habit: say something, restore the default, return
 * and let the instruction fault again. */
static void crash_reporter_return(int sig)
{
	static const char msg[] = "crash reporter ran\n";
	if (write(2, msg, sizeof msg - 1) < 0)
		_exit(3);
	signal(sig, SIG_DFL);
}

/* The other habit: restore the default and raise. */
static void crash_reporter_raise(int sig)
{
	static const char msg[] = "crash reporter ran\n";
	if (write(2, msg, sizeof msg - 1) < 0)
		_exit(3);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* A fault outside a guard, expected to reach a handler that siglongjmps
 * to child_env. Returns 0 when it did. */
static int fault_outside_caught(void)
{
	if (sigsetjmp(child_env, 1) == 0) {
		fault_write(NULL);
		return -1;
	}
	return 0;
}

/* The program's handler, installed with act, survives pt_guard_install
 * (or was set after it) and keeps getting its own faults, while faults
 * inside a guard are still recovered. */
static int check_program_handler(bool siginfo)
{
	prog_hits = 0;
	if (fault_outside_caught() != 0)
		return 20;
	if (prog_hits != 1)
		return 21;
	if (siginfo && (prog_addr != 8 || prog_code != SEGV_MAPERR))
		return 22;
	if (!prog_segv_blocked)
		return 23;
	if (pt_guard_run(fault_write, NULL) != PT_GUARD_FAULTED)
		return 24;
	if (prog_hits != 1)
		return 25;
	if (pt_ks_active() || !strstr(pt_ks_reason(), "SIGSEGV"))
		return 26;
	if (fault_outside_caught() != 0 || prog_hits != 2)
		return 27;
	return 0;
}

static int child_handler_before(void)
{
	struct sigaction sa, cur;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = prog_handler_jmp;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR1);
	if (sigaction(SIGSEGV, &sa, NULL) != 0) /* before install: the kernel */
		return 10;
	if (kernel_handler(SIGSEGV) != (uintptr_t)prog_handler_jmp)
		return 11;
	if (pt_guard_install() != 0)
		return 12;
	if (kernel_handler(SIGSEGV) == (uintptr_t)prog_handler_jmp)
		return 13; /* ours must be first */
	if (sigaction(SIGSEGV, NULL, &cur) != 0 ||
	    cur.sa_sigaction != prog_handler_jmp || !(cur.sa_flags & SA_SIGINFO) ||
	    !sigismember(&cur.sa_mask, SIGUSR1))
		return 14; /* oldact: the program's, not ours */
	int rc = check_program_handler(true);
	if (rc)
		return rc;
	return prog_usr1_blocked ? 0 : 15; /* sa_mask honoured */
}

static int child_handler_after_sigaction(void)
{
	if (pt_guard_install() != 0)
		return 10;
	uintptr_t ours = kernel_handler(SIGSEGV);
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = prog_handler_jmp;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR1);
	if (sigaction(SIGSEGV, &sa, &old) != 0)
		return 11;
	if (old.sa_handler != SIG_DFL)
		return 12; /* the program's previous action, not ours */
	if (kernel_handler(SIGSEGV) != ours)
		return 13; /* ours stays first */
	/* Set it twice: oldact is now what the program set. */
	if (sigaction(SIGSEGV, &sa, &old) != 0 ||
	    old.sa_sigaction != prog_handler_jmp)
		return 14;
	int rc = check_program_handler(true);
	if (rc)
		return rc;
	return prog_usr1_blocked ? 0 : 15;
}

static int child_handler_after_signal(void)
{
	if (pt_guard_install() != 0)
		return 10;
	if (signal(SIGSEGV, plain_handler_jmp) != SIG_DFL)
		return 11;
	if (signal(SIGSEGV, plain_handler_jmp) != plain_handler_jmp)
		return 12;
	int rc = check_program_handler(false);
	if (rc)
		return rc;
	/* Replaced by one that ends the process: the parent sees 42. */
	if (signal(SIGSEGV, plain_handler_exit42) != plain_handler_jmp)
		return 13;
	fault_write(NULL);
	return 14;
}

/* sysv_signal: SA_RESETHAND | SA_NODEFER. The handler runs once with the
 * signal unblocked; the second fault is fatal. */
static int child_sysv_resethand(void)
{
	if (pt_guard_install() != 0)
		return 10;
	if (sysv_signal(SIGSEGV, plain_handler_jmp) != SIG_DFL)
		return 11;
	prog_hits = 0;
	if (fault_outside_caught() != 0 || prog_hits != 1)
		return 12;
	if (prog_segv_blocked)
		return 13; /* SA_NODEFER */
	struct sigaction cur;
	if (sigaction(SIGSEGV, NULL, &cur) != 0 || cur.sa_handler != SIG_DFL)
		return 14; /* SA_RESETHAND */
	fault_write(NULL);
	return 15;
}

static int child_segv_outside(void)
{
	if (pt_guard_install() != 0)
		return 10;
	fault_write(NULL);
	return 11;
}

static int child_fpe_outside(void)
{
	if (pt_guard_install() != 0)
		return 10;
	fault_fpe(NULL);
	return 11;
}

static int child_raise_outside(void)
{
	if (pt_guard_install() != 0)
		return 10;
	raise(SIGSEGV);
	return 11;
}

/* A SIGSEGV sent to a thread inside a guard is not a fault of ours. */
static int child_raise_in_guard(void)
{
	if (pt_guard_install() != 0)
		return 10;
	pt_guard_run(raise_segv, NULL);
	return 11;
}

static int child_ignored_fault(void)
{
	if (pt_guard_install() != 0)
		return 10;
	if (signal(SIGSEGV, SIG_IGN) != SIG_DFL)
		return 11;
	raise(SIGSEGV); /* a sent signal really is ignored */
	if (!pt_ks_active())
		return 12;
	fault_write(NULL); /* a real fault cannot be */
	return 13;
}

static int child_reporter_return(void)
{
	if (pt_guard_install() != 0 ||
	    signal(SIGSEGV, crash_reporter_return) != SIG_DFL)
		return 10;
	fault_write(NULL);
	return 11;
}

static int child_reporter_raise(void)
{
	if (pt_guard_install() != 0 ||
	    signal(SIGBUS, crash_reporter_raise) != SIG_DFL)
		return 10;
	fault_bus(NULL);
	return 11;
}

/* Trips from several places; the parent counts the stderr lines. */
static int child_trip_many(void)
{
	if (pt_guard_install() != 0)
		return 10;
	if (!pt_ks_trip("first reason"))
		return 11;
	if (pt_ks_trip("second reason"))
		return 12;
	if (pt_guard_run(fault_write, NULL) != PT_GUARD_FAULTED)
		return 13;
	pt_contract_force_mode(0);
	volatile int v = 1;
	PT_REQUIRE(v == 2);
	return strcmp(pt_ks_reason(), "first reason") == 0 ? 0 : 14;
}

static const struct {
	const char *name;
	int (*fn)(void);
} child_scenarios[] = {
	{ "handler_before", child_handler_before },
	{ "handler_after_sigaction", child_handler_after_sigaction },
	{ "handler_after_signal", child_handler_after_signal },
	{ "sysv_resethand", child_sysv_resethand },
	{ "segv_outside", child_segv_outside },
	{ "fpe_outside", child_fpe_outside },
	{ "raise_outside", child_raise_outside },
	{ "raise_in_guard", child_raise_in_guard },
	{ "ignored_fault", child_ignored_fault },
	{ "reporter_return", child_reporter_return },
	{ "reporter_raise", child_reporter_raise },
	{ "trip_many", child_trip_many },
};

static int run_child_scenario(const char *name)
{
	alarm(30); /* a fault loop dies of SIGALRM, not of the ctest timeout */
	for (size_t i = 0; i < sizeof child_scenarios / sizeof child_scenarios[0];
	     i++) {
		if (strcmp(child_scenarios[i].name, name) == 0)
			return child_scenarios[i].fn();
	}
	fprintf(stderr, "unknown scenario %s\n", name);
	return 100;
}

/* ---- parent side of the child scenarios --------------------------------- */

struct child {
	int status;
	char err[8192];
};

static void spawn(const char *scenario, struct child *c)
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
		execl("/proc/self/exe", "test_guard", "--child", scenario,
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	size_t len = 0;
	for (;;) {
		ssize_t n = read(p[0], c->err + len, sizeof c->err - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof c->err - 1)
			break;
	}
	c->err[len] = '\0';
	close(p[0]);
	while (waitpid(pid, &c->status, 0) < 0 && errno == EINTR)
		;
}

static void expect_signal(const char *scenario, int sig)
{
	struct child c;
	spawn(scenario, &c);
	if (!WIFSIGNALED(c.status) || WTERMSIG(c.status) != sig) {
		fprintf(stderr, "scenario %s: status 0x%x (exit %d), stderr:\n%s\n",
			scenario, c.status,
			WIFEXITED(c.status) ? WEXITSTATUS(c.status) : -1, c.err);
		fail_msg("scenario %s: expected death by signal %d", scenario,
			 sig);
	}
	/* The program's own crash is not ours: profiling was not disabled. */
	assert_null(strstr(c.err, "profiling disabled"));
}

static void expect_exit(const char *scenario, int code, struct child *c)
{
	spawn(scenario, c);
	if (!WIFEXITED(c->status) || WEXITSTATUS(c->status) != code) {
		fprintf(stderr, "scenario %s: status 0x%x (exit %d), stderr:\n%s\n",
			scenario, c->status,
			WIFEXITED(c->status) ? WEXITSTATUS(c->status) : -1,
			c->err);
		fail_msg("scenario %s: expected exit %d", scenario, code);
	}
}

/* ---- tests: the kill-switch --------------------------------------------- */

static void test_trip_is_one_way_and_keeps_first_reason(void **state)
{
	(void)state;
	struct capture cap;
	char out[1024];
	assert_true(pt_ks_active());
	assert_null(pt_ks_reason());
	capture_begin(&cap);
	bool first = pt_ks_trip("disk full writing the trace");
	bool second = pt_ks_trip("another reason");
	capture_end(&cap, out, sizeof out);
	assert_true(first);
	assert_false(second);
	assert_false(pt_ks_active());
	assert_string_equal(pt_ks_reason(), "disk full writing the trace");
	assert_string_equal(out,
			    "peaktrace: profiling disabled: disk full writing the trace\n");
}

/* Exactly one line reaches stderr after trips by hand, by a recovered fault
 * and by a contract violation, in a process of its own. */
static void test_trip_message_written_once(void **state)
{
	(void)state;
	struct child c;
	expect_exit("trip_many", 0, &c);
	assert_string_equal(c.err, "peaktrace: profiling disabled: first reason\n");
}

static void test_trip_reason_truncated_to_one_line(void **state)
{
	(void)state;
	char reason[400];
	memset(reason, 'x', sizeof reason - 1);
	reason[sizeof reason - 1] = '\0';
	reason[10] = '\n';
	struct capture cap;
	char out[1024];
	capture_begin(&cap);
	assert_true(pt_ks_trip(reason));
	capture_end(&cap, out, sizeof out);
	assert_int_equal(strlen(pt_ks_reason()), 255);
	assert_null(strchr(pt_ks_reason(), '\n'));
	assert_int_equal(count_char(out, '\n'), 1);
	assert_int_equal(strlen(out), strlen("peaktrace: profiling disabled: ") + 255 + 1);
}

static int listener_calls;
static char listener_reason[256];

static void listener(const char *reason)
{
	listener_calls++;
	snprintf(listener_reason, sizeof listener_reason, "%s", reason);
}

static void test_trip_listener_called_once(void **state)
{
	(void)state;
	listener_calls = 0;
	pt_ks_set_trip_listener(listener);
	struct capture cap;
	char out[1024];
	capture_begin(&cap);
	pt_ks_trip("writer: no space left on device");
	pt_ks_trip("later");
	capture_end(&cap, out, sizeof out);
	pt_ks_set_trip_listener(NULL);
	assert_int_equal(listener_calls, 1);
	assert_string_equal(listener_reason, "writer: no space left on device");
}

#define TRIP_THREADS 4

static pthread_barrier_t trip_barrier;
static char trip_reasons[TRIP_THREADS][32];
static bool trip_won[TRIP_THREADS];

static int trip_ids[TRIP_THREADS] = { 0, 1, 2, 3 };

static void *trip_thread(void *arg)
{
	int i = *(int *)arg;
	pthread_barrier_wait(&trip_barrier);
	trip_won[i] = pt_ks_trip(trip_reasons[i]);
	return NULL;
}

static void test_trip_race_has_one_winner(void **state)
{
	(void)state;
	pthread_t th[TRIP_THREADS];
	struct capture cap;
	char out[1024];
	pthread_barrier_init(&trip_barrier, NULL, TRIP_THREADS);
	capture_begin(&cap);
	for (int i = 0; i < TRIP_THREADS; i++) {
		snprintf(trip_reasons[i], sizeof trip_reasons[i], "reason %d", i);
		assert_int_equal(pthread_create(&th[i], NULL, trip_thread,
						&trip_ids[i]), 0);
	}
	for (int i = 0; i < TRIP_THREADS; i++)
		pthread_join(th[i], NULL);
	capture_end(&cap, out, sizeof out);
	pthread_barrier_destroy(&trip_barrier);
	int winners = 0, winner = -1;
	for (int i = 0; i < TRIP_THREADS; i++) {
		if (trip_won[i]) {
			winners++;
			winner = i;
		}
	}
	assert_int_equal(winners, 1);
	assert_string_equal(pt_ks_reason(), trip_reasons[winner]);
	assert_int_equal(count_char(out, '\n'), 1);
	assert_non_null(strstr(out, trip_reasons[winner]));
}

/* ---- tests: recovery ---------------------------------------------------- */

static void test_fault_in_guard_recovers(void **state)
{
	(void)state;
	unsigned long marks = pt_covmark_hits("guard_fault_recovered");
	struct capture cap;
	char out[1024];
	capture_begin(&cap);
	int rc = pt_guard_run(fault_write, NULL);
	/* The signal was unblocked on the way out: a second fault is
	 * delivered and recovered too, not fatal. */
	int rc2 = pt_guard_run(fault_write, NULL);
	capture_end(&cap, out, sizeof out);

	assert_int_equal(rc, PT_GUARD_FAULTED);
	assert_int_equal(rc2, PT_GUARD_FAULTED);
	assert_false(pt_ks_active());
	assert_non_null(strstr(pt_ks_reason(), "SIGSEGV"));
	assert_non_null(strstr(pt_ks_reason(), "0x8"));
	assert_false(pt_guard_in_region());
	assert_int_equal(count_char(out, '\n'), 1);
	assert_non_null(strstr(out, "peaktrace: profiling disabled: SIGSEGV"));
	if (config_covmarks)
		assert_int_equal(pt_covmark_hits("guard_fault_recovered"),
				 marks + 2);

	/* The region works as before afterwards. */
	int in_region = 0;
	assert_int_equal(pt_guard_run(returns_42, &in_region), 42);
	assert_true(in_region);
	assert_int_equal(pt_guard_run(returns_minus_7, NULL), -7);
}

static void test_each_fault_signal_recovers(void **state)
{
	(void)state;
	static const struct {
		int (*fn)(void *);
		const char *name;
	} faults[] = {
		{ fault_write, "SIGSEGV" },
		{ fault_fpe, "SIGFPE" },
		{ fault_ill, "SIGILL" },
		{ fault_bus, "SIGBUS" },
	};
	struct capture cap;
	char out[1024];
	for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
		pt_ks_reset_for_tests();
		capture_begin(&cap);
		int rc = pt_guard_run(faults[i].fn, NULL);
		capture_end(&cap, out, sizeof out);
		assert_int_equal(rc, PT_GUARD_FAULTED);
		assert_false(pt_ks_active());
		assert_non_null(strstr(pt_ks_reason(), faults[i].name));
	}
}

static int inner_faults_then_returns(void *arg)
{
	int *inner_rc = arg;
	*inner_rc = pt_guard_run(fault_write, NULL);
	/* Still inside the outer region, which goes on normally. */
	return pt_guard_in_region() ? 7 : -1;
}

static int inner_faults_then_outer_faults(void *arg)
{
	int *inner_rc = arg;
	*inner_rc = pt_guard_run(fault_write, NULL);
	fault_write(NULL);
	return 0;
}

static int inner_fine(void *arg)
{
	int *inner_rc = arg;
	*inner_rc = pt_guard_run(returns_42, NULL);
	return 8;
}

static void test_nested_guards(void **state)
{
	(void)state;
	struct capture cap;
	char out[1024];
	int inner = 0;
	capture_begin(&cap);
	int outer = pt_guard_run(inner_faults_then_returns, &inner);
	int inner2 = 0;
	/* After an inner recovery, the outer buffer is back in place: a
	 * fault in the outer region returns to the outer caller. */
	int outer2 = pt_guard_run(inner_faults_then_outer_faults, &inner2);
	capture_end(&cap, out, sizeof out);
	assert_int_equal(inner, PT_GUARD_FAULTED);
	assert_int_equal(outer, 7);
	assert_int_equal(inner2, PT_GUARD_FAULTED);
	assert_int_equal(outer2, PT_GUARD_FAULTED);
	assert_false(pt_guard_in_region());

	int inner3 = 0;
	assert_int_equal(pt_guard_run(inner_fine, &inner3), 8);
	assert_int_equal(inner3, 42);
	assert_false(pt_guard_in_region());
}

#define FAULT_THREADS 2
#define FAULT_ROUNDS 50

static pthread_barrier_t fault_barrier;

static int fault_after_barrier(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&fault_barrier);
	return fault_write(NULL);
}

static void *fault_thread(void *arg)
{
	int *recovered = arg;
	for (int i = 0; i < FAULT_ROUNDS; i++) {
		if (pt_guard_run(fault_after_barrier, NULL) == PT_GUARD_FAULTED)
			(*recovered)++;
	}
	pt_guard_thread_exit();
	return NULL;
}

static void test_faults_in_two_threads_at_once(void **state)
{
	(void)state;
	pthread_t th[FAULT_THREADS];
	int recovered[FAULT_THREADS] = { 0 };
	struct capture cap;
	char out[1024];
	pthread_barrier_init(&fault_barrier, NULL, FAULT_THREADS);
	capture_begin(&cap);
	for (int i = 0; i < FAULT_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, fault_thread,
						&recovered[i]), 0);
	for (int i = 0; i < FAULT_THREADS; i++)
		pthread_join(th[i], NULL);
	capture_end(&cap, out, sizeof out);
	pthread_barrier_destroy(&fault_barrier);
	for (int i = 0; i < FAULT_THREADS; i++)
		assert_int_equal(recovered[i], FAULT_ROUNDS);
	assert_false(pt_ks_active());
	assert_int_equal(count_char(out, '\n'), 1);
}

/* Stack overflow in a guarded region: the handler can only run on the
 * alternate stack the guard mapped for the thread. */
static volatile int recursion_stop = -1;

static int __attribute__((noinline)) recurse(volatile char *prev, int n)
{
	volatile char buf[1024];
	buf[0] = (char)n;
	buf[sizeof buf - 1] = prev ? prev[0] : 0;
	if (n == recursion_stop)
		return buf[0];
	return recurse(buf, n + 1) + buf[sizeof buf - 1];
}

static int overflow_stack(void *arg)
{
	(void)arg;
	return recurse(NULL, 0);
}

static void *overflow_thread(void *arg)
{
	int *rc = arg;
	*rc = pt_guard_run(overflow_stack, NULL);
	/* The thread goes on and can fault and recover again. */
	if (*rc == PT_GUARD_FAULTED)
		*rc = pt_guard_run(overflow_stack, NULL);
	pt_guard_thread_exit();
	return NULL;
}

static void test_stack_overflow_in_guard_recovers(void **state)
{
	(void)state;
	pthread_attr_t attr;
	pthread_t th;
	int rc = 0;
	struct capture cap;
	char out[1024];
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, (size_t)256 * 1024);
	capture_begin(&cap);
	assert_int_equal(pthread_create(&th, &attr, overflow_thread, &rc), 0);
	pthread_join(th, NULL);
	capture_end(&cap, out, sizeof out);
	pthread_attr_destroy(&attr);
	assert_int_equal(rc, PT_GUARD_FAULTED);
	assert_non_null(strstr(pt_ks_reason(), "SIGSEGV"));
}

struct alt_report {
	int before_disabled;
	int during_enabled;
	size_t during_size;
	int after_disabled;
	void *foreign_sp_after;
};

static void *altstack_thread(void *arg)
{
	struct alt_report *r = arg;
	stack_t ss;
	sigaltstack(NULL, &ss);
	r->before_disabled = !!(ss.ss_flags & SS_DISABLE);
	pt_guard_run(returns_42, NULL);
	sigaltstack(NULL, &ss);
	r->during_enabled = !(ss.ss_flags & SS_DISABLE);
	r->during_size = ss.ss_size;
	pt_guard_thread_exit();
	sigaltstack(NULL, &ss);
	r->after_disabled = !!(ss.ss_flags & SS_DISABLE);
	return NULL;
}

static char foreign_stack[64 * 1024];

static void *foreign_altstack_thread(void *arg)
{
	struct alt_report *r = arg;
	stack_t ss = { .ss_sp = foreign_stack, .ss_flags = 0,
		       .ss_size = sizeof foreign_stack };
	sigaltstack(&ss, NULL);
	pt_guard_run(returns_42, NULL);
	pt_guard_thread_exit();
	sigaltstack(NULL, &ss);
	r->foreign_sp_after = (ss.ss_flags & SS_DISABLE) ? NULL : ss.ss_sp;
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
	return NULL;
}

static void test_altstack_lifecycle(void **state)
{
	(void)state;
	struct alt_report r;
	pthread_t th;
	memset(&r, 0, sizeof r);
	assert_int_equal(pthread_create(&th, NULL, altstack_thread, &r), 0);
	pthread_join(th, NULL);
	assert_true(r.before_disabled);
	assert_true(r.during_enabled);
	assert_int_equal(r.during_size, PT_GUARD_ALTSTACK_SIZE);
	assert_true(r.after_disabled);

	/* A thread's own alternate stack is left alone. */
	memset(&r, 0, sizeof r);
	assert_int_equal(pthread_create(&th, NULL, foreign_altstack_thread, &r),
			 0);
	pthread_join(th, NULL);
	assert_ptr_equal(r.foreign_sp_after, foreign_stack);
}

static void test_failpoint_guard_fault(void **state)
{
	(void)state;
	char err[128];
	struct capture cap;
	char out[1024];

	assert_int_equal(pt_fp_configure(&pt_fp_table, "guard_fault=segv", err,
					 sizeof err), 0);
	capture_begin(&cap);
	int rc = pt_guard_run(returns_42, NULL);
	capture_end(&cap, out, sizeof out);
	pt_fp_disarm_all(&pt_fp_table);
	assert_int_equal(rc, PT_GUARD_FAULTED);
	assert_false(pt_ks_active());
	assert_non_null(strstr(pt_ks_reason(), "SIGSEGV"));
	assert_int_equal(pt_guard_run(returns_42, NULL), 42);

	/* "return" takes the same way out without a real fault. */
	pt_ks_reset_for_tests();
	assert_int_equal(pt_fp_configure(&pt_fp_table, "guard_fault=1*return",
					 err, sizeof err), 0);
	capture_begin(&cap);
	rc = pt_guard_run(returns_42, NULL);
	int rc2 = pt_guard_run(returns_42, NULL);
	capture_end(&cap, out, sizeof out);
	pt_fp_disarm_all(&pt_fp_table);
	assert_int_equal(rc, PT_GUARD_FAULTED);
	assert_int_equal(rc2, 42);
	assert_non_null(strstr(pt_ks_reason(), "guard_fault"));
}

static void test_release_contract_violation_trips(void **state)
{
	(void)state;
	struct capture cap;
	char out[1024];
	volatile int v = 1;
	pt_contract_force_mode(0);
	capture_begin(&cap);
	PT_REQUIRE(v == 2);
	capture_end(&cap, out, sizeof out);
	pt_contract_force_mode(-1);
	assert_false(pt_ks_active());
	assert_non_null(strstr(pt_ks_reason(),
			       "contract violated: precondition 'v == 2'"));
	assert_non_null(strstr(out, "peaktrace: profiling disabled: contract violated"));
}

/* ---- tests: the program's signals ------------------------------------- */

static volatile sig_atomic_t usr1_hits;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_hits++;
}

static void test_other_signals_pass_through(void **state)
{
	(void)state;
	struct sigaction sa, old, cur;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	assert_int_equal(kernel_handler(SIGUSR1), (uintptr_t)on_usr1);
	usr1_hits = 0;
	raise(SIGUSR1);
	assert_int_equal(usr1_hits, 1);
	assert_int_equal(sigaction(SIGUSR1, NULL, &cur), 0);
	assert_ptr_equal(cur.sa_handler, on_usr1);
	assert_ptr_equal(signal(SIGUSR1, SIG_DFL), on_usr1);
	assert_int_equal(kernel_handler(SIGUSR1), (uintptr_t)SIG_DFL);
	assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
	errno = 0;
	assert_ptr_equal(signal(0, SIG_DFL), SIG_ERR);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(sigaction(-1, &sa, NULL), -1);
	assert_int_equal(errno, EINVAL);
}

static void test_oldact_is_the_programs(void **state)
{
	(void)state;
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		struct sigaction cur;
		assert_int_equal(sigaction(sigs[i], NULL, &cur), 0);
		assert_true((uintptr_t)cur.sa_handler != kernel_handler(sigs[i]));
	}
}

static volatile sig_atomic_t segv_hits;
static volatile int segv_code;

static void on_segv_info(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	segv_hits++;
	segv_code = si->si_code;
}

/* A sent SIGSEGV goes to the program's handler, in or out of a guard, and
 * does not disable profiling. */
static void test_sent_segv_reaches_program_handler(void **state)
{
	(void)state;
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_segv_info;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGSEGV, &sa, &old), 0);
	segv_hits = 0;
	raise(SIGSEGV);
	int in_guard = pt_guard_run(raise_segv, NULL);
	assert_int_equal(sigaction(SIGSEGV, &old, NULL), 0);
	assert_int_equal(segv_hits, 2);
	assert_int_equal(segv_code, SI_TKILL);
	assert_int_equal(in_guard, 5);
	assert_true(pt_ks_active());
	if (config_covmarks)
		assert_true(pt_covmark_hits("guard_chain_program_handler") >= 2);
}

static void test_install_is_idempotent(void **state)
{
	(void)state;
	uintptr_t h = kernel_handler(SIGSEGV);
	assert_int_equal(pt_guard_install(), 0);
	assert_int_equal(kernel_handler(SIGSEGV), h);
}

/* ---- tests: child processes --------------------------------------------- */

static void test_handler_installed_before_install(void **state)
{
	(void)state;
	struct child c;
	expect_exit("handler_before", 0, &c);
}

static void test_handler_installed_after_by_sigaction(void **state)
{
	(void)state;
	struct child c;
	expect_exit("handler_after_sigaction", 0, &c);
}

static void test_handler_installed_after_by_signal(void **state)
{
	(void)state;
	struct child c;
	expect_exit("handler_after_signal", 42, &c);
}

static void test_sysv_signal_resets_handler(void **state)
{
	(void)state;
	expect_signal("sysv_resethand", SIGSEGV);
}

static void test_fault_outside_guard_kills(void **state)
{
	(void)state;
	expect_signal("segv_outside", SIGSEGV);
	expect_signal("fpe_outside", SIGFPE);
}

static void test_sent_signal_kills(void **state)
{
	(void)state;
	expect_signal("raise_outside", SIGSEGV);
	expect_signal("raise_in_guard", SIGSEGV);
}

static void test_ignored_fault_still_kills(void **state)
{
	(void)state;
	expect_signal("ignored_fault", SIGSEGV);
}

static void test_crash_reporters_then_default(void **state)
{
	(void)state;
	struct child c;
	spawn("reporter_return", &c);
	assert_true(WIFSIGNALED(c.status));
	assert_int_equal(WTERMSIG(c.status), SIGSEGV);
	assert_string_equal(c.err, "crash reporter ran\n");
	spawn("reporter_raise", &c);
	assert_true(WIFSIGNALED(c.status));
	assert_int_equal(WTERMSIG(c.status), SIGBUS);
	assert_string_equal(c.err, "crash reporter ran\n");
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return run_child_scenario(argv[2]);

	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_trip_is_one_way_and_keeps_first_reason, setup),
		cmocka_unit_test_setup(test_trip_message_written_once, setup),
		cmocka_unit_test_setup(test_trip_reason_truncated_to_one_line, setup),
		cmocka_unit_test_setup(test_trip_listener_called_once, setup),
		cmocka_unit_test_setup(test_trip_race_has_one_winner, setup),
		cmocka_unit_test_setup(test_fault_in_guard_recovers, setup),
		cmocka_unit_test_setup(test_each_fault_signal_recovers, setup),
		cmocka_unit_test_setup(test_nested_guards, setup),
		cmocka_unit_test_setup(test_faults_in_two_threads_at_once, setup),
		cmocka_unit_test_setup(test_stack_overflow_in_guard_recovers, setup),
		cmocka_unit_test_setup(test_altstack_lifecycle, setup),
		cmocka_unit_test_setup(test_failpoint_guard_fault, setup),
		cmocka_unit_test_setup(test_release_contract_violation_trips, setup),
		cmocka_unit_test_setup(test_other_signals_pass_through, setup),
		cmocka_unit_test_setup(test_oldact_is_the_programs, setup),
		cmocka_unit_test_setup(test_sent_segv_reaches_program_handler, setup),
		cmocka_unit_test_setup(test_install_is_idempotent, setup),
		cmocka_unit_test(test_handler_installed_before_install),
		cmocka_unit_test(test_handler_installed_after_by_sigaction),
		cmocka_unit_test(test_handler_installed_after_by_signal),
		cmocka_unit_test(test_sysv_signal_resets_handler),
		cmocka_unit_test(test_fault_outside_guard_kills),
		cmocka_unit_test(test_sent_signal_kills),
		cmocka_unit_test(test_ignored_fault_still_kills),
		cmocka_unit_test(test_crash_reporters_then_default),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
