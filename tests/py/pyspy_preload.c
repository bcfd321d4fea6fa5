/*
 * pyspy_preload.c: a test-only LD_PRELOAD library that exercises the
 * Python stack reader (core/pystack.c + core/py/) from a real malloc hook,
 * independently of peaktrace's runtime.
 *
 * It interposes malloc, calloc, realloc and free, forwarding to the next
 * definitions (dlsym(RTLD_NEXT); a static bootstrap buffer serves dlsym's
 * own calloc). On every PYSPY_EVERY-th allocation of at least PYSPY_MIN
 * bytes (defaults 1 and 262144) it calls pt_py_walk with an intern function
 * backed by a fixed open-addressing table in static memory, and counts the
 * (innermost file, function, line; caller function and line; outermost
 * function; depth; whether the interpreter was finalizing) tuples. At exit
 * it writes a report to the file named by PYSPY_OUT (tab-separated lines,
 * see pyspy_fini()) that tests/py/run_pytest.py checks.
 *
 * Test knobs: PYSPY_FAKE_VERSION, PYSPY_FORCE_READER and
 * PYSPY_NO_PROBE_CHECKS=1 go to pt_py_probe_for_tests (a faked running
 * version; a forced reader; the reader's probe-time checks skipped);
 * PEAKTRACE_FAILPOINTS arms failpoints (py_walk_invalid).
 *
 * Walks run under a minimal fault guard (sigsetjmp + a SIGSEGV/SIGBUS
 * handler), standing in for the runtime's guarded region: a fault inside a
 * walk is counted ("faults") and the allocation goes on; a fault anywhere
 * else gets the default action.
 *
 * A __thread (initial-exec) flag keeps allocations made inside the hook
 * (dlsym's error strings, Py_GetVersion) from re-entering it. The tables
 * use spinlocks: acceptable in a test harness whose critical sections never
 * allocate or call back into Python.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "contracts/covmarks.h"
#include "contracts/fmt.h"
#include "core/pystack.h"
#include "peaktrace/fp.h"

#define EXPORT __attribute__((visibility("default")))

/* ---- real allocator ----------------------------------------------------- */

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);

static _Alignas(16) char boot_buf[64 * 1024];
static atomic_size_t boot_used;
static atomic_int resolving;

static __thread int t_in __attribute__((tls_model("initial-exec")));

static void *boot_alloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	size_t off = atomic_fetch_add(&boot_used, n);
	if (off + n > sizeof boot_buf)
		return NULL;
	return boot_buf + off; /* static storage: already zero */
}

static bool is_boot(const void *p)
{
	return (const char *)p >= boot_buf && (const char *)p < boot_buf + sizeof boot_buf;
}

static void resolve(void)
{
	if (real_free != NULL)
		return;
	atomic_store(&resolving, 1);
	real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	atomic_store(&resolving, 0);
}

/* ---- intern table -------------------------------------------------------- */

#define NAMES_SLOTS 8192              /* power of two */
#define NAMES_POOL (2u << 20)         /* bytes of name text */

struct name {
	uint32_t off, len; /* in g_pool */
	uint32_t hash;     /* 0 = empty */
};

static struct name g_name_slots[NAMES_SLOTS];
static char g_pool[NAMES_POOL];
static uint32_t g_pool_used = 1; /* offset 0 unused */
static atomic_flag g_names_lock = ATOMIC_FLAG_INIT;
static atomic_ulong g_intern_calls;

static uint32_t hash_of(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h ? h : 1;
}

/* Returns slot index + 1 as the id, or 0 when full. */
static uint32_t intern(const char *s, size_t n, void *ctx)
{
	(void)ctx;
	atomic_fetch_add(&g_intern_calls, 1);
	uint32_t h = hash_of(s, n), id = 0;
	while (atomic_flag_test_and_set_explicit(&g_names_lock, memory_order_acquire))
		;
	for (uint32_t i = 0; i < NAMES_SLOTS; i++) {
		uint32_t k = (h + i) & (NAMES_SLOTS - 1);
		struct name *e = &g_name_slots[k];
		if (e->hash == 0) {
			if (g_pool_used + n > NAMES_POOL)
				break;
			memcpy(g_pool + g_pool_used, s, n);
			e->off = g_pool_used;
			e->len = (uint32_t)n;
			e->hash = h;
			g_pool_used += (uint32_t)n;
			id = k + 1;
			break;
		}
		if (e->hash == h && e->len == n && memcmp(g_pool + e->off, s, n) == 0) {
			id = k + 1;
			break;
		}
	}
	atomic_flag_clear_explicit(&g_names_lock, memory_order_release);
	return id;
}

