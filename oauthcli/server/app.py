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

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordBearer

from oauthcli import __version__
from oauthcli.errors import ConfigError, OAuthCliError, StateUnavailable
from oauthcli.issuer import IssuerSettings
from oauthcli.keys import SigningKey
from oauthcli.server import authorize, bearer, discovery, docs, endpoints, grants, oidc, users_me
from oauthcli.server.accesslog import AccessLogMiddleware
from oauthcli.server.context import ServerContext
from oauthcli.server.oauth import OAuthError
from oauthcli.server.provider_settings import ProviderSettings
from oauthcli.server.state import LiveStore
from oauthcli.server.throttle import LoginThrottle
from oauthcli.sessions import SessionStore
from oauthcli.state.contract import Records, State
from oauthcli.state.denylist import Denylist
from oauthcli.store import UserStore

AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


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
) -> FastAPI:
    """Build the token server. Loads the store and the signing key now (errors raise here).

    ``issuer_url`` is the server's own base URL (``serve`` passes the bound address):
    the ``iss`` of issued tokens when the store's ``[issuer]`` names none, and the
    base of the URLs that discovery advertises. ``trust_forwarded`` (``serve
    --forwarded-allow-ips``) lets a trusted proxy's request (its ``Host`` and
    ``X-Forwarded-Proto``) set that base instead; otherwise request headers never do.
    ``state`` is the backend of everything that is not the user store (refresh
    sessions, revocations, throttling, records); default: ``<store>.state.db``.
    """
    if state is None:
        from oauthcli.state.sqlite import SqliteState

        state = SqliteState.for_store(store.path)
    ctx = _context(
        store, settings, key, state, sessions, issuer_url, throttle, denylist, records, provider
    )
    app = FastAPI(
        title="oauthcli token server",
        version=__version__,
        description=(
            "OAuth2 password, refresh_token and client_credentials grants over the "
            f"oauthcli user store `{store.path.name}`. Use **Authorize** to log in."
        ),
        docs_url=None,  # served by docs.install from local assets
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.server_state = state
    app.add_middleware(AccessLogMiddleware)
    _install_error_handlers(app)
    scheme = OAuth2PasswordBearer(
        tokenUrl=endpoints.TOKEN_PATH.lstrip("/"),
        scopes=dict.fromkeys(ctx.live.scopes(), ""),
        auto_error=False,
    )
    get_current_user = bearer.current_user_dependency(ctx, scheme)
    app.state.get_current_user = get_current_user

    def public_base(request: Request) -> str:
        return _public_base(ctx, request, issuer_url, trust_forwarded)

    # GET /users/me, the hot path: a plain route first, the documented one after it.
    app.router.routes[:0] = users_me.lean_routes(ctx)
    app.include_router(endpoints.router(ctx))
    app.include_router(users_me.router(get_current_user))
    app.include_router(discovery.router(ctx, public_base, discovery_metadata))
    docs.install(app, ctx.live)
    authorize.install(app, ctx)  # /authorize, login page, device flow, /userinfo (OIDC)
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
        "token_endpoint_auth_signing_alg_values_supported": [],
        "service_documentation": base + docs.DOCS_PATH,
        **oidc.discovery_fields(base, ctx.key.algorithm, ctx.live.scopes()),
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
    provider: ProviderSettings | None,
) -> ServerContext:
    signing_key = key if key is not None else settings.signing_key()
    check_signing_key(signing_key)
    return ServerContext(
        live=LiveStore(store),
        settings=settings,
        key=signing_key,
        sessions=sessions if sessions is not None else SessionStore(state),
        denylist=denylist if denylist is not None else Denylist(state),
        throttle=throttle if throttle is not None else LoginThrottle(backend=state),
        issuer=settings.issuer or (issuer_url.rstrip("/") if issuer_url else None),
        records=records if records is not None else state,
        provider=provider if provider is not None else ProviderSettings(),
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


def _public_base(
    ctx: ServerContext, request: Request, issuer_url: str | None, trust_forwarded: bool
) -> str:
    """Where clients reach this server: never from an untrusted request's ``Host``."""
    configured = ctx.settings.issuer
    if configured and configured.startswith(("https://", "http://")):
        return configured.rstrip("/")
    if issuer_url and not trust_forwarded:
        return issuer_url.rstrip("/")
    # Behind a trusted proxy (uvicorn applied X-Forwarded-Proto), or in-process use
    # without a server address (create_app over httpx.ASGITransport).
    return str(request.base_url).rstrip("/")


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
            headers={"Retry-After": "1", **grants.NO_STORE},
        )

    async def _core_error(request: Request, exc: OAuthCliError) -> JSONResponse:
        grants.log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return _server_error()

    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # One log line, no traceback in the answer (Starlette still logs it for debugging).
        grants.log.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
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
        grants.log.error("answering 503 temporarily_unavailable: %s", exc)
