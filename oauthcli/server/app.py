"""``create_app(store, settings) -> FastAPI``: the tutorial's token server, backed by the store.

Usable from a test suite without any server::

    app = create_app(UserStore("users.toml"), settings_for_store(path, data.issuer))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test")

Routes: ``POST /token``, ``GET /users/me`` (scope ``me``), ``POST /revoke``,
``POST /introspect``, ``GET /.well-known/openid-configuration`` and
``/.well-known/oauth-authorization-server``, ``GET /.well-known/jwks.json``,
and FastAPI's ``/docs`` with the password flow wired to ``/token``.
``app.state.get_current_user`` is the reusable dependency for your own routes:
``Security(app.state.get_current_user, scopes=["items"])``.
"""

import re
from typing import Annotated, Any

from fastapi import FastAPI, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from pydantic import BaseModel

from oauthcli import __version__
from oauthcli.claims import scopes_of
from oauthcli.errors import OAuthCliError, StateUnavailable, TokenError
from oauthcli.issuer import IssuerSettings
from oauthcli.keys import SigningKey
from oauthcli.server import authorize, grants, oidc
from oauthcli.server.accesslog import AccessLogMiddleware
from oauthcli.server.context import ServerContext, is_client_token
from oauthcli.server.provider_settings import ProviderSettings
from oauthcli.server.records import Records
from oauthcli.server.state import Denylist, LiveStore, ServerState
from oauthcli.server.throttle import LoginThrottle
from oauthcli.sessions import SessionStore
from oauthcli.store import User, UserStore

TOKEN_PATH = "/token"
JWKS_PATH = "/.well-known/jwks.json"
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class UserOut(BaseModel):
    username: str
    full_name: str | None = None
    email: str | None = None
    disabled: bool = False
    scopes: list[str] = []


class BearerError(Exception):
    """401/403 from a protected route, with the RFC 6750 ``WWW-Authenticate`` challenge."""

    def __init__(self, status: int, detail: str, challenge: str, error: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.challenge, self.error = status, detail, challenge, error


_NOT_HEADER_SAFE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def _challenge(
    required: list[str], error: str | None = None, description: str | None = None
) -> str:
    params = []
    if error:
        params.append(f'error="{error}"')
    if description:
        params.append(f'error_description="{description}"')
    if required:
        params.append(f'scope="{" ".join(required)}"')
    return "Bearer " + ", ".join(params) if params else "Bearer"


_TOKEN_FORM_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "grant_type": {
                            "type": "string",
                            "enum": list(grants.GRANT_TYPES),
                            "description": "password when omitted, as OAuth2PasswordRequestForm",
                        },
                        "username": {"type": "string"},
                        "password": {"type": "string", "format": "password"},
                        "scope": {"type": "string", "description": "space-separated scopes"},
                        "refresh_token": {"type": "string"},
                        "client_id": {"type": "string"},
                        "client_secret": {"type": "string", "format": "password"},
                    },
                }
            }
        },
    },
    "responses": {
        "200": {"description": "RFC 6749 section 5.1 token response"},
        "400": {"description": "RFC 6749 section 5.2 error (invalid_grant, invalid_scope, ...)"},
        "401": {"description": "invalid_client"},
        "429": {"description": "too many failed logins; see Retry-After"},
    },
}
_FORM_ONLY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["token"],
                    "properties": {
                        "token": {"type": "string"},
                        "token_type_hint": {
                            "type": "string",
                            "enum": ["access_token", "refresh_token"],
                        },
                    },
                }
            }
        },
    }
}


