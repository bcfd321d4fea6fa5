/*
 * runtime.c: start-up, configuration, fork and exit.
 *
 * Start-up (pt_runtime_start, from the library constructor): read the
 * environment, run the start-up checks, map the tables, probe for Python,
 * open the trace and start the writer. Any failure there is an environment
 * error: with PEAKTRACE_ON_ENV_ERROR=exit (the default) the program stops
 * at once with a one-line message and exit status 1 (fail fast); with
 * =disable profiling is switched off and the program runs on untouched.
 *
 * Environment (DESIGN.md's interface contract):
 *   PEAKTRACE_OUT           directory for peaktrace-PID.ptrace (default .)
 *   PEAKTRACE_MODE          sampled (default) | exact
 *   PEAKTRACE_SAMPLE_BYTES  mean sampling interval in bytes (default 256 KiB)
 *   PEAKTRACE_STACK_DEPTH   native frames kept (default 64, max 256)
 *   PEAKTRACE_MAX_TRACE_BYTES trace size budget (default 1g): from half of
 *                           it on, the sampling interval doubles at every
 *                           eighth; at the budget, events stop (counted as
 *                           drops) and only the end of the trace is written
 *   PEAKTRACE_FAILPOINTS    failpoint spec (docs/FAILPOINTS.md)
 *   PEAKTRACE_ON_ENV_ERROR  exit (default) | disable
 *   PEAKTRACE_FOLLOW_FORK   1 (default): fork children write their own trace
 *   PEAKTRACE_FOLLOW_EXEC   1 (default): programs this one execs inherit the
 *                           preload; 0 removes libpeaktrace from LD_PRELOAD
 *   PEAKTRACE_PYTHON        1 (default): read Python frames
 *   PEAKTRACE_MAX_LIVE_LOG2 live table size, log2 (default 20; sampled mode
 *                           only: exact mode records every free instead)
 *   PEAKTRACE_COVMARKS_OUT  debug builds: file the coverage marks go to at exit
 * An unparsable value is an environment error, like any other.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "contracts/contracts.h"
#include "contracts/covmarks.h"
#include "contracts/fmt.h"
#include "core/guard.h"
#include "core/pyglue.h"
#include "core/runtime.h"
#include "peaktrace/count.h"
#include "peaktrace/fp.h"

#include "contracts/banned.h"

static void env_error(const char *msg) __attribute__((cold));

static bool parse_bool(const char *s, bool dflt, bool *ok)
{
	*ok = true;
	if (!s || !*s)
		return dflt;
	if (!strcmp(s, "1") || !strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "on"))
		return true;
	if (!strcmp(s, "0") || !strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "off"))
		return false;
	*ok = false;
	return dflt;
}

/* what parse_bool takes */
#define PT_BOOL_VALUES "0 or 1 (no or yes, false or true, off or on)"

static void bad_env(char *msg, size_t cap, const char *name, const char *val,
		    const char *expect)
{
	struct pt_buf b;
	pt_buf_init(&b, msg, cap);
	pt_buf_puts(&b, "bad ");
	pt_buf_puts(&b, name);
	pt_buf_puts(&b, "='");
	pt_buf_puts(&b, val);
	pt_buf_puts(&b, "': expected ");
	pt_buf_puts(&b, expect);
}

