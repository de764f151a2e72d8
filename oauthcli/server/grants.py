"""``POST /token`` (password, refresh_token, client_credentials), ``/revoke`` and ``/introspect``.

Everything that blocks (bcrypt, the server state: sessions, revocations and
the throttle's bookkeeping) runs in the thread pool, so the event loop keeps
serving ``/users/me`` while passwords are checked, and bcrypt uses every core.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from oauthcli.claims import scopes_of
from oauthcli.errors import AuthenticationError, TokenError
from oauthcli.login import INCORRECT, grant_scopes, password_login
from oauthcli.server import code_grants, throttle
from oauthcli.server.client_auth import ClientRequest, Policy
from oauthcli.server.context import ServerContext, is_client_token
from oauthcli.server.oauth import (
    NO_STORE,
    Form,
    OAuthError,
    invalid_client,
    invalid_request,
    parse_scope,
)
from oauthcli.server.provider import client_scopes
from oauthcli.store import Client, StoreData
from oauthcli.tokens import ACCESS_TYP, REFRESH_TYP, TokenPair

log = logging.getLogger("oauthcli.server")

GRANT_TYPES = ("password", "refresh_token", "client_credentials", *code_grants.GRANT_TYPES)


def oauth_error(exc: AuthenticationError) -> OAuthError:
    """RFC 6749 section 5.2 error for a refused login, chosen by the error's ``reason``."""
    if exc.reason == "invalid_client":
        return invalid_client()
    error = "invalid_scope" if exc.reason == "invalid_scope" else "invalid_grant"
    # "incorrect username or password" -> the tutorial's "Incorrect username or password"
    return OAuthError(error, str(exc).capitalize())


def grant_type_of(form: Form) -> str:
    """The request's grant; ``invalid_request``/``unsupported_grant_type`` when there is none."""
    grant_type = form.get("grant_type")
    if grant_type is None:
        # OAuth2PasswordRequestForm makes grant_type optional: the tutorial's own
        # tests (and clients copied from them) post just username and password.
        if form.get("username") is None:
            raise invalid_request("missing grant_type")
        return "password"
    if grant_type not in GRANT_TYPES:
        raise OAuthError(
            "unsupported_grant_type", f"grant_type must be one of {', '.join(GRANT_TYPES)}"
        )
    return grant_type


def client_policy(form: Form) -> Policy:
    """Who may use the request's grant (the token endpoint's client authentication)."""
    grant_type = grant_type_of(form)
    if grant_type == "client_credentials":
        return Policy.CONFIDENTIAL
    if grant_type in code_grants.GRANT_TYPES:
        return Policy.CLIENT
    return Policy.OPTIONAL


async def token_endpoint(request: Request, ctx: ServerContext, call: ClientRequest) -> Response:
    form, client = call.form, call.client
    grant_type = grant_type_of(form)
    if grant_type == "password":
        pair = await _password(ctx, form, client)
    elif grant_type == "refresh_token":
        pair = await _refresh(ctx, form, client)
    elif grant_type == "client_credentials":
        assert client is not None  # Policy.CONFIDENTIAL
        pair = _client_credentials(ctx, form, client)
    else:
        assert client is not None  # Policy.CLIENT
        return await code_grants.token_response(request, ctx, form, grant_type, client)
    return JSONResponse(pair.as_response(), headers=NO_STORE)


async def _password(ctx: ServerContext, form: Form, client: Client | None) -> TokenPair:
    username, password = form.get("username"), form.get("password")
    if username is None or password is None:
        raise invalid_request("the password grant needs username and password")
    requested = parse_scope(form.get("scope"))
    data = ctx.live.current()
    try:
        async with ctx.throttle.attempt(throttle.key(throttle.USER, username)) as attempt:
            try:
                pair = await run_in_threadpool(
                    _password_blocking, ctx, data, client, username, password, form, requested
                )
            except AuthenticationError as exc:
                if exc.reason == "invalid_grant":
                    attempt.failed()
                elif exc.reason == "invalid_scope":
                    attempt.succeeded()  # the password was right
                raise oauth_error(exc) from None
            attempt.succeeded()
            return pair
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
    )
    if result.upgrade_error is not None:
        log.warning("could not upgrade the password hash of %s: %s", username, result.upgrade_error)
    return result.pair


async def _refresh(ctx: ServerContext, form: Form, client: Client | None) -> TokenPair:
    token = form.get("refresh_token")
    if token is None:
        raise invalid_request("the refresh_token grant needs refresh_token")
    if form.oversized:
        raise OAuthError("invalid_grant", "refresh token is not valid")
    data = ctx.live.current()
    return await run_in_threadpool(_refresh_blocking, ctx, data, client, token, form)


def _refresh_blocking(
    ctx: ServerContext,
    data: StoreData,
    client: Client | None,
    token: str,
    form: Form,
) -> TokenPair:
    requested = parse_scope(form.get("scope"))
    try:
        return ctx.service.refresh(
            token, data.users.get, requested, client.client_id if client else None
        )
    except TokenError as exc:
        raise OAuthError("invalid_grant", str(exc).capitalize()) from None
    except AuthenticationError as exc:
        raise oauth_error(exc) from None


def _client_credentials(ctx: ServerContext, form: Form, client: Client) -> TokenPair:
    requested = parse_scope(form.get("scope"))
    try:
        scopes = grant_scopes(client.scopes, requested)
    except AuthenticationError as exc:
        raise oauth_error(exc) from None
    access, _ = ctx.service.access_token(
        client.client_id, scopes, extra={"client_id": client.client_id}
    )
    return TokenPair(access, ctx.settings.access_ttl, " ".join(scopes))


async def revoke_endpoint(ctx: ServerContext, call: ClientRequest) -> Response:
    """RFC 7009: 200 whether or not the token was known; client auth optional but checked."""
    token = call.form.get("token")
    if token is None:
        raise invalid_request("missing token")
    await run_in_threadpool(_revoke_blocking, ctx, call.client, token, call.form)
    return Response(status_code=200, headers=NO_STORE)


def _order(hint: str | None) -> tuple[str, str]:
    return (REFRESH_TYP, ACCESS_TYP) if hint == "refresh_token" else (ACCESS_TYP, REFRESH_TYP)


def _revoke_blocking(ctx: ServerContext, client: Client | None, token: str, form: Form) -> None:
    if form.oversized:
        return
    for typ in _order(form.get("token_type_hint")):
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
    for typ in _order(form.get("token_type_hint")):
        try:
            if typ == ACCESS_TYP:
                claims = ctx.active_access_claims(token, data)
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
    for name in ("sub", "exp", "iat", "nbf", "iss", "aud", "jti"):
        if claims.get(name) is not None:
            body[name] = claims[name]
    return body
