"""``GET/POST /authorize`` and the login form behind it (RFC 6749 4.1, RFC 7636, OIDC Core 3.1).

- ``response_type=code`` only; PKCE ``S256`` is required from public clients and
  checked when a confidential client sends it (``plain`` is refused).
- ``redirect_uri`` must equal a registered URI, except that ``http://127.0.0.1``
  and ``http://[::1]`` redirects match on any port (RFC 8252 7.3). A bad
  ``client_id`` or ``redirect_uri`` gets an error page, never a redirect
  (RFC 6749 4.1.2.1); every other error goes back to the client with ``state``.
- Every answer to the client carries ``iss`` (RFC 9207), against mix-up attacks.
- A login session cookie skips the form until ``--session-ttl`` runs out, but only
  for a client and scopes the user consented to before: the first time (and for
  ``offline_access`` or ``prompt=consent`` every time) the password is asked again and
  a consent page follows, so a session cookie that reached another local server
  grants nothing new (``provider.session_cookie``). ``prompt=login`` (or a ``max_age``
  shorter than the session) asks again; ``prompt=none`` answers ``login_required``
  without a session and ``consent_required`` without consent (OIDC Core 3.1.2.6).
  ``serve --no-consent`` (CI) skips the consent page and trusts every client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from oauthcli.errors import AuthenticationError, Reason
from oauthcli.issuer import IssuerSettings
from oauthcli.jose import is_s256_challenge
from oauthcli.server import device, login_page, logout, oidc, throttle
from oauthcli.server.context import ServerContext
from oauthcli.server.oauth import (
    MAX_FIELD_BYTES,
    REPEATABLE,
    OAuthError,
    parse_scope,
    read_form,
)
from oauthcli.server.provider import (
    AUTHORIZE_PATH,
    CODE,
    CODE_USED,
    CONSENT_PATH,
    LOGIN_PATH,
    PENDING,
    PUSHED,
    REQUEST_URI_PREFIX,
    USERINFO_PATH,
    active_user,
    check_client_grant,
    check_client_scopes,
    current_session,
    digest,
    enabled_client,
    has_consent,
    issuer_of,
    new_pending,
    new_token,
    on_decision,
    pending_of,
    redirect_matches,
    remember_consent,
    start_session,
    user_scopes,
    with_query,
)
from oauthcli.store import StoreData, User

log = logging.getLogger("oauthcli.server")

_PROMPTS = {"none", "login", "consent", "select_account"}


@dataclass
class AuthRequest:
    """A validated authorization request, kept in a pending record while the person logs in."""

    client_id: str
    redirect_uri: str
    redirect_given: bool  # RFC 6749 4.1.3: then /token must repeat it
    scopes: list[str] | None
    state: str | None
    nonce: str | None
    code_challenge: str | None
    prompt: list[str]
    max_age: int | None = None  # OIDC Core 3.1.2.1: seconds since the last password entry
    # RFC 8707: the resources asked for (IssuerSettings.audience_for), kept with the code
    resources: list[str] = field(default_factory=list)
    dpop_jkt: str | None = None  # RFC 9449 10: the code is redeemed only with this key's proof


class PageError(Exception):
    """Shown to the person: the client or redirect URI cannot be trusted with a redirect."""


class RedirectError(Exception):
    """An RFC 6749 4.1.2.1 error for the client's redirect URI."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error, self.description = error, description


class ToClient(RedirectError):
    """A ``RedirectError`` with the request whose redirect URI (and state) it goes to."""

    def __init__(self, request: AuthRequest, error: str, description: str) -> None:
        super().__init__(error, description)
        self.request = request


