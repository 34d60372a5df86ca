# creditd: a thin wrapper over CMake. See README.md.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-sanitize crash-test fuzz bench clean format tidy

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

# The crash harness, long: N SIGKILLs under load, each followed by a restart
# and the checks in tests/crash/crash_harness.cpp. SEED= repeats a run.
N ?= 200
crash-test: build
	@build/bin/crash_harness --iterations $(N) $(if $(SEED),--seed $(SEED),)

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

bench: build
	@bash bench/run

clean:
	rm -rf $(BUILD_DIR) build-sanitize build-fuzz

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

tidy: $(BUILD_DIR)/build.ninja
	@git ls-files 'src/*.cpp' | xargs clang-tidy -p $(BUILD_DIR) --quiet
