"""``create_app(store, settings) -> FastAPI``: the tutorial's token server, backed by the store.

Usable from a test suite without any server::

    app = create_app(UserStore("users.toml"), settings_for_store(path, data.issuer))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test")

Routes: ``POST /token``, ``GET /users/me`` (scope ``me``), ``POST /revoke``,
``POST /introspect``, ``GET /.well-known/openid-configuration`` and
``/.well-known/oauth-authorization-server``, ``GET /.well-known/jwks.json``,
and ``/docs`` (Swagger UI from an installed package) with the password flow wired
to ``/token``. Each concern is a router in its own module; this one builds the
shared context, includes the routers and states the discovery metadata.
``app.state.get_current_user`` is the reusable dependency for your own routes:
``Security(app.state.get_current_user, scopes=["items"])``.
"""

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordBearer

from oauthcli import __version__
from oauthcli.dpop import ALGORITHMS as DPOP_ALGORITHMS
from oauthcli.errors import ConfigError, OAuthCliError, StateUnavailable
from oauthcli.issuer import IssuerSettings
from oauthcli.keys import SigningKey
from oauthcli.server import (
    authorize,
    bearer,
    client_auth,
    discovery,
    docs,
    endpoints,
    grants,
    oidc,
    par,
    registration,
    resource_metadata,
    users_me,
)
from oauthcli.server.accesslog import AccessLogMiddleware
from oauthcli.server.context import ServerContext
from oauthcli.server.oauth import NO_STORE, OAuthError
from oauthcli.server.provider import PAR_PATH
from oauthcli.server.provider_settings import ProviderSettings
from oauthcli.server.state import LiveStore
from oauthcli.server.throttle import LoginThrottle
from oauthcli.sessions import SessionStore
from oauthcli.state.contract import Records, State
from oauthcli.state.denylist import Denylist
from oauthcli.store import UserStore

if TYPE_CHECKING:
    from oauthcli.server.control import ControlOptions

log = logging.getLogger("oauthcli.server")
AUTH_METHODS = list(client_auth.AUTH_METHODS)


def create_app(
    store: UserStore,
    settings: IssuerSettings,
    *,
    key: SigningKey | None = None,
    sessions: SessionStore | None = None,
    issuer_url: str | None = None,
    throttle: LoginThrottle | None = None,
    denylist: Denylist | None = None,
    trust_forwarded: bool = False,
    records: Records | None = None,
    provider: ProviderSettings | None = None,
    state: State | None = None,
    control: "ControlOptions | None" = None,
) -> FastAPI:
    """Build the token server. Loads the store and the signing key now (errors raise here).

    ``issuer_url`` is the server's own base URL (``serve`` passes the bound address):
    the ``iss`` of issued tokens when the store's ``[issuer]`` names none, and the
    base of the URLs that discovery advertises. ``trust_forwarded`` (``serve
    --forwarded-allow-ips``) lets a trusted proxy's request (its ``Host`` and
    ``X-Forwarded-Proto``) set that base instead; otherwise request headers never do.
    ``state`` is the backend of everything that is not the user store (refresh
    sessions, revocations, throttling, records); default: ``<store>.state.db``.
    ``control`` (``serve --control``) mounts the control API under ``/_oauthcli/`` and
    makes its clock the provider's: a ``state`` or ``throttle`` passed in must use the
    same clock (``control.clock``).
    """
    provider = provider if provider is not None else ProviderSettings()
    if control is not None:
        provider = dataclasses.replace(provider, clock=control.clock)
    if state is None:
        from oauthcli.state.sqlite import SqliteState

        state = SqliteState.for_store(store.path, clock=provider.clock)
    api = resource_metadata.own_resource(settings.issuer, issuer_url)
    if api is not None and api not in settings.resources:
        # RFC 9728/8707: the API's own identifier is a resource clients may ask tokens for
        settings = dataclasses.replace(settings, resources=(*settings.resources, api))
    ctx = _context(
        store, settings, key, state, sessions, issuer_url, throttle, denylist, records, provider
    )
    ctx.server_url, ctx.trust_forwarded = issuer_url, trust_forwarded
    ctx.api_resource = api
    app = FastAPI(
        title="oauthcli token server",
        version=__version__,
        description=(
            "OAuth2 password, refresh_token and client_credentials grants over the "
            f"oauthcli user store `{store.path.name}`. Use **Authorize** to log in."
        ),
        docs_url=None,  # served by docs.install from local assets
        redoc_url=None,
        # The provider's requests are in its own access log and request log. FastAPI's
        # native OpenTelemetry (0.16x; an unknown keyword before: kept in app.extra) asks
        # the global providers and the environment on every request otherwise.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.ctx = ctx
    app.state.server_state = state
    if control is not None:
        from oauthcli.server.control import ControlMiddleware

        app.add_middleware(ControlMiddleware, ctx=ctx, options=control, backend=state)
    app.add_middleware(BrowserGuard, ctx=ctx)
    app.add_middleware(AccessLogMiddleware)
    _install_error_handlers(app)
    scheme = OAuth2PasswordBearer(
        tokenUrl=endpoints.TOKEN_PATH.lstrip("/"),
        scopes=dict.fromkeys(ctx.live.scopes(), ""),
        auto_error=False,
    )
    get_current_user = bearer.current_user_dependency(ctx, scheme)
    app.state.get_current_user = get_current_user

    # The hot read-only paths: plain ASGI routes first, the documented ones after them.
    app.router.routes[:0] = [
        *users_me.lean_routes(ctx),
        *endpoints.lean_routes(ctx),
        *discovery.lean_routes(ctx, ctx.public_base, discovery_metadata),
    ]
    app.include_router(endpoints.router(ctx))
    app.include_router(users_me.router(get_current_user))
    app.include_router(discovery.router(ctx, ctx.public_base, discovery_metadata))
    docs.install(app, ctx.live)
    authorize.install(app, ctx)  # /authorize, login page, device flow, /userinfo (OIDC)
    registration.install(app, ctx)  # /register (RFC 7591), when serve --registration
    app.include_router(par.router(ctx))  # /par (RFC 9126)
    app.include_router(resource_metadata.router(ctx))  # RFC 9728, for /users/me and /userinfo
    return app


def discovery_metadata(ctx: ServerContext, base: str) -> dict[str, Any]:
    """RFC 8414 metadata; ``base`` is the configured issuer URL or the server's own address."""
    return {
        "issuer": ctx.issuer or base,
        "token_endpoint": base + endpoints.TOKEN_PATH,
        "jwks_uri": base + discovery.JWKS_PATH,
        "revocation_endpoint": base + endpoints.REVOKE_PATH,
        "introspection_endpoint": base + endpoints.INTROSPECT_PATH,
        "grant_types_supported": list(grants.GRANT_TYPES),
        "scopes_supported": ctx.live.scopes(),
        "token_endpoint_auth_methods_supported": [*AUTH_METHODS, "none"],
        "revocation_endpoint_auth_methods_supported": [*AUTH_METHODS, "none"],
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": list(client_auth.ASSERTION_ALGORITHMS),
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),  # RFC 9449 5.1
        "service_documentation": base + docs.DOCS_PATH,
        # RFC 9126 5: where to push, and whether /authorize takes anything else
        "pushed_authorization_request_endpoint": base + PAR_PATH,
        "require_pushed_authorization_requests": ctx.provider.require_par,
        **oidc.discovery_fields(base, ctx.key.algorithm, ctx.live.scopes()),
        **registration.discovery_fields(ctx, base),
    }


