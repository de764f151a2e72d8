"""Server-side state that outlives a request.

The live user store is the TOML file, re-read when it changes on disk, so
``oauthcli user disable alice`` takes effect on the next request (one ``stat``
per request).

Everything else is in one *state backend* (``ServerState``): refresh-token
families (``oauthcli.sessions``), revoked access tokens until they expire
(``Denylist``), login throttle counters and lockouts (``server.throttle``), and
the short-lived records of ``server.records`` (codes, login sessions). Every
atomic operation is atomic and every entry expires on its own in each backend:

- ``SqliteState`` (default): ``<store>.state.db`` beside the store, shared by
  every worker of one ``serve``, every restart, and the CLI's local login;
- ``RedisState`` (``--state redis://HOST:PORT/DB``): shared by every instance.

A backend that cannot be reached raises ``StateUnavailable``; the app answers
503 ``temporarily_unavailable``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from oauthcli.errors import StoreError
from oauthcli.passwords import VerifiedSecrets
from oauthcli.server.records import Records
from oauthcli.server.throttle import ThrottleBackend
from oauthcli.sessions import FamilyBackend
from oauthcli.state_sqlite import SqliteState
from oauthcli.store import StoreData, UserStore

log = logging.getLogger("oauthcli.server")

_Signature = tuple[int, int, int]


def _signature(path: Path) -> _Signature | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class LiveStore:
    """The store's data, re-read whenever the file changes on disk.

    A store that becomes unreadable or invalid while serving (a half-finished
    hand edit) keeps the last good data and logs the problem once.
    """

    def __init__(self, store: UserStore, data: StoreData | None = None) -> None:
        self.store = store
        self._signature = _signature(store.path)
        self._data = data if data is not None else store.load()
        self._generation = 0
        self._broken: _Signature | None = None
        # Recent successful client-secret checks (client_auth._check_secret); forgotten on reload,
        # so a changed or removed client is checked against what the file says now.
        self.secrets = VerifiedSecrets()

    @property
    def generation(self) -> int:
        """Bumped on every successful reload (lets callers cache derived values)."""
        return self._generation

    def current(self) -> StoreData:
        signature = _signature(self.store.path)
        if signature == self._signature or signature is None or signature == self._broken:
            return self._data
        try:
            data = self.store.load()
        except StoreError as exc:
            self._broken = signature
            log.error("keeping the last good user store: %s", exc)
            return self._data
        self._data, self._signature, self._broken = data, signature, None
        self.secrets.clear()
        self._generation += 1
        return data

    def scopes(self) -> list[str]:
        """Every scope a user or client of the store may hold, sorted."""
        data = self.current()
        found = {s for u in data.users.values() for s in u.scopes}
        found.update(s for c in data.clients.values() for s in c.scopes)
        return sorted(found)


class RevocationBackend(Protocol):
    def revoke_access(self, jti: str, expires_at: float, now: float) -> None: ...

    def is_access_revoked(self, jti: str, now: float) -> bool: ...


class ServerState(FamilyBackend, RevocationBackend, ThrottleBackend, Records, Protocol):
    """Everything the server keeps that is not the user store, in one backend."""

    def describe(self) -> str:
        """The backend for people and logs (never a password)."""
        ...

    def ping(self) -> None:
        """Raise ``StateUnavailable`` when the backend cannot be reached."""
        ...

    def close(self) -> None: ...


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

    @property
    def remote(self) -> bool:
        """True when a lookup is a network round trip (Redis), not a local file read."""
        return bool(getattr(self.backend, "remote", False))

    def contains(self, jti: str) -> bool:
        """One indexed read per request (blocking only briefly; Redis: one round trip)."""
        return self.backend.is_access_revoked(jti, self.clock())

    def add(self, jti: str, expires_at: int, now: float | None = None) -> None:
        """Remember ``jti`` as revoked until ``expires_at`` (call it off the event loop)."""
        self.backend.revoke_access(jti, expires_at, self.clock() if now is None else now)


def open_state(url: str | None, store_path: str | Path, password: str | None = None) -> ServerState:
    """The backend named by ``--state``: ``None`` is the SQLite file beside the store."""
    if url is None:
        return SqliteState.for_store(store_path)
    from oauthcli.state_redis import RedisState

    return RedisState.from_url(url, password=password)
