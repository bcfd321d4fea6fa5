/*
 * failpoints.c: the failpoint engine: spec parser, arming, evaluation and
 * the actions (see failpoints.h for the syntax and docs/FAILPOINTS.md for
 * the semantics).
 *
 * Workload. Sites sit on hot paths (every allocation goes past a few), but
 * are armed only in tests and chaos runs, so the disarmed case is what
 * matters: PT_FP_HIT is one relaxed load of site->armed and a branch
 * predicted not taken; nothing in this file runs. Armed sites are rare and
 * may be slow-ish (a handful of atomics per hit).
 *
 * Invariants.
 *  - Nothing here allocates, locks or uses stdio: the engine runs inside
 *    malloc, in signal handlers and before the C library is fully up.
 *  - A term's count only goes down while armed (CAS, never below 0), so
 *    "N*action" fires exactly N times however many threads hit the site.
 *  - site->cur only hints where the first live term is; correctness rests
 *    on the counts alone, so a stale or racing cur costs a few extra loads.
 *  - pt_fp_configure parses the whole spec into a scratch area on its own
 *    stack before it touches any site: a bad spec changes nothing.
 *  - Every field a concurrent evaluation reads is an atomic that on its own
 *    always holds a valid value, and every index is bounds-checked before
 *    use, so configure racing with evaluation can mix two configurations
 *    for one hit but cannot crash.
 *
 * Randomness: a per-thread xorshift64* state (initial-exec TLS), seeded
 * lazily from a global counter, the state's own address and the clock. No
 * lock, no rand(). A forked child inherits its parent's state; that only
 * correlates the two rolls sequences, which failpoints can live with.
 */
#include "failpoints/failpoints.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "contracts/contracts.h"
#include "contracts/fmt.h"

#include "contracts/banned.h"

#define FP_MAX_SPEC_TERMS 128      /* terms in one spec, all entries together */
#define FP_MAX_NUMBER 999999999999ULL /* longer numbers are rejected outright */

static const char *const action_names[] = {
	[PT_FP_OFF] = "off",
	[PT_FP_RETURN] = "return",
	[PT_FP_SEGV] = "segv",
	[PT_FP_ABORT] = "abort",
	[PT_FP_SLEEP] = "sleep",
};

#define N_ACTIONS (sizeof action_names / sizeof action_names[0])

/* ---- evaluation ------------------------------------------------------- */

static __thread uint64_t fp_rng __attribute__((tls_model("initial-exec")));
static atomic_ulong fp_seed_base;

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Next 64 random bits of the calling thread. Async-signal-safe: a signal
 * handler that rolls in between only perturbs the sequence. */
