"""Password hashing: bcrypt for new hashes, older schemes still verified and upgraded.

passlib's ``CryptContext`` (from the maintained ``libpass`` fork) lets a store
holding pbkdf2_sha256 or sha256_crypt hashes keep working: those verify, and
``verify`` hands back a bcrypt replacement for the caller to save.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

from oauthcli.errors import UsageError

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
