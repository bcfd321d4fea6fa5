/*
 * fuzz_decoder.c: libFuzzer target for the trace decoder (see harness.h
 * for the properties checked). Built by fuzz/CMakeLists.txt with
 * -fsanitize=fuzzer,address,undefined when PT_FUZZ=ON and CC is clang.
 */
#include <stddef.h>
#include <stdint.h>

#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return pt_fuzz_one(data, size);
}
