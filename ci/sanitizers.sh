#!/usr/bin/env bash
# ASan + UBSan build (preset asan) of the unit tests and the reporter: runs
# the unit tests and the reporter over every corpus trace.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset asan >/dev/null
cmake --build --preset asan -j"$(nproc)" 2>&1 | grep -E "error|warning" || true
ctest --test-dir build/asan -L unit -j"$(nproc)" --output-on-failure
pt=build/asan/cli/peaktrace
for f in fuzz/corpus/* fuzz/regressions/*; do
  [[ -f $f && $f != *.md ]] || continue
  for fmt in text json collapsed pprof speedscope svg; do
    rc=0; "$pt" report "$f" --format "$fmt" -o /dev/null 2>/dev/null || rc=$?
    if (( rc != 0 && rc != 2 )); then echo "sanitizers: report $fmt $f exit $rc"; exit 1; fi
  done
done
echo "sanitizers: ok"
