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
# Every Swift file of a module, in its subfolders too (VigilIO has Outputs/, HTTP/, Metrics/), in a stable order.
sources() { find "Sources/$1" -name '*.swift' | LC_ALL=C sort; }
if [ -z "${FUZZ_REUSE_MODULES:-}" ]; then
  for name in VigilCore VigilSim VigilPipeline VigilIO; do   # dependencies first (Package.swift)
    mapfile -t files < <(sources "$name")
    module "$name" "${files[@]}"
  done
fi

for target in Fuzz/Fuzz*.swift; do
  name=$(basename "$target" .swift)
  swiftc "${FLAGS[@]}" -module-name "$name" "$target" -o "$OUT/$name" \
    -L "$OUT" -lVigilIO -lVigilPipeline -lVigilSim -lVigilCore -lmosquitto -lyaml -lssl -lcrypto -lz
  echo "built $OUT/$name"
done
