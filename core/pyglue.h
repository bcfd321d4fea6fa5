/*
 * pyglue.h: joins Python frames (pystack.c) to native stacks.
 */
#ifndef PT_PYGLUE_H
#define PT_PYGLUE_H

#include <stdbool.h>
#include <stdint.h>

#define PT_PY_MAX_FRAMES 128
/* Native frames unwound when Python runs (the part above the eval loop). */
#define PT_PY_NATIVE_DEPTH 32

/* At start-up: probes for a CPython interpreter. Returns 0 (none, or one
 * we read), or -1 with *why set when one runs that we cannot read. */
int pt_pyglue_start(const char **why);
/* True when Python frames are being read (an interpreter we support runs). */
bool pt_pyglue_active(void);
/* The running Python's version ("" when none). */
const char *pt_pyglue_version(void);
/* Given nf native frames (innermost first, encoded ip << 1), appends the
 * calling thread's Python frames after cutting the native part at the
 * interpreter's eval loop. Returns the new frame count (<= cap). */
unsigned pt_pyglue_merge(uint64_t *frames, unsigned nf, unsigned cap);
/* In a fork child, after the intern tables were emptied: the frame
 * reader's caches hold the parent's string ids, which mean nothing (or
 * another string) in the child's tables; forgets them. */
void pt_pyglue_fork_child(void);
/* The index of the first of n return addresses inside the interpreter's
 * eval loop, or -1 (none there, or its bounds unknown). */
int pt_pyglue_eval_at(void *const *ips, int n);

#endif