/* Reads the configuration; returns 0 or -EINVAL with msg set. */
static int read_config(struct pt_config *c, char *msg, size_t cap)
{
	memset(c, 0, sizeof *c);
	c->mode = PT_MODE_SAMPLED;
	c->sample_bytes = PT_DEFAULT_SAMPLE_BYTES;
	c->stack_depth = PT_DEFAULT_STACK_DEPTH;
	c->follow_fork = true;
	c->python = true;

	const char *v = getenv("PEAKTRACE_ON_ENV_ERROR");
	if (v && *v) {
		if (!strcmp(v, "disable"))
			c->on_env_error_disable = true;
		else if (strcmp(v, "exit") != 0) {
			bad_env(msg, cap, "PEAKTRACE_ON_ENV_ERROR", v, "exit or disable");
			return -EINVAL;
		}
	}
	v = getenv("PEAKTRACE_MODE");
	if (v && *v) {
		if (!strcmp(v, "exact"))
			c->mode = PT_MODE_EXACT;
		else if (strcmp(v, "sampled") != 0) {
			bad_env(msg, cap, "PEAKTRACE_MODE", v, "sampled or exact");
			return -EINVAL;
		}
	}
	v = getenv("PEAKTRACE_SAMPLE_BYTES");
	if (v && *v) {
		uint64_t n;
		if (!pt_parse_count(v, &n) || n == 0 || n > PT_MAX_SAMPLE_BYTES) {
			bad_env(msg, cap, "PEAKTRACE_SAMPLE_BYTES", v,
				"a byte count from 1 to 1T (suffixes k, m, g)");
			return -EINVAL;
		}
		c->sample_bytes = n;
	}
	c->max_trace_bytes = 1ull << 30;
	v = getenv("PEAKTRACE_MAX_TRACE_BYTES");
	if (v && *v) {
		uint64_t n;
		if (!pt_parse_count(v, &n) || n < 4096) {
			bad_env(msg, cap, "PEAKTRACE_MAX_TRACE_BYTES", v,
				"a byte count of at least 4096 (suffixes k, m, g)");
			return -EINVAL;
		}
		c->max_trace_bytes = n;
	}
	v = getenv("PEAKTRACE_STACK_DEPTH");
	if (v && *v) {
		uint64_t n;
		if (!pt_parse_count(v, &n) || n == 0 || n > PT_MAX_STACK_DEPTH) {
			bad_env(msg, cap, "PEAKTRACE_STACK_DEPTH", v, "1 to 256");
			return -EINVAL;
		}
		c->stack_depth = (unsigned)n;
	}
	bool ok;
	v = getenv("PEAKTRACE_FOLLOW_FORK");
	c->follow_fork = parse_bool(v, true, &ok);
	if (!ok) {
		bad_env(msg, cap, "PEAKTRACE_FOLLOW_FORK", v, PT_BOOL_VALUES);
		return -EINVAL;
	}
	v = getenv("PEAKTRACE_FOLLOW_EXEC");
	c->follow_exec = parse_bool(v, true, &ok);
	if (!ok) {
		bad_env(msg, cap, "PEAKTRACE_FOLLOW_EXEC", v, PT_BOOL_VALUES);
		return -EINVAL;
	}
	v = getenv("PEAKTRACE_PYTHON");
	c->python = parse_bool(v, true, &ok);
	if (!ok) {
		bad_env(msg, cap, "PEAKTRACE_PYTHON", v, PT_BOOL_VALUES);
		return -EINVAL;
	}
	/* Live table: a quarter of it (where sampling starts to coarsen,
	 * writer.c live_check) holds a 4 GiB heap of small blocks at the
	 * configured interval: 2^16 slots (1 MiB) at the default 256 KiB, up
	 * to 2^20 (16 MiB) for fine intervals. Kept small on purpose: every
	 * sample and every sampled free touches a random slot, and a 16 MiB
	 * table made each one a TLB and cache miss (and a first-touch page
	 * fault), a quarter of the sampled microbenchmark's overhead. */
	c->live_log2 = 16;
	while (c->live_log2 < 20 && (c->sample_bytes << (c->live_log2 - 2)) < (4ull << 30))
		c->live_log2++;
	v = getenv("PEAKTRACE_MAX_LIVE_LOG2");
	if (v && *v) {
		uint64_t n;
		if (!pt_parse_count(v, &n) || n < 10 || n > 28) {
			bad_env(msg, cap, "PEAKTRACE_MAX_LIVE_LOG2", v, "10 to 28");
			return -EINVAL;
		}
		c->live_log2 = (unsigned)n;
	}
	v = getenv("PEAKTRACE_OUT");
	const char *dir = v && *v ? v : ".";
	/* A relative directory is the one of the start-up's working
	 * directory: a program that chdir()s later must not have its trace
	 * written (or fail to be) somewhere else. */
	size_t at = 0;
	if (dir[0] != '/') {
		if (!getcwd(c->out_dir, sizeof c->out_dir - 32)) {
			bad_env(msg, cap, "PEAKTRACE_OUT", dir,
				"an absolute path (the working directory is unreadable or too long)");
			return -EINVAL;
		}
		at = strlen(c->out_dir);
		if (strcmp(dir, ".") == 0)
			return 0;
		if (at > 0 && c->out_dir[at - 1] != '/')
			c->out_dir[at++] = '/';
	}
	if (at + strlen(dir) >= sizeof c->out_dir - 32) {
		bad_env(msg, cap, "PEAKTRACE_OUT", "...", "a shorter directory path");
		return -EINVAL;
	}
	memcpy(c->out_dir + at, dir, strlen(dir) + 1);
	return 0;
}

