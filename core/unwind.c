/*
 * unwind.c: native stack walks from the program's own unwind tables, with
 * a process-wide cache of frame rules; libunwind where they do not do.
 *
 * Why not libunwind alone: a sampled allocation's walk through
 * unw_backtrace costs ~950 instructions for a 7-frame stack, and touches
 * ~30 cache lines the program had evicted (its context and cursor, a
 * kilobyte each, and its per-thread cache), which the program then misses
 * again (cachegrind, bench_malloc_pairs 1 16 1024: about a quarter of what
 * a sample costs). The walk here keeps three registers.
 *
 * How (x86-64): a frame's rule says where its caller's frame is: the CFA
 * (canonical frame address: the caller's stack pointer) is RSP or RBP plus
 * an offset, the return address is at CFA - 8, and the caller's RBP is
 * either unchanged or saved at CFA + an offset. The rule of an address
 * comes from the .eh_frame call-frame information of its object, found
 * through .eh_frame_hdr's sorted table (dl_iterate_phdr, holding none of
 * our locks, as libunwind does), and is cached by address (a lock-free
 * table of 64-bit keys and packed rules, never overwritten). Every rule
 * is checked once against libunwind: the first walk that uses a new rule
 * is walked by both, and a rule whose frames differ is marked unusable.
 *
 * What falls back to libunwind (the whole walk): an address without call-
 * frame information (JIT code), a rule this reader does not model (CFA
 * expressions, signal frames, registers saved in registers), a frame the
 * checks reject (the CFA must grow, stay 8-aligned and within 64 MiB of
 * the walk's start), and every walk once a library has been unloaded
 * (dlclose): an address may then belong to different code.
 *
 * Runs inside the sampled path's guarded region; allocates nothing;
 * async-signal-safe as far as dl_iterate_phdr on a cache miss is.
 */
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <errno.h>
#include <link.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "contracts/covmarks.h"
#include "core/arena.h"
#include "core/unwind.h"
#include "peaktrace/fp.h"

#include "contracts/banned.h"

#if defined(__x86_64__)

/* ---- rules ----------------------------------------------------------------
 * kind (bits 0-2): the CFA from RSP or RBP, the outermost frame (return
 * address undefined), or not modelled. bit 3: the caller's RBP is saved at
 * CFA + rbp_off (bits 32-63, signed); otherwise it is unchanged. bits
 * 8-31: the CFA offset, 0 to 2^24 - 1. */
enum { R_EMPTY, R_RSP, R_RBP, R_END, R_NONE };
#define R_KIND(r) ((unsigned)((r) & 7))
#define R_RBP_SAVED(r) (((r) >> 3) & 1)
#define R_CFA_OFF(r) ((int64_t)(((r) >> 8) & 0xffffff))
#define R_RBP_OFF(r) ((int64_t)(int32_t)(uint32_t)((r) >> 32))

static uint64_t rule_make(unsigned kind, int64_t cfa_off, bool rbp_saved, int64_t rbp_off)
{
	if (kind == R_RSP || kind == R_RBP) {
		if (cfa_off < 8 || cfa_off >= (1 << 24) || (rbp_saved && (rbp_off < INT32_MIN ||
									  rbp_off > INT32_MAX)))
			return R_NONE;
	}
	return (uint64_t)kind | (uint64_t)(rbp_saved ? 8 : 0) | ((uint64_t)cfa_off << 8) |
	       ((uint64_t)(uint32_t)(int32_t)rbp_off << 32);
}

/* ---- the cache: 2^14 slots of {address, rule}, 512 KiB, touched as used --- */
#define CACHE_LOG2 14
#define CACHE_PROBES 16
#define KEY_BUSY 1 /* a slot being filled */

struct slot {
	atomic_uint_least64_t key;   /* address; 0 empty, KEY_BUSY filling */
	atomic_uint_least64_t rule;  /* rule_make's packing */
	atomic_uint_least64_t checked; /* 1 once a walk compared it with libunwind */
	uint64_t pad;
};

static struct slot *cache;
static atomic_int unloaded;  /* a dlclose happened: no more fast walks */
static atomic_int broken;    /* a rule disagreed with libunwind (tests) */
static atomic_uint_least64_t n_fast, n_slow; /* walks each way (tests) */