static void name_of(uint32_t id, const char **s, size_t *n)
{
	if (id == 0 || id > NAMES_SLOTS || g_name_slots[id - 1].hash == 0) {
		*s = "?";
		*n = 1;
		return;
	}
	*s = g_pool + g_name_slots[id - 1].off;
	*n = g_name_slots[id - 1].len;
}

/* ---- attribution counts ------------------------------------------------- */

#define REC_SLOTS 4096
#define MAX_FRAMES 128

struct rec {
	uint32_t file, func, line;       /* innermost frame */
	uint32_t caller_func, caller_line;
	uint32_t outer_func;             /* outermost frame walked */
	uint32_t depth;                  /* frames returned */
	uint32_t fin;                    /* the interpreter was finalizing
					    before the walk began */
	unsigned long count;             /* 0 = empty slot */
};

static struct rec g_recs[REC_SLOTS];
static atomic_flag g_recs_lock = ATOMIC_FLAG_INIT;
static unsigned long g_recs_dropped;

static atomic_ulong g_seen, g_walks, g_walks_frames, g_errors;
/* the interpreter's own _Py_IsFinalizing/Py_IsFinalizing, to tag samples
 * independently of the reader's gate */
static int (*g_is_finalizing)(void);
static int g_probe_status = -1;
static const char *g_probe_why = "";
static size_t g_min = 262144;
static unsigned long g_every = 1;
static atomic_int g_ready, g_done;

static void record(const struct pt_pyframe *f, int n, int fin)
{
	struct rec k = { 0 };
	k.fin = fin != 0;
	k.file = f[0].file_id;
	k.func = f[0].func_id;
	k.line = f[0].line;
	if (n > 1) {
		k.caller_func = f[1].func_id;
		k.caller_line = f[1].line;
	}
	k.outer_func = f[n - 1].func_id;
	k.depth = (uint32_t)n;
	uint32_t h = k.file * 31u + k.func * 17u + k.line * 7u + k.caller_func * 3u +
		     k.outer_func + k.depth * 13u + k.caller_line * 5u + k.fin;

	while (atomic_flag_test_and_set_explicit(&g_recs_lock, memory_order_acquire))
		;
	for (uint32_t i = 0; i < REC_SLOTS; i++) {
		struct rec *e = &g_recs[(h + i) & (REC_SLOTS - 1)];
		if (e->count == 0) {
			*e = k;
			e->count = 1;
			goto out;
		}
		if (e->file == k.file && e->func == k.func && e->line == k.line &&
		    e->caller_func == k.caller_func && e->caller_line == k.caller_line &&
		    e->outer_func == k.outer_func && e->depth == k.depth && e->fin == k.fin) {
			e->count++;
			goto out;
		}
	}
	g_recs_dropped++;
out:
	atomic_flag_clear_explicit(&g_recs_lock, memory_order_release);
}

static __thread sigjmp_buf t_jmp __attribute__((tls_model("initial-exec")));
static __thread volatile sig_atomic_t t_guarded __attribute__((tls_model("initial-exec")));
static atomic_ulong g_faults;

static void on_fault(int sig)
{
	if (t_guarded) {
		t_guarded = 0;
		siglongjmp(t_jmp, 1);
	}
	signal(sig, SIG_DFL); /* not ours: die the way the program would have */
}

static int guarded_walk(struct pt_pyframe *frames, int max)
{
	if (sigsetjmp(t_jmp, 1) != 0) {
		atomic_fetch_add_explicit(&g_faults, 1, memory_order_relaxed);
		return 0;
	}
	t_guarded = 1;
	int got = pt_py_walk(frames, max, intern, NULL, NULL);
	t_guarded = 0;
	return got;
}

