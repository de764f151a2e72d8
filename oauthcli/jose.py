"""JOSE and OAuth encodings the client and the server share: one home for each.

base64url (RFC 7515 2), PKCE S256 (RFC 7636 4), the ID token's ``at_hash``/``c_hash``
(OpenID Connect Core 3.1.3.6, 3.3.2.11), JWK thumbprints (RFC 7638), DPoP's ``ath``
(RFC 9449 4.2) and HTTP Basic client credentials (RFC 6749 2.3.1). Leaf module: the
standard library only, no oauthcli import.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus, unquote_plus

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
# RFC 7636 4.1: code_verifier = 43*128unreserved; 4.2: an S256 challenge is 32 bytes, 43 chars.
_PKCE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Unpadded base64url (RFC 7515 2); ``ValueError`` for anything else."""
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


# JWK thumbprints (RFC 7638) and DPoP's access token hash (RFC 9449)

# RFC 7638 3.2: the required members of each key type, in lexicographic order.
THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "oct": ("k", "kty"),
}


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of ``jwk``'s required members (also DPoP's ``jkt``,
    RFC 9449 6.1); ``ValueError`` for an unknown key type or a missing or non-string member."""
    members = THUMBPRINT_MEMBERS.get(jwk.get("kty", "")) if isinstance(jwk, dict) else None
    if members is None:
        kty = jwk.get("kty") if isinstance(jwk, dict) else None
        raise ValueError(f"no thumbprint is defined for key type {kty!r}")
    if not all(isinstance(jwk.get(m), str) for m in members):
        raise ValueError("the key lacks a member its thumbprint needs")
    # RFC 7638 3.3: no whitespace, members sorted, UTF-8.
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def access_token_hash(access_token: str) -> str:
    """RFC 9449 4.2 ``ath``: base64url of the SHA-256 of the access token's ASCII octets."""
    return b64url_encode(hashlib.sha256(access_token.encode("ascii")).digest())


# PKCE (RFC 7636)


def s256_challenge(verifier: str) -> str:
    """RFC 7636 4.2: BASE64URL(SHA256(ASCII(code_verifier)))."""
    return b64url_encode(hashlib.sha256(verifier.encode("ascii")).digest())


def is_s256_challenge(challenge: str) -> bool:
    """Whether ``challenge`` can be an S256 code_challenge: 43 base64url characters."""
    return _S256_CHALLENGE.fullmatch(challenge) is not None


def s256_matches(verifier: str, challenge: str) -> bool:
    """RFC 7636 4.6: a well-formed ``verifier`` whose S256 transform is ``challenge``."""
    if _PKCE_VERIFIER.fullmatch(verifier) is None:
        return False
    return hmac.compare_digest(s256_challenge(verifier), challenge)


# ID token hashes (OpenID Connect Core 3.1.3.6 at_hash, 3.3.2.11 c_hash)

_SHA_BY_SIZE: dict[str, Callable[[bytes], Any]] = {
    "256": hashlib.sha256,
    "384": hashlib.sha384,
    "512": hashlib.sha512,
}
# The JWS algorithms (RFC 7518 3.1, RFC 8812 3.2) whose hash is named by their last three digits.
_SIZED = {f"{family}{size}" for family in ("HS", "RS", "PS", "ES") for size in _SHA_BY_SIZE} | {
    "ES256K"
}


def _digest(data: bytes, algorithm: str, curve: str) -> bytes:
    if algorithm in _SIZED:
        return _SHA_BY_SIZE[algorithm[2:5]](data).digest()
    # OIDC Core 1.0 (errata set 2) 3.1.3.6: for EdDSA the curve decides: SHA-512 for Ed25519,
    # SHAKE256 with a 114-byte output for Ed448 (as panva's oidc-token-hash).
    if algorithm == "Ed25519" or (algorithm == "EdDSA" and curve == "Ed25519"):
        return hashlib.sha512(data).digest()
    if algorithm == "Ed448" or (algorithm == "EdDSA" and curve == "Ed448"):
        return hashlib.shake_256(data).digest(114)
    raise ValueError(f"no ID token hash is defined for the algorithm {algorithm!r}")


def token_hash(value: str, algorithm: str, curve: str = "Ed25519") -> str:
    """``at_hash`` / ``c_hash``: base64url of the left half of the hash of ``value``'s ASCII
    octets, the hash being the one of the ID token's JWS ``algorithm`` (and, for EdDSA,
    of its ``curve``). ``ValueError`` for an algorithm without one (``none``, unknown)."""
    digest = _digest(value.encode("ascii"), algorithm, curve)
    return b64url_encode(digest[: len(digest) // 2])


# HTTP Basic client authentication (RFC 6749 2.3.1, RFC 7617)


def basic_authorization(client_id: str, client_secret: str) -> str:
    """The ``Authorization`` header value of client_secret_basic."""
    # RFC 6749 2.3.1: form-urlencode id and secret, then join with ":" and base64 (RFC 7617).
    pair = f"{quote_plus(client_id, safe='')}:{quote_plus(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


def parse_basic_authorization(header: str | None) -> tuple[str, str] | None:
    """``(client_id, client_secret)`` of an ``Authorization: Basic`` header value, each
    form-urldecoded (RFC 6749 2.3.1); ``None`` when the header is absent or another scheme;
    ``ValueError`` when it is Basic but not base64 of UTF-8 ``id:secret``."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("malformed HTTP Basic credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise ValueError("malformed HTTP Basic credentials")
    return unquote_plus(client_id), unquote_plus(secret)
