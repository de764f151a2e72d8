"""The device authorization grant (RFC 8628): ``POST /device_authorization`` and the ``/device`` pages.

The device gets a ``device_code`` to poll ``/token`` with and shows a short
``user_code`` (``WDJB-MJHT``: 8 letters without vowels, RFC 8628 6.1); the
person opens ``/device`` (or ``verification_uri_complete``), enters the code,
logs in (or uses the login session) and presses Approve or Deny.
Wrong codes typed on the page count against a per-address throttle (RFC 8628 5.1).
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from oauthcli.server import login_page, throttle
from oauthcli.server.client_auth import ClientRequest, Policy, client_request
from oauthcli.server.context import ServerContext
from oauthcli.server.oauth import (
    NO_STORE,
    OAuthError,
    parse_scope,
    read_form,
    target_audience,
)
from oauthcli.server.provider import (
    DEVICE,
    DEVICE_AUTHORIZATION_PATH,
    DEVICE_GRANT,
    DEVICE_PATH,
    LOGIN_PATH,
    USER_CODE,
    active_user,
    check_client_grant,
    check_client_scopes,
    current_session,
    digest,
    enabled_client,
    has_consent,
    new_pending,
    new_token,
    on_decision,
    pending_of,
    remember_consent,
    user_scopes,
)
from oauthcli.store import User

CONFIRM_PATH = DEVICE_PATH + "/confirm"
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # RFC 8628 6.1: no vowels, no look-alikes
USER_CODE_LENGTH = 8
# Records outlive expires_in a little so a late poll is told expired_token, not invalid_grant.
EXPIRED_GRACE = 300
UNKNOWN_CODE = "That code is not valid or has expired. Check the code on your device."


def new_user_code() -> str:
    raw = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def normalize_user_code(typed: str) -> str | None:
    """``wdjb mjht``, ``WDJB-MJHT`` -> ``WDJB-MJHT``; ``None`` when it cannot be a code."""
    letters = re.sub(r"[\s-]", "", typed).upper()
    if len(letters) != USER_CODE_LENGTH or any(c not in USER_CODE_ALPHABET for c in letters):
        return None
    return f"{letters[:4]}-{letters[4:]}"


def remaining(record: dict[str, Any], now: float) -> float:
    return max(1.0, float(record["expires_at"]) + EXPIRED_GRACE - now)


async def device_authorization(
    request: Request, ctx: ServerContext, call: ClientRequest
) -> Response:
    """RFC 8628 3.1/3.2: the device and user codes for a client (public, or authenticated:
    RFC 8628 3.1 authenticates a confidential client as at the token endpoint)."""
    client = call.client
    assert client is not None  # Policy.CLIENT
    check_client_grant(client, DEVICE_GRANT)
    scopes = check_client_scopes(client, parse_scope(call.form.get("scope")))
    resources = target_audience(ctx.settings, call.form).resources  # RFC 8707
    body = await run_in_threadpool(_new_codes, request, ctx, client.client_id, scopes, resources)
    return JSONResponse(body, headers=NO_STORE)


def _new_codes(
    request: Request,
    ctx: ServerContext,
    client_id: str,
    scopes: list[str] | None,
    resources: list[str],
) -> dict[str, Any]:
    """Blocking (the server state): the device and user codes, recorded."""
    settings = ctx.provider
    now = settings.clock()
    device_code = new_token()
    user_code = new_user_code()
    for _ in range(5):  # a collision among live codes is rare; draw again if it happens
        if ctx.records.get(USER_CODE, user_code) is None:
            break
        user_code = new_user_code()
    record = {
        "client_id": client_id,
        "scopes": scopes,
        "resources": resources,
        "user_code": user_code,
        "status": "pending",
        "expires_at": now + settings.device_ttl,
        "interval": settings.device_interval,
        "last_poll": None,
    }
    key = digest(device_code)
    ctx.records.put(DEVICE, key, record, settings.device_ttl + EXPIRED_GRACE)
    ctx.records.put(USER_CODE, user_code, {"device": key}, settings.device_ttl)
    # Built as discovery's URLs are (ctx.public_base), never from the request's Host.
    verification_uri = ctx.public_base(request) + DEVICE_PATH
    body = {
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": verification_uri,
        "verification_uri_complete": f"{verification_uri}?user_code={user_code}",
        "expires_in": settings.device_ttl,
        "interval": settings.device_interval,
    }
    return body


def _entry(
    request: Request,
    ctx: ServerContext,
    user_code: str = "",
    error: str | None = None,
    status: int = 200,
) -> Response:
    pending_id, csrf = new_pending(ctx, {"kind": "device_entry"})
    return login_page.device_entry(
        action=DEVICE_PATH,
        hidden={"request": pending_id, "csrf": csrf},
        user_code=user_code,
        error=error,
        status=status,
    )


def _live_device(ctx: ServerContext, key: str) -> dict[str, Any] | None:
    record = ctx.records.get(DEVICE, key)
    if record is None or record.get("status") != "pending":
        return None
    if ctx.provider.clock() >= float(record["expires_at"]):
        return None
    return record


def confirm_page(
    request: Request, ctx: ServerContext, pending: dict[str, Any], user: User
) -> Response:
    """Approve or Deny, for the logged-in ``user`` (the device flow's consent page)."""
    confirm_id, csrf = new_pending(
        ctx,
        {
            "kind": "device_confirm",
            "device": pending["device"],
            "user_code": pending["user_code"],
            "client_id": pending.get("client_id"),
            "scopes": _granted(ctx, pending, user),
            "sub": user.username,
            "auth_time": int(pending.get("auth_time") or ctx.provider.clock()),
        },
    )
    return login_page.device_confirm(
        action=CONFIRM_PATH,
        hidden={"request": confirm_id, "csrf": csrf},
        client_id=str(pending.get("client_id", "")),
        user_code=str(pending["user_code"]),
        username=user.username,
        scopes=list(pending.get("scopes") or []),
    )


def _granted(ctx: ServerContext, pending: dict[str, Any], user: User) -> list[str]:
    client = enabled_client(ctx, str(pending.get("client_id")))
    requested = pending.get("scopes") or None
    return [] if client is None else user_scopes(user, client, requested)


async def enter_code(request: Request, ctx: ServerContext) -> Response:
    """A typed user code, throttled per address (RFC 8628 5.1: codes are guessable).

    A wrong code counts as a failure; a right one only releases its reservation and
    never clears the failures, or a guesser entering a code of their own in between
    would never be locked out.
    """
    try:
        form = await read_form(request)
    except OAuthError:
        return login_page.error_page(login_page.EXPIRED_FORM)
    pending = await run_in_threadpool(pending_of, request, ctx, form)
    if pending is None or pending.get("kind") != "device_entry":
        return login_page.error_page(login_page.EXPIRED_FORM)
    typed = form.fields.get("user_code", "")
    address = request.client.host if request.client else "-"
    try:
        async with ctx.throttle.attempt(throttle.key(throttle.USER_CODE, address)) as attempt:
            found = await run_in_threadpool(_device_of_code, ctx, typed)
            if found is None:
                attempt.failed()
                return await run_in_threadpool(_entry, request, ctx, typed, UNKNOWN_CODE, 400)
    except throttle.Throttled as exc:
        message = f"Too many wrong codes; try again in {exc.retry_after} s."
        response = await run_in_threadpool(_entry, request, ctx, typed, message, 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return await run_in_threadpool(_code_entered, request, ctx, *found)


def _device_of_code(ctx: ServerContext, typed: str) -> tuple[str, str, dict[str, Any]] | None:
    """Blocking: ``(user_code, device key, device record)`` of a live code, else ``None``."""
    user_code = normalize_user_code(typed)
    found = ctx.records.get(USER_CODE, user_code) if user_code else None
    record = _live_device(ctx, str(found["device"])) if found else None
    if user_code is None or found is None or record is None:
        return None
    return user_code, str(found["device"]), record


def _code_entered(
    request: Request, ctx: ServerContext, user_code: str, device_key: str, record: dict[str, Any]
) -> Response:
    """Blocking (the server state): confirm with the session's user, or log in first."""
    device_pending = {
        "kind": "device",
        "device": device_key,
        "user_code": user_code,
        "client_id": record["client_id"],
        "scopes": record.get("scopes") or [],
    }
    session = current_session(request, ctx)
    user = active_user(ctx.live.current(), str(session["sub"])) if session else None
    # A session skips the password only for a client and scopes the user allowed before
    # (the Approve button is a consent a replayed session cookie must not give).
    if (
        session is not None
        and user is not None
        and has_consent(
            ctx, user.username, str(record["client_id"]), _granted(ctx, device_pending, user)
        )
    ):
        device_pending["auth_time"] = session["auth_time"]
        return confirm_page(request, ctx, device_pending, user)
    pending_id, csrf = new_pending(ctx, device_pending)
    return login_page.login_form(
        action=LOGIN_PATH,
        hidden={"request": pending_id, "csrf": csrf},
        client_id=str(record["client_id"]),
        scopes=list(record.get("scopes") or []),
    )


async def confirm(request: Request, ctx: ServerContext) -> Response:
    """Approve or Deny: the device record learns the user (or the refusal); its poll ends."""
    return await on_decision(
        request, ctx, "device_confirm", ("approve", "deny"),
        lambda pending, decision: _confirmed_blocking(ctx, pending, decision),
    )  # fmt: skip


def _confirmed_blocking(ctx: ServerContext, pending: dict[str, Any], decision: str) -> Response:
    key = str(pending["device"])
    record = _live_device(ctx, key)
    if record is None:
        return login_page.error_page(UNKNOWN_CODE)
    approved = decision == "approve"
    if approved:
        remember_consent(
            ctx, str(pending["sub"]), str(record["client_id"]), list(pending.get("scopes") or [])
        )
    record["status"] = "approved" if approved else "denied"
    record["sub"] = pending["sub"]
    record["auth_time"] = pending["auth_time"]
    if not ctx.records.replace(DEVICE, key, record, remaining(record, ctx.provider.clock())):
        return login_page.error_page(UNKNOWN_CODE)
    ctx.records.delete(USER_CODE, str(pending["user_code"]))
    return login_page.device_done(approved)


def add_routes(router: APIRouter, ctx: ServerContext) -> None:
    # RFC 8628 3.1: a public client names itself, a confidential one authenticates.
    client_of = Depends(client_request(ctx, Policy.CLIENT))

    @router.post(DEVICE_AUTHORIZATION_PATH)
    async def device_authorization_endpoint(
        request: Request, call: ClientRequest = client_of
    ) -> Response:
        """Device authorization (RFC 8628 3.1): device_code, user_code, verification_uri."""
        return await device_authorization(request, ctx, call)

    @router.get(DEVICE_PATH, include_in_schema=False)
    async def device_page(request: Request, user_code: str = "") -> Response:
        return await run_in_threadpool(_entry, request, ctx, login_page.clean(user_code, 20))

    @router.post(DEVICE_PATH, include_in_schema=False)
    async def device_code_entered(request: Request) -> Response:
        return await enter_code(request, ctx)

    @router.post(CONFIRM_PATH, include_in_schema=False)
    async def device_decision(request: Request) -> Response:
        return await confirm(request, ctx)