static void sample(size_t n)
{
	if (n < g_min || !atomic_load_explicit(&g_ready, memory_order_relaxed) ||
	    atomic_load_explicit(&g_done, memory_order_relaxed))
		return;
	unsigned long k = atomic_fetch_add_explicit(&g_seen, 1, memory_order_relaxed);
	if (k % g_every != 0)
		return;
	struct pt_pyframe frames[MAX_FRAMES];
	int fin = g_is_finalizing != NULL && g_is_finalizing();
	atomic_fetch_add_explicit(&g_walks, 1, memory_order_relaxed);
	int got = guarded_walk(frames, MAX_FRAMES);
	if (got < 0) {
		atomic_fetch_add_explicit(&g_errors, 1, memory_order_relaxed);
		return;
	}
	if (got == 0)
		return;
	atomic_fetch_add_explicit(&g_walks_frames, 1, memory_order_relaxed);
	record(frames, got, fin);
}

/* ---- interposed functions ---------------------------------------------- */

EXPORT void *malloc(size_t n)
{
	if (real_malloc == NULL) {
		if (atomic_load(&resolving))
			return boot_alloc(n);
		resolve();
	}
	void *p = real_malloc(n);
	if (!t_in) {
		int saved = errno;
		t_in = 1;
		sample(n);
		t_in = 0;
		errno = saved;
	}
	return p;
}

EXPORT void *calloc(size_t a, size_t b)
{
	if (real_calloc == NULL) {
		if (atomic_load(&resolving))
			return boot_alloc(a * b);
		resolve();
	}
	void *p = real_calloc(a, b);
	if (!t_in) {
		int saved = errno;
		t_in = 1;
		sample(a * b);
		t_in = 0;
		errno = saved;
	}
	return p;
}

EXPORT void *realloc(void *old, size_t n)
{
	if (real_realloc == NULL) {
		if (atomic_load(&resolving))
			return boot_alloc(n);
		resolve();
	}
	if (is_boot(old)) {
		void *p = real_malloc(n);
		/* the old size is unknown: copy what may be it */
		size_t room = (size_t)(boot_buf + sizeof boot_buf - (char *)old);
		if (p != NULL)
			memcpy(p, old, n < room ? n : room);
		return p;
	}
	void *p = real_realloc(old, n);
	if (!t_in) {
		int saved = errno;
		t_in = 1;
		sample(n);
		t_in = 0;
		errno = saved;
	}
	return p;
}

EXPORT void free(void *p)
{
	if (p == NULL || is_boot(p))
		return;
	if (real_free == NULL)
		resolve();
	real_free(p);
}

/* ---- start and report --------------------------------------------------- */

