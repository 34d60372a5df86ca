# creditd: a thin wrapper over CMake. See README.md.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-sanitize fuzz bench clean format tidy

all: build

deps:
	@bash scripts/install-deps

$(BUILD_DIR)/build.ninja:
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) >/dev/null

build: deps $(BUILD_DIR)/build.ninja
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	@bash scripts/run-demo

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# The unit, store and HTTP tests under ASan + UBSan (a Debug build of its own).
test-sanitize: deps
	@cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCREDITD_SANITIZE=ON >/dev/null
	@cmake --build build-sanitize -j $(JOBS)
	@cd build-sanitize && CREDITD_RANDOM_SEEDS=10 ctest --output-on-failure -j $(JOBS)

# libFuzzer over the amount, time and JSON parsers, FUZZ_SECONDS each.
FUZZ_SECONDS ?= 60
fuzz:
	@bash scripts/install-deps --fuzz
	@bash fuzz/build.sh
	@for t in amount time json; do \
	  mkdir -p build-fuzz/corpus-$$t; \
	  echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
	  if ! build-fuzz/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -print_final_stats=1 \
	      -artifact_prefix=build-fuzz/$$t- build-fuzz/corpus-$$t fuzz/corpus/$$t > build-fuzz/$$t.log 2>&1; then \
	    tail -40 build-fuzz/$$t.log; echo "fuzz: $$t found a failure (input saved as build-fuzz/$$t-*)"; exit 1; \
	  fi; \
	  grep -E '^Done' build-fuzz/$$t.log; \
	done

# creditd against a PostgreSQL and a Redis + Lua baseline, checked, in one
# run (docs/performance.md; BENCH_QUICK=1 for a smoke run). Builds only what it runs.
bench: deps $(BUILD_DIR)/build.ninja
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target creditd ledger_bench redis_load
	@bash bench/run

# W1 under perf (or callgrind where perf cannot sample): bench/results/profile.txt.
.PHONY: profile
profile: deps $(BUILD_DIR)/build.ninja
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target creditd ledger_bench
	@bash bench/profile

clean:
	rm -rf $(BUILD_DIR) build-sanitize build-fuzz

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

tidy: $(BUILD_DIR)/build.ninja
	@git ls-files 'src/*.cpp' | xargs clang-tidy -p $(BUILD_DIR) --quiet
