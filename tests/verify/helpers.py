"""Shared test data for the verifier tests: a fixed clock, claims, keys in every form."""

from __future__ import annotations

from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization

from oauthcli import keys
from oauthcli.errors import TokenError
from oauthcli.verify.keyset import key_from_secret
from oauthcli.verify.verifier import Verifier

VECTORS = Path(__file__).parent.parent / "vectors"
NOW = 1_700_000_000
SECRET = b"k" * 64


def clock(at: float = NOW):
    return lambda: at


def claims(**extra):
    return {"sub": "alice", "iat": NOW - 10, "exp": NOW + 900, **extra}


def public_pem(key) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_jwk(key, **extra) -> dict:
    """The key's public JWK without an "alg" (so RSA keys serve RS* and PS*)."""
    jwk = keys.public_jwk(key, keys.guess_algorithm(key))
    del jwk["alg"]
    return {**jwk, **extra}


def hs(payload, headers=None) -> str:
    return jwt.encode(payload, SECRET, algorithm="HS256", headers=headers)


def check(token, **options):
    options.setdefault("now", clock())
    return Verifier([key_from_secret(SECRET)], **options).verify(token)


def reason_of(token, **options) -> str | None:
    try:
        check(token, **options)
    except TokenError as exc:
        return exc.reason
    return None


def reason_of_verifier(verifier, token) -> str | None:
    try:
        verifier.verify(token)
    except TokenError as exc:
        return exc.reason
    return None
