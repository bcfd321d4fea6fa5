/*
 * pystack.c: finds CPython in the process, picks the frame reader compiled
 * for its minor version (core/py/), and turns the reader's raw frames into
 * (file id, function id, line) triples for the sampler.
 *
 * Life cycle. pt_py_probe() runs at start-up (before Py_Initialize, which
 * is fine: the version and type objects are static data) and again lazily
 * while no interpreter was found. It resolves every CPython symbol with
 * dlsym(RTLD_DEFAULT) (libpython, or a python executable exporting its API
 * as Debian's does), reads the version (Py_Version on 3.11+, Py_GetVersion
 * once before), refuses debug builds, picks the reader, and runs the
 * reader's probe-time layout checks (type object sizes; on 3.13 the whole
 * _PyRuntime.debug_offsets). On success the walk state becomes ON.
 *
 * Walk state (g_ws): OFF -> ON -> DISABLING -> DISABLED, one-way except
 * for the test reset. The first walk that finds a thread state checks it
 * once more against the reader (thread_id, interp); the first frame with a
 * line checks line >= co_firstlineno. Any failed check, in a walk or in a
 * reader, moves ON -> DISABLING with a CAS: the one winner records the
 * reason and returns -EPROTO, everyone else (then and later) returns 0.
 *
 * Thread state: PyGILState_GetThisThreadState() is the only per-thread
 * getter that works without the GIL (notes/cpython-frames.md §3). Every walk
 * is gated on "not finalizing, or finalizing by this very thread": other
 * threads' thread states are freed during finalization while their TLS
 * still points at them.
 *
 * Name cache: a two-way set-associative table of PT_PY_CACHE_SLOTS slots in static
 * memory, keyed by code object pointer and checked against the code's
 * co_filename and name pointers, co_firstlineno and the reader's identity
 * of the code object (co_version on 3.12+, a fingerprint of its line table
 * and file name before: a freed code object whose address is reused by
 * another one misses, even when its name objects' addresses are reused
 * too, as they are in an exec loop). Each slot is a seqlock:
 * a writer claims it with a CAS to an odd sequence, so concurrent or
 * reentrant writers skip instead of waiting, and readers that see an odd
 * or changed sequence treat it as a miss. An epoch counter lets
 * pt_py_names_flush() invalidate everything at once. The slot also keeps
 * the last (byte offset, line) looked up for its code object: outer frames
 * sit at the same call for many samples, and PyCode_Addr2Line scans the
 * line table from the start.
 *
 * Workload: pt_py_walk runs for each sampled allocation, from the malloc
 * hook, on any thread; with warm caches it costs one tstate lookup, one
 * finalizing check, a few loads and a cache probe per frame, and a
 * PyCode_Addr2Line for frames that moved. A miss encodes two names to UTF-8
 * on the stack (1 KiB) and calls the intern callback twice.
 */
#include "core/pystack.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "contracts/contracts.h"
#include "contracts/covmarks.h"
#include "contracts/fmt.h"
#include "core/py/reader.h"
#include "peaktrace/fp.h"

#include "contracts/banned.h"

#define PT_PY_MINOR_FIRST 9  /* reader sources exist for 3.9 ... */
#define PT_PY_MINOR_LAST 13  /* ... to 3.13 */
#define PT_PY_NAME_BUF 1024  /* bytes of UTF-8 per name; longer names keep their tail */
#define PT_PY_CACHE_BITS 11
#define PT_PY_CACHE_SLOTS (1u << PT_PY_CACHE_BITS) /* 2048 slots, 56 B each */

enum walk_state { WS_OFF, WS_ON, WS_DISABLING, WS_DISABLED };
enum { CHK_TSTATE = 1u, CHK_FRAME = 2u };

/* ---- state set by the probe ------------------------------------------- */

static struct pt_pyrt g_rt;                    /* valid while g_ws != WS_OFF */
static const struct pt_pyreader *g_reader;     /* idem */
static atomic_int g_ws;                        /* enum walk_state */
static atomic_uint g_checked;                  /* CHK_* done by walks */
static atomic_int g_status;                    /* enum pt_py_status, final unless NONE */
static atomic_int g_probing;                   /* 1 while a probe runs */
static char g_version[32];                     /* "3.12.1" or "" */
static char g_why[512];                        /* PT_PY_UNSUPPORTED message */
static char g_readers[64];                     /* "3.9, 3.10, ..." */
static char g_disable[256];                    /* why walks were disabled */

/* ---- seqlocked slots (name cache, line memo) ---------------------------- *
 *
 * A reader copies a slot's fields between seq_read_begin and seq_read_ok and
 * keeps them only when both say yes; a writer claims the slot with
 * seq_write_begin (false: another writer, or a reentrant call, holds it:
 * give up rather than wait), stores, and releases it with seq_write_end. */

static inline bool seq_read_begin(atomic_uint *seq, unsigned *s)
{
	*s = atomic_load_explicit(seq, memory_order_acquire);
	return !(*s & 1u);
}

static inline bool seq_read_ok(atomic_uint *seq, unsigned s)
{
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(seq, memory_order_relaxed) == s;
}

static inline bool seq_write_begin(atomic_uint *seq, unsigned *s)
{
	*s = atomic_load_explicit(seq, memory_order_relaxed);
	if ((*s & 1u) || !atomic_compare_exchange_strong_explicit(seq, s, *s + 1u,
								   memory_order_relaxed,
								   memory_order_relaxed))
		return false;
	atomic_thread_fence(memory_order_release);
	return true;
}

