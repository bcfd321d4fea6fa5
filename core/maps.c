/* maps.c: see maps.h. */
#include "core/maps.h"

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>

#include "contracts/covmarks.h"
#include "core/arena.h"
#include "peaktrace/fp.h"

#include "contracts/banned.h"

int pt_maps_init(struct pt_maps *m)
{
	m->v = pt_map_zeroed(PT_MAPS_CAP * sizeof *m->v);
	m->n = 0;
	atomic_flag_clear(&m->lock);
	return m->v ? 0 : -ENOMEM;
}

void pt_maps_destroy(struct pt_maps *m)
{
	if (m->v)
		pt_unmap(m->v, PT_MAPS_CAP * sizeof *m->v);
	m->v = NULL;
	m->n = 0;
}

static void lock(struct pt_maps *m)
{
	for (unsigned spins = 0;
	     atomic_flag_test_and_set_explicit(&m->lock, memory_order_acquire); spins++)
		if (spins > 64)
			sched_yield();
}

static void unlock(struct pt_maps *m)
{
	atomic_flag_clear_explicit(&m->lock, memory_order_release);
}

/* The first range whose end lies above addr. */
static size_t first_above(const struct pt_maps *m, uintptr_t addr)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->v[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static uint64_t cut_locked(struct pt_maps *m, uintptr_t start, uintptr_t end)
{
	uint64_t removed = 0;
	size_t i = first_above(m, start);
	while (i < m->n && m->v[i].start < end) {
		struct pt_span *s = &m->v[i];
		uintptr_t a = s->start > start ? s->start : start;
		uintptr_t b = s->end < end ? s->end : end;
		removed += b - a;
		if (a == s->start && b == s->end) { /* all of it */
			memmove(s, s + 1, (m->n - i - 1) * sizeof *s);
			m->n--;
			continue;
		}
		if (a == s->start) {                /* its head */
			PT_MARK(maps_cut_head);
			s->start = b;
		} else if (b == s->end) {           /* its tail */
			PT_MARK(maps_cut_tail);
			s->end = a;
		} else {                            /* a hole: two ranges */
			PT_MARK(maps_cut_hole);
			if (m->n == PT_MAPS_CAP) {
				/* no room for the second half: keep it
				 * uncounted rather than wrong the other way */
				removed += s->end - b;
				s->end = a;
			} else {
				memmove(s + 2, s + 1, (m->n - i - 1) * sizeof *s);
				s[1].start = b;
				s[1].end = s->end;
				s->end = a;
				m->n++;
			}
		}
		i++;
	}
	return removed;
}

/* Inserts [start, end) into a set holding nothing of it; false when full. */
static bool insert_locked(struct pt_maps *m, uintptr_t start, uintptr_t end)
{
	if (m->n >= PT_MAPS_CAP || PT_FAIL(maps_insert)) {
		PT_MARK(maps_full);
		return false;
	}
	size_t i = first_above(m, start);
	memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof m->v[0]);
	m->v[i].start = start;
	m->v[i].end = end;
	m->n++;
	return true;
}

uint64_t pt_maps_cut(struct pt_maps *m, uintptr_t start, size_t len)
{
	if (!m->v || len == 0 || start + len < start)
		return 0;
	lock(m);
	uint64_t removed = cut_locked(m, start, start + len);
	unlock(m);
	return removed;
}

bool pt_maps_add(struct pt_maps *m, uintptr_t start, size_t len, uint64_t *replaced)
{
	*replaced = 0;
	if (!m->v || len == 0 || start + len < start)
		return false;
	lock(m);
	*replaced = cut_locked(m, start, start + len);
	bool ok = insert_locked(m, start, start + len);
	unlock(m);
	return ok;
}

uint64_t pt_maps_move(struct pt_maps *from, struct pt_maps *to, uintptr_t start,
		      size_t len, uint64_t *landed)
{
	*landed = 0;
	if (!from->v || !to->v || len == 0 || start + len < start)
		return 0;
	uintptr_t end = start + len;
	/* the overlapping pieces first (at most a few: bounded copy) */
	struct pt_span piece[16];
	size_t np = 0;
	uint64_t moved = 0;
	lock(from);
	for (size_t i = first_above(from, start); i < from->n && from->v[i].start < end; i++) {
		uintptr_t a = from->v[i].start > start ? from->v[i].start : start;
		uintptr_t b = from->v[i].end < end ? from->v[i].end : end;
		if (np == sizeof piece / sizeof piece[0])
			break; /* more pieces than that: the rest stays */
		piece[np].start = a;
		piece[np].end = b;
		np++;
	}
	for (size_t k = 0; k < np; k++)
		moved += cut_locked(from, piece[k].start, piece[k].end);
	unlock(from);
	lock(to);
	for (size_t k = 0; k < np; k++) {
		(void)cut_locked(to, piece[k].start, piece[k].end);
		if (!insert_locked(to, piece[k].start, piece[k].end))
			break;
		*landed += piece[k].end - piece[k].start;
	}
	unlock(to);
	return moved;
}

uint64_t pt_maps_covered(struct pt_maps *m, uintptr_t start, size_t len)
{
	if (!m->v || len == 0 || start + len < start)
		return 0;
	uintptr_t end = start + len;
	uint64_t in = 0;
	lock(m);
	for (size_t i = first_above(m, start); i < m->n && m->v[i].start < end; i++) {
		uintptr_t a = m->v[i].start > start ? m->v[i].start : start;
		uintptr_t b = m->v[i].end < end ? m->v[i].end : end;
		in += b - a;
	}
	unlock(m);
	return in;
}

void pt_maps_fork_child(struct pt_maps *m)
{
	atomic_flag_clear(&m->lock);
}
