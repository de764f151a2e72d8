"""``POST /token`` for ``authorization_code`` (RFC 6749 4.1.3, RFC 7636 4.6) and
``urn:ietf:params:oauth:grant-type:device_code`` (RFC 8628 3.4/3.5).

Both end in the same tokens: an access token, a refresh token when the scope has
``offline_access``, and an ID token when it has ``openid``.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from oauthcli.jose import s256_matches
from oauthcli.server import oidc
from oauthcli.server.context import ServerContext
from oauthcli.server.device import remaining
from oauthcli.server.oauth import NO_STORE, Form, OAuthError, invalid_request
from oauthcli.server.provider import (
    CODE,
    CODE_USED,
    DEVICE,
    DEVICE_GRANT,
    active_user,
    digest,
    issuer_of,
    user_scopes,
)
from oauthcli.store import Client, User
from oauthcli.tokens import ACCESS_TYP, GENERATION_CLAIM, REFRESH_TYP, new_jti

log = logging.getLogger("oauthcli.server")

GRANT_TYPES = ("authorization_code", DEVICE_GRANT)
SLOW_DOWN_STEP = 5  # RFC 8628 3.5: the interval grows by 5 seconds


def _invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


async def token_response(
    request: Request, ctx: ServerContext, form: Form, grant_type: str, client: Client
) -> Response:
    """The token response of a code grant for ``client`` (authenticated by ``client_auth``)."""
    if grant_type == "authorization_code":
        body = await _authorization_code(request, ctx, form, client)
    else:
        body = await _device_code(request, ctx, form, client)
    return JSONResponse(body, headers=NO_STORE)


async def _authorization_code(
    request: Request, ctx: ServerContext, form: Form, client: Client
) -> dict[str, Any]:
    code = form.get("code")
    if code is None:
        raise invalid_request("the authorization_code grant needs code")
    key = digest(code)
    record = await run_in_threadpool(ctx.records.take, CODE, key)
    if record is None:
        used = await run_in_threadpool(ctx.records.take, CODE_USED, key)
        if used is not None:
            # RFC 6749 4.1.2: a code used twice revokes the tokens issued for it; the
            # record names them from before they were minted (see _redeemed).
            if used.get("redeemed"):
                log.warning("authorization code reused: revoking the tokens issued for it")
            await run_in_threadpool(_revoke_issued, ctx, used)
        raise _invalid_grant("authorization code is invalid, expired or already used")
    _check_redemption(record, client, form)
    marker = await run_in_threadpool(_redeemed, ctx, key, record)
    body, issued = await _tokens(
        request, ctx, client, record["sub"], record["scopes"], record["auth_time"],
        record.get("nonce"), marker["jti"],
    )  # fmt: skip
    if issued.get("fam"):
        marker["fam"] = issued["fam"]
        kept = await run_in_threadpool(
            ctx.records.replace, CODE_USED, key, marker, ctx.settings.refresh_ttl
        )
        if not kept:  # replayed while the tokens were minted: the replay revoked the jti
            await run_in_threadpool(_revoke_issued, ctx, marker)
            raise _invalid_grant("authorization code was used twice")
    return body


def _check_redemption(record: dict[str, Any], client: Client, form: Form) -> None:
    """RFC 6749 4.1.3 and RFC 7636 4.6: the code's client, redirect URI and PKCE verifier."""
    if record["client_id"] != client.client_id:
        raise _invalid_grant("authorization code was issued to another client")
    redirect_uri = form.get("redirect_uri")
    if (record["redirect_given"] or redirect_uri is not None) and redirect_uri != record[
        "redirect_uri"
    ]:
        raise _invalid_grant("redirect_uri does not match the authorization request")
    verifier = form.get("code_verifier")
    challenge = record.get("code_challenge")
    if challenge is not None:
        if verifier is None:
            raise _invalid_grant("code_verifier is required (PKCE)")
        if not s256_matches(verifier, challenge):
            raise _invalid_grant("code_verifier does not match the code_challenge")
    elif verifier is not None:
        # RFC 9700 2.1.1: a verifier without a challenge is a PKCE downgrade attempt.
        raise _invalid_grant("code_verifier given but the authorization request had no PKCE")


