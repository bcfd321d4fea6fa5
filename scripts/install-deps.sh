#!/usr/bin/env bash
# Installs the Debian packages peaktrace needs to build and test, when they
# are missing. Idempotent; needs root (or sudo) only when something is
# missing. Usage: scripts/install-deps.sh [--test]   (--test: also the
# packages only the test suite and the static checks need)
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libunwind-dev libdw-dev libelf-dev
            zlib1g-dev python3 python3-dev)
test_pkgs=(libcmocka-dev valgrind cppcheck clang clang-tidy lcov afl++ python3-numpy
           golang-go chromium fonts-dejavu-core libc6-dbg libjemalloc2)

want=("${build_pkgs[@]}")
if [[ "${1:-}" == "--test" ]]; then
  want+=("${test_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#want[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
