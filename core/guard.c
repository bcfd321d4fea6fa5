/*
 * guard.c: the kill-switch and signal-safe fault recovery (guard.h,
 * DESIGN.md "The guard layer", docs/GUARD.md).
 *
 * Kill-switch. pt_ks_state goes 0 -> 1 exactly once, by compare-and-swap;
 * the winner copies its reason into a static 256-byte buffer, publishes it
 * (release store of ks_reason_ready), writes one stderr line with write(2)
 * and calls the trip listener. Losers return at once. Nothing here locks
 * or allocates, so a trip may come from a signal handler, from inside
 * malloc, or from several threads at once.
 *
 * Fault recovery. Each thread has, in initial-exec TLS, the depth of
 * guarded regions it is in and a pointer to the innermost region's
 * sigjmp_buf, which lives in pt_guard_run()'s own frame. pt_guard_run()
 * saves the outer pointer, sigsetjmp()s with savemask 0 (no syscall: a
 * sigprocmask per sampled allocation would cost more than the sample), and
 * restores the outer pointer on the way out, either way; so regions nest
 * and no lock is involved. Our handler for SIGSEGV/SIGBUS/SIGILL/SIGFPE
 * runs on a per-thread alternate stack (mmap'd on a thread's first
 * pt_guard_run, with a guard page, unless the thread already has one):
 * for a kernel-generated fault (si_code > 0) in a guarded region it
 * restores the interrupted signal mask itself (savemask was 0), trips the
 * kill-switch with the signal and the fault address, and siglongjmp()s to
 * the innermost region, whose pt_guard_run() returns PT_GUARD_FAULTED.
 *
 * Everything else is the program's business and must look exactly as it
 * would without us: the handler chains to the action the program set for
 * the signal, which we record instead of installing (shims/signal.c routes
 * sigaction/signal here, so our handler stays first). A program handler is
 * called as the kernel would call it (SA_SIGINFO or plain, sa_mask and the
 * signal itself blocked unless SA_NODEFER, SA_RESETHAND honoured). SIG_DFL
 * is restored in the kernel, then for a real fault we return and the
 * instruction faults again, now fatally: same signal, same core dump; a
 * signal sent with kill/raise (si_code <= 0) is raised again instead. A
 * real fault cannot be ignored (the kernel forces the default action when
 * the handler is SIG_IGN), so SIG_IGN is treated as SIG_DFL for it, and
 * honoured for a sent signal.
 *
 * The recorded actions are read by the handler through a per-signal
 * seqlock (no lock on the read side); writers (sigaction calls, install,
 * SA_RESETHAND) serialise on a spinlock taken with every signal blocked,
 * so a handler can never interrupt a writer on its own thread.
 *
 * Workload: pt_guard_run() on every sampled allocation (tens of thousands a
 * second): two TLS stores, a sigsetjmp without syscall, one relaxed load
 * for the guard_fault failpoint. Faults and sigaction calls are rare.
 */
#include "core/guard.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "contracts/contracts.h"
#include "contracts/covmarks.h"
#include "contracts/fmt.h"
#include "peaktrace/fp.h"

#include "contracts/banned.h"

/* ---- kill-switch ------------------------------------------------------ */

#define KS_REASON_MAX 256 /* bytes, with the NUL */

typedef void (*ks_listener_fn)(const char *reason);

atomic_int pt_ks_state;
/* 1 while the shims' inline fast path may run: profiling active and usable
 * sizes readable from glibc's chunk headers (runtime.h). One load on the
 * fast path stands for both; a trip closes it. */
atomic_int pt_fast_gate;
static char ks_reason[KS_REASON_MAX];   /* first trip's reason; NUL-ended */
static atomic_int ks_reason_ready;       /* 1 once ks_reason is complete */
static _Atomic(ks_listener_fn) ks_listener;

/* Async-signal-safe, reentrancy-safe (a trip from a handler interrupting a
 * trip sees the switch already tripped), keeps errno. */
