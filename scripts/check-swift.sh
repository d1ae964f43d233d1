#!/usr/bin/env bash
# The Swift check CI can run without a Swift compiler: generates the Swift bindings in library
# mode (proving generation works) and parses every hand-written Swift file with tree-sitter-swift.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
venv="$target/swift-check-venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'tree-sitter>=0.23,<0.27' 'tree-sitter-swift>=0.7,<0.8'
fi
# The test run's package set (see the script), so nothing the test step built is rebuilt.
bash scripts/build-workspace.sh
rm -rf "$target/uniffi-swift"
"$target/debug/uniffi-bindgen" generate --no-format --library "$target/debug/libnyckel_ffi.so" \
  --language swift --out-dir "$target/uniffi-swift"
test -s "$target/uniffi-swift/NyckelFFI.swift"
# The generated file is not parsed: tree-sitter-swift 0.7 misreads the #if blocks around
# attributes that uniffi emits, so it would report errors that swiftc accepts.
"$venv/bin/python" scripts/swift-check/check_swift.py --self-test
"$venv/bin/python" scripts/swift-check/check_swift.py ios
