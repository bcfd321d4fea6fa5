/*
 * writer.c: the writer thread. It drains the event ring in position order,
 * writes definitions (strings, Python frames, stacks, modules, thread
 * names) the first time an event refers to them, adds memory ticks for the
 * timeline (every 50 ms) and the PEAK record at the point of the event
 * stream where the peak happened, and writes sealed chunks to
 * PEAKTRACE_OUT/peaktrace-PID.ptrace (every 100 ms, when a chunk is full,
 * and at exit), so a process killed at any moment leaves a trace that
 * decodes up to its last whole chunk.
 *
 * Application threads never wait for it: they push into the ring, and a
 * full ring is a counted drop. The writer never takes a lock an application
 * thread could hold; it calls dl_iterate_phdr (the loader's lock) from its
 * own thread only. Its own allocations (there should be none) pass through
 * unprofiled: its pt_tls.busy stays raised.
 *
 * Failure: a failed open stops the program at start-up (or disables
 * profiling, per PEAKTRACE_ON_ENV_ERROR); a failed write (disk full, I/O
 * error) trips the kill-switch with the reason; what was written before
 * stays decodable.
 *
 * Memory: one 256 KiB chunk buffer and the "emitted" bitmaps, all mmap'd.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "contracts/contracts.h"
#include "contracts/covmarks.h"
#include "contracts/fmt.h"
#include "core/elfnote.h"
#include "core/encoder.h"
#include "core/fd.h"
#include "core/guard.h"
#include "core/pyglue.h"
#include "core/runtime.h"
#include "peaktrace/fp.h"

#include "contracts/banned.h"

#define CHUNK_CAP (256u * 1024u)
#define TICK_NS (50u * 1000000u)
#define FLUSH_NS (100u * 1000000u)
#define MODULES_NS (100u * 1000000u)
#define MAX_MODULES 4096
#define WRITER_STACK ((size_t)512 * 1024)

atomic_int pt_writer_running;

static struct {
	int fd;                     /* -1 when closed or failed */
	char path[1200];
	uint8_t *buf;               /* CHUNK_CAP bytes */
	struct pt_enc enc;
	uint32_t seq;               /* next chunk sequence number */
	pthread_t thread;
	atomic_int stop;            /* ask the thread to finish */
	atomic_int done;            /* the final chunk is written */
	atomic_int child_claim;     /* one thread starts a fork child's writer */
	uint8_t *emitted_stacks, *emitted_strings, *emitted_pyframes; /* bitmaps */
	uint64_t last_tick, last_flush, last_modules, last_drops, last_alone_check;
	uint64_t peak_emitted;      /* bytes of the last PEAK written */
	unsigned peak_seq_seen;
	unsigned peak_seq_emitted;  /* peak_seq of the last PEAK written */
	uint64_t peak_pos, peak_t, peak_bytes; /* latest peak read */
	unsigned long long dl_adds;
	uint64_t module_key[MAX_MODULES]; /* mod_key of each module written */
	uint32_t nmodules;
	char tripped[256];
	atomic_int trip_pending;
	dev_t dev;                  /* identity of the trace file, checked */
	ino_t ino;                  /*   before every chunk write */
	uint64_t written;           /* bytes written to the file */
	uint64_t next_coarser;      /* written bytes at which sampling coarsens */
	size_t next_live_coarser;   /* live samples at which sampling coarsens */
	int over_budget;            /* the trace reached max_trace_bytes */
	int saw_alloc;              /* an ALLOC record was written */
	int file_failed;            /* creating the file failed (switch tripped) */
	atomic_int pause;           /* pt_writer_pause: leave without END */
	atomic_int parked;          /* pt_writer_park: paused, to start again at
				       the next sample (pt_writer_child_start)
				       or finish inline (pt_writer_stop) */
	atomic_int tid;             /* the writer thread's kernel id */
	atomic_uint flush_req;      /* pt_writer_flush_now: requests made ... */
	atomic_uint flush_done;     /* ... and served */
} W = { .fd = -1 };

static size_t bitmap_bytes(const struct pt_intern *t)
{
	return ((size_t)t->max_ids + 7) / 8;
}

static bool bit_test_set(uint8_t *map, uint32_t id)
{
	uint8_t m = (uint8_t)(1u << (id & 7));
	bool was = map[id >> 3] & m;
	map[id >> 3] |= m;
	return was;
}

/* ---- chunk output ------------------------------------------------------ */

/* True while W.fd is still the trace file we created: the program may
 * close our descriptor (daemons close them all) and get the number back
 * for a file of its own; then it must be neither written nor closed. */
static bool still_our_file(void)
{
	return pt_fd_is(W.fd, W.dev, W.ino);
}

/* Closes the trace's descriptor, unless it is no longer ours. */
static void close_trace_fd(void)
{
	if (W.fd >= 0 && still_our_file())
		close(W.fd);
	W.fd = -1;
}

static void write_fail(const char *what, int err)
{
	char msg[256];
	struct pt_buf b;
	pt_buf_init(&b, msg, sizeof msg);
	pt_buf_puts(&b, "cannot ");
	pt_buf_puts(&b, what);
	pt_buf_puts(&b, " trace '");
	pt_buf_puts(&b, W.path);
	pt_buf_puts(&b, "': ");
	const char *e = strerrordesc_np(err);
	pt_buf_puts(&b, e ? e : "unknown error");
	close_trace_fd();
	pt_ks_trip(b.p);
}

