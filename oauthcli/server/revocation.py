"""``POST /revoke`` (RFC 7009): 200 whether or not the token was known; only its client."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from oauthcli.errors import TokenError
from oauthcli.server.client_auth import ClientRequest
from oauthcli.server.context import ServerContext
from oauthcli.server.oauth import NO_STORE, Form, OAuthError, invalid_client, invalid_request
from oauthcli.store import Client
from oauthcli.tokens import ACCESS_TYP, REFRESH_TYP


async def revoke_endpoint(ctx: ServerContext, call: ClientRequest) -> Response:
    """RFC 7009: 200 whether or not the token was known; client auth optional but checked."""
    token = call.form.get("token")
    if token is None:
        raise invalid_request("missing token")
    await run_in_threadpool(_revoke_blocking, ctx, call.client, token, call.form)
    return Response(status_code=200, headers=NO_STORE)


def hint_order(hint: str | None) -> tuple[str, str]:
    return (REFRESH_TYP, ACCESS_TYP) if hint == "refresh_token" else (ACCESS_TYP, REFRESH_TYP)


def _revoke_blocking(ctx: ServerContext, client: Client | None, token: str, form: Form) -> None:
    if form.oversized:
        return
    for typ in hint_order(form.get("token_type_hint")):
        try:
            claims = ctx.decode(token, typ)
        except TokenError:
            continue
        _check_revoking_client(claims, client)
        if typ == ACCESS_TYP:
            jti = claims.get("jti")
            if isinstance(jti, str):
                ctx.denylist.add(jti, int(claims["exp"]))
        else:
            family = claims.get("fam")
            if isinstance(family, str):
                ctx.sessions.revoke_family(family)
        return


def _check_revoking_client(claims: dict[str, Any], client: Client | None) -> None:
    """RFC 7009 section 2.1: only the client a token was issued to may revoke it.

    A token issued to no client (password grant from a public client, such as the
    tutorial's) may be revoked by whoever holds it. Otherwise the request is refused
    (section 2.2.1: an RFC 6749 section 5.2 error) and nothing is revoked.
    """
    owner = claims.get("client_id")
    if owner is None:
        return
    if client is None:
        raise invalid_client("this token can only be revoked by the client it was issued to")
    if client.client_id != owner:
        raise OAuthError("unauthorized_client", "the token was not issued to this client")
