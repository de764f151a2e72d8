"""Token facts every module shares: scope parsing, NumericDate checks (base64url: ``jose``).

Leaf module: imports nothing of oauthcli but ``errors``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, TypeGuard

from oauthcli.errors import UsageError

# JWT "typ" of this tool's tokens: access tokens per RFC 9068 2.1, refresh tokens its own.
ACCESS_TYP = "at+jwt"
REFRESH_TYP = "rt+jwt"
# OpenID Connect scopes: identity, not API access, so open to every user and client.
OPENID_SCOPES = ("openid", "profile", "email", "offline_access")

# RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")

# Far beyond any date, well within float range, so time arithmetic never overflows.
_FLOAT_RANGE = 1e300


def split_scopes(values: Iterable[str] | str | None) -> list[str]:
    """Scopes from option values or a ``scope`` parameter: each value may hold several,
    space-separated; validated (RFC 6749 3.3), de-duplicated, order kept."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    found: list[str] = []
    for value in values:
        for token in value.split():
            if not SCOPE_TOKEN.fullmatch(token):
                raise UsageError(
                    f"invalid scope {token!r}: no spaces, quotes, backslashes or control characters"
                )
            if token not in found:
                found.append(token)
    return found


def scope_string(scopes: Iterable[str] | str | None) -> str:
    """Scopes as the space-separated ``scope`` parameter; ``["me items", "x"]`` is three."""
    return " ".join(split_scopes(scopes))


def scopes_of(claims: dict[str, Any]) -> list[str]:
    """Scopes as real providers carry them: ``scope`` (string), ``scp`` or ``scopes`` (lists)."""
    for name in ("scope", "scp", "scopes"):
        value = claims.get(name)
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list):
            return [s for s in value if isinstance(s, str)]
    return []


def is_numeric_date(value: Any) -> TypeGuard[int | float]:
    """A NumericDate (RFC 7519 2): a finite int or float within range, not a bool.

    ``1e400`` (parsed as infinity), NaN and integers beyond the float range are
    refused, so that time arithmetic never overflows.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return -_FLOAT_RANGE < value < _FLOAT_RANGE  # False for inf and nan