def _context(
    store: UserStore,
    settings: IssuerSettings,
    key: SigningKey | None,
    state: State,
    sessions: SessionStore | None,
    issuer_url: str | None,
    throttle: LoginThrottle | None,
    denylist: Denylist | None,
    records: Records | None,
    provider: ProviderSettings,
) -> ServerContext:
    signing_key = key if key is not None else settings.signing_key()
    check_signing_key(signing_key)
    return ServerContext(
        live=LiveStore(store),
        settings=settings,
        key=signing_key,
        sessions=sessions if sessions is not None else SessionStore(state),
        denylist=denylist if denylist is not None else Denylist(state, clock=provider.clock),
        throttle=throttle
        if throttle is not None
        else LoginThrottle(clock=provider.clock, backend=state),
        issuer=settings.issuer or (issuer_url.rstrip("/") if issuer_url else None),
        records=records if records is not None else state,
        provider=provider,
    )


def check_signing_key(key: SigningKey) -> None:
    """Sign once now, so a key that cannot sign fails at start-up, not as a 500 per request.

    E.g. an HMAC ``[issuer]`` whose ``secret_file`` holds a PEM key: PyJWT refuses to
    use it as a shared secret.
    """
    import jwt

    try:
        jwt.encode({"probe": True}, key.key, algorithm=key.algorithm)
    except jwt.InvalidKeyError:
        raise ConfigError(
            f"[issuer] key material cannot sign {key.algorithm} tokens: it holds an asymmetric "
            "key, certificate or JWK, not a shared secret (use key_file with an asymmetric "
            "algorithm, or a secret made by 'oauthcli keys generate --alg HS256')"
        ) from None


