/*
 * fakepy313t.c: a stand-in for a free-threaded CPython 3.13 (3.13t), for
 * test_pystack_fakepy: it exports just the symbols pt_py_probe looks up.
 * Its _PyRuntime starts with a _Py_DebugOffsets head (cookie, version,
 * free_threaded = 1) as 3.13t's does; nothing else is ever read, and
 * nothing here is ever called by the probe.
 */
#include <stddef.h>
#include <stdint.h>

#define API __attribute__((visibility("default")))

struct debug_offsets_head {
	char cookie[8];
	uint64_t version;
	uint64_t free_threaded;
};

API const unsigned long Py_Version = 0x030d00f0; /* 3.13.0 final */
API struct {
	struct debug_offsets_head head;
	char rest[4096];
} _PyRuntime = { { "xdebugpy", 0x030d00f0, 1 }, { 0 } };
API char PyCode_Type[512], PyUnicode_Type[512], PyFrame_Type[512], _Py_NoneStruct[64];

API void *PyGILState_GetThisThreadState(void);
API void *PyThreadState_GetInterpreter(void *tstate);
API int PyCode_Addr2Line(void *code, int offset);
API int Py_IsFinalizing(void);

void *PyGILState_GetThisThreadState(void)
{
	return NULL;
}

void *PyThreadState_GetInterpreter(void *tstate)
{
	(void)tstate;
	return NULL;
}

int PyCode_Addr2Line(void *code, int offset)
{
	(void)code;
	(void)offset;
	return -1;
}

int Py_IsFinalizing(void)
{
	return 0;
}
