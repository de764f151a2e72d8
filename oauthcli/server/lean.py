"""Plain ASGI answers for the hot read-only routes (JWKS, discovery, ``GET /users/me``).

Each is a Starlette ``Route`` whose endpoint is an ASGI callable: put ahead of the
documented FastAPI routes of the same paths (which stay for the OpenAPI document),
they answer without FastAPI's per-request dependency solving and without building
``Request``/``Response`` objects, still inside the app's middleware and exception
handlers (a raised ``BearerError`` or ``StateUnavailable`` is answered as anywhere else).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.routing import Route

Scope = dict[str, Any]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Handler = Callable[[Scope], Awaitable[tuple[bytes, list[tuple[bytes, bytes]]]]]

JSON_TYPE = (b"content-type", b"application/json")


def json_bytes(document: Any) -> bytes:
    """JSON as Starlette's ``JSONResponse`` renders it: compact, UTF-8, no NaN."""
    return json.dumps(
        document, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


def header(scope: Scope, name: bytes) -> str | None:
    """A request header (lower-case ``name``), decoded as Starlette's ``Headers`` does."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class _Endpoint:
    """An ASGI endpoint answering 200 with the body and headers ``handler`` returns."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Any, send: Send) -> None:
        body, headers = await self.handler(scope)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*headers, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def route(path: str, handler: Handler) -> Route:
    return Route(path, _Endpoint(handler), methods=["GET"], include_in_schema=False)
