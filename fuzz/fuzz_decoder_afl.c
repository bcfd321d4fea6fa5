/*
 * fuzz_decoder_afl.c: AFL++ harness for the trace decoder (harness.h has
 * the properties checked), in persistent mode with shared-memory test
 * cases when compiled with afl-clang-fast / afl-clang-lto.
 *
 * Compiled with any other compiler it is a plain reproducer: it decodes
 * each file named on the command line (or stdin), so a crasher found by
 * either fuzzer can be replayed under gdb or valgrind:
 *     fuzz_decoder_afl crash-1234
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#ifdef __AFL_FUZZ_TESTCASE_LEN
__AFL_FUZZ_INIT();

int main(void)
{
	__AFL_INIT();
	unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF;
	while (__AFL_LOOP(10000))
		pt_fuzz_one(buf, (size_t)__AFL_FUZZ_TESTCASE_LEN);
	return 0;
}
#else
static int replay(FILE *f, const char *name)
{
	size_t cap = 1 << 16, n = 0;
	uint8_t *buf = malloc(cap);

	if (!buf)
		return 1;
	for (;;) {
		if (n == cap) {
			uint8_t *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return 1;
			}
			buf = nb;
			cap *= 2;
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		if (r == 0)
			break;
		n += r;
	}
	if (ferror(f)) {
		fprintf(stderr, "fuzz_decoder_afl: cannot read '%s'\n", name);
		free(buf);
		return 1;
	}
	pt_fuzz_one(buf, n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int rc = 0;

	if (argc < 2)
		return replay(stdin, "-");
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (!f) {
			fprintf(stderr, "fuzz_decoder_afl: cannot open '%s'\n",
				argv[i]);
			rc = 1;
			continue;
		}
		rc |= replay(f, argv[i]);
		fclose(f);
	}
	return rc;
}
#endif
