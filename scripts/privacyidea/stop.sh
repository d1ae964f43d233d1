#!/usr/bin/env bash
# Stops what start.sh started for state directory $1 (privacyIDEA, then Redis) and removes it.
set -uo pipefail
dir="${1:-${NYCKEL_PRIVACYIDEA_DIR:-}}"
[ -n "$dir" ] && [ -d "$dir" ] || { echo "usage: stop.sh <state dir>" >&2; exit 1; }
for name in server redis; do
  if [ -f "$dir/$name.pid" ]; then
    pid="$(cat "$dir/$name.pid")"
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  fi
done
case "$dir" in */nyckel-privacyidea.*) rm -rf "$dir" ;; esac
