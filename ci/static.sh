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

# Every path that takes a sample prefetches the live table's slot before
# the stack walk (core/live.h, pt_live_prefetch). gcc deletes a call to a
# function whose only effect is a prefetch when it is not inlined early
# (its pure-const analysis finds no side effect): that had cost every
# sampled allocation a cache miss, a tenth of the sampler's time.
dis=$(objdump -d --no-show-raw-insn "$lib")
for fn in pt_sampled_record pt_slow_alloc; do
  # (no grep -q in a pipe under pipefail: its early exit fails the pipe)
  n=$(awk -v f="<$fn>:" '$2 == f {on = 1; next} /^$/ {on = 0} on && /prefetch/' <<<"$dis" | wc -l)
  if [[ $n -eq 0 ]]; then
    echo "static: $fn in the release runtime has lost the live table's prefetch"; exit 1
  fi
done
echo "release runtime: the sampled paths prefetch the live table"

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