static int write_all(const void *p1, size_t n1, const void *p2, size_t n2)
{
	struct iovec iov[2] = { { (void *)p1, n1 }, { (void *)p2, n2 } };
	int cnt = 2;
	struct iovec *v = iov;
	while (cnt > 0) {
		if (PT_FAIL(writer_write)) {
			errno = EIO;
			return -EIO;
		}
		ssize_t w = writev(W.fd, v, cnt);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		size_t left = (size_t)w;
		while (cnt > 0 && left >= v->iov_len) {
			left -= v->iov_len;
			v++;
			cnt--;
		}
		if (cnt > 0) {
			v->iov_base = (char *)v->iov_base + left;
			v->iov_len -= left;
		}
	}
	return 0;
}

static int create_file(void);


/* The trace file is created lazily: when the first sampled allocation is
 * about to be written, when a chunk is full, once the process has run
 * LAZY_OPEN_NS, or at exit. So every profiled process that exits leaves
 * its trace, but an image that execs another program before sampling
 * anything (a wrapper script, pyenv's shims) leaves none: the program it
 * execs writes the trace under the same pid. */
#define LAZY_OPEN_NS (2000ull * 1000000ull)
enum flush_why { FLUSH_DUE, FLUSH_FULL, FLUSH_FINAL };

/* The trace size budget (DESIGN.md "Bounded"): from half the budget on,
 * every further eighth doubles the sampling interval (fewer, heavier
 * samples; weights stay unbiased since each uses the interval it was
 * drawn with, but for the draws straddling a change); at the budget the
 * writer stops writing events, counts them as drops, and keeps room for
 * the trace's end. */
static bool coarser(void)
{
	uint64_t s = pt_sample_bytes();
	if (pt_g.cfg.mode != PT_MODE_SAMPLED || s >= (1ull << 40))
		return false;
	__atomic_store_n(&pt_g.cfg.sample_bytes, s * 2, __ATOMIC_RELAXED);
	atomic_fetch_add(&pt_g.gen, 1); /* threads redraw their countdowns */
	return true;
}

static void budget_check(void)
{
	uint64_t budget = pt_g.cfg.max_trace_bytes;
	if (!W.next_coarser)
		W.next_coarser = budget / 2;
	while (W.written >= W.next_coarser && W.next_coarser < budget) {
		if (coarser())
			PT_MARK(trace_budget_coarser);
		W.next_coarser += budget / 8;
	}
}

/* The live table's bound (DESIGN.md "Bounded"): linear probing with
 * tombstones stays short only while live samples hold at most about a
 * quarter of the slots (core/live.c). From there on, every further
 * sixteenth of the slots doubles the sampling interval, so a growing heap
 * gets fewer, heavier samples instead of a full table. */
static void live_check(void)
{
	size_t slots = pt_g.live.mask + 1;
	if (pt_g.cfg.mode != PT_MODE_SAMPLED || !pt_g.live.slots)
		return;
	if (!W.next_live_coarser)
		W.next_live_coarser = slots / 4;
	size_t live = atomic_load_explicit(&pt_g.live.live, memory_order_relaxed);
	while (live >= W.next_live_coarser && W.next_live_coarser < slots) {
		if (coarser())
			PT_MARK(live_table_coarser);
		W.next_live_coarser += slots / 16;
	}
}

/* True (for good) once the file plus the chunk being filled come within
 * 4 KiB of the budget: that reserve holds the trace's end. */
static bool at_budget(void)
{
	if (!W.over_budget && W.written + W.enc.len + 4096 >= pt_g.cfg.max_trace_bytes) {
		PT_MARK(trace_budget_reached);
		W.over_budget = 1;
	}
	return W.over_budget;
}

static void chunk_flush_why(enum flush_why why)
{
	if (W.enc.len == 0 || !W.buf)
		return;
	if (W.fd < 0 && !W.file_failed) {
		bool want = W.saw_alloc || why != FLUSH_DUE ||
			    pt_now_ns() - pt_g.start_mono_ns >= LAZY_OPEN_NS;
		if (!want)
			return; /* keep buffering */
		if (create_file() < 0)
			W.file_failed = 1;
	}
	if (W.fd >= 0 && !still_our_file()) {
		/* The program closed our descriptor (daemons close every fd)
		 * and the number may now be one of its own files: never write
		 * to it again. */
		PT_MARK(writer_fd_taken);
		W.fd = -1;
		W.file_failed = 1;
		pt_ks_trip("the trace file's descriptor was closed by the program");
	}
	if (W.fd >= 0) {
		uint8_t hdr[PT_FMT_CHUNK_HEADER_LEN];
		pt_chunk_seal(hdr, W.enc.p, W.enc.len, W.seq);
		int rc = PT_FAIL(writer_flush) ? -ENOSPC
					       : write_all(hdr, sizeof hdr, W.enc.p, W.enc.len);
		if (rc < 0) {
			write_fail("write", -rc);
		} else {
			W.seq++;
			W.written += sizeof hdr + W.enc.len;
			budget_check();
		}
	}
	pt_enc_init(&W.enc, W.buf, CHUNK_CAP);
}

static void chunk_flush(void)
{
	chunk_flush_why(FLUSH_FULL);
}

/* Runs an encoder call; when the chunk is full, seals it and retries once in
 * a fresh chunk. */
#define EMIT(call)                                                             \
	do {                                                                   \
		if ((call) == -ENOSPC) {                                       \
			chunk_flush();                                         \
			(void)(call);                                          \
		}                                                              \
	} while (0)

/* ---- definitions ------------------------------------------------------- */

static void emit_string(uint32_t id)
{
	if (!id || bit_test_set(W.emitted_strings, id))
		return;
	const struct pt_blob *b = pt_intern_get(&pt_g.strings, id);
	if (!b)
		return;
	EMIT(pt_enc_string(&W.enc, id, (const char *)b->data, b->len));
}

static uint32_t intern_cstr(const char *s, size_t n)
{
	return pt_intern_put(&pt_g.strings, s, (uint32_t)n);
}

