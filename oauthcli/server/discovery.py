"""Discovery (RFC 8414 and OIDC's path to the same document) and the JWKS (RFC 7517).

Both documents are served as bytes built ahead of time, not serialised per request:
the JWKS once (the signing key is read at start-up), the metadata once per base URL
and store reload (``scopes_supported`` follows the store's users and clients).
"""

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.routing import Route

from oauthcli.server import lean
from oauthcli.server.context import ServerContext

JWKS_PATH = "/.well-known/jwks.json"
# Base URLs remembered at once: one without --forwarded-allow-ips; a few behind a proxy
# (each Host it forwards); never unbounded, whatever Host headers arrive.
MAX_BASES = 16


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
            body = self._bytes[base] = lean.json_bytes(self.build(self.ctx, base))
        return body


METADATA_PATHS = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")
JWKS_HEADERS = {"Cache-Control": "public, max-age=300"}


def jwks_bytes(ctx: ServerContext) -> bytes:
    jwks = [k.public_jwk() for k in ctx.published_keys()]
    return lean.json_bytes({"keys": [jwk for jwk in jwks if jwk]})


class JwksDocument:
    """The JWKS's bytes, rebuilt only when the keys change (``serve --control``'s rotation)."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self._generation = ctx.key_generation
        self._bytes = jwks_bytes(ctx)

    def render(self) -> bytes:
        if self.ctx.key_generation != self._generation:
            self._generation, self._bytes = self.ctx.key_generation, jwks_bytes(self.ctx)
        return self._bytes


def lean_routes(
    ctx: ServerContext,
    public_base: Callable[[Request], str],
    build: Callable[[ServerContext, str], dict[str, Any]],
) -> list[Route]:
    """The routes that answer the documents (``lean``); put them before the FastAPI ones."""
    metadata = MetadataDocument(ctx, build)
    json_only = [lean.JSON_TYPE]

    async def metadata_document(scope: lean.Scope) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        return metadata.render(public_base(Request(scope))), json_only

    jwks = JwksDocument(ctx)
    jwks_headers = [
        lean.JSON_TYPE,
        *((k.lower().encode(), v.encode()) for k, v in JWKS_HEADERS.items()),
    ]

    async def jwks_document(scope: lean.Scope) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        return jwks.render(), jwks_headers

    return [
        *(lean.route(path, metadata_document) for path in METADATA_PATHS),
        lean.route(JWKS_PATH, jwks_document),
    ]


def router(
    ctx: ServerContext,
    public_base: Callable[[Request], str],
    build: Callable[[ServerContext, str], dict[str, Any]],
) -> APIRouter:
    """The documented routes (OpenAPI); ``lean_routes`` answers the same requests first."""
    routes = APIRouter(tags=["discovery"])
    metadata = MetadataDocument(ctx, build)

    @routes.get(METADATA_PATHS[0])
    async def oauth_metadata(request: Request) -> Any:
        """RFC 8414 authorization server metadata."""
        return Response(metadata.render(public_base(request)), media_type="application/json")

    @routes.get(METADATA_PATHS[1])
    async def openid_configuration(request: Request) -> Any:
        """The same metadata where OpenID Connect discovery looks for it."""
        return Response(metadata.render(public_base(request)), media_type="application/json")

    jwks = JwksDocument(ctx)

    @routes.get(JWKS_PATH)
    async def jwks_endpoint() -> Any:
        """Public signing keys (RFC 7517); empty for HMAC, whose secret is never published."""
        return Response(jwks.render(), media_type="application/json", headers=JWKS_HEADERS)

    return routes
