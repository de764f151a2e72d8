"""The OAuth routes: ``POST /token``, ``/revoke`` (RFC 7009) and ``/introspect`` (RFC 7662).

The handlers live in ``grants`` (the registry of grants), ``revocation`` and
``introspection``; this module only wires them to paths and
describes their form bodies for the OpenAPI document (they parse the form
themselves, so FastAPI sees no parameters).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from oauthcli.server import grants, introspection, revocation
from oauthcli.server.client_auth import ClientRequest, Policy, client_request
from oauthcli.server.context import ServerContext
from oauthcli.server.oauth import TOKEN_PATH

__all__ = ["TOKEN_PATH", "router"]
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


def router(ctx: ServerContext) -> APIRouter:
    routes = APIRouter(tags=["oauth2"])
    # Each endpoint's client, authenticated by the one client_auth dependency.
    TokenCall = Annotated[ClientRequest, Depends(client_request(ctx, grants.client_policy))]
    RevokeCall = Annotated[ClientRequest, Depends(client_request(ctx, Policy.OPTIONAL))]
    IntrospectCall = Annotated[ClientRequest, Depends(client_request(ctx, Policy.CONFIDENTIAL))]

    @routes.post(TOKEN_PATH, openapi_extra=TOKEN_FORM)
    async def token(request: Request, call: TokenCall) -> Any:
        """OAuth2 token endpoint (RFC 6749): password, refresh_token, client_credentials."""
        return await grants.token_endpoint(request, ctx, call)

    @routes.post(REVOKE_PATH, openapi_extra=TOKEN_ONLY_FORM)
    async def revoke(call: RevokeCall) -> Any:
        """Token revocation (RFC 7009): 200 even for unknown tokens; only the token's client."""
        return await revocation.revoke_endpoint(ctx, call)

    @routes.post(INTROSPECT_PATH, openapi_extra=TOKEN_ONLY_FORM)
    async def introspect(call: IntrospectCall) -> Any:
        """Token introspection (RFC 7662) for authenticated clients."""
        return await introspection.introspect_endpoint(ctx, call)

    return routes
