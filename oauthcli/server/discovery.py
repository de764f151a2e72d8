"""Discovery (RFC 8414 and OIDC's path to the same document) and the JWKS (RFC 7517)."""

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from oauthcli.server.context import ServerContext

JWKS_PATH = "/.well-known/jwks.json"


def router(ctx: ServerContext, metadata: Callable[[Request], dict[str, Any]]) -> APIRouter:
    routes = APIRouter(tags=["discovery"])

    @routes.get("/.well-known/oauth-authorization-server")
    async def oauth_metadata(request: Request) -> Any:
        """RFC 8414 authorization server metadata."""
        return JSONResponse(metadata(request))

    @routes.get("/.well-known/openid-configuration")
    async def openid_configuration(request: Request) -> Any:
        """The same metadata where OIDC discovery looks for it (this server issues no ID tokens)."""
        return JSONResponse(metadata(request))

    jwk = ctx.key.public_jwk()
    jwks = {"keys": [jwk] if jwk else []}

    @routes.get(JWKS_PATH)
    async def jwks_endpoint() -> Any:
        """Public signing keys (RFC 7517); empty for HMAC, whose secret is never published."""
        return JSONResponse(jwks, headers={"Cache-Control": "public, max-age=300"})

    return routes
