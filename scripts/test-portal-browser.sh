#!/usr/bin/env bash
# The portal in real Chromium: starts a nyckel-server and the portal on free loopback ports
# with fresh data, makes the `nyckel` CLI the phone, and runs portal/browser-tests (one browser
# launch), portal/browser-tests/sms-admin.test.mjs with SMS read from the portal's SMS sink
# directory, then portal/browser-tests/email.test.mjs; the portal's mail (every command's: serve
# and account invite) goes over SMTP to scripts/smtp-sink.py (aiosmtpd from the test venv),
# read from the sink's directory.
# Installs Debian's chromium (as root) and playwright-core (node_modules cached in
# portal/browser-tests) when missing. PORTAL_SCREENSHOTS=docs/screenshots keeps screenshots.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else echo "test-portal-browser: needs /usr/bin/chromium (apt-get install chromium, as root)" >&2; exit 1; fi
fi
if [ ! -d portal/browser-tests/node_modules/playwright-core ]; then
  # playwright-core downloads no browsers; Debian's Chromium is used.
  (cd portal/browser-tests && npm install --no-audit --no-fund --silent)
fi
venv="${CARGO_TARGET_DIR:-target}/test-venv"
if ! "$venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then bash scripts/install-test-deps.sh; fi
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
# Private copies of this checkout's binaries, taken from cargo's own report of the executables
# (target/debug/deps/NAME-HASH, whose hash includes the checkout's path): another checkout
# building into a shared CARGO_TARGET_DIR rewrites target/debug/NAME, never these.
mkdir "$work/bin"
# The test run's package set (scripts/build-workspace.sh), so nothing cargo test built is rebuilt;
# test-mode builds of the binaries are skipped.
bash scripts/build-workspace.sh -q --message-format=json-render-diagnostics |
  python3 -c '
import json, shutil, sys
wanted = {"nyckel-server", "nyckel", "nyckel-portal"}
for line in sys.stdin:
    m = json.loads(line)
    if (m.get("reason") == "compiler-artifact" and m.get("executable")
            and "bin" in m["target"]["kind"] and not m["profile"]["test"]
            and m["target"]["name"] in wanted):
        shutil.copy2(m["executable"], sys.argv[1] + "/" + m["target"]["name"])
' "$work/bin"
bin=$work/bin
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
server_port=$(free_port)
portal_port=$(free_port)
smtp_port=$(free_port)
"$venv/bin/python" scripts/smtp-sink.py --port "$smtp_port" --dir "$work/mail" >"$work/smtp.log" 2>&1 &
pids+=($!)
# Mail flags for every nyckel-portal command (serve and account invite).
export NYCKEL_PORTAL_SMTP_URL="smtp://127.0.0.1:$smtp_port" NYCKEL_PORTAL_URL="http://127.0.0.1:$portal_port"
password=Browser-test-pass-1

export NYCKEL_KEK_FILE=$work/kek
# The portal's key file outside its data directory, made by the first portal command.
export NYCKEL_PORTAL_KEY_FILE=$work/portal.key
"$bin/nyckel-server" --data-dir "$work/server" kek-create >/dev/null
"$bin/nyckel-server" --data-dir "$work/server" tenant add demo "Demo organisation" >/dev/null
# Portal accounts only: no `nyckel-server user add`, the portal creates each user on the server
# (PUT /v1/users/{user}) when the account registers a phone or accepts an invitation.
for user in alice carol dave erin frank; do
  NYCKEL_PORTAL_PASSWORD=$password "$bin/nyckel-portal" --data-dir "$work/portal" account add "$user" >/dev/null
done
# ivan is invited by e-mail (no password until the invitation's link sets one).
for _ in $(seq 100); do grep -q listening "$work/smtp.log" && break; sleep 0.1; done
"$bin/nyckel-portal" --data-dir "$work/portal" account invite ivan ivan@example.org >/dev/null
"$bin/nyckel-server" --data-dir "$work/server" rp --tenant demo add browser-test > "$work/rp-key.txt"
RUST_LOG=warn "$bin/nyckel-server" --data-dir "$work/server" serve --listen "127.0.0.1:$server_port" >"$work/server.log" 2>&1 &
pids+=($!)
RUST_LOG=warn "$bin/nyckel-portal" --data-dir "$work/portal" serve --listen "127.0.0.1:$portal_port" \
  --nyckel-url "http://127.0.0.1:$server_port" --rp-key-file "$work/rp-key.txt" --sms-sink "$work/sms" \
  --test-clock-offset-file "$work/clock-offset" >"$work/portal.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  if curl -fs -o /dev/null "http://127.0.0.1:$portal_port/" && curl -s -o /dev/null "http://127.0.0.1:$server_port/"; then break; fi
  sleep 0.1
done

export NYCKEL_VAULT=$work/phone NYCKEL_PASSPHRASE=browser-test-vault
"$bin/nyckel" init --kdf-memory-kib 1024 --kdf-iterations 1 >/dev/null

shots=
if [ -n "${PORTAL_SCREENSHOTS:-}" ]; then mkdir -p "$PORTAL_SCREENSHOTS"; shots=$(cd "$PORTAL_SCREENSHOTS" && pwd); fi
status=0
PORTAL_URL="http://127.0.0.1:$portal_port" NYCKEL_CLI="$bin/nyckel" PASSWORD=$password SCREENSHOT_DIR=$shots \
  node portal/browser-tests/signin.test.mjs || status=$?
PORTAL_URL="http://127.0.0.1:$portal_port" SMS_SINK=$work/sms PASSWORD=$password SCREENSHOT_DIR=$shots \
  node portal/browser-tests/sms-admin.test.mjs || status=$?
PORTAL_URL="http://127.0.0.1:$portal_port" MAIL_DIR="$work/mail" INVITED=ivan SCREENSHOT_DIR=$shots \
  CLOCK_OFFSET_FILE="$work/clock-offset" \
  node portal/browser-tests/email.test.mjs || status=$?
if [ "$status" != 0 ]; then
  echo "--- server log"; tail -20 "$work/server.log"; echo "--- portal log"; tail -20 "$work/portal.log"
  echo "--- smtp sink log"; tail -20 "$work/smtp.log"
fi
exit "$status"
