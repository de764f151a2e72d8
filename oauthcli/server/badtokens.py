"""Access tokens that are wrong in exactly one way, for testing that an app refuses them.

Each starts from the claims of a token this provider would issue now (its clock, its
issuer, its audience) and breaks one thing; everything else stays right, so an app
that accepts it has skipped exactly that check (RFC 8725 section 3, RFC 7519 4.1).
"""

from __future__ import annotations

from typing import Any

from oauthcli.control import BAD_TOKEN_KINDS
from oauthcli.jose import b64url_decode, b64url_encode
from oauthcli.keys import SigningKey
from oauthcli.tokens import ACCESS_TYP

WRONG_ISSUER = "https://wrong-issuer.invalid"
WRONG_AUDIENCE = "https://wrong-audience.invalid"
SKEW = 3600  # an hour past or ahead: beyond any sensible leeway


def bad_token(
    key: SigningKey, claims: dict[str, Any], kind: str, now: float, claim: str | None = None
) -> str:
    """``claims`` signed by ``key`` (the provider's), then broken as ``kind`` says."""
    import json

    import jwt

    if kind not in BAD_TOKEN_KINDS:
        raise ValueError(f"unknown bad token kind {kind!r}")
    claims = dict(claims)
    headers: dict[str, Any] = {"typ": ACCESS_TYP, "kid": key.kid}
    signing_key, algorithm = key.key, key.algorithm
    issued = int(now)
    if kind == "expired":
        claims.update(iat=issued - 2 * SKEW, nbf=issued - 2 * SKEW, exp=issued - SKEW)
    elif kind == "not_yet_valid":
        claims.update(iat=issued + SKEW, nbf=issued + SKEW, exp=issued + 2 * SKEW)
    elif kind == "wrong_iss":
        claims["iss"] = WRONG_ISSUER
    elif kind == "wrong_aud":
        claims["aud"] = WRONG_AUDIENCE
    elif kind == "missing_claim":
        claims.pop(claim or "exp", None)
    elif kind == "unknown_key":
        signing_key, kid = _other_key(key)
        headers["kid"] = kid
    if kind == "alg_none":
        # RFC 7519 6.1: an Unsecured JWT, "alg": "none" and an empty signature.
        header = b64url_encode(json.dumps({"alg": "none", "typ": ACCESS_TYP}).encode())
        payload = b64url_encode(json.dumps(claims).encode())
        return f"{header}.{payload}."
    token = jwt.encode(claims, signing_key, algorithm=algorithm, headers=headers)
    if kind == "bad_signature":
        head, payload, signature = token.split(".")
        raw = bytearray(b64url_decode(signature))
        raw[len(raw) // 2] ^= 0x01  # one bit: the signature of nothing at all
        token = f"{head}.{payload}.{b64url_encode(bytes(raw))}"
    return token


def _other_key(key: SigningKey) -> tuple[Any, str]:
    """A fresh key of the same algorithm (its own kid): a key the JWKS does not publish."""
    from oauthcli import keys

    material = keys.generate(key.algorithm)
    kid = keys.key_id(material, key.algorithm)
    if keys.family_of(key.algorithm) == keys.HMAC:
        return material, kid
    return keys.load_pem(material, "a new key"), kid
