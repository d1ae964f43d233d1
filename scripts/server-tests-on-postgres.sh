#!/usr/bin/env bash
# Runs the server's already built integration-test binaries with NYCKEL_TEST_STORE=postgres
# (every harness test on a fresh schema of $NYCKEL_POSTGRES_URL). The arguments are the ones the
# binaries were built with (scripts/test.sh: --workspace --locked), so cargo only lists them.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${NYCKEL_POSTGRES_URL:?start PostgreSQL first: eval \"\$(bash scripts/postgres/start.sh)\"}"
binaries="$(cargo test "$@" --no-run --message-format=json | python3 -c '
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if (message.get("reason") == "compiler-artifact" and message["target"]["kind"] == ["test"]
            and "#nyckel-server@" in message["package_id"] and message.get("executable")):
        print(message["executable"])
')"
[ -n "$binaries" ] || { echo "no nyckel-server test binaries found" >&2; exit 1; }
start=$(date +%s)
cd server
for binary in $binaries; do
    NYCKEL_TEST_STORE=postgres NYCKEL_POSTGRES_REQUIRED=1 "$binary" -q
done
echo "server integration tests on PostgreSQL: $(( $(date +%s) - start )) s" >&2
