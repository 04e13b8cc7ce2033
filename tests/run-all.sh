#!/bin/sh
# The whole test suite, as `make test` runs it (and CI, through .ci/run):
#  1. Release build, every test (unit, stress, fuzz-corpus replay, e2e);
#  2. ASan+UBSan build, the tests labelled `sanitize` (runtime and network);
#  3. TSan build, the same.
# Every stage runs two tests at a time; the heavy and latency-bound ones
# alone (RUN_SERIAL in tests/CMakeLists.txt).
# Sanitizer builds run the stress tests at a quarter of their message counts
# (ACTORD_STRESS_SCALE): same code paths, within the 15-minute budget.
set -eu
cd "$(dirname "$0")/.."
JOBS=$(nproc)

build() { # dir, extra cmake args...
  dir=$1; shift
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
}

start=$(date +%s)
echo "== Release: all tests"
build build -DCMAKE_BUILD_TYPE=Release
(cd build && ctest --output-on-failure --timeout 900 -j 2)

echo "== ASan+UBSan: runtime and network tests"
build build-asan -DCMAKE_BUILD_TYPE=Debug -DACTORD_SANITIZE=address
(cd build-asan && ACTORD_STRESS_SCALE=0.25 ctest --output-on-failure -L sanitize -j 2)

echo "== TSan: runtime and network tests"
build build-tsan -DCMAKE_BUILD_TYPE=Debug -DACTORD_SANITIZE=thread
(cd build-tsan && ACTORD_STRESS_SCALE=0.25 ctest --output-on-failure -L sanitize -j 2)

echo "== all test suites passed in $(( $(date +%s) - start )) s"
