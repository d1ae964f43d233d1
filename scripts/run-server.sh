#!/usr/bin/env bash
# The main job: the Nyckel server on 127.0.0.1:8080 (or $NYCKEL_LISTEN), data in ./nyckel-data
# (or $NYCKEL_DATA_DIR). On first start it creates the user "alice" (password
# $NYCKEL_USER_PASSWORD, else a demo one) and a relying-party API key kept in rp-key.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${NYCKEL_DATA_DIR:-nyckel-data}
cargo build -q -p nyckel-server -p nyckel-cli
server=${CARGO_TARGET_DIR:-target}/debug/nyckel-server
if [ ! -f "$data/rp-key.txt" ]; then
  mkdir -p "$data"
  NYCKEL_USER_PASSWORD=${NYCKEL_USER_PASSWORD:-Demo-pass-2026!} "$server" --data-dir "$data" user add alice
  (umask 077 && "$server" --data-dir "$data" rp add demo-portal > "$data/rp-key.txt")
fi
echo "relying-party API key (also in $data/rp-key.txt): $(cat "$data/rp-key.txt")"
exec "$server" --data-dir "$data" serve --listen "${NYCKEL_LISTEN:-127.0.0.1:8080}"
