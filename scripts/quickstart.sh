#!/usr/bin/env bash
# The quick start: installs what is missing, builds the release preset, and
# profiles the bundled example job into a report folder.
#
#   scripts/quickstart.sh              profiles examples/job.py (Python)
#   scripts/quickstart.sh native       profiles examples/native_job.c
#
# The report lands in ./peaktrace-out/peaktrace-PID/index.html; the last
# line printed names it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/build.sh release
pt=$root/build/release/cli/peaktrace
out=$root/peaktrace-out
mkdir -p "$out"
if [[ "${1:-python}" == "native" ]]; then
  cc -O0 -g -fno-omit-frame-pointer -o "$out/native_job" examples/native_job.c
  "$pt" run --out "$out" -- "$out/native_job"
else
  # the interpreter itself, not a launcher (pyenv's shims are shell
  # scripts: each of their helper processes would be profiled too)
  py=$(python3 -c 'import sys; print(sys.executable)')
  "$pt" run --out "$out" -- "$py" examples/job.py
fi
echo "quickstart: traces and reports are in $out (open the index.html named above)"
