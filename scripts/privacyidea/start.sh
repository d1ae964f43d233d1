#!/usr/bin/env bash
# Starts a throw-away privacyIDEA 3.14 (from PyPI, in a cached venv) with its Redis challenge
# cache on loopback, configured for Nyckel's interop tests, and prints `export` lines to eval:
#   eval "$(scripts/privacyidea/start.sh)"   ...   scripts/privacyidea/stop.sh "$NYCKEL_PRIVACYIDEA_DIR"
# Needs python3 (with venv) and redis-server (Debian: apt-get install redis-server).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version=3.14
cache="${NYCKEL_PRIVACYIDEA_CACHE:-$HOME/.cache/nyckel/privacyidea}"
venv="$cache/venv-$version"
log() { echo "privacyidea: $*" >&2; }

if [ ! -f "$venv/.installed" ]; then
  log "installing privacyIDEA $version from PyPI into $venv (once)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "privacyidea==$version" >&2
  touch "$venv/.installed"
fi
command -v redis-server >/dev/null || { log "redis-server is missing (apt-get install redis-server)"; exit 1; }

free_port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dir="$(mktemp -d "${TMPDIR:-/tmp}/nyckel-privacyidea.XXXXXX")"
pi_port="$(free_port)"; redis_port="$(free_port)"
url="http://127.0.0.1:$pi_port"

redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --daemonize yes \
  --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" >&2

# Users of the passwd resolver: login:password hash:uid:gid:gecos:home:shell (no passwords
# are used: the tests authenticate with token PINs).
cat >"$dir/users" <<USERS
alice:x:1001:1001:Alice Archer,,,:/home/alice:/bin/sh
bob:x:1002:1002:Bob Builder,,,:/home/bob:/bin/sh
carol:x:1003:1003:Carol Carter,,,:/home/carol:/bin/sh
dave:x:1004:1004:Dave Dodd,,,:/home/dave:/bin/sh
erin:x:1005:1005:Erin Evans,,,:/home/erin:/bin/sh
frank:x:1006:1006:Frank Fox,,,:/home/frank:/bin/sh
gina:x:1007:1007:Gina Grey,,,:/home/gina:/bin/sh
hank:x:1008:1008:Hank Hill,,,:/home/hank:/bin/sh
ivan:x:1009:1009:Ivan Ives,,,:/home/ivan:/bin/sh
USERS

# The admin's password hash depends on the pepper, so the pepper belongs to the template below.
template="$cache/template-$version"
[ -f "$template/.done" ] && pepper="$(cat "$template/pepper")" || pepper="$(head -c 24 /dev/urandom | base64)"
echo "$pepper" >"$dir/pepper"
cat >"$dir/pi.cfg" <<CFG
SQLALCHEMY_DATABASE_URI = "sqlite:///$dir/pi.sqlite"
SECRET_KEY = "$(head -c 24 /dev/urandom | base64)"
PI_PEPPER = "$pepper"
PI_ENCFILE = "$dir/enckey"
PI_AUDIT_KEY_PRIVATE = "$dir/private.pem"
PI_AUDIT_KEY_PUBLIC = "$dir/public.pem"
PI_AUDIT_SQL_TRUNCATE = True
PI_LOGFILE = "$dir/privacyidea.log"
PI_LOGLEVEL = 30
# TiQR logins only complete with the Redis challenge store in 3.14 (interop notes §3.5).
PI_REDIS_URL = "redis://127.0.0.1:$redis_port/0"
PI_REDIS_CACHE_CHALLENGES = True
CFG

export PRIVACYIDEA_CONFIGFILE="$dir/pi.cfg"
# Keys, empty tables and the admin are made once and copied: pi-manage takes seconds per call.
if [ ! -f "$template/.done" ]; then
  manage() { "$venv/bin/pi-manage" "$@" >>"$dir/setup.log" 2>&1; }
  head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$dir/admin_password"
  manage setup create_enckey
  manage setup create_audit_keys
  manage setup create_tables
  manage admin add admin -p "$(cat "$dir/admin_password")"
  rm -rf "$template"; mkdir -p "$template"
  cp "$dir/enckey" "$dir/private.pem" "$dir/public.pem" "$dir/pi.sqlite" "$dir/admin_password" "$dir/pepper" "$template/"
  touch "$template/.done"
else
  cp "$template/enckey" "$template/private.pem" "$template/public.pem" "$template/pi.sqlite" "$template/admin_password" "$dir/"
fi
admin_password="$(cat "$dir/admin_password")"

"$venv/bin/pi-manage" run -h 127.0.0.1 -p "$pi_port" --with-threads >"$dir/server.log" 2>&1 &
echo $! >"$dir/server.pid"
for _ in $(seq 1 300); do
  if "$venv/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('$url/healthz/', timeout=1)" 2>/dev/null; then break; fi
  if ! kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; then log "server died:"; tail -20 "$dir/server.log" >&2; exit 1; fi
  sleep 0.2
done

"$venv/bin/python" "$here/configure.py" "$url" admin "$admin_password" "$dir/users" >&2 || {
  log "configuration failed"; "$here/stop.sh" "$dir"; exit 1; }

log "running at $url (state in $dir)"
cat <<OUT
export NYCKEL_PRIVACYIDEA_URL='$url'
export NYCKEL_PRIVACYIDEA_ADMIN='admin'
export NYCKEL_PRIVACYIDEA_PASSWORD='$admin_password'
export NYCKEL_PRIVACYIDEA_DIR='$dir'
OUT
