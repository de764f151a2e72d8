"""A tiny JSON web site (JWKS, discovery documents) served by a real uvicorn on 127.0.0.1.

    site = JsonSite({"/jwks.json": {"keys": [...]}})
    with site.serve() as url:
        ...
    site.requests  # paths requested, in order

Routes can be changed while the server runs (key rotation); a route's value may
be ``(status, body)`` to answer something other than 200, or raw ``bytes``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from tests.live_server import live_server


class JsonSite:
    def __init__(self, routes: dict[str, Any] | None = None) -> None:
        self.routes: dict[str, Any] = dict(routes or {})
        self.requests: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        self.requests.append(path)
        value = self.routes.get(path, (404, {"detail": "Not Found"}))
        status, body = value if isinstance(value, tuple) else (200, value)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
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
            yield server.url
