#!/usr/bin/env bash
# Static checks: banned APIs, clang-tidy, cppcheck, gcc -fanalyzer, and the
# release build's symbol hygiene. Needs build/release (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

echo "== banned APIs"
ci/check-banned.sh build/release

echo "== release symbol hygiene"
lib=build/release/shims/libpeaktrace.so
if nm "$lib" | grep -q __start_pt_covmarks || readelf -S "$lib" | grep -q pt_covmarks; then
  echo "static: coverage marks are compiled into the release runtime"; exit 1
fi
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /[TW]/ {print $3}' | sort)
unexpected=$(comm -23 <(echo "$exported") <(sort ci/exports.txt) || true)
if [[ -n "$unexpected" ]]; then
  echo "static: libpeaktrace.so exports symbols not in ci/exports.txt:"; echo "$unexpected"; exit 1
fi
echo "release runtime: $(wc -l <<<"$exported") exported symbols, no coverage marks"

srcs=$(ls contracts/*.c failpoints/*.c core/*.c shims/*.c report/*.c cli/*.c)

echo "== clang-tidy"

clang-tidy -p build/release --quiet $srcs >build/clang-tidy.log 2>&1 || {
  cat build/clang-tidy.log | grep -E "error|warning" | head -50; echo "static: clang-tidy failed"; exit 1; }

echo "== cppcheck"
cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability,performance \
  --inline-suppr --suppress=missingIncludeSystem -I. -Iinclude \
  -DPT_DEBUG=0 -DPT_COVMARKS=0 -D_GNU_SOURCE $srcs

echo "== gcc -fanalyzer"
cmake -S . -B build/analyzer -DCMAKE_BUILD_TYPE=Release -DPT_DEBUG=OFF -DPT_BUILD_TESTS=OFF \
  -DCMAKE_C_FLAGS="-fanalyzer" >/dev/null
cmake --build build/analyzer -j"$jobs" --target peaktrace peaktrace_cli

echo "static: all clean"
