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


# --- claims a store or the control API chooses ([users.X.claims], [clients.X.claims]) ---------

# Claims the provider sets itself (RFC 7519 4.1, RFC 9068 2.2, RFC 8693 4, RFC 7800, OIDC Core
# 2 and 3.1.3.6, and this tool's own ``gen``/``fam``): a chosen claim may never replace one.
RESERVED_CLAIMS = frozenset({
    "iss", "sub", "aud", "exp", "iat", "nbf", "jti", "cnf", "act", "may_act", "scope", "scp",
    "scopes", "client_id", "auth_time", "nonce", "at_hash", "c_hash", "s_hash", "azp", "sid",
    "typ", "gen", "fam", "token_type", "events",
})  # fmt: skip
# OIDC Core 5.4: the standard claims each scope asks for; a chosen standard claim goes into a
# token or /userinfo only when its scope was granted. Other chosen claims go in always.
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": ("name", "family_name", "given_name", "middle_name", "nickname",
                "preferred_username", "profile", "picture", "website", "gender", "birthdate",
                "zoneinfo", "locale", "updated_at"),
    "email": ("email", "email_verified"),
    "address": ("address",),
    "phone": ("phone_number", "phone_number_verified"),
}  # fmt: skip
_SCOPE_OF = {claim: scope for scope, names in SCOPE_CLAIMS.items() for claim in names}
_CLAIM_NAME = re.compile(r"[A-Za-z0-9_.:/@+-]{1,128}")


def _json_problem(value: Any, depth: int = 0) -> str | None:
    if depth > 16:
        return "nests too deep"
    if value is None or isinstance(value, bool | int | str):
        return None
    if isinstance(value, float):
        return None if is_numeric_date(value) else "is not a finite number"
    if isinstance(value, list):
        return next((p for v in value if (p := _json_problem(v, depth + 1))), None)
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return "has a key that is not a string"
        return next((p for v in value.values() if (p := _json_problem(v, depth + 1))), None)
    return "is not a JSON value (a date or time?)"


def chosen_claims_problem(claims: Any) -> str | None:
    """Why ``claims`` cannot be chosen claims (a table of JSON values, no reserved name)."""
    if not isinstance(claims, dict):
        return "must be a table of claims"
    for name, value in claims.items():
        if not isinstance(name, str) or not _CLAIM_NAME.fullmatch(name):
            return f"claim name {str(name)[:40]!r} must be 1-128 letters, digits or _ . : / @ + -"
        if name in RESERVED_CLAIMS:
            return f"claim {name!r} is set by the provider and cannot be chosen"
        problem = _json_problem(value)
        if problem:
            return f"claim {name!r} {problem}"
    return None


def parse_claim_assignment(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` of a ``--claim`` option: VALUE is JSON when it parses as JSON
    (``roles=["admin"]``, ``level=3``), else the text itself (``tenant=acme``)."""
    import json

    name, sep, raw = text.partition("=")
    if not sep:
        raise UsageError(f"invalid --claim {text[:60]!r}: write NAME=VALUE")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    problem = chosen_claims_problem({name: value})
    if problem:
        raise UsageError(f"invalid --claim: {problem}")
    return name, value


def scoped_claims(chosen: dict[str, Any], scopes: Iterable[str] | None) -> dict[str, Any]:
    """The chosen claims a token or /userinfo answer carries under ``scopes``: a standard
    claim (OIDC Core 5.1) only when its 5.4 scope was granted, any other claim always."""
    granted = set(scopes or ())
    return {k: v for k, v in chosen.items() if _SCOPE_OF.get(k) in (None, *granted)}