bool pt_ks_trip(const char *reason)
{
	int expected = 0;
	if (!atomic_compare_exchange_strong_explicit(&pt_ks_state, &expected, 1,
						     memory_order_acq_rel,
						     memory_order_relaxed))
		return false;
	atomic_store_explicit(&pt_fast_gate, 0, memory_order_relaxed);

	int saved = errno;
	if (!reason || !*reason)
		reason = "no reason given";
	size_t n = 0;
	for (; n < KS_REASON_MAX - 1 && reason[n]; n++) {
		char c = reason[n];
		/* One line on stderr, whatever the reason holds. */
		if (c == '\n' || c == '\r')
			c = ' ';
		ks_reason[n] = c;
	}
	ks_reason[n] = '\0';
	atomic_store_explicit(&ks_reason_ready, 1, memory_order_release);

	char line[KS_REASON_MAX + 32];
	struct pt_buf b;
	pt_buf_init(&b, line, sizeof line);
	pt_buf_puts(&b, "profiling disabled: ");
	pt_buf_puts(&b, ks_reason);
	pt_errmsg(b.p);

	ks_listener_fn fn =
		atomic_load_explicit(&ks_listener, memory_order_acquire);
	if (fn)
		fn(ks_reason);
	errno = saved;
	return true;
}

const char *pt_ks_reason(void)
{
	if (!atomic_load_explicit(&ks_reason_ready, memory_order_acquire))
		return NULL;
	return ks_reason;
}

void pt_ks_set_trip_listener(void (*fn)(const char *reason))
{
	atomic_store_explicit(&ks_listener, fn, memory_order_release);
}

void pt_ks_reset_for_tests(void)
{
	atomic_store_explicit(&ks_reason_ready, 0, memory_order_relaxed);
	ks_reason[0] = '\0';
	atomic_store_explicit(&pt_ks_state, 0, memory_order_release);
}

static void contract_trip(const char *reason)
{
	pt_ks_trip(reason);
}

void pt_guard_wire_contracts(void)
{
	pt_contract_set_hook(contract_trip);
}

/* ---- the program's actions for the signals we stay first on ------------ *
 *
 * The four fault signals (the guard's recovery), and the signals that stop
 * a process by default and are how jobs are stopped: SIGTERM (schedulers,
 * multiprocessing's terminate), SIGINT (Ctrl-C, and Python re-raising it
 * after an uncaught KeyboardInterrupt), SIGHUP, SIGQUIT, SIGPIPE, SIGXCPU,
 * and SIGABRT (glibc aborts from inside itself on heap corruption found by
 * free, failed asserts, fortify and stack-protector checks, where no abort
 * shim sees it: such a process died with its last 100 ms, or its whole
 * trace, unwritten). When one of these is about to end the process (the
 * program's action is SIG_DFL), the fatal listener runs first: the runtime writes the rest of
 * the trace (the writer flushes every 100 ms; without this, a job stopped
 * within 100 ms of start left no trace, and every stopped job lost its
 * last 100 ms and its END record).
 *
 * For the stop signals the kernel holds our handler only while the
 * program's action is SIG_DFL or a handler: SIG_IGN goes into the kernel
 * as it is, since an ignored signal stays ignored across exec and a
 * handled one does not (nohup'd jobs' children must keep ignoring SIGHUP).
 * With a program handler, ours is registered with the program's SA_RESTART
 * and SA_ONSTACK, so an interrupted system call behaves as the program
 * asked (Python relies on EINTR to run its handlers promptly). */

#define NFAULT 4
#define NSIGS 11
#define MASK_WORDS (sizeof(sigset_t) / sizeof(unsigned long))

static const int fault_sigs[NSIGS] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE,
				       SIGTERM, SIGINT, SIGHUP, SIGQUIT,
				       SIGPIPE, SIGXCPU, SIGABRT };

static int sig_index(int sig)
{
	for (int i = 0; i < NSIGS; i++) {
		if (fault_sigs[i] == sig)
			return i;
	}
	return -1;
}

static bool is_stop_sig(int i)
{
	return i >= NFAULT;
}

bool pt_guard_keeps(int sig)
{
	return sig_index(sig) >= 0;
}

static _Atomic(void (*)(int)) fatal_listener;

