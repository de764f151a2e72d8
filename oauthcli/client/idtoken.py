"""Verify an ID token before anything from its login is kept (OpenID Connect Core 3.1.3.7, 3.1.3.8).

Signature through the provider's JWKS, ``iss`` exactly the issuer, ``aud`` holding the
client id (and ``azp`` equal to it when there are several audiences), ``exp``, ``iat``,
``sub``, the ``nonce`` that was sent, and ``at_hash`` when present. Any failure is a
``TokenError`` (exit 4) naming the check; the caller then caches nothing.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any

from oauthcli.errors import Reason, TokenError
from oauthcli.jose import token_hash

# Clock skew tolerated between this machine and the provider for exp / iat.
LEEWAY = 60


def verify_id_token(
    id_token: str,
    *,
    issuer: str,
    client_id: str,
    jwks_uri: str,
    http_client: Any,
    nonce: str | None,
    access_token: str | None = None,
    now: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """The verified claims of ``id_token``; ``TokenError`` for any failed check."""
    from oauthcli.verify.fetch import RemoteJWKS
    from oauthcli.verify.verifier import Verifier

    verifier = Verifier(
        RemoteJWKS(jwks_uri, http_client),
        issuer=issuer,
        audience=client_id,
        leeway=LEEWAY,
        required_claims=("iat", "sub"),
        token_type="any",
        now=now,
    )
    try:
        result = verifier.verify(id_token)
    except TokenError as exc:
        raise type(exc)(f"the provider's ID token was refused: {exc.message}", exc.reason) from None
    claims = result.payload
    aud = claims.get("aud")
    azp = claims.get("azp")
    if ((isinstance(aud, list) and len(aud) > 1) or azp is not None) and azp != client_id:
        raise TokenError(
            f"the provider's ID token was refused: azp {str(azp)[:100]!r} is not the "
            f"client id {client_id!r}",
            Reason.AUDIENCE,
        )
    if nonce is not None:
        got = claims.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(got, nonce):
            raise TokenError(
                "the provider's ID token was refused: its nonce is not the one sent "
                "(a replayed or substituted token)",
                Reason.NONCE,
            )
    expected_hash = claims.get("at_hash")
    if expected_hash is not None and access_token is not None:
        try:
            mine = token_hash(access_token, result.algorithm, _curve(result.key.key))
        except ValueError:
            mine = ""
        if not isinstance(expected_hash, str) or not hmac.compare_digest(expected_hash, mine):
            raise TokenError(
                "the provider's ID token was refused: at_hash does not match the access token",
                Reason.AT_HASH,
            )
    return claims


def _curve(key: object) -> str:
    """The EdDSA curve of a verification key (OIDC Core 3.1.3.6 picks at_hash's hash by it)."""
    from cryptography.hazmat.primitives.asymmetric import ed448

    return "Ed448" if isinstance(key, ed448.Ed448PublicKey) else "Ed25519"