async def _params(request: Request) -> tuple[dict[str, str], set[str], list[str]]:
    """The request's parameters, those given more than once, and its ``resource`` values."""
    if request.method == "POST":
        try:
            form = await read_form(request)
        except OAuthError as exc:
            raise PageError(
                f"The authorization request could not be read: {exc.description}."
            ) from None
        return dict(form.fields), set(), form.get_all("resource")
    params: dict[str, str] = {}
    repeated: set[str] = set()
    resources: list[str] = []
    for name, value in request.query_params.multi_items():
        if name in REPEATABLE:
            if value:  # as read_form does: an empty resource is none
                resources.append(value)
            continue
        if name in params:
            repeated.add(name)
        params[name] = value
    return params, repeated, resources


def validate(
    params: dict[str, str],
    repeated: set[str],
    ctx: ServerContext,
    resources: Sequence[str] = (),
) -> AuthRequest:
    """The checks of RFC 6749 4.1.1/4.1.2.1 in their order: client and redirect URI first.

    ``resources`` (RFC 8707) go through ``ctx.settings.audience_for``: an unknown one is
    ``invalid_target`` at the redirect URI (RFC 8707 2)."""
    for name in ("client_id", "redirect_uri"):
        if name in repeated:
            raise PageError(f"The parameter {name} was given more than once.")
    client_id = params.get("client_id") or None
    client = enabled_client(ctx, client_id)
    if client_id is None:
        raise PageError("The request has no client_id.")
    if client is None:
        raise PageError(f"Unknown or disabled client {client_id!r}.")
    if not client.redirect_uris:
        raise PageError(f"Client {client_id!r} has no redirect URI registered.")
    given = params.get("redirect_uri") or None
    if given is None:
        # RFC 6749 3.1.2.3: optional only when exactly one URI is registered.
        if len(client.redirect_uris) != 1:
            raise PageError("The request has no redirect_uri, and the client has several.")
        redirect_uri = client.redirect_uris[0]
    elif len(given) <= 2000 and redirect_matches(given, client.redirect_uris):
        redirect_uri = given
    else:
        raise PageError(f"The redirect_uri is not registered for client {client_id!r}.")
    request = AuthRequest(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        redirect_given=given is not None,
        scopes=None,
        state=params.get("state") or None,
        nonce=None,
        code_challenge=None,
        prompt=[],
    )
    # From here on, errors go back to the client (with state, once state is known good).
    if request.state is not None and len(request.state.encode()) > MAX_FIELD_BYTES:
        request.state = None
        raise ToClient(request, "invalid_request", "state is too long")
    try:
        _check_params(request, params, repeated, client)
        request.resources = _check_resources(resources, ctx.settings)
    except RedirectError as exc:
        raise ToClient(request, exc.error, exc.description) from None
    return request


def _check_resources(resources: Sequence[str], settings: IssuerSettings) -> list[str]:
    if not resources:
        return []
    if len(resources) > 16 or any(len(r.encode()) > MAX_FIELD_BYTES for r in resources):
        raise RedirectError("invalid_request", "too many or too long resource parameters")
    try:
        return settings.audience_for(resources).resources
    except AuthenticationError as exc:
        raise RedirectError("invalid_target", str(exc)) from None


