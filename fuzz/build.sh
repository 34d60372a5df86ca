#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-16 and libc++-16 (Debian 12's GCC
# libstdc++ has std::expected, but clang cannot compile that header; libc++ 16
# has its own). Output: build-fuzz/{amount,time,json}_fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build-fuzz
mkdir -p "$OUT"
CXX="clang++-16 -std=c++2b -stdlib=libc++ -O1 -g -fsanitize=fuzzer,address,undefined -Isrc"
# libFuzzer's own runtime uses libstdc++ internally; no library type crosses
# between it and the targets, so both standard libraries can be linked.
LIBS="-Wl,--push-state,--no-as-needed,-lstdc++,--pop-state"
$CXX fuzz/amount_fuzz.cpp src/ledger/amount.cpp -o "$OUT/amount_fuzz" $LIBS
$CXX fuzz/time_fuzz.cpp src/ledger/time.cpp -o "$OUT/time_fuzz" $LIBS
$CXX fuzz/json_fuzz.cpp src/http/json.cpp src/store/codec.cpp src/ledger/amount.cpp fuzz/boost_json_src.cpp \
  -o "$OUT/json_fuzz" $LIBS
