"""Discovery (RFC 8414 and OIDC's path to the same document) and the JWKS (RFC 7517).

Both documents are served as bytes built ahead of time, not serialised per request:
the JWKS once (the signing key is read at start-up), the metadata once per base URL
and store reload (``scopes_supported`` follows the store's users and clients).
"""

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from oauthcli.server.context import ServerContext

JWKS_PATH = "/.well-known/jwks.json"
# Base URLs remembered at once: one without --forwarded-allow-ips; a few behind a proxy
# (each Host it forwards); never unbounded, whatever Host headers arrive.
MAX_BASES = 16


def _json_bytes(document: dict[str, Any]) -> bytes:
    # As Starlette's JSONResponse renders: compact, UTF-8, no NaN.
    return json.dumps(
        document, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


class MetadataDocument:
    """The discovery document's bytes per base URL, rebuilt when the store reloads."""

    def __init__(
        self, ctx: ServerContext, build: Callable[[ServerContext, str], dict[str, Any]]
    ) -> None:
        self.ctx, self.build = ctx, build
        self._generation = -1
        self._bytes: dict[str, bytes] = {}

    def render(self, base: str) -> bytes:
        self.ctx.live.current()  # one stat: a changed store bumps the generation
        generation = self.ctx.live.generation
        if generation != self._generation or len(self._bytes) >= MAX_BASES:
            self._bytes, self._generation = {}, generation
        body = self._bytes.get(base)
        if body is None:
            body = self._bytes[base] = _json_bytes(self.build(self.ctx, base))
        return body


def router(
    ctx: ServerContext,
    public_base: Callable[[Request], str],
    build: Callable[[ServerContext, str], dict[str, Any]],
) -> APIRouter:
    routes = APIRouter(tags=["discovery"])
    metadata = MetadataDocument(ctx, build)

    @routes.get("/.well-known/oauth-authorization-server")
    async def oauth_metadata(request: Request) -> Any:
        """RFC 8414 authorization server metadata."""
        return Response(metadata.render(public_base(request)), media_type="application/json")

    @routes.get("/.well-known/openid-configuration")
    async def openid_configuration(request: Request) -> Any:
        """The same metadata where OpenID Connect discovery looks for it."""
        return Response(metadata.render(public_base(request)), media_type="application/json")

    jwk = ctx.key.public_jwk()
    jwks = _json_bytes({"keys": [jwk] if jwk else []})
    jwks_headers = {"Cache-Control": "public, max-age=300"}

    @routes.get(JWKS_PATH)
    async def jwks_endpoint() -> Any:
        """Public signing keys (RFC 7517); empty for HMAC, whose secret is never published."""
        return Response(jwks, media_type="application/json", headers=jwks_headers)

    return routes
