"""The password grant (RFC 6749 4.3), as FastAPI's ``OAuth2PasswordRequestForm`` posts it.

Anyone may use it (``Policy.OPTIONAL``); with an authenticated or named client the tokens
are issued to it and hold only scopes it may hold (``provider.client_scopes``).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from oauthcli.errors import AuthenticationError, Reason
from oauthcli.issuer import Audience
from oauthcli.login import INCORRECT, password_login
from oauthcli.server import throttle
from oauthcli.server.client_auth import Policy
from oauthcli.server.context import ServerContext
from oauthcli.server.dpop_check import bound_jkt
from oauthcli.server.grants.base import Grant, log, oauth_error
from oauthcli.server.oauth import (
    Form,
    OAuthError,
    invalid_request,
    parse_scope,
    target_audience,
)
from oauthcli.server.provider import client_scopes
from oauthcli.store import Client, StoreData
from oauthcli.tokens import TokenPair


async def handle(
    request: Request, ctx: ServerContext, form: Form, client: Client | None
) -> dict[str, Any]:
    """RFC 6749 4.3.2: the user's password, throttled per username (``throttle.USER``)."""
    username, password = form.get("username"), form.get("password")
    if username is None or password is None:
        raise invalid_request("the password grant needs username and password")
    requested = parse_scope(form.get("scope"))
    aud = target_audience(ctx.settings, form)  # before the password: no bcrypt for a bad one
    data = ctx.live.current()
    try:
        async with ctx.throttle.attempt(throttle.key(throttle.USER, username)) as attempt:
            try:
                pair = await run_in_threadpool(
                    _password_blocking, ctx, data, client, username, password, form, requested,
                    aud, bound_jkt(request),
                )  # fmt: skip
            except AuthenticationError as exc:
                if exc.reason == Reason.INVALID_GRANT:
                    attempt.failed()
                elif exc.reason == Reason.INVALID_SCOPE:
                    attempt.succeeded()  # the password was right
                raise oauth_error(exc) from None
            attempt.succeeded()
            return pair.as_response()
    except throttle.Throttled as exc:
        # RFC 6749 5.2: the resource owner's credentials are refused (not RFC 8628's
        # slow_down, a device client's cue to keep polling); 429 + Retry-After say when.
        raise OAuthError(
            "invalid_grant", str(exc), 429, {"Retry-After": str(exc.retry_after)}
        ) from None


def _password_blocking(
    ctx: ServerContext,
    data: StoreData,
    client: Client | None,
    username: str,
    password: str,
    form: Form,
    requested: list[str] | None,
    aud: Audience,
    jkt: str | None,
) -> TokenPair:
    from oauthcli.passwords import dummy_verify

    rounds = ctx.rounds(data)
    if form.oversized:
        # Refused without reaching bcrypt, yet as slow as a real check.
        dummy_verify(rounds, [u.hashed_password for u in data.users.values()])
        raise AuthenticationError(INCORRECT)
    result = password_login(
        ctx.live.store,
        data,
        ctx.service,
        username,
        password,
        requested,
        rounds,
        client.client_id if client else None,
        client_scopes(client) if client else None,
        aud,
        jkt=jkt,
        # RFC 9449 5: a public client's refresh token is bound to its key too.
        bind_refresh=client is None or client.public,
    )
    if result.upgrade_error is not None:
        log.warning("could not upgrade the password hash of %s: %s", username, result.upgrade_error)
    return result.pair


GRANT = Grant("password", Policy.OPTIONAL, handle)