/* PEAKTRACE_FOLLOW_EXEC=0: removes every libpeaktrace entry from this
 * process's LD_PRELOAD, in place (the new value is never longer, so the
 * environment string is rewritten without allocating), so the programs it
 * execs run unprofiled. */
static void stop_following_exec(void)
{
	char *v = getenv("LD_PRELOAD");
	if (!v)
		return;
	char *out = v;
	const char *p = v;
	while (*p) {
		while (*p == ':' || *p == ' ')
			p++;
		const char *start = p;
		while (*p && *p != ':' && *p != ' ')
			p++;
		size_t len = (size_t)(p - start);
		if (len == 0)
			break;
		bool ours = false;
		for (const char *q = start; q + 12 <= p; q++)
			if (!memcmp(q, "libpeaktrace", 12))
				ours = true;
		if (ours)
			continue;
		if (out != v)
			*out++ = ':';
		memmove(out, start, len);
		out += len;
	}
	*out = '\0';
	PT_MARK(follow_exec_off);
}

/* The trace's time origin: wall clock for the header, monotonic for the
 * offsets of every timed record. */
static void mark_start_time(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	pt_g.start_unix_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	pt_g.start_mono_ns = pt_now_ns();
}

static void disable_quietly(void)
{
	atomic_store(&pt_ks_state, 1);
	atomic_store(&pt_fast_gate, 0);
}

/* ---- is this a child of a profiled process? ----------------------------- */

/* Calls fn(line, len, arg) for each line of the file at path (lines longer
 * than the buffer are skipped); stops when fn returns true. Returns that
 * result, false when the file cannot be read. No allocation. */
static bool each_line(const char *path, bool (*fn)(const char *, size_t, void *),
		      void *arg)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	char buf[4096];
	size_t have = 0;
	bool skipping = false, found = false;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof buf - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		size_t start = 0;
		for (size_t i = 0; i < have && !found; i++) {
			if (buf[i] != '\n')
				continue;
			if (!skipping)
				found = fn(buf + start, i - start, arg);
			skipping = false;
			start = i + 1;
		}
		if (found)
			break;
		memmove(buf, buf + start, have - start);
		have -= start;
		if (have == sizeof buf) { /* a line longer than the buffer */
			have = 0;
			skipping = true;
		}
	}
	close(fd);
	return found;
}

/* The "dev inode" field pair of a /proc/PID/maps line, as text. */
static bool maps_file_id(const char *line, size_t len, const char **id, size_t *idlen)
{
	/* start-end perms offset dev inode path */
	size_t field = 0, i = 0, at = 0;
	while (i < len && field < 5) {
		while (i < len && line[i] == ' ')
			i++;
		if (field == 3)
			at = i;
		while (i < len && line[i] != ' ')
			i++;
		field++;
	}
	if (field < 5 || (i - at == 7 && !memcmp(line + at, "00:00 0", 7)))
		return false; /* anonymous */
	*id = line + at;
	*idlen = i - at;
	return true;
}

struct self_find {
	uintptr_t addr;
	char id[64];   /* "dev inode" of our library's file */
	size_t idlen;
};

static bool find_self(const char *line, size_t len, void *arg)
{
	struct self_find *f = arg;
	uintptr_t lo = 0, hi = 0;
	size_t i = 0;
	for (; i < len && line[i] != '-'; i++)
		lo = lo * 16 + (uintptr_t)(line[i] <= '9' ? line[i] - '0' : (line[i] | 32) - 'a' + 10);
	for (i++; i < len && line[i] != ' '; i++)
		hi = hi * 16 + (uintptr_t)(line[i] <= '9' ? line[i] - '0' : (line[i] | 32) - 'a' + 10);
	const char *id;
	size_t idlen;
	if (f->addr < lo || f->addr >= hi || !maps_file_id(line, len, &id, &idlen) ||
	    idlen >= sizeof f->id)
		return false;
	memcpy(f->id, id, idlen);
	f->idlen = idlen;
	return true;
}

