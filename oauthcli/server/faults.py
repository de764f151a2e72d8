"""Faults on demand (``serve --control``): queued per endpoint, taken atomically, answered.

A fault is a small JSON object in the control document's ``faults`` list: the
``endpoint``, what to do (``error``, ``status``, ``retry_after``, ``delay``, ``body``,
``drop``, ``token_kind``), for how many requests (``times``; 0: until cleared), and
optionally only for one ``client`` or ``user``. The first queued fault that matches a
request is taken (its count lowered in the same atomic update, so two workers never
spend one fault twice) and answers that request:

- ``error``: an OAuth error answer with the status its endpoint's RFC gives it: at the
  token, device, revocation and introspection endpoints RFC 6749 5.2 (400;
  ``invalid_client`` 401 with ``WWW-Authenticate``), ``temporarily_unavailable`` 503
  and ``server_error`` 500 as a server says them at any endpoint (RFC 6749 4.1.2.1
  names both); at ``/userinfo`` and ``/users/me`` RFC 6750 3.1 (``invalid_token`` 401,
  ``insufficient_scope`` 403, in ``WWW-Authenticate``); at ``/authorize`` a redirect to
  the client's registered redirect URI (RFC 6749 4.1.2.1, with ``state`` and ``iss``);
- ``status`` alone: that status with a plain-text body (a proxy's 502, a 503);
- ``body``: that body as ``text/html`` (what a captive portal or a proxy's error page
  gives an app that expects JSON);
- ``delay``: wait first (alone: then answer normally);
- ``drop``: the answer's head, then the connection closes (a truncated answer);
- ``token_kind``: answer normally, with the issued access token replaced by one wrong
  in that way (``badtokens``).

``retry_after`` adds ``Retry-After`` to the fault's answer.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from oauthcli.errors import UsageError
from oauthcli.server.context import ServerContext
from oauthcli.server.oauth import CLIENT_REALM, NO_STORE
from oauthcli.server.requestlog import Answer, Request, unverified_claims
from oauthcli.state.contract import ControlBackend

ACTIONS = ("error", "status", "body", "delay", "drop", "token_kind")
BEARER_ENDPOINTS = ("userinfo", "users_me")
MAX_DELAY = 600.0


class DropConnection(Exception):
    """Raised after the answer's head is sent: uvicorn then closes the connection."""


def new_fault(params: dict[str, Any]) -> dict[str, Any]:
    """A fault from ``fail_next``'s checked parameters (``UsageError`` for a contradiction)."""
    fault = {k: v for k, v in params.items() if v is not None and v is not False}
    if not any(name in fault for name in ACTIONS):
        raise UsageError(f"fail_next needs one of {', '.join(ACTIONS)}")
    status = fault.get("status")
    if status is not None and not 100 <= status <= 599:
        raise UsageError("fail_next: status must be an HTTP status (100 to 599)")
    if not 0 <= fault.get("delay", 0) <= MAX_DELAY:
        raise UsageError(f"fail_next: delay must be from 0 to {MAX_DELAY:.0f} seconds")
    if fault.get("retry_after", 0) < 0:
        raise UsageError("fail_next: retry_after must not be negative")
    if "token_kind" in fault and fault["endpoint"] != "token":
        raise UsageError("fail_next: token_kind applies to the token endpoint only")
    answers = [name for name in ("error", "body", "drop", "token_kind") if name in fault]
    if len(answers) > 1:
        raise UsageError(f"fail_next: {' and '.join(answers)} cannot be combined")
    times = fault.setdefault("times", 1)
    if times < 0:
        raise UsageError("fail_next: times must be 1 or more (0: until cleared)")
    return fault


def _matches(fault: dict[str, Any], endpoint: str, client: str | None, user: str | None) -> bool:
    return (
        fault.get("endpoint") == endpoint
        and fault.get("client") in (None, client)
        and fault.get("user") in (None, user)
    )


def take(
    backend: ControlBackend, endpoint: str, client: str | None, user: str | None
) -> dict[str, Any] | None:
    """The first queued fault for this request, spent once (blocking: the state)."""

    def spend(doc: dict[str, Any]) -> dict[str, Any] | None:
        queued = doc.get("faults", [])
        for index, fault in enumerate(queued):
            if _matches(fault, endpoint, client, user):
                times = int(fault.get("times", 1))
                if times == 1:
                    del queued[index]
                elif times > 1:
                    fault["times"] = times - 1
                return dict(fault)
        return None

    return backend.control_update(spend)


def summary(fault: dict[str, Any]) -> dict[str, Any]:
    """What the request log says of the fault that answered a request."""
    return {k: v for k, v in fault.items() if k in ("id", *ACTIONS, "retry_after")}


