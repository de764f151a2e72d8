"""Where a blocking call to the server state runs: the one rule.

- A **read** from a local backend (memory; SQLite in WAL mode, whose readers never wait
  for a writer) is one indexed read: it runs inline. A hop to the thread pool costs more
  than the read, and under load it also waits for the GIL behind the event loop: on a
  token request it was a third of the time.
- A call to a **remote** backend (``State.remote``: Redis, a network round trip) and
  every **write** (SQLite's ``BEGIN IMMEDIATE`` may wait for another writer) run in the
  thread pool, so the event loop keeps serving other requests meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


def is_remote(backend: Any) -> bool:
    """Whether a call to ``backend`` is a network round trip (``State.remote``)."""
    return bool(getattr(backend, "remote", False))


async def read(backend: Any, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, a read of ``backend``: inline for a local backend, else off the loop."""
    if is_remote(backend):
        return await run_in_threadpool(fn, *args)
    return fn(*args)


async def write(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, a write (or anything that may wait): always off the event loop."""
    return await run_in_threadpool(fn, *args)
