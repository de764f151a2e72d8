"""Revoked access tokens: their ``jti`` until they expire, in a state backend."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from oauthcli.state.contract import RevocationBackend
from oauthcli.state.sqlite import SqliteState


class Denylist:
    """``jti`` of revoked access tokens until they expire, in the state backend."""

    def __init__(
        self, backend: RevocationBackend | str | Path, clock: Callable[[], float] = time.time
    ) -> None:
        if isinstance(backend, str | Path):
            backend = SqliteState(backend)
        self.backend: RevocationBackend = backend
        self.clock = clock

    @classmethod
    def for_store(cls, store_path: str | Path) -> Denylist:
        """The embedded state beside ``store_path`` (0.1's ``.revoked.json`` is imported)."""
        return cls(SqliteState.for_store(store_path))

    def contains(self, jti: str) -> bool:
        """One indexed read per request (blocking only briefly; Redis: one round trip)."""
        return self.backend.is_access_revoked(jti, self.clock())

    def add(self, jti: str, expires_at: int, now: float | None = None) -> None:
        """Remember ``jti`` as revoked until ``expires_at`` (call it off the event loop)."""
        self.backend.revoke_access(jti, expires_at, self.clock() if now is None else now)