static inline size_t slot_of(uint64_t ip)
{
	return (size_t)((ip * 0x9e3779b97f4a7c15ULL) >> (64 - CACHE_LOG2));
}

static struct slot *cache_find(uint64_t ip)
{
	size_t mask = ((size_t)1 << CACHE_LOG2) - 1;
	size_t i = slot_of(ip);
	for (int n = 0; n < CACHE_PROBES; n++, i = (i + 1) & mask) {
		uint64_t k = atomic_load_explicit(&cache[i].key, memory_order_acquire);
		if (k == ip)
			return &cache[i];
		if (k == 0)
			return NULL;
	}
	return NULL;
}

/* Adds ip's rule; false when the probe window is full. */
static struct slot *cache_add(uint64_t ip, uint64_t rule)
{
	size_t mask = ((size_t)1 << CACHE_LOG2) - 1;
	size_t i = slot_of(ip);
	for (int n = 0; n < CACHE_PROBES; n++, i = (i + 1) & mask) {
		uint64_t k = atomic_load_explicit(&cache[i].key, memory_order_acquire);
		if (k == ip)
			return &cache[i]; /* another thread was first */
		if (k != 0)
			continue;
		uint64_t zero = 0;
		if (!atomic_compare_exchange_strong(&cache[i].key, &zero, KEY_BUSY))
			continue;
		atomic_store_explicit(&cache[i].rule, rule, memory_order_relaxed);
		atomic_store_explicit(&cache[i].key, ip, memory_order_release);
		return &cache[i];
	}
	return NULL;
}

/* ---- reading .eh_frame ----------------------------------------------------
 * Every read is bounded by the section it belongs to; a malformed table
 * gives R_NONE, never a read outside it. */
struct rd {
	const uint8_t *p, *end;
	bool bad;
};

static uint64_t rd_uleb(struct rd *r)
{
	uint64_t v = 0;
	for (int sh = 0; sh < 64; sh += 7) {
		if (r->p >= r->end) {
			r->bad = true;
			return 0;
		}
		uint8_t b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << sh;
		if (!(b & 0x80))
			return v;
	}
	r->bad = true;
	return 0;
}

static int64_t rd_sleb(struct rd *r)
{
	int64_t v = 0;
	int sh = 0;
	uint8_t b;
	do {
		if (r->p >= r->end || sh >= 64) {
			r->bad = true;
			return 0;
		}
		b = *r->p++;
		v |= (int64_t)((uint64_t)(b & 0x7f) << sh);
		sh += 7;
	} while (b & 0x80);
	if (sh < 64 && (b & 0x40))
		v |= -((int64_t)1 << sh);
	return v;
}

static uint64_t rd_fixed(struct rd *r, unsigned n)
{
	if ((size_t)(r->end - r->p) < n) {
		r->bad = true;
		return 0;
	}
	uint64_t v = 0;
	memcpy(&v, r->p, n); /* little-endian */
	r->p += n;
	return v;
}

/* A pointer in DW_EH_PE encoding enc; datarel against data_base. */
static uint64_t rd_ptr(struct rd *r, uint8_t enc, uint64_t data_base)
{
	if (enc == 0xff) /* omit */
		return 0;
	uint64_t at = (uint64_t)(uintptr_t)r->p;
	uint64_t v;
	switch (enc & 0x0f) {
	case 0x00: v = rd_fixed(r, 8); break;
	case 0x01: v = rd_uleb(r); break;
	case 0x02: v = rd_fixed(r, 2); break;
	case 0x03: v = rd_fixed(r, 4); break;
	case 0x04: v = rd_fixed(r, 8); break;
	case 0x09: v = (uint64_t)rd_sleb(r); break;
	case 0x0a: v = (uint64_t)(int64_t)(int16_t)rd_fixed(r, 2); break;
	case 0x0b: v = (uint64_t)(int64_t)(int32_t)rd_fixed(r, 4); break;
	case 0x0c: v = rd_fixed(r, 8); break;
	default: r->bad = true; return 0;
	}
	switch (enc & 0x70) {
	case 0x00: break;
	case 0x10: v += at; break;        /* pcrel */
	case 0x30: v += data_base; break; /* datarel */
	default: r->bad = true; return 0;
	}
	if (enc & 0x80)
		r->bad = true; /* indirect: not in unwind tables we read */
	return v;
}