static bool has_file(const char *line, size_t len, void *arg)
{
	const struct self_find *f = arg;
	const char *id;
	size_t idlen;
	return maps_file_id(line, len, &id, &idlen) && idlen == f->idlen &&
	       !memcmp(id, f->id, idlen);
}

/* True when the parent process has this very library mapped: we are a
 * program a profiled process started (exec after fork, subprocess,
 * multiprocessing's spawn), not the job the user started. */
static bool parent_is_profiled(void)
{
	struct self_find f = { .addr = (uintptr_t)&parent_is_profiled };
	if (!each_line("/proc/self/maps", find_self, &f))
		return false;
	char path[64];
	struct pt_buf b;
	pt_buf_init(&b, path, sizeof path);
	pt_buf_puts(&b, "/proc/");
	pt_buf_putu(&b, (uint64_t)getppid());
	pt_buf_puts(&b, "/maps");
	return each_line(b.p, has_file, &f);
}

/* Fail fast, or disable, per PEAKTRACE_ON_ENV_ERROR. Fail fast is for the
 * job the user starts: a program that a profiled job starts later (a
 * helper on another Python, a tool) is not stopped for it, which would
 * change the job's behaviour half way through (do no harm); it runs
 * unprofiled, with the message. */
static void env_error(const char *msg)
{
	char line[768];
	struct pt_buf b;
	pt_buf_init(&b, line, sizeof line);
	pt_buf_puts(&b, msg);
	if (pt_g.cfg.on_env_error_disable) {
		pt_buf_puts(&b, "; profiling disabled (PEAKTRACE_ON_ENV_ERROR=disable)");
		pt_errmsg(b.p);
		disable_quietly();
		return;
	}
	if (parent_is_profiled()) {
		PT_MARK(runtime_env_error_child_disabled);
		pt_buf_puts(&b, "; profiling disabled for this program, started by a "
				"profiled process (PEAKTRACE_ON_ENV_ERROR=exit stops "
				"only the job itself)");
		pt_errmsg(b.p);
		disable_quietly();
		return;
	}
	if (strstr(msg, "PEAKTRACE_ON_ENV_ERROR=disable"))
		pt_buf_puts(&b, "; stopping");
	else
		pt_buf_puts(&b, "; stopping (set PEAKTRACE_ON_ENV_ERROR=disable to run unprofiled)");
	pt_errmsg(b.p);
	_exit(1);
}

/* True in the process the runtime started in, or the fork child
 * pt_runtime_fork_child() took over. False in a vfork child (it shares
 * the parent's memory, writer included: finishing there ended the
 * parent's trace at the child's _exit, and left the parent's thread with
 * its reentrancy flag raised) and in a child of a raw clone or fork
 * system call (no atfork handler ran: it has no writer thread, and
 * waiting for one held its exit for 2 s). Those leave no trace of their
 * own. Async-signal-safe (getpid is a system call since glibc 2.25). */
static bool own_process(void)
{
	return pt_g.pid == 0 || pt_g.pid == getpid();
}

static void finish(bool join)
{
	int expected = 2;
	if (!own_process()) {
		PT_MARK(runtime_finish_foreign_process);
		return;
	}
	if (!atomic_compare_exchange_strong(&pt_g.phase, &expected, 3)) {
		/* Another path is finishing (a Pool worker in os._exit when
		 * terminate()'s SIGTERM arrives): from a signal handler about
		 * to end the process, wait for that final chunk too, or the
		 * process dies under it. */
		if (!join)
			pt_writer_stop(false);
		return;
	}
	pt_flush_delta(); /* the exiting thread's pending bytes count too */
	pt_writer_stop(join);
	pt_covmarks_dump_env();
}

/* The guard's fatal listener: the process is about to die of sig (a stop
 * signal or a fault whose action is SIG_DFL). Runs in the handler: the
 * writer writes the rest of the trace and its END record (2 s at most),
 * and is not joined (pthread_join is not async-signal-safe). */
static void on_fatal(int sig)
{
	(void)sig;
	PT_MARK(runtime_fatal_signal_flush);
	finish(false);
}

