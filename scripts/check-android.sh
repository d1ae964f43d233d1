#!/usr/bin/env bash
# Compile check of the Android app without the Android SDK: kotlinc (with the Compose compiler
# plugin) type-checks android/app, android/nyckel and the generated UniFFI Kotlin bindings against
# android-all (API 35), Compose/lifecycle jars from Maven Central and the compile-only stubs in
# android/compile-check/stubs. Fails on any type error or warning. See android/README.md.
# Usage: scripts/check-android.sh [DIR-OF-GENERATED-KOTLIN]  (default: generate them here).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
generated=${1:-}
if [ -z "$generated" ]; then
  bash scripts/build-workspace.sh
  generated="$target/uniffi-kotlin-android"
  rm -rf "$generated"
  "$target/debug/uniffi-bindgen" generate --no-format --library "$target/debug/libnyckel_ffi.so" \
    --language kotlin --out-dir "$generated"
fi
mvn -B -q -f android/compile-check/pom.xml compile -Dnyckel.generated="$(realpath "$generated")"
echo "android compile check: app, nyckel and the generated bindings compile"