/* The state of the CFA program: the CFA, and the rules of RBP and the
 * return address (everything else does not matter to a walk). */
struct cfa_state {
	int cfa_reg;      /* DWARF 7 RSP, 6 RBP; else not modelled */
	int64_t cfa_off;
	int rbp;          /* 0 unchanged, 1 at CFA + rbp_off, 2 not modelled */
	int64_t rbp_off;
	int ra;           /* 1 at CFA + ra_off, 3 undefined (outermost), 2 not modelled */
	int64_t ra_off;
	bool cfa_expr;
};

#define MAX_REMEMBER 8

/* Runs CFA instructions [p, end) until the location passes ip. */
static bool run_cfa(struct rd *r, uint64_t *loc, uint64_t ip, uint64_t code_align,
		    int64_t data_align, struct cfa_state *s, const struct cfa_state *init)
{
	struct cfa_state stack[MAX_REMEMBER];
	int depth = 0;
	while (r->p < r->end && !r->bad) {
		uint8_t op = *r->p++;
		uint8_t lo = op & 0x3f;
		uint64_t reg;
		int64_t off;
		switch (op & 0xc0) {
		case 0x40: /* advance_loc */
			*loc += lo * code_align;
			if (*loc > ip)
				return true;
			continue;
		case 0x80: /* offset */
			off = (int64_t)rd_uleb(r) * data_align;
			reg = lo;
			goto set_offset;
		case 0xc0: /* restore */
			reg = lo;
			goto restore;
		default:
			break;
		}
		switch (op) {
		case 0x00: /* nop */
			break;
		case 0x02: *loc += rd_fixed(r, 1) * code_align; if (*loc > ip) return true; break;
		case 0x03: *loc += rd_fixed(r, 2) * code_align; if (*loc > ip) return true; break;
		case 0x04: *loc += rd_fixed(r, 4) * code_align; if (*loc > ip) return true; break;
		case 0x05: /* offset_extended */
			reg = rd_uleb(r);
			off = (int64_t)rd_uleb(r) * data_align;
			goto set_offset;
		case 0x11: /* offset_extended_sf */
			reg = rd_uleb(r);
			off = rd_sleb(r) * data_align;
			goto set_offset;
		case 0x06: /* restore_extended */
			reg = rd_uleb(r);
			goto restore;
		case 0x07: /* undefined */
			reg = rd_uleb(r);
			if (reg == 16)
				s->ra = 3;
			else if (reg == 6)
				s->rbp = 2;
			break;
		case 0x08: /* same_value */
			reg = rd_uleb(r);
			if (reg == 6)
				s->rbp = 0;
			else if (reg == 16)
				s->ra = 2;
			break;
		case 0x09: /* register */
			reg = rd_uleb(r);
			(void)rd_uleb(r);
			if (reg == 6)
				s->rbp = 2;
			else if (reg == 16)
				s->ra = 2;
			break;
		case 0x0a: /* remember_state */
			if (depth >= MAX_REMEMBER)
				return false;
			stack[depth++] = *s;
			break;
		case 0x0b: /* restore_state */
			if (depth == 0)
				return false;
			*s = stack[--depth];
			break;
		case 0x0c: /* def_cfa */
			s->cfa_reg = (int)rd_uleb(r);
			s->cfa_off = (int64_t)rd_uleb(r);
			s->cfa_expr = false;
			break;
		case 0x12: /* def_cfa_sf */
			s->cfa_reg = (int)rd_uleb(r);
			s->cfa_off = rd_sleb(r) * data_align;
			s->cfa_expr = false;
			break;
		case 0x0d: /* def_cfa_register */
			s->cfa_reg = (int)rd_uleb(r);
			break;
		case 0x0e: /* def_cfa_offset */
			s->cfa_off = (int64_t)rd_uleb(r);
			break;
		case 0x13: /* def_cfa_offset_sf */
			s->cfa_off = rd_sleb(r) * data_align;
			break;
		case 0x0f: /* def_cfa_expression */
			off = (int64_t)rd_uleb(r);
			if (off < 0 || off > r->end - r->p)
				return false;
			r->p += off;
			s->cfa_expr = true;
			break;
		case 0x10: /* expression */
		case 0x16: /* val_expression */
			reg = rd_uleb(r);
			off = (int64_t)rd_uleb(r);
			if (off < 0 || off > r->end - r->p)
				return false;
			r->p += off;
			if (reg == 6)
				s->rbp = 2;
			else if (reg == 16)
				s->ra = 2;
			break;
		case 0x14: /* val_offset */
		case 0x15: /* val_offset_sf */
			reg = rd_uleb(r);
			if (op == 0x14)
				(void)rd_uleb(r);
			else
				(void)rd_sleb(r);
			if (reg == 6)
				s->rbp = 2;
			else if (reg == 16)
				s->ra = 2;
			break;
		case 0x2e: /* GNU_args_size */
			(void)rd_uleb(r);
			break;
		case 0x2f: /* GNU_negative_offset_extended */
			reg = rd_uleb(r);
			off = -(int64_t)rd_uleb(r) * data_align;
			goto set_offset;
		default: /* set_loc and anything unknown */
			return false;
		}
		continue;
set_offset:
		if (reg == 6) {
			s->rbp = 1;
			s->rbp_off = off;
		} else if (reg == 16) {
			s->ra = 1;
			s->ra_off = off;
		}
		continue;
restore:
		if (!init)
			return false; /* restore inside the CIE */
		if (reg == 6) {
			s->rbp = init->rbp;
			s->rbp_off = init->rbp_off;
		} else if (reg == 16) {
			s->ra = init->ra;
			s->ra_off = init->ra_off;
		}
	}
	return !r->bad;
}

