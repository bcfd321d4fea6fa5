/* A library that allocates and is unloaded at once (e2e.unloaded_library):
 * its frames must still resolve in the report. Built by the test. */
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) static char *plugin_fill(size_t n)
{
	char *p = malloc(n);
	if (p)
		memset(p, 7, n);
	return p;
}

char *plugin_make(size_t n)
{
	return plugin_fill(n);
}
