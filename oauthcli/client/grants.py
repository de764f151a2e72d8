"""OAuth2 token endpoint grants: password, client_credentials and refresh_token.

The caller passes an ``httpx.Client`` (``oauthcli.http.make_client`` builds a
safe one), so tests point it at a real server on 127.0.0.1. Every failure becomes an ``OAuthCliError`` with a one-line message:
``UsageError`` for a request refused before sending, ``AuthenticationError``
when the server turns the credentials down, ``RemoteError`` for anything else.
Reading the answer (token or error) is ``oauthcli.client.answer``'s job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Literal

import httpx

from oauthcli.claims import scope_string
from oauthcli.client.answer import TokenResponse, interpret, loads
from oauthcli.client.policy import check_url_safe
from oauthcli.dpop import HEADER
from oauthcli.errors import Reason, RemoteError, UsageError
from oauthcli.http import display_url, read_capped, transport_error

if TYPE_CHECKING:
    from oauthcli.client.assertion import ClientAuthentication
    from oauthcli.client.dpop_key import DPoPSigner

ClientAuth = Literal["basic", "post"]


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
    dpop: DPoPSigner | None = None,
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
        dpop=dpop,
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
    dpop: DPoPSigner | None = None,
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
        dpop=dpop,
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
    dpop: DPoPSigner | None = None,
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
            dpop=dpop,
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
        dpop=dpop,
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
    dpop: DPoPSigner | None = None,
) -> TokenResponse:
    """``token_request`` for the grants that take a client id, secret and basic/post."""
    from oauthcli.client.assertion import ClientAuthentication

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
        dpop=dpop,
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
    dpop: DPoPSigner | None = None,
) -> TokenResponse:
    """POST any grant's ``form`` to the token endpoint, authenticated as ``auth`` says
    (basic, post, private-key-jwt or none; ``oauthcli.client.assertion``).

    List values (``resource``, RFC 8707) are sent as repeated parameters. With ``dpop``
    the request carries a proof of its key (RFC 9449 5).
    """
    check_url_safe(token_url, insecure_http=insecure_http)
    scope = scope_string(scopes)
    if scope:
        form["scope"] = scope
    headers = {"Accept": "application/json"}
    secrets = tuple(s for s in (*secrets, *auth.apply(form, headers, token_url)) if s)
    status, reason, body, content_type = post_form(client, token_url, form, headers, secrets, dpop)
    return interpret(
        status, reason, body, content_type, grant=grant, secrets=secrets, dpop=dpop is not None
    )


def post_form(
    client: httpx.Client,
    url: str,
    form: Mapping[str, str | list[str]],
    headers: Mapping[str, str],
    secrets: tuple[str, ...],
    dpop: DPoPSigner | None = None,
) -> tuple[int, str, bytes, str]:
    """POST a form, never following a redirect, and read at most ``MAX_BODY_BYTES`` of the
    answer: ``(status, reason, body, content type)``.

    With ``dpop``, each attempt carries a fresh proof, and a ``use_dpop_nonce`` refusal
    with a new ``DPoP-Nonce`` is retried once with that nonce (RFC 9449 8); else once."""
    if dpop is None:
        return _post_once(client, url, form, headers, secrets)[:4]
    for _ in range(2):
        sent = {**headers, HEADER: dpop.proof("POST", url)}
        status, reason, body, content_type, nonce_changed = _post_once(
            client, url, form, sent, secrets, dpop
        )
        if not (nonce_changed and status in (400, 401) and _oauth_error(body) == "use_dpop_nonce"):
            break
    return status, reason, body, content_type


def _oauth_error(body: bytes) -> str | None:
    data = loads(body)
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, str) else None


def _post_once(
    client: httpx.Client,
    url: str,
    form: Mapping[str, str | list[str]],
    headers: Mapping[str, str],
    secrets: tuple[str, ...],
    dpop: DPoPSigner | None = None,
) -> tuple[int, str, bytes, str, bool]:
    """POST once; the last item: the answer gave ``dpop`` a new nonce."""
    shown = display_url(url)
    try:
        with client.stream(
            "POST", url, data=form, headers=headers, follow_redirects=False
        ) as response:
            if 300 <= response.status_code < 400:
                location = response.headers.get("location", "")
                raise RemoteError(
                    f"{shown} answered {response.status_code} redirecting to "
                    f"{display_url(location, secrets) or '(no location)'}: not following it, "
                    "as that would resend the credentials; use the final URL",
                    reason=Reason.REDIRECT,
                )
            body = read_capped(response, url)
            content_type = response.headers.get("content-type", "")
            learnt = dpop.learn(url, response.headers) if dpop is not None else False
            return response.status_code, response.reason_phrase, body, content_type, learnt
    except httpx.InvalidURL as exc:
        raise UsageError(f"not a valid URL: {shown}") from exc
    except httpx.RequestError as exc:
        raise transport_error(exc, url, client, secrets) from exc


__all__ = [
    "ClientAuth",
    "TokenResponse",
    "client_credentials_grant",
    "password_grant",
    "post_form",
    "refresh_grant",
    "token_request",
]