static size_t env_num(const char *name, size_t dflt)
{
	const char *s = getenv(name);
	if (s == NULL || *s == '\0')
		return dflt;
	size_t v = 0;
	for (; *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (size_t)(*s - '0');
	return v ? v : dflt;
}

__attribute__((constructor)) static void pyspy_init(void)
{
	t_in = 1;
	resolve();
	g_min = env_num("PYSPY_MIN", g_min);
	g_every = env_num("PYSPY_EVERY", 1);
	pt_fp_configure_env(&pt_fp_table);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_fault;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	const char *fake = getenv("PYSPY_FAKE_VERSION");
	const char *force = getenv("PYSPY_FORCE_READER");
	const char *nochecks = getenv("PYSPY_NO_PROBE_CHECKS");
	unsigned flags = nochecks != NULL && *nochecks == '1' ? PT_PY_TEST_NO_PROBE_CHECKS : 0;
	if (fake != NULL || force != NULL || flags != 0)
		g_probe_status = pt_py_probe_for_tests(fake, force, flags, &g_probe_why);
	else
		g_probe_status = pt_py_probe(&g_probe_why);
	if (g_probe_status == PT_PY_OK) {
		g_is_finalizing = (int (*)(void))dlsym(RTLD_DEFAULT, "Py_IsFinalizing");
		if (g_is_finalizing == NULL)
			g_is_finalizing = (int (*)(void))dlsym(RTLD_DEFAULT, "_Py_IsFinalizing");
	}
	atomic_store(&g_ready, 1);
	t_in = 0;
}

static void put_name(struct pt_buf *b, uint32_t id)
{
	const char *s;
	size_t n;
	name_of(id, &s, &n);
	pt_buf_putn(b, s, n);
}

static void line_out(int fd, struct pt_buf *b)
{
	pt_buf_putc(b, '\n');
	pt_write_all(fd, b->p, b->len);
	b->len = 0;
	b->p[0] = '\0';
}

static void kv(int fd, struct pt_buf *b, const char *k, const char *v)
{
	pt_buf_puts(b, k);
	pt_buf_putc(b, '\t');
	pt_buf_puts(b, v);
	line_out(fd, b);
}

static void kn(int fd, struct pt_buf *b, const char *k, unsigned long v)
{
	pt_buf_puts(b, k);
	pt_buf_putc(b, '\t');
	pt_buf_putu(b, v);
	line_out(fd, b);
}

static const char *const marks[] = {
	"py_name_cache_hit", "py_name_cache_miss", "py_walk_no_tstate",
	"py_walk_finalizing_other", "py_walk_thread_mismatch", "py_walk_disabled",
	"py_walk_tstate_checked", "py_shim_frame_skipped", "py_incomplete_frame_skipped",
	"py_none_executable_skipped", "py_intern_failed", "py_probe_layout_mismatch",
	"py_probe_forced_reader", "py_line_cache_hit",
};

/* Report lines (tab-separated):
 *   probe STATUS WHY | version V | readers LIST | seen N | walks N |
 *   walks_frames N | errors N | faults N | intern_calls N | dropped N | disable TEXT |
 *   covmarks 0/1 | mark NAME HITS |
 *   sample COUNT FILE FUNC LINE CALLER_FUNC CALLER_LINE OUTER_FUNC DEPTH FIN */
__attribute__((destructor)) static void pyspy_fini(void)
{
	t_in = 1;
	atomic_store(&g_done, 1);
	const char *path = getenv("PYSPY_OUT");
	if (path == NULL || *path == '\0')
		return;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	char line[4096];
	struct pt_buf b;
	pt_buf_init(&b, line, sizeof line);
	static const char *const st[] = { "none", "ok", "unsupported" };
	pt_buf_puts(&b, "probe\t");
	pt_buf_puts(&b, g_probe_status >= 0 && g_probe_status <= 2 ? st[g_probe_status] : "?");
	pt_buf_putc(&b, '\t');
	pt_buf_puts(&b, g_probe_why);
	line_out(fd, &b);
	kv(fd, &b, "version", pt_py_version());
	kv(fd, &b, "readers", pt_py_readers_built());
	kn(fd, &b, "seen", atomic_load(&g_seen));
	kn(fd, &b, "walks", atomic_load(&g_walks));
	kn(fd, &b, "walks_frames", atomic_load(&g_walks_frames));
	kn(fd, &b, "errors", atomic_load(&g_errors));
	kn(fd, &b, "faults", atomic_load(&g_faults));
	kn(fd, &b, "intern_calls", atomic_load(&g_intern_calls));
	kn(fd, &b, "dropped", g_recs_dropped);
	const char *dis = pt_py_disable_reason();
	kv(fd, &b, "disable", dis ? dis : "");
	kn(fd, &b, "covmarks", config_covmarks ? 1 : 0);
	for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
		pt_buf_puts(&b, "mark\t");
		pt_buf_puts(&b, marks[i]);
		pt_buf_putc(&b, '\t');
		pt_buf_putu(&b, pt_covmark_hits(marks[i]));
		line_out(fd, &b);
	}
	while (atomic_flag_test_and_set_explicit(&g_recs_lock, memory_order_acquire))
		;
	while (atomic_flag_test_and_set_explicit(&g_names_lock, memory_order_acquire))
		;
	for (size_t i = 0; i < REC_SLOTS; i++) {
		const struct rec *e = &g_recs[i];
		if (e->count == 0)
			continue;
		pt_buf_puts(&b, "sample\t");
		pt_buf_putu(&b, e->count);
		pt_buf_putc(&b, '\t');
		put_name(&b, e->file);
		pt_buf_putc(&b, '\t');
		put_name(&b, e->func);
		pt_buf_putc(&b, '\t');
		pt_buf_putu(&b, e->line);
		pt_buf_putc(&b, '\t');
		if (e->depth > 1)
			put_name(&b, e->caller_func);
		pt_buf_putc(&b, '\t');
		pt_buf_putu(&b, e->caller_line);
		pt_buf_putc(&b, '\t');
		put_name(&b, e->outer_func);
		pt_buf_putc(&b, '\t');
		pt_buf_putu(&b, e->depth);
		pt_buf_putc(&b, '\t');
		pt_buf_putu(&b, e->fin);
		line_out(fd, &b);
	}
	atomic_flag_clear_explicit(&g_names_lock, memory_order_release);
	atomic_flag_clear_explicit(&g_recs_lock, memory_order_release);
	close(fd);
}
