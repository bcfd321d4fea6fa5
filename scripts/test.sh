#!/usr/bin/env bash
# The whole test suite: builds the debug and release presets and runs every
# tier in both (unit tests, end-to-end tests, Python tests, chaos), then the
# checks that need one build only. Exit status 0 only if all pass.
#
#   scripts/test.sh            everything
#   scripts/test.sh unit       unit tests only (both builds)
#   scripts/test.sh e2e        end-to-end tests only (both builds)
#   scripts/test.sh python     Python end-to-end tests only (both builds)
#   scripts/test.sh static     static checks only (ci/static.sh)
#   scripts/test.sh robustness ASan/UBSan unit tests, valgrind on the reporter,
#                              a 30 s decoder fuzz run
#   scripts/test.sh coverage   gcov/lcov line coverage (not part of "all")
set -euo pipefail
cd "$(dirname "$0")/.."
tier=${1:-all}
jobs=$(nproc 2>/dev/null || echo 2)

scripts/install-deps.sh --test
scripts/build.sh debug release

run_ctest() { # preset label-regex
  local args=(--preset "$1" -j"$jobs")
  [[ -n "$2" ]] && args+=(-L "$2")
  ctest "${args[@]}"
}

case "$tier" in
  unit)   run_ctest debug unit;   run_ctest release unit ;;
  e2e)    run_ctest debug e2e;    run_ctest release e2e ;;
  python) run_ctest debug python; run_ctest release python ;;
  static) ci/static.sh ;;
  robustness) ci/sanitizers.sh; ci/valgrind.sh; ci/fuzz-smoke.sh ;;
  coverage) ci/coverage.sh ;;
  all)
    run_ctest debug ""
    run_ctest release ""
    ci/static.sh
    ci/sanitizers.sh
    ci/valgrind.sh
    ci/fuzz-smoke.sh
    ;;
  *) echo "test.sh: unknown tier '$tier' (all, unit, e2e, python, static, robustness, coverage)" >&2; exit 1 ;;
esac
