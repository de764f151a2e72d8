"""Refresh-token sessions: rotation with reuse detection, shared by the CLI and ``serve``.

Each login starts a *family*; every refresh token carries its family id and its
own ``jti``. Only the newest ``jti`` of a family may be redeemed. Presenting an
older one means a token was copied, so the whole family is revoked (OAuth 2.0
Security BCP, section 4.14). Disabling a user or changing a password revokes
all of that user's families.

A thin front over a state backend: by default the embedded SQLite state beside
the user store (``<store>.state.db``), which the CLI's local ``login``/``refresh``
and every worker of ``serve`` share; ``serve --state redis://`` passes its
Redis backend instead. Rotation is atomic in every backend: a refresh token is
spent once however many requests race for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oauthcli import families
from oauthcli.state.contract import FamilyBackend
from oauthcli.state.sqlite import SqliteState


class SessionStore:
    def __init__(self, backend: FamilyBackend | str | Path) -> None:
        if isinstance(backend, str | Path):
            backend = SqliteState(backend)
        self.backend: FamilyBackend = backend

    @classmethod
    def for_store(cls, store_path: str | Path) -> SessionStore:
        """The sessions that ``serve`` over ``store_path`` uses.

        ``$OAUTHCLI_STATE`` (a Redis URL) when set, so the CLI's local ``login``,
        ``refresh`` and ``user disable``/``passwd`` reach the same sessions as
        ``serve``; else the embedded state beside the store (0.1's
        ``.sessions.json`` is imported into it).
        """
        from oauthcli import settings

        url = settings.state_url()
        if url is not None:
            from oauthcli.state.redis import RedisState

            return cls(RedisState.from_url(url, password=settings.state_password()))
        return cls(SqliteState.for_store(store_path))

    @property
    def path(self) -> Path | None:
        """The embedded state's file (``None`` for another backend)."""
        return getattr(self.backend, "path", None)

    def start(
        self, sub: str, jti: str, expires_at: int, scope: str = "", now: float | None = None
    ) -> str:
        """Record a new family whose first refresh token has ``jti``; return the family id."""
        now = time.time() if now is None else now
        return self.backend.start_family(sub, jti, expires_at, scope, now)

    def rotate(
        self,
        family_id: str,
        presented_jti: str,
        new_jti: str,
        expires_at: int,
        now: float | None = None,
        check: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Redeem ``presented_jti`` and make ``new_jti`` the family's only valid token.

        Returns the family record (``sub``, ``scope``). Reuse of an older token
        revokes the family. ``check`` sees the record before anything changes; if
        it raises, the presented token stays the valid one.
        """
        now = time.time() if now is None else now
        return self.backend.rotate_family(family_id, presented_jti, new_jti, expires_at, now, check)

    def family(self, family_id: str) -> dict[str, Any] | None:
        """A copy of one family's record (``sub``, ``scope``, ``current_jti``, ...), if known."""
        if not self.backend.has_data():
            return None
        return self.backend.get_family(family_id)

    def is_active(self, family_id: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return families.is_live(self.family(family_id), now)

    def revoke_family(self, family_id: str) -> bool:
        if not self.backend.has_data():
            return False
        return self.backend.revoke_family(family_id)

    def revoke_user(self, sub: str, now: float | None = None) -> int:
        """Revoke every live family of ``sub``; return how many there were."""
        if not self.backend.has_data():
            return 0
        return self.backend.revoke_user(sub, time.time() if now is None else now)
