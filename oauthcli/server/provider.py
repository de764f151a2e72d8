"""What the browser and device flows share: settings, clients, scopes, redirect URIs, sessions.

The helpers that read or write ``ctx.records`` block (the server state may be
SQLite or Redis): the async handlers call them through the thread pool.

Every piece of short-lived state (authorization codes, device codes, login
sessions, pending logins with their CSRF tokens) goes through ``ctx.records``
(``oauthcli.state.contract.Records``), never a dict of this module, so a shared
backend makes every worker see it. Record keys of codes are SHA-256 digests:
a backend's dump never holds a redeemable code. Remembered consent is a record
too, kept through ``oauthcli.state.contract.grant_consent``/``has_consent`` (``--consent-ttl``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import Response

from oauthcli.claims import OPENID_SCOPES
from oauthcli.errors import UsageError
from oauthcli.server.context import ServerContext
from oauthcli.server.oauth import OAuthError
from oauthcli.server.provider_settings import ProviderSettings
from oauthcli.state import contract as consent
from oauthcli.store import Client, StoreData, User, validate_redirect_uri

AUTHORIZE_PATH = "/authorize"
LOGIN_PATH = "/login"
CONSENT_PATH = "/authorize/consent"
DEVICE_AUTHORIZATION_PATH = "/device_authorization"
DEVICE_PATH = "/device"
USERINFO_PATH = "/userinfo"
LOGOUT_PATH = "/logout"  # RP-initiated logout (oauthcli.server.logout)
LOGOUT_CONFIRM_PATH = "/logout/confirm"
PAR_PATH = "/par"
REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"  # RFC 9126 2.2
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

OIDC_SCOPES = OPENID_SCOPES  # open to every client and user

# Record kinds in ctx.records.
CODE = "authz_code"
CODE_USED = "authz_code_used"
DEVICE = "device_code"
USER_CODE = "device_user_code"
SESSION = "login_session"
PENDING = "login_pending"
PUSHED = "par_request"

SESSION_COOKIE = "oauthcli_session"  # a prefix: see session_cookie
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32,64}")
PENDING_TTL = 15 * 60  # a login form may stay open this long

__all__ = ["ProviderSettings"]


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def issuer_of(ctx: ServerContext, request: Request) -> str:
    """The ``iss`` of ID tokens and RFC 9207 responses (discovery's ``issuer``)."""
    return ctx.issuer or base_url(request)


# --- clients and redirect URIs ---------------------------------------------------------


def _loopback(host: str | None) -> bool:
    # RFC 8252 7.3 and 8.3: the loopback IP literals, not "localhost" (which may resolve
    # elsewhere), so not urls.is_loopback_host.
    return host in ("127.0.0.1", "::1")


def redirect_matches(given: str, registered: list[str]) -> bool:
    """Exact string match, except loopback IP redirects match on any port (RFC 8252 7.3).

    ``given`` passes the rule registration applies (``store.validate_redirect_uri``: e.g.
    no ``#fragment``, RFC 6749 3.1.2) before it is compared."""
    try:
        validate_redirect_uri(given)
        g = urlsplit(given)
        g.port  # noqa: B018 - raises ValueError for a bad port
    except (UsageError, ValueError):
        return False
    if given in registered:
        return True
    if g.scheme != "http" or not _loopback(g.hostname) or g.username or g.password:
        return False
    for uri in registered:
        r = urlsplit(uri)
        if (
            r.scheme == "http"
            and r.hostname == g.hostname
            and not (r.username or r.password)
            and r.path == g.path
            and r.query == g.query
        ):
            return True
    return False


def with_query(uri: str, params: Mapping[str, str | None]) -> str:
    """``uri`` with ``params`` added to its query (RFC 6749 3.1.2: the existing query is kept)."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def enabled_client(ctx: ServerContext, client_id: str | None) -> Client | None:
    client = ctx.find_client(client_id)
    return None if client is None or client.disabled else client


def check_client_grant(client: Client, grant_type: str) -> None:
    """``unauthorized_client`` (RFC 6749 4.1.2.1, 5.2) for a grant a registered client did not
    register (RFC 7591 2 ``grant_types``); a store client may use every grant."""
    if not client.may_use(grant_type):
        raise OAuthError(
            "unauthorized_client",
            f"this client is not registered for the {grant_type} grant (grant_types)",
        )


# --- scopes --------------------------------------------------------------------------------


def client_scopes(client: Client) -> set[str]:
    """Every scope a client may hold: its own, and the OpenID scopes (open to all). The one
    rule of ``/authorize``, the device flow and the password grant."""
    return {*client.scopes, *OIDC_SCOPES}


def check_client_scopes(client: Client, requested: list[str] | None) -> list[str] | None:
    """``invalid_scope`` for a scope the client may never have (OpenID scopes are open to all)."""
    if requested is None:
        return None
    allowed = client_scopes(client)
    refused = [s for s in requested if s not in allowed]
    if refused:
        raise OAuthError("invalid_scope", f"Scope not allowed for this client: {' '.join(refused)}")
    return requested


def user_scopes(user: User, client: Client, requested: list[str] | None) -> list[str]:
    """What a browser or device login grants: the requested scopes the user holds (RFC 6749
    3.3 lets the server grant fewer; the token response says which), or, when none were asked
    for, every API scope that both the client and the user have."""
    if requested is None:
        return [s for s in client.scopes if s in user.scopes]
    return [s for s in requested if s in OIDC_SCOPES or (s in user.scopes and s in client.scopes)]


# --- login sessions, consent and form tokens ---------------------------------------------------

# Cookies do not isolate ports (RFC 6265 8.5): every server on 127.0.0.1 may receive a
# cookie of this one, and may set one for it. So the session cookie goes only to the paths
# whose pages read it (a client's redirect URI never receives it), its name is bound to the
# issuer (two providers on two ports keep two sessions), and a session alone never grants
# anything new: a client or scopes without remembered consent, or offline_access, need
# the password typed again and the consent page (``needs_password``).
SESSION_PATHS = (AUTHORIZE_PATH, DEVICE_PATH, LOGOUT_PATH)


def session_cookie(ctx: ServerContext, request: Request) -> tuple[str, tuple[str, ...]]:
    """The session cookie's name and paths here: ``__Host-`` over HTTPS (Secure, Path=/: no
    page over plain HTTP, on any port, can set or overwrite it), else scoped by path."""
    tag = hashlib.sha256(issuer_of(ctx, request).encode("utf-8")).hexdigest()[:12]
    name = f"{SESSION_COOKIE}_{tag}"
    if request.url.scheme == "https":
        return f"__Host-{name}", ("/",)
    return name, SESSION_PATHS


def active_user(data: StoreData, sub: str | None) -> User | None:
    user = data.users.get(sub) if sub else None
    return None if user is None or user.disabled else user


def current_session(request: Request, ctx: ServerContext) -> dict[str, Any] | None:
    """The browser's login session (``sub``, ``auth_time``) if it is live and its user active."""
    sid = request.cookies.get(session_cookie(ctx, request)[0])
    if not sid or not _TOKEN_SHAPE.fullmatch(sid):
        return None
    session = ctx.records.get(SESSION, digest(sid))
    user = active_user(ctx.live.current(), session.get("sub")) if session else None
    # A new password (or a disable/enable) renews the account's generation: the session ends.
    if session is None or user is None or session.get("gen") != user.generation:
        return None
    return session


