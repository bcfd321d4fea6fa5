/*
 * ring.c: the MPSC event ring (see ring.h).
 */
#include "core/ring.h"

#include <errno.h>
#include <string.h>

#include "core/arena.h"
#include "peaktrace/fp.h"

#include "contracts/banned.h"

int pt_ring_init(struct pt_ring *r, unsigned cells_log2)
{
	size_t n = (size_t)1 << cells_log2;
	r->cells = pt_map_zeroed(n * sizeof *r->cells);
	if (!r->cells)
		return -ENOMEM;
	r->mask = n - 1;
	pt_ring_reset(r);
	return 0;
}

void pt_ring_destroy(struct pt_ring *r)
{
	if (r->cells)
		pt_unmap(r->cells, (r->mask + 1) * sizeof *r->cells);
	r->cells = NULL;
}

void pt_ring_reset(struct pt_ring *r)
{
	for (size_t i = 0; i <= r->mask; i++)
		atomic_store_explicit(&r->cells[i].seq, i, memory_order_relaxed);
	atomic_store_explicit(&r->head, 0, memory_order_release);
	r->tail = 0;
}

void pt_ring_discard(struct pt_ring *r)
{
	/* Marks every cell between tail and head consumed, whatever its state,
	 * touching only those cells: in a fork child, the events in flight are
	 * the parent's (its writer writes them) and the producers of claimed
	 * but unpublished cells do not exist. */
	size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	for (size_t p = r->tail; p != head; p++)
		atomic_store_explicit(&r->cells[p & r->mask].seq, p + r->mask + 1,
				      memory_order_relaxed);
	r->tail = head;
}

int pt_ring_push(struct pt_ring *r, const struct pt_event *ev)
{
	if (PT_FAIL(ring_push))
		return -EAGAIN;
	size_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
	for (;;) {
		struct pt_ring_cell *c = &r->cells[pos & r->mask];
		size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		intptr_t dif = (intptr_t)seq - (intptr_t)pos;
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&r->head, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed)) {
				c->ev = *ev;
				atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
				return 0;
			}
		} else if (dif < 0) {
			return -EAGAIN; /* full */
		} else {
			pos = atomic_load_explicit(&r->head, memory_order_relaxed);
		}
	}
}

int pt_ring_pop(struct pt_ring *r, struct pt_event *ev, size_t *pos)
{
	struct pt_ring_cell *c = &r->cells[r->tail & r->mask];
	size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
	if (seq != r->tail + 1)
		return 0;
	*ev = c->ev;
	if (pos)
		*pos = r->tail;
	atomic_store_explicit(&c->seq, r->tail + r->mask + 1, memory_order_release);
	r->tail++;
	return 1;
}

int pt_ring_stalled(struct pt_ring *r)
{
	return pt_ring_head(r) != r->tail;
}

void pt_ring_skip(struct pt_ring *r)
{
	struct pt_ring_cell *c = &r->cells[r->tail & r->mask];
	memset(&c->ev, 0, sizeof c->ev);
	/* The producer, if alive, will still store seq = tail + 1 later; we
	 * leave the cell's seq alone and move on: this is only done at the
	 * final flush, after which the ring is never read again. */
	r->tail++;
}
