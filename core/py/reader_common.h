/*
 * reader_common.h: the parts of a frame reader that are the same source
 * text in every CPython version but must be compiled against each
 * version's own headers (struct layouts differ). Included by each
 * reader_3XX.c after <Python.h> and the internal headers; everything here
 * is static inline, so each reader gets its own copy with its own offsets.
 *
 * Nothing here references a CPython symbol: type objects and functions come
 * from struct pt_pyrt (resolved with dlsym by the dispatcher).
 * Every function is async-signal-safe, reentrancy-safe and allocation-free,
 * except rd_check_types (probe time only, but equally harmless).
 */
#ifndef PT_PY_READER_COMMON_H
#define PT_PY_READER_COMMON_H

#ifndef PY_VERSION_HEX
#error "include <Python.h> before reader_common.h"
#endif

#include <pthread.h>

#include "contracts/covmarks.h"
#include "core/py/reader.h"

#define RD_MINOR ((PY_VERSION_HEX >> 16) & 0xff)

static inline const void *rd_type(const void *obj)
{
	return (const void *)((const PyObject *)obj)->ob_type;
}

/* Appends "WHAT N, expected M" to why. */
static inline void rd_mismatch(struct pt_buf *why, const char *what,
			       uint64_t got, uint64_t want)
{
	pt_buf_puts(why, what);
	pt_buf_putc(why, ' ');
	pt_buf_putu(why, got);
	pt_buf_puts(why, ", expected ");
	pt_buf_putu(why, want);
}

/* The running interpreter's type objects know their instance sizes: a
 * reader built for another minor version (or a debug build, whose objects
 * carry extra fields) sees different numbers. */
static inline int rd_check_types(const struct pt_pyrt *rt, struct pt_buf *why)
{
	const PyTypeObject *code = rt->code_type;
	const PyTypeObject *str = rt->unicode_type;

#if PY_VERSION_HEX >= 0x030b0000
	/* variable-size since 3.11: the bytecode follows the struct */
	if ((size_t)code->tp_basicsize != offsetof(PyCodeObject, co_code_adaptive)) {
		rd_mismatch(why, "code object size", (uint64_t)code->tp_basicsize,
			    offsetof(PyCodeObject, co_code_adaptive));
		return -1;
	}
	if ((size_t)code->tp_itemsize != sizeof(_Py_CODEUNIT)) {
		rd_mismatch(why, "code unit size", (uint64_t)code->tp_itemsize,
			    sizeof(_Py_CODEUNIT));
		return -1;
	}
#else
	if ((size_t)code->tp_basicsize != sizeof(PyCodeObject)) {
		rd_mismatch(why, "code object size", (uint64_t)code->tp_basicsize,
			    sizeof(PyCodeObject));
		return -1;
	}
	const PyTypeObject *frame = rt->frame_type;
	if ((size_t)frame->tp_basicsize != sizeof(PyFrameObject)) {
		rd_mismatch(why, "frame object size", (uint64_t)frame->tp_basicsize,
			    sizeof(PyFrameObject));
		return -1;
	}
#endif
	if ((size_t)str->tp_basicsize != sizeof(PyUnicodeObject)) {
		rd_mismatch(why, "str object size", (uint64_t)str->tp_basicsize,
			    sizeof(PyUnicodeObject));
		return -1;
	}
	/* both are type objects: their own type is `type`, so the ob_type
	 * offset holds the same pointer */
	if (rd_type(code) != rd_type(str)) {
		pt_buf_puts(why, "type objects disagree on their metatype");
		return -1;
	}
	return 0;
}

static inline unsigned long rd_thread_id(const void *tstate)
{
	return ((const PyThreadState *)tstate)->thread_id;
}

static inline int rd_check_tstate(const struct pt_pyrt *rt, const void *tstate,
				  struct pt_buf *why)
{
	const PyThreadState *ts = tstate;

	if (ts->thread_id != (unsigned long)pthread_self()) {
		pt_buf_puts(why, "thread state's thread_id is not the calling thread");
		return -1;
	}
	if ((void *)ts->interp != rt->tstate_interp((void *)tstate)) {
		pt_buf_puts(why, "thread state's interp differs from "
				 "PyThreadState_GetInterpreter");
		return -1;
	}
	return 0;
}

static inline const void *rd_finalizing(const struct pt_pyrt *rt)
{
	return _PyRuntimeState_GetFinalizing((_PyRuntimeState *)rt->runtime);
}