static uint64_t fp_random(void)
{
	uint64_t x = fp_rng;
	if (__builtin_expect(x == 0, 0)) {
		struct timespec ts = { 0, 0 };
		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = atomic_fetch_add_explicit(&fp_seed_base, 1,
					      memory_order_relaxed);
		x = splitmix64(x ^ (uint64_t)(uintptr_t)&fp_rng);
		x = splitmix64(x ^ (uint64_t)ts.tv_nsec ^
			       ((uint64_t)ts.tv_sec << 32));
		if (x == 0)
			x = 0x2545f4914f6cdd1dULL;
	}
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	fp_rng = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* True with probability pct/100. 0 and 100 do not roll. */
static bool fp_roll(unsigned pct)
{
	if (pct >= 100)
		return true;
	if (pct == 0)
		return false;
	/* Multiply-shift maps 32 random bits onto 0..99 without a division. */
	uint64_t r = ((fp_random() >> 32) * 100) >> 32;
	return r < pct;
}

static void fp_sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void fp_segv(void)
{
	/* A real fault: a store to an unmapped page. The pointer goes through
	 * a volatile so the compiler can neither prove the access invalid nor
	 * drop it. Should a handler ever resume us, we carry on. */
	int *volatile p = (int *)(uintptr_t)8;
	*(volatile int *)p = 1;
}

/* Tries to use up one firing of a term whose count was c when loaded.
 * Returns false when others exhausted it first. */
static bool fp_take(struct pt_fp_term *term, int c)
{
	while (c > 0) {
		if (atomic_compare_exchange_weak_explicit(
			    &term->count, &c, c - 1, memory_order_relaxed,
			    memory_order_relaxed))
			return true;
	}
	return c < 0; /* reconfigured to unlimited under our feet */
}

bool pt_fp_eval(struct pt_fp_site *site)
{
	if (!atomic_load_explicit(&site->armed, memory_order_acquire))
		return false;
	atomic_fetch_add_explicit(&site->hits, 1, memory_order_relaxed);

	unsigned n = atomic_load_explicit(&site->nterms, memory_order_relaxed);
	unsigned first = atomic_load_explicit(&site->cur, memory_order_relaxed);
	if (n > PT_FP_MAX_TERMS)
		n = PT_FP_MAX_TERMS;

	for (unsigned i = first; i < n; i++) {
		struct pt_fp_term *term = &site->terms[i];
		int c = atomic_load_explicit(&term->count, memory_order_relaxed);
		if (c == 0) {
			/* Exhausted; if it leads the chain, move the hint on. */
			if (i == first && atomic_compare_exchange_strong_explicit(
						  &site->cur, &first, i + 1,
						  memory_order_relaxed,
						  memory_order_relaxed))
				first = i + 1;
			continue;
		}
		if (!fp_roll(atomic_load_explicit(&term->pct,
						  memory_order_relaxed)))
			continue; /* a miss passes the hit on, count untouched */
		if (c > 0 && !fp_take(term, c))
			continue;
		atomic_fetch_add_explicit(&site->fired, 1, memory_order_relaxed);

		unsigned action = atomic_load_explicit(&term->action,
						       memory_order_relaxed);
		int saved_errno = errno;
		bool ret = false;
		switch (action) {
		case PT_FP_RETURN:
			ret = true;
			break;
		case PT_FP_SEGV:
			fp_segv();
			break;
		case PT_FP_ABORT:
			pt_die_abort();
		case PT_FP_SLEEP:
			fp_sleep_ms(atomic_load_explicit(&term->arg,
							 memory_order_relaxed));
			break;
		default: /* PT_FP_OFF */
			break;
		}
		errno = saved_errno;
		return ret;
	}
	return false;
}

/* ---- parsing ---------------------------------------------------------- */

/* A parsed term, before arming. */
struct fp_pterm {
	uint8_t action;   /* enum pt_fp_action */
	uint8_t pct;      /* 0..100 */
	uint32_t arg;     /* sleep ms */
	int32_t count;    /* -1 = unlimited, else 1..PT_FP_MAX_COUNT */
};

/* A parsed entry: one site and its terms in the scratch pool. */
struct fp_pentry {
	struct pt_fp_site *site;
	uint16_t first;   /* index of its first term in fp_scratch.terms */
	uint8_t nterms;   /* 0 = "NAME=off": disarm */
};

struct fp_scratch {
	struct fp_pentry entries[PT_FP_MAX_ENTRIES];
	struct fp_pterm terms[FP_MAX_SPEC_TERMS];
	unsigned nentries;
	unsigned nterms;
};

struct fp_parser {
	const char *spec;
	size_t pos;           /* byte offset of the next character */
	struct pt_fp_table *table;
	struct fp_scratch *out;
	struct pt_buf *err;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
	       c == '_' || c == '.' || c == ':' || c == '/';
}

static bool is_word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
	       c == '_';
}

static char peek(const struct fp_parser *p)
{
	return p->spec[p->pos];
}

static void skip_space(struct fp_parser *p)
{
	while (is_space(peek(p)))
		p->pos++;
}

/* Starts the error message: "column C: ". Returns -EINVAL for chaining. */
static int fail_at(struct fp_parser *p, size_t pos, const char *what)
{
	pt_buf_puts(p->err, "column ");
	pt_buf_putu(p->err, (uint64_t)pos + 1);
	pt_buf_puts(p->err, ": ");
	pt_buf_puts(p->err, what);
	return -EINVAL;
}

/* Appends " 'TEXT'" (at most 40 bytes of it) to the error message. */
static int quote(struct fp_parser *p, const char *s, size_t n)
{
	pt_buf_puts(p->err, " '");
	pt_buf_putn(p->err, s, n > 40 ? 40 : n);
	if (n > 40)
		pt_buf_puts(p->err, "...");
	pt_buf_putc(p->err, '\'');
	return -EINVAL;
}