static inline void seq_write_end(atomic_uint *seq, unsigned s)
{
	atomic_store_explicit(seq, s + 2u, memory_order_release);
}

/* ---- name cache --------------------------------------------------------- */

struct name_slot {
	atomic_uint seq;            /* odd while a writer fills the slot */
	atomic_uint epoch;          /* g_epoch when filled */
	atomic_uint file_id;        /* nonzero intern ids */
	atomic_uint func_id;
	atomic_int firstlineno;     /* content check */
	atomic_int addrq;           /* last byte offset looked up, and ... */
	atomic_int line;            /* ... its line (PyCode_Addr2Line result) */
	atomic_uint frame_id;       /* ... and the frame id of that line (0: none) */
	atomic_uintptr_t code;      /* key: PyCodeObject address; 0 = empty */
	atomic_uintptr_t filename;  /* content check: co_filename address */
	atomic_uintptr_t funcname;  /* content check: co_qualname/co_name address */
	_Atomic uint64_t ident;     /* content check: rd_code_ident */
};

static struct name_slot g_names[PT_PY_CACHE_SLOTS];
static atomic_uchar g_names_victim[PT_PY_CACHE_SLOTS / 2]; /* way to replace next */
static atomic_uint g_epoch = 1;

/* Both caches are two-way set-associative: direct-mapped, two code
 * objects of one stack that map to the same slot (1 chance in 2048 per
 * pair, for good) evicted each other on every walk; seen on 3.11, where
 * site's import frames did so for the whole start-up: 4% of frames
 * missed, each a line-table scan and two names encoded. A set is two
 * adjacent slots; a fill takes the way holding the key, else an empty or
 * stale one, else the ways in turn. */
static size_t set_of(uint64_t h, unsigned bits)
{
	return (size_t)(h >> (64 - bits)) & ~(size_t)1;
}

/* The way of set base (2 slots) to fill for key: the one holding key, an
 * empty or stale one (keys and epochs read racily: a wrong guess costs
 * one eviction), else the set's next victim. */
static unsigned way_to_fill(uintptr_t key0, unsigned epoch0, uintptr_t key1,
			    unsigned epoch1, uintptr_t key, atomic_uchar *victim)
{
	unsigned now = atomic_load_explicit(&g_epoch, memory_order_relaxed);
	if (key0 == key)
		return 0;
	if (key1 == key)
		return 1;
	if (key0 == 0 || epoch0 != now)
		return 0;
	if (key1 == 0 || epoch1 != now)
		return 1;
	return atomic_fetch_xor_explicit(victim, 1, memory_order_relaxed) & 1u;
}

static size_t names_set(const void *code)
{
	uint64_t h = ((uint64_t)(uintptr_t)code >> 4) * 0x9e3779b97f4a7c15ull;
	return set_of(h, PT_PY_CACHE_BITS);
}

struct cached {
	uint32_t file_id, func_id; /* nonzero */
	int addrq, line;           /* the slot's last line lookup */
	uint32_t frame_id;         /* frame id of (file, func, line); 0: none */
};

/* Async-signal-safe, lock-free. True on a hit. */
static bool cache_get_way(struct name_slot *s, const struct pt_pyraw *f, struct cached *c)
{
	unsigned seq;
	if (!seq_read_begin(&s->seq, &seq))
		return false;
	uintptr_t code = atomic_load_explicit(&s->code, memory_order_relaxed);
	uintptr_t file = atomic_load_explicit(&s->filename, memory_order_relaxed);
	uintptr_t func = atomic_load_explicit(&s->funcname, memory_order_relaxed);
	int first = atomic_load_explicit(&s->firstlineno, memory_order_relaxed);
	uint64_t ident = atomic_load_explicit(&s->ident, memory_order_relaxed);
	unsigned epoch = atomic_load_explicit(&s->epoch, memory_order_relaxed);
	uint32_t fid = atomic_load_explicit(&s->file_id, memory_order_relaxed);
	uint32_t nid = atomic_load_explicit(&s->func_id, memory_order_relaxed);
	int addrq = atomic_load_explicit(&s->addrq, memory_order_relaxed);
	int line = atomic_load_explicit(&s->line, memory_order_relaxed);
	uint32_t frame = atomic_load_explicit(&s->frame_id, memory_order_relaxed);
	if (!seq_read_ok(&s->seq, seq))
		return false;
	if (code != (uintptr_t)f->code || file != (uintptr_t)f->filename ||
	    func != (uintptr_t)f->funcname || first != f->firstlineno ||
	    ident != f->ident ||
	    epoch != atomic_load_explicit(&g_epoch, memory_order_relaxed))
		return false;
	c->file_id = fid;
	c->func_id = nid;
	c->addrq = addrq;
	c->line = line;
	c->frame_id = frame;
	return true;
}

static bool cache_get(const struct pt_pyraw *f, struct cached *c)
{
	struct name_slot *set = &g_names[names_set(f->code)];
	return cache_get_way(&set[0], f, c) || cache_get_way(&set[1], f, c);
}

