# Thin wrapper over CMake: `make run` builds and serves the embedded default, `make test` runs every test.
BUILD_DIR      ?= build
ASAN_BUILD_DIR ?= build-asan
FUZZ_BUILD_DIR ?= build-fuzz
JOBS           ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS    ?=

.PHONY: all deps build build-asan build-fuzz run test test-unit test-asan test-fuzz bench format format-check clean install

all: build

deps:
	@./packaging/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

$(ASAN_BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD_DIR) -DAGENTAI_SANITIZE=ON -DAGENTAI_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS)

build-asan: deps $(ASAN_BUILD_DIR)/CMakeCache.txt
	cmake --build $(ASAN_BUILD_DIR) -j $(JOBS)

$(FUZZ_BUILD_DIR)/CMakeCache.txt:
	CC=clang cmake -S . -B $(FUZZ_BUILD_DIR) -DAGENTAI_FUZZ=ON -DAGENTAI_BENCH=OFF -DAGENTAI_SANITIZE=ON $(CMAKE_FLAGS)

build-fuzz: deps $(FUZZ_BUILD_DIR)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD_DIR) -j $(JOBS)

# Serves the embedded default: 127.0.0.1:8080, ./data, LMDB, the mock provider.
run: build
	./$(BUILD_DIR)/agentai serve

# The whole suite, then the whole suite again under ASan+UBSan, then short fuzz runs.
test: format-check build build-asan build-fuzz
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)
	cd $(ASAN_BUILD_DIR) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)
	cd $(FUZZ_BUILD_DIR) && ctest --output-on-failure -R '^fuzz/'

test-unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

bench: build
	@./packaging/install-deps.sh --bench
	./bench/run.sh $(BUILD_DIR)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@command -v clang-format >/dev/null || ./packaging/install-deps.sh
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

install: build
	cmake --install $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_BUILD_DIR) $(FUZZ_BUILD_DIR)