def start_session(ctx: ServerContext, response: Response, request: Request, user: User) -> int:
    """A new login session cookie (HttpOnly, SameSite=Lax) for ``--session-ttl``; its auth_time."""
    auth_time = int(ctx.provider.clock())
    sid = new_token()
    ttl = ctx.provider.session_ttl
    record = {"sub": user.username, "auth_time": auth_time, "gen": user.generation}
    ctx.records.put(SESSION, digest(sid), record, ttl)
    name, paths = session_cookie(ctx, request)
    for path in paths:
        response.set_cookie(
            name,
            sid,
            max_age=ttl,
            path=path,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return auth_time


def end_session(ctx: ServerContext, request: Request, response: Response) -> str | None:
    """Blocking: forget the browser's login session (its record and its cookie on every
    path); the username it was, or ``None`` when there was none."""
    name, paths = session_cookie(ctx, request)
    sid = request.cookies.get(name)
    ended = None
    if sid and _TOKEN_SHAPE.fullmatch(sid):
        record = ctx.records.take(SESSION, digest(sid))
        ended = str(record["sub"]) if record and record.get("sub") else None
    for path in paths:
        response.delete_cookie(
            name, path=path, httponly=True, samesite="lax", secure=request.url.scheme == "https"
        )
    return ended


def has_consent(ctx: ServerContext, sub: str, client_id: str, scopes: list[str]) -> bool:
    """Whether ``sub`` may be issued ``scopes`` for ``client_id`` without being asked.

    ``offline_access`` never is (OIDC Core 11: a refresh token needs the user's explicit
    consent in the request itself); ``serve --no-consent`` trusts every client."""
    if not ctx.provider.consent:
        return True
    if "offline_access" in scopes:
        return False
    return consent.has_consent(ctx.records, sub, client_id, scopes)


def remember_consent(ctx: ServerContext, sub: str, client_id: str, scopes: list[str]) -> None:
    """Add ``scopes`` (less ``offline_access``, asked for every time) to the user's consent."""
    remembered = [s for s in scopes if s != "offline_access"]
    consent.grant_consent(ctx.records, sub, client_id, remembered, ctx.provider.consent_ttl)


def new_pending(ctx: ServerContext, record: dict[str, Any]) -> tuple[str, str]:
    """Store a pending form; ``(id, csrf)``, both hidden fields of the page.

    The CSRF token is a synchronizer token kept in the record, never in a cookie (another
    port could set that cookie: RFC 6265 8.5)."""
    pending_id, csrf = new_token(), new_token()
    ctx.records.put(PENDING, digest(pending_id), {**record, "csrf": csrf}, PENDING_TTL)
    return pending_id, csrf


def same_origin(request: Request) -> bool:
    """Whether a form POST came from this server's own page, as the browser tells it.

    A page on another port of 127.0.0.1 can post a form its author got from us (login
    CSRF): the tokens in it are good, only the browser's ``Sec-Fetch-Site``/``Origin``
    tell. A client that sends neither is no browser, so no victim of a forged form."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


def pending_of(request: Request, ctx: ServerContext, form: Any) -> dict[str, Any] | None:
    """The pending form a POST continues: its id is live, its token is the one the record
    holds, and the browser posted it from one of our pages."""
    pending_id = form.get("request")
    token = form.get("csrf")
    if not pending_id or not token or len(pending_id) > 128 or not same_origin(request):
        return None
    record = ctx.records.get(PENDING, digest(pending_id))
    if record is None or not secrets.compare_digest(token, str(record.get("csrf", ""))):
        return None
    record["id"] = pending_id
    return record


def take_decision(
    request: Request, ctx: ServerContext, form: Any, kind: str, decisions: tuple[str, ...]
) -> tuple[dict[str, Any], str] | None:
    """Blocking (the server state): the pending form of ``kind`` a POST decides and its
    ``decision``, one of ``decisions``; the form is taken once, so a second submission,
    even a concurrent one, gets ``None`` as an expired or forged form does."""
    pending = pending_of(request, ctx, form)
    decision = form.get("decision")
    if pending is None or pending.get("kind") != kind or decision not in decisions:
        return None
    if ctx.records.take(PENDING, digest(str(pending["id"]))) is None:
        return None  # submitted twice
    return pending, decision


async def on_decision(
    request: Request,
    ctx: ServerContext,
    kind: str,
    decisions: tuple[str, ...],
    act: Callable[[dict[str, Any], str], Response],
) -> Response:
    """A page's POSTed decision (consent, device confirmation, logout): the form read, its
    pending form taken once (``take_decision``), then ``act(pending, decision)``, the
    blocking part in the thread pool; a form that is unreadable, expired, forged or sent
    twice gets the expired-form page."""
    from starlette.concurrency import run_in_threadpool

    from oauthcli.server import login_page
    from oauthcli.server.oauth import read_form

    try:
        form = await read_form(request)
    except OAuthError:
        return login_page.error_page(login_page.EXPIRED_FORM)

    def blocking() -> Response:
        decided = take_decision(request, ctx, form, kind, decisions)
        if decided is None:
            return login_page.error_page(login_page.EXPIRED_FORM)
        return act(*decided)

    return await run_in_threadpool(blocking)