/* Async-signal-safe, lock-free: gives up when another writer holds the slot. */
static void cache_put(const struct pt_pyraw *f, const struct cached *c)
{
	size_t base = names_set(f->code);
	struct name_slot *set = &g_names[base];
	unsigned way = way_to_fill(
		atomic_load_explicit(&set[0].code, memory_order_relaxed),
		atomic_load_explicit(&set[0].epoch, memory_order_relaxed),
		atomic_load_explicit(&set[1].code, memory_order_relaxed),
		atomic_load_explicit(&set[1].epoch, memory_order_relaxed),
		(uintptr_t)f->code, &g_names_victim[base / 2]);
	struct name_slot *s = &set[way];
	unsigned seq;
	if (!seq_write_begin(&s->seq, &seq))
		return;
	atomic_store_explicit(&s->code, (uintptr_t)f->code, memory_order_relaxed);
	atomic_store_explicit(&s->filename, (uintptr_t)f->filename, memory_order_relaxed);
	atomic_store_explicit(&s->funcname, (uintptr_t)f->funcname, memory_order_relaxed);
	atomic_store_explicit(&s->firstlineno, f->firstlineno, memory_order_relaxed);
	atomic_store_explicit(&s->ident, f->ident, memory_order_relaxed);
	atomic_store_explicit(&s->epoch, atomic_load_explicit(&g_epoch, memory_order_relaxed),
			      memory_order_relaxed);
	atomic_store_explicit(&s->file_id, c->file_id, memory_order_relaxed);
	atomic_store_explicit(&s->func_id, c->func_id, memory_order_relaxed);
	atomic_store_explicit(&s->addrq, c->addrq, memory_order_relaxed);
	atomic_store_explicit(&s->line, c->line, memory_order_relaxed);
	atomic_store_explicit(&s->frame_id, c->frame_id, memory_order_relaxed);
	seq_write_end(&s->seq, seq);
}

/* ---- line memo ---------------------------------------------------------
 *
 * (code object, byte offset) -> line, two-way set-associative, seqlocked like the
 * name cache. The name slot keeps only the last offset of its code object,
 * and the innermost frame of a loop that allocates at several places moves
 * between them on every sample: each miss was a PyCode_Addr2Line scan of
 * the line table from its start (9% of exact mode's instructions on a
 * Python churn). Consulted only after a name-cache hit (the code object at
 * that address is the one the names were taken from), and checked against
 * co_firstlineno and the epoch. */

#define PT_PY_LINE_BITS 12
#define PT_PY_LINE_SLOTS (1u << PT_PY_LINE_BITS) /* 4096 slots, 32 B each */

struct line_slot {
	atomic_uint seq;            /* odd while a writer fills the slot */
	atomic_uint epoch;
	atomic_int addrq;
	atomic_int line;
	atomic_int firstlineno;
	atomic_uint frame_id;       /* frame id of the line (0: none) */
	_Atomic uint64_t ident;     /* rd_code_ident */
	atomic_uintptr_t code;      /* 0 = empty */
};

static struct line_slot g_lines[PT_PY_LINE_SLOTS];
static atomic_uchar g_lines_victim[PT_PY_LINE_SLOTS / 2];

static size_t lines_set(const void *code, int addrq)
{
	uint64_t h = (((uint64_t)(uintptr_t)code >> 4) ^ ((uint64_t)(uint32_t)addrq << 24)) *
		     0x9e3779b97f4a7c15ull;
	return set_of(h, PT_PY_LINE_BITS);
}

/* Async-signal-safe, lock-free. True on a hit, with the line in *line. */
static bool line_get_way(struct line_slot *s, const struct pt_pyraw *f, int *line,
			 uint32_t *frame_id)
{
	unsigned seq;
	if (!seq_read_begin(&s->seq, &seq))
		return false;
	uintptr_t code = atomic_load_explicit(&s->code, memory_order_relaxed);
	int addrq = atomic_load_explicit(&s->addrq, memory_order_relaxed);
	int first = atomic_load_explicit(&s->firstlineno, memory_order_relaxed);
	uint64_t ident = atomic_load_explicit(&s->ident, memory_order_relaxed);
	unsigned epoch = atomic_load_explicit(&s->epoch, memory_order_relaxed);
	int l = atomic_load_explicit(&s->line, memory_order_relaxed);
	uint32_t fr = atomic_load_explicit(&s->frame_id, memory_order_relaxed);
	if (!seq_read_ok(&s->seq, seq))
		return false;
	if (code != (uintptr_t)f->code || addrq != f->addrq || first != f->firstlineno ||
	    ident != f->ident || epoch != atomic_load_explicit(&g_epoch, memory_order_relaxed))
		return false;
	*line = l;
	*frame_id = fr;
	return true;
}

static bool line_get(const struct pt_pyraw *f, int *line, uint32_t *frame_id)
{
	struct line_slot *set = &g_lines[lines_set(f->code, f->addrq)];
	return line_get_way(&set[0], f, line, frame_id) ||
	       line_get_way(&set[1], f, line, frame_id);
}