void pt_guard_set_fatal_listener(void (*fn)(int sig))
{
	atomic_store_explicit(&fatal_listener, fn, memory_order_release);
}

/* The process is about to die of sig: let the runtime finish its trace.
 * Async-signal-safe as far as the listener is. */
static void before_fatal(int sig)
{
	void (*fn)(int) = atomic_load_explicit(&fatal_listener, memory_order_acquire);
	if (fn) {
		PT_MARK(guard_fatal_listener);
		fn(sig);
	}
}

static const char *sig_name(int sig)
{
	switch (sig) {
	case SIGSEGV:
		return "SIGSEGV";
	case SIGBUS:
		return "SIGBUS";
	case SIGILL:
		return "SIGILL";
	case SIGFPE:
		return "SIGFPE";
	}
	return "signal"; /* the stop signals are never a fault of ours */
}

/* sa_handler and sa_sigaction share storage; this is either, or SIG_DFL,
 * SIG_IGN. SA_SIGINFO in the flags says which to call. */
typedef void (*any_handler)(int);

/* What the program asked for; read by the handler under the seqlock. */
struct prog_action {
	atomic_uint seq;                /* odd while a writer is mid-update */
	atomic_int flags;               /* sa_flags as last reported */
	_Atomic(any_handler) handler;   /* the handler, SIG_DFL or SIG_IGN */
	atomic_ulong mask[MASK_WORDS];  /* sa_mask, word by word */
};

/* A consistent copy of one prog_action. */
struct action_snap {
	any_handler handler;
	int flags;
	sigset_t mask;
};

static struct prog_action prog[NSIGS];
static atomic_flag writer_lock = ATOMIC_FLAG_INIT;
static atomic_int installed; /* 1 once our handlers are in the kernel */

/* Serialises writers of prog[] and installed. Every signal is blocked while
 * held, so no handler on this thread can wait for it. Async-signal-safe. */
static void writers_lock(sigset_t *saved)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, saved);
	while (atomic_flag_test_and_set_explicit(&writer_lock,
						 memory_order_acquire))
		sched_yield();
}

static void writers_unlock(const sigset_t *saved)
{
	atomic_flag_clear_explicit(&writer_lock, memory_order_release);
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}

/* Caller holds writer_lock. */
static void record_store(int i, any_handler handler, int flags,
			 const sigset_t *mask)
{
	struct prog_action *r = &prog[i];
	unsigned long words[MASK_WORDS];
	memcpy(words, mask, sizeof words);

	unsigned s = atomic_load_explicit(&r->seq, memory_order_relaxed);
	atomic_store_explicit(&r->seq, s + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&r->handler, handler, memory_order_relaxed);
	atomic_store_explicit(&r->flags, flags, memory_order_relaxed);
	for (size_t w = 0; w < MASK_WORDS; w++)
		atomic_store_explicit(&r->mask[w], words[w],
				      memory_order_relaxed);
	atomic_store_explicit(&r->seq, s + 2, memory_order_release);
}

/* Lock-free read. A writer on another thread finishes in a few hundred
 * nanoseconds; should one never finish, we settle for a torn read rather
 * than spin forever inside a signal handler. Async-signal-safe. */
static void record_load(int i, struct action_snap *out)
{
	const struct prog_action *r = &prog[i];
	unsigned long words[MASK_WORDS];
	for (unsigned tries = 0;; tries++) {
		unsigned s1 = atomic_load_explicit(&r->seq, memory_order_acquire);
		out->handler = atomic_load_explicit(&r->handler,
						    memory_order_relaxed);
		out->flags = atomic_load_explicit(&r->flags,
						  memory_order_relaxed);
		for (size_t w = 0; w < MASK_WORDS; w++)
			words[w] = atomic_load_explicit(&r->mask[w],
							memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		unsigned s2 = atomic_load_explicit(&r->seq, memory_order_relaxed);
		if ((s1 == s2 && !(s1 & 1)) || tries > (1u << 20))
			break;
		if (tries > 64)
			sched_yield();
	}
	memcpy(&out->mask, words, sizeof words);
}

static any_handler handler_of(const struct sigaction *act)
{
	return act->sa_handler;
}

static void snap_to_sigaction(const struct action_snap *s,
			      struct sigaction *act)
{
	memset(act, 0, sizeof *act);
	act->sa_handler = s->handler;
	act->sa_flags = s->flags;
	act->sa_mask = s->mask;
}

/* ---- the real sigaction ------------------------------------------------- */

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);

