/*
 * ring.h: the lock-free event ring from application threads to the writer.
 *
 * A bounded multi-producer, single-consumer queue in the style of Dmitry
 * Vyukov's bounded MPMC queue: each cell carries a sequence number; a
 * producer claims a position with one CAS on head and publishes its event
 * by storing seq = pos + 1; the consumer takes cells in position order.
 * Positions are dense and totally ordered, which gives the trace its event
 * order (an allocation's event is pushed before malloc returns, a free's
 * before the block is released, so no free can precede its allocation).
 *
 * A full ring never blocks a producer: push fails and the caller counts a
 * drop. Memory: one mmap of 2^k cells made at start-up.
 *
 * push: async-signal-safe, reentrancy-safe, lock-free. pop: writer only.
 */
#ifndef PT_RING_H
#define PT_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum pt_ev_kind {
	PT_EV_ALLOC = 1, /* addr, size, weight, stack, tid */
	PT_EV_FREE = 2,  /* addr */
	PT_EV_THREAD = 3, /* tid; the name's 16 bytes (NUL-padded) in addr and size */
};

struct pt_event {
	uint8_t kind;      /* enum pt_ev_kind */
	uint8_t flags;     /* PT_EVF_* */
	uint16_t pad;
	uint32_t tid;      /* kernel thread id */
	uint64_t addr;
	uint64_t size;     /* requested bytes */
	uint64_t weight;   /* bytes this sample stands for */
	uint32_t stack;    /* interned stack id (0: none) */
	uint32_t aux;
};

#define PT_EVF_MMAP 1      /* the allocation is an mmap'd region */

struct pt_ring_cell {
	atomic_size_t seq;
	struct pt_event ev;
};

struct pt_ring {
	struct pt_ring_cell *cells;
	size_t mask;                      /* cells - 1 */
	_Alignas(64) atomic_size_t head;  /* next position to claim */
	_Alignas(64) size_t tail;         /* next position to consume (writer) */
};

int pt_ring_init(struct pt_ring *r, unsigned cells_log2);
void pt_ring_destroy(struct pt_ring *r);
/* Empties the ring (fork child; no concurrent users). */
void pt_ring_reset(struct pt_ring *r);
/* Drops every event in flight (fork child; no concurrent users). */
void pt_ring_discard(struct pt_ring *r);
/* 0, or -EAGAIN when full (failpoint ring_push). */
int pt_ring_push(struct pt_ring *r, const struct pt_event *ev);
/* 1 and the event when the next cell is published, 0 otherwise.
 * *pos receives the event's position. Consumer only. */
int pt_ring_pop(struct pt_ring *r, struct pt_event *ev, size_t *pos);
/* True when a position has been claimed but not yet published (a producer
 * is mid-push): the consumer may wait for it or give up at exit. */
int pt_ring_stalled(struct pt_ring *r);
/* Skips a claimed-but-unpublished cell (only at final flush, when its
 * producer may be dead or interrupted). */
void pt_ring_skip(struct pt_ring *r);

/* Starts loading the line of the head and of the cell a push would take
 * now: both are usually in the writer's or another producer's cache. A
 * sample calls this before it walks the stack, so its push finds them
 * (another producer may move the head meanwhile: a hint, nothing more).
 * Always inline, for the reason pt_live_prefetch gives (core/live.h). */
static inline __attribute__((always_inline)) void pt_ring_prefetch(struct pt_ring *r)
{
	if (r->cells) {
		size_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
		__builtin_prefetch(&r->cells[pos & r->mask], 1);
		__builtin_prefetch(&r->head, 1);
	}
}

static inline size_t pt_ring_head(struct pt_ring *r)
{
	return atomic_load_explicit(&r->head, memory_order_acquire);
}

#endif
