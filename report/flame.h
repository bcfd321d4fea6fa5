/*
 * flame.h: the call tree of a run model, as flamegraphs draw it.
 *
 * pt_flame_build() merges the model's stacks into a tree rooted at a
 * synthetic "all" node: a stack adds its value (bytes live at the peak, or
 * bytes allocated over the run) to every node on its path from the
 * outermost frame inward. Frames are merged by display name (distinct
 * frame ids that symbolize alike are one box), as the collapsed format
 * merges them. Stacks whose value is 0 are left out.
 *
 * The nodes come out in pre-order: nodes[0] is the root, a node's parent
 * has a lower index, a node's subtree is the index range [i, i + size).
 * Siblings are ordered by value, largest first, then by name, so the
 * output is deterministic. Renderers lay boxes out left to right in that
 * order.
 *
 * Memory: one node per distinct (path prefix), at most the sum of the
 * stacks' depths. Not runtime code.
 */
#ifndef PT_FLAME_H
#define PT_FLAME_H

#include <stddef.h>
#include <stdint.h>

#include "report/model.h"

#define PT_FLAME_NONE UINT32_MAX

enum pt_flame_metric {
	PT_FLAME_PEAK = 0,   /* pt_mstack.peak_bytes / peak_count */
	PT_FLAME_ALLOC = 1,  /* pt_mstack.alloc_bytes / alloc_count */
};

struct pt_flame_node {
	uint32_t frame;      /* canonical index into model->frames;
				PT_FLAME_NONE for the root */
	uint32_t parent;     /* node index; PT_FLAME_NONE for the root */
	uint32_t depth;      /* root 0 */
	uint32_t size;       /* nodes in the subtree, itself included */
	uint64_t value;      /* bytes, inclusive of the subtree */
	uint64_t self;       /* bytes of stacks ending here */
	uint64_t count;      /* samples, inclusive */
};

struct pt_flame {
	size_t nnodes;       /* >= 1 */
	struct pt_flame_node *nodes; /* pre-order */
	uint32_t max_depth;  /* deepest node's depth (0 when only the root) */
};

/* canon[i] = the lowest frame index whose name equals frames[i].name.
 * Returns a malloc'd array of m->nframes entries (or a 1-entry one when
 * there are none), NULL when out of memory. */
uint32_t *pt_flame_canon(const struct pt_model *m);

/* A row of a top-sites table: the model's sites merged by display name
 * (two frame ids that symbolize alike are one site, as in the
 * flamegraph); frame is the canonical one. */
struct pt_site_row {
	uint32_t frame;
	uint64_t peak_bytes, peak_count, alloc_bytes;
};

/* The merged rows, by peak bytes, then bytes allocated over the run, then
 * name: a malloc'd array of *n (at least one entry allocated), NULL when
 * out of memory. */
struct pt_site_row *pt_flame_site_rows(const struct pt_model *m, size_t *n);

/* Builds the tree of metric for m. Returns 0, -ENOMEM or -EINVAL. */
int pt_flame_build(const struct pt_model *m, enum pt_flame_metric metric,
		   struct pt_flame **out);

void pt_flame_free(struct pt_flame *f);

#endif
