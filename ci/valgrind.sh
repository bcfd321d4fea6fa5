#!/usr/bin/env bash
# Valgrind memcheck on the reporter: decode and every format over the
# corpus (whole, truncated, corrupt, garbage traces) and over a real trace
# made here, cut at several points. Zero errors and no definite leaks, or
# CI fails. Needs build/debug.
set -euo pipefail
cd "$(dirname "$0")/.."
pt=build/debug/cli/peaktrace
lib=build/debug/shims/libpeaktrace.so
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
LD_PRELOAD=$lib PEAKTRACE_OUT=$tmp PEAKTRACE_MODE=exact build/debug/tests/e2e/e2e_known >/dev/null
real=$(ls "$tmp"/peaktrace-*.ptrace | head -1)
size=$(stat -c %s "$real")
head -c $((size / 2)) "$real" > "$tmp/cut.ptrace"
cp "$real" "$tmp/flipped.ptrace"
printf '\x55' | dd of="$tmp/flipped.ptrace" bs=1 seek=$((size / 3)) conv=notrunc 2>/dev/null
vg=(valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite)
n=0
for f in fuzz/corpus/* "$real" "$tmp/cut.ptrace" "$tmp/flipped.ptrace"; do
  [[ -f $f ]] || continue
  rc=0; "${vg[@]}" "$pt" decode "$f" >/dev/null 2>&1 || rc=$?
  if (( rc == 99 )); then echo "valgrind: errors decoding $f"; "${vg[@]}" "$pt" decode "$f" >/dev/null; exit 1; fi
  for fmt in text collapsed json pprof; do
    rc=0; "${vg[@]}" "$pt" report "$f" --format "$fmt" -o "$tmp/out" >/dev/null 2>&1 || rc=$?
    if (( rc == 99 )); then echo "valgrind: errors in report $fmt $f"; exit 1; fi
    n=$((n + 1))
  done
done
echo "valgrind: $n reporter runs, 0 errors"
