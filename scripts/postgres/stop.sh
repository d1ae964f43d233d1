#!/usr/bin/env bash
# Stops the PostgreSQL that start.sh started for state directory $1 and removes the directory.
set -uo pipefail
dir="${1:-${NYCKEL_POSTGRES_DIR:-}}"
[ -n "$dir" ] && [ -d "$dir/data" ] || { echo "usage: stop.sh <state dir>" >&2; exit 1; }
bindir=""
for candidate in "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
  if [ -n "$candidate" ] && [ -x "$candidate/pg_ctl" ]; then bindir="$candidate"; fi
done
run=()
[ "$(id -u)" -eq 0 ] && run=(runuser -u postgres --)
"${run[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
case "$dir" in */nyckel-postgres.*) rm -rf "$dir" ;; esac