static void emit_pyframe(uint32_t id)
{
	if (!id || bit_test_set(W.emitted_pyframes, id))
		return;
	const struct pt_blob *b = pt_intern_get(&pt_g.pyframes, id);
	if (!b || b->len != 3 * sizeof(uint32_t))
		return;
	uint32_t t[3];
	memcpy(t, b->data, sizeof t);
	emit_string(t[0]);
	emit_string(t[1]);
	EMIT(pt_enc_pyframe(&W.enc, id, t[0], t[1], t[2]));
}

static void emit_stack(uint32_t id)
{
	if (!id || bit_test_set(W.emitted_stacks, id))
		return;
	const struct pt_blob *b = pt_intern_get(&pt_g.stacks, id);
	if (!b)
		return;
	uint32_t n = b->len / sizeof(uint64_t);
	uint64_t frames[PT_MAX_STACK_DEPTH + PT_PY_MAX_FRAMES + 1];
	if (n > sizeof frames / sizeof frames[0])
		n = sizeof frames / sizeof frames[0];
	memcpy(frames, b->data, n * sizeof(uint64_t));
	for (uint32_t i = 0; i < n; i++)
		if (pt_frame_is_py(frames[i]))
			emit_pyframe((uint32_t)pt_frame_value(frames[i]));
	EMIT(pt_enc_stack(&W.enc, id, frames, n));
}

static void read_small_file(const char *path, char *out, size_t cap, size_t *len)
{
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	while (*len < cap) {
		ssize_t r = read(fd, out + *len, cap - *len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		*len += (size_t)r;
	}
	close(fd);
}

static void emit_thread(const struct pt_event *ev)
{
	char name[16];
	memcpy(name, &ev->addr, 8);
	memcpy(name + 8, &ev->size, 8);
	size_t n = strnlen(name, sizeof name);
	EMIT(pt_enc_thread(&W.enc, ev->tid, name, n));
}

struct mod_scan {
	char exe[1024];
	size_t exe_len;
	bool first_seen;  /* the first object (the executable) was seen */
};

/* The GNU build-id of a loaded object, read from its notes in memory.
 * The loader maps PT_NOTE segments inside a PT_LOAD one; a note is read
 * only when it lies wholly inside both a PT_NOTE segment and a readable
 * PT_LOAD's file-backed part, and the object cannot be unloaded meanwhile
 * (dl_iterate_phdr holds the loader's lock). Returns the id's length, 0
 * when the object has none (or a longer one than cap). */
static size_t module_build_id(const struct dl_phdr_info *info, uint8_t *out,
			      size_t cap)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		bool mapped = false;
		for (int j = 0; j < info->dlpi_phnum; j++) {
			const ElfW(Phdr) *ld = &info->dlpi_phdr[j];
			if (ld->p_type == PT_LOAD && (ld->p_flags & PF_R) &&
			    ph->p_vaddr >= ld->p_vaddr &&
			    ph->p_vaddr - ld->p_vaddr <= ld->p_filesz &&
			    ph->p_filesz <= ld->p_filesz - (ph->p_vaddr - ld->p_vaddr))
				mapped = true;
		}
		if (!mapped)
			continue;
		size_t n = pt_note_build_id(
			(const uint8_t *)(info->dlpi_addr + ph->p_vaddr),
			ph->p_filesz, ph->p_align, out, cap);
		if (n)
			return n;
	}
	return 0;
}

/* What tells two loaded objects apart: a library unloaded and another
 * (or a rebuilt one) loaded at its place gets a MODULE record of its own. */
static uint64_t mod_key(uint64_t lo, uint64_t hi, uint64_t bias,
			uint32_t path_sid, const uint8_t *bid, size_t bid_len)
{
	uint64_t k[4] = { lo, hi, bias, path_sid };
	return pt_hash_bytes(k, sizeof k) ^ pt_hash_bytes(bid, bid_len) * 3;
}

/* A loaded object as a MODULE record describes it. */
struct mod_info {
	uint64_t lo, hi, bias;
	size_t bid_len;
	uint8_t bid[PT_FMT_MAX_BUILD_ID];
};

/* false for an object with no PT_LOAD segment */
static bool mod_info_of(const struct dl_phdr_info *info, struct mod_info *mi)
{
	mi->lo = UINT64_MAX;
	mi->hi = 0;
	mi->bias = info->dlpi_addr;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uint64_t a = info->dlpi_addr + ph->p_vaddr;
		if (a < mi->lo)
			mi->lo = a;
		if (a + ph->p_memsz > mi->hi)
			mi->hi = a + ph->p_memsz;
	}
	if (mi->hi == 0)
		return false;
	mi->bid_len = module_build_id(info, mi->bid, sizeof mi->bid);
	return true;
}

/* Writes a MODULE record for mi at path, unless one was written. */
static void emit_module(const struct mod_info *mi, const char *path, size_t plen)
{
	uint32_t sid = intern_cstr(path, plen);
	uint64_t key = mod_key(mi->lo, mi->hi, mi->bias, sid, mi->bid, mi->bid_len);
	for (uint32_t i = 0; i < W.nmodules; i++)
		if (W.module_key[i] == key)
			return; /* already written */
	if (W.nmodules >= MAX_MODULES)
		return;
	emit_string(sid);
	W.module_key[W.nmodules++] = key;
	EMIT(pt_enc_module(&W.enc, W.nmodules, sid, mi->bias, mi->lo, mi->hi,
			   mi->bid, mi->bid_len));
}

