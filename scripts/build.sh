#!/usr/bin/env bash
# Configures and builds one or more presets (default: debug release).
# Usage: scripts/build.sh [PRESET...]
set -euo pipefail
cd "$(dirname "$0")/.."
presets=("$@")
((${#presets[@]})) || presets=(debug release)
jobs=$(nproc 2>/dev/null || echo 2)
for p in "${presets[@]}"; do
  cmake --preset "$p" >/dev/null
  cmake --build --preset "$p" -j"$jobs"
done
