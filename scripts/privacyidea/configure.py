"""Configures a fresh privacyIDEA for Nyckel's interop tests through its REST API.

Usage: configure.py <url> <admin> <password> <passwd-file>

Realm `realm1` (default realm) holds the users of a passwd resolver. Policies: push tokens are
poll-only for everyone; carol gets number matching (presence, 4 numeric options); dave gets
code-to-phone; erin's push QR asks the app for its PIN. TiQR and the Redis challenge cache are
set up by start.sh and here.
"""
import sys

import requests

url, admin, password, users_file = sys.argv[1:5]
session = requests.Session()


def call(method, path, **data):
    response = session.request(method, url + path, json=data, timeout=30)
    body = response.json()
    if not body.get("result", {}).get("status"):
        raise SystemExit(f"{method} {path} failed: {response.status_code} {body}")
    return body["result"].get("value")


token = call("POST", "/auth", username=admin, password=password)["token"]
session.headers["Authorization"] = token

call("POST", "/resolver/users", type="passwdresolver", fileName=users_file)
call("POST", "/realm/realm1", resolvers="users")
call("POST", "/defaultrealm/realm1")
call("POST", "/system/setConfig", **{
    "tiqr.regServer": url + "/ttype/tiqr",
    "tiqr.authServer": url + "/ttype/tiqr",
    "tiqr.serviceIdentifier": "org.privacyidea",
    "tiqr.serviceDisplayname": "privacyIDEA",
    "tiqr.ocrasuite": "OCRA-1:HOTP-SHA1-6:QN10",
})
call("POST", "/policy/push-enroll", scope="enrollment", realm="realm1", action={
    "push_firebase_configuration": "poll only",
    "push_registration_url": url + "/ttype/push",
    "push_ssl_verify": "0",
    "push_ttl": "10",
})
call("POST", "/policy/push-pin", scope="enrollment", realm="realm1", user="erin", action={
    "push_force_app_pin": True,
})
call("POST", "/policy/push-presence", scope="authentication", realm="realm1", user="carol", action={
    "push_require_presence": True,
    "push_presence_options": "NUMERIC",
    "push_presence_num_options": "4",
})
call("POST", "/policy/push-code", scope="authentication", realm="realm1", user="dave", action={
    "push_code_to_phone": True,
})
call("POST", "/policy/push-ssl", scope="authentication", realm="realm1", action={"push_ssl_verify": "0"})
print("privacyidea: configured realm1, push (poll only, presence for carol, code-to-phone for dave), tiqr")