def _check_params(
    request: AuthRequest, params: dict[str, str], repeated: set[str], client: Any
) -> None:
    if repeated:
        raise RedirectError(
            "invalid_request", f"parameter {sorted(repeated)[0]} given more than once"
        )
    for name, value in params.items():
        if len(value.encode("utf-8")) > MAX_FIELD_BYTES:
            raise RedirectError("invalid_request", f"parameter {name} is too long")
    response_type = params.get("response_type")
    if not response_type:
        raise RedirectError("invalid_request", "response_type is required")
    if response_type != "code":
        raise RedirectError("unsupported_response_type", "only response_type=code is supported")
    try:
        check_client_grant(client, "authorization_code")
    except OAuthError as exc:
        raise RedirectError(exc.error, exc.description) from None
    prompt = [p for p in params.get("prompt", "").split(" ") if p]
    if any(p not in _PROMPTS for p in prompt) or ("none" in prompt and len(prompt) > 1):
        raise RedirectError(
            "invalid_request", "prompt must be none, login, consent or select_account"
        )
    request.prompt = prompt
    challenge = params.get("code_challenge") or None
    method = params.get("code_challenge_method") or None
    if challenge is None:
        if method is not None:
            raise RedirectError("invalid_request", "code_challenge_method without code_challenge")
        if client.public:
            raise RedirectError(
                "invalid_request",
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            )
    else:
        # RFC 7636 4.3: a missing method means plain, which this server does not accept.
        if method != "S256":
            raise RedirectError("invalid_request", "code_challenge_method must be S256")
        if not is_s256_challenge(challenge):
            raise RedirectError("invalid_request", "code_challenge is not a base64url SHA-256 hash")
        request.code_challenge = challenge
    try:
        request.scopes = check_client_scopes(client, parse_scope(params.get("scope")))
    except OAuthError as exc:
        raise RedirectError(exc.error, exc.description) from None
    request.nonce = params.get("nonce") or None
    dpop_jkt = params.get("dpop_jkt") or None
    if dpop_jkt is not None and not is_s256_challenge(dpop_jkt):
        # RFC 9449 10: a JWK SHA-256 thumbprint, 43 base64url characters like an S256 hash.
        raise RedirectError("invalid_request", "dpop_jkt is not a JWK SHA-256 thumbprint")
    request.dpop_jkt = dpop_jkt
    max_age = params.get("max_age")
    if max_age:
        if not max_age.isdigit() or len(max_age) > 10:
            raise RedirectError("invalid_request", "max_age must be a number of seconds")
        request.max_age = int(max_age)


def _to_client(
    ctx: ServerContext, http: Request, request: AuthRequest, params: Mapping[str, str | None]
) -> str:
    return with_query(
        request.redirect_uri,
        {**params, "state": request.state, "iss": issuer_of(ctx, http)},
    )


def _redirect(location: str, post: bool) -> RedirectResponse:
    # 303 after a POST so the browser follows with a GET.
    response = RedirectResponse(location, status_code=303 if post else 302)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def issue_code(ctx: ServerContext, request: AuthRequest, sub: str, auth_time: int) -> str:
    """A single-use code (RFC 6749 4.1.2), bound to client, redirect URI and PKCE challenge."""
    from oauthcli.tokens import new_jti

    code = new_token()
    key = digest(code)
    # What its redemption will issue, recorded before the code exists: a replay at any
    # moment revokes it (RFC 6749 4.1.2; grants.authorization_code._redeemed marks it used).
    lifetime = ctx.provider.code_ttl + ctx.settings.access_ttl
    grant = {"jti": new_jti(), "exp": int(ctx.service.clock()) + lifetime}
    ctx.records.put(CODE_USED, key, grant, lifetime)
    record = {"sub": sub, "auth_time": auth_time, **asdict(request), **grant}
    ctx.records.put(CODE, key, record, ctx.provider.code_ttl)
    return code


def _login_form(
    ctx: ServerContext,
    pending: dict[str, Any],
    *,
    pending_id: str | None = None,
    csrf: str | None = None,
    username: str = "",
    error: str | None = None,
    status: int = 200,
) -> Response:
    if pending_id is None or csrf is None:
        pending_id, csrf = new_pending(ctx, pending)
    return login_page.login_form(
        action=LOGIN_PATH,
        hidden={"request": pending_id, "csrf": csrf},
        client_id=str(pending.get("client_id", "")),
        scopes=list(pending.get("scopes") or []),
        username=username,
        error=error,
        status=status,
    )


def _granted(ctx: ServerContext, request: AuthRequest, user: User) -> list[str] | None:
    """The scopes a code for ``user`` would carry; ``None`` when the client is gone."""
    client = enabled_client(ctx, request.client_id)
    return None if client is None else user_scopes(user, client, request.scopes)