static int module_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	struct mod_scan *ms = data;
	struct mod_info mi;
	const char *path = info->dlpi_name;
	size_t plen = path ? strlen(path) : 0;
	if (plen == 0) {
		if (ms->first_seen)
			return 0; /* the vdso or an anonymous object: nothing to read */
		path = ms->exe;
		plen = ms->exe_len;
	}
	ms->first_seen = true;
	if (plen == 0)
		return 0; /* /proc/self/exe unreadable (the main thread has
			     exited): a nameless record would hide the one
			     written before */
	if (mod_info_of(info, &mi))
		emit_module(&mi, path, plen);
	return 0;
}

/* ---- objects being unloaded ---------------------------------------------
 * The module list is read every 100 ms; a library loaded, used and
 * unloaded between two reads would leave its frames without a module. So
 * the dlclose shim describes the object before it goes (pt_writer_note_unload,
 * on the application's thread, which holds none of our locks: the
 * loader's lock is free to take), into one of a few slots the writer
 * empties into MODULE records. Slots: 0 free, 1 being filled, 2 ready, 3
 * being written. All slots busy: the object is not described (its frames
 * then show as addresses). */
#define UNLOAD_SLOTS 16

static struct unload_slot {
	atomic_int state;
	struct mod_info mi;
	size_t plen;
	char path[1024];
} unloads[UNLOAD_SLOTS];

struct unload_find {
	uintptr_t addr;         /* l_addr of the object */
	const char *name;       /* l_name */
	struct unload_slot *slot;
};

static int unload_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	struct unload_find *f = data;
	if (info->dlpi_addr != f->addr || !info->dlpi_name ||
	    strcmp(info->dlpi_name, f->name) != 0 || !info->dlpi_name[0])
		return 0;
	struct unload_slot *u = f->slot;
	if (!mod_info_of(info, &u->mi))
		return 1;
	u->plen = strnlen(info->dlpi_name, sizeof u->path);
	memcpy(u->path, info->dlpi_name, u->plen);
	return 2;
}

struct unload_arg {
	void *handle;
	int done;
};

static int note_unload_guarded(void *arg)
{
	struct unload_arg *a = arg;
	struct link_map *lm = NULL;
	if (dlinfo(a->handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm || !lm->l_name ||
	    !lm->l_name[0])
		return 0; /* not a handle of a loaded file (or the program's own) */
	struct unload_slot *u = NULL;
	for (int i = 0; i < UNLOAD_SLOTS && !u; i++) {
		int want = 0;
		if (atomic_compare_exchange_strong(&unloads[i].state, &want, 1))
			u = &unloads[i];
	}
	if (!u) {
		PT_MARK(writer_unload_slots_full);
		return 0;
	}
	struct unload_find f = { (uintptr_t)lm->l_addr, lm->l_name, u };
	int found = dl_iterate_phdr(unload_cb, &f);
	atomic_store_explicit(&u->state, found == 2 ? 2 : 0, memory_order_release);
	a->done = found == 2;
	return 0;
}

void pt_writer_note_unload(void *handle)
{
	if (!handle || !pt_ks_active() || !pt_walk_enter())
		return; /* off, or a fork is in progress */
	struct unload_arg a = { handle, 0 };
	(void)pt_guard_run(note_unload_guarded, &a);
	pt_walk_leave();
	if (a.done)
		PT_MARK(writer_unload_noted);
}

/* Writer: MODULE records for the objects described at their dlclose. */
static void emit_unloads(void)
{
	for (int i = 0; i < UNLOAD_SLOTS; i++) {
		struct unload_slot *u = &unloads[i];
		int want = 2;
		if (!atomic_compare_exchange_strong(&u->state, &want, 3))
			continue;
		if (!at_budget())
			emit_module(&u->mi, u->path, u->plen);
		atomic_store_explicit(&u->state, 0, memory_order_release);
	}
}

static int adds_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	*(unsigned long long *)data = info->dlpi_adds;
	return 1;
}

static void emit_modules(bool force)
{
	unsigned long long adds = 0;
	if (!pt_walk_enter())
		return; /* a fork is in progress: the loader's lock must be free */
	dl_iterate_phdr(adds_cb, &adds);
	if (!force && adds == W.dl_adds) {
		pt_walk_leave();
		return;
	}
	W.dl_adds = adds;
	struct mod_scan ms;
	ssize_t n = readlink("/proc/self/exe", ms.exe, sizeof ms.exe - 1);
	ms.exe_len = n > 0 ? (size_t)n : 0;
	ms.first_seen = false;
	dl_iterate_phdr(module_cb, &ms);
	pt_walk_leave();
}

/* ---- peak, ticks -------------------------------------------------------- */

static void read_peak(void)
{
	unsigned s = atomic_load_explicit(&pt_g.peak_seq, memory_order_acquire);
	if (s == W.peak_seq_seen || (s & 1))
		return;
	uint64_t pos = pt_g.peak_pos, t = pt_g.peak_t_ns;
	uint64_t bytes = (uint64_t)atomic_load_explicit(&pt_g.peak, memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&pt_g.peak_seq, memory_order_relaxed) != s)
		return; /* torn: read again on the next event */
	W.peak_seq_seen = s;
	W.peak_pos = pos;
	W.peak_t = t;
	W.peak_bytes = bytes;
}

static uint64_t rel_ns(uint64_t mono)
{
	return mono > pt_g.start_mono_ns ? mono - pt_g.start_mono_ns : 0;
}

/* Writes PEAK when the latest recorded peak lies at or before position pos
 * of the event stream. */
static void maybe_emit_peak(size_t pos)
{
	read_peak();
	if (W.peak_seq_seen != W.peak_seq_emitted && W.peak_pos <= pos) {
		EMIT(pt_enc_peak(&W.enc, rel_ns(W.peak_t), W.peak_bytes));
		W.peak_emitted = W.peak_bytes;
		W.peak_seq_emitted = W.peak_seq_seen;
	}
}

