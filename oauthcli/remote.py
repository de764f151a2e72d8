"""OAuth2 token endpoint client: password, client_credentials and refresh_token grants.

Network code lives here and only here. The caller passes an ``httpx.Client``
(``make_client`` builds a safe one), so tests point it at a real server on
127.0.0.1. Every failure becomes an ``OAuthCliError`` with a one-line message:
``UsageError`` for a request refused before sending, ``AuthenticationError``
when the server turns the credentials down, ``RemoteError`` for anything else.
Reading the answer (token or error) is ``oauthcli.remote_answer``'s job.
"""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

import httpx

from oauthcli.claims import scope_string
from oauthcli.errors import RemoteError, UsageError
from oauthcli.http import MAX_TIMEOUT, make_client
from oauthcli.remote_answer import MAX_SERVER_TEXT, TokenResponse
from oauthcli.remote_answer import clean as _clean
from oauthcli.remote_answer import display_url as _display_url
from oauthcli.remote_answer import interpret as _interpret
from oauthcli.urls import is_loopback_host

if TYPE_CHECKING:
    from oauthcli.client.assertion import ClientAuthentication

ClientAuth = Literal["basic", "post"]

MAX_BODY_BYTES = 1024 * 1024


def check_url_safe(url: str, *, insecure_http: bool = False) -> None:
    """Refuse, before any connection, a URL that would expose credentials.

    https is always fine; plain http only to this machine (localhost, 127.0.0.0/8,
    [::1]) unless ``insecure_http``. URLs with a user name or password are refused
    because they end up in logs and error messages.
    """
    if not url.strip():
        raise UsageError("the URL is empty")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise UsageError(f"not a valid URL: {_display_url(url)}") from exc
    if parts.username is not None or parts.password is not None:
        # The URL itself is not echoed: the userinfo may be a password.
        raise UsageError("the URL must not contain a user name or password (user@host)")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UsageError(f"only http and https URLs are supported, not {_display_url(url)}")
    if not host:
        raise UsageError(f"the URL has no host: {_display_url(url)}")
    if scheme == "http" and not insecure_http and not is_loopback_host(host):
        raise UsageError(
            f"refusing to send credentials over plain http to {_display_url(url)}: "
            "use https, or pass --insecure-http if you accept the risk"
        )


def password_grant(
    client: httpx.Client,
    token_url: str,
    username: str,
    password: str,
    scopes: Iterable[str] | str | None,
    client_id: str | None = None,
    client_secret: str | None = None,
    client_auth: ClientAuth = "basic",
    *,
    insecure_http: bool = False,
) -> TokenResponse:
    """Resource owner password grant (RFC 6749 4.3), as FastAPI's ``OAuth2PasswordRequestForm`` reads it."""
    form: dict[str, str | list[str]] = {
        "grant_type": "password",
        "username": username,
        "password": password,
    }
    return _token_request(
        client,
        token_url,
        form,
        scopes,
        client_id,
        client_secret,
        client_auth,
        grant="password",
        secrets=(password,),
        insecure_http=insecure_http,
    )


def client_credentials_grant(
    client: httpx.Client,
    token_url: str,
    client_id: str,
    client_secret: str,
    scopes: Iterable[str] | str | None,
    client_auth: ClientAuth = "basic",
    *,
    insecure_http: bool = False,
) -> TokenResponse:
    """Client credentials grant (RFC 6749 4.4)."""
    return _token_request(
        client,
        token_url,
        {"grant_type": "client_credentials"},
        scopes,
        client_id,
        client_secret,
        client_auth,
        grant="client_credentials",
        secrets=(),
        insecure_http=insecure_http,
    )


def refresh_grant(
    client: httpx.Client,
    token_url: str,
    refresh_token: str,
    scopes: Iterable[str] | str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    client_auth: ClientAuth = "basic",
    *,
    insecure_http: bool = False,
    auth: ClientAuthentication | None = None,
    extra: Mapping[str, str | list[str]] | None = None,
) -> TokenResponse:
    """Refresh grant (RFC 6749 6); no ``scopes`` keeps the originally granted scope.

    ``auth`` (any client authentication) replaces client id / secret / auth when given;
    ``extra`` adds parameters such as ``resource`` (RFC 8707) or ``audience``.
    """
    form: dict[str, str | list[str]] = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        **(extra or {}),
    }
    if auth is not None:
        return token_request(
            client,
            token_url,
            form,
            auth,
            scopes=scopes,
            grant="refresh_token",
            secrets=(refresh_token,),
            insecure_http=insecure_http,
        )
    return _token_request(
        client,
        token_url,
        form,
        scopes,
        client_id,
        client_secret,
        client_auth,
        grant="refresh_token",
        secrets=(refresh_token,),
        insecure_http=insecure_http,
    )


def _token_request(
    client: httpx.Client,
    token_url: str,
    form: dict[str, str | list[str]],
    scopes: Iterable[str] | str | None,
    client_id: str | None,
    client_secret: str | None,
    client_auth: str,
    *,
    grant: str,
    secrets: tuple[str, ...],
    insecure_http: bool,
) -> TokenResponse:
    from oauthcli.client.assertion import ClientAuthentication

    check_url_safe(token_url, insecure_http=insecure_http)
    if client_auth not in ("basic", "post"):
        raise UsageError(f"client authentication must be 'basic' or 'post', not {client_auth!r}")
    auth = ClientAuthentication(client_id, client_auth, client_secret)
    return token_request(
        client,
        token_url,
        form,
        auth,
        scopes=scopes,
        grant=grant,
        secrets=secrets,
        insecure_http=insecure_http,
    )


