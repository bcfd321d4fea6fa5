/*
 * fp.h: peaktrace's own failpoint table, built from failpoints.def.
 *
 *     if (PT_FAIL(writer_write))
 *             return -EIO;
 */
#ifndef PEAKTRACE_FP_H
#define PEAKTRACE_FP_H

#include "failpoints/failpoints.h"

enum pt_fp_id {
#define PT_FP_DEF(id, where, desc) PT_FP_ID_##id,
#include "peaktrace/failpoints.def"
#undef PT_FP_DEF
	PT_FP_ID__COUNT
};

extern struct pt_fp_site pt_fp_sites[PT_FP_ID__COUNT];
extern struct pt_fp_table pt_fp_table;
/* "runtime" or "decoder", indexed by enum pt_fp_id. */
extern const char *const pt_fp_where[PT_FP_ID__COUNT];

#define PT_FAIL(id) PT_FP_HIT(&pt_fp_sites[PT_FP_ID_##id])

#endif
