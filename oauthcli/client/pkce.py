"""PKCE (RFC 7636) and the one-time values of an authorization request: state and nonce."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from oauthcli.jose import b64url_encode, s256_challenge


def random_value(nbytes: int = 32) -> str:
    """A fresh unguessable value (256 bits by default), base64url without padding."""
    return b64url_encode(secrets.token_bytes(nbytes))


@dataclass(frozen=True)
class AuthorizationSecrets:
    """What one authorization request must be matched against; never reused."""

    # RFC 7636 4.1: 43 to 128 characters of [A-Za-z0-9-._~]; 32 random bytes give 43.
    code_verifier: str = field(default_factory=random_value, repr=False)
    state: str = field(default_factory=random_value, repr=False)
    nonce: str = field(default_factory=random_value, repr=False)

    @property
    def code_challenge(self) -> str:
        return s256_challenge(self.code_verifier)
