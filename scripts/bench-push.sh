#!/usr/bin/env bash
# Push-delivery benchmark: release build of nyckel-server and nyckel-push-bench, then one run.
#   bash scripts/bench-push.sh [--postgres] [bench options: --phones N --instances K --clients C --rate R ...]
# --postgres starts a throw-away PostgreSQL on loopback (scripts/postgres/start.sh), switches
# it back to durable commits (fsync, synchronous_commit and full_page_writes on, as in a
# deployment; start.sh turns them off for the test suite), points the bench at it and stops
# it afterwards. Release builds go to $CARGO_TARGET_DIR_RELEASE, else /work/release-target
# when it exists, else target/.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${CARGO_TARGET_DIR_RELEASE:-}" ]; then target="$CARGO_TARGET_DIR_RELEASE"
elif [ -d /work/release-target ]; then target=/work/release-target
else target="$PWD/target"; fi

postgres=0
args=()
for arg in "$@"; do
  if [ "$arg" = "--postgres" ]; then postgres=1; else args+=("$arg"); fi
done

CARGO_TARGET_DIR="$target" cargo build --release -p nyckel-server -p nyckel-bench

if [ "$postgres" = 1 ]; then
  eval "$(bash scripts/postgres/start.sh)"
  trap 'bash scripts/postgres/stop.sh "$NYCKEL_POSTGRES_DIR"' EXIT
  psql "$NYCKEL_POSTGRES_URL" -q -c "ALTER SYSTEM SET fsync = on" -c "ALTER SYSTEM SET synchronous_commit = on" \
    -c "ALTER SYSTEM SET full_page_writes = on" -c "SELECT pg_reload_conf()" >/dev/null
  args+=(--database-url "$NYCKEL_POSTGRES_URL")
fi

echo "bench: $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$target/release/nyckel-push-bench" "${args[@]}"
echo "bench: done, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
