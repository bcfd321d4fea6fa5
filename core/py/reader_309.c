/*
 * reader_309.c: reads CPython 3.9 frames. Compiled against the 3.9 headers
 * only (-DPy_BUILD_CORE, for _PyRuntimeState).
 *
 * Layout read (offsets are offsetof for these headers; x86-64 numbers in
 * docs/PYTHON.md): tstate->frame is the innermost PyFrameObject, linked by
 * f_back. Each frame has f_code, and f_lasti, the byte offset of the last
 * instruction (-1 before the first). When the frame is traced (f_trace
 * set) f_lineno is the line, as PyFrame_GetLineNumber does; otherwise the
 * dispatcher calls PyCode_Addr2Line(f_code, f_lasti). 3.9 code objects have
 * no qualname: co_name is all there is. Every frame is checked to be a
 * PyFrameObject and its code a PyCodeObject.
 *
 * Workload: called for each sampled allocation; cost is a few loads per
 * frame. Async-signal-safe, reentrancy-safe, no allocation; it only reads
 * the calling thread's own frames, which cannot change while it runs.
 */
#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#endif
/* CPython's inline helpers assert against its own symbols (and assert would
 * abort the host): never compile them in */
#ifndef NDEBUG
#define NDEBUG 1
#endif
#include <Python.h>
#include <frameobject.h>
#include "internal/pycore_runtime.h"

#if PY_MAJOR_VERSION != 3 || PY_MINOR_VERSION != 9
#error "reader_309.c must be compiled against python 3.9 headers"
#endif

#include "core/py/reader_common.h"

#include "contracts/banned.h"

extern const struct pt_pyreader pt_pyreader_309;

static int check_probe(const struct pt_pyrt *rt, struct pt_buf *why)
{
	return rd_check_types(rt, why);
}

static int walk(const struct pt_pyrt *rt, const void *tstate, int max_steps,
		pt_pyemit_fn emit, void *cookie)
{
	const PyFrameObject *f = ((const PyThreadState *)tstate)->frame;
	const PyFrameObject *prev = NULL;

	while (f != NULL) {
		int rc = rd_step(f, prev, &max_steps);
		if (rc < 0)
			return rc;
		if (rd_type(f) != rt->frame_type)
			return PT_PYE_FRAME_TYPE;
		const PyCodeObject *co = f->f_code;
		if (co == NULL || rd_type(co) != rt->code_type)
			return PT_PYE_CODE_TYPE;
		const PyObject *bytecode = co->co_code;
		if (bytecode == NULL)
			return PT_PYE_CODE_TYPE;
		Py_ssize_t nbytes = ((const PyVarObject *)bytecode)->ob_size;
		if (f->f_lasti < -1 || f->f_lasti >= nbytes)
			return PT_PYE_OFFSET;

		struct pt_pyraw raw;
		rd_code_names(co, &raw);
		raw.addrq = f->f_lasti;
		if (f->f_trace != NULL && f->f_lineno > 0)
			raw.line = f->f_lineno;
		rc = emit(cookie, &raw);
		if (rc != 0)
			return rc > 0 ? 0 : rc;
		prev = f;
		f = f->f_back;
	}
	return 0;
}

RD_DEFINE_READER(pt_pyreader_309, check_probe, rd_check_tstate, walk);
