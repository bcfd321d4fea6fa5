#!/usr/bin/env bash
# A short libFuzzer run of the trace decoder (30 s) over the committed
# corpus; any crash, leak, sanitizer report or hang fails CI. Crashers go
# to fuzz/regressions/ (see fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Debug -DPT_DEBUG=ON -DPT_FUZZ=ON \
  -DPT_BUILD_TESTS=OFF >/dev/null
cmake --build build/fuzz --target fuzz_smoke -j"$(nproc)" 2>&1 | tail -5
echo "fuzz-smoke: ok"
