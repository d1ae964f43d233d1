#!/usr/bin/env bash
# The main job: the Nyckel server on 127.0.0.1:8080 (or $NYCKEL_LISTEN), data in ./nyckel-data
# (or $NYCKEL_DATA_DIR), and the sign-in portal on 127.0.0.1:8081 (or $NYCKEL_PORTAL_LISTEN),
# data in ./nyckel-portal-data (or $NYCKEL_PORTAL_DATA), which reaches the server only through
# the relying-party API. The server's secrets are sealed under a key-encryption key kept
# outside the data directory: ./nyckel-kek (or $NYCKEL_KEK_FILE), created with mode 0600 on
# first start. On first start it also creates the tenant "demo" ("Demo organisation"), a
# relying-party API key kept in rp-key.txt, a tenant administrator's token for the portal
# (portal-admin-token.txt), the portal account "alice" (password $NYCKEL_PORTAL_PASSWORD, else a
# demo one), administrator of the portal organisation "demo", and invites "bob"
# (bob@example.org) by e-mail. No user is added on the server: the portal creates each one in
# the tenant (PUT /v1/users/{user}) when its account registers a phone or accepts an invitation. SMS go to files in ./nyckel-portal-data/sms-sink (or
# $NYCKEL_PORTAL_SMS_SINK). The portal's e-mail (invitations, sign-in links, password resets,
# contact-address codes) goes over SMTP when $NYCKEL_PORTAL_SMTP_URL is set (smtp://host:port),
# else it is written as .eml files to $NYCKEL_PORTAL_DATA/outbox/ (the script says where). The
# portal's TOTP secrets are sealed under ./nyckel-portal.key (or $NYCKEL_PORTAL_KEY_FILE), made
# with mode 0600 on first start, outside its data directory.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${NYCKEL_DATA_DIR:-nyckel-data}
portal_data=${NYCKEL_PORTAL_DATA:-nyckel-portal-data}
listen=${NYCKEL_LISTEN:-127.0.0.1:8080}
portal_listen=${NYCKEL_PORTAL_LISTEN:-127.0.0.1:8081}
password=${NYCKEL_PORTAL_PASSWORD:-Demo-pass-2026!}
export NYCKEL_PORTAL_KEY_FILE=${NYCKEL_PORTAL_KEY_FILE:-$PWD/nyckel-portal.key}
export NYCKEL_KEK_FILE=${NYCKEL_KEK_FILE:-$PWD/nyckel-kek}
# Links in the portal's e-mail point here.
export NYCKEL_PORTAL_URL=${NYCKEL_PORTAL_URL:-http://$portal_listen}
cargo build -q -p nyckel-server -p nyckel-cli -p nyckel-portal
bin=${CARGO_TARGET_DIR:-target}/debug
server=$bin/nyckel-server
portal=$bin/nyckel-portal
if [ ! -f "$NYCKEL_KEK_FILE" ]; then
  mkdir -p "$(dirname "$NYCKEL_KEK_FILE")"
  "$server" --data-dir "$data" kek-create
fi
if [ ! -f "$data/rp-key.txt" ]; then
  "$server" --data-dir "$data" tenant add demo "Demo organisation"
  (umask 077 && "$server" --data-dir "$data" rp --tenant demo add demo-portal > "$data/rp-key.txt")
fi
if [ ! -f "$data/portal-admin-token.txt" ]; then
  # A tenant administrator's token for the portal, so organisation administrators can unblock devices.
  (umask 077 && "$server" --data-dir "$data" admin --tenant demo add demo-portal > "$data/portal-admin-token.txt")
fi
if [ ! -d "$portal_data" ]; then
  # alice creates the organisation "demo", so she is its administrator.
  NYCKEL_PORTAL_PASSWORD=$password "$portal" --data-dir "$portal_data" account add alice --org demo
  "$portal" --data-dir "$portal_data" account invite bob bob@example.org
fi
portal_abs=$portal_data
case "$portal_abs" in /*) ;; *) portal_abs=$PWD/$portal_abs ;; esac
sms_sink=${NYCKEL_PORTAL_SMS_SINK:-$portal_abs/sms-sink}
echo "relying-party API key of tenant demo (also in $data/rp-key.txt): $(cat "$data/rp-key.txt")"
"$server" --data-dir "$data" serve --listen "$listen" &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true' EXIT
echo
echo "Open http://$portal_listen/ and sign in as alice with the password $password"
echo "(the first sign-in asks you to register a phone: the page shows a code for 'nyckel register')."
echo "SMS codes land as files in $sms_sink/ (one JSON file per message). alice administers the organisation 'demo'."
if [ -n "${NYCKEL_PORTAL_SMTP_URL:-}" ]; then
  echo "The portal's e-mail (bob's invitation, sign-in links, password resets, contact-address codes) goes to $NYCKEL_PORTAL_SMTP_URL."
else
  echo "The portal's e-mail (bob's invitation, sign-in links, password resets, contact-address codes) is written to $portal_data/outbox/*.eml."
fi
echo
"$portal" --data-dir "$portal_data" serve --listen "$portal_listen" --nyckel-url "http://$listen" --rp-key-file "$data/rp-key.txt" \
  --sms-sink "$sms_sink" --tenant-admin-token-file "$data/portal-admin-token.txt"