/* One object's unwind tables. */
struct obj {
	uint64_t ip;
	const uint8_t *hdr;   /* .eh_frame_hdr */
	size_t hdr_len;
	const uint8_t *lo, *hi; /* the object's mapped extent: the bounds of
				   .eh_frame, whose size the header does not
				   give */
	bool found;
};

static int find_obj(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	struct obj *o = data;
	const ElfW(Phdr) *eh = NULL;
	bool in = false;
	uint64_t lo = UINT64_MAX, hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_GNU_EH_FRAME)
			eh = ph;
		if (ph->p_type != PT_LOAD)
			continue;
		uint64_t a = info->dlpi_addr + ph->p_vaddr;
		if (o->ip >= a && o->ip < a + ph->p_memsz && (ph->p_flags & PF_X))
			in = true;
		if (a < lo)
			lo = a;
		if (a + ph->p_filesz > hi)
			hi = a + ph->p_filesz;
	}
	if (!in)
		return 0;
	if (eh) {
		o->hdr = (const uint8_t *)(uintptr_t)(info->dlpi_addr + eh->p_vaddr);
		o->hdr_len = eh->p_memsz;
		o->lo = (const uint8_t *)(uintptr_t)lo;
		o->hi = (const uint8_t *)(uintptr_t)hi;
		o->found = true;
	}
	return 1;
}

/* The rule of the code at ip, from its object's .eh_frame. Called under
 * dl_iterate_phdr's lock (the object cannot go away meanwhile). */
