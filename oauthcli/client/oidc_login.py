"""``login --issuer-url``: discovery, the chosen grant, ID token checks, and the entry to cache.

Protocol only (no Typer, no Rich): the CLI passes the options in a
``ProviderLogin`` and the side effects in an ``Interaction`` (browser opener,
message sink, password reader, sleep and clock), and caches the returned
``CacheEntry``. Nothing is returned, so nothing can be cached, unless every
step succeeded, ID token verification included.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oauthcli.client.browser import BrowserOpener, system_browser
from oauthcli.errors import ConfigError, Reason, RemoteError, TokenError, UsageError
from oauthcli.text import clean

if TYPE_CHECKING:
    import httpx

    from oauthcli.client.answer import TokenResponse
    from oauthcli.client.assertion import ClientAuthentication
    from oauthcli.client.cache import CacheEntry
    from oauthcli.client.discovery import ProviderMetadata
    from oauthcli.client.dpop_key import DPoPSigner
    from oauthcli.client.loopback import RedirectTarget
    from oauthcli.client.pkce import AuthorizationSecrets

INTERACTIVE_GRANTS = ("authorization-code", "device-code")
GRANTS = (*INTERACTIVE_GRANTS, "password", "client-credentials")
# How long a person gets to finish a browser or device login (--timeout).
DEFAULT_LOGIN_TIMEOUT = 300.0


@dataclass(frozen=True)
class ProviderLogin:
    issuer: str
    grant: str | None = None  # None: authorization-code, or password when a username is given
    username: str | None = None
    client_id: str | None = None
    client_auth: str | None = (
        None  # None: private-key-jwt with a key, basic with a secret, else none
    )
    client_secret: str | None = field(default=None, repr=False)
    client_secret_file: str | None = None
    client_key_file: Path | None = None
    scopes: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    audience: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_LOGIN_TIMEOUT
    redirect: RedirectTarget | None = None
    insecure_http: bool = False
    # login --dpop: the profile's DPoP key (oauthcli.client.dpop_key); every token request
    # carries a proof of it and the tokens are bound to it (RFC 9449).
    dpop_key_file: Path | None = None
    par: bool = False  # push the browser login's request first (RFC 9126)
    # login --resource-url: the API whose metadata (RFC 9728) names the provider; then
    # ``issuer`` (may be empty) only chooses among the authorization servers it names.
    resource_url: str | None = None


@dataclass(frozen=True)
class Interaction:
    """The flows' contact with the world, injectable for tests."""

    notify: Callable[[str], None]
    opener: BrowserOpener = system_browser
    read_password: Callable[[], str] = field(default_factory=lambda: _no_password)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    # Called about once a second while a person is awaited (browser, device approval):
    # (seconds left, what is awaited or the last status). The CLI draws it on a terminal.
    waiting: Callable[[float, str], None] | None = None
    # --no-browser: the person's browser may be on another machine (SSH): a device login
    # is suggested when the provider offers one, and ``read_pasted`` (authcode.PasteReader,
    # the terminal's) takes the redirect's address pasted back; None: only the listener.
    headless: bool = False
    read_pasted: Callable[[threading.Event], str | None] | None = None


def _no_password() -> str:
    raise UsageError("the password grant needs a password, and none can be read here")


def client_authentication(request: ProviderLogin) -> ClientAuthentication:
    from oauthcli.client.assertion import ClientAuthentication, load_client_key

    method = request.client_auth
    if method is None:
        if request.client_key_file is not None:
            method = "private-key-jwt"
        elif request.client_secret is not None:
            method = "basic"
        else:
            method = "none"
    if request.client_key_file is not None and method != "private-key-jwt":
        raise UsageError("--client-key is only used with --client-auth private-key-jwt")
    if method in ("basic", "post") and request.client_secret is None:
        raise UsageError(
            f"--client-auth {method} needs the client secret: pass --client-secret-file "
            "or set OAUTHCLI_CLIENT_SECRET (or use --client-auth none for a public client)"
        )
    key = None
    if method == "private-key-jwt" and request.client_key_file is not None:
        key = load_client_key(request.client_key_file)
    secret = request.client_secret if method in ("basic", "post") else None
    return ClientAuthentication(request.client_id, method, secret, key)