/* glibc's own entry point, exported with a public version (GLIBC_2.2.5):
 * the fallback when dlsym cannot tell us what comes after us. */
extern int __sigaction(int sig, const struct sigaction *act,
		       struct sigaction *oldact);

static _Atomic(sigaction_fn) real_sigaction_p;

/* Not async-signal-safe the first time (dlsym); the fault handler never
 * calls it. */
static sigaction_fn real_sigaction_fn(void)
{
	sigaction_fn f = atomic_load_explicit(&real_sigaction_p,
					      memory_order_acquire);
	if (__builtin_expect(f != NULL, 1))
		return f;
	int saved = errno;
	void *sym = dlsym(RTLD_NEXT, "sigaction");
	f = sym ? (sigaction_fn)sym : __sigaction;
	atomic_store_explicit(&real_sigaction_p, f, memory_order_release);
	errno = saved;
	return f;
}

int pt_guard_real_sigaction(int sig, const struct sigaction *act,
			    struct sigaction *oldact)
{
	sigaction_fn f = real_sigaction_fn();
	int saved = errno;
	int rc = f(sig, act, oldact) == 0 ? 0 : -errno;
	errno = saved;
	return rc;
}

/* SIG_DFL straight into the kernel: no wrapper of anyone's in the way, and
 * no restorer needed for SIG_DFL. Layout of the x86-64/arm64 kernel
 * struct sigaction. Async-signal-safe. */
static void kernel_set_default(int sig)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		unsigned long mask;
	} dfl = { 0 };
	syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
}

static void raise_on_this_thread(int sig)
{
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
}

/* ---- per-thread state --------------------------------------------------- */

enum alt_state {
	ALT_UNKNOWN = 0, /* not looked at yet */
	ALT_OURS,        /* alt_map is this thread's alternate stack */
	ALT_FOREIGN,     /* the thread had one of its own; we leave it be */
	ALT_FAILED,      /* mmap or sigaltstack failed; run without */
};

struct guard_tls {
	sigjmp_buf *volatile jb;  /* innermost region's buffer; NULL outside */
	volatile unsigned depth;  /* guarded regions entered, not yet left */
	int alt;                  /* enum alt_state */
	void *alt_map;            /* guard page + stack, alt_len bytes */
	size_t alt_len;
};

static __thread struct guard_tls guard_tls
	__attribute__((tls_model("initial-exec")));

static size_t page_size(void)
{
	long p = sysconf(_SC_PAGESIZE);
	return p > 0 ? (size_t)p : 4096;
}

/* Thread exit: a pthread key whose destructor releases the thread's
 * alternate stack. Keys below PTHREAD_KEY_2NDLEVEL_SIZE (32) live in the
 * thread descriptor, so pthread_setspecific allocates nothing. */
static pthread_key_t exit_key;
static atomic_int exit_key_state; /* 0 none, 1 creating, 2 ready, 3 failed */

static void on_thread_exit(void *unused)
{
	(void)unused;
	PT_MARK(guard_thread_exit);
	pt_guard_thread_exit();
}

static void exit_key_create(void)
{
	int expected = 0;
	if (!atomic_compare_exchange_strong(&exit_key_state, &expected, 1))
		return;
	atomic_store(&exit_key_state, pthread_key_create(&exit_key, on_thread_exit) == 0 ? 2 : 3);
}

/* Gives the calling thread an alternate signal stack unless it has one.
 * Async-signal-safe (mmap, mprotect, sigaltstack); keeps errno. */