async def apply(
    fault: dict[str, Any],
    ctx: ServerContext,
    scope: Any,
    receive: Any,
    send: Any,
    answer: Answer,
    app: Any,
    request: Request,
    disconnected: Any = None,
) -> None:
    """Answer the request as ``fault`` says (``answer`` watches what is sent).

    ``disconnected``: awaits the client leaving (``None`` when it cannot be told)."""
    watched = answer.watch(send)
    delay = float(fault.get("delay", 0))
    if delay and await _client_left_within(delay, disconnected):
        answer.abandoned = True  # nobody to answer: the delay ends with the connection
        return
    extra = {}
    if "retry_after" in fault:
        extra["Retry-After"] = str(int(fault["retry_after"]))
    if fault.get("drop"):
        head = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
        await watched({"type": "http.response.start", "status": 200, "headers": head})
        raise DropConnection
    response: Response | None = None
    if "error" in fault:
        response = _error_answer(fault, ctx, scope, request, extra)
    elif "body" in fault:
        response = Response(
            fault["body"], status_code=fault.get("status", 200), media_type="text/html",
            headers=extra,
        )  # fmt: skip
    elif "status" in fault:
        status = int(fault["status"])
        response = PlainTextResponse(_phrase(status), status_code=status, headers=extra)
    if response is not None:
        await response(scope, receive, watched)
        return
    if "token_kind" in fault:
        await _bad_token_answer(fault, ctx, scope, receive, watched, app)
        return
    await app(scope, receive, watched)  # a delay alone


async def _client_left_within(seconds: float, disconnected: Any) -> bool:
    """Wait ``seconds``, or less if the client leaves (then ``True``)."""
    if disconnected is None:
        await asyncio.sleep(seconds)
        return False
    watcher = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait_for(asyncio.shield(watcher), seconds)
    except TimeoutError:
        return False
    finally:
        watcher.cancel()
    return True


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _error_answer(
    fault: dict[str, Any],
    ctx: ServerContext,
    scope: Any,
    request: Request,
    extra: dict[str, str],
) -> Response:
    from oauthcli.server.bearer import challenge, header_safe

    error = str(fault["error"])
    description = str(
        fault.get("description") or f"{error} (a fault queued through the control API)"
    )
    endpoint = request.endpoint
    if endpoint in BEARER_ENDPOINTS:
        status = fault.get("status") or {"invalid_token": 401, "insufficient_scope": 403}.get(
            error, 400
        )
        headers = {"WWW-Authenticate": challenge([], error, header_safe(description)), **extra}
        return JSONResponse(
            {"error": error, "error_description": description, "detail": description},
            status_code=status,
            headers={**headers, "Cache-Control": "no-store"},
        )
    if endpoint == "authorize":
        redirect = _authorize_redirect(ctx, scope, request, error, description)
        if redirect is not None:
            return redirect
    status = fault.get("status") or _status_of(error)
    headers = dict(extra)
    if error == "invalid_client" and status == 401:
        headers["WWW-Authenticate"] = CLIENT_REALM  # RFC 6749 5.2
    if status == 503:
        headers.setdefault("Retry-After", "1")
    return JSONResponse(
        {"error": error, "error_description": description, "detail": description},
        status_code=status,
        headers={**NO_STORE, **headers},
    )


def _status_of(error: str) -> int:
    """RFC 6749 5.2: 400, but 401 for invalid_client; a server's own trouble as HTTP says it."""
    return {"invalid_client": 401, "temporarily_unavailable": 503, "server_error": 500}.get(
        error, 400
    )


def _authorize_redirect(
    ctx: ServerContext, scope: Any, request: Request, error: str, description: str
) -> Response | None:
    """RFC 6749 4.1.2.1: the error goes to the client's redirect URI, but only once the
    client and that URI are known good (else ``None``: the error is answered here)."""
    from oauthcli.server.authorize import AuthRequest, PageError, RedirectError, validate
    from oauthcli.server.provider import issuer_of, with_query

    checked: AuthRequest | None
    try:
        checked = validate(dict(request.params), set(), ctx)
    except RedirectError as exc:
        checked = getattr(exc, "request", None)
    except PageError:
        return None
    if checked is None:
        return None
    location = with_query(
        checked.redirect_uri,
        {
            "error": error,
            "error_description": description,
            "state": checked.state,
            "iss": issuer_of(ctx, StarletteRequest(scope)),
        },
    )
    return RedirectResponse(location, status_code=303 if request.method == "POST" else 302)


async def _bad_token_answer(
    fault: dict[str, Any], ctx: ServerContext, scope: Any, receive: Any, send: Any, app: Any
) -> None:
    """The real answer, its access token swapped for a bad one of ``token_kind``."""
    import json

    from oauthcli.server.badtokens import bad_token

    held = Answer()

    async def hold(message: Any) -> None:
        if message["type"] == "http.response.start":
            held.status, held.headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            held.body.extend(message.get("body", b""))

    await app(scope, receive, hold)
    document = held.document() if held.status == 200 else {}
    claims = unverified_claims(document.get("access_token"))
    if claims:
        document["access_token"] = bad_token(
            ctx.key, claims, fault["token_kind"], ctx.service.clock(), fault.get("claim")
        )
        body = json.dumps(document).encode()
    else:
        body = bytes(held.body)
    headers = [(k, v) for k, v in held.headers if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": held.status or 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})