static void emit_tick(uint64_t now)
{
	int64_t heap = atomic_load_explicit(&pt_g.heap, memory_order_relaxed);
	int64_t mapped = atomic_load_explicit(&pt_g.mapped, memory_order_relaxed);
	int64_t peak = atomic_load_explicit(&pt_g.peak, memory_order_relaxed);
	EMIT(pt_enc_tick(&W.enc, rel_ns(now), heap > 0 ? (uint64_t)heap : 0,
			 mapped > 0 ? (uint64_t)mapped : 0, peak > 0 ? (uint64_t)peak : 0));
	W.last_tick = now;
}

static void emit_drops(void)
{
	uint64_t d = atomic_load_explicit(&pt_g.drops, memory_order_relaxed);
	if (d != W.last_drops) {
		EMIT(pt_enc_drops(&W.enc, d));
		W.last_drops = d;
	}
}

static void emit_trip_if_any(void)
{
	if (atomic_exchange(&W.trip_pending, 0)) {
		size_t n = strnlen(W.tripped, sizeof W.tripped);
		EMIT(pt_enc_trip(&W.enc, W.tripped, n));
	}
}

/* ---- draining ----------------------------------------------------------- */

static void handle(const struct pt_event *ev, size_t pos)
{
	if (at_budget()) {
		atomic_fetch_add_explicit(&pt_g.drops, 1, memory_order_relaxed);
		return;
	}
	maybe_emit_peak(pos);
	switch (ev->kind) {
	case PT_EV_ALLOC:
		W.saw_alloc = 1;
		emit_stack(ev->stack);
		EMIT(pt_enc_alloc(&W.enc, ev->tid, ev->addr, ev->size, ev->weight, ev->stack));
		break;
	case PT_EV_FREE:
		EMIT(pt_enc_free(&W.enc, ev->addr));
		break;
	case PT_EV_THREAD:
		emit_thread(ev);
		break;
	default:
		break; /* a skipped cell */
	}
}

/* Drains up to max events; returns how many were handled. */
static size_t drain(size_t max)
{
	struct pt_event ev;
	size_t pos, n = 0;
	while (n < max && pt_ring_pop(&pt_g.ring, &ev, &pos)) {
		handle(&ev, pos);
		n++;
	}
	maybe_emit_peak(pt_g.ring.tail);
	return n;
}

static void sleep_ns(long ns)
{
	struct timespec ts = { 0, ns };
	nanosleep(&ts, NULL);
}

static void write_header(void)
{
	char cmdline[4096], exe[1024];
	size_t clen;
	read_small_file("/proc/self/cmdline", cmdline, sizeof cmdline, &clen);
	while (clen > 0 && cmdline[clen - 1] == '\0')
		clen--;
	for (size_t i = 0; i < clen; i++)
		if (cmdline[i] == '\0')
			cmdline[i] = ' ';
	ssize_t elen = readlink("/proc/self/exe", exe, sizeof exe);
	const char *pyv = pt_pyglue_version();
	struct pt_rec_header h = {
		.format_version = PT_FMT_VERSION,
		.pid = (uint32_t)getpid(),
		.ppid = (uint32_t)getppid(),
		.start_unix_ns = pt_g.start_unix_ns,
		.mode = pt_g.cfg.mode,
		.sample_bytes = pt_g.cfg.mode == PT_MODE_EXACT ? 0 : pt_g.cfg.sample_bytes,
		.page_size = (uint64_t)sysconf(_SC_PAGESIZE),
		.python_version = { pyv, (uint32_t)strlen(pyv) },
		.cmdline = { cmdline, (uint32_t)clen },
		.exe = { exe, elen > 0 ? (uint32_t)elen : 0 },
	};
	EMIT(pt_enc_header(&W.enc, &h));
}

static void final_flush(void)
{
	/* Whatever producers published; a cell claimed but never published
	 * (its thread was interrupted for good) is waited for briefly, then
	 * skipped. */
	for (int waited = 0;;) {
		drain(SIZE_MAX);
		if (!pt_ring_stalled(&pt_g.ring))
			break;
		if (waited++ > 50) {
			PT_MARK(writer_skipped_stalled_cell);
			pt_ring_skip(&pt_g.ring);
			waited = 0;
			continue;
		}
		sleep_ns(1000000);
	}
	pt_flush_delta();
	emit_unloads();
	emit_modules(false); /* modules loaded since the last scan (every 100 ms) */
	uint64_t now = pt_now_ns();
	emit_tick(now);
	read_peak();
	emit_drops();
	emit_trip_if_any();
	struct pt_rec_end end = {
		.t_ns = rel_ns(now),
		.peak_bytes = (uint64_t)atomic_load(&pt_g.peak),
		.peak_t_ns = rel_ns(W.peak_t),
		.total_allocs = atomic_load(&pt_g.total_allocs),
		.total_alloc_bytes = atomic_load(&pt_g.total_alloc_bytes),
	};
	EMIT(pt_enc_end(&W.enc, &end));
	chunk_flush_why(FLUSH_FINAL);
}

/* True when the writer is the process's last thread: the program's
 * threads all ended through pthread_exit (main included), which makes the
 * last of them call exit(0) in glibc, except that the writer counts as a
 * thread too. From /proc/self/stat: one thread, or two with the main
 * thread (the leader, whose state the file shows) a zombie, as it stays
 * until the others are gone. False when the file cannot be read. */
static struct {
	int fd;        /* /proc/self/stat, kept at a high number; -1: none */
	dev_t dev;
	ino_t ino;
} stat_file = { -1, 0, 0 };

/* The descriptor stays open (read again with pread) rather than opened
 * every 100 ms: each open would take the lowest free number for a moment,
 * under a program that closes its descriptors and reopens them. */
