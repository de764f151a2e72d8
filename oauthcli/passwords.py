"""Password hashing: bcrypt for new hashes, older schemes still verified and upgraded.

passlib's ``CryptContext`` (from the maintained ``libpass`` fork) lets a store
holding pbkdf2_sha256 or sha256_crypt hashes keep working: those verify, and
``verify`` hands back a bcrypt replacement for the caller to save.

Client secrets have one more form. A secret that ``oauthcli client add`` generates
(256 random bits) is stored as a salted HMAC-SHA256 (``$hmac-sha256$v=1$SALT$MAC``):
a slow hash protects secrets people choose and remember (NIST SP 800-63B 5.1.1.2);
guessing a 256-bit random value is out of reach however fast each guess is, so the
token endpoint need not pay a bcrypt per request. Secrets people choose keep bcrypt.
``verify_secret`` picks the check by the stored form, and ``VerifiedSecrets``
remembers recent successful bcrypt checks so a client presenting its secret again
costs one HMAC, not one bcrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

from oauthcli.errors import UsageError
from oauthcli.jose import b64url_decode, b64url_encode

if TYPE_CHECKING:
    from passlib.context import CryptContext

# bcrypt only reads the first 72 bytes; longer input must be refused, never truncated.
MAX_PASSWORD_BYTES = 72
SCHEMES = ("bcrypt", "pbkdf2_sha256", "sha512_crypt", "sha256_crypt")


@lru_cache(maxsize=8)
def _context(rounds: int) -> CryptContext:
    from passlib.context import CryptContext

    # ``min_rounds``, not ``rounds``: a hash of a lower cost is upgraded on login, but one of
    # a higher cost is kept (``bcrypt__rounds`` would rewrite a cost-14 hash down to 12).
    return CryptContext(
        schemes=list(SCHEMES),
        deprecated="auto",
        bcrypt__default_rounds=rounds,
        bcrypt__min_rounds=rounds,
    )


def check_password_policy(password: str) -> None:
    """Raise ``UsageError`` for a password that cannot be stored faithfully."""
    if not password:
        raise UsageError("the password is empty")
    size = len(password.encode("utf-8"))
    if size > MAX_PASSWORD_BYTES:
        raise UsageError(
            f"the password is {size} bytes long; bcrypt uses at most {MAX_PASSWORD_BYTES} bytes "
            "(multi-byte characters count more than one): choose a shorter one"
        )
    if "\x00" in password:
        raise UsageError("the password contains a NUL character")


def hash_password(password: str, rounds: int = 12) -> str:
    check_password_policy(password)
    return _context(rounds).hash(password)


def verify_password(password: str, hashed: str, rounds: int = 12) -> tuple[bool, str | None]:
    """``(matches, replacement_hash)``; the replacement is set when the stored hash is outdated.

    Never raises for bad input: an over-long password or an unreadable hash is a
    plain mismatch, so a login fails the same way whatever was wrong.
    """
    if not password or len(password.encode("utf-8")) > MAX_PASSWORD_BYTES or "\x00" in password:
        dummy_verify(rounds, [hashed])  # as slow as checking this very hash
        return False, None
    try:
        return _context(rounds).verify_and_update(password, hashed)
    except (ValueError, TypeError):
        dummy_verify(rounds)
        return False, None


_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@lru_cache(maxsize=8)
def _dummy_hash(rounds: int) -> str:
    # Built, not hashed: the first unknown-user login must not cost two bcrypt rounds.
    salt = "".join(secrets.choice(_BCRYPT_ALPHABET) for _ in range(22))
    checksum = "".join(secrets.choice(_BCRYPT_ALPHABET) for _ in range(30))
    return f"$2b${rounds:02d}${salt[:21]}e{checksum}e"


_BCRYPT_COST = re.compile(r"\$2[abxy]?\$(\d\d)\$")


def bcrypt_cost(hashed: str) -> int | None:
    """The cost factor of a bcrypt hash (``$2b$12$...`` -> 12); None for other schemes."""
    match = _BCRYPT_COST.match(hashed)
    return int(match[1]) if match else None


def dummy_cost(rounds: int, hashes: Iterable[str] = ()) -> int:
    """The bcrypt cost of the dummy check: the configured one, or the costliest stored hash's.

    An unknown user must answer as slowly as the slowest known user would. Hashes of
    other schemes (pbkdf2, sha*_crypt) and bcrypt hashes below the configured cost
    answer faster until upgraded at their first successful login (README: timing).
    """
    costs = [c for c in map(bcrypt_cost, hashes) if c is not None and 4 <= c <= 31]
    return max([rounds, *costs])


def dummy_verify(rounds: int = 12, hashes: Iterable[str] = ()) -> None:
    """Spend the time of one real verification, so unknown users can't be told apart."""
    cost = dummy_cost(rounds, hashes)
    _context(rounds).verify("not-the-password", _dummy_hash(cost))


