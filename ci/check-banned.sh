#!/usr/bin/env bash
# Enforces the runtime rules of DESIGN.md ("Banned APIs"):
#  1. every runtime .c file (contracts/, failpoints/, core/, core/py/) includes
#     contracts/banned.h, so a banned call does not compile;
#  2. the shims (which define malloc & co. and so cannot include it) call no
#     banned function except through pt_real;
#  3. the release libpeaktrace.so imports none of the banned symbols.
# Usage: ci/check-banned.sh [RELEASE_BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
rel=${1:-build/release}
fail=0

for f in contracts/*.c failpoints/*.c core/*.c core/py/*.c; do
  [[ -e $f ]] || continue
  if ! grep -q '#include "contracts/banned.h"' "$f"; then
    echo "check-banned: $f does not include contracts/banned.h"; fail=1
  fi
done

banned='malloc|calloc|realloc|free|strdup|strndup|printf|fprintf|sprintf|snprintf|vsnprintf|puts|fputs|fopen|fwrite|perror|assert|abort|exit'
for f in shims/*.c; do
  # strip comments and string literals, then look for calls that are not
  # definitions (PT_EXPORT lines) and not through pt_real
  hits=$(sed -e 's://.*$::' "$f" | perl -0pe 's:/\*.*?\*/::gs; s/"(\\.|[^"\\])*"/""/g' |
         grep -nE "(^|[^_.a-zA-Z0-9>])($banned)[[:space:]]*\(" |
         grep -vE 'PT_EXPORT|pt_real\.' || true)
  # a shim may call another interposed shim of ours (realloc -> malloc), but
  # only malloc/free family, never stdio/abort/exit
  bad=$(echo "$hits" | grep -E "(^|[^_.a-zA-Z0-9])(strdup|strndup|printf|fprintf|sprintf|snprintf|vsnprintf|puts|fputs|fopen|fwrite|perror|assert|abort|exit)[[:space:]]*\(" || true)
  if [[ -n "$bad" ]]; then
    echo "check-banned: $f calls a banned function:"; echo "$bad"; fail=1
  fi
done

lib=$rel/shims/libpeaktrace.so
if [[ -f $lib ]]; then
  imports=$(nm -D --undefined-only "$lib" | awk '{print $2}' | sed 's/@.*//')
  for s in malloc calloc realloc free strdup strndup printf fprintf sprintf snprintf \
           vsnprintf __printf_chk __fprintf_chk __sprintf_chk __snprintf_chk \
           __vsnprintf_chk puts fputs fopen fwrite perror __assert_fail abort exit; do
    if grep -qx "$s" <<<"$imports"; then
      echo "check-banned: $lib imports '$s'"; fail=1
    fi
  done
else
  echo "check-banned: $lib not built; symbol check skipped"; fail=1
fi
if ((fail)); then exit 1; fi
echo "check-banned: ok"
