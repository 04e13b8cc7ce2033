#!/bin/sh
# The whole test suite, as `make test` runs it (and CI, through .ci/run):
#  1. Release build, every test (unit, stress, fuzz-corpus replay, e2e);
#  2. ASan+UBSan build, the tests labelled `sanitize` (runtime and network);
#  3. TSan build, the same.
# Every stage runs two tests at a time; the heavy and latency-bound ones
# alone (RUN_SERIAL in tests/CMakeLists.txt).
# Sanitizer builds run the stress tests at a quarter of their message counts
# (ACTORD_STRESS_SCALE): same code paths, within the 15-minute budget.
# The two sanitizer builds compile while the Release tests run, under the
# SCHED_IDLE policy (chrt --idle): most e2e tests wait on sockets, and the
# kernel preempts an idle-class task as soon as any test process wakes, so
# the compilers take only CPU the tests leave unused. That saves the builds'
# ~110 s of wall time without loading the latency-bound tests.
set -eu
cd "$(dirname "$0")/.."
JOBS=$(nproc)

build() { # dir, extra cmake args...
  dir=$1; shift
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
}

# This script again, as the background job below: the two sanitizer builds.
if [ "${1:-}" = --sanitizer-builds ]; then
  build build-asan -DCMAKE_BUILD_TYPE=Debug -DACTORD_SANITIZE=address
  build build-tsan -DCMAKE_BUILD_TYPE=Debug -DACTORD_SANITIZE=thread
  exit 0
fi

start=$(date +%s)
echo "== Release: all tests"
build build -DCMAKE_BUILD_TYPE=Release
# The sanitizer builds, in the background: their own process group (setsid),
# so that a failing Release stage can stop every compiler it started.
blog=build/sanitizer-builds.log
setsid chrt --idle 0 tests/run-all.sh --sanitizer-builds >"$blog" 2>&1 &
bpid=$!
trap 'kill -- -$bpid 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM
(cd build && ctest --output-on-failure --timeout 900 -j 2)
if ! wait $bpid; then
  cat "$blog"
  echo "== the sanitizer builds failed (log above: $blog)" >&2
  exit 1
fi
trap - EXIT INT TERM

echo "== ASan+UBSan: runtime and network tests"
(cd build-asan && ACTORD_STRESS_SCALE=0.25 ctest --output-on-failure -L sanitize -j 2)

echo "== TSan: runtime and network tests"
(cd build-tsan && ACTORD_STRESS_SCALE=0.25 ctest --output-on-failure -L sanitize -j 2)

echo "== all test suites passed in $(( $(date +%s) - start )) s"