/* The last min(n, 8) of the n bytes at p, as a word (n < 2^31). */
static inline uint64_t rd_tail8(const unsigned char *p, Py_ssize_t n)
{
	uint64_t v = 0;
	if (n >= 8) {
		memcpy(&v, p + n - 8, 8);
	} else {
		for (Py_ssize_t i = 0; i < n; i++)
			v = v << 8 | p[i];
	}
	return v;
}

/* An identity of a code object beyond its address, for the name caches:
 * a code object freed and another made at its address (exec'd or
 * recompiled code, notebook cells: pymalloc hands the block out again at
 * once, and often the blocks of its file name and line table too, so
 * every address the caches compare can match) must not pass for the old
 * one. 3.12+: co_version, numbered when the code object is made. Before:
 * a fingerprint of the line table (size, first and last bytes) and of the
 * file name (length, last bytes), read inside the guarded walk. */
static inline uint64_t rd_code_ident(const PyCodeObject *co)
{
#if PY_VERSION_HEX >= 0x030c0000
	return co->co_version;
#else
#if PY_VERSION_HEX >= 0x030a0000
	const PyBytesObject *lt = (const PyBytesObject *)co->co_linetable;
#else
	const PyBytesObject *lt = (const PyBytesObject *)co->co_lnotab;
#endif
	/* compared for equality only, never hashed into a table: a few
	 * loads and xors (every frame of every walk pays for it) */
	uint64_t h = 0;
	if (lt != NULL) {
		Py_ssize_t n = lt->ob_base.ob_size;
		if (n > 0 && n < ((Py_ssize_t)1 << 30)) {
			const unsigned char *b = (const unsigned char *)lt->ob_sval;
			uint64_t first = b[0];
			if (n >= 8)
				memcpy(&first, b, 8);
			h = (uint64_t)n ^ (first << 17 | first >> 47) ^ rd_tail8(b, n);
		}
	}
	const PyASCIIObject *fn = (const PyASCIIObject *)co->co_filename;
	if (fn != NULL) {
		Py_ssize_t n = fn->length;
		h ^= (uint64_t)n << 40;
		if (fn->state.compact && fn->state.ascii && n > 0 &&
		    n < ((Py_ssize_t)1 << 30)) {
			uint64_t t = rd_tail8((const unsigned char *)(fn + 1), n);
			h ^= t << 29 | t >> 35;
		}
	}
	return h;
#endif
}

/* Fills the name part of raw from a code object whose type was checked. */
static inline void rd_code_names(const PyCodeObject *co, struct pt_pyraw *raw)
{
	raw->code = co;
	raw->filename = co->co_filename;
#if PY_VERSION_HEX >= 0x030b0000
	raw->funcname = co->co_qualname;
#else
	raw->funcname = co->co_name;
#endif
	raw->firstlineno = co->co_firstlineno;
	raw->line = 0;
	raw->ident = rd_code_ident(co);
}

static inline int rd_str(const struct pt_pyrt *rt, const void *obj,
			 struct pt_pystr *out)
{
	const PyASCIIObject *a = obj;

	if (obj == NULL || rd_type(obj) != rt->unicode_type)
		return PT_PYE_STR;
	if (!a->state.compact)
		return PT_PYE_STR;
#if PY_VERSION_HEX < 0x030c0000
	if (!a->state.ready)
		return PT_PYE_STR;
#endif
	unsigned kind = a->state.kind;
	if (kind != 1 && kind != 2 && kind != 4)
		return PT_PYE_STR;
	if (a->state.ascii && kind != 1)
		return PT_PYE_STR;
	if (a->length < 0 || (size_t)a->length > PT_PY_STR_MAX)
		return PT_PYE_STR;
	out->kind = kind;
	out->len = (size_t)a->length;
	if (a->state.ascii)
		out->data = (const void *)(a + 1);
	else
		out->data = (const void *)((const PyCompactUnicodeObject *)obj + 1);
	return 0;
}

/* Bounds a walk: a self-loop is corruption; so is running out of steps. */
static inline int rd_step(const void *frame, const void *prev, int *steps)
{
	if (frame == prev)
		return PT_PYE_LOOP;
	if (--*steps < 0)
		return PT_PYE_LOOP;
	return 0;
}

#define RD_DEFINE_READER(sym, check_probe_fn, check_tstate_fn, walk_fn)         \
	const struct pt_pyreader sym = {                                        \
		.minor = RD_MINOR,                                              \
		.headers = PY_VERSION,                                          \
		.check_probe = check_probe_fn,                                  \
		.check_tstate = check_tstate_fn,                                \
		.thread_id = rd_thread_id,                                      \
		.finalizing = rd_finalizing,                                    \
		.walk = walk_fn,                                                \
		.str = rd_str,                                                  \
	}

#endif
