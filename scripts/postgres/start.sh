#!/usr/bin/env bash
# Starts a throw-away PostgreSQL (Debian's package) on loopback for the server's tests and
# prints `export` lines to eval:
#   eval "$(scripts/postgres/start.sh)"   ...   scripts/postgres/stop.sh "$NYCKEL_POSTGRES_DIR"
# The cluster lives in a fresh temporary directory, listens on 127.0.0.1 only (no Unix socket
# outside it), trusts loopback connections of its one role, and is deleted by stop.sh.
set -euo pipefail
log() { echo "postgres: $*" >&2; }

bindir=""
for candidate in "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
  if [ -n "$candidate" ] && [ -x "$candidate/initdb" ]; then bindir="$candidate"; fi
done
[ -n "$bindir" ] || { log "PostgreSQL is missing (apt-get install postgresql)"; exit 1; }

dir="$(mktemp -d "${TMPDIR:-/tmp}/nyckel-postgres.XXXXXX")"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"

# PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user that
# Debian's package creates.
run=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || { log "user postgres is missing (apt-get install postgresql)"; exit 1; }
  chown postgres "$dir"
  run=(runuser -u postgres --)
fi

"${run[@]}" "$bindir/initdb" -D "$dir/data" -U nyckel --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
  { log "initdb failed:"; tail -20 "$dir/initdb.log" >&2; exit 1; }
# Many short-lived test servers, each with a small pool, plus several instances per test.
"${run[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >&2 ||
  { log "start failed:"; tail -20 "$dir/postgres.log" >&2; exit 1; }
"${run[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U nyckel nyckel

log "running on 127.0.0.1:$port (state in $dir)"
cat <<OUT
export NYCKEL_POSTGRES_URL='postgres://nyckel@127.0.0.1:$port/nyckel'
export NYCKEL_POSTGRES_DIR='$dir'
OUT
