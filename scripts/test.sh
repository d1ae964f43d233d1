#!/usr/bin/env bash
# The whole test suite: installs what the tests need, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
# A real privacyIDEA 3.14 (+ Redis) on loopback for the interop tests (core/tests/privacyidea.rs,
# which fail rather than skip with NYCKEL_PRIVACYIDEA_REQUIRED set).
pi_env="$(bash scripts/privacyidea/start.sh)"   # an assignment, so a failed start stops the script
eval "$pi_env"
trap 'bash scripts/privacyidea/stop.sh "$NYCKEL_PRIVACYIDEA_DIR"' EXIT
export NYCKEL_PRIVACYIDEA_REQUIRED=1
# A throw-away PostgreSQL on loopback: the server's store conformance tests and its PostgreSQL
# tests run against it (and fail rather than skip with NYCKEL_POSTGRES_REQUIRED set).
pg_env="$(bash scripts/postgres/start.sh)"
eval "$pg_env"
trap 'bash scripts/postgres/stop.sh "$NYCKEL_POSTGRES_DIR"; bash scripts/privacyidea/stop.sh "$NYCKEL_PRIVACYIDEA_DIR"' EXIT
export NYCKEL_POSTGRES_URL NYCKEL_POSTGRES_REQUIRED=1
# server/tests/nginx.rs starts its own nginx (scripts/nginx/start.sh, in front of the two
# server binaries it starts) and fails rather than skips when nginx is missing.
export NYCKEL_NGINX_REQUIRED=1
cargo test --workspace --locked
# The server's integration tests again with every test's records and audit log in PostgreSQL
# (a fresh schema each; server/tests/common/mod.rs; about 15 s): the binaries the run above built, found by
# asking cargo with the same arguments (`-p nyckel-server` would unify features differently and
# rebuild), run from the crate's directory as cargo runs them.
bash scripts/server-tests-on-postgres.sh --workspace --locked
bash scripts/test-portal-browser.sh
bash scripts/test-kotlin.sh
bash scripts/check-swift.sh
