# test_decoder replays the committed fuzz corpus (fuzz/corpus, and crashers
# turned regressions in fuzz/regressions) on every run.
target_compile_definitions(test_decoder PRIVATE PT_FUZZ_DIR="${CMAKE_SOURCE_DIR}/fuzz")