static int stat_fd(void)
{
	if (stat_file.fd >= 0 && pt_fd_is(stat_file.fd, stat_file.dev, stat_file.ino))
		return stat_file.fd;
	stat_file.fd = -1;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	fd = pt_fd_move_high(fd);
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -1;
	}
	stat_file.fd = fd;
	stat_file.dev = st.st_dev;
	stat_file.ino = st.st_ino;
	return fd;
}

/* From the text of /proc/self/stat: the thread count (field 20), the
 * process's state (field 3) in *state; -1 when the text is malformed. */
static int stat_threads(const char *buf, char *state)
{
	const char *p = strrchr(buf, ')'); /* comm may hold spaces and ')' */
	if (!p || p[1] != ' ')
		return -1;
	*state = p[2];
	for (int field = 2; field < 20 && *p; p++)
		if (*p == ' ')
			field++;
	int threads = 0;
	for (; *p >= '0' && *p <= '9'; p++)
		threads = threads * 10 + (*p - '0');
	return *p == ' ' && threads > 0 ? threads : -1;
}

int pt_proc_threads(void)
{
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char buf[1024], state = 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return stat_threads(buf, &state);
}

static bool writer_alone(void)
{
	int fd = stat_fd();
	if (fd < 0)
		return false;
	char buf[1024], state = 0;
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	int threads = stat_threads(buf, &state);
	return threads == 1 || (state == 'Z' && threads == 2);
}

static void *writer_main(void *arg)
{
	(void)arg;
	pt_tls.busy = 1; /* our own allocations, if any, pass through */
	prctl(PR_SET_NAME, "peaktrace-wr", 0, 0, 0);
	atomic_store_explicit(&W.tid, (int)syscall(SYS_gettid), memory_order_relaxed);
	bool exact = pt_g.cfg.mode == PT_MODE_EXACT;
	bool alone = false;
	while (!atomic_load_explicit(&W.stop, memory_order_acquire) &&
	       !atomic_load_explicit(&W.pause, memory_order_acquire)) {
		size_t n = drain(1u << 16);
		uint64_t now = pt_now_ns();
		if (now - W.last_tick >= TICK_NS && !W.over_budget) {
			pt_flush_delta();
			emit_tick(now);
		}
		if (now - W.last_modules >= MODULES_NS && !at_budget()) {
			emit_unloads();
			emit_modules(false);
			W.last_modules = now;
		}
		emit_trip_if_any();
		live_check();
		unsigned req = atomic_load_explicit(&W.flush_req, memory_order_acquire);
		if (req != atomic_load_explicit(&W.flush_done, memory_order_relaxed)) {
			/* everything pushed before the request, then a chunk */
			drain(SIZE_MAX); /* and the peak, if it was among them */
			pt_flush_delta();
			emit_tick(now);
			if (!at_budget()) {
				emit_unloads();
				emit_modules(false);
			}
			emit_drops();
			chunk_flush_why(FLUSH_FULL);
			W.last_flush = now;
			atomic_store_explicit(&W.flush_done, req, memory_order_release);
		}
		if (now - W.last_flush >= FLUSH_NS) {
			emit_drops();
			chunk_flush_why(FLUSH_DUE);
			W.last_flush = now;
		}
		if (W.file_failed && !pt_ks_active())
			break; /* write failed: the switch is tripped, nothing more to do */
		if (now - W.last_alone_check >= MODULES_NS) {
			W.last_alone_check = now;
			if (writer_alone()) {
				alone = true;
				break;
			}
		}
		if (n == 0)
			sleep_ns(exact ? 500000 : 5000000);
	}
	if (!alone && !atomic_load_explicit(&W.stop, memory_order_acquire)) {
		/* paused: everything so far into the file; the trace goes on
		 * when the writer starts again */
		drain(SIZE_MAX);
		chunk_flush_why(FLUSH_FULL);
		atomic_store_explicit(&W.done, 1, memory_order_release);
		return NULL;
	}
	if (alone) {
		/* The program is gone; finish its trace and leave: glibc then
		 * sees its last thread end and calls exit(0), as it would
		 * have without us (atexit handlers, stdio flushed). */
		PT_MARK(writer_last_thread);
		int expected = 2;
		atomic_compare_exchange_strong(&pt_g.phase, &expected, 3);
		pt_covmarks_dump_env();
	}
	if (!W.file_failed)
		final_flush();
	atomic_store_explicit(&W.done, 1, memory_order_release);
	if (alone)
		atomic_store_explicit(&pt_writer_running, 0, memory_order_release);
	return NULL;
}

/* ---- lifecycle ---------------------------------------------------------- */

/* "WHAT 'DIR': the error" into b; returns -e. */
static int dir_error(struct pt_buf *b, const char *what, const char *dir, int e)
{
	pt_buf_puts(b, what);
	pt_buf_puts(b, " '");
	pt_buf_puts(b, dir);
	pt_buf_puts(b, "': ");
	pt_buf_puts(b, e == ENOTDIR ? "not a directory"
		    : strerrordesc_np(e) ? strerrordesc_np(e) : "unknown error");
	return -e;
}

/* At start-up: the output directory exists (or is created) and a file
 * can be made in it, so a misconfiguration stops the job at once (fail
 * fast), not at its first sample. */