static void on_trip(const char *reason)
{
	pt_writer_note_trip(reason);
}

/* Python 3.12 and later warn at os.fork() when the process has more than
 * one thread (a DeprecationWarning on stderr after the fork, an exception
 * under -W error), and count them from the kernel: the writer alone would
 * make every fork of a single-threaded Python program warn. */
static bool python_warns_on_threads(void)
{
	const char *v = pt_pyglue_version();
	if (!v || v[0] != '3' || v[1] != '.')
		return false;
	unsigned minor = 0;
	for (const char *p = v + 2; *p >= '0' && *p <= '9'; p++)
		minor = minor * 10 + (unsigned)(*p - '0');
	return minor >= 12;
}

/* The writer is parked (ended until the parent's next sample, or its exit)
 * across a fork that such a Python would otherwise warn about: the program
 * has no thread of its own besides the one forking. Every other fork
 * keeps the writer running: parking costs the fork a few milliseconds. */
static void park_writer_for_fork(void)
{
	if (pt_tls.busy || !pt_ks_active() || !pt_started() ||
	    !atomic_load_explicit(&pt_writer_running, memory_order_acquire) ||
	    !python_warns_on_threads())
		return;
	pt_tls.busy++;
	if (pt_proc_threads() == 2 && pt_writer_park())
		PT_MARK(fork_writer_parked);
	pt_tls.busy--;
}

static void atfork_prepare(void)
{
	int saved = errno;
	park_writer_for_fork();
	errno = saved;
	pt_walk_fork_prepare();
}

static void atfork_parent(void)
{
	pt_walk_fork_parent();
}

static void atfork_child(void)
{
	pt_walk_fork_child();
	pt_guard_fork_child();
	pt_runtime_fork_child();
}

/* Bytes reserved for the intern arenas (stacks, strings, Python frames):
 * 96 MiB of address space, touched only as used. Under a finite
 * RLIMIT_AS (ulimit -v), whose every reserved byte the program would miss,
 * a sixteenth of the limit, 12 to 96 MiB: a full arena then costs stacks
 * (counted as drops), never the program's memory. */
static size_t arena_budget(void)
{
	const size_t full = (size_t)96 << 20;
	struct rlimit r;
	if (getrlimit(RLIMIT_AS, &r) != 0 || r.rlim_cur == RLIM_INFINITY)
		return full;
	size_t b = (size_t)(r.rlim_cur / 16);
	if (b < ((size_t)12 << 20))
		b = (size_t)12 << 20;
	if (b < full)
		PT_MARK(runtime_arenas_scaled);
	return b < full ? b : full;
}

/* What map_tables mapped, unmapped again. */
static void unmap_tables(void)
{
	pt_ring_destroy(&pt_g.ring);
	pt_live_destroy(&pt_g.live);
	pt_maps_destroy(&pt_g.maps);
	pt_maps_destroy(&pt_g.reserved);
	pt_intern_destroy(&pt_g.stacks);
	pt_intern_destroy(&pt_g.strings);
	pt_intern_destroy(&pt_g.pyframes);
}

static int map_tables(void)
{
	bool exact = pt_g.cfg.mode == PT_MODE_EXACT;
	size_t budget = arena_budget(); /* 2/3 stacks, 1/6 each strings and frames */
	if (pt_ring_init(&pt_g.ring, exact ? 18 : 16) < 0 ||
	    pt_live_init(&pt_g.live, exact ? 10 : pt_g.cfg.live_log2) < 0 ||
	    pt_maps_init(&pt_g.maps) < 0 || pt_maps_init(&pt_g.reserved) < 0 ||
	    pt_intern_init(&pt_g.stacks, 18, budget / 3 * 2) < 0 ||
	    pt_intern_init(&pt_g.strings, 16, budget / 6) < 0 ||
	    pt_intern_init(&pt_g.pyframes, 18, budget / 6) < 0)
		return -ENOMEM;
	if (exact)
		pt_live_set_all(&pt_g.live); /* every free is recorded (hooks.c) */
	return 0;
}