def at_provider(
    http: httpx.Client, request: ProviderLogin, needs: str, purpose: str
) -> tuple[ProviderMetadata, str, ClientAuthentication]:
    """What every grant at a provider starts with (``login --issuer-url``, ``exchange``): its
    URL checked, a client id (``needs``: the option that wants one), the provider discovered,
    and the client's authentication at its token endpoint (``purpose``: what it is for).
    ``(metadata, token endpoint, authentication)``."""
    from oauthcli.client.discovery import discover_provider
    from oauthcli.client.policy import check_url_safe

    check_url_safe(request.issuer, insecure_http=request.insecure_http)
    if not request.client_id:
        raise UsageError(f"{needs} needs --client-id: the client registered at the provider")
    auth = client_authentication(request)
    metadata = discover_provider(request.issuer, http)
    token_url = metadata.require("token", purpose)
    return metadata, token_url, auth.for_provider(metadata.issuer, token_url)


def is_interactive(grant: str | None, username: str | None = None) -> bool:
    """Whether a person takes part: a browser or device grant, as is what ``choose_grant``
    picks with no ``--grant`` and no USERNAME. It gets the ``openid`` scope by default and
    ``--timeout`` is the person's time, not the provider's."""
    return grant in INTERACTIVE_GRANTS or (grant is None and not username)


def choose_grant(request: ProviderLogin, metadata: ProviderMetadata) -> str:
    if request.grant is not None:
        if request.grant not in GRANTS:
            raise UsageError(f"--grant must be one of {', '.join(GRANTS)}, not {request.grant!r}")
        return request.grant
    if request.username:
        return "password"
    if metadata.offers_grant("authorization_code"):
        return "authorization-code"
    if "device_authorization" in metadata.endpoints:
        return "device-code"
    raise UsageError(
        f"the provider {metadata.issuer} offers neither a browser nor a device login: "
        "choose --grant password or client-credentials"
    )


def login(http: httpx.Client, request: ProviderLogin, io: Interaction) -> CacheEntry:
    """Discover the provider, run the grant, verify the ID token; the entry to cache."""
    from oauthcli.claims import scope_string
    from oauthcli.client import authcode, device

    if request.resource_url is not None:
        request = _for_resource(http, request)
    metadata, token_url, auth = at_provider(http, request, "--issuer-url", "to get tokens")
    grant = choose_grant(request, metadata)
    dpop = _signer(request)
    if grant != "password" and request.username:
        raise UsageError(f"--grant {grant} logs in through the provider's page: drop USERNAME")
    if grant == "password" and not request.username:
        raise UsageError("missing USERNAME: the password grant logs a user in")
    if request.par and grant != "authorization-code":
        raise UsageError(
            "--par pushes a browser login's request: it needs the authorization-code grant"
        )
    scopes = request.scopes or (["openid"] if is_interactive(grant) else [])
    scope = scope_string(scopes)
    extra = authcode.extra_parameters(request.resources, request.audience, request.params, scope)
    nonce: str | None = None
    claims: dict[str, Any] | None = None

    if grant == "authorization-code":
        checked: dict[str, Any] = {}
        if io.headless and "device_authorization" in metadata.endpoints:
            io.notify(
                "No browser you can reach? This provider also offers a device login: "
                "--grant device-code (any browser anywhere, no address to paste)"
            )

        def verify(response: TokenResponse, secrets: AuthorizationSecrets) -> None:
            # while the browser's page waits: it says "Logged in" only if this holds
            once = secrets.nonce if "openid" in scope.split() else None
            checked.update(_id_token_claims(metadata, auth, response, once, http))

        result = authcode.run(
            http,
            metadata,
            auth,
            scope=scope,
            extra=extra,
            opener=io.opener,
            notify=io.notify,
            timeout=request.timeout,
            waiting=io.waiting,
            target=request.redirect,
            insecure_http=request.insecure_http,
            dpop=dpop,
            verify=verify,
            read_pasted=io.read_pasted,
            par=request.par,
        )
        response = result.response
        claims = checked
    elif grant == "device-code":
        endpoint = metadata.require("device_authorization", "for --grant device-code")
        started = device.start(http, endpoint, auth, scope=scope, extra=extra)
        io.notify(started.instructions())
        response = device.poll(
            http,
            token_url,
            auth,
            started,
            extra=extra,
            sleep=io.sleep,
            clock=io.clock,
            timeout=request.timeout,
            waiting=io.waiting,
            dpop=dpop,
        )
    else:
        response = _direct_grant(http, token_url, grant, request, auth, scope, extra, io, dpop)
    if claims is None:
        claims = _id_token_claims(metadata, auth, response, nonce, http)
    return cache_entry(request, metadata, auth, grant, scope, response, claims)


