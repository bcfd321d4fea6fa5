/* dlplug LIB MIB: loads LIB, has its plugin_make allocate MIB MiB,
 * unloads LIB at once, then holds the block (the peak) and frees it. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	char *(*make)(size_t) = (char *(*)(size_t))dlsym(h, "plugin_make");
	if (!make)
		return 1;
	size_t n = (size_t)atoi(argv[2]) << 20;
	char *p = make(n);
	if (dlclose(h) != 0)
		return 1;
	/* the block outlives the library that made it */
	unsigned sum = 0;
	for (size_t i = 0; i < n; i += 4096)
		sum += (unsigned char)p[i];
	printf("sum %u\n", sum);
	free(p);
	return 0;
}