def _consented(ctx: ServerContext, request: AuthRequest, user: User) -> bool:
    """Whether a code may be issued without the consent page."""
    if not ctx.provider.consent:
        return True
    granted = _granted(ctx, request, user)
    return (
        granted is not None
        and "consent" not in request.prompt
        and has_consent(ctx, user.username, request.client_id, granted)
    )


def _consent_page(ctx: ServerContext, request: AuthRequest, user: User, auth_time: int) -> Response:
    scopes = _granted(ctx, request, user) or []
    pending_id, csrf = new_pending(
        ctx,
        {
            "kind": "consent",
            "auth": asdict(request),
            "sub": user.username,
            "auth_time": auth_time,
            "client_id": request.client_id,
            "scopes": scopes,
        },
    )
    return login_page.consent_form(
        action=CONSENT_PATH,
        hidden={"request": pending_id, "csrf": csrf},
        client_id=request.client_id,
        username=user.username,
        scopes=scopes,
    )


def pushed_request(ctx: ServerContext, params: dict[str, str], repeated: set[str]) -> AuthRequest:
    """Blocking (the server state): the request pushed to ``/par`` that ``request_uri`` names,
    taken once (RFC 9126 4). Every other parameter but ``client_id`` is ignored: the pushed
    ones were validated and are the request; a reference that is unknown, used, expired or
    another client's gets the error page (there is no trusted redirect URI to send it to)."""
    for name in ("client_id", "request_uri"):
        if name in repeated:
            raise PageError(f"The parameter {name} was given more than once.")
    client_id = params.get("client_id") or None
    if client_id is None:
        raise PageError("The request has no client_id.")
    if enabled_client(ctx, client_id) is None:
        raise PageError(f"Unknown or disabled client {client_id!r}.")
    uri = params.get("request_uri", "")
    record = None
    if uri.startswith(REQUEST_URI_PREFIX) and len(uri) <= 200:
        record = ctx.records.take(PUSHED, digest(uri.removeprefix(REQUEST_URI_PREFIX)))
    if (
        record is None
        or float(record.get("exp", 0)) <= ctx.provider.clock()
        or record["request"].get("client_id") != client_id
    ):
        raise PageError(
            "The request_uri is unknown, expired or already used (invalid_request_uri): "
            "push the authorization request again."
        )
    return AuthRequest(**record["request"])


def requires_par(ctx: ServerContext, client_id: str) -> bool:
    """``serve --require-par``, or the client's ``require_pushed_authorization_requests``."""
    client = ctx.find_client(client_id)
    return ctx.provider.require_par or bool(
        client is not None and client.require_pushed_authorization_requests
    )


def _request_of(
    ctx: ServerContext, params: dict[str, str], repeated: set[str], resources: list[str]
) -> AuthRequest:
    """Blocking (the server state): the request pushed earlier (``request_uri``), or the one
    in the parameters, refused when its client must push (RFC 9126 5, 6)."""
    if "request_uri" in params:
        return pushed_request(ctx, params, repeated)
    request = validate(params, repeated, ctx, resources)
    if requires_par(ctx, request.client_id):
        raise ToClient(
            request,
            "invalid_request",
            "this client must push its authorization request to the "
            "pushed_authorization_request_endpoint (RFC 9126)",
        )
    return request


async def authorize(http: Request, ctx: ServerContext) -> Response:
    post = http.method == "POST"
    try:
        params, repeated, resources = await _params(http)
        # The client may be a registered one, in the server state: off the event loop.
        request = await run_in_threadpool(_request_of, ctx, params, repeated, resources)
    except PageError as exc:
        return login_page.error_page(str(exc))
    except ToClient as exc:
        error = {"error": exc.error, "error_description": exc.description}
        return _redirect(_to_client(ctx, http, exc.request, error), post)
    # The records live in the server state (SQLite or Redis): off the event loop.
    return await run_in_threadpool(_authorize_blocking, http, ctx, request, post)


