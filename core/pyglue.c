/*
 * pyglue.c: mixed Python/native stacks (see pyglue.h).
 *
 * The native part is cut at the first frame inside the interpreter's eval
 * loop (_PyEval_EvalFrameDefault, located once at start-up with dladdr1's
 * symbol size): what is below it is interpreter plumbing, and the Python
 * frames say more. So a numpy allocation reads, outermost first,
 * job.py:load -> ... -> PyArray_NewFromDescr -> malloc.
 *
 * Called inside a guarded region, from the sampled path only.
 */
#include "core/pyglue.h"

#include <dlfcn.h>
#include <link.h>
#include <stddef.h>

#include "contracts/covmarks.h"
#include "core/runtime.h"

#if __has_include("core/pystack.h") && __has_include("core/pystack.c")
#include "core/pystack.h"
#define PT_HAVE_PYSTACK 1
#else
#define PT_HAVE_PYSTACK 0
#endif

#include "contracts/banned.h"

#if PT_HAVE_PYSTACK
static int py_on;              /* 1 when frames are read */
static uintptr_t eval_lo, eval_hi;

static uint32_t intern_str(const char *s, size_t n, void *ctx)
{
	(void)ctx;
	return pt_intern_put(&pt_g.strings, s, (uint32_t)n);
}

static uint32_t intern_frame(uint32_t file_id, uint32_t func_id, uint32_t line,
			     void *ctx)
{
	(void)ctx;
	uint32_t triple[3] = { func_id, file_id, line };
	return pt_intern_put(&pt_g.pyframes, triple, sizeof triple);
}
#endif

int pt_pyglue_start(const char **why)
{
	*why = NULL;
#if PT_HAVE_PYSTACK
	int rc = pt_py_probe(why);
	if (rc == PT_PY_UNSUPPORTED)
		return -1;
	if (rc != PT_PY_OK)
		return 0;
	void *eval = dlsym(RTLD_DEFAULT, "_PyEval_EvalFrameDefault");
	Dl_info info;
	const ElfW(Sym) *sym = NULL;
	if (eval && dladdr1(eval, &info, (void **)&sym, RTLD_DL_SYMENT) && sym) {
		eval_lo = (uintptr_t)eval;
		eval_hi = eval_lo + sym->st_size;
	}
	py_on = 1;
	pt_pyalloc_wrap_arenas();
#endif
	return 0;
}

bool pt_pyglue_active(void)
{
#if PT_HAVE_PYSTACK
	return py_on != 0;
#else
	return false;
#endif
}

const char *pt_pyglue_version(void)
{
#if PT_HAVE_PYSTACK
	return pt_py_version();
#else
	return "";
#endif
}

int pt_pyglue_eval_at(void *const *ips, int n)
{
#if PT_HAVE_PYSTACK
	for (int i = 0; eval_hi && i < n; i++) {
		uintptr_t ip = (uintptr_t)ips[i];
		if (ip >= eval_lo && ip < eval_hi)
			return i;
	}
#else
	(void)ips;
	(void)n;
#endif
	return -1;
}

void pt_pyglue_fork_child(void)
{
#if PT_HAVE_PYSTACK
	pt_py_fork_child();
#endif
}

unsigned pt_pyglue_merge(uint64_t *frames, unsigned nf, unsigned cap)
{
#if PT_HAVE_PYSTACK
	if (!py_on)
		return nf;
	struct pt_pyframe py[PT_PY_MAX_FRAMES];
	int n = pt_py_walk(py, PT_PY_MAX_FRAMES, intern_str, intern_frame, NULL);
	if (n < 0) {
		PT_MARK(python_reader_disabled);
		py_on = 0;
		return nf;
	}
	if (n == 0)
		return nf;
	if (eval_hi) {
		for (unsigned i = 0; i < nf; i++) {
			uintptr_t ip = (uintptr_t)(frames[i] >> 1);
			if (ip >= eval_lo && ip < eval_hi) {
				nf = i;
				PT_MARK(python_native_cut);
				break;
			}
		}
	}
	for (int i = 0; i < n && nf < cap; i++) {
		uint32_t id = py[i].frame_id;
		if (!id)
			id = intern_frame(py[i].file_id, py[i].func_id, py[i].line, NULL);
		if (!id)
			break;
		frames[nf++] = ((uint64_t)id << 1) | 1;
	}
	PT_MARK(python_frames);
	return nf;
#else
	(void)cap;
	(void)frames;
	return nf;
#endif
}
