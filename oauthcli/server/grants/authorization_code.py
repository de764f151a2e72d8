"""The authorization_code grant (RFC 6749 4.1.3, RFC 7636 4.6): codes from ``/authorize``.

A code is redeemed once (``records.take``); its redemption marker (``CODE_USED``), written
when the code is issued and naming the access token's ``jti``, is marked used before any
token is minted, so a replay at any moment revokes what the code issued (RFC 6749 4.1.2).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from oauthcli.jose import s256_matches
from oauthcli.server.client_auth import Policy
from oauthcli.server.context import ServerContext
from oauthcli.server.dpop_check import bound_jkt
from oauthcli.server.grants.base import Grant, invalid_grant, log, required
from oauthcli.server.grants.issue import issue_tokens, revoke_issued
from oauthcli.server.oauth import Form, invalid_request, target_audience
from oauthcli.server.provider import CODE, CODE_USED, digest
from oauthcli.store import Client
from oauthcli.tokens import new_jti


async def handle(
    request: Request, ctx: ServerContext, form: Form, client: Client | None
) -> dict[str, Any]:
    """RFC 6749 4.1.3 and RFC 7636 4.6: redeem a code once, for its client, with PKCE."""
    client = required(client)
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
            await run_in_threadpool(revoke_issued, ctx, used)
        raise invalid_grant("authorization code is invalid, expired or already used")
    _check_redemption(record, client, form, bound_jkt(request))
    # RFC 8707 2.2: resource at /token narrows what /authorize granted, never widens it.
    aud = target_audience(ctx.settings, form, list(record.get("resources") or []))
    marker = await run_in_threadpool(_redeemed, ctx, key, record)
    body, issued = await issue_tokens(
        request, ctx, client, record["sub"], record["scopes"], record["auth_time"],
        record.get("nonce"), marker["jti"], aud,
    )  # fmt: skip
    if issued.get("fam"):
        marker["fam"] = issued["fam"]
        kept = await run_in_threadpool(
            ctx.records.replace, CODE_USED, key, marker, ctx.settings.refresh_ttl
        )
        if not kept:  # replayed while the tokens were minted: the replay revoked the jti
            await run_in_threadpool(revoke_issued, ctx, marker)
            raise invalid_grant("authorization code was used twice")
    return body


def _check_redemption(record: dict[str, Any], client: Client, form: Form, jkt: str | None) -> None:
    """RFC 6749 4.1.3 and RFC 7636 4.6: the code's client, redirect URI and PKCE verifier;
    RFC 9449 10: the DPoP key named by ``dpop_jkt`` at /authorize."""
    if record["client_id"] != client.client_id:
        raise invalid_grant("authorization code was issued to another client")
    if record.get("dpop_jkt") is not None and record["dpop_jkt"] != jkt:
        raise invalid_grant("authorization code is bound to another DPoP key (dpop_jkt)")
    redirect_uri = form.get("redirect_uri")
    if (record["redirect_given"] or redirect_uri is not None) and redirect_uri != record[
        "redirect_uri"
    ]:
        raise invalid_grant("redirect_uri does not match the authorization request")
    verifier = form.get("code_verifier")
    challenge = record.get("code_challenge")
    if challenge is not None:
        if verifier is None:
            raise invalid_grant("code_verifier is required (PKCE)")
        if not s256_matches(verifier, challenge):
            raise invalid_grant("code_verifier does not match the code_challenge")
    elif verifier is not None:
        # RFC 9700 2.1.1: a verifier without a challenge is a PKCE downgrade attempt.
        raise invalid_grant("code_verifier given but the authorization request had no PKCE")


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
        revoke_issued(ctx, marker)
        raise invalid_grant("authorization code was used twice")
    return marker


GRANT = Grant("authorization_code", Policy.CLIENT, handle)