def _auto_logged_in(
    http: Request, ctx: ServerContext, request: AuthRequest, post: bool
) -> Response | None:
    """Blocking: ``serve --control``'s ``auto_login``: the code for its user, a session
    started as a password login would, no page at all; ``None`` when none is queued (or
    its user is gone or disabled since)."""
    name = ctx.auto_login() if ctx.auto_login is not None else None
    user = active_user(ctx.live.current(), name) if name else None
    if user is None:
        return None
    log.warning("control: auto_login completed /authorize as %s", user.username)
    response = _redirect("", post)
    auth_time = start_session(ctx, response, http, user)
    code = issue_code(ctx, request, user.username, auth_time)
    response.headers["location"] = _to_client(ctx, http, request, {"code": code})
    return response


def _authorize_blocking(
    http: Request, ctx: ServerContext, request: AuthRequest, post: bool
) -> Response:
    automatic = _auto_logged_in(http, ctx, request, post)
    if automatic is not None:
        return automatic
    session = current_session(http, ctx)
    if (
        session is not None
        and request.max_age is not None
        and ctx.provider.clock() - int(session["auth_time"]) > request.max_age
    ):
        session = None  # logged in too long ago: ask for the password again
    user = active_user(ctx.live.current(), str(session["sub"])) if session else None
    if session is not None and user is not None and "login" not in request.prompt:
        if _consented(ctx, request, user):
            code = issue_code(ctx, request, user.username, int(session["auth_time"]))
            return _redirect(_to_client(ctx, http, request, {"code": code}), post)
        if "none" in request.prompt:
            error = {
                "error": "consent_required",
                "error_description": "the user has not allowed this client these scopes",
            }
            return _redirect(_to_client(ctx, http, request, error), post)
        # A session alone grants nothing new: the password, then the consent page.
    elif "none" in request.prompt:
        error = {"error": "login_required", "error_description": "the user is not logged in"}
        return _redirect(_to_client(ctx, http, request, error), post)
    pending = {
        "kind": "authorize",
        "auth": asdict(request),
        "client_id": request.client_id,
        "scopes": request.scopes or [],
    }
    return _login_form(ctx, pending)


def _check_password(
    ctx: ServerContext, data: StoreData, username: str, password: str, oversized: bool
) -> User:
    """Blocking (bcrypt): the user, or ``AuthenticationError`` as the password grant raises it."""
    from oauthcli.login import INCORRECT, authenticate
    from oauthcli.passwords import dummy_verify

    rounds = ctx.rounds(data)
    if oversized:
        dummy_verify(rounds, hashes=[u.hashed_password for u in data.users.values()])
        raise AuthenticationError(INCORRECT)
    user, _ = authenticate(data.users, username, password, rounds)
    return user


