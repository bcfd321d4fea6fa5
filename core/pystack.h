/*
 * pystack.h: the calling thread's CPython stack, read from inside a malloc
 * hook (no GIL, no allocation, no profile hook). CPython 3.9 to 3.13.
 *
 * How it works (docs/PYTHON.md has the whole story, notes/cpython-frames.md
 * the evidence): pt_py_probe() finds the interpreter through
 * dlsym(RTLD_DEFAULT), reads its version and picks the reader compiled
 * against that minor version's headers (core/py/reader_3XX.c), after
 * checking what can be checked before the interpreter runs (type object
 * sizes; on 3.13 every offset in _PyRuntime.debug_offsets). pt_py_walk()
 * then gets the calling thread's PyThreadState from
 * PyGILState_GetThisThreadState() (per thread, unlike the "current" getters
 * that give the GIL holder or NULL), and follows the frame chain innermost
 * first. The first walk that sees a thread state and the first that sees a
 * frame check the layout once more against live objects; a mismatch
 * disables Python stacks for the process.
 *
 * Names are read from the str objects directly (no CPython call) and
 * handed to the caller's intern callback as UTF-8; the resulting ids are
 * cached by code-object pointer, with a content check, in a lock-free table
 * in static memory, so the callback runs once per code object, not once
 * per sample. Lines come from PyCode_Addr2Line, which is pure computation
 * in every supported version.
 *
 * Threads: pt_py_probe and pt_py_probe_for_tests must not run concurrently
 * with each other (a second concurrent caller gets PT_PY_NONE); they may
 * run while other threads walk. Everything else is lock-free.
 */
#ifndef PT_PYSTACK_H
#define PT_PYSTACK_H

#include <stddef.h>
#include <stdint.h>

enum pt_py_status {
	PT_PY_NONE = 0,        /* no CPython in this process (yet) */
	PT_PY_OK = 1,          /* a reader is active: pt_py_walk reads frames */
	PT_PY_UNSUPPORTED = 2, /* CPython found, but no reader fits (see why) */
};

/* Finds CPython via dlsym(RTLD_DEFAULT, ...), reads its version, picks and
 * checks the reader. Call once at start-up and again later, off the hot
 * path, while the result is PT_PY_NONE (an interpreter may be dlopen'ed);
 * once the result is PT_PY_OK or PT_PY_UNSUPPORTED it is final and later
 * calls return it again at once. On PT_PY_UNSUPPORTED, *why (if why is not
 * NULL) gets a one-line message without the "peaktrace: " prefix naming
 * the running version, the readers built in, and what to do. On other
 * results *why is set to "".
 *
 * Not async-signal-safe. May allocate: a failed dlsym() allocates its error
 * string, and on 3.9/3.10 Py_GetVersion() is called once. Call it with the
 * thread's reentrancy guard set, so that those allocations pass straight
 * through to the real allocator. */
int pt_py_probe(const char **why);

/* The running CPython version as "3.12.1", or "" when none was found.
 * Valid for the process's life. Async-signal-safe. */
const char *pt_py_version(void);

struct pt_pyframe {
	uint32_t file_id; /* intern id of co_filename, 0 when interning failed */
	uint32_t func_id; /* intern id of co_qualname (3.11+) or co_name (3.9,
			     3.10), 0 when interning failed */
	uint32_t line;    /* 1-based source line, 0 when the code has none */
	uint32_t frame_id;/* the frame callback's id for (file, func, line);
			     0 when there is none */
};

/* Interns utf8[0..len) (not NUL-terminated) and returns its id, or 0 on
 * failure. Called from inside pt_py_walk, so it runs in the allocator hook:
 * it must not allocate through malloc or take a lock the hook may hold. */
typedef uint32_t (*pt_py_intern_fn)(const char *utf8, size_t len, void *ctx);

/* Gives the frame (file_id, func_id, line) an id (0 on failure); the walk
 * caches it with the line, so that a frame seen before costs no call.
 * Same rules as pt_py_intern_fn. */
typedef uint32_t (*pt_py_frame_fn)(uint32_t file_id, uint32_t func_id,
				   uint32_t line, void *ctx);

/* Walks the calling thread's Python frames, innermost first, into
 * out[0..max); frames past max (the outermost ones) are dropped. Returns
 * the number of frames stored, 0 when the thread has no Python state (a C
 * thread, start-up, shutdown by another thread, no interpreter, Python
 * stacks disabled), or a negative errno when a validation check failed:
 * the layout is not what the reader expects, Python stacks are disabled
 * for the process, and every later call returns 0. pt_py_disable_reason()
 * then says why. Only one call ever returns < 0.
 *
 * Cached ids are assumed valid for the process's life, for one intern
 * function, frame function (NULL: frame_id stays 0) and context; call pt_py_names_flush() when they stop being so.
 *
 * Async-signal-safe with respect to its own state, reentrancy-safe, lock-
 * free, no allocation, errno preserved. Calls no CPython function except
 * PyGILState_GetThisThreadState, _Py_IsFinalizing/Py_IsFinalizing,
 * PyCode_Addr2Line and, once, PyThreadState_GetInterpreter (each a plain
 * read or pure computation). Reads interpreter memory: run it inside the
 * guarded region so that a fault on a corrupt frame is recovered. */
int pt_py_walk(struct pt_pyframe *out, int max, pt_py_intern_fn intern,
	       pt_py_frame_fn frame, void *ctx);

/* Why pt_py_walk disabled Python stacks (one line, no "peaktrace: "
 * prefix), or NULL while it has not. Async-signal-safe. */
const char *pt_py_disable_reason(void);

/* Forgets every cached name id (e.g. after fork, when the intern table
 * starts afresh). Async-signal-safe, lock-free; walks racing with it may
 * still store ids from before the flush. */
void pt_py_names_flush(void);

/* In a fork child (one thread): empties the caches, whose ids belong to
 * the parent's intern tables. */
void pt_py_fork_child(void);

/* ---- for tests ----------------------------------------------------------
 * Forgets the probe result and the walk state, then probes as
 * pt_py_probe() does, except that fake_version (if not NULL, "3.14.0")
 * replaces the version read from the interpreter, force_reader (if not
 * NULL, "3.12") picks that reader whatever the version, and the flag
 * PT_PY_TEST_NO_PROBE_CHECKS skips the reader's probe-time layout checks,
 * so that the run-time checks of pt_py_walk meet a wrong layout (run such
 * walks under fault recovery). Must not race with walks. */
#define PT_PY_TEST_NO_PROBE_CHECKS 1u
int pt_py_probe_for_tests(const char *fake_version, const char *force_reader,
			  unsigned flags, const char **why);

/* Which readers this build has, as "3.9, 3.10, 3.11, 3.12, 3.13". */
const char *pt_py_readers_built(void);

#endif
