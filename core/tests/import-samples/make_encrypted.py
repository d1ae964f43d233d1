#!/usr/bin/env python3
"""Makes the encrypted import samples (and FreeOTP+'s byte-array one) independently of
Nyckel's parsers, with Python's `cryptography` and `hashlib`, from each app's published layout.

Run from this directory: python3 make_encrypted.py  (pip install cryptography). Outputs are
committed; rerunning changes salts and nonces but not what the files hold. Password: "test".
"""
import base64
import hashlib
import json
import os
import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PASSWORD = b"test"

# The accounts, written out the way each app stores them; one broken entry among good ones.
AEGIS_CONTENT = json.load(open("aegis_plain.json"))["db"]
TWOFAS_SERVICES = json.load(open("2fas_plain.2fas"))["services"]
ANDOTP_ENTRIES = json.load(open("andotp_plain.json"))


def aegis_encrypted():
    # docs/vault.md: master key sealed per slot with scrypt(password); content sealed with it.
    # N is lower than Aegis's 2^15 so that the test stays quick; the file states it.
    n, r, p = 1 << 12, 8, 1
    salt = os.urandom(32)
    slot_key = hashlib.scrypt(PASSWORD, salt=salt, n=n, r=r, p=p, dklen=32)
    master = os.urandom(32)
    key_nonce = os.urandom(12)
    sealed_key = AESGCM(slot_key).encrypt(key_nonce, master, None)
    nonce = os.urandom(12)
    sealed = AESGCM(master).encrypt(nonce, json.dumps(AEGIS_CONTENT).encode(), None)
    vault = {
        "version": 1,
        "header": {
            "slots": [
                # A biometric slot first: its key is not derived from the password.
                {"type": 2, "uuid": "9e7ae0f2-2f5a-4a8e-9f39-1c2a6b7d0e11", "key": os.urandom(32).hex(),
                 "key_params": {"nonce": os.urandom(12).hex(), "tag": os.urandom(16).hex()}},
                {"type": 1, "uuid": "0a8c0571-ff6f-4b02-aa4b-50553b4fb4fe",
                 "key": sealed_key[:-16].hex(),
                 "key_params": {"nonce": key_nonce.hex(), "tag": sealed_key[-16:].hex()},
                 "n": n, "r": r, "p": p, "salt": salt.hex(), "repaired": True, "is_backup": False},
            ],
            "params": {"nonce": nonce.hex(), "tag": sealed[-16:].hex()},
        },
        "db": base64.b64encode(sealed[:-16]).decode(),
    }
    with open("aegis_encrypted.json", "w") as f:
        json.dump(vault, f, indent=4)


def twofas_encrypted():
    # 2FAS core/cipher: PBKDF2-HMAC-SHA256, 10 000 iterations, 256-bit key; AES-GCM, 12-byte IV;
    # servicesEncrypted = base64(ciphertext ‖ tag) ":" base64(salt) ":" base64(iv).
    salt = os.urandom(256)
    iv = os.urandom(12)
    key = hashlib.pbkdf2_hmac("sha256", PASSWORD, salt, 10_000, 32)
    data = AESGCM(key).encrypt(iv, json.dumps(TWOFAS_SERVICES).encode(), None)
    backup = {
        "services": [],
        "groups": [],
        "updatedAt": 1702934782660,
        "schemaVersion": 4,
        "appVersionCode": 5000009,
        "appVersionName": "5.1.0",
        "appOrigin": "android",
        "servicesEncrypted": ":".join(base64.b64encode(x).decode() for x in (data, salt, iv)),
        "reference": "unused by importers",
    }
    with open("2fas_encrypted.2fas", "w") as f:
        json.dump(backup, f)


def andotp_encrypted():
    # andOTP BackupHelper: iterations (int, big-endian) ‖ salt (12) ‖ iv (12) ‖ AES-GCM(ct ‖ tag),
    # key = PBKDF2-HMAC-SHA1(password, salt, iterations, 256 bits).
    iterations = 140_000
    salt = os.urandom(12)
    iv = os.urandom(12)
    key = hashlib.pbkdf2_hmac("sha1", PASSWORD, salt, iterations, 32)
    sealed = AESGCM(key).encrypt(iv, json.dumps(ANDOTP_ENTRIES).encode(), None)
    with open("andotp_encrypted.bin", "wb") as f:
        f.write(struct.pack(">i", iterations) + salt + iv + sealed)


def freeotp_plus():
    # FreeOTP+ export: secrets as Java (signed) byte arrays.
    def java_bytes(base32):
        raw = base64.b32decode(base32 + "=" * (-len(base32) % 8))
        return [b - 256 if b > 127 else b for b in raw]

    tokens = [
        {"algo": "SHA1", "counter": 0, "digits": 6, "issuerExt": "ACME", "issuerInt": "ACME",
         "label": "alice@example.com", "period": 30, "secret": java_bytes("JBSWY3DPEHPK3PXP"), "type": "TOTP"},
        {"algo": "SHA256", "counter": 5, "digits": 7, "issuerExt": "Bank", "issuerInt": "",
         "label": "bob", "period": 30, "secret": java_bytes("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"), "type": "HOTP"},
        # Broken: a "byte" out of range.
        {"algo": "SHA1", "counter": 0, "digits": 6, "issuerExt": "Typo", "issuerInt": "Typo",
         "label": "broken", "period": 30, "secret": [1, 2, 999], "type": "TOTP"},
        {"algo": "SHA1", "counter": 0, "digits": 5, "issuerExt": "Steam", "issuerInt": "Steam",
         "label": "gabe", "period": 30, "secret": java_bytes("KRSXG5CTMVRXEZLU"), "type": "TOTP"},
        {"algo": "SHA512", "counter": 0, "digits": 8, "issuerExt": "Example", "issuerInt": "Example",
         "label": "carol", "period": 60, "secret": java_bytes("MFRGGZDFMZTWQ2LK"), "type": "TOTP"},
    ]
    order = [f'{t["issuerExt"]}:{t["label"]}' for t in tokens]
    with open("freeotp_plus.json", "w") as f:
        json.dump({"tokenOrder": order, "tokens": tokens}, f, separators=(",", ":"))


if __name__ == "__main__":
    aegis_encrypted()
    twofas_encrypted()
    andotp_encrypted()
    freeotp_plus()
