"""The authorization code grant with PKCE through a browser (RFC 6749 4.1, RFC 7636, RFC 8252).

``run`` builds the authorization URL (S256 challenge, fresh ``state``, a ``nonce``
when ``openid`` is asked for), starts the loopback listener, shows the URL through
``notify`` and opens it with ``opener``, waits for the one answer whose ``state``
matches, and redeems its code once at the token endpoint. A refused or unanswered
login raises ``AuthenticationError`` (exit 3); nothing is redeemed then.

With ``read_pasted`` (``--no-browser``: the browser may be on another machine, as with
``gcloud auth login --no-launch-browser``), the address that browser was sent to can
also be pasted back; it is checked by the listener (``LoopbackListener.accept``) as a
request to it would be, and the first good answer of the two wins.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from oauthcli.client.browser import BrowserOpener
from oauthcli.client.loopback import LoopbackListener, RedirectTarget
from oauthcli.client.pkce import AuthorizationSecrets
from oauthcli.errors import RemoteError, UsageError
from oauthcli.text import clean
from oauthcli.urls import origin_of

if TYPE_CHECKING:
    import httpx

    from oauthcli.client.answer import TokenResponse
    from oauthcli.client.assertion import ClientAuthentication
    from oauthcli.client.discovery import ProviderMetadata
    from oauthcli.client.dpop_key import DPoPSigner

# Parameters oauthcli sets itself: --param may not replace them.
RESERVED = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "resource",
        "audience",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
        "grant_type",
        "code",
        "code_verifier",
        "device_code",
        "request_uri",
    }
)


def extra_parameters(
    resources: list[str], audience: str | None, params: Mapping[str, str], scope: str
) -> dict[str, str | list[str]]:
    """``resource`` (RFC 8707), ``audience`` and ``--param`` values, checked."""
    extra: dict[str, str | list[str]] = {}
    for name in params:
        if name in RESERVED:
            raise UsageError(f"--param {name}=... is set by oauthcli itself; use its own option")
    extra.update(params)
    if resources:
        for resource in resources:
            parts = urlsplit(resource)
            # RFC 8707 2: an absolute URI without a fragment
            if not parts.scheme or parts.fragment:
                raise UsageError(f"--resource {resource!r} must be an absolute URI without #")
        extra["resource"] = list(resources)
    if audience:
        extra["audience"] = audience
    # OIDC Core 11: offline_access is ignored unless the user is asked to consent.
    if "offline_access" in scope.split() and "prompt" not in params:
        extra["prompt"] = "consent"
    return extra


def token_resource(extra: Mapping[str, str | list[str]]) -> dict[str, str]:
    """The ``resource`` of a token request: the first one asked for.

    RFC 8707 2.2: an authorization may cover several resources while each access token
    is requested for one (providers such as oidc-provider refuse several here);
    ``oauthcli refresh --resource`` gets a token for another of them.
    """
    resources = extra.get("resource")
    if not resources:
        return {}
    return {"resource": resources if isinstance(resources, str) else resources[0]}


def authorization_url(endpoint: str, query: Mapping[str, str | list[str]]) -> str:
    parts = urlsplit(endpoint)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    for name, value in query.items():
        for item in [value] if isinstance(value, str) else value:
            pairs.append((name, item))
    return urlunsplit(parts._replace(query=urlencode(pairs)))


@dataclass(frozen=True)
class AuthorizationResult:
    response: TokenResponse
    secrets: AuthorizationSecrets
    redirect_uri: str


def _browser_url(
    http: httpx.Client,
    metadata: ProviderMetadata,
    endpoint: str,
    auth: ClientAuthentication,
    request: dict[str, str | list[str]],
    insecure_http: bool,
    *,
    par: bool,
) -> str:
    """The URL the browser opens: the request in its query, or, pushed first (``par``, or
    the provider requires it), only client_id and request_uri (RFC 9126 4)."""
    from oauthcli.client.endpoints import push_authorization_request

    if not (par or metadata.require_par):
        return authorization_url(endpoint, request)

    why = "to push the authorization request (RFC 9126)"
    if metadata.require_par:
        why += ", which it requires"
    par_url = metadata.require("par", why)
    request_uri = push_authorization_request(
        http, par_url, request, auth, insecure_http=insecure_http
    )
    assert auth.client_id is not None
    return authorization_url(endpoint, {"client_id": auth.client_id, "request_uri": request_uri})


OPENER_GRACE = 2.0  # seconds to learn whether a browser started before waiting for it
# Reads one pasted line (None at the end of input or once the event is set); must return
# soon after the event is set. ``--no-browser`` passes the terminal's, without echo.
PasteReader = Callable[[threading.Event], str | None]
PASTE_PROMPT = (
    "Browser on another machine? Log in there, then paste here the address it was sent to "
    "(the page that did not load); it is not shown as you paste."
)


def _paste_back(
    listener: LoopbackListener,
    read: PasteReader,
    notify: Callable[[str], None],
    stop: threading.Event,
) -> None:
    """Hand each pasted address to the listener until one ends the wait. ``read`` is
    called until it returns None (the wait is over, or input ended): the reader keeps the
    terminal quiet for the whole wait and gives it back only then."""
    accepted = False
    while True:
        line = read(stop)
        if line is None:
            return
        if accepted or not line.strip() or stop.is_set():
            continue
        refused = listener.accept(line)
        if refused is None:
            accepted = True
        else:
            notify(f"refused the pasted address: {refused}")


def _open_in_background(opener: BrowserOpener, url: str, notify: Callable[[str], None]) -> None:
    """Start the browser without waiting for it to exit: a ``$BROWSER`` that blocks (w3m,
    lynx) shows the loopback page, which waits for this process to finish the login."""

    def start() -> None:
        if not opener(url):
            notify("(no browser was started: open the URL above yourself)")

    thread = threading.Thread(target=start, name="oauthcli-browser", daemon=True)
    thread.start()
    thread.join(OPENER_GRACE)


def run(
    http: httpx.Client,
    metadata: ProviderMetadata,
    auth: ClientAuthentication,
    *,
    scope: str,
    extra: Mapping[str, str | list[str]],
    opener: BrowserOpener,
    notify: Callable[[str], None],
    timeout: float,
    waiting: Callable[[float, str], None] | None = None,
    target: RedirectTarget | None = None,
    insecure_http: bool = False,
    verify: Callable[[TokenResponse, AuthorizationSecrets], None] | None = None,
    read_pasted: PasteReader | None = None,
    dpop: DPoPSigner | None = None,
    par: bool = False,
) -> AuthorizationResult:
    """The browser login; ``verify`` checks the token response (the ID token) while the
    browser's page still waits, so the page says "Logged in" only when all of it held.

    With ``par``, or when the provider's discovery says
    ``require_pushed_authorization_requests``, the parameters are pushed to its
    ``pushed_authorization_request_endpoint`` first, authenticated as at the token
    endpoint (RFC 9126 2), and the browser gets only ``client_id`` and ``request_uri`` (4).
    """
    from oauthcli.client import grants as remote

    endpoint = metadata.require("authorization", "for --grant authorization-code")
    methods = metadata.code_challenge_methods
    if methods and "S256" not in methods:
        raise RemoteError(
            f"the provider {metadata.issuer} does not offer PKCE with S256: refusing to log in "
            "without it"
        )
    if auth.client_id is None:
        raise UsageError("--grant authorization-code needs --client-id")
    values = AuthorizationSecrets()
    query: dict[str, str | list[str]] = {
        "response_type": "code",
        "client_id": auth.client_id,
        "state": values.state,
        "code_challenge": values.code_challenge,
        "code_challenge_method": "S256",
    }
    if scope:
        query["scope"] = scope
    if "openid" in scope.split():
        query["nonce"] = values.nonce
    if dpop is not None:
        # RFC 9449 10: the code is bound to the key; a thief's code is useless without it.
        query["dpop_jkt"] = dpop.jkt
    # RFC 9207 / RFC 9700 4.4: an authorization endpoint on another origin than the issuer
    # is where a mix-up hides (the answer may come from another provider's endpoint), so
    # there the answer must carry iss even when the provider does not promise it.
    cross_origin = origin_of(endpoint) != origin_of(metadata.issuer)
    with LoopbackListener(
        values.state,
        issuer=metadata.issuer,
        require_iss=metadata.iss_parameter_supported or cross_origin,
        target=target,
    ) as listener:
        query["redirect_uri"] = listener.redirect_uri
        url = _browser_url(
            http, metadata, endpoint, auth, {**query, **extra}, insecure_http, par=par
        )
        # the provider's endpoint came from outside: shown cleaned, but whole
        notify(f"Open this URL in a browser to log in:\n{clean(url, limit=None)}")
        _open_in_background(opener, url, notify)
        stop = threading.Event()
        reader = None
        if read_pasted is not None:
            notify(PASTE_PROMPT)
            reader = threading.Thread(
                target=_paste_back,
                args=(listener, read_pasted, notify, stop),
                name="oauthcli-paste",
                daemon=True,
            )
            reader.start()
        try:
            code = listener.wait(timeout, waiting)
        finally:
            stop.set()  # the reader gives the terminal back (echo) before anything else
            if reader is not None:
                reader.join(5)
        if listener.refused:
            notify(f"ignored {listener.refused} answer(s) with a wrong or missing state")
        redirect_uri = listener.redirect_uri
        form: dict[str, str | list[str]] = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": values.code_verifier,
        }
        form.update(token_resource(extra))
        try:
            response = remote.token_request(
                http,
                metadata.require("token", "to redeem the code"),
                form,
                auth,
                grant="authorization_code",
                secrets=(code, values.code_verifier),
                insecure_http=insecure_http,
                dpop=dpop,
            )
            if verify is not None:
                verify(response, values)
        except BaseException as exc:
            listener.report(exc)
            raise
        listener.report(None)
    return AuthorizationResult(response, values, redirect_uri)