static uint64_t rule_from_tables(const struct obj *o, uint64_t ip)
{
	struct rd h = { o->hdr, o->hdr + o->hdr_len, false };
	uint64_t base = (uint64_t)(uintptr_t)o->hdr;
	if (rd_fixed(&h, 1) != 1)
		return R_NONE;
	uint8_t ptr_enc = (uint8_t)rd_fixed(&h, 1);
	uint8_t cnt_enc = (uint8_t)rd_fixed(&h, 1);
	uint8_t tab_enc = (uint8_t)rd_fixed(&h, 1);
	(void)rd_ptr(&h, ptr_enc, base);
	uint64_t count = rd_ptr(&h, cnt_enc, base);
	if (h.bad || tab_enc != 0x3b || count == 0 || count > (uint64_t)(h.end - h.p) / 8)
		return R_NONE;
	/* the table: count pairs of int32 (initial location, FDE), datarel,
	 * sorted by location */
	const uint8_t *tab = h.p;
	uint64_t a = 0, b = count;
	while (b - a > 1) {
		uint64_t m = (a + b) / 2;
		int32_t loc;
		memcpy(&loc, tab + m * 8, 4);
		if (base + (uint64_t)(int64_t)loc <= ip)
			a = m;
		else
			b = m;
	}
	int32_t loc0, fde_rel;
	memcpy(&loc0, tab + a * 8, 4);
	memcpy(&fde_rel, tab + a * 8 + 4, 4);
	if (base + (uint64_t)(int64_t)loc0 > ip)
		return R_NONE;
	const uint8_t *fde = (const uint8_t *)(uintptr_t)(base + (uint64_t)(int64_t)fde_rel);
	if (fde < o->lo || fde + 8 > o->hi)
		return R_NONE;

	/* the FDE */
	struct rd f = { fde, o->hi, false };
	uint64_t len = rd_fixed(&f, 4);
	if (len == 0 || len >= 0xfffffff0u || len > (uint64_t)(f.end - f.p))
		return R_NONE;
	f.end = f.p + len;
	const uint8_t *cie_ptr_at = f.p;
	uint64_t cie_off = rd_fixed(&f, 4);
	if (cie_off == 0 || cie_off > (uint64_t)(cie_ptr_at - o->lo))
		return R_NONE;
	const uint8_t *cie = cie_ptr_at - cie_off;

	/* its CIE */
	struct rd c = { cie, o->hi, false };
	uint64_t clen = rd_fixed(&c, 4);
	if (clen == 0 || clen >= 0xfffffff0u || clen > (uint64_t)(c.end - c.p))
		return R_NONE;
	c.end = c.p + clen;
	if (rd_fixed(&c, 4) != 0) /* CIE id */
		return R_NONE;
	uint8_t version = (uint8_t)rd_fixed(&c, 1);
	const char *aug = (const char *)c.p;
	size_t auglen = strnlen(aug, (size_t)(c.end - c.p));
	if (c.bad || aug + auglen >= (const char *)c.end)
		return R_NONE;
	c.p += auglen + 1;
	uint64_t code_align = rd_uleb(&c);
	int64_t data_align = rd_sleb(&c);
	uint64_t ra_reg = version == 1 ? rd_fixed(&c, 1) : rd_uleb(&c);
	uint8_t fde_enc = 0;
	if (ra_reg != 16 || c.bad)
		return R_NONE;
	if (aug[0] == 'z') {
		uint64_t alen = rd_uleb(&c);
		if (c.bad || alen > (uint64_t)(c.end - c.p))
			return R_NONE;
		const uint8_t *after = c.p + alen;
		for (size_t i = 1; i < auglen; i++) {
			switch (aug[i]) {
			case 'R':
				fde_enc = (uint8_t)rd_fixed(&c, 1);
				break;
			case 'L':
				(void)rd_fixed(&c, 1);
				break;
			case 'P': {
				uint8_t penc = (uint8_t)rd_fixed(&c, 1);
				(void)rd_ptr(&c, (uint8_t)(penc & 0x7f), 0);
				break;
			}
			case 'S': /* a signal frame */
			default:
				return R_NONE;
			}
		}
		c.p = after;
	} else if (auglen != 0) {
		return R_NONE;
	}
	if (c.bad)
		return R_NONE;

	/* the FDE's range and instructions */
	uint64_t start = rd_ptr(&f, fde_enc, 0);
	uint64_t range = rd_ptr(&f, (uint8_t)(fde_enc & 0x0f), 0);
	if (aug[0] == 'z') {
		uint64_t alen = rd_uleb(&f);
		if (f.bad || alen > (uint64_t)(f.end - f.p))
			return R_NONE;
		f.p += alen;
	}
	if (f.bad || ip < start || ip - start >= range)
		return R_NONE;

	struct cfa_state s = { .cfa_reg = -1 }, init;
	uint64_t loc = start;
	if (!run_cfa(&c, &loc, UINT64_MAX, code_align, data_align, &s, NULL))
		return R_NONE;
	init = s;
	loc = start;
	if (!run_cfa(&f, &loc, ip, code_align, data_align, &s, &init))
		return R_NONE;
	if (s.ra == 3)
		return R_END;
	if (s.cfa_expr || s.ra != 1 || s.ra_off != -8 || s.rbp == 2)
		return R_NONE;
	if (s.cfa_reg == 7)
		return rule_make(R_RSP, s.cfa_off, s.rbp == 1, s.rbp_off);
	if (s.cfa_reg == 6)
		return rule_make(R_RBP, s.cfa_off, s.rbp == 1, s.rbp_off);
	return R_NONE;
}

