/*
 * dl.c: dlclose, interposed so an object's MODULE record survives its
 * unloading. The writer reads the module list every 100 ms (and at exit);
 * a library loaded, used and closed in between would otherwise leave its
 * frames as bare addresses. Before the real dlclose, the object is
 * described into a slot the writer turns into a MODULE record
 * (pt_writer_note_unload). No dlopen shim is needed: an object still
 * loaded is found by the next read.
 *
 * Pass-through when profiling is off or the call comes from inside the
 * runtime. The description takes the loader's lock (dl_iterate_phdr) on
 * the application's thread, outside any allocation and holding none of
 * our locks: the same as the application calling dl_iterate_phdr itself.
 */
#include <dlfcn.h>
#include <errno.h>

#include "core/guard.h"
#include "core/runtime.h"
#include "core/unwind.h"
#include "shims/shim.h"

PT_EXPORT int dlclose(void *handle)
{
	if (!pt_real.dlclose)
		pt_shim_resolve();
	if (!pt_real.dlclose) {
		errno = ENOSYS; /* cannot happen with a C library that has one */
		return -1;
	}
	pt_unwind_note_unload(); /* before its code and tables go */
	if (pt_ks_active() && pt_started() && pt_tls.busy == 0) {
		int saved = errno;
		pt_tls.busy++;
		pt_writer_note_unload(handle);
		pt_tls.busy--;
		errno = saved;
	}
	return pt_real.dlclose(handle);
}
