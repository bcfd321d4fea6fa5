/*
 * readers.c: the table of frame readers compiled into this build. Which
 * ones exist is decided at configure time (core/py/CMakeLists.txt defines
 * PT_PY_HAVE_3XX for each minor version whose headers were found); the
 * dispatcher (core/pystack.c) only ever sees this table, so a reader that
 * was compiled out is simply absent, and the probe says "no reader for
 * 3.X".
 */
#include "core/py/reader.h"

#include "contracts/banned.h"

#define PT_PY_READER(n) extern const struct pt_pyreader pt_pyreader_##n;
#if PT_PY_HAVE_309
PT_PY_READER(309)
#endif
#if PT_PY_HAVE_310
PT_PY_READER(310)
#endif
#if PT_PY_HAVE_311
PT_PY_READER(311)
#endif
#if PT_PY_HAVE_312
PT_PY_READER(312)
#endif
#if PT_PY_HAVE_313
PT_PY_READER(313)
#endif

const struct pt_pyreader *const pt_pyreaders[] = {
#if PT_PY_HAVE_309
	&pt_pyreader_309,
#endif
#if PT_PY_HAVE_310
	&pt_pyreader_310,
#endif
#if PT_PY_HAVE_311
	&pt_pyreader_311,
#endif
#if PT_PY_HAVE_312
	&pt_pyreader_312,
#endif
#if PT_PY_HAVE_313
	&pt_pyreader_313,
#endif
	NULL,
};
