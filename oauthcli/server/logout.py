"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): ``GET``/``POST /logout``.

- ``id_token_hint``: an ID token this server issued, checked with its own key (signature,
  ``iss``, ``typ: JWT`` so an access or refresh token is no hint); an expired one is still
  a hint (section 2: the OP SHOULD accept it "even when the exp time has passed").
- ``client_id``: with a hint it must be the hint's ``aud`` (section 2).
- ``post_logout_redirect_uri``: followed only when it exactly matches one of the client's
  registered ``post_logout_redirect_uris`` and the client is known from the hint or
  ``client_id`` (sections 2 and 3); ``state`` goes back with it (section 3).
  Anything else is an error page, never a redirect (section 4).
- ``logout_hint`` and ``ui_locales`` are accepted and ignored (the page is in English).

With a hint naming the browser's session user (or no session at all) the session ends at
once; otherwise (no hint, or another user's) a confirmation page asks (section 2: the OP
SHOULD ask the End-User), CSRF-protected like the login and consent pages: a pending
record holds its synchronizer token, and the browser must post it from our own page.
Ending a session forgets its record and its cookie: a later ``prompt=none`` answers
``login_required``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from oauthcli.server import login_page
from oauthcli.server.context import ServerContext
from oauthcli.server.oauth import MAX_FIELD_BYTES, MAX_TOKEN_BYTES, OAuthError, read_form
from oauthcli.server.provider import (
    LOGOUT_CONFIRM_PATH,
    LOGOUT_PATH,
    current_session,
    end_session,
    issuer_of,
    new_pending,
    on_decision,
    with_query,
)


class _Refused(Exception):
    """Shown on the error page: the request cannot be trusted with a redirect."""


def _hint_claims(ctx: ServerContext, http: Request, hint: str) -> dict[str, Any]:
    """The claims of an ID token this server issued, checked as ``oauthcli verify`` checks
    (``TokenService.verifier``; its issuer is the one this request reaches); expired is fine
    (section 2)."""
    from oauthcli.errors import OAuthCliError, Reason
    from oauthcli.verify.verifier import check_issuer, check_required_claims

    try:
        # The key that signed it: the current one, or one rotate_keys keeps published.
        claims = ctx.verifier_for(hint).verifier("JWT", expired_ok=True).verify(hint).payload
        check_required_claims(claims, ("iss", "aud"))
        check_issuer(claims, issuer_of(ctx, http))
    except OAuthCliError as exc:
        if getattr(exc, "reason", None) == Reason.TYPE:
            raise _Refused("The id_token_hint is not an ID token.") from None
        raise _Refused("The id_token_hint is not an ID token this server issued.") from None
    if not isinstance(claims["aud"], str):
        raise _Refused("The id_token_hint is not an ID token this server issued.")
    return claims


def _checked(
    ctx: ServerContext, http: Request, params: dict[str, str]
) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """``(hint claims, redirect URI, state)`` of a logout request, or ``_Refused``."""
    for name, value in params.items():
        limit = MAX_TOKEN_BYTES if name == "id_token_hint" else MAX_FIELD_BYTES
        if len(value.encode("utf-8")) > limit:
            raise _Refused(f"The parameter {name[:40]} is too long.")
    hint = params.get("id_token_hint") or None
    claims = _hint_claims(ctx, http, hint) if hint else None
    client_id = params.get("client_id") or None
    if claims is not None and client_id is not None and client_id != claims["aud"]:
        raise _Refused("The client_id is not the audience of the id_token_hint.")
    client_id = client_id or (claims["aud"] if claims else None)
    client = ctx.find_client(client_id)
    if client_id is not None and client is None:
        raise _Refused("Unknown client.")
    redirect = params.get("post_logout_redirect_uri") or None
    if redirect is not None:
        if client is None:
            raise _Refused("A post_logout_redirect_uri needs an id_token_hint or a client_id.")
        if redirect not in client.post_logout_redirect_uris:  # exact match (section 3)
            raise _Refused("The post_logout_redirect_uri is not registered for this client.")
    return claims, redirect, params.get("state") or None


def _signed_out(
    ctx: ServerContext, http: Request, redirect: str | None, state: str | None
) -> Response:
    """Blocking: end the session; back to the client (with ``state``) or a page saying so."""
    response: Response
    if redirect is not None:
        # 303 after a POST so the browser follows with a GET.
        status = 303 if http.method == "POST" else 302
        response = RedirectResponse(with_query(redirect, {"state": state}), status_code=status)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
    else:
        response = login_page.signed_out()
    end_session(ctx, http, response)
    return response


def _logout_blocking(ctx: ServerContext, http: Request, params: dict[str, str]) -> Response:
    try:
        claims, redirect, state = _checked(ctx, http, params)
    except _Refused as exc:
        return login_page.error_page(str(exc))
    session = current_session(http, ctx)
    if claims is not None and (session is None or session.get("sub") == claims["sub"]):
        return _signed_out(ctx, http, redirect, state)
    pending_id, csrf = new_pending(ctx, {"kind": "logout", "redirect": redirect, "state": state})
    return login_page.logout_form(
        action=LOGOUT_CONFIRM_PATH,
        hidden={"request": pending_id, "csrf": csrf},
        username=str(session["sub"]) if session else None,
    )


async def logout(http: Request, ctx: ServerContext) -> Response:
    """The end_session_endpoint: GET query or POST form (section 2: the OP supports both)."""
    if http.method == "POST":
        try:
            params = dict((await read_form(http)).fields)
        except OAuthError as exc:
            return login_page.error_page(
                f"The logout request could not be read: {exc.description}."
            )
    else:
        params = {}
        for name, value in http.query_params.multi_items():
            if name in params:
                return login_page.error_page(f"The parameter {name[:40]} was given more than once.")
            params[name] = value
    return await run_in_threadpool(_logout_blocking, ctx, http, params)


def _confirmed_blocking(
    ctx: ServerContext, http: Request, pending: dict[str, Any], decision: str
) -> Response:
    if decision == "stay":
        return login_page.still_signed_in()
    return _signed_out(ctx, http, pending.get("redirect"), pending.get("state"))


async def confirm(http: Request, ctx: ServerContext) -> Response:
    """The confirmation page's POST: Sign out, or Stay signed in."""
    return await on_decision(
        http, ctx, "logout", ("logout", "stay"),
        lambda pending, decision: _confirmed_blocking(ctx, http, pending, decision),
    )  # fmt: skip


def add_routes(router: APIRouter, ctx: ServerContext) -> None:
    @router.get(LOGOUT_PATH)
    @router.post(LOGOUT_PATH)
    async def end_session_endpoint(request: Request) -> Response:
        """OpenID Connect RP-Initiated Logout 1.0: end the provider's login session."""
        return await logout(request, ctx)

    @router.post(LOGOUT_CONFIRM_PATH, include_in_schema=False)
    async def logout_confirm(request: Request) -> Response:
        return await confirm(request, ctx)
