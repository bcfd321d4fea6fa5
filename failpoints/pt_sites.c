/*
 * pt_sites.c: the storage for peaktrace's failpoint table (fp.h).
 * Linked into every peaktrace binary; zero-initialised, disarmed.
 */
#include "peaktrace/fp.h"

#include "contracts/banned.h"

struct pt_fp_site pt_fp_sites[PT_FP_ID__COUNT] = {
#define PT_FP_DEF(id, where, desc) PT_FP_SITE_INIT(#id, desc),
#include "peaktrace/failpoints.def"
#undef PT_FP_DEF
};

struct pt_fp_table pt_fp_table = { pt_fp_sites, PT_FP_ID__COUNT };

const char *const pt_fp_where[PT_FP_ID__COUNT] = {
#define PT_FP_DEF(id, where, desc) where,
#include "peaktrace/failpoints.def"
#undef PT_FP_DEF
};
