#!/usr/bin/env bash
# Runs one libFuzzer target for FUZZ_SECONDS (default 30) from its seed corpus
# (fuzz/corpus/TARGET) plus what earlier runs found (OUT/corpus-TARGET).
# Exits non-zero on any crash, leak, sanitizer report or timeout; the input
# is kept as OUT/TARGET-crash-* (or -leak-, -timeout-).
#   fuzz/run.sh TARGET [OUT]      (OUT: where fuzz/build.sh built, default build-fuzz)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="$1"
out="${2:-$root/build-fuzz}"
seconds="${FUZZ_SECONDS:-30}"
# The HTTP target may grow inputs past the 16 KiB header limit.
max_len=4096
[ "$target" = http ] && max_len=24576
mkdir -p "$out/corpus-$target"
# Symbolized stack traces in reports.
symbolizer="$(command -v llvm-symbolizer-16 || command -v llvm-symbolizer || true)"
[ -n "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH="$symbolizer"
log="$out/$target.log"
echo "fuzzing $target for $seconds s"
if ! "$out/${target}_fuzz" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$out/$target-" \
    "$out/corpus-$target" "$root/fuzz/corpus/$target" >"$log" 2>&1; then
  tail -60 "$log"
  echo "fuzz: $target found a failure (input saved as $out/$target-*)"
  exit 1
fi
grep -E '^Done|stat::number_of_executed_units|stat::peak_rss_mb' "$log"