/* "unexpected 'X'" or "unexpected end of spec", then the rest. */
static int unexpected(struct fp_parser *p, const char *expected)
{
	char c = peek(p);
	fail_at(p, p->pos, "");
	if (c == '\0') {
		pt_buf_puts(p->err, "unexpected end of spec, expected ");
	} else {
		pt_buf_puts(p->err, "unexpected");
		quote(p, &c, 1);
		pt_buf_puts(p->err, ", expected ");
	}
	pt_buf_puts(p->err, expected);
	return -EINVAL;
}

/* Reads a decimal number at p->pos. Returns 0, or -EINVAL when it has more
 * digits than any field takes. */
static int read_number(struct fp_parser *p, uint64_t *out)
{
	size_t start = p->pos;
	uint64_t v = 0;
	PT_REQUIRE(is_digit(peek(p)));
	while (is_digit(peek(p))) {
		if (v > FP_MAX_NUMBER / 10)
			return fail_at(p, start, "number too large");
		v = v * 10 + (uint64_t)(peek(p) - '0');
		p->pos++;
	}
	*out = v;
	return 0;
}

static int out_of_range(struct fp_parser *p, size_t pos, const char *what,
			uint64_t v, uint64_t lo, uint64_t hi)
{
	fail_at(p, pos, what);
	pt_buf_putc(p->err, ' ');
	pt_buf_putu(p->err, v);
	pt_buf_puts(p->err, " out of range ");
	pt_buf_putu(p->err, lo);
	pt_buf_puts(p->err, "..");
	pt_buf_putu(p->err, hi);
	return -EINVAL;
}

/* term := [P '%'] [N '*'] action ['(' ARG ')'] */
static int parse_term(struct fp_parser *p, struct fp_pterm *t)
{
	uint64_t v;
	int rc;

	t->pct = 100;
	t->count = -1;
	t->arg = 0;
	skip_space(p);

	if (is_digit(peek(p))) {
		size_t at = p->pos;
		if ((rc = read_number(p, &v)) != 0)
			return rc;
		skip_space(p);
		bool have_count = true;
		if (peek(p) == '%') {
			if (v > 100)
				return out_of_range(p, at, "probability", v, 0,
						    100);
			t->pct = (uint8_t)v;
			p->pos++;
			skip_space(p);
			have_count = is_digit(peek(p));
			if (have_count) {
				at = p->pos;
				if ((rc = read_number(p, &v)) != 0)
					return rc;
				skip_space(p);
				if (peek(p) != '*')
					return unexpected(p, "'*' after a count");
			}
		} else if (peek(p) != '*') {
			return unexpected(p, "'%' or '*' after a number");
		}
		if (have_count) {
			if (v < 1 || v > PT_FP_MAX_COUNT)
				return out_of_range(p, at, "count", v, 1,
						    PT_FP_MAX_COUNT);
			t->count = (int32_t)v;
			p->pos++;
			skip_space(p);
		}
	}

	size_t word = p->pos;
	while (is_word_char(peek(p)))
		p->pos++;
	size_t len = p->pos - word;
	if (len == 0) {
		p->pos = word;
		return unexpected(p, "an action (off, return, segv, abort, sleep)");
	}
	unsigned a;
	for (a = 0; a < N_ACTIONS; a++) {
		if (strlen(action_names[a]) == len &&
		    memcmp(action_names[a], p->spec + word, len) == 0)
			break;
	}
	if (a == N_ACTIONS) {
		fail_at(p, word, "unknown action");
		return quote(p, p->spec + word, len);
	}
	t->action = (uint8_t)a;

	skip_space(p);
	if (peek(p) != '(') {
		if (a == PT_FP_SLEEP)
			return fail_at(p, p->pos,
				       "sleep needs an argument in milliseconds");
		return 0;
	}
	if (a != PT_FP_SLEEP) {
		fail_at(p, p->pos, "action");
		quote(p, action_names[a], strlen(action_names[a]));
		pt_buf_puts(p->err, " takes no argument");
		return -EINVAL;
	}
	p->pos++;
	skip_space(p);
	if (!is_digit(peek(p)))
		return fail_at(p, p->pos, "sleep needs an argument in milliseconds");
	size_t at = p->pos;
	if ((rc = read_number(p, &v)) != 0)
		return rc;
	if (v > PT_FP_MAX_SLEEP_MS)
		return out_of_range(p, at, "sleep milliseconds", v, 0,
				    PT_FP_MAX_SLEEP_MS);
	t->arg = (uint32_t)v;
	skip_space(p);
	if (peek(p) != ')')
		return fail_at(p, p->pos, "missing ')'");
	p->pos++;
	return 0;
}

