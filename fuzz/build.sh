#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/CMakeLists.txt: clang-16, libc++-16,
# ASan + UBSan) into OUT (default build-fuzz): {amount,time,json,http,stripe}_fuzz.
# Incremental: a second run rebuilds only what changed.
#   fuzz/build.sh [OUT]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/build-fuzz}"
command -v clang++-16 >/dev/null || { echo "fuzz/build.sh: clang++-16 is missing: run scripts/install-deps" >&2; exit 1; }
if [ ! -f "$out/build.ninja" ]; then
  cmake -S "$root/fuzz" -B "$out" -G Ninja -DCMAKE_CXX_COMPILER=clang++-16 >/dev/null
fi
cmake --build "$out" -j "${JOBS:-2}"
