#!/usr/bin/env bash
# The main job: the Nyckel server on 127.0.0.1:8080 (or $NYCKEL_LISTEN), data in ./nyckel-data
# (or $NYCKEL_DATA_DIR). Its secrets are sealed under a key-encryption key kept outside the data
# directory: ./nyckel-kek (or $NYCKEL_KEK_FILE), created with mode 0600 on first start. On first
# start it also creates the tenant "demo" ("Demo organisation"), its user "alice" (password
# $NYCKEL_USER_PASSWORD, else a demo one) and a relying-party API key kept in rp-key.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${NYCKEL_DATA_DIR:-nyckel-data}
export NYCKEL_KEK_FILE=${NYCKEL_KEK_FILE:-$PWD/nyckel-kek}
cargo build -q -p nyckel-server -p nyckel-cli
server=${CARGO_TARGET_DIR:-target}/debug/nyckel-server
if [ ! -f "$NYCKEL_KEK_FILE" ]; then
  mkdir -p "$(dirname "$NYCKEL_KEK_FILE")"
  "$server" --data-dir "$data" kek-create
fi
if [ ! -f "$data/rp-key.txt" ]; then
  "$server" --data-dir "$data" tenant add demo "Demo organisation"
  NYCKEL_USER_PASSWORD=${NYCKEL_USER_PASSWORD:-Demo-pass-2026!} "$server" --data-dir "$data" user --tenant demo add alice
  (umask 077 && "$server" --data-dir "$data" rp --tenant demo add demo-portal > "$data/rp-key.txt")
fi
echo "relying-party API key of tenant demo (also in $data/rp-key.txt): $(cat "$data/rp-key.txt")"
exec "$server" --data-dir "$data" serve --listen "${NYCKEL_LISTEN:-127.0.0.1:8080}"