static int find_rule(struct dl_phdr_info *info, size_t size, void *data)
{
	struct obj *o = data;
	if (!find_obj(info, size, data))
		return 0;
	if (o->found)
		o->ip = rule_from_tables(o, o->ip); /* the result, in place */
	else
		o->ip = R_NONE;
	return 1;
}

/* The rule at ip (a return address less one, or the first frame's pc),
 * from the cache or the tables; NULL when there is no room to cache it. */
static struct slot *rule_of(uint64_t ip)
{
	struct slot *s = cache_find(ip);
	if (s)
		return s;
	PT_MARK(unwind_rule_read);
	struct obj o = { .ip = ip };
	if (!dl_iterate_phdr(find_rule, &o))
		o.ip = R_NONE; /* in no object: JIT code, or garbage */
	return cache_add(ip, o.ip);
}

/* ---- the walk ---------------------------------------------------------- */

int pt_unwind_init(void)
{
	cache = pt_map_zeroed(sizeof(struct slot) << CACHE_LOG2);
	return cache ? 0 : -1;
}

void pt_unwind_note_unload(void)
{
	atomic_store(&unloaded, 1);
}

int pt_unwind_broken_rules(void)
{
	return atomic_load(&broken);
}

void pt_unwind_counts(uint64_t *fast, uint64_t *slow)
{
	*fast = atomic_load(&n_fast);
	*slow = atomic_load(&n_slow);
}

/* A read through a rule not yet checked: were the rule wrong, the address
 * could be anywhere, and a fault in the sampled path trips the kill-
 * switch. The kernel reads it instead (EFAULT, no signal); false when it
 * cannot (unmapped, or the call is not allowed: the walk is then
 * libunwind's). Rare: once per code address. */
static bool safe_read(uint64_t addr, uint64_t *out)
{
	int saved = errno;
	struct iovec local = { out, sizeof *out };
	struct iovec remote = { (void *)(uintptr_t)addr, sizeof *out };
	bool ok = process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)sizeof *out;
	errno = saved;
	return ok;
}

/* Rules one walk may use before they are checked: a deep new stack is
 * checked over a few walks (libunwind walks it meanwhile). */
#define FRESH_MAX 32

/* Walks from the caller of pt_unwind_backtrace, as unw_backtrace does:
 * ips[0] is the return address into the caller. Returns the frame count,
 * or -1 when a frame needs libunwind; the rules used that were not yet
 * compared with libunwind go to fresh (*nfresh of them). */
static __attribute__((noinline)) int fast_walk(void **ips, int max, struct slot **fresh, int *nfresh)
{
	uint64_t *fp = __builtin_frame_address(0);
	/* this function keeps a frame pointer (the builtin asks for one):
	 * its CFA is RBP + 16 */
	uint64_t cfa = (uint64_t)(uintptr_t)fp + 16;
	uint64_t start = cfa;
	uint64_t rip = fp[1];
	uint64_t rbp = fp[0];
	uint64_t rsp = cfa;
	int n = 0;
	*nfresh = 0;
	/* rip is fast_walk's return address into pt_unwind_backtrace; the
	 * first address reported is pt_unwind_backtrace's into its caller,
	 * as unw_backtrace's first is its own into its caller */
	while (n < max) {
		struct slot *s = rule_of(rip - 1);
		if (!s)
			return -1;
		uint64_t r = atomic_load_explicit(&s->rule, memory_order_relaxed);
		unsigned kind = R_KIND(r);
		if (kind == R_END)
			break;
		if (kind != R_RSP && kind != R_RBP)
			return -1;
		bool checked = atomic_load_explicit(&s->checked, memory_order_relaxed);
		if (!checked) {
			if (*nfresh >= FRESH_MAX)
				return -1; /* checked over the next walks */
			fresh[(*nfresh)++] = s;
		}
		uint64_t ncfa = (kind == R_RSP ? rsp : rbp) + (uint64_t)R_CFA_OFF(r);
		if (ncfa <= rsp || (ncfa & 7) || ncfa - start > ((uint64_t)64 << 20))
			return -1;
		uint64_t nrip, rbp_at = ncfa + (uint64_t)R_RBP_OFF(r);
		if (__builtin_expect(checked, 1)) {
			nrip = *(const uint64_t *)(uintptr_t)(ncfa - 8);
			if (R_RBP_SAVED(r))
				rbp = *(const uint64_t *)(uintptr_t)rbp_at;
		} else if (!safe_read(ncfa - 8, &nrip) ||
			   (R_RBP_SAVED(r) && !safe_read(rbp_at, &rbp))) {
			return -1;
		}
		rsp = ncfa;
		rip = nrip;
		if (rip == 0)
			break;
		ips[n++] = (void *)(uintptr_t)rip;
	}
	return n;
}

