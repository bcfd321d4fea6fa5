/*
 * reader_313.c: reads CPython 3.13 frames. Compiled against the 3.13
 * headers only (-DPy_BUILD_CORE, for _PyInterpreterFrame, _PyRuntimeState
 * and _Py_DebugOffsets).
 *
 * Layout read: tstate->current_frame (no more cframe) is the innermost
 * _PyInterpreterFrame, linked by previous. f_executable is a code object
 * or None; instr_ptr is the instruction executing or about to start. Shim
 * frames (owner FRAME_OWNED_BY_CSTACK, pushed at each C -> Python entry,
 * executable None) are skipped without reading them further, as are
 * frames whose instr_ptr lies before _co_firsttraceable (pushed, not yet at
 * RESUME; never generator frames): the rule of _PyFrame_IsIncomplete. The
 * line is PyCode_Addr2Line(code, (instr_ptr - _PyCode_CODE(code)) * 2),
 * the formula of PyUnstable_InterpreterFrame_GetLine. Names: co_filename
 * and co_qualname.
 *
 * Probe-time check: 3.13 describes its own layout in
 * _PyRuntime.debug_offsets (the first field of _PyRuntime, filled at build
 * time, valid before Py_Initialize). Every offset this reader uses is
 * compared with it, and a free-threaded build (3.13t, another object
 * layout) is refused.
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

#include <string.h>

#if PY_MAJOR_VERSION != 3 || PY_MINOR_VERSION != 13
#error "reader_313.c must be compiled against python 3.13 headers"
#endif
#ifdef Py_GIL_DISABLED
#error "reader_313.c reads the default (GIL) build; free-threaded headers found"
#endif

#include "core/py/reader_common.h"

#include "contracts/banned.h"

extern const struct pt_pyreader pt_pyreader_313;

/* One debug_offsets field against the compiled value. */
#define DBG_CHECK(field, want)                                                  \
	do {                                                                    \
		if (d->field != (uint64_t)(want)) {                             \
			rd_mismatch(why, "debug_offsets." #field, d->field,     \
				    (uint64_t)(want));                          \
			return -1;                                              \
		}                                                               \
	} while (0)

/* What the debug offsets say about the build as a whole. The struct's
 * head (cookie, version, free_threaded) is laid out alike in every 3.13
 * build, so this reads right even in a free-threaded one. */
static int check_build(const struct pt_pyrt *rt, struct pt_buf *why)
{
	const _Py_DebugOffsets *d = &((const _PyRuntimeState *)rt->runtime)->debug_offsets;

	if (memcmp(d->cookie, _Py_Debug_Cookie, sizeof d->cookie) != 0) {
		pt_buf_puts(why, "no debug_offsets cookie in _PyRuntime");
		return -1;
	}
	if ((d->version >> 16) != (PY_VERSION_HEX >> 16)) {
		pt_buf_puts(why, "debug_offsets.version ");
		pt_buf_putx(why, d->version);
		pt_buf_puts(why, " is another minor version");
		return -1;
	}
	if (rt->hexversion != 0 && d->version != rt->hexversion) {
		pt_buf_puts(why, "debug_offsets.version ");
		pt_buf_putx(why, d->version);
		pt_buf_puts(why, " differs from Py_Version ");
		pt_buf_putx(why, rt->hexversion);
		return -1;
	}
	if (d->free_threaded != 0) {
		pt_buf_puts(why, "it is a free-threaded build (3.13t), "
				 "whose object layout peaktrace cannot read");
		return PT_PY_CHECK_BUILD;
	}
	return 0;
}

