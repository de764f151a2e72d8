"""The live user store: the TOML file, re-read when it changes on disk.

So ``oauthcli user disable alice`` takes effect on the next request (one ``stat``
per request). Everything else the server keeps (refresh families, revocations,
throttle counters, records) is in a state backend: ``oauthcli.state``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from oauthcli.errors import StoreError
from oauthcli.passwords import VerifiedSecrets
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