static int check_dir(char *err, size_t errlen)
{
	struct pt_buf b;
	const char *dir = pt_g.cfg.out_dir[0] ? pt_g.cfg.out_dir : ".";
	pt_buf_init(&b, err, errlen);
	if (PT_FAIL(writer_open)) {
		pt_buf_puts(&b, "cannot create traces in '");
		pt_buf_puts(&b, dir);
		pt_buf_puts(&b, "': failpoint writer_open");
		return -EIO;
	}
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return dir_error(&b, "cannot create output directory", dir, errno);
	struct stat st;
	if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
		return dir_error(&b, "cannot write traces to", dir, ENOTDIR);
	if (access(dir, W_OK | X_OK) != 0)
		return dir_error(&b, "cannot write traces to", dir, errno);
	/* access() says yes where creating a file fails (root on sysfs or
	 * procfs, a read-only bind mount seen as writable): make one, without
	 * a name where the file system can, and let it go at once */
	int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		char probe[1200];
		struct pt_buf pb;
		pt_buf_init(&pb, probe, sizeof probe);
		pt_buf_puts(&pb, dir);
		pt_buf_puts(&pb, "/.peaktrace-probe-");
		pt_buf_putu(&pb, (uint64_t)getpid());
		fd = open(pb.p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			unlink(pb.p);
	}
	if (fd < 0)
		return dir_error(&b, "cannot create traces in", dir, errno);
	close(fd);
	return 0;
}

/* Creates DIR/peaktrace-PID.ptrace (never overwriting: an existing name,
 * e.g. from the image before an exec, gets .1, .2, ...) and writes the
 * file header. On failure trips the kill-switch with the reason. Writer
 * thread only (or a fork child's first sample, before its writer runs). */
static int create_file(void)
{
	struct pt_buf b;
	const char *dir = pt_g.cfg.out_dir[0] ? pt_g.cfg.out_dir : ".";
	int fd = -1, e = 0;
	for (unsigned n = 0; n < 1000 && fd < 0; n++) {
		pt_buf_init(&b, W.path, sizeof W.path);
		pt_buf_puts(&b, dir);
		pt_buf_puts(&b, "/peaktrace-");
		pt_buf_putu(&b, (uint64_t)getpid());
		if (n) {
			pt_buf_putc(&b, '.');
			pt_buf_putu(&b, n);
		}
		pt_buf_puts(&b, ".ptrace");
		fd = open(W.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		e = errno;
		if (fd < 0 && e != EEXIST)
			break;
	}
	if (fd < 0) {
		write_fail("create", e);
		return -e;
	}
	/* Out of the way of the numbers programs use (they open the lowest
	 * free one): a program that closes every descriptor and opens files
	 * again is then unlikely to get ours back at all. */
	fd = pt_fd_move_high(fd);
	W.fd = fd;
	struct stat st;
	if (fstat(fd, &st) == 0) {
		W.dev = st.st_dev;
		W.ino = st.st_ino;
	}
	uint8_t fh[PT_FMT_FILE_HEADER_LEN];
	pt_enc_file_header(fh);
	int rc = write_all(fh, sizeof fh, NULL, 0);
	W.written = sizeof fh;
	if (rc < 0) {
		/* a file without even its header is no trace: do not leave it */
		unlink(W.path);
		write_fail("write", -rc);
		return rc;
	}
	PT_MARK(writer_file_created);
	return 0;
}

static int map_buffers(void)
{
	if (!W.buf)
		W.buf = pt_map_zeroed(CHUNK_CAP);
	if (!W.emitted_stacks)
		W.emitted_stacks = pt_map_zeroed(bitmap_bytes(&pt_g.stacks));
	if (!W.emitted_strings)
		W.emitted_strings = pt_map_zeroed(bitmap_bytes(&pt_g.strings));
	if (!W.emitted_pyframes)
		W.emitted_pyframes = pt_map_zeroed(bitmap_bytes(&pt_g.pyframes));
	if (!W.buf || !W.emitted_stacks || !W.emitted_strings || !W.emitted_pyframes)
		return -ENOMEM;
	pt_enc_init(&W.enc, W.buf, CHUNK_CAP);
	return 0;
}

int pt_writer_open(char *err, size_t errlen)
{
	if (map_buffers() < 0) {
		struct pt_buf b;
		pt_buf_init(&b, err, errlen);
		pt_buf_puts(&b, "cannot map the writer's buffers: out of memory");
		return -ENOMEM;
	}
	int rc = check_dir(err, errlen);
	if (rc < 0)
		return rc;
	W.saw_alloc = 0;
	W.file_failed = 0;
	write_header();
	emit_modules(true);
	W.last_modules = W.last_tick = W.last_flush = pt_now_ns();
	return 0;
}

int pt_writer_start(void)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	atomic_store(&W.stop, 0);
	atomic_store(&W.done, 0);
	/* A small stack: the default (8 MiB) is address space a program
	 * under RLIMIT_AS (ulimit -v) would miss; the writer's frames are
	 * shallow (a few KiB of buffers, libc, the loader's iteration). */
	pthread_attr_t attr;
	bool attr_ok = pthread_attr_init(&attr) == 0;
	if (attr_ok && pthread_attr_setstacksize(&attr, WRITER_STACK) != 0) {
		pthread_attr_destroy(&attr);
		attr_ok = false;
	}
	int rc = pthread_create(&W.thread, attr_ok ? &attr : NULL, writer_main, NULL);
	if (attr_ok)
		pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -rc;
	atomic_store_explicit(&pt_writer_running, 1, memory_order_release);
	return 0;
}

/* Waits for the writer's last chunk (2 s at most: never hang an exit, an
 * exec or a signal); true when it came. A plain flag poll, so this also
 * works from a signal handler. */
static bool wait_done(void)
{
	for (int i = 0; i < 2000 && !atomic_load_explicit(&W.done, memory_order_acquire); i++)
		sleep_ns(1000000);
	return atomic_load_explicit(&W.done, memory_order_acquire);
}