def create_app(
    store: UserStore,
    settings: IssuerSettings,
    *,
    key: SigningKey | None = None,
    sessions: SessionStore | None = None,
    issuer_url: str | None = None,
    throttle: LoginThrottle | None = None,
    denylist: Denylist | None = None,
    records: Records | None = None,
    provider: ProviderSettings | None = None,
    state: ServerState | None = None,
) -> FastAPI:
    """Build the token server. Loads the store and the signing key now (errors raise here).

    ``issuer_url`` is the ``iss`` of issued tokens when the store's ``[issuer]``
    names none (``serve`` passes its base URL). Refresh sessions and revoked
    access tokens live beside the store unless other stores are given.
    ``state`` is the backend of everything that is not the user store (refresh
    sessions, revocations, throttling, records); default: ``<store>.state.db``.
    """
    live = LiveStore(store)
    if state is None:
        from oauthcli.state_sqlite import SqliteState

        state = SqliteState.for_store(store.path)
    ctx = ServerContext(
        live=live,
        settings=settings,
        key=key if key is not None else settings.signing_key(),
        sessions=sessions if sessions is not None else SessionStore(state),
        denylist=denylist if denylist is not None else Denylist(state),
        throttle=throttle if throttle is not None else LoginThrottle(backend=state),
        issuer=settings.issuer or (issuer_url.rstrip("/") if issuer_url else None),
        records=records if records is not None else state,
        provider=provider if provider is not None else ProviderSettings(),
    )
    app = FastAPI(
        title="oauthcli token server",
        version=__version__,
        description=(
            "OAuth2 password, refresh_token and client_credentials grants over the "
            f"oauthcli user store `{store.path.name}`. Use **Authorize** to log in."
        ),
    )
    app.state.ctx = ctx
    app.state.server_state = state
    app.add_middleware(AccessLogMiddleware)
    oauth2_scheme = OAuth2PasswordBearer(
        tokenUrl=TOKEN_PATH.lstrip("/"),
        scopes=dict.fromkeys(live.scopes(), ""),
        auto_error=False,
    )

    @app.exception_handler(BearerError)
    async def _bearer_error(request: Request, exc: BearerError) -> JSONResponse:
        body: dict[str, Any] = {"detail": exc.detail}
        if exc.error:
            body["error"] = exc.error
            body["error_description"] = exc.detail
        return JSONResponse(
            body, status_code=exc.status, headers={"WWW-Authenticate": exc.challenge}
        )

    @app.exception_handler(StateUnavailable)
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

    @app.exception_handler(OAuthCliError)
    async def _core_error(request: Request, exc: OAuthCliError) -> JSONResponse:
        grants.log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {
                "error": "server_error",
                "error_description": "the server could not complete the request",
            },
            status_code=500,
        )

    async def get_current_user(
        security_scopes: SecurityScopes,
        token: Annotated[str | None, Security(oauth2_scheme)],
    ) -> User:
        """The tutorial's dependency: a valid, unrevoked token of an active user with the scopes."""
        required = security_scopes.scopes
        if not token:
            raise BearerError(401, "Not authenticated", _challenge(required))
        data = live.current()
        try:
            if ctx.denylist.remote:  # a network round trip: off the event loop
                from starlette.concurrency import run_in_threadpool

                claims = await run_in_threadpool(ctx.active_access_claims, token, data)
            else:
                claims = ctx.active_access_claims(token, data)
        except TokenError as exc:
            # RFC 6750 3: error_description is printable ASCII without '"' or '\\'
            # (the message may quote an attacker's header, e.g. its typ).
            description = _NOT_HEADER_SAFE.sub("?", str(exc).replace('"', "'"))
            raise BearerError(
                401,
                "Could not validate credentials: " + description,
                _challenge(required, "invalid_token", description),
                "invalid_token",
            ) from None
        user = data.users.get(claims["sub"])
        if user is None or is_client_token(claims):
            raise BearerError(
                401,
                "Could not validate credentials: the token does not belong to a user",
                _challenge(required, "invalid_token"),
                "invalid_token",
            )
        # A scope taken away from the user in the store stops working at once.
        granted = set(scopes_of(claims)) & set(user.scopes)
        missing = [s for s in required if s not in granted]
        if missing:
            raise BearerError(
                403,
                f"Not enough permissions: needs scope {' '.join(missing)}",
                _challenge(required, "insufficient_scope"),
                "insufficient_scope",
            )
        return user

    app.state.get_current_user = get_current_user

    @app.post(TOKEN_PATH, tags=["oauth2"], openapi_extra=_TOKEN_FORM_SCHEMA)
    async def token(request: Request) -> Any:
        """OAuth2 token endpoint (RFC 6749): password, refresh_token, client_credentials."""
        return await grants.token_endpoint(request, ctx)

    @app.get("/users/me", response_model=UserOut, tags=["users"])
    # The tutorial's path, answered directly (httpx would not follow a 307 redirect).
    @app.get("/users/me/", response_model=UserOut, include_in_schema=False)
    async def read_users_me(
        user: Annotated[User, Security(get_current_user, scopes=["me"])],
    ) -> Any:
        """The logged-in user, as the tutorial returns it (never the password hash)."""
        return JSONResponse(user.public())

    @app.post("/revoke", tags=["oauth2"], openapi_extra=_FORM_ONLY)
    async def revoke(request: Request) -> Any:
        """Token revocation (RFC 7009): always 200, even for unknown tokens."""
        return await grants.revoke_endpoint(request, ctx)

    @app.post("/introspect", tags=["oauth2"], openapi_extra=_FORM_ONLY)
    async def introspect(request: Request) -> Any:
        """Token introspection (RFC 7662) for authenticated clients."""
        return await grants.introspect_endpoint(request, ctx)

    def metadata(request: Request) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/")
        return {
            "issuer": ctx.issuer or base,
            "token_endpoint": base + TOKEN_PATH,
            "jwks_uri": base + JWKS_PATH,
            "revocation_endpoint": base + "/revoke",
            "introspection_endpoint": base + "/introspect",
            "grant_types_supported": list(grants.GRANT_TYPES),
            "scopes_supported": live.scopes(),
            "token_endpoint_auth_methods_supported": [*AUTH_METHODS, "none"],
            "revocation_endpoint_auth_methods_supported": [*AUTH_METHODS, "none"],
            "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
            "token_endpoint_auth_signing_alg_values_supported": [],
            "service_documentation": base + "/docs",
            **oidc.discovery_fields(base, ctx.key.algorithm, live.scopes()),
        }

    @app.get("/.well-known/oauth-authorization-server", tags=["discovery"])
    async def oauth_metadata(request: Request) -> Any:
        """RFC 8414 authorization server metadata."""
        return JSONResponse(metadata(request))

    @app.get("/.well-known/openid-configuration", tags=["discovery"])
    async def openid_configuration(request: Request) -> Any:
        """The same metadata where OIDC discovery looks for it (this server issues no ID tokens)."""
        return JSONResponse(metadata(request))

    jwk = ctx.key.public_jwk()
    jwks = {"keys": [jwk] if jwk else []}

    @app.get(JWKS_PATH, tags=["discovery"])
    async def jwks_endpoint() -> Any:
        """Public signing keys (RFC 7517); empty for HMAC, whose secret is never published."""
        return JSONResponse(jwks, headers={"Cache-Control": "public, max-age=300"})

    _live_openapi(app, live)
    authorize.install(app, ctx)  # /authorize, login page, device flow, /userinfo (OIDC)
    return app


_last_unavailable_log = [0.0]


def _log_unavailable(exc: StateUnavailable) -> None:
    """One log line per outage burst (the Redis backend also logs its outage and recovery)."""
    import time

    now = time.monotonic()
    if now - _last_unavailable_log[0] >= 10:
        _last_unavailable_log[0] = now
        grants.log.error("answering 503 temporarily_unavailable: %s", exc)


def _live_openapi(app: FastAPI, live: LiveStore) -> None:
    """Regenerate the OpenAPI document when the store (and so its scopes) changes."""
    generate = app.openapi
    seen: list[int] = [-1]

    def openapi() -> dict[str, Any]:
        live.current()
        if seen[0] != live.generation:
            app.openapi_schema = None
            schema = generate()
            flows = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]
            flows["password"]["scopes"] = dict.fromkeys(live.scopes(), "")
            seen[0] = live.generation
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]
