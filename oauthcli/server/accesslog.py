"""Access log without secrets: method, path (never the query string), status, duration.

Replaces uvicorn's access log, which prints the full request line: a token in
a query string (``?access_token=...``) would end up in the log. Path segments
that look like JWTs are masked too.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

access_log = logging.getLogger("oauthcli.access")

_JWT_LIKE = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_UNPRINTABLE = re.compile(r"[^\x21-\x7e]")


def safe_path(path: str) -> str:
    path = _JWT_LIKE.sub("<token>", path)
    path = _UNPRINTABLE.sub("?", path)
    return path if len(path) <= 200 else path[:199] + "…"


class AccessLogMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware overhead); does nothing when INFO is off."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not access_log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            client = scope.get("client")
            access_log.info(
                '%s - "%s %s" %d %.1fms',
                f"{client[0]}:{client[1]}" if client else "-",
                scope["method"],
                safe_path(scope["path"]),
                status,
                (time.perf_counter() - start) * 1000,
            )