def _for_resource(http: httpx.Client, request: ProviderLogin) -> ProviderLogin:
    """``login --resource-url``: the provider and the ``resource`` (RFC 8707) its metadata
    (RFC 9728) gives; the login then goes on as ``--issuer-url`` with ``--resource``."""
    from dataclasses import replace

    from oauthcli.client.resource import discover_resource

    assert request.resource_url is not None
    if not request.client_id:
        raise UsageError("--resource-url needs --client-id: the client registered at the provider")
    found = discover_resource(request.resource_url, http)
    issuer = found.authorization_server(request.issuer or None)
    resources = list(dict.fromkeys([found.resource, *request.resources]))
    return replace(request, issuer=issuer, resources=resources)


def _direct_grant(
    http: httpx.Client,
    token_url: str,
    grant: str,
    request: ProviderLogin,
    auth: ClientAuthentication,
    scope: str,
    extra: dict[str, str | list[str]],
    io: Interaction,
    dpop: DPoPSigner | None = None,
) -> TokenResponse:
    from oauthcli.client import grants as remote
    from oauthcli.client.authcode import token_resource

    body: dict[str, str | list[str]] = {
        k: v for k, v in extra.items() if k not in ("prompt", "resource")
    }
    body.update(token_resource(extra))
    if grant == "client-credentials":
        if auth.method == "none":
            raise UsageError("--grant client-credentials needs a client secret or --client-key")
        form: dict[str, str | list[str]] = {"grant_type": "client_credentials", **body}
        return remote.token_request(
            http,
            token_url,
            form,
            auth,
            scopes=scope or None,
            grant="client_credentials",
            insecure_http=request.insecure_http,
            dpop=dpop,
        )
    password = io.read_password()
    try:
        form = {
            "grant_type": "password",
            "username": request.username or "",
            "password": password,
            **body,
        }
        return remote.token_request(
            http,
            token_url,
            form,
            auth,
            scopes=scope or None,
            grant="password",
            secrets=(password,),
            insecure_http=request.insecure_http,
            dpop=dpop,
        )
    finally:
        del password


def _id_token_claims(
    metadata: ProviderMetadata,
    auth: ClientAuthentication,
    response: TokenResponse,
    nonce: str | None,
    http: httpx.Client,
) -> dict[str, Any]:
    """The verified ID token's claims (``{}`` when there is none and none was due)."""
    from oauthcli.client.idtoken import verify_id_token

    id_token = response.raw.get("id_token")
    if id_token is None:
        if nonce is not None:
            raise TokenError(
                "the provider answered an openid login without an ID token (OIDC Core 3.1.3.3)",
                Reason.CLAIM,
            )
        return {}
    if not isinstance(id_token, str):
        raise RemoteError("the token endpoint's id_token is not a string")
    jwks = metadata.endpoints.get("jwks")
    if jwks is None:
        raise TokenError(
            "the provider sent an ID token but publishes no jwks_uri: cannot verify it",
            Reason.KEY,
        )
    _check_id_token_alg(id_token)
    assert auth.client_id is not None
    return verify_id_token(
        id_token,
        issuer=metadata.issuer,
        client_id=auth.client_id,
        jwks_uri=jwks,
        http_client=http,
        nonce=nonce,
        access_token=response.access_token,
    )