bool pt_writer_pause(void)
{
	if (!atomic_load_explicit(&pt_writer_running, memory_order_acquire) ||
	    pthread_equal(pthread_self(), W.thread))
		return false;
	atomic_store_explicit(&W.pause, 1, memory_order_release);
	if (!wait_done()) {
		atomic_store_explicit(&W.pause, 0, memory_order_release);
		return false; /* it did not stop: leave it running */
	}
	pthread_join(W.thread, NULL);
	atomic_store_explicit(&pt_writer_running, 0, memory_order_release);
	/* pthread_join returns once the thread has cleared its tid, before
	 * the kernel has taken it out of the thread group; the process is
	 * single-threaded (what the caller wants) once the kernel no longer
	 * finds it (50 ms at most) */
	pid_t pid = getpid();
	int tid = atomic_load_explicit(&W.tid, memory_order_relaxed);
	for (int i = 0; i < 50 && tid > 0 && syscall(SYS_tgkill, pid, tid, 0) == 0; i++) {
		PT_MARK(writer_pause_reaping);
		sleep_ns(1000000);
	}
	PT_MARK(writer_paused);
	return true;
}

bool pt_writer_park(void)
{
	if (!pt_writer_pause())
		return false;
	atomic_store_explicit(&W.parked, 1, memory_order_release);
	PT_MARK(writer_parked);
	return true;
}

/* The thread that takes W.parked from 1 to 0 restarts the writer or
 * finishes its trace; true for that thread. */
static bool unpark(void)
{
	int expected = 1;
	return atomic_load_explicit(&W.parked, memory_order_acquire) &&
	       atomic_compare_exchange_strong(&W.parked, &expected, 0);
}

void pt_writer_resume(void)
{
	atomic_store_explicit(&W.pause, 0, memory_order_release);
	if (pt_ks_active() && pt_writer_start() != 0)
		pt_ks_trip("cannot start the trace writer again");
}

void pt_writer_flush_now(unsigned max_ms)
{
	if (!atomic_load_explicit(&pt_writer_running, memory_order_acquire) ||
	    pthread_equal(pthread_self(), W.thread))
		return;
	unsigned req = atomic_fetch_add_explicit(&W.flush_req, 1, memory_order_acq_rel) + 1;
	for (unsigned i = 0; i < max_ms; i++) {
		if ((int)(atomic_load_explicit(&W.flush_done, memory_order_acquire) - req) >= 0) {
			PT_MARK(writer_flushed_on_request);
			return;
		}
		sleep_ns(1000000);
	}
}

void pt_writer_stop(bool join)
{
	if (!atomic_load_explicit(&pt_writer_running, memory_order_acquire)) {
		/* Parked (a fork in a Python that warns about threads) and not
		 * started again: the rest of the trace is written here, on the
		 * exiting thread, as the writer would have. Not from a signal
		 * handler (join false): the module scan takes the loader's lock,
		 * and the trace then ends where the writer left it. */
		if (join && unpark()) {
			PT_MARK(writer_finished_inline);
			pt_tls.busy++;
			atomic_store_explicit(&W.pause, 0, memory_order_release);
			if (!W.file_failed) /* as writer_main ends */
				final_flush();
			atomic_store_explicit(&W.done, 1, memory_order_release);
			pt_tls.busy--;
		}
		return;
	}
	atomic_store_explicit(&W.stop, 1, memory_order_release);
	if (pthread_equal(pthread_self(), W.thread))
		return;
	if (wait_done() && join)
		pthread_join(W.thread, NULL);
	atomic_store_explicit(&pt_writer_running, 0, memory_order_release);
}

void pt_writer_reset_child(void)
{
	/* The parent's writer thread does not exist here; its file is the
	 * parent's. Start from nothing; pt_writer_child_start opens ours. */
	close_trace_fd();
	/* the parent's /proc/self/stat: the parent's, not ours */
	if (stat_file.fd >= 0 && pt_fd_is(stat_file.fd, stat_file.dev, stat_file.ino))
		close(stat_file.fd);
	stat_file.fd = -1;
	W.seq = 0;
	W.nmodules = 0;
	W.dl_adds = 0;
	W.peak_emitted = W.peak_bytes = W.peak_pos = W.peak_t = 0;
	W.peak_seq_seen = W.peak_seq_emitted = 0;
	W.last_drops = 0;
	W.saw_alloc = 0;
	W.file_failed = 0;
	W.written = W.next_coarser = 0;
	W.next_live_coarser = 0;
	W.over_budget = 0;
	atomic_store(&W.trip_pending, 0);
	atomic_store(&W.child_claim, 0);
	atomic_store(&W.flush_req, 0);
	atomic_store(&W.flush_done, 0);
	atomic_store(&W.pause, 0);  /* the parent's writer was parked at the fork */
	atomic_store(&W.parked, 0);
	atomic_store(&pt_writer_running, 0);
	atomic_store(&W.done, 0);
	pt_zero_mapping(W.emitted_stacks, bitmap_bytes(&pt_g.stacks));
	pt_zero_mapping(W.emitted_strings, bitmap_bytes(&pt_g.strings));
	pt_zero_mapping(W.emitted_pyframes, bitmap_bytes(&pt_g.pyframes));
}

void pt_writer_child_start(void)
{
	if (unpark()) {
		/* the parent of a fork whose writer was parked */
		PT_MARK(writer_unparked);
		pt_writer_resume();
		return;
	}
	int expected = 0;
	if (!atomic_compare_exchange_strong(&W.child_claim, &expected, 1))
		return;
	char err[512];
	if (pt_writer_open(err, sizeof err) < 0) {
		pt_ks_trip(err);
		return;
	}
	if (pt_writer_start() < 0)
		pt_ks_trip("cannot start the writer thread in a fork child");
}

void pt_writer_note_trip(const char *reason)
{
	struct pt_buf b;
	pt_buf_init(&b, W.tripped, sizeof W.tripped);
	pt_buf_puts(&b, reason);
	atomic_store(&W.trip_pending, 1);
}

const char *pt_writer_path(void)
{
	return W.path;
}
