"""OpenID Connect: ID tokens, ``/userinfo``, the discovery fields of the browser and device flows.

ID tokens are signed with the issuer's key (``[issuer] algorithm``), as the
access tokens are; with an HMAC algorithm only holders of the server's secret
can verify them, so prefer RS256/ES256 when a front end must check ID tokens.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from oauthcli.claims import scoped_claims, scopes_of
from oauthcli.jose import token_hash
from oauthcli.server import offload
from oauthcli.server.context import ServerContext, is_client_token
from oauthcli.server.provider import (
    AUTHORIZE_PATH,
    DEVICE_AUTHORIZATION_PATH,
    LOGOUT_PATH,
    OIDC_SCOPES,
    USERINFO_PATH,
)
from oauthcli.store import User

CLAIMS = ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "name",
          "preferred_username", "email")  # fmt: skip


def identity_claims(ctx: ServerContext, user: User, scopes: list[str]) -> dict[str, Any]:
    """What an ID token and /userinfo say of ``user``: the standard claims the scopes allow
    (OIDC Core 5.4) and the user's chosen claims (``claims.scoped_claims``; the store's
    ``name``/``email`` fields first, a chosen claim of the same name over them)."""
    claims: dict[str, Any] = {}
    if "profile" in scopes:
        claims["preferred_username"] = user.username
        if user.full_name:
            claims["name"] = user.full_name
    if "email" in scopes and user.email:
        claims["email"] = user.email
    claims.update(scoped_claims(ctx.user_claims(user.username), scopes))
    return claims


def id_token(
    ctx: ServerContext,
    *,
    issuer: str,
    client_id: str,
    user: User,
    scopes: list[str],
    auth_time: int,
    nonce: str | None,
    access_token: str,
) -> str:
    now = int(ctx.service.clock())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": user.username,
        "aud": client_id,
        "exp": now + ctx.settings.access_ttl,
        "iat": now,
        "auth_time": auth_time,
    }
    if nonce is not None:
        claims["nonce"] = nonce
    claims["at_hash"] = token_hash(access_token, ctx.key.algorithm)
    claims.update(identity_claims(ctx, user, scopes))
    return ctx.key.sign(claims, "JWT")


def _bearer_error(status: int, error: str, description: str, metadata: str) -> Response:
    challenge = f'Bearer error="{error}", error_description="{description}"'
    if error == "insufficient_scope":
        challenge += ', scope="openid"'
    if status == 401:
        challenge += f', resource_metadata="{metadata}"'  # RFC 9728 5.1
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"WWW-Authenticate": challenge, "Cache-Control": "no-store"},
    )


async def userinfo(request: Request, ctx: ServerContext) -> Response:
    """OIDC Core 5.3: the claims the access token's scopes allow (it must carry ``openid``).

    A DPoP-bound token needs ``Authorization: DPoP`` and a proof of its key (RFC 9449 7.1)."""
    from oauthcli.errors import TokenError
    from oauthcli.server import bearer, dpop_check
    from oauthcli.server.resource_metadata import metadata_url, with_metadata

    metadata = metadata_url(ctx, request)
    presented = dpop_check.presented(request, request.method)
    token = presented.token
    if presented.scheme not in ("bearer", "dpop") or token is None:
        challenge = with_metadata("Bearer", metadata)
        return Response(status_code=401, headers={"WWW-Authenticate": challenge})
    data = ctx.live.current()
    try:
        claims = await offload.read(ctx.denylist.backend, ctx.active_access_claims, token, data)
    except TokenError:
        return _bearer_error(401, "invalid_token", "The access token is not valid", metadata)
    user = data.users.get(claims["sub"])
    if user is None or is_client_token(claims):
        return _bearer_error(
            401, "invalid_token", "The access token does not belong to a user", metadata
        )
    try:
        await dpop_check.resource_binding(ctx, presented, claims)
    except TokenError as exc:
        refused = bearer.dpop_error(ctx, exc)
        return JSONResponse(
            {"error": refused.error, "error_description": refused.description},
            status_code=401,
            headers={"WWW-Authenticate": with_metadata(refused.challenge, metadata),
                     "Cache-Control": "no-store",
                     **refused.headers},
        )  # fmt: skip
    scopes = scopes_of(claims)
    if "openid" not in scopes:
        return _bearer_error(
            403, "insufficient_scope", "The access token lacks scope openid", metadata
        )
    body = {"sub": user.username, **identity_claims(ctx, user, scopes)}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def discovery_fields(base: str, algorithm: str, store_scopes: list[str]) -> dict[str, Any]:
    """RFC 8414 / OpenID Discovery fields of the authorization, device and userinfo endpoints."""
    return {
        "authorization_endpoint": base + AUTHORIZE_PATH,
        "device_authorization_endpoint": base + DEVICE_AUTHORIZATION_PATH,
        "userinfo_endpoint": base + USERINFO_PATH,
        "end_session_endpoint": base + LOGOUT_PATH,  # OpenID RP-Initiated Logout 1.0 2.1
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [algorithm],
        "authorization_response_iss_parameter_supported": True,
        "prompt_values_supported": ["none", "login"],
        "claims_supported": list(CLAIMS),
        "scopes_supported": [*OIDC_SCOPES, *(s for s in store_scopes if s not in OIDC_SCOPES)],
    }


def add_swagger_code_flow(app: Any, ctx: ServerContext) -> None:
    """Swagger UI's Authorize offers the authorization-code flow with PKCE beside the password
    flow: the same OAuth2 security scheme gains an ``authorizationCode`` flow, and Swagger UI
    is told to use PKCE (its redirect page is FastAPI's ``/docs/oauth2-redirect``)."""
    data = ctx.live.current()
    init: dict[str, Any] = {"usePkceWithAuthorizationCodeGrant": True}
    redirect = app.swagger_ui_oauth2_redirect_url or ""
    for client in data.clients.values():
        if client.public and any(uri.endswith(redirect) for uri in client.redirect_uris):
            init["clientId"] = client.client_id
            break
    app.swagger_ui_init_oauth = {**(app.swagger_ui_init_oauth or {}), **init}
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema: dict[str, Any] = generate()
        schemes = schema.get("components", {}).get("securitySchemes", {})
        for scheme in schemes.values():
            flows = scheme.get("flows", {}) if scheme.get("type") == "oauth2" else {}
            password = flows.get("password")
            if password is not None:
                scopes = {s: "" for s in OIDC_SCOPES} | password.get("scopes", {})
                flows["authorizationCode"] = {
                    "authorizationUrl": AUTHORIZE_PATH.lstrip("/"),
                    "tokenUrl": password["tokenUrl"],
                    "scopes": scopes,
                }
        return schema

    app.openapi = openapi