def _check_id_token_alg(id_token: str) -> None:
    """An HS256/384/512 ID token is keyed with a secret the provider keeps (oauthcli serve's
    ``[issuer]`` secret): no client can verify it from the published keys, so the fix is
    the provider's configuration, said in one line (exit 7)."""
    import jwt

    try:
        alg = jwt.get_unverified_header(id_token).get("alg")
    except jwt.DecodeError:
        return  # verify_id_token says what is wrong with it
    if isinstance(alg, str) and alg.upper().startswith("HS"):
        raise ConfigError(
            f"the provider signs ID tokens with {clean(alg)[:10]}, a secret it keeps: no client "
            "can verify them. Configure it to sign with a published key (oauthcli serve: "
            '[issuer] algorithm = "ES256" and key_file = a key made by '
            "'oauthcli keys generate --alg ES256 --out signing.pem')"
        )


def cache_entry(
    request: ProviderLogin,
    metadata: ProviderMetadata,
    auth: ClientAuthentication,
    grant: str,
    scope: str,
    response: TokenResponse,
    claims: dict[str, Any],
) -> CacheEntry:
    """The entry to cache, from a response whose ID token (if any) ``claims`` verified."""
    from oauthcli.client.cache import CacheEntry
    from oauthcli.urls import origin_of

    id_token = response.raw.get("id_token")
    token_url = metadata.endpoints["token"]
    insecure = request.insecure_http and not _is_loopback(token_url)
    return CacheEntry.from_token_response(
        response,
        now=time.time(),
        asked_scope=scope,
        source="remote",
        token_url=token_url,
        client_id=auth.client_id,
        client_auth=auth.method,
        client_secret_file=request.client_secret_file if auth.method in ("basic", "post") else None,
        username=request.username or _who(claims),
        # the token is also sent to the APIs it was asked for (RFC 8707 resource indicators)
        allowed_origins=list(
            dict.fromkeys(
                ([origin_of(token_url)] if insecure else [])
                + [origin_of(r) for r in request.resources if _is_http(r)]
            )
        ),
        grant=grant.replace("-", "_"),
        issuer=metadata.issuer,
        endpoints=dict(metadata.endpoints),
        id_token=id_token,
        client_key_file=(
            str(request.client_key_file.resolve()) if request.client_key_file else None
        ),
        resources=list(request.resources),
        audience=request.audience,
        dpop_key_file=str(request.dpop_key_file) if request.dpop_key_file else None,
        redirect_uri=(
            f"http://{request.redirect.name}:{request.redirect.port}{request.redirect.path}"
            if request.redirect is not None and grant == "authorization-code"
            else None
        ),
    )


def _signer(request: ProviderLogin) -> DPoPSigner | None:
    if request.dpop_key_file is None:
        return None
    from oauthcli.client.dpop_key import DPoPSigner, load_key

    return DPoPSigner(load_key(request.dpop_key_file))


def _is_http(url: str) -> bool:
    return url.lower().startswith(("https://", "http://"))


def _is_loopback(url: str) -> bool:
    from urllib.parse import urlsplit

    from oauthcli.urls import is_loopback_host

    return is_loopback_host(urlsplit(url).hostname or "")


def _who(claims: dict[str, Any]) -> str | None:
    from oauthcli.client.answer import clean

    for name in ("preferred_username", "email", "sub"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return clean(value)
    return None