void pt_runtime_start(void)
{
	char msg[640];
	int expected = 1;
	if (!pt_ks_active())
		return;
	/* config first: it says what an environment error does */
	if (read_config(&pt_g.cfg, msg, sizeof msg) < 0) {
		env_error(msg);
		return;
	}
	if (!pt_g.cfg.follow_exec)
		stop_following_exec();
	/* a bad spec is an environment error like any other: a chaos run
	 * with a typo would otherwise test nothing, with one line on stderr */
	const char *fp_spec = getenv("PEAKTRACE_FAILPOINTS");
	if (fp_spec) {
		char err[256];
		if (pt_fp_configure(&pt_fp_table, fp_spec, err, sizeof err) < 0) {
			struct pt_buf b;
			pt_buf_init(&b, msg, sizeof msg);
			pt_buf_puts(&b, "bad PEAKTRACE_FAILPOINTS='");
			pt_buf_puts(&b, fp_spec);
			pt_buf_puts(&b, "': ");
			pt_buf_puts(&b, err);
			env_error(msg);
			return;
		}
	}
	if (pt_guard_install() < 0) {
		env_error("cannot install the fault handlers");
		return;
	}
	pt_ks_set_trip_listener(on_trip);
	pt_guard_set_fatal_listener(on_fatal);
	if (pt_envcheck_run(msg, sizeof msg, -1) < 0) {
		env_error(msg);
		return;
	}
	if (map_tables() < 0) {
		/* not a misconfiguration: the machine is short of memory, and
		 * the job must not pay for it (do no harm) */
		pt_ks_trip("cannot map the runtime's tables: out of memory");
		/* and what of them was mapped goes back: under an address-space
		 * limit (ulimit -v) the program needs it. Only while no other
		 * thread can be inside a hook (a constructor's usual case). */
		if (pt_proc_threads() == 1) {
			PT_MARK(runtime_tables_unmapped);
			unmap_tables();
		}
		/* never started, never finished: the marks so far, now */
		(void)pt_covmarks_dump_env();
		return;
	}
	pt_stack_init();
	if (pt_g.cfg.python) {
		const char *why = NULL;
		if (pt_pyglue_start(&why) < 0) {
			env_error(why ? why : "unsupported python interpreter");
			return;
		}
	}
	mark_start_time();
	pt_g.pid = getpid();
	if (pt_writer_open(msg, sizeof msg) < 0) {
		env_error(msg);
		return;
	}
	if (pt_writer_start() < 0) {
		env_error("cannot start the writer thread");
		return;
	}
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	atomic_compare_exchange_strong(&pt_g.phase, &expected, 2);
	atomic_fetch_add(&pt_g.gen, 1); /* threads set their sampler up again */
	PT_MARK(runtime_started);
}

void pt_runtime_fork_child(void)
{
	if (atomic_load(&pt_g.phase) != 2) {
		return;
	}
	atomic_fetch_add(&pt_g.gen, 1);
	pt_tls_reinit_self(); /* the forking thread, the child's only one */
	pt_g.pid = getpid();
	if (!pt_g.cfg.follow_fork || !pt_ks_active()) {
		atomic_store(&pt_g.phase, 3);
		disable_quietly();
		return;
	}
	PT_MARK(fork_child_reset);
	/* The child's trace starts empty: no parent events, definitions or
	 * samples. Its heap is the parent's, so the byte counters stay. */
	pt_ring_discard(&pt_g.ring);
	pt_live_reset(&pt_g.live);
	pt_intern_reset(&pt_g.stacks);
	pt_intern_reset(&pt_g.strings);
	pt_intern_reset(&pt_g.pyframes);
	pt_maps_fork_child(&pt_g.maps); /* the mappings stay: the child has them */
	pt_maps_fork_child(&pt_g.reserved);
	pt_pyglue_fork_child(); /* its caches hold ids of the tables just emptied */
	atomic_store(&pt_g.drops, 0);
	atomic_store(&pt_g.peak_lock, 0);
	atomic_store(&pt_g.peak, atomic_load(&pt_g.heap) + atomic_load(&pt_g.mapped));
	atomic_store(&pt_g.total_allocs, 0);
	atomic_store(&pt_g.total_alloc_bytes, 0);
	mark_start_time();
	pt_writer_reset_child();
	/* The writer starts with the child's first sample (hooks.c), so a
	 * child that only execs leaves no trace of its own. */
}

void pt_runtime_finish(const char *why)
{
	(void)why;
	finish(true);
}

