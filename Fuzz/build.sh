#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ into .build/fuzz (see Fuzz/README.md). Each of our modules is compiled
# with swiftc -sanitize=fuzzer,address (coverage instrumentation + AddressSanitizer), as a static library; each
# target links them with libFuzzer's main.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=.build/fuzz
mkdir -p "$OUT"
FEATURES=(-enable-upcoming-feature ExistentialAny -enable-upcoming-feature MemberImportVisibility
  -enable-upcoming-feature InternalImportsByDefault -enable-upcoming-feature NonisolatedNonsendingByDefault)
FLAGS=(-sanitize=fuzzer,address -parse-as-library -package-name vigil -swift-version 6 -O -g "${FEATURES[@]}"
  -I "$OUT" -I Sources/CMosquitto -I Sources/CYAML -I Sources/COpenSSL -I Sources/CZlib)

module() { # name, sources...
  local name=$1; shift
  swiftc "${FLAGS[@]}" -module-name "$name" -emit-module -emit-module-path "$OUT/$name.swiftmodule" \
    -emit-library -static -o "$OUT/lib$name.a" "$@"
}
# FUZZ_REUSE_MODULES=1 relinks the targets against the libraries built last time.
if [ -z "${FUZZ_REUSE_MODULES:-}" ]; then
  module VigilCore Sources/VigilCore/*.swift Sources/VigilCore/Detectors/*.swift
  module VigilPipeline Sources/VigilPipeline/*.swift
  module VigilIO Sources/VigilIO/*.swift
fi

for target in Fuzz/Fuzz*.swift; do
  name=$(basename "$target" .swift)
  swiftc "${FLAGS[@]}" -module-name "$name" "$target" -o "$OUT/$name" \
    -L "$OUT" -lVigilIO -lVigilPipeline -lVigilCore -lmosquitto -lyaml -lssl -lcrypto -lz
  echo "built $OUT/$name"
done
