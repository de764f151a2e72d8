"""What the browser and device flows share: settings, clients, scopes, redirect URIs, sessions.

The helpers that read or write ``ctx.records`` block (the server state may be
SQLite or Redis): the async handlers call them through the thread pool.

Every piece of short-lived state (authorization codes, device codes, login
sessions, pending logins with their CSRF tokens) goes through ``ctx.records``
(``oauthcli.server.records.Records``), never a dict of this module, so a shared
backend makes every worker see it. Record keys of codes are SHA-256 digests:
a backend's dump never holds a redeemable code.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import Response

from oauthcli.claims import OPENID_SCOPES
from oauthcli.server.context import ServerContext
from oauthcli.server.oauth import OAuthError
from oauthcli.server.provider_settings import ProviderSettings
from oauthcli.store import Client, StoreData, User

AUTHORIZE_PATH = "/authorize"
LOGIN_PATH = "/login"
DEVICE_AUTHORIZATION_PATH = "/device_authorization"
DEVICE_PATH = "/device"
USERINFO_PATH = "/userinfo"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

OIDC_SCOPES = OPENID_SCOPES  # open to every client and user

# Record kinds in ctx.records.
CODE = "authz_code"
CODE_USED = "authz_code_used"
DEVICE = "device_code"
USER_CODE = "device_user_code"
SESSION = "login_session"
PENDING = "login_pending"

SESSION_COOKIE = "oauthcli_session"
CSRF_COOKIE = "oauthcli_csrf"
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
    """Exact string match, except loopback IP redirects match on any port (RFC 8252 7.3)."""
    if given in registered:
        return True
    try:
        g = urlsplit(given)
        g.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return False
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


def enabled_client(data: StoreData, client_id: str | None) -> Client | None:
    client = data.clients.get(client_id) if client_id else None
    return None if client is None or client.disabled else client


# --- scopes --------------------------------------------------------------------------------


def check_client_scopes(client: Client, requested: list[str] | None) -> list[str] | None:
    """``invalid_scope`` for a scope the client may never have (OpenID scopes are open to all)."""
    if requested is None:
        return None
    refused = [s for s in requested if s not in OIDC_SCOPES and s not in client.scopes]
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


# --- login sessions and CSRF tokens ----------------------------------------------------------


def active_user(data: StoreData, sub: str | None) -> User | None:
    user = data.users.get(sub) if sub else None
    return None if user is None or user.disabled else user


def current_session(request: Request, ctx: ServerContext) -> dict[str, Any] | None:
    """The browser's login session (``sub``, ``auth_time``) if it is live and its user active."""
    sid = request.cookies.get(SESSION_COOKIE)
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
    old = request.cookies.get(SESSION_COOKIE)
    if old and _TOKEN_SHAPE.fullmatch(old):
        ctx.records.delete(SESSION, digest(old))
    response.set_cookie(
        SESSION_COOKIE,
        sid,
        max_age=ttl,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return auth_time


def csrf_token(request: Request) -> tuple[str, bool]:
    """The browser's CSRF token (double-submit cookie), and whether the cookie must be set."""
    value = request.cookies.get(CSRF_COOKIE)
    if value and _TOKEN_SHAPE.fullmatch(value):
        return value, False
    return new_token(), True


def set_csrf_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        value,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def new_pending(
    ctx: ServerContext, request: Request, record: dict[str, Any]
) -> tuple[str, str, bool]:
    """Store a pending form (its id is a hidden field); ``(id, csrf, set_cookie)``."""
    csrf, set_cookie = csrf_token(request)
    pending_id = new_token()
    ctx.records.put(PENDING, digest(pending_id), {**record, "csrf": csrf}, PENDING_TTL)
    return pending_id, csrf, set_cookie


def pending_of(request: Request, ctx: ServerContext, form: Any) -> dict[str, Any] | None:
    """The pending form a POST continues, if its id is live and the CSRF token matches both the
    form field and this browser's cookie (a login CSRF needs the victim's cookie)."""
    pending_id = form.get("request")
    token = form.get("csrf")
    cookie = request.cookies.get(CSRF_COOKIE)
    if not pending_id or not token or not cookie or len(pending_id) > 128:
        return None
    record = ctx.records.get(PENDING, digest(pending_id))
    if record is None:
        return None
    expected = str(record.get("csrf", ""))
    if not (secrets.compare_digest(token, expected) and secrets.compare_digest(cookie, expected)):
        return None
    record["id"] = pending_id
    return record