/* Async-signal-safe, lock-free: gives up when another writer holds the slot. */
static void line_put(const struct pt_pyraw *f, int line, uint32_t frame_id)
{
	size_t base = lines_set(f->code, f->addrq);
	struct line_slot *set = &g_lines[base];
	/* the key of a line slot is (code, offset): an empty way, a stale
	 * one or the victim; two offsets of one code object may share a set */
	uintptr_t k0 = atomic_load_explicit(&set[0].code, memory_order_relaxed);
	uintptr_t k1 = atomic_load_explicit(&set[1].code, memory_order_relaxed);
	if (k0 == (uintptr_t)f->code && atomic_load_explicit(&set[0].addrq, memory_order_relaxed) != f->addrq)
		k0 = 1; /* same code, another offset: not "the way holding key" */
	if (k1 == (uintptr_t)f->code && atomic_load_explicit(&set[1].addrq, memory_order_relaxed) != f->addrq)
		k1 = 1;
	unsigned way = way_to_fill(k0, atomic_load_explicit(&set[0].epoch, memory_order_relaxed),
				   k1, atomic_load_explicit(&set[1].epoch, memory_order_relaxed),
				   (uintptr_t)f->code, &g_lines_victim[base / 2]);
	struct line_slot *s = &set[way];
	unsigned seq;
	if (!seq_write_begin(&s->seq, &seq))
		return;
	atomic_store_explicit(&s->code, (uintptr_t)f->code, memory_order_relaxed);
	atomic_store_explicit(&s->addrq, f->addrq, memory_order_relaxed);
	atomic_store_explicit(&s->firstlineno, f->firstlineno, memory_order_relaxed);
	atomic_store_explicit(&s->ident, f->ident, memory_order_relaxed);
	atomic_store_explicit(&s->epoch, atomic_load_explicit(&g_epoch, memory_order_relaxed),
			      memory_order_relaxed);
	atomic_store_explicit(&s->line, line, memory_order_relaxed);
	atomic_store_explicit(&s->frame_id, frame_id, memory_order_relaxed);
	seq_write_end(&s->seq, seq);
}

void pt_py_names_flush(void)
{
	atomic_fetch_add_explicit(&g_epoch, 1u, memory_order_relaxed);
}

void pt_py_fork_child(void)
{
	/* one thread now: a slot a vanished thread was filling (odd
	 * sequence) would otherwise stay unusable for good */
	memset((void *)g_names, 0, sizeof g_names);
	memset((void *)g_lines, 0, sizeof g_lines);
	pt_py_names_flush();
}

/* ---- the thread's last walk --------------------------------------------
 *
 * Between two walks of one thread most frames have not moved: a loop's
 * allocations differ in the innermost frame or two. Each thread keeps the
 * frames of its last walk by depth (from the innermost), with the same
 * key as the caches (code object, its file and name objects and first
 * line, the byte offset), and takes an unchanged frame from there: no
 * seqlock, no second lookup. Only this thread reads or writes its memo
 * (a signal handler's allocation during a walk does not walk: the hook is
 * busy); an epoch change (names flushed, fork child) empties it. */

#define PT_PY_MEMO 32

struct memo_ent {
	const void *code, *filename, *funcname;
	int32_t firstlineno, addrq;
	uint64_t ident;
	struct pt_pyframe out;
};

static __thread struct {
	unsigned epoch;
	struct memo_ent e[PT_PY_MEMO];
} t_memo __attribute__((tls_model("initial-exec")));

static void memo_sync_epoch(void)
{
	unsigned now = atomic_load_explicit(&g_epoch, memory_order_relaxed);
	if (t_memo.epoch != now) {
		for (int i = 0; i < PT_PY_MEMO; i++)
			t_memo.e[i].code = NULL;
		t_memo.epoch = now;
	}
}

static bool memo_match(const struct memo_ent *m, const struct pt_pyraw *f)
{
	return m->code == f->code && m->addrq == f->addrq && f->line <= 0 &&
	       m->ident == f->ident && m->filename == f->filename &&
	       m->funcname == f->funcname && m->firstlineno == f->firstlineno;
}

/* ---- UTF-8 -------------------------------------------------------------- */

static uint32_t char_at(const struct pt_pystr *s, size_t i)
{
	switch (s->kind) {
	case 1:
		return ((const uint8_t *)s->data)[i];
	case 2:
		return ((const uint16_t *)s->data)[i];
	default:
		return ((const uint32_t *)s->data)[i];
	}
}

