# creditd: a thin wrapper over CMake. See README.md.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-sanitize test-mutants crash-test fuzz bench clean format tidy

all: build

deps:
	@bash scripts/install-deps

$(BUILD_DIR)/build.ninja:
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) >/dev/null

build: deps $(BUILD_DIR)/build.ninja
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	@bash scripts/run-demo

# Every test, the fuzz targets included (FUZZ_SECONDS each, 30 s by default here).
test: build
	@cd $(BUILD_DIR) && FUZZ_SECONDS=$${FUZZ_SECONDS:-30} ctest --output-on-failure -j $(JOBS)

# The unit, store and HTTP tests (label `sanitize`) with the code under test
# built with ASan + UBSan: a Debug build of its own, of what those tests need
# (the fuzz targets run under both sanitizers in `make test` already).
SANITIZE_TARGETS = creditd creditctl ledger_tests store_tests http_tests
test-sanitize: deps
	@cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCREDITD_SANITIZE=ON \
	  -DCREDITD_FUZZ_TESTS=OFF >/dev/null
	@cmake --build build-sanitize -j $(JOBS) --target $(SANITIZE_TARGETS)
	@cd build-sanitize && CREDITD_RANDOM_SEEDS=10 ctest --output-on-failure -j $(JOBS) -L sanitize

# Mutation testing: creditd built with each planted bug of mutants/*.patch
# (a scratch copy of the working tree, build-mutants/), the suite run against
# each; fails naming any mutant no test caught, or a patch that no longer
# applies. MUTANTS="a b" runs only those; MUTANTS_FULL=1 names every catching
# test. See mutants/README.md.
MUTANTS ?=
test-mutants: deps
	@JOBS=$(JOBS) bash scripts/test-mutants $(MUTANTS)

# The crash harness, long: N SIGKILLs under load, each followed by a restart
# and the checks in tests/crash/crash_harness.cpp. SEED= repeats a run;
# creditd serves as by default (the append-only log); LOG=off serves the
# SQLite file alone (--no-log).
N ?= 200
crash-test: build
	@$(BUILD_DIR)/bin/crash_harness --iterations $(N) $(if $(SEED),--seed $(SEED),) $(if $(LOG),--log $(LOG),)

# Every libFuzzer target (fuzz/: amount, time, JSON, HTTP requests, Stripe
# signatures) for FUZZ_SECONDS each; what they find stays in build-fuzz/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = amount time json http stripe
fuzz: deps
	@bash fuzz/build.sh build-fuzz
	@for t in $(FUZZ_TARGETS); do \
	  FUZZ_SECONDS=$(FUZZ_SECONDS) bash fuzz/run.sh $$t build-fuzz || exit 1; \
	done

# creditd against a PostgreSQL and a Redis + Lua baseline, checked, in one
# run (docs/performance.md; BENCH_QUICK=1 for a smoke run). Builds only what it runs.
bench: deps $(BUILD_DIR)/build.ninja
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target creditd ledger_bench redis_load http_load events_peer disk_probe
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
