/*
 * reader_311.c: reads CPython 3.11 frames. Compiled against the 3.11
 * headers only (-DPy_BUILD_CORE, for _PyInterpreterFrame and
 * _PyRuntimeState). The same build reads Debian's 3.11.2: patch releases
 * share the layout, and the probe's type-size checks would say otherwise.
 *
 * Layout read: tstate->cframe->current_frame is the innermost
 * _PyInterpreterFrame, linked by previous. Each has f_code, prev_instr
 * (the code unit before the next instruction to run) and owner. A frame
 * owned by the thread or a frame object whose prev_instr lies before
 * _co_firsttraceable has been pushed but has not reached RESUME yet: it is
 * skipped, as _PyFrame_IsIncomplete does (generator frames never are).
 * 3.11 has no shim frames (entry frames are marked by is_entry, and are
 * real Python frames). The line is PyCode_Addr2Line(f_code,
 * (prev_instr - _PyCode_CODE(f_code)) * 2), the formula of
 * PyFrame_GetLineNumber. Names: co_filename and co_qualname.
 *
 * Workload: called for each sampled allocation; a few loads per frame.
 * Async-signal-safe, reentrancy-safe, no allocation; it only reads the
 * calling thread's own frames, which cannot change while it runs.
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
#include "internal/pycore_runtime.h"
#include "internal/pycore_frame.h"

#if PY_MAJOR_VERSION != 3 || PY_MINOR_VERSION != 11
#error "reader_311.c must be compiled against python 3.11 headers"
#endif

#include "core/py/reader_common.h"

#include "contracts/banned.h"

extern const struct pt_pyreader pt_pyreader_311;

static int check_probe(const struct pt_pyrt *rt, struct pt_buf *why)
{
	return rd_check_types(rt, why);
}

/* A thread state's cframe points at its root_cframe from creation on, so
 * a NULL one means the layout is not what this reader was built for. */
static int check_tstate(const struct pt_pyrt *rt, const void *tstate,
			struct pt_buf *why)
{
	if (rd_check_tstate(rt, tstate, why) < 0)
		return -1;
	if (((const PyThreadState *)tstate)->cframe == NULL) {
		pt_buf_puts(why, "thread state has no cframe");
		return -1;
	}
	return 0;
}

static int walk(const struct pt_pyrt *rt, const void *tstate, int max_steps,
		pt_pyemit_fn emit, void *cookie)
{
	const _PyCFrame *cframe = ((const PyThreadState *)tstate)->cframe;
	if (cframe == NULL)
		return 0;
	const _PyInterpreterFrame *f = cframe->current_frame;
	const _PyInterpreterFrame *prev = NULL;

	for (; f != NULL; prev = f, f = f->previous) {
		int rc = rd_step(f, prev, &max_steps);
		if (rc < 0)
			return rc;
		const PyCodeObject *co = f->f_code;
		if (co == NULL || rd_type(co) != rt->code_type)
			return PT_PYE_CODE_TYPE;
		if (f->owner != FRAME_OWNED_BY_THREAD &&
		    f->owner != FRAME_OWNED_BY_GENERATOR &&
		    f->owner != FRAME_OWNED_BY_FRAME_OBJECT)
			return PT_PYE_OWNER;
		const _Py_CODEUNIT *base = _PyCode_CODE(co);
		if (f->owner != FRAME_OWNED_BY_GENERATOR &&
		    f->prev_instr < base + co->_co_firsttraceable) {
			PT_MARK(py_incomplete_frame_skipped);
			continue; /* incomplete: pushed, not yet at RESUME */
		}
		ptrdiff_t idx = f->prev_instr - base;
		if (idx < -1 || idx >= ((const PyVarObject *)co)->ob_size)
			return PT_PYE_OFFSET;

		struct pt_pyraw raw;
		rd_code_names(co, &raw);
		raw.addrq = (int32_t)idx * (int32_t)sizeof(_Py_CODEUNIT);
		rc = emit(cookie, &raw);
		if (rc != 0)
			return rc > 0 ? 0 : rc;
	}
	return 0;
}

RD_DEFINE_READER(pt_pyreader_311, check_probe, check_tstate, walk);
