#!/usr/bin/env bash
# The whole test suite: installs what the tests need, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
cargo test --workspace --locked
bash scripts/test-portal-browser.sh
bash scripts/test-kotlin.sh
bash scripts/check-swift.sh