static void altstack_setup(struct guard_tls *t)
{
	int saved = errno;
	stack_t cur;
	if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) {
		PT_MARK(guard_altstack_foreign);
		t->alt = ALT_FOREIGN;
		goto out;
	}
	size_t page = page_size();
	size_t len = PT_GUARD_ALTSTACK_SIZE + page;
	void *map = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (map == MAP_FAILED) {
		t->alt = ALT_FAILED;
		goto out;
	}
	/* Stacks grow down: the guard page goes at the low end. */
	stack_t ss = { .ss_sp = (char *)map + page, .ss_flags = 0,
		       .ss_size = PT_GUARD_ALTSTACK_SIZE };
	if (mprotect(map, page, PROT_NONE) != 0 || sigaltstack(&ss, NULL) != 0) {
		munmap(map, len);
		t->alt = ALT_FAILED;
		goto out;
	}
	PT_MARK(guard_altstack_mapped);
	t->alt_map = map;
	t->alt_len = len;
	t->alt = ALT_OURS;
	if (atomic_load(&exit_key_state) == 2)
		pthread_setspecific(exit_key, map);
out:
	errno = saved;
}

/* Async-signal-safe; keeps errno. A thread calling pt_guard_run() again
 * later gets a new stack. */
void pt_guard_thread_exit(void)
{
	struct guard_tls *t = &guard_tls;
	if (t->alt == ALT_OURS) {
		int saved = errno;
		char *sp = (char *)t->alt_map + (t->alt_len - PT_GUARD_ALTSTACK_SIZE);
		stack_t cur;
		if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) &&
		    cur.ss_sp == sp) {
			if (cur.ss_flags & SS_ONSTACK) {
				/* Called from a handler running on it. */
				errno = saved;
				return;
			}
			stack_t off = { .ss_sp = NULL, .ss_flags = SS_DISABLE,
					.ss_size = 0 };
			sigaltstack(&off, NULL);
		}
		munmap(t->alt_map, t->alt_len);
		t->alt_map = NULL;
		t->alt_len = 0;
		errno = saved;
	}
	t->alt = ALT_UNKNOWN;
}

/* ---- the handler ------------------------------------------------------- */

static void trip_fault(int sig, const siginfo_t *si)
{
	char msg[160];
	struct pt_buf b;
	pt_buf_init(&b, msg, sizeof msg);
	pt_buf_puts(&b, sig_name(sig));
	pt_buf_puts(&b, " at address ");
	pt_buf_putx(&b, (uint64_t)(uintptr_t)si->si_addr);
	pt_buf_puts(&b, " (si_code ");
	pt_buf_puti(&b, si->si_code);
	pt_buf_puts(&b, ") in a guarded region, recovered");
	pt_ks_trip(b.p);
}

/* A fault we cannot take back by returning (the instruction will not
 * fault again): sent signals and asynchronous machine-check reports. */
static bool must_reraise(int sig, const siginfo_t *si)
{
	if (si->si_code <= 0)
		return true;
#ifdef BUS_MCEERR_AO
	if (sig == SIGBUS && si->si_code == BUS_MCEERR_AO)
		return true;
#endif
	(void)sig;
	return false;
}

/* Hands a signal that is not ours to the program. Async-signal-safe. */
static void chain(int sig, siginfo_t *si, void *uc)
{
	int i = sig_index(sig);
	struct action_snap a;
	record_load(i, &a);

	if (a.handler == SIG_IGN) {
		if (si->si_code <= 0 || is_stop_sig(i)) {
			PT_MARK(guard_chain_ignored);
			return; /* a sent signal really is ignored */
		}
		a.handler = SIG_DFL; /* a fault cannot be */
	}
	if (a.handler == SIG_DFL) {
		PT_MARK(guard_chain_default);
		before_fatal(sig);
		kernel_set_default(sig);
		if (is_stop_sig(i) || must_reraise(sig, si))
			raise_on_this_thread(sig); /* pending until we return */
		return;
	}

	PT_MARK(guard_chain_program_handler);
	if (a.flags & SA_RESETHAND) {
		/* As the kernel does on delivery, unless the program has set
		 * something else meanwhile. */
		sigset_t saved, empty;
		sigemptyset(&empty);
		writers_lock(&saved);
		if (atomic_load_explicit(&prog[i].handler,
					 memory_order_relaxed) == a.handler)
			record_store(i, SIG_DFL, 0, &empty);
		writers_unlock(&saved);
	}

	sigset_t block = a.mask, before;
	if (!(a.flags & SA_NODEFER))
		sigaddset(&block, sig);
	pthread_sigmask(SIG_BLOCK, &block, &before);
	if (a.flags & SA_NODEFER) {
		sigset_t self;
		sigemptyset(&self);
		sigaddset(&self, sig);
		pthread_sigmask(SIG_UNBLOCK, &self, NULL);
	}
	/* The union struct sigaction itself uses for the two kinds. */
	union {
		any_handler plain;
		void (*info)(int, siginfo_t *, void *);
	} h = { .plain = a.handler };
	if (a.flags & SA_SIGINFO)
		h.info(sig, si, uc);
	else
		h.plain(sig);
	pthread_sigmask(SIG_SETMASK, &before, NULL);
}

