#!/usr/bin/env python3
"""Independent verifier for the VSAs `quorate check --vsa` writes.

Written from the DSSE protocol (secure-systems-lab/dsse, protocol.md and envelope.md),
the in-toto Statement v1 and the SLSA VSA v1 specs, with the `cryptography` package for
Ed25519; it shares no code with Quorate.

usage: dsse_verify.py VSA_FILE VKEY
  VKEY: a signed-note verifier key, NAME+KEYID+BASE64(0x01 || 32-byte Ed25519 key),
        literally or as a file holding it.
Prints `OK <resourceUri> <n> inputAttestations` and exits 0, or `REFUSED: <why>`, exit 1.
"""

import base64
import json
import os
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/verification_summary/v1"


def refuse(why):
    print("REFUSED: " + why)
    sys.exit(1)


def pae(payload_type: bytes, body: bytes) -> bytes:
    # PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(body), body)


def b64decode(s: str) -> bytes:
    # DSSE: verifiers MUST accept standard and URL-safe base64.
    try:
        return base64.b64decode(s, validate=True)
    except ValueError:
        return base64.urlsafe_b64decode(s)


def public_key(vkey_arg: str) -> Ed25519PublicKey:
    text = vkey_arg
    if os.path.isfile(vkey_arg):
        with open(vkey_arg, encoding="utf-8") as f:
            text = f.read().strip()
    # The name holds no "+", the base64 may.
    parts = text.split("+", 2)
    if len(parts) != 3:
        refuse("not a vkey: " + text)
    raw = base64.b64decode(parts[2])
    if len(raw) != 33 or raw[0] != 0x01:
        refuse("not an Ed25519 vkey")
    return Ed25519PublicKey.from_public_bytes(raw[1:])


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    key = public_key(sys.argv[2])
    with open(sys.argv[1], "rb") as f:
        try:
            env = json.load(f)
        except ValueError as e:
            refuse("not JSON: %s" % e)
    for field in ("payload", "payloadType", "signatures"):
        if field not in env:
            refuse("envelope lacks " + field)
    try:
        body = b64decode(env["payload"])
    except ValueError:
        refuse("payload is not base64")
    message = pae(env["payloadType"].encode("utf-8"), body)
    verified = False
    for sig in env["signatures"]:
        try:
            key.verify(b64decode(sig["sig"]), message)
            verified = True
            break
        except (InvalidSignature, ValueError, KeyError):
            continue
    if not verified:
        refuse("no signature verifies under the key")
    if env["payloadType"] != PAYLOAD_TYPE:
        refuse("payloadType is " + env["payloadType"])
    st = json.loads(body)
    if st.get("_type") != STATEMENT_TYPE:
        refuse("_type is %r" % st.get("_type"))
    if st.get("predicateType") != PREDICATE_TYPE:
        refuse("predicateType is %r" % st.get("predicateType"))
    pred = st.get("predicate", {})
    for field in ("verifier", "timeVerified", "resourceUri", "policy", "verificationResult"):
        if field not in pred:
            refuse("predicate lacks " + field)
    if pred["verificationResult"] != "PASSED":
        refuse("verificationResult is " + pred["verificationResult"])
    if not st.get("subject"):
        refuse("no subject")
    print("OK %s %d inputAttestations" % (pred["resourceUri"], len(pred.get("inputAttestations", []))))


main()
