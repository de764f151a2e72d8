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
import json
import threading
from collections.abc import Iterator
from typing import Any

from tests.live_server import live_server

MAX_HOLD = 120.0  # a test that never releases still ends


class HeldSite:
    def __init__(self, routes: dict[str, Any], hold_seconds: float = MAX_HOLD) -> None:
        self.routes = routes
        self.hold_seconds = hold_seconds
        self.released: dict[str, threading.Event] = {path: threading.Event() for path in routes}
        self.requests: list[str] = []

    def release(self, path: str) -> None:
        self.released[path].set()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        self.requests.append(path)
        gate = self.released.get(path)
        if gate is not None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.hold_seconds
            while not gate.is_set() and loop.time() < deadline:
                await asyncio.sleep(0.02)
        value = self.routes.get(path, (404, {"detail": "Not Found"}))
        status, body = value if isinstance(value, tuple) else (200, value)
        data = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        with live_server(self) as server:
            try:
                yield server.url
            finally:
                for gate in self.released.values():
                    gate.set()  # a held request does not keep the server from stopping
