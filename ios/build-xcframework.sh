#!/usr/bin/env bash
# Builds NyckelFFI.xcframework (device + simulator) and the library-mode Swift bindings.
# Runs on a Mac with Xcode and rustup; the result is what Package.swift's binary target points at.
set -euo pipefail
cd "$(dirname "$0")/.."

targets_device=(aarch64-apple-ios)
targets_sim=(aarch64-apple-ios-sim x86_64-apple-ios)
profile=${PROFILE:-release}
out=ios/build
rm -rf "$out" ios/NyckelFFI.xcframework
mkdir -p "$out/headers" "$out/sim" ios/Sources/NyckelFFI

rustup target add "${targets_device[@]}" "${targets_sim[@]}"
for target in "${targets_device[@]}" "${targets_sim[@]}"; do
  cargo build -p nyckel-ffi --lib --profile "$profile" --target "$target"
done

# Swift bindings in library mode, from a host build of the same crate.
cargo build -p nyckel-ffi -p uniffi-bindgen
host_lib=target/debug/libnyckel_ffi.dylib
./target/debug/uniffi-bindgen generate --library "$host_lib" --language swift --out-dir "$out/generated"
cp "$out/generated/NyckelFFI.swift" ios/Sources/NyckelFFI/NyckelFFI.swift
cp "$out/generated/"*.h "$out/headers/"
# The XCFramework's module map must be called module.modulemap.
cat "$out/generated/"*.modulemap > "$out/headers/module.modulemap"

# One fat simulator library for both simulator architectures.
lipo -create \
  "target/aarch64-apple-ios-sim/$profile/libnyckel_ffi.a" \
  "target/x86_64-apple-ios/$profile/libnyckel_ffi.a" \
  -output "$out/sim/libnyckel_ffi.a"

xcodebuild -create-xcframework \
  -library "target/aarch64-apple-ios/$profile/libnyckel_ffi.a" -headers "$out/headers" \
  -library "$out/sim/libnyckel_ffi.a" -headers "$out/headers" \
  -output ios/NyckelFFI.xcframework
echo "built ios/NyckelFFI.xcframework and ios/Sources/NyckelFFI/NyckelFFI.swift"
