#!/usr/bin/env bash
# The one cargo build the scripts after the test run use (the FFI library, uniffi-bindgen, the
# binaries the browser tests start). It selects the same packages and targets as
# `cargo test --workspace`, so cargo resolves the same features (dev-dependencies included) and
# reuses every artifact that run built: after scripts/test.sh's test step it compiles only the
# FFI crate's cdylib and the binaries cargo test does not link. Building a few packages with -p
# instead unifies features differently and rebuilt sqlx, the core and the FFI crate (minutes in
# CI). Extra arguments go to cargo (e.g. --message-format).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo build --locked --workspace --lib --bins --tests "$@"