static int check_debug_offsets(const struct pt_pyrt *rt, struct pt_buf *why)
{
	const _Py_DebugOffsets *d = &((const _PyRuntimeState *)rt->runtime)->debug_offsets;

	DBG_CHECK(runtime_state.size, sizeof(_PyRuntimeState));
	DBG_CHECK(runtime_state.finalizing, offsetof(_PyRuntimeState, _finalizing));
	DBG_CHECK(thread_state.size, sizeof(PyThreadState));
	DBG_CHECK(thread_state.interp, offsetof(PyThreadState, interp));
	DBG_CHECK(thread_state.current_frame, offsetof(PyThreadState, current_frame));
	DBG_CHECK(thread_state.thread_id, offsetof(PyThreadState, thread_id));
	DBG_CHECK(interpreter_frame.size, sizeof(_PyInterpreterFrame));
	DBG_CHECK(interpreter_frame.previous, offsetof(_PyInterpreterFrame, previous));
	DBG_CHECK(interpreter_frame.executable,
		  offsetof(_PyInterpreterFrame, f_executable));
	DBG_CHECK(interpreter_frame.instr_ptr, offsetof(_PyInterpreterFrame, instr_ptr));
	DBG_CHECK(interpreter_frame.owner, offsetof(_PyInterpreterFrame, owner));
	DBG_CHECK(code_object.size, sizeof(PyCodeObject));
	DBG_CHECK(code_object.filename, offsetof(PyCodeObject, co_filename));
	DBG_CHECK(code_object.name, offsetof(PyCodeObject, co_name));
	DBG_CHECK(code_object.qualname, offsetof(PyCodeObject, co_qualname));
	DBG_CHECK(code_object.firstlineno, offsetof(PyCodeObject, co_firstlineno));
	DBG_CHECK(code_object.co_code_adaptive, offsetof(PyCodeObject, co_code_adaptive));
	DBG_CHECK(pyobject.ob_type, offsetof(PyObject, ob_type));
	DBG_CHECK(unicode_object.size, sizeof(PyUnicodeObject));
	DBG_CHECK(unicode_object.state, offsetof(PyASCIIObject, state));
	DBG_CHECK(unicode_object.length, offsetof(PyASCIIObject, length));
	DBG_CHECK(unicode_object.asciiobject_size, sizeof(PyASCIIObject));
	return 0;
}

static int check_probe(const struct pt_pyrt *rt, struct pt_buf *why)
{
	/* the build first, so that a free-threaded one is named as such
	 * rather than by the first size that differs */
	int rc = check_build(rt, why);
	if (rc < 0)
		return rc;
	if (rd_check_types(rt, why) < 0)
		return PT_PY_CHECK_LAYOUT;
	return check_debug_offsets(rt, why);
}

static int walk(const struct pt_pyrt *rt, const void *tstate, int max_steps,
		pt_pyemit_fn emit, void *cookie)
{
	const _PyInterpreterFrame *f = ((const PyThreadState *)tstate)->current_frame;
	const _PyInterpreterFrame *prev = NULL;

	for (; f != NULL; prev = f, f = f->previous) {
		int rc = rd_step(f, prev, &max_steps);
		if (rc < 0)
			return rc;
		if (f->owner == FRAME_OWNED_BY_CSTACK) {
			PT_MARK(py_shim_frame_skipped);
			continue; /* shim frame of a C -> Python entry */
		}
		if (f->owner != FRAME_OWNED_BY_THREAD &&
		    f->owner != FRAME_OWNED_BY_GENERATOR &&
		    f->owner != FRAME_OWNED_BY_FRAME_OBJECT)
			return PT_PYE_OWNER;
		const PyObject *exe = f->f_executable;
		if (exe == rt->none) {
			PT_MARK(py_none_executable_skipped);
			continue; /* no code: nothing to report */
		}
		if (exe == NULL || rd_type(exe) != rt->code_type)
			return PT_PYE_CODE_TYPE;
		const PyCodeObject *co = (const PyCodeObject *)exe;
		const _Py_CODEUNIT *base = _PyCode_CODE(co);
		if (f->owner != FRAME_OWNED_BY_GENERATOR &&
		    f->instr_ptr < base + co->_co_firsttraceable) {
			PT_MARK(py_incomplete_frame_skipped);
			continue; /* incomplete: pushed, not yet at RESUME */
		}
		ptrdiff_t idx = f->instr_ptr - base;
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

RD_DEFINE_READER(pt_pyreader_313, check_probe, rd_check_tstate, walk);