static uint32_t scalar(uint32_t c)
{
	/* lone surrogates (surrogateescape'd file names) and junk: U+FFFD */
	if ((c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0xfffd;
	return c;
}

static size_t utf8_width(uint32_t c)
{
	return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
}

/* Encodes s into buf[0..cap) (cap >= 8). A name that does not fit keeps its
 * tail, the informative end of a path or qualname, behind "...".
 * Returns the bytes written. Async-signal-safe. */
static size_t to_utf8(const struct pt_pystr *s, char *buf, size_t cap)
{
	size_t total = 0, start = 0, o = 0;

	for (size_t i = 0; i < s->len; i++)
		total += utf8_width(scalar(char_at(s, i)));
	if (total > cap) {
		memcpy(buf, "...", 3); /* NOLINT(bugprone-not-null-terminated-result): a prefix */
		o = 3;
		while (start < s->len && total > cap - 3)
			total -= utf8_width(scalar(char_at(s, start++)));
	}
	for (size_t i = start; i < s->len; i++) {
		uint32_t c = scalar(char_at(s, i));
		unsigned char *p = (unsigned char *)buf + o;
		if (c < 0x80) {
			p[0] = (unsigned char)c;
			o += 1;
		} else if (c < 0x800) {
			p[0] = (unsigned char)(0xc0 | (c >> 6));
			p[1] = (unsigned char)(0x80 | (c & 0x3f));
			o += 2;
		} else if (c < 0x10000) {
			p[0] = (unsigned char)(0xe0 | (c >> 12));
			p[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
			p[2] = (unsigned char)(0x80 | (c & 0x3f));
			o += 3;
		} else {
			p[0] = (unsigned char)(0xf0 | (c >> 18));
			p[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
			p[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
			p[3] = (unsigned char)(0x80 | (c & 0x3f));
			o += 4;
		}
	}
	PT_ENSURE(o <= cap);
	return o;
}

/* ---- the walk ----------------------------------------------------------- */

struct walk {
	struct pt_pyframe *out;
	int max;                  /* capacity of out, >= 1 */
	int n;                    /* frames stored */
	pt_py_intern_fn intern;
	pt_py_frame_fn frame;     /* NULL: no frame ids */
	void *ctx;
	const struct pt_pyreader *rd;
};

/* Reads, encodes and interns the frame's names. 0 or PT_PYE_STR; an id
 * the callback could not give is 0. */
static int intern_names(struct walk *w, const struct pt_pyraw *f, struct cached *c)
{
	struct pt_pystr file, func;
	if (w->rd->str(&g_rt, f->filename, &file) < 0 ||
	    w->rd->str(&g_rt, f->funcname, &func) < 0)
		return PT_PYE_STR;

	char buf[PT_PY_NAME_BUF];
	size_t n = to_utf8(&file, buf, sizeof buf);
	c->file_id = w->intern(buf, n, w->ctx);
	n = to_utf8(&func, buf, sizeof buf);
	c->func_id = w->intern(buf, n, w->ctx);
	return 0;
}

/* One frame from the reader: line (cached per code object for the last
 * offset asked, since outer frames sit at the same call for many samples,
 * and in the line memo), names (cached per code object), the frame id of
 * (names, line) (cached with the line: interning the triple anew for
 * every frame of every walk was a fifth of exact mode's instructions on
 * Python), the first-frame check, the output. */
static int emit(void *cookie, const struct pt_pyraw *f)
{
	struct walk *w = cookie;
	struct memo_ent *m = w->n < PT_PY_MEMO ? &t_memo.e[w->n] : NULL;
	if (m && memo_match(m, f)) {
		PT_MARK(py_walk_memo_hit);
		w->out[w->n++] = m->out;
		return w->n >= w->max ? 1 : 0;
	}
	struct cached c;
	bool hit = cache_get(f, &c);
	bool looked_up = false;
	int line = f->line;
	uint32_t frame_id = 0;

	if (line <= 0) {
		if (hit && c.addrq == f->addrq) {
			line = c.line;
			frame_id = c.frame_id;
			PT_MARK(py_line_cache_hit);
		} else if (hit && line_get(f, &line, &frame_id)) {
			PT_MARK(py_line_memo_hit);
		} else {
			line = g_rt.addr2line((void *)f->code, f->addrq);
			looked_up = true;
		}
	}
	if (line > 0 &&
	    !(atomic_load_explicit(&g_checked, memory_order_relaxed) & CHK_FRAME)) {
		if (line < f->firstlineno)
			return PT_PYE_LINE;
		atomic_fetch_or_explicit(&g_checked, CHK_FRAME, memory_order_relaxed);
	}
	if (hit) {
		PT_MARK(py_name_cache_hit);
	} else {
		PT_MARK(py_name_cache_miss);
		int rc = intern_names(w, f, &c);
		if (rc < 0)
			return rc;
		if (c.file_id == 0 || c.func_id == 0)
			PT_MARK(py_intern_failed);
	}
	uint32_t out_line = line > 0 ? (uint32_t)line : 0;
	if (frame_id == 0 && w->frame && c.file_id != 0 && c.func_id != 0)
		frame_id = w->frame(c.file_id, c.func_id, out_line, w->ctx);
	if (f->line <= 0) {
		/* f->line (tracing) is not what the line table says: cached
		 * lines come from the table only */
		if (hit && looked_up && line > 0)
			line_put(f, line, frame_id);
		if (c.file_id != 0 && c.func_id != 0 &&
		    (!hit || c.addrq != f->addrq || c.frame_id != frame_id)) {
			c.addrq = f->addrq;
			c.line = line;
			c.frame_id = frame_id;
			cache_put(f, &c);
		}
	} else if (!hit && c.file_id != 0 && c.func_id != 0) {
		c.addrq = INT32_MIN;
		c.line = line;
		c.frame_id = 0;
		cache_put(f, &c);
	}
	struct pt_pyframe *o = &w->out[w->n++];
	o->file_id = c.file_id;
	o->func_id = c.func_id;
	o->line = out_line;
	o->frame_id = frame_id;
	if (m) {
		if (f->line <= 0 && c.file_id != 0 && c.func_id != 0 &&
		    (frame_id != 0 || !w->frame)) {
			*m = (struct memo_ent){ f->code, f->filename, f->funcname,
						f->firstlineno, f->addrq, f->ident, *o };
		} else {
			m->code = NULL;
		}
	}
	return w->n >= w->max ? 1 : 0;
}

static const char *err_text(int err)
{
	switch (err) {
	case PT_PYE_CODE_TYPE:
		return "a frame's code is not a code object";
	case PT_PYE_FRAME_TYPE:
		return "a frame is not a frame object";
	case PT_PYE_LOOP:
		return "the frame chain loops";
	case PT_PYE_OFFSET:
		return "an instruction position lies outside its code";
	case PT_PYE_STR:
		return "a name is not a compact str object";
	case PT_PYE_OWNER:
		return "a frame has an unknown owner";
	case PT_PYE_LINE:
		return "a line number precedes its code's first line";
	case PT_PYE_FAILPOINT:
		return "failpoint py_walk_invalid fired";
	default:
		return "unknown check";
	}
}

/* Moves ON -> DISABLED. Returns -EPROTO for the one caller that made the
 * move, 0 for the others. Async-signal-safe. */
static int disable(const char *detail)
{
	int expect = WS_ON;
	if (!atomic_compare_exchange_strong_explicit(&g_ws, &expect, WS_DISABLING,
						     memory_order_acq_rel,
						     memory_order_relaxed))
		return 0;
	struct pt_buf b;
	pt_buf_init(&b, g_disable, sizeof g_disable);
	pt_buf_puts(&b, "python ");
	pt_buf_puts(&b, g_version);
	pt_buf_puts(&b, " stacks disabled: the 3.");
	pt_buf_putu(&b, g_reader->minor);
	pt_buf_puts(&b, " reader's run-time check failed (");
	pt_buf_puts(&b, detail);
	pt_buf_puts(&b, "); allocations are recorded without python frames");
	atomic_store_explicit(&g_ws, WS_DISABLED, memory_order_release);
	PT_MARK(py_walk_disabled);
	return -EPROTO;
}

const char *pt_py_disable_reason(void)
{
	if (atomic_load_explicit(&g_ws, memory_order_acquire) != WS_DISABLED)
		return NULL;
	return g_disable;
}

static int walk(struct pt_pyframe *out, int max, pt_py_intern_fn intern,
		pt_py_frame_fn frame, void *ctx)
{
	const struct pt_pyreader *rd = g_reader;
	void *ts = g_rt.this_tstate();

	if (ts == NULL) {
		PT_MARK(py_walk_no_tstate);
		return 0;
	}
	/* finalization frees other threads' states under their feet */
	if (g_rt.is_finalizing() && rd->finalizing(&g_rt) != ts) {
		PT_MARK(py_walk_finalizing_other);
		return 0;
	}
	if (!(atomic_load_explicit(&g_checked, memory_order_relaxed) & CHK_TSTATE)) {
		char why[160];
		struct pt_buf b;
		pt_buf_init(&b, why, sizeof why);
		if (rd->check_tstate(&g_rt, ts, &b) < 0)
			return disable(why);
		atomic_fetch_or_explicit(&g_checked, CHK_TSTATE, memory_order_relaxed);
		PT_MARK(py_walk_tstate_checked);
	}
	if (rd->thread_id(ts) != (unsigned long)pthread_self()) {
		/* a stale mapping (subinterpreter, fork child before the fix-up):
		 * not this thread's stack */
		PT_MARK(py_walk_thread_mismatch);
		return 0;
	}
	if (PT_FAIL(py_walk_invalid))
		return disable(err_text(PT_PYE_FAILPOINT));

	memo_sync_epoch();
	struct walk w = { .out = out, .max = max, .n = 0, .intern = intern,
			  .frame = frame, .ctx = ctx, .rd = rd };
	int rc = rd->walk(&g_rt, ts, 2 * max + 256, emit, &w);
	if (rc < 0)
		return disable(err_text(rc));
	PT_ENSURE(w.n >= 0 && w.n <= max);
	return w.n;
}

int pt_py_walk(struct pt_pyframe *out, int max, pt_py_intern_fn intern,
	       pt_py_frame_fn frame, void *ctx)
{
	if (atomic_load_explicit(&g_ws, memory_order_acquire) != WS_ON)
		return 0;
	if (PT_NEVER(out == NULL || intern == NULL) || max <= 0)
		return 0;
	if (max > (1 << 20))
		max = 1 << 20; /* keeps 2 * max + 256 an int */
	int saved = errno;
	int n = walk(out, max, intern, frame, ctx);
	errno = saved;
	return n;
}

/* ---- probe -------------------------------------------------------------- */

struct pyver {
	unsigned major, minor, micro;
	bool known;
};

/* Parses "3.12.1..." (the token up to the first space; letters may follow
 * the minor number, as in "3.13.0rc1") into v, and copies the token into
 * text[0..cap) when text is not NULL. */
static void parse_version(const char *s, struct pyver *v, char *text, size_t cap)
{
	size_t n = 0;
	unsigned part[3] = { 0, 0, 0 };
	int idx = 0, digits = 0;

	while (s[n] != '\0' && s[n] != ' ' && n < 31) {
		char c = s[n];
		if (c >= '0' && c <= '9') {
			if (idx < 3 && part[idx] < 100000)
				part[idx] = part[idx] * 10 + (unsigned)(c - '0');
			digits++;
		} else if (c == '.') {
			idx++;
		} else if (idx < 2) {
			break;
		}
		n++;
	}
	if (text != NULL && cap > 0) {
		size_t k = n < cap - 1 ? n : cap - 1;
		memcpy(text, s, k);
		text[k] = '\0';
	}
	v->major = part[0];
	v->minor = part[1];
	v->micro = part[2];
	v->known = digits > 0 && idx >= 1;
}

static void version_from_hex(unsigned long hex, struct pyver *v)
{
	struct pt_buf b;
	pt_buf_init(&b, g_version, sizeof g_version);
	v->major = (unsigned)(hex >> 24) & 0xff;
	v->minor = (unsigned)(hex >> 16) & 0xff;
	v->micro = (unsigned)(hex >> 8) & 0xff;
	v->known = true;
	pt_buf_putu(&b, v->major);
	pt_buf_putc(&b, '.');
	pt_buf_putu(&b, v->minor);
	pt_buf_putc(&b, '.');
	pt_buf_putu(&b, v->micro);
	unsigned level = (unsigned)(hex >> 4) & 0xf, serial = (unsigned)hex & 0xf;
	if (level == 0xa || level == 0xb || level == 0xc) {
		pt_buf_puts(&b, level == 0xa ? "a" : level == 0xb ? "b" : "rc");
		pt_buf_putu(&b, serial);
	}
}

const char *pt_py_readers_built(void)
{
	if (g_readers[0] == '\0') {
		char tmp[sizeof g_readers];
		struct pt_buf b;
		pt_buf_init(&b, tmp, sizeof tmp);
		for (size_t i = 0; pt_pyreaders[i] != NULL; i++) {
			if (i)
				pt_buf_puts(&b, ", ");
			pt_buf_puts(&b, "3.");
			pt_buf_putu(&b, pt_pyreaders[i]->minor);
		}
		if (b.len == 0)
			pt_buf_puts(&b, "no python version");
		memcpy(g_readers, tmp, sizeof g_readers);
	}
	return g_readers;
}

const char *pt_py_version(void)
{
	return g_version;
}

static const struct pt_pyreader *reader_for(unsigned minor)
{
	for (size_t i = 0; pt_pyreaders[i] != NULL; i++)
		if (pt_pyreaders[i]->minor == minor)
			return pt_pyreaders[i];
	return NULL;
}

static void why_tail(struct pt_buf *b)
{
	pt_buf_puts(b, " or set PEAKTRACE_ON_ENV_ERROR=disable");
}

static int unsupported_no_reader(const struct pyver *v, const char *forced)
{
	struct pt_buf b;
	pt_buf_init(&b, g_why, sizeof g_why);
	pt_buf_puts(&b, "python ");
	pt_buf_puts(&b, g_version);
	pt_buf_puts(&b, " is running but this peaktrace was built with readers for ");
	pt_buf_puts(&b, pt_py_readers_built());
	if (forced != NULL) {
		pt_buf_puts(&b, " (no reader for the forced ");
		pt_buf_puts(&b, forced);
		pt_buf_puts(&b, ")");
	} else if (v->major == 3 && v->minor >= PT_PY_MINOR_FIRST &&
		   v->minor <= PT_PY_MINOR_LAST) {
		pt_buf_puts(&b, " (no reader for 3.");
		pt_buf_putu(&b, v->minor);
		pt_buf_puts(&b, ")");
	}
	if (v->major == 3 && v->minor >= PT_PY_MINOR_FIRST) {
		/* 3.X beyond the reader sources needs a new reader_3X.c as well */
		pt_buf_puts(&b, "; rebuild peaktrace against python ");
		pt_buf_putu(&b, v->major);
		pt_buf_putc(&b, '.');
		pt_buf_putu(&b, v->minor);
		pt_buf_puts(&b, " headers");
		if (v->minor > PT_PY_MINOR_LAST)
			pt_buf_puts(&b, " (with a peaktrace release that supports it)");
	} else {
		pt_buf_puts(&b, "; python versions before 3.9 are not supported: run the job"
				" on python 3.9 to 3.13");
	}
	why_tail(&b);
	return PT_PY_UNSUPPORTED;
}

static int unsupported_layout(const struct pt_pyreader *rd, const char *detail)
{
	struct pt_buf b;
	pt_buf_init(&b, g_why, sizeof g_why);
	pt_buf_puts(&b, "python ");
	pt_buf_puts(&b, g_version);
	pt_buf_puts(&b, " is running but does not match the layout of the python ");
	pt_buf_puts(&b, rd->headers);
	pt_buf_puts(&b, " headers peaktrace's 3.");
	pt_buf_putu(&b, rd->minor);
	pt_buf_puts(&b, " reader was built with (");
	pt_buf_puts(&b, detail);
	pt_buf_puts(&b, "); rebuild peaktrace against python ");
	pt_buf_puts(&b, g_version);
	pt_buf_puts(&b, " headers");
	why_tail(&b);
	return PT_PY_UNSUPPORTED;
}

static int unsupported_msg(const char *what, const char *todo)
{
	struct pt_buf b;
	pt_buf_init(&b, g_why, sizeof g_why);
	pt_buf_puts(&b, "python ");
	pt_buf_puts(&b, g_version);
	pt_buf_puts(&b, what);
	pt_buf_puts(&b, "; ");
	pt_buf_puts(&b, todo);
	why_tail(&b);
	return PT_PY_UNSUPPORTED;
}

static void *sym(const char *name)
{
	return dlsym(RTLD_DEFAULT, name);
}

/* Resolves, checks and publishes. Runs under g_probing. */
static int probe_locked(const char *fake_version, const char *force_reader,
			unsigned flags)
{
	void *this_tstate = sym("PyGILState_GetThisThreadState");
	if (this_tstate == NULL)
		return PT_PY_NONE;

	struct pt_pyrt rt;
	memset(&rt, 0, sizeof rt);
	rt.this_tstate = (void *(*)(void))this_tstate;

	struct pyver v;
	const unsigned long *py_version = sym("Py_Version");
	if (py_version != NULL)
		rt.hexversion = *py_version;
	if (fake_version != NULL) {
		parse_version(fake_version, &v, g_version, sizeof g_version);
	} else if (py_version != NULL) {
		version_from_hex(*py_version, &v);
	} else {
		/* 3.9/3.10: formats into a static buffer; called once, here */
		const char *(*get_version)(void) =
			(const char *(*)(void))sym("Py_GetVersion");
		if (get_version == NULL)
			return PT_PY_NONE;
		parse_version(get_version(), &v, g_version, sizeof g_version);
	}
	if (!v.known)
		return unsupported_msg(" is running but its version could not be parsed",
				       "report this to the peaktrace developers");

	if (sym("_Py_NegativeRefcount") != NULL)
		return unsupported_msg(" is a debug build (--with-pydebug), whose object"
				       " layout peaktrace cannot read",
				       "run the job on a release build of python");

	const struct pt_pyreader *rd = NULL;
	if (force_reader != NULL) {
		struct pyver f;
		parse_version(force_reader, &f, NULL, 0);
		if (f.known && f.major == 3)
			rd = reader_for(f.minor);
		if (rd == NULL)
			return unsupported_no_reader(&v, force_reader);
		PT_MARK(py_probe_forced_reader);
	} else if (v.major == 3) {
		rd = reader_for(v.minor);
	}
	if (rd == NULL)
		return unsupported_no_reader(&v, NULL);

	static const char *const needed[] = {
		"_PyRuntime", "PyCode_Type", "PyUnicode_Type", "PyFrame_Type",
		"_Py_NoneStruct", "PyThreadState_GetInterpreter", "PyCode_Addr2Line",
	};
	void *found[sizeof needed / sizeof needed[0]];
	for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++) {
		found[i] = sym(needed[i]);
		if (found[i] == NULL) {
			char what[128];
			struct pt_buf b;
			pt_buf_init(&b, what, sizeof what);
			pt_buf_puts(&b, " is running but its symbol '");
			pt_buf_puts(&b, needed[i]);
			pt_buf_puts(&b, "' was not found");
			return unsupported_msg(what, "report this to the peaktrace developers");
		}
	}
	rt.runtime = found[0];
	rt.code_type = found[1];
	rt.unicode_type = found[2];
	rt.frame_type = found[3];
	rt.none = found[4];
	rt.tstate_interp = (void *(*)(void *))found[5];
	rt.addr2line = (int (*)(void *, int))found[6];
	/* Py_IsFinalizing is public from 3.13; _Py_IsFinalizing before */
	void *fin = sym(v.major == 3 && v.minor >= 13 ? "Py_IsFinalizing" : "_Py_IsFinalizing");
	if (fin == NULL)
		fin = sym(v.major == 3 && v.minor >= 13 ? "_Py_IsFinalizing" : "Py_IsFinalizing");
	if (fin == NULL)
		return unsupported_msg(" is running but neither Py_IsFinalizing nor"
				       " _Py_IsFinalizing was found",
				       "report this to the peaktrace developers");
	rt.is_finalizing = (int (*)(void))fin;

	char detail[192];
	struct pt_buf b;
	pt_buf_init(&b, detail, sizeof detail);
	int rc = flags & PT_PY_TEST_NO_PROBE_CHECKS ? 0 : rd->check_probe(&rt, &b);
	if (rc == PT_PY_CHECK_BUILD) {
		char what[224];
		struct pt_buf w;
		pt_buf_init(&w, what, sizeof what);
		pt_buf_puts(&w, " is running but ");
		pt_buf_puts(&w, detail);
		return unsupported_msg(what, "run the job on a default (GIL, release) build of"
				       " python");
	}
	if (rc < 0) {
		PT_MARK(py_probe_layout_mismatch);
		return unsupported_layout(rd, detail);
	}

	g_rt = rt;
	g_reader = rd;
	atomic_store_explicit(&g_checked, 0, memory_order_relaxed);
	atomic_store_explicit(&g_ws, WS_ON, memory_order_release);
	return PT_PY_OK;
}

static int probe(const char *fake_version, const char *force_reader, unsigned flags,
		 bool reset, const char **why)
{
	int idle = 0;
	if (why != NULL)
		*why = "";
	if (!atomic_compare_exchange_strong(&g_probing, &idle, 1))
		return PT_PY_NONE;
	if (reset) {
		atomic_store(&g_ws, WS_OFF);
		atomic_store(&g_status, PT_PY_NONE);
		g_reader = NULL;
		g_version[0] = '\0';
		g_why[0] = '\0';
		g_disable[0] = '\0';
		pt_py_names_flush();
	}
	int st = atomic_load(&g_status);
	if (st == PT_PY_NONE) {
		st = probe_locked(fake_version, force_reader, flags);
		atomic_store(&g_status, st);
	}
	if (why != NULL && st == PT_PY_UNSUPPORTED)
		*why = g_why;
	atomic_store(&g_probing, 0);
	return st;
}

int pt_py_probe(const char **why)
{
	return probe(NULL, NULL, 0, false, why);
}

int pt_py_probe_for_tests(const char *fake_version, const char *force_reader,
			  unsigned flags, const char **why)
{
	return probe(fake_version, force_reader, flags, true, why);
}
