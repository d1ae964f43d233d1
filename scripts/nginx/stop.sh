#!/usr/bin/env bash
# Stops the nginx scripts/nginx/start.sh started (by its pid file) and deletes its directory.
set -euo pipefail
dir="${1:?usage: $0 NYCKEL_NGINX_DIR}"
case "$dir" in */nyckel-nginx.*) ;; *) echo "nginx: $dir is not a directory start.sh made" >&2; exit 2 ;; esac
if [ -f "$dir/nginx.pid" ]; then
  pid="$(cat "$dir/nginx.pid")"
  kill -QUIT "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
fi
rm -rf "$dir"
