"""Short-lived server records: authorization codes, device codes, login sessions.

One small interface so that any worker (and, with a shared backend, any
instance) can redeem what another one issued. Every record expires on its own
(``ttl`` seconds after it was written); ``take`` is atomic, so a code is
redeemed once however many requests race for it.

``MemoryRecords`` keeps them in this process only (tests, ``--workers 1``);
shared backends implement the same methods.

Kinds in use (``oauthcli.server.provider``): ``authz_code`` and ``authz_code_used``
(keyed by the SHA-256 of the code), ``device_code`` (SHA-256 of the device code),
``device_user_code`` (the user code), ``login_session`` (SHA-256 of the cookie) and
``login_pending`` (SHA-256 of a form's id; holds its CSRF token). Values are small
JSON-compatible dicts (str, int, float, bool, None, lists of str).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol


class Records(Protocol):
    def put(self, kind: str, key: str, value: dict[str, Any], ttl: float) -> None:
        """Store ``value`` under ``(kind, key)``, replacing any record there."""

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        """The live record, or ``None`` when absent or expired."""

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        """Atomically read and delete: exactly one caller gets a given record."""

    def replace(self, kind: str, key: str, value: dict[str, Any], ttl: float) -> bool:
        """Overwrite a live record; ``False`` (nothing written) when it is absent or expired."""

    def delete(self, kind: str, key: str) -> None:
        """Forget a record (no error when absent)."""


class MemoryRecords:
    """``Records`` in this process's memory, with an injectable clock."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._data: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}

    def _live(self, k: tuple[str, str], now: float) -> dict[str, Any] | None:
        found = self._data.get(k)
        if found is None:
            return None
        if found[0] <= now:
            del self._data[k]
            return None
        return found[1]

    def _sweep(self, now: float) -> None:
        for k in [k for k, (exp, _) in self._data.items() if exp <= now]:
            del self._data[k]

    def put(self, kind: str, key: str, value: dict[str, Any], ttl: float) -> None:
        with self._lock:
            now = self._clock()
            if len(self._data) > 10_000:
                self._sweep(now)
            self._data[(kind, key)] = (now + ttl, dict(value))

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._live((kind, key), self._clock())
            return None if found is None else dict(found)

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._live((kind, key), self._clock())
            if found is not None:
                del self._data[(kind, key)]
            return found

    def replace(self, kind: str, key: str, value: dict[str, Any], ttl: float) -> bool:
        with self._lock:
            now = self._clock()
            if self._live((kind, key), now) is None:
                return False
            self._data[(kind, key)] = (now + ttl, dict(value))
            return True

    def delete(self, kind: str, key: str) -> None:
        with self._lock:
            self._data.pop((kind, key), None)
