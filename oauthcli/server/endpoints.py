"""The OAuth routes: ``POST /token``, ``/revoke`` (RFC 7009) and ``/introspect`` (RFC 7662).

The handlers live in ``grants`` (the registry of grants), ``revocation`` and
``introspection``; this module only wires them to paths and
describes their form bodies for the OpenAPI document (they parse the form
themselves, so FastAPI sees no parameters).

Each path is answered by a plain ASGI route (``lean_routes``, put first): the one
``client_request`` authentication, then the handler, inside the app's middleware and
exception handlers, without FastAPI's per-request dependency solving (a third of a
token request's cost). The FastAPI routes (``router``) run the same two steps and
describe the paths in the OpenAPI document.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response
from starlette.routing import Route

from oauthcli.server import grants, introspection, revocation
from oauthcli.server.client_auth import ClientRequest, Policy, client_request
from oauthcli.server.context import ServerContext
from oauthcli.server.oauth import TOKEN_PATH, Form

__all__ = ["TOKEN_PATH", "lean_routes", "router"]
REVOKE_PATH = "/revoke"
INTROSPECT_PATH = "/introspect"


def _form(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": schema}},
        }
    }


TOKEN_FORM: dict[str, Any] = {
    **_form(
        {
            "grant_type": {
                "type": "string",
                "enum": list(grants.GRANT_TYPES),
                "description": "password when omitted, as OAuth2PasswordRequestForm",
            },
            "username": {"type": "string"},
            "password": {"type": "string", "format": "password"},
            "scope": {"type": "string", "description": "space-separated scopes"},
            "refresh_token": {"type": "string"},
            "client_id": {"type": "string"},
            "client_secret": {"type": "string", "format": "password"},
            # RFC 8693 2.1 (grant_type urn:ietf:params:oauth:grant-type:token-exchange)
            "subject_token": {"type": "string"},
            "subject_token_type": {"type": "string"},
            "actor_token": {"type": "string"},
            "actor_token_type": {"type": "string"},
            "requested_token_type": {"type": "string"},
            "audience": {"type": "string"},
        }
    ),
    "responses": {
        "200": {"description": "RFC 6749 section 5.1 token response"},
        "400": {"description": "RFC 6749 section 5.2 error (invalid_grant, invalid_scope, ...)"},
        "401": {"description": "invalid_client"},
        "429": {"description": "too many failed logins; see Retry-After"},
    },
}
TOKEN_ONLY_FORM = _form(
    {
        "token": {"type": "string"},
        "token_type_hint": {"type": "string", "enum": ["access_token", "refresh_token"]},
    },
    ["token"],
)


Handler = Callable[[Request, ServerContext, ClientRequest], Awaitable[Response]]


async def _revoke(request: Request, ctx: ServerContext, call: ClientRequest) -> Response:
    return await revocation.revoke_endpoint(ctx, call)


async def _introspect(request: Request, ctx: ServerContext, call: ClientRequest) -> Response:
    return await introspection.introspect_endpoint(ctx, call)


# path -> (who may call, the handler): what both the lean and the documented routes run
ENDPOINTS: dict[str, tuple[Policy | Callable[[Form], Policy], Handler]] = {
    TOKEN_PATH: (grants.client_policy, grants.token_endpoint),
    REVOKE_PATH: (Policy.OPTIONAL, _revoke),
    INTROSPECT_PATH: (Policy.CONFIDENTIAL, _introspect),
}


class _LeanEndpoint:
    """ASGI: the path's client authentication, then its handler (errors: the app's handlers)."""

    def __init__(self, ctx: ServerContext, path: str) -> None:
        policy, self.handler = ENDPOINTS[path]
        self.ctx, self.call = ctx, client_request(ctx, policy)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        response = await self.handler(request, self.ctx, await self.call(request))
        await response(scope, receive, send)


def lean_routes(ctx: ServerContext) -> list[Route]:
    """The routes that answer the OAuth paths; put them before the FastAPI ones."""
    return [
        Route(path, _LeanEndpoint(ctx, path), methods=["POST"], include_in_schema=False)
        for path in ENDPOINTS
    ]


def router(ctx: ServerContext) -> APIRouter:
    routes = APIRouter(tags=["oauth2"])
    # Each endpoint's client, authenticated by the one client_auth dependency.
    TokenCall = Annotated[ClientRequest, Depends(client_request(ctx, ENDPOINTS[TOKEN_PATH][0]))]
    RevokeCall = Annotated[ClientRequest, Depends(client_request(ctx, ENDPOINTS[REVOKE_PATH][0]))]
    IntrospectCall = Annotated[
        ClientRequest, Depends(client_request(ctx, ENDPOINTS[INTROSPECT_PATH][0]))
    ]

    @routes.post(TOKEN_PATH, openapi_extra=TOKEN_FORM)
    async def token(request: Request, call: TokenCall) -> Any:
        """OAuth2 token endpoint (RFC 6749): password, refresh_token, client_credentials."""
        return await ENDPOINTS[TOKEN_PATH][1](request, ctx, call)

    @routes.post(REVOKE_PATH, openapi_extra=TOKEN_ONLY_FORM)
    async def revoke(request: Request, call: RevokeCall) -> Any:
        """Token revocation (RFC 7009): 200 even for unknown tokens; only the token's client."""
        return await ENDPOINTS[REVOKE_PATH][1](request, ctx, call)

    @routes.post(INTROSPECT_PATH, openapi_extra=TOKEN_ONLY_FORM)
    async def introspect(request: Request, call: IntrospectCall) -> Any:
        """Token introspection (RFC 7662) for authenticated clients."""
        return await ENDPOINTS[INTROSPECT_PATH][1](request, ctx, call)

    return routes
