# test_guard: the guard runs with the sigaction/signal interposers of
# libpeaktrace.so linked into the test binary, so that cmocka's and the
# test's own signal()/sigaction() calls go through them as a profiled
# program's would.
target_sources(test_guard PRIVATE ${CMAKE_SOURCE_DIR}/shims/signal.c)