static struct pt_fp_site *lookup(struct pt_fp_table *t, const char *name,
				 size_t len)
{
	for (size_t i = 0; i < t->n; i++) {
		const char *s = t->sites[i].name;
		if (s && strlen(s) == len && memcmp(s, name, len) == 0)
			return &t->sites[i];
	}
	return NULL;
}

/* entry := NAME '=' term ('->' term)*; p->pos is at NAME (spaces skipped).
 * Leaves p->pos after the last term and the spaces after it. */
static int parse_entry(struct fp_parser *p)
{
	struct fp_scratch *out = p->out;
	size_t name = p->pos;
	int rc;

	while (is_name_char(peek(p)))
		p->pos++;
	size_t len = p->pos - name;
	if (len == 0) {
		if (peek(p) == '=')
			return fail_at(p, name, "empty failpoint name");
		return unexpected(p, "a failpoint name");
	}
	skip_space(p);
	if (peek(p) != '=')
		return fail_at(p, p->pos, "expected '=' after failpoint name");
	p->pos++;

	struct pt_fp_site *site = lookup(p->table, p->spec + name, len);
	if (!site) {
		fail_at(p, name, "unknown failpoint");
		return quote(p, p->spec + name, len);
	}
	for (unsigned i = 0; i < out->nentries; i++) {
		if (out->entries[i].site == site) {
			fail_at(p, name, "failpoint");
			quote(p, p->spec + name, len);
			pt_buf_puts(p->err, " named twice");
			return -EINVAL;
		}
	}
	if (out->nentries == PT_FP_MAX_ENTRIES)
		return fail_at(p, name, "too many failpoints in one spec (max 64)");

	struct fp_pentry *e = &out->entries[out->nentries];
	e->site = site;
	e->first = (uint16_t)out->nterms;
	e->nterms = 0;
	bool always = false; /* the previous term fires on every hit */
	bool plain_off = false;

	for (;;) {
		skip_space(p);
		size_t at = p->pos;
		if (e->nterms == PT_FP_MAX_TERMS)
			return fail_at(p, at, "too many terms (max 8)");
		if (out->nterms == FP_MAX_SPEC_TERMS)
			return fail_at(p, at,
				       "too many terms in one spec (max 128)");
		struct fp_pterm *t = &out->terms[out->nterms];
		if ((rc = parse_term(p, t)) != 0)
			return rc;
		if (always)
			return fail_at(p, at,
				       "term can never fire: the one before it "
				       "fires on every hit (give it a count or "
				       "a probability)");
		always = t->pct == 100 && t->count < 0;
		plain_off = e->nterms == 0 && t->action == PT_FP_OFF && always;
		out->nterms++;
		e->nterms++;
		skip_space(p);
		if (peek(p) != '-' || p->spec[p->pos + 1] != '>')
			break;
		p->pos += 2;
	}
	if (plain_off) {
		/* "NAME=off": disarm rather than arm a term that never acts. */
		out->nterms -= e->nterms;
		e->nterms = 0;
	}
	out->nentries++;
	return 0;
}

static int parse_spec(struct fp_parser *p)
{
	int rc;
	for (;;) {
		skip_space(p);
		char c = peek(p);
		if (c == '\0')
			return 0;
		if (c == ';') {
			p->pos++; /* empty entry */
			continue;
		}
		if ((rc = parse_entry(p)) != 0)
			return rc;
		c = peek(p);
		if (c == '\0')
			return 0;
		if (c != ';')
			return unexpected(p, "'->' or ';' after a term");
		p->pos++;
	}
}

