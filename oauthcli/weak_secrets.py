"""HMAC secrets that are published or guessed first, and a check for tokens signed with one.

A token whose HS256/384/512 signature verifies with one of these can be forged by
anyone: the secret is printed in a tutorial, a library's README or a tool's UI.
The list is short on purpose (each entry has a known source or is a placeholder
seen in many tutorials); it is not a cracking word list.

Only ``hmac`` and ``hashlib`` are used, so ``oauthcli decode`` can run the check
without importing PyJWT or cryptography.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import NamedTuple

from oauthcli.verify.parse import ParsedToken

# (secret, where it comes from)
WEAK_SECRETS: tuple[tuple[str, str], ...] = (
    (
        "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7",
        "the FastAPI tutorial's SECRET_KEY (OAuth2 with Password, Bearer with JWT tokens)",
    ),
    ("your-256-bit-secret", "jwt.io's default HS256 secret"),
    ("your-384-bit-secret", "jwt.io's default HS384 secret"),
    ("your-512-bit-secret", "jwt.io's default HS512 secret"),
    ("secret", "PyJWT's documentation example and a common default"),
    ("shhhhh", "the jsonwebtoken (Node) README example"),
    ("super-secret", "the Flask-JWT-Extended documentation example"),
    ("keyboard cat", "the express-session README example"),
    ("changeme", "a common placeholder"),
    ("changeit", "a common placeholder"),
    ("password", "a common placeholder"),
    ("your-secret-key", "a common tutorial placeholder"),
    ("your_secret_key", "a common tutorial placeholder"),
    ("your_jwt_secret", "a common tutorial placeholder"),
    ("secret-key", "a common tutorial placeholder"),
    ("secret_key", "a common tutorial placeholder"),
    ("secretkey", "a common tutorial placeholder"),
    ("mysecret", "a common tutorial placeholder"),
    ("jwt_secret", "a common tutorial placeholder"),
    ("supersecret", "a common tutorial placeholder"),
    ("test", "a common placeholder"),
)

_DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


class WeakSecret(NamedTuple):  # not a dataclass: importing dataclasses costs decode 8 ms
    secret: str
    source: str
    algorithm: str

    def warning(self) -> str:
        """The warning line; it names the source, not the secret (it may be in a log)."""
        return (
            f"this {self.algorithm} token is signed with a published secret ({self.source}): "
            "anyone can forge tokens that pass this check; generate a new key with "
            f"'oauthcli keys generate --alg {self.algorithm} --out FILE'"
        )


def find_weak_secret(parsed: ParsedToken) -> WeakSecret | None:
    """The listed secret ``parsed``'s HMAC signature verifies with, or None (also for non-HS* tokens)."""
    algorithm = parsed.header.get("alg")
    digest = _DIGESTS.get(algorithm) if isinstance(algorithm, str) else None
    if digest is None:
        return None
    assert isinstance(algorithm, str)
    for secret, source in WEAK_SECRETS:
        mac = hmac.new(secret.encode(), parsed.signing_input, digest).digest()
        if hmac.compare_digest(mac, parsed.signature):
            return WeakSecret(secret, source, algorithm)
    return None