/* Where the frames of pt_unwind_backtrace's caller begin in tmp[0..m), a
 * libunwind walk made from inside pt_unwind_backtrace: at `from`, the
 * return address into that caller, after our own frames (two, or one when
 * a call was a tail call); 2 when it is not among the first three. */
static int caller_start(void *const *tmp, int m, const void *from)
{
	for (int k = 0; k < 3 && k < m; k++)
		if (tmp[k] == from)
			return k;
	return 2;
}

/* A walk that used rules not yet compared with libunwind: libunwind walks
 * the same stack, and the rules are marked checked, or unusable when the
 * frames differ (its frames are then the answer). ips[0] is `from`. Out
 * of line: its buffer is on the stack only for these walks. */
static __attribute__((noinline)) int check_rules(void **ips, int n, int max, const void *from,
						 struct slot **fresh, int nfresh)
{
	PT_MARK(unwind_rules_checked);
	void *ref[PT_UNWIND_MAX + 3];
	int m = unw_backtrace(ref, max + 3);
	int k = caller_start(ref, m, from);
	bool same = m - k == n || (m - k > n && n == max);
	for (int i = 0; same && i < n; i++)
		same = ref[i + k] == ips[i];
	if (same) {
		for (int i = 0; i < nfresh; i++)
			atomic_store_explicit(&fresh[i]->checked, 1, memory_order_relaxed);
		return n;
	}
	PT_MARK(unwind_rule_disagrees);
	atomic_store(&broken, 1);
	for (int i = 0; i < nfresh; i++)
		atomic_store_explicit(&fresh[i]->rule, R_NONE, memory_order_relaxed);
	n = m - k < max ? m - k : max;
	if (n < 0)
		n = 0;
	memcpy(ips, ref + k, (size_t)n * sizeof *ips);
	return n;
}

/* libunwind's walk, from `from` on. */
static __attribute__((noinline)) int slow_walk(void **ips, int max, const void *from)
{
	void *tmp[PT_UNWIND_MAX + 3];
	atomic_fetch_add_explicit(&n_slow, 1, memory_order_relaxed);
	int m = unw_backtrace(tmp, max + 3);
	int k = caller_start(tmp, m, from);
	int n = m - k < max ? m - k : max;
	if (n < 0)
		n = 0;
	memcpy(ips, tmp + k, (size_t)n * sizeof *ips);
	return n;
}

int pt_unwind_backtrace(void **ips, int max)
{
	if (max <= 0)
		return 0;
	if (max > PT_UNWIND_MAX)
		max = PT_UNWIND_MAX;
	void *from = __builtin_return_address(0);
	if (!cache || atomic_load_explicit(&unloaded, memory_order_relaxed) || PT_FAIL(unwind_fast))
		return slow_walk(ips, max, from);
	struct slot *fresh[FRESH_MAX];
	int nfresh = 0;
	int n = fast_walk(ips, max, fresh, &nfresh);
	if (n < 0) {
		PT_MARK(unwind_fallback);
		return slow_walk(ips, max, from);
	}
	atomic_fetch_add_explicit(&n_fast, 1, memory_order_relaxed);
	if (nfresh == 0)
		return n;
	return check_rules(ips, n, max, from, fresh, nfresh);
}

#else /* not x86-64: libunwind */

int pt_unwind_init(void)
{
	return 0;
}

void pt_unwind_note_unload(void)
{
}

int pt_unwind_broken_rules(void)
{
	return 0;
}

void pt_unwind_counts(uint64_t *fast, uint64_t *slow)
{
	*fast = 0;
	*slow = 0;
}

int pt_unwind_backtrace(void **ips, int max)
{
	return unw_backtrace(ips, max);
}

#endif
