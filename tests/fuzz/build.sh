#!/bin/sh
# Build the libFuzzer targets into build-fuzz/ (clang-14,
# -fsanitize=fuzzer,address,undefined) and check them on the corpus.
# A long session (docs/ARCHITECTURE.md, "Fuzzing the connection code"):
#   build-fuzz/fuzz_http_conn -max_total_time=3600 -jobs=2 -workers=2 \
#       -dict=tests/fuzz/http.dict build-fuzz/corpus-http_conn tests/fuzz/corpus/http_conn
# (fuzz_upstream_parse, fuzz_multipart, fuzz_webparse, fuzz_ws_frame and fuzz_trace
# likewise, with corpus-<name>.)
set -eu
cd "$(dirname "$0")/../.."
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang-14 -DCMAKE_BUILD_TYPE=Debug \
      -DACTORD_FUZZ=ON -DACTORD_SANITIZE= >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target fuzz_http_conn fuzz_upstream_parse \
      fuzz_multipart fuzz_webparse fuzz_ws_frame fuzz_trace
# One pass over the committed seeds: fails on any crash, leak or UB.
for t in http_conn upstream_parse multipart webparse ws_frame trace; do
  mkdir -p build-fuzz/corpus-$t
  build-fuzz/fuzz_$t -runs=0 tests/fuzz/corpus/$t
  echo "build-fuzz/fuzz_$t is ready"
done