static void fault_handler(int sig, siginfo_t *si, void *ucv)
{
	int saved = errno;
	struct guard_tls *t = &guard_tls;
	sigjmp_buf *jb = t->jb;

	if (t->depth > 0 && jb && si->si_code > 0) {
		/* sigsetjmp saved no mask: put back the interrupted one (the
		 * signal is blocked in here) before leaving, so the next fault
		 * is delivered, not fatal. Then a fault in the trip listener
		 * would come back here and to the same region. */
		const ucontext_t *uc = ucv;
		pthread_sigmask(SIG_SETMASK, &uc->uc_sigmask, NULL);
		PT_MARK(guard_fault_recovered);
		trip_fault(sig, si);
		errno = saved;
		siglongjmp(*jb, 1);
	}
	chain(sig, si, ucv);
	errno = saved;
}

/* A stop signal: never ours, always the program's business. */
static void stop_handler(int sig, siginfo_t *si, void *ucv)
{
	int saved = errno;
	chain(sig, si, ucv);
	errno = saved;
}

/* ---- install and sigaction ---------------------------------------------- */

/* What the kernel holds for stop signal sig while the program's action is
 * (handler, flags): SIG_IGN as it is, else our handler with the program's
 * restart and stack choices. */
static void stop_kernel_action(any_handler handler, int flags, struct sigaction *k)
{
	memset(k, 0, sizeof *k);
	sigemptyset(&k->sa_mask);
	if (handler == SIG_IGN) {
		k->sa_handler = SIG_IGN;
		return;
	}
	k->sa_sigaction = stop_handler;
	k->sa_flags = SA_SIGINFO;
	if (handler == SIG_DFL)
		k->sa_flags |= SA_RESTART | SA_ONSTACK;
	else
		k->sa_flags |= flags & (SA_RESTART | SA_ONSTACK | SA_NODEFER);
}

int pt_guard_install(void)
{
	if (atomic_load_explicit(&installed, memory_order_acquire))
		return 0;
	pt_guard_wire_contracts();
	exit_key_create();
	sigaction_fn real = real_sigaction_fn();

	int saved_errno = errno;
	int rc = 0;
	sigset_t saved;
	writers_lock(&saved);
	if (atomic_load_explicit(&installed, memory_order_relaxed))
		goto out;

	struct sigaction ours;
	memset(&ours, 0, sizeof ours);
	ours.sa_sigaction = fault_handler;
	ours.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&ours.sa_mask);

	struct sigaction prev[NSIGS];
	int done = 0;
	for (; done < NSIGS; done++) {
		int sig = fault_sigs[done];
		if (real(sig, NULL, &prev[done]) != 0) {
			rc = -errno;
			break;
		}
		any_handler h = handler_of(&prev[done]);
		if (prev[done].sa_sigaction == fault_handler ||
		    prev[done].sa_sigaction == stop_handler) /* a 2nd copy of us */
			h = SIG_DFL;
		struct sigaction k = ours;
		if (is_stop_sig(done))
			stop_kernel_action(h, prev[done].sa_flags, &k);
		if (real(sig, &k, NULL) != 0) {
			rc = -errno;
			break;
		}
		record_store(done, h, prev[done].sa_flags, &prev[done].sa_mask);
	}
	if (rc) {
		while (done-- > 0)
			real(fault_sigs[done], &prev[done], NULL);
		goto out;
	}
	atomic_store_explicit(&installed, 1, memory_order_release);
