#!/usr/bin/env bash
# Line and function coverage (gcov/lcov) of the unit, e2e and Python tests
# on the coverage preset; prints the summary and writes an HTML report to
# build/coverage/html. Not part of the default CI run (it rebuilds
# everything instrumented); run it with scripts/test.sh coverage.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset coverage >/dev/null
cmake --build --preset coverage -j"$(nproc)" >/dev/null
find build/coverage -name '*.gcda' -delete
# Two tests cannot pass instrumented: gcov writes its .gcda files when each
# process exits, which the sandboxed program (chroot, seccomp) forbids and
# the output test's RLIMIT_FSIZE makes fail, and both compare stderr.
ctest --test-dir build/coverage -L "unit|e2e|python|^py$" -E "^(e2e\.sandboxed|cli\.output_never_partial)$" \
  -j"$(nproc)" | tail -3
lcov --quiet --capture --directory build/coverage --output-file build/coverage/all.info
lcov --quiet --remove build/coverage/all.info '/usr/*' '*/tests/*' '*/fuzz/*' '*/bench/*' \
  --output-file build/coverage/peaktrace.info
lcov --summary build/coverage/peaktrace.info
genhtml --quiet build/coverage/peaktrace.info --output-directory build/coverage/html
echo "coverage: build/coverage/html/index.html"
