"""``POST /introspect`` (RFC 7662), for authenticated confidential clients only."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from oauthcli.claims import scopes_of
from oauthcli.errors import TokenError
from oauthcli.server.client_auth import ClientRequest
from oauthcli.server.context import ServerContext, is_client_token
from oauthcli.server.oauth import NO_STORE, Form, invalid_request
from oauthcli.server.revocation import hint_order
from oauthcli.store import StoreData
from oauthcli.tokens import ACCESS_TYP


async def introspect_endpoint(ctx: ServerContext, call: ClientRequest) -> Response:
    """RFC 7662, for authenticated confidential clients only (``Policy.CONFIDENTIAL``)."""
    token = call.form.get("token")
    if token is None:
        raise invalid_request("missing token")
    data = ctx.live.current()
    body = await run_in_threadpool(_introspect_blocking, ctx, data, token, call.form)
    return JSONResponse(body, headers=NO_STORE)


def _introspect_blocking(
    ctx: ServerContext, data: StoreData, token: str, form: Form
) -> dict[str, Any]:
    if form.oversized:
        return {"active": False}
    for typ in hint_order(form.get("token_type_hint")):
        try:
            if typ == ACCESS_TYP:
                claims = ctx.active_access_claims(token, data, own_api=False)
            else:
                claims = ctx.active_refresh_claims(token, data)
        except TokenError:
            continue
        return _introspection(claims, typ)
    return {"active": False}


def _introspection(claims: dict[str, Any], typ: str) -> dict[str, Any]:
    body: dict[str, Any] = {"active": True}
    if typ == ACCESS_TYP:
        body["scope"] = " ".join(scopes_of(claims))
        if claims.get("client_id") is not None:
            body["client_id"] = claims["client_id"]
    else:
        body["scope"] = claims.get("scope", "")
    body["token_type"] = "access_token" if typ == ACCESS_TYP else "refresh_token"
    if not is_client_token(claims):
        body["username"] = claims["sub"]
    # RFC 9449 6.2: a bound token's cnf (jkt), so a resource server can check the proof.
    for name in ("sub", "exp", "iat", "nbf", "iss", "aud", "jti", "cnf"):
        if claims.get(name) is not None:
            body[name] = claims[name]
    return body
