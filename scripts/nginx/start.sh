#!/usr/bin/env bash
# Starts a throw-away nginx (Debian's package) on loopback in front of server instances, for
# the several-instances test, and prints `export` lines to eval:
#   eval "$(scripts/nginx/start.sh 127.0.0.1:8081 127.0.0.1:8082)"  ...  scripts/nginx/stop.sh "$NYCKEL_NGINX_DIR"
# Its configuration, pid file, logs and temp files live in a fresh temporary directory (its
# prefix, `-p`); no system configuration is read and no root daemon runs. Requests go round
# robin to the upstreams with X-Forwarded-For set (start the servers with
# `--trusted-proxy 127.0.0.1`), long polls get a long read timeout, and a failed request is
# not retried on another instance (a phone's signed request carries a nonce used once: the
# phone sends a new request instead). Each answer says which instance served it in
# `X-Nyckel-Upstream`.
set -euo pipefail
log() { echo "nginx: $*" >&2; }

[ $# -ge 1 ] || { log "usage: $0 HOST:PORT [HOST:PORT...]"; exit 2; }
nginx=""
for candidate in "$(command -v nginx 2>/dev/null || true)" /usr/sbin/nginx; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then nginx="$candidate"; break; fi
done
[ -n "$nginx" ] || { log "nginx is missing (apt-get install nginx-light)"; exit 1; }

dir="$(mktemp -d "${TMPDIR:-/tmp}/nyckel-nginx.XXXXXX")"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
servers=""
for upstream in "$@"; do
  servers+="    server $upstream max_fails=1 fail_timeout=30s;"$'\n'
done
# As root, nginx's workers switch to an unprivileged user; it must reach the temp directory.
user_line=""
if [ "$(id -u)" -eq 0 ]; then
  user_line="user nobody nogroup;"
  chmod 755 "$dir"
fi

cat >"$dir/nginx.conf" <<CONF
$user_line
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log $dir/access.log;
  client_body_temp_path $dir/client_body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  upstream nyckel {
$servers    keepalive 32;
  }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://nyckel;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      # Long polls last up to 60 s (PROTOCOL.md): wait longer than that for an answer.
      proxy_read_timeout 120s;
      proxy_next_upstream off;
      add_header X-Nyckel-Upstream \$upstream_addr always;
    }
  }
}
CONF

"$nginx" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" -t >"$dir/check.log" 2>&1 || { log "bad configuration:"; cat "$dir/check.log" >&2; exit 1; }
"$nginx" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" || { log "start failed:"; tail -20 "$dir/error.log" >&2; exit 1; }
log "running on 127.0.0.1:$port in front of $* (state in $dir)"
cat <<OUT
export NYCKEL_NGINX_URL='http://127.0.0.1:$port'
export NYCKEL_NGINX_DIR='$dir'
OUT
