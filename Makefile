# Thin wrapper: the build is CMake's (CMakeLists.txt); tests are ctest's.
#   make          build build/actord (Release)
#   make run      start local Redis + MariaDB (tests/services.sh), then
#                 build/actord -c config/actord.json in the foreground
#   make test     install deps, build, run every test, plus ASan+UBSan and TSan
#   make bench    run the benchmarks in tests/bench/ (not tests)
JOBS ?= $(shell nproc)
CMAKE ?= cmake

.PHONY: all build build-asan build-tsan deps run services-stop test test-release test-asan test-tsan bench fuzz clean

all: build

deps:
	@./.ci/install-deps

build:
	@$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	@$(CMAKE) --build build -j $(JOBS)

build-asan:
	@$(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DACTORD_SANITIZE=address >/dev/null
	@$(CMAKE) --build build-asan -j $(JOBS)

build-tsan:
	@$(CMAKE) -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DACTORD_SANITIZE=thread >/dev/null
	@$(CMAKE) --build build-tsan -j $(JOBS)

run: deps build
	@./tests/services.sh start
	./build/actord -c config/actord.json

services-stop:
	@./tests/services.sh stop

test: deps
	@./tests/run-all.sh

test-release: build
	@cd build && ctest --output-on-failure -j 2

test-asan: build-asan
	@cd build-asan && ctest --output-on-failure -L sanitize

test-tsan: build-tsan
	@cd build-tsan && ctest --output-on-failure -L sanitize

bench: deps build
	@./tests/bench/run-all.sh

fuzz:
	@./tests/fuzz/build.sh

clean:
	rm -rf build build-asan build-tsan build-fuzz
