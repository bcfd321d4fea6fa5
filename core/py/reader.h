/*
 * reader.h: the interface between the dispatcher (core/pystack.c) and the
 * per-version frame readers (core/py/reader_3XX.c). Module-private.
 *
 * Each reader is compiled against one CPython minor version's headers (with
 * -DPy_BUILD_CORE, for the internal frame and runtime structs), so every
 * offset it uses is the compiler's offsetof for that version, not a number
 * copied by hand. A reader never references a CPython symbol: the
 * dispatcher resolves them with dlsym() at probe time and hands them over
 * in struct pt_pyrt. That keeps the readers linkable into a library that is
 * preloaded into processes with no Python at all.
 *
 * The dispatcher owns version detection, the name cache, interning and the
 * disable state; a reader owns layout: walking frames, reading code objects
 * and str objects, and its layout checks.
 */
#ifndef PT_PY_READER_H
#define PT_PY_READER_H

#include <stddef.h>
#include <stdint.h>

#include "contracts/fmt.h"

/* What the dispatcher resolved in the process. Written by the probe before
 * a reader is published, read-only afterwards. */
struct pt_pyrt {
	unsigned long hexversion;       /* running PY_VERSION_HEX, 0 if unknown */
	const void *runtime;            /* &_PyRuntime */
	const void *code_type;          /* &PyCode_Type */
	const void *unicode_type;       /* &PyUnicode_Type */
	const void *frame_type;         /* &PyFrame_Type */
	const void *none;               /* &_Py_NoneStruct */
	void *(*this_tstate)(void);     /* PyGILState_GetThisThreadState */
	void *(*tstate_interp)(void *); /* PyThreadState_GetInterpreter */
	int (*is_finalizing)(void);     /* _Py_IsFinalizing / Py_IsFinalizing */
	int (*addr2line)(void *code, int byte_offset); /* PyCode_Addr2Line */
};

/* One frame as a reader found it; the pointers are valid only during the
 * walk (never INCREF'd). */
struct pt_pyraw {
	const void *code;     /* PyCodeObject *, type already checked */
	const void *filename; /* co_filename, a str object (not yet checked) */
	const void *funcname; /* co_qualname on 3.11+, co_name before */
	int32_t firstlineno;  /* co_firstlineno */
	int32_t addrq;        /* byte offset for PyCode_Addr2Line; < 0: none */
	int32_t line;         /* > 0 when known without the line table
				 (3.9/3.10 frames being traced), else 0 */
	uint64_t ident;       /* tells apart code objects created one after
				 another at one address (rd_code_ident) */
};

/* A str object's payload, as stored: len characters of kind bytes each
 * (1: latin-1, 2: UCS-2, 4: UCS-4). */
struct pt_pystr {
	const void *data;
	size_t len;    /* characters, <= PT_PY_STR_MAX */
	unsigned kind; /* 1, 2 or 4 */
};

#define PT_PY_STR_MAX (1u << 20) /* longer names are taken for corruption */

/* Called by a reader for each frame, innermost first. Returns 0 to go on,
 * 1 to stop (output full), or a negative PT_PYE_* code. */
typedef int (*pt_pyemit_fn)(void *cookie, const struct pt_pyraw *f);

/* Validation failures a walk can report (negative return values). */
enum pt_py_err {
	PT_PYE_CODE_TYPE = -1,  /* a frame's code is not a PyCodeObject */
	PT_PYE_FRAME_TYPE = -2, /* 3.9/3.10: a frame is not a PyFrameObject */
	PT_PYE_LOOP = -3,       /* the chain loops or is too long */
	PT_PYE_OFFSET = -4,     /* instruction position outside the code */
	PT_PYE_STR = -5,        /* a name is not a compact str object */
	PT_PYE_OWNER = -6,      /* 3.11+: unknown frame owner value */
	PT_PYE_LINE = -7,       /* a line before its code's co_firstlineno */
	PT_PYE_FAILPOINT = -8,  /* failpoint py_walk_invalid fired */
};

#define PT_PY_CHECK_LAYOUT (-1)
#define PT_PY_CHECK_BUILD (-2)

struct pt_pyreader {
	unsigned minor;       /* 9..13: the 3.X this reader reads */
	const char *headers;  /* PY_VERSION of the headers it was built with */

	/* Layout checks possible before the interpreter runs: type object
	 * sizes; on 3.13 _PyRuntime.debug_offsets. 0; or PT_PY_CHECK_LAYOUT
	 * after appending what differed (a short phrase) to why; or
	 * PT_PY_CHECK_BUILD after appending what kind of build no reader can
	 * read ("it is a free-threaded build ..."), where rebuilding peaktrace
	 * would not help. Not async-signal-safe. */
	int (*check_probe)(const struct pt_pyrt *rt, struct pt_buf *why);

	/* Checks against the first live thread state seen: thread_id is the
	 * caller's, interp matches PyThreadState_GetInterpreter. Same
	 * convention. Async-signal-safe. */
	int (*check_tstate)(const struct pt_pyrt *rt, const void *tstate,
			    struct pt_buf *why);

	/* tstate->thread_id. Async-signal-safe. */
	unsigned long (*thread_id)(const void *tstate);

	/* _PyRuntime._finalizing: the thread state running finalization, or
	 * NULL. Async-signal-safe. */
	const void *(*finalizing)(const struct pt_pyrt *rt);

	/* Walks tstate's frames innermost first, calling emit for each frame
	 * worth reporting (shim and incomplete frames skipped), at most
	 * max_steps frames looked at. Returns 0, or a PT_PYE_* code (from a
	 * check or from emit). Async-signal-safe, reentrancy-safe, no
	 * allocation; reads only the caller's own frames. */
	int (*walk)(const struct pt_pyrt *rt, const void *tstate, int max_steps,
		    pt_pyemit_fn emit, void *cookie);

	/* Reads a str object's payload: checks its type, that it is compact
	 * (and ready, <= 3.11), its kind and length. 0 or PT_PYE_STR.
	 * Async-signal-safe. */
	int (*str)(const struct pt_pyrt *rt, const void *obj,
		   struct pt_pystr *out);
};

/* The readers compiled into this build, by ascending minor version,
 * NULL-terminated (core/py/readers.c). */
extern const struct pt_pyreader *const pt_pyreaders[];

#endif
