#!/usr/bin/env bash
# Builds the host library, generates the Kotlin bindings with the workspace's uniffi-bindgen,
# runs the JVM tests in android/jvm-test against them (and a real nyckel-server they start), then
# compile-checks the Android app against them (scripts/check-android.sh). PrivacyIdeaTest uses the
# live privacyIDEA whose NYCKEL_PRIVACYIDEA_* variables scripts/test.sh exports (Maven's test JVM
# inherits the environment); with NYCKEL_PRIVACYIDEA_REQUIRED set, a missing server fails it.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
bash scripts/build-workspace.sh
rm -rf "$target/uniffi-kotlin"
"$target/debug/uniffi-bindgen" generate --no-format --library "$target/debug/libnyckel_ffi.so" \
  --language kotlin --out-dir "$target/uniffi-kotlin"
mvn -B -q -f android/jvm-test/pom.xml test \
  -Dnyckel.lib.dir="$(realpath "$target/debug")" -Dnyckel.generated="$(realpath "$target/uniffi-kotlin")"
# Surefire's summary lines, so the log shows what ran.
grep -h 'Tests run' android/jvm-test/target/surefire-reports/*.txt
# The Android app's Kotlin against the same generated bindings (android/compile-check).
bash scripts/check-android.sh "$target/uniffi-kotlin"
