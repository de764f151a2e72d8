"""Server-side state that outlives a request: the live user store and revoked access tokens.

Both are files beside the store, so ``oauthcli user disable alice`` or a
``POST /revoke`` handled by another worker takes effect on the next request:
each request costs one ``stat`` per file, and a file is parsed again only when
its modification time, size or inode changed.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from oauthcli.errors import StoreError
from oauthcli.fileio import atomic_write, exclusive_lock
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
        self._generation += 1
        return data

    def scopes(self) -> list[str]:
        """Every scope a user or client of the store may hold, sorted."""
        data = self.current()
        found = {s for u in data.users.values() for s in u.scopes}
        found.update(s for c in data.clients.values() for s in c.scopes)
        return sorted(found)


class Denylist:
    """``jti`` of revoked access tokens until they expire, in ``<store>.revoked.json``.

    Shared by all workers (and kept across restarts) through the file; writes
    take the file's lock and replace it atomically.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._signature: _Signature | None = None
        self._entries: dict[str, int] = {}

    @classmethod
    def for_store(cls, store_path: str | Path) -> Denylist:
        store_path = Path(store_path)
        return cls(store_path.with_name(store_path.stem + ".revoked.json"))

    def _read(self) -> dict[str, int]:
        try:
            doc = json.loads(self.path.read_bytes())
            revoked = doc["revoked"]
            if not isinstance(revoked, dict):
                raise TypeError
            return {str(k): int(v) for k, v in revoked.items()}
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError):
            raise StoreError(
                f"revoked-token list {self.path} is corrupt; delete it to forget revocations"
            ) from None

    def contains(self, jti: str) -> bool:
        """Fast path for every request: a ``stat``, and a read only after a change."""
        signature = _signature(self.path)
        if signature != self._signature:
            try:
                self._entries = self._read()
            except StoreError as exc:
                log.error("%s", exc)
            self._signature = signature
        return jti in self._entries

    def add(self, jti: str, expires_at: int, now: float | None = None) -> None:
        """Blocking (lock, fsync): call it off the event loop."""
        now = time.time() if now is None else now
        with exclusive_lock(self.path):
            entries = self._read()
            entries = {k: v for k, v in entries.items() if v > now}
            entries[jti] = int(expires_at)
            atomic_write(self.path, json.dumps({"revoked": entries}, indent=1).encode())
            self._entries = entries
            self._signature = _signature(self.path)
