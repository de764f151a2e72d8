"""A real server that is slow on purpose: each route's answer is held until the test
releases it (or a delay passes), as a loaded provider or a far-away one would answer.

    site = HeldSite({"/token": {"access_token": ...}})
    with site.serve() as url:
        ...                      # a request to url + "/token" waits here
        site.release("/token")   # ... and is answered now

``hold_seconds``: routes not released by the test answer after that long instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from tests._jwks_server import JsonSite

MAX_HOLD = 120.0  # a test that never releases still ends


class HeldSite(JsonSite):
    """``JsonSite`` whose routes answer only once released (or after ``hold_seconds``)."""

    def __init__(self, routes: dict[str, Any], hold_seconds: float = MAX_HOLD) -> None:
        super().__init__(routes)
        self.hold_seconds = hold_seconds
        self.released: dict[str, threading.Event] = {path: threading.Event() for path in routes}

    def release(self, path: str) -> None:
        self.released[path].set()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        gate = self.released.get(scope.get("path", "")) if scope["type"] == "http" else None
        if gate is not None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.hold_seconds
            while not gate.is_set() and loop.time() < deadline:
                await asyncio.sleep(0.02)
        await super().__call__(scope, receive, send)

    @contextlib.contextmanager
    def serve(self, **uvicorn_options: Any) -> Iterator[str]:
        with super().serve(**uvicorn_options) as url:
            try:
                yield url
            finally:
                for gate in self.released.values():
                    gate.set()  # a held request does not keep the server from stopping
