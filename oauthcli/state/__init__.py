"""The shared state: everything ``serve`` and the CLI keep beyond the user store.

- ``contract``: the one protocol (``State``: refresh families, revocations, throttle
  counters, records incl. sessions and consent) and the consent helpers;
- ``memory``, ``sqlite``, ``redis``: its implementations, side by side (one
  conformance suite, ``tests/state/test_conformance.py``, runs them all);
- ``denylist``: revoked access tokens (``Denylist``) over any backend.

``open_state`` picks the backend ``serve --state`` names. ``redis`` (and the redis
package) is imported only when a Redis URL is given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oauthcli.state.contract import State


def open_state(
    url: str | None,
    store_path: str | Path,
    password: str | None = None,
    on_outage: Callable[[bool, str], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> State:
    """The backend named by ``--state``: ``None`` is the SQLite file beside the store.

    ``on_outage(down, message)`` hears when a remote backend stops and starts answering
    (``serve`` logs it); a backend itself never logs. ``clock`` dates every expiry."""
    if url is None:
        from oauthcli.state.sqlite import SqliteState

        return SqliteState.for_store(store_path, clock=clock)
    from oauthcli.state.redis import RedisState

    return RedisState.from_url(url, password=password, clock=clock, on_outage=on_outage)