out:
	writers_unlock(&saved);
	errno = saved_errno;
	return rc;
}

int pt_guard_sigaction(int sig, const struct sigaction *act,
		       struct sigaction *oldact)
{
	int i = sig_index(sig);
	if (i < 0)
		return 0;

	/* Copy the caller's struct before blocking signals: a bad pointer
	 * then faults in the caller's context, not ours. */
	struct sigaction want;
	if (act)
		want = *act;
	/* Resolved before the lock: dlsym may allocate, and allocating may
	 * start the runtime, which calls pt_guard_install(). */
	sigaction_fn real = real_sigaction_fn();
	int saved_errno = errno;
	int rc = 1;
	sigset_t saved;
	writers_lock(&saved);
	if (!atomic_load_explicit(&installed, memory_order_relaxed)) {
		/* Not installed yet: the kernel holds the program's action,
		 * and pt_guard_install() will capture it. */
		if (real(sig, act ? &want : NULL, oldact) != 0)
			rc = -errno;
		goto out;
	}
	struct action_snap prev;
	record_load(i, &prev);
	if (act && is_stop_sig(i)) {
		/* the kernel first: should it refuse, nothing changed */
		struct sigaction k;
		stop_kernel_action(handler_of(&want), want.sa_flags, &k);
		if (real(sig, &k, NULL) != 0) {
			rc = -errno;
			goto out;
		}
	}
	if (act)
		record_store(i, handler_of(&want), want.sa_flags, &want.sa_mask);
	writers_unlock(&saved);
	/* Written with signals unblocked, as glibc would. */
	if (oldact)
		snap_to_sigaction(&prev, oldact);
	errno = saved_errno;
	return 1;
out:
	writers_unlock(&saved);
	errno = saved_errno;
	return rc;
}

/* The child of fork() has one thread: a writer lock or a seqlock another
 * thread held at the fork is released. Async-signal-safe. */
void pt_guard_fork_child(void)
{
	for (int i = 0; i < NSIGS; i++) {
		unsigned s = atomic_load_explicit(&prog[i].seq,
						  memory_order_relaxed);
		if (s & 1)
			atomic_store_explicit(&prog[i].seq, s + 1,
					      memory_order_relaxed);
	}
	atomic_flag_clear_explicit(&writer_lock, memory_order_release);
}

/* ---- guarded regions ---------------------------------------------------- */

static int failpoint_fault(void)
{
	PT_MARK(guard_failpoint_return);
	pt_ks_trip("failpoint guard_fault in a guarded region, recovered");
	return PT_GUARD_FAULTED;
}

int pt_guard_run(int (*fn)(void *arg), void *arg)
{
	struct guard_tls *t = &guard_tls;
	sigjmp_buf jb;
	sigjmp_buf *outer = t->jb;
	unsigned depth = t->depth;

	if (__builtin_expect(t->alt == ALT_UNKNOWN, 0))
		altstack_setup(t);

	if (sigsetjmp(jb, 0) != 0) {
		/* Back from fault_handler: t, outer and depth were not
		 * modified since sigsetjmp, so their values are intact. */
		t->depth = depth;
		atomic_signal_fence(memory_order_seq_cst);
		t->jb = outer;
		return PT_GUARD_FAULTED;
	}
	/* The buffer before the depth: the handler trusts jb when depth > 0.
	 * Leaving, depth first, for the same reason. */
	t->jb = &jb;
	atomic_signal_fence(memory_order_seq_cst);
	t->depth = depth + 1;
	atomic_signal_fence(memory_order_seq_cst);

	int rc;
	if (PT_FAIL(guard_fault))
		rc = failpoint_fault();
	else
		rc = fn(arg);

	atomic_signal_fence(memory_order_seq_cst);
	t->depth = depth;
	atomic_signal_fence(memory_order_seq_cst);
	t->jb = outer;
	return rc;
}

bool pt_guard_in_region(void)
{
	return guard_tls.depth > 0;
}