# --- client secrets -------------------------------------------------------------------------

FAST_HASH_PREFIX = "$hmac-sha256$v=1$"
GENERATED_SECRET_BYTES = 32  # 256 bits: no slow hash needed (see the module docstring)


def generate_secret() -> str:
    """A new client secret of 256 random bits (43 URL-safe characters)."""
    return secrets.token_urlsafe(GENERATED_SECRET_BYTES)


def _hmac_sha256(salt: bytes, secret: str) -> bytes:
    return hmac.digest(salt, secret.encode("utf-8", "surrogatepass"), "sha256")


def is_fast_hash(hashed: str) -> bool:
    """Whether ``hashed`` is the fast form (a generated secret's), checked without bcrypt."""
    return hashed.startswith(FAST_HASH_PREFIX)


def hash_generated_secret(secret: str) -> str:
    """The fast salted form, only for a secret from ``generate_secret`` (never a chosen one)."""
    if len(secret) < 43:
        raise ValueError("only a generated 256-bit secret may be stored with a fast hash")
    salt = secrets.token_bytes(16)
    return f"{FAST_HASH_PREFIX}{b64url_encode(salt)}${b64url_encode(_hmac_sha256(salt, secret))}"


@lru_cache(maxsize=256)
def _fast_hash_parts(hashed: str) -> tuple[bytes, bytes] | None:
    """The salt and MAC of a stored fast hash (a client's, decoded once), ``None`` if malformed."""
    salt_text, sep, mac_text = hashed[len(FAST_HASH_PREFIX) :].partition("$")
    try:
        salt = b64url_decode(salt_text)
        mac = b64url_decode(mac_text)
    except ValueError:
        return None
    if not sep or not salt or len(mac) != hashlib.sha256().digest_size:
        return None
    return salt, mac


def _verify_fast(secret: str, hashed: str) -> bool:
    parts = _fast_hash_parts(hashed)
    if parts is None:
        return False
    salt, mac = parts
    return hmac.compare_digest(_hmac_sha256(salt, secret), mac)


class VerifiedSecrets:
    """A bounded memory of recent successful secret checks (least recently used goes first).

    An entry is an HMAC, under a key made for this process, of the stored hash and the
    presented secret: it never holds a secret, a leaked entry cannot be brute-forced
    without the key, and a changed stored hash never matches an old entry. The owner
    clears it when the clients change (``LiveStore`` does on every reload).
    """

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._key = secrets.token_bytes(32)
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def _tag(self, secret: str, hashed: str) -> bytes:
        message = hashed.encode("utf-8") + b"\x00" + secret.encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def seen(self, secret: str, hashed: str) -> bool:
        tag = self._tag(secret, hashed)
        with self._lock:
            if tag in self._seen:  # dict lookup by hash: a miss says nothing of the secret
                self._seen.move_to_end(tag)
                return True
        return False

    def remember(self, secret: str, hashed: str) -> None:
        tag = self._tag(secret, hashed)
        with self._lock:
            self._seen[tag] = None
            self._seen.move_to_end(tag)
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()

    def __len__(self) -> int:
        return len(self._seen)


def verify_secret(
    secret: str, hashed: str, rounds: int = 12, cache: VerifiedSecrets | None = None
) -> bool:
    """Whether ``secret`` matches a client's stored ``hashed`` secret, by the hash's form.

    The fast form costs one HMAC; any other form is a password hash (bcrypt, ...)
    checked by ``verify_password``, skipped when ``cache`` saw this very secret and
    hash succeed before. Never raises for bad input.
    """
    if is_fast_hash(hashed):
        return _verify_fast(secret, hashed)
    if cache is not None and cache.seen(secret, hashed):
        return True
    ok, _ = verify_password(secret, hashed, rounds)
    if ok and cache is not None:
        cache.remember(secret, hashed)
    return ok