async def login(http: Request, ctx: ServerContext) -> Response:
    """The form's POST: bcrypt against the store, throttled per username as ``/token`` is.

    Everything that touches the server state or bcrypt runs in the thread pool."""
    try:
        form = await read_form(http)
    except OAuthError:
        return login_page.error_page(login_page.EXPIRED_FORM)
    pending = await run_in_threadpool(pending_of, http, ctx, form)
    if pending is None:
        return login_page.error_page(login_page.EXPIRED_FORM)
    pending_id = pending.pop("id")
    if pending.get("kind") not in ("authorize", "device"):  # another page's form
        return login_page.error_page(login_page.EXPIRED_FORM)
    username = form.fields.get("username", "")
    password = form.fields.get("password", "")

    def again(error: str, status: int) -> Response:
        return _login_form(
            ctx, pending, pending_id=pending_id, csrf=pending["csrf"],
            username=username, error=error, status=status,
        )  # fmt: skip

    if not username or not password:
        return await run_in_threadpool(again, "Enter your username and password.", 400)
    data = ctx.live.current()
    try:
        async with ctx.throttle.attempt(throttle.key(throttle.USER, username)) as attempt:
            try:
                user = await run_in_threadpool(
                    _check_password, ctx, data, username, password, form.oversized
                )
            except AuthenticationError as exc:
                if exc.reason == Reason.INACTIVE:
                    attempt.succeeded()  # the password was right
                    return await run_in_threadpool(again, login_page.DISABLED, 403)
                attempt.failed()
                return await run_in_threadpool(again, login_page.INCORRECT, 400)
            attempt.succeeded()
    except throttle.Throttled as exc:
        response = await run_in_threadpool(
            again, f"Too many failed attempts; try again in {exc.retry_after} s.", 429
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return await run_in_threadpool(_logged_in, http, ctx, pending, pending_id, user)


def _logged_in(
    http: Request, ctx: ServerContext, pending: dict[str, Any], pending_id: str, user: User
) -> Response:
    """Blocking (the server state): end the form, start the session, continue the flow."""
    if ctx.records.take(PENDING, digest(pending_id)) is None:
        return login_page.error_page(login_page.EXPIRED_FORM)  # submitted twice
    if pending.get("kind") == "device":
        response = device.confirm_page(http, ctx, pending, user)
        start_session(ctx, response, http, user)
        return response
    request = AuthRequest(**pending["auth"])
    response = _redirect("", post=True)
    auth_time = start_session(ctx, response, http, user)
    if not _consented(ctx, request, user):
        page = _consent_page(ctx, request, user, auth_time)
        page.raw_headers += [h for h in response.raw_headers if h[0] == b"set-cookie"]
        return page
    code = issue_code(ctx, request, user.username, auth_time)
    response.headers["location"] = _to_client(ctx, http, request, {"code": code})
    return response


async def consent(http: Request, ctx: ServerContext) -> Response:
    """The consent page's POST: Allow remembers the consent and sends the code; Deny sends
    ``access_denied`` (RFC 6749 4.1.2.1)."""
    return await on_decision(
        http, ctx, "consent", ("approve", "deny"),
        lambda pending, decision: _consented_blocking(http, ctx, pending, decision),
    )  # fmt: skip


def _consented_blocking(
    http: Request, ctx: ServerContext, pending: dict[str, Any], decision: str
) -> Response:
    request = AuthRequest(**pending["auth"])
    sub = str(pending["sub"])
    if decision == "deny":
        error = {"error": "access_denied", "error_description": "the user denied the request"}
        return _redirect(_to_client(ctx, http, request, error), post=True)
    user = active_user(ctx.live.current(), sub)
    if user is None:
        return login_page.error_page(login_page.DISABLED, 403)
    remember_consent(ctx, sub, request.client_id, list(pending.get("scopes") or []))
    code = issue_code(ctx, request, sub, int(pending["auth_time"]))
    return _redirect(_to_client(ctx, http, request, {"code": code}), post=True)


def build_router(ctx: ServerContext) -> APIRouter:
    router = APIRouter(tags=["openid"])

    @router.get(AUTHORIZE_PATH)
    @router.post(AUTHORIZE_PATH)
    async def authorization_endpoint(request: Request) -> Response:
        """Authorization endpoint (RFC 6749 4.1, PKCE S256, OpenID Connect); shows the login form."""
        return await authorize(request, ctx)

    @router.post(LOGIN_PATH, include_in_schema=False)
    async def login_form_post(request: Request) -> Response:
        return await login(request, ctx)

    @router.post(CONSENT_PATH, include_in_schema=False)
    async def consent_form_post(request: Request) -> Response:
        return await consent(request, ctx)

    @router.get(USERINFO_PATH)
    @router.post(USERINFO_PATH)
    async def userinfo_endpoint(request: Request) -> Response:
        """OpenID Connect UserInfo: the claims the access token's scopes allow."""
        return await oidc.userinfo(request, ctx)

    device.add_routes(router, ctx)
    logout.add_routes(router, ctx)
    return router


def install(app: FastAPI, ctx: ServerContext) -> None:
    """Add the browser, device and OpenID Connect endpoints to the token server."""
    app.include_router(build_router(ctx))
    oidc.add_swagger_code_flow(app, ctx)
