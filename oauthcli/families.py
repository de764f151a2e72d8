"""Refresh-token families: the rules the sessions, both state backends and ``serve`` share.

A family is one login's chain of refresh tokens (OAuth 2.0 Security BCP, RFC 9700
section 4.14.2): a record with ``sub``, ``scope``, ``current_jti``, ``expires_at`` and
``revoked``. Leaf module: imports nothing of oauthcli but ``errors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oauthcli.errors import Reason, TokenError


def is_live(family: Mapping[str, Any] | None, now: float) -> bool:
    """Known, not revoked and not expired: its current refresh token may be redeemed."""
    return family is not None and not family["revoked"] and float(family["expires_at"]) > now


def check_redeemable(family: Mapping[str, Any] | None, now: float) -> None:
    """Raise the reason a family's refresh token may not be redeemed, if there is one."""
    if is_live(family, now):
        return
    if family is not None and family["revoked"]:
        raise TokenError("refresh token has been revoked", Reason.REVOKED)
    raise TokenError("refresh token is unknown or its session has ended", Reason.REVOKED)


def reused_error() -> TokenError:
    """A refresh token presented again after rotation: the whole family is revoked."""
    return TokenError(
        "refresh token was already used: the whole session is revoked, log in again", Reason.REUSED
    )