/* ---- arming ----------------------------------------------------------- */

static void site_disarm(struct pt_fp_site *s)
{
	atomic_store_explicit(&s->armed, 0, memory_order_release);
	atomic_store_explicit(&s->nterms, 0, memory_order_relaxed);
	atomic_store_explicit(&s->cur, 0, memory_order_relaxed);
	atomic_store_explicit(&s->hits, 0, memory_order_relaxed);
	atomic_store_explicit(&s->fired, 0, memory_order_relaxed);
}

static void site_arm(struct pt_fp_site *s, const struct fp_pterm *terms,
		     unsigned n)
{
	PT_REQUIRE(n <= PT_FP_MAX_TERMS);
	site_disarm(s);
	if (n == 0)
		return;
	for (unsigned i = 0; i < n; i++) {
		struct pt_fp_term *t = &s->terms[i];
		atomic_store_explicit(&t->action, terms[i].action,
				      memory_order_relaxed);
		atomic_store_explicit(&t->pct, terms[i].pct,
				      memory_order_relaxed);
		atomic_store_explicit(&t->arg, terms[i].arg,
				      memory_order_relaxed);
		atomic_store_explicit(&t->count, terms[i].count,
				      memory_order_relaxed);
	}
	atomic_store_explicit(&s->nterms, n, memory_order_relaxed);
	/* Release: an evaluation that sees armed sees the terms above. */
	atomic_store_explicit(&s->armed, 1, memory_order_release);
}

int pt_fp_configure(struct pt_fp_table *t, const char *spec, char *err,
		    size_t errlen)
{
	struct fp_scratch scratch;
	char dummy[1];
	struct pt_buf eb;
	struct fp_parser p;

	PT_REQUIRE(t != NULL);
	if (err && errlen)
		pt_buf_init(&eb, err, errlen);
	else
		pt_buf_init(&eb, dummy, sizeof dummy);
	if (!spec)
		return 0;

	scratch.nentries = 0;
	scratch.nterms = 0;
	p.spec = spec;
	p.pos = 0;
	p.table = t;
	p.out = &scratch;
	p.err = &eb;
	int rc = parse_spec(&p);
	if (rc != 0)
		return rc;

	for (unsigned i = 0; i < scratch.nentries; i++) {
		const struct fp_pentry *e = &scratch.entries[i];
		site_arm(e->site, &scratch.terms[e->first], e->nterms);
	}
	return 0;
}

int pt_fp_configure_env(struct pt_fp_table *t)
{
	char err[256];
	const char *spec = getenv("PEAKTRACE_FAILPOINTS");
	if (!spec)
		return 0;
	int rc = pt_fp_configure(t, spec, err, sizeof err);
	if (rc == 0)
		return 0;

	char line[400];
	struct pt_buf b;
	pt_buf_init(&b, line, sizeof line);
	pt_buf_puts(&b, "bad PEAKTRACE_FAILPOINTS: ");
	pt_buf_puts(&b, err);
	pt_buf_puts(&b, "; no failpoint armed");
	pt_errmsg(b.p);
	return rc;
}

void pt_fp_disarm_all(struct pt_fp_table *t)
{
	PT_REQUIRE(t != NULL);
	for (size_t i = 0; i < t->n; i++)
		site_disarm(&t->sites[i]);
}

struct pt_fp_site *pt_fp_find(struct pt_fp_table *t, const char *name)
{
	PT_REQUIRE(t != NULL);
	if (!name)
		return NULL;
	return lookup(t, name, strlen(name));
}

const char *pt_fp_syntax_help(void)
{
	return "spec   := entry (';' entry)*\n"
	       "entry  := NAME '=' term ('->' term)*\n"
	       "term   := [P%][N*]action     P: 0..100 (default 100), "
	       "N: times it fires (default: forever)\n"
	       "action := off | return | segv | abort | sleep(MS)\n"
	       "terms are tried in order; the first that is not used up and "
	       "wins its roll fires\n"
	       "NAME=off disarms; example: "
	       "PEAKTRACE_FAILPOINTS='writer_write=3*off->20%return'\n";
}