def token_request(
    client: httpx.Client,
    token_url: str,
    form: dict[str, str | list[str]],
    auth: ClientAuthentication,
    *,
    scopes: Iterable[str] | str | None = None,
    grant: str,
    secrets: tuple[str, ...] = (),
    insecure_http: bool = False,
) -> TokenResponse:
    """POST any grant's ``form`` to the token endpoint, authenticated as ``auth`` says.

    List values (``resource``, RFC 8707) are sent as repeated parameters.
    """
    check_url_safe(token_url, insecure_http=insecure_http)
    scope = scope_string(scopes)
    if scope:
        form["scope"] = scope
    headers = {"Accept": "application/json"}
    secrets = tuple(s for s in (*secrets, *auth.apply(form, headers, token_url)) if s)
    status, reason, body, content_type = _post_form(client, token_url, form, headers, secrets)
    return _interpret(status, reason, body, content_type, grant=grant, secrets=secrets)


def post_form(
    client: httpx.Client,
    url: str,
    form: Mapping[str, str | list[str]],
    headers: Mapping[str, str],
    secrets: tuple[str, ...],
) -> tuple[int, str, bytes, str]:
    """POST a form once, never following a redirect: ``(status, reason, body, content type)``."""
    return _post_form(client, url, form, headers, secrets)


def _post_form(
    client: httpx.Client,
    url: str,
    form: Mapping[str, str | list[str]],
    headers: Mapping[str, str],
    secrets: tuple[str, ...],
) -> tuple[int, str, bytes, str]:
    """POST once (no retry, no redirect) and read at most ``MAX_BODY_BYTES`` of the answer."""
    shown = _display_url(url)
    try:
        with client.stream(
            "POST", url, data=form, headers=headers, follow_redirects=False
        ) as response:
            if 300 <= response.status_code < 400:
                location = response.headers.get("location", "")
                raise RemoteError(
                    f"{shown} answered {response.status_code} redirecting to "
                    f"{_display_url(location, secrets) or '(no location)'}: not following it, "
                    "as that would resend the credentials; use the final URL"
                )
            body = _read_capped(response, shown, _overall_timeout(client))
            content_type = response.headers.get("content-type", "")
            return response.status_code, response.reason_phrase, body, content_type
    except httpx.InvalidURL as exc:
        raise UsageError(f"not a valid URL: {shown}") from exc
    except httpx.RequestError as exc:
        raise transport_error(exc, url, client, secrets) from exc


def transport_error(
    exc: httpx.RequestError, url: str, client: httpx.Client, secrets: Iterable[str] = ()
) -> RemoteError:
    """A one-line ``RemoteError`` for a timeout, TLS, connection or protocol failure.

    Public so other commands that talk to servers word these failures the same way;
    raise it ``from exc``.
    """
    shown = _display_url(url)
    if isinstance(exc, httpx.TimeoutException):
        return RemoteError(f"timed out after {_timeout_for(client, exc):g} s contacting {shown}")
    tls = _ssl_error(exc)
    if tls is not None:
        return RemoteError(f"TLS error contacting {shown}: {_clean(_ssl_reason(tls))}")
    reason = _clean(str(exc) or type(exc).__name__, secrets)
    if isinstance(exc, httpx.ConnectError):
        return RemoteError(f"could not connect to {shown}: {reason}")
    return RemoteError(f"network error talking to {shown}: {reason}")


def _read_capped(response: httpx.Response, shown: str, overall: float | None) -> bytes:
    too_big = (
        f"the answer from {shown} is larger than {MAX_BODY_BYTES // 1024} KiB: refusing to read it"
    )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RemoteError(too_big)
    # httpx's timeout is per read, so a server trickling bytes could stall us for ever.
    deadline = None if overall is None else time.monotonic() + overall
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RemoteError(too_big)
        chunks.append(chunk)
        if deadline is not None and time.monotonic() > deadline:
            raise RemoteError(f"timed out after {overall:g} s reading the answer from {shown}")
    return b"".join(chunks)


def _overall_timeout(client: httpx.Client) -> float | None:
    values = [v for v in (client.timeout.read, client.timeout.connect) if v is not None]
    return max(values) if values else None


def _timeout_for(client: httpx.Client, exc: httpx.TimeoutException) -> float:
    timeout = client.timeout
    value = {
        httpx.ConnectTimeout: timeout.connect,
        httpx.ReadTimeout: timeout.read,
        httpx.WriteTimeout: timeout.write,
        httpx.PoolTimeout: timeout.pool,
    }.get(type(exc))
    return value if value is not None else (_overall_timeout(client) or 0.0)


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _ssl_reason(error: ssl.SSLError) -> str:
    if isinstance(error, ssl.SSLCertVerificationError) and error.verify_message:
        return f"certificate verify failed: {error.verify_message} (pass --cacert for a private CA)"
    # "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)" -> the words only
    text = re.sub(r"^\[SSL(: [A-Z0-9_]+)?\]\s*|\s*\(_ssl\.c:\d+\)$", "", str(error))
    text = text or error.reason or type(error).__name__
    if error.reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"):
        text += " (does the server speak plain http on that port?)"
    return text


__all__ = [
    "MAX_BODY_BYTES",
    "MAX_SERVER_TEXT",
    "MAX_TIMEOUT",
    "TokenResponse",
    "check_url_safe",
    "client_credentials_grant",
    "make_client",
    "password_grant",
    "post_form",
    "refresh_grant",
    "scope_string",
    "token_request",
    "transport_error",
]