def _redeemed(ctx: ServerContext, key: str, record: dict[str, Any]) -> dict[str, Any]:
    """Blocking: mark the code used before anything is minted, naming the access token's
    ``jti`` chosen at issue (``authorize.issue_code``): a replay from now on, even while
    this redemption is in flight, revokes what it issues. ``invalid_grant`` when a replay
    already took the marker (between our ``take`` and now)."""
    marker = {
        "jti": record.get("jti") or new_jti(),
        "exp": record.get("exp") or int(ctx.service.clock()) + ctx.settings.access_ttl,
        "redeemed": True,
    }
    ttl = ctx.provider.code_ttl + ctx.settings.access_ttl
    if "jti" not in record:  # a code issued before markers were written at issue time
        ctx.records.put(CODE_USED, key, marker, ttl)
    elif not ctx.records.replace(CODE_USED, key, marker, ttl):
        ctx.denylist.add(str(marker["jti"]), int(marker["exp"]))
        raise _invalid_grant("authorization code was used twice")
    return marker


def _revoke_issued(ctx: ServerContext, issued: dict[str, Any]) -> None:
    if issued.get("jti"):
        ctx.denylist.add(str(issued["jti"]), int(issued["exp"]))
    if issued.get("fam"):
        ctx.sessions.revoke_family(str(issued["fam"]))


async def _device_code(
    request: Request, ctx: ServerContext, form: Form, client: Client
) -> dict[str, Any]:
    device_code = form.get("device_code")
    if device_code is None:
        raise invalid_request("the device_code grant needs device_code")
    key = digest(device_code)
    record = await run_in_threadpool(ctx.records.get, DEVICE, key)
    if record is None or record["client_id"] != client.client_id:
        raise _invalid_grant("device code is invalid")
    now = ctx.provider.clock()
    if now >= float(record["expires_at"]):
        await run_in_threadpool(ctx.records.delete, DEVICE, key)
        raise OAuthError("expired_token", "the device code has expired; start again")
    status = record["status"]
    if status == "denied":
        await run_in_threadpool(ctx.records.delete, DEVICE, key)
        raise OAuthError("access_denied", "the user denied the request")
    if status == "pending":
        last, interval = record.get("last_poll"), int(record["interval"])
        record["last_poll"] = now
        too_fast = last is not None and now - float(last) < interval
        if too_fast:
            record["interval"] = interval + SLOW_DOWN_STEP
        await run_in_threadpool(ctx.records.replace, DEVICE, key, record, remaining(record, now))
        if too_fast:
            raise OAuthError(
                "slow_down", f"polling too fast; wait {record['interval']} s between requests"
            )
        raise OAuthError("authorization_pending", "the user has not finished yet")
    if (
        await run_in_threadpool(ctx.records.take, DEVICE, key) is None
    ):  # another poll redeemed it just now
        raise _invalid_grant("device code is invalid")
    body, _ = await _tokens(
        request, ctx, client, record["sub"], record["scopes"], record["auth_time"], None
    )
    return body


async def _tokens(
    request: Request,
    ctx: ServerContext,
    client: Client,
    sub: str,
    requested: list[str] | None,
    auth_time: int,
    nonce: str | None,
    jti: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The token response, and what it issued (``jti``, ``exp``, ``fam``) for a later revocation.

    ``jti``: the access token's, when chosen before (a code's redemption marker names it)."""
    user = active_user(ctx.live.current(), sub)
    if user is None:
        raise _invalid_grant("the user is no longer active")
    scopes = user_scopes(user, client, requested)
    body, issued = await run_in_threadpool(_mint, ctx, user, scopes, client.client_id, jti)
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
    ctx: ServerContext, user: User, scopes: list[str], client_id: str, jti: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Blocking (the session file): a refresh token only with ``offline_access`` (OIDC Core 11).

    The tokens name their client and the account's generation (oauthcli.accounts).
    """
    if "offline_access" in scopes:
        pair = ctx.service.login(
            user.username, scopes, generation=user.generation, client_id=client_id, access_jti=jti
        )
        body = pair.as_response()
        refresh = ctx.decode(str(pair.refresh_token), REFRESH_TYP)
        access = ctx.decode(pair.access_token, ACCESS_TYP)
        return body, {"jti": access["jti"], "exp": access["exp"], "fam": refresh["fam"]}
    bound = {"client_id": client_id}
    if user.generation is not None:
        bound[GENERATION_CLAIM] = user.generation
    if jti is not None:
        bound["jti"] = jti
    token, claims = ctx.service.access_token(user.username, scopes, extra=bound)
    body = {
        "access_token": token,
        "token_type": "bearer",
        "expires_in": ctx.settings.access_ttl,
        "scope": " ".join(scopes),
    }
    return body, {"jti": claims["jti"], "exp": claims["exp"]}