class BrowserGuard:
    """What every answer needs against a hostile page in the same browser (pure ASGI).

    - DNS rebinding: a page of ``evil.example`` whose name then resolves to 127.0.0.1
      reaches this server with ``Host: evil.example``. Only the names this server is
      known by are answered (the configured issuer's and the bound address's host,
      ``localhost``, ``127.0.0.1``, ``[::1]``; any IP literal when bound to all
      addresses: an IP cannot be rebound); others get ``421 Misdirected Request``
      (RFC 9110 15.5.20). Off in-process (no server address: no socket to rebind) and
      behind ``--forwarded-allow-ips`` (the proxy chooses the names).
    - Clickjacking: an HTML answer that sets no CSP of its own (``/docs``) gets
      ``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``, as the login pages do.
    """

    def __init__(self, app: Any, ctx: ServerContext) -> None:
        self.app = app
        self.hosts = allowed_hosts(ctx)
        self.seen: dict[bytes, bool] = {}  # Host header -> answered, for the first 64 seen

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.hosts is not None and not self._host_allowed(scope, self.hosts):
            answer = JSONResponse(
                {"error": "invalid_request", "detail": "this server does not answer for that host"},
                status_code=421,
            )
            await answer(scope, receive, send)
            return

        async def send_guarded(message: Any) -> None:
            if message["type"] == "http.response.start" and _is_html(message):
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", b"frame-ancestors 'none'"))
                if b"x-frame-options" not in names:
                    headers.append((b"x-frame-options", b"DENY"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_guarded)

    def _host_allowed(self, scope: Any, hosts: frozenset[str]) -> bool:
        raw = next((v for k, v in scope.get("headers", []) if k == b"host"), None)
        if raw is None:
            return True  # HTTP/1.0 without Host: no browser, no name to rebind
        allowed = self.seen.get(raw)
        if allowed is None:
            allowed = _host_allowed(raw, hosts)
            if len(self.seen) < 64:
                self.seen[raw] = allowed
        return allowed


def _is_html(start: Any) -> bool:
    for name, value in start.get("headers", ()):
        if name.lower() == b"content-type":
            return bool(value.startswith(b"text/html"))
    return False


_WILDCARD = ("0.0.0.0", "::", "")  # noqa: S104 - names of the wildcard bind, not a bind


def allowed_hosts(ctx: ServerContext) -> frozenset[str] | None:
    """Host names (lowercase, no port or brackets) answered; ``None``: any."""
    from urllib.parse import urlsplit

    if ctx.server_url is None or ctx.trust_forwarded:
        return None
    hosts = {"localhost", "127.0.0.1", "::1"}
    for url in (ctx.settings.issuer, ctx.server_url):
        if url and url.startswith(("https://", "http://")):
            hosts.add((urlsplit(url).hostname or "").rstrip("."))
    if (urlsplit(ctx.server_url).hostname or "") in _WILDCARD:
        hosts.add("*ip")
    return frozenset(hosts)


def _host_allowed(raw: bytes, hosts: frozenset[str]) -> bool:
    """Whether a request's ``Host`` header names this server (``BrowserGuard``)."""
    import ipaddress
    from urllib.parse import urlsplit

    try:
        name = (urlsplit("//" + raw.decode("ascii")).hostname or "").rstrip(".")
    except (UnicodeDecodeError, ValueError):
        return False
    if name in hosts:
        return True
    if "*ip" in hosts:
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True
    return False


def _install_error_handlers(app: FastAPI) -> None:
    bearer.install(app)

    async def _oauth_error(request: Request, exc: OAuthError) -> JSONResponse:
        return exc.response()  # RFC 6749 5.2, raised by client_auth and the grants

    async def _state_unavailable(request: Request, exc: StateUnavailable) -> JSONResponse:
        _log_unavailable(exc)
        return JSONResponse(
            {
                "error": "temporarily_unavailable",
                "error_description": "the server state is unreachable; try again shortly",
                "detail": "Service temporarily unavailable",
            },
            status_code=503,
            headers={"Retry-After": "1", **NO_STORE},
        )

    async def _core_error(request: Request, exc: OAuthCliError) -> JSONResponse:
        log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return _server_error()

    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # One log line, no traceback in the answer (Starlette still logs it for debugging).
        log.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
        return _server_error()

    app.add_exception_handler(OAuthError, _oauth_error)  # type: ignore[arg-type]  # Starlette types handlers for Exception, not subclasses
    app.add_exception_handler(StateUnavailable, _state_unavailable)  # type: ignore[arg-type]  # Starlette types handlers for Exception, not subclasses
    app.add_exception_handler(OAuthCliError, _core_error)  # type: ignore[arg-type]  # Starlette types handlers for Exception, not subclasses
    app.add_exception_handler(Exception, _unexpected)


def _server_error() -> JSONResponse:
    return JSONResponse(
        {"error": "server_error", "error_description": "the server could not complete the request"},
        status_code=500,
    )


_last_unavailable_log = [0.0]


def _log_unavailable(exc: StateUnavailable) -> None:
    """One log line per outage burst (the Redis backend also logs its outage and recovery)."""
    import time

    now = time.monotonic()
    if now - _last_unavailable_log[0] >= 10:
        _last_unavailable_log[0] = now
        log.error("answering 503 temporarily_unavailable: %s", exc)
