"""What the code grants issue: an access token, a refresh token with ``offline_access``
(OIDC Core 11), an ID token with ``openid``; and how a replayed code revokes them."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from oauthcli.dpop import confirmation, token_type
from oauthcli.issuer import Audience
from oauthcli.server import oidc
from oauthcli.server.context import ServerContext
from oauthcli.server.dpop_check import bound_jkt
from oauthcli.server.grants.base import invalid_grant
from oauthcli.server.provider import active_user, issuer_of, user_scopes
from oauthcli.store import Client, User
from oauthcli.tokens import ACCESS_TYP, GENERATION_CLAIM, REFRESH_TYP


def revoke_issued(ctx: ServerContext, issued: dict[str, Any]) -> None:
    """Blocking: revoke what a code issued (its access token's ``jti``, its family)."""
    if issued.get("jti"):
        ctx.denylist.add(str(issued["jti"]), int(issued["exp"]))
    if issued.get("fam"):
        ctx.sessions.revoke_family(str(issued["fam"]))


async def issue_tokens(
    request: Request,
    ctx: ServerContext,
    client: Client,
    sub: str,
    requested: list[str] | None,
    auth_time: int,
    nonce: str | None,
    jti: str | None = None,
    audience: Audience | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The token response, and what it issued (``jti``, ``exp``, ``fam``) for a later revocation.

    ``jti``: the access token's, when chosen before (a code's redemption marker names it).
    ``audience``: ``IssuerSettings.audience_for``'s answer for the grant (RFC 8707)."""
    user = active_user(ctx.live.current(), sub)
    if user is None:
        raise invalid_grant("the user is no longer active")
    scopes = user_scopes(user, client, requested)
    aud = audience if audience is not None else ctx.settings.audience_for([])
    body, issued = await run_in_threadpool(
        _mint, ctx, user, scopes, client, jti, aud, bound_jkt(request)
    )
    if "openid" in scopes:
        body["id_token"] = oidc.id_token(
            ctx,
            issuer=issuer_of(ctx, request),
            client_id=client.client_id,
            user=user,
            scopes=scopes,
            auth_time=auth_time,
            nonce=nonce,
            access_token=body["access_token"],
        )
    return body, issued


def _mint(
    ctx: ServerContext,
    user: User,
    scopes: list[str],
    client: Client,
    jti: str | None,
    audience: Audience,
    jkt: str | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Blocking (the session file): a refresh token only with ``offline_access`` (OIDC Core 11).

    The tokens name their client and the account's generation (oauthcli.accounts); with a
    DPoP proof, its key (``cnf.jkt``; a public client's refresh token too, RFC 9449 5).
    """
    client_id = client.client_id
    if "offline_access" in scopes:
        pair = ctx.service.login(
            user.username,
            scopes,
            generation=user.generation,
            client_id=client_id,
            access_jti=jti,
            audience=audience,
            jkt=jkt,
            bind_refresh=client.public,
        )
        body = pair.as_response()
        refresh = ctx.decode(str(pair.refresh_token), REFRESH_TYP)
        access = ctx.decode(pair.access_token, ACCESS_TYP)
        return body, {"jti": access["jti"], "exp": access["exp"], "fam": refresh["fam"]}
    bound = {"client_id": client_id, **confirmation(jkt)}
    if user.generation is not None:
        bound[GENERATION_CLAIM] = user.generation
    if jti is not None:
        bound["jti"] = jti
    token, claims = ctx.service.access_token(
        user.username, scopes, audience=audience.aud, extra=bound
    )
    body = {
        "access_token": token,
        "token_type": token_type(jkt),
        "expires_in": ctx.settings.access_ttl,
        "scope": " ".join(scopes),
    }
    return body, {"jti": claims["jti"], "exp": claims["exp"]}
