"""The provider's other endpoints: revocation (RFC 7009), introspection (RFC 7662), userinfo
(OIDC Core 5.3), pushed authorization requests (RFC 9126).

Requests go once, redirects are never followed (credentials are in them), and
whatever the server says is cleaned before it reaches a message.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from oauthcli.client.answer import clean, describe_body
from oauthcli.errors import (
    AuthenticationError,
    ExitCode,
    Reason,
    RemoteError,
    UsageError,
    exit_code_for_status,
)
from oauthcli.http import display_url

if TYPE_CHECKING:
    import httpx

    from oauthcli.client.assertion import ClientAuthentication
    from oauthcli.client.cache import CacheEntry
    from oauthcli.client.dpop_key import DPoPSigner


class UnsupportedTokenType(RemoteError):
    """The provider will not revoke this kind of token (RFC 7009 2.2.1 ``unsupported_token_type``)."""


def _json(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _error_text(data: dict[str, Any] | None, secrets: tuple[str, ...]) -> str:
    if data is None:
        return ""
    code = data.get("error")
    said = data.get("error_description")
    parts = [clean(str(code), secrets)] if isinstance(code, str) else []
    if isinstance(said, str) and said.strip():
        parts.append(f"({clean(said, secrets)})")
    return " ".join(parts)


def _authenticated_post(
    http: httpx.Client,
    url: str,
    form: dict[str, str | list[str]],
    auth: ClientAuthentication,
    secrets: tuple[str, ...],
    insecure_http: bool,
) -> tuple[int, str, bytes, str, tuple[str, ...]]:
    from oauthcli.client.grants import post_form
    from oauthcli.client.policy import check_url_safe

    check_url_safe(url, insecure_http=insecure_http)
    headers = {"Accept": "application/json"}
    secrets = tuple(s for s in (*secrets, *auth.apply(form, headers, url)) if s)
    return (*post_form(http, url, form, headers, secrets), secrets)


def revoke(
    http: httpx.Client,
    url: str,
    token: str,
    hint: str,
    auth: ClientAuthentication,
    *,
    insecure_http: bool = False,
) -> None:
    """Revoke ``token`` (``hint``: refresh_token / access_token). 200 is success, also for unknown tokens."""
    form: dict[str, str | list[str]] = {"token": token, "token_type_hint": hint}
    status, _reason, body, content_type, secrets = _authenticated_post(
        http, url, form, auth, (token,), insecure_http
    )
    if status == 200:
        return
    data = _json(body)
    said = _error_text(data, secrets) or f"HTTP {status}, {describe_body(body, content_type)}"
    code = data.get("error") if data else None
    if code == "unsupported_token_type":
        raise UnsupportedTokenType(f"the provider does not revoke {hint.replace('_', ' ')}s")
    # RFC 7009 2.2.1: the errors of RFC 6749 5.2, a refused client authentication 401.
    if exit_code_for_status(status, code, refusals=(401,)) == ExitCode.AUTH:
        raise AuthenticationError(
            f"revocation refused the client's authentication: {said}",
            reason=Reason.INVALID_CLIENT,
        )
    raise RemoteError(f"revocation at {display_url(url)} failed: {said}")


def push_authorization_request(
    http: httpx.Client,
    url: str,
    form: dict[str, str | list[str]],
    auth: ClientAuthentication,
    *,
    insecure_http: bool = False,
) -> str:
    """RFC 9126 2: push an authorization request's parameters, authenticated as at the token
    endpoint; the ``request_uri`` that stands for them at the authorization endpoint."""
    from oauthcli.client.answer import interpret

    status, reason, body, content_type, secrets = _authenticated_post(
        http, url, dict(form), auth, (), insecure_http
    )
    data = _json(body)
    if status not in (200, 201) or data is None or "error" in data:
        # the token endpoint's wording (RFC 9126 2.3 answers as it does: invalid_client ...)
        interpret(status, reason, body, content_type, grant="authorization_code", secrets=secrets)
        raise RemoteError(
            f"the pushed authorization request endpoint {display_url(url)} answered {status} "
            f"with {describe_body(body, content_type)}"
        )
    request_uri = data.get("request_uri")
    if not isinstance(request_uri, str) or not request_uri or len(request_uri) > 2000:
        raise RemoteError(f"the answer of {display_url(url)} has no request_uri (RFC 9126 2.2)")
    if any(c.isspace() or ord(c) < 0x20 for c in request_uri):
        raise RemoteError(f"the request_uri of {display_url(url)} is not a URI")
    return request_uri


def introspect(
    http: httpx.Client,
    url: str,
    token: str,
    auth: ClientAuthentication,
    *,
    insecure_http: bool = False,
) -> dict[str, Any]:
    """The RFC 7662 answer for ``token``: a JSON object with a boolean ``active``."""
    form: dict[str, str | list[str]] = {"token": token}
    status, _reason, body, content_type, secrets = _authenticated_post(
        http, url, form, auth, (token,), insecure_http
    )
    data = _json(body)
    if status == 200 and data is not None and isinstance(data.get("active"), bool):
        return data
    said = _error_text(data, secrets) or f"HTTP {status}, {describe_body(body, content_type)}"
    code = data.get("error") if data is not None and status != 200 else None
    # RFC 7662 2.3: a refused client authentication is 401 (RFC 6749 5.2's invalid_client).
    if exit_code_for_status(status, code, refusals=(401,)) == ExitCode.AUTH:
        raise AuthenticationError(
            f"introspection refused the client's authentication: {said}",
            reason=Reason.INVALID_CLIENT,
        )
    if status == 200:
        raise RemoteError(f"the introspection answer of {display_url(url)} has no boolean active")
    raise RemoteError(f"introspection at {display_url(url)} failed: {said}")


def userinfo(
    http: httpx.Client, url: str, access_token: str, dpop: DPoPSigner | None = None
) -> dict[str, Any]:
    """The userinfo claims for ``access_token`` (a JSON object; signed answers are not read);
    a DPoP-bound token is presented with a proof of ``dpop``'s key (RFC 9449 7.1)."""
    import httpx

    from oauthcli.client.bearer import BearerAuth
    from oauthcli.client.policy import check_url_safe
    from oauthcli.http import transport_error

    check_url_safe(url)
    secrets = (access_token,)
    try:
        with http.stream(
            "GET",
            url,
            headers={"Accept": "application/json"},
            auth=BearerAuth(access_token, dpop=dpop),
            follow_redirects=False,
        ) as response:
            body = response.read()
    except httpx.RequestError as exc:
        raise transport_error(exc, url, http, secrets) from exc
    status = response.status_code
    if exit_code_for_status(status) == ExitCode.AUTH:  # 401/403 (RFC 6750 3.1)
        challenge = response.headers.get("www-authenticate", "")
        said = f": {clean(challenge, secrets)}" if challenge else ""
        raise AuthenticationError(f"the userinfo endpoint refused the token (HTTP {status}){said}")
    content_type = response.headers.get("content-type", "")
    data = _json(body)
    if status != 200 or data is None:
        if "jwt" in content_type.lower():
            raise RemoteError("the userinfo answer is a signed JWT: not supported")
        raise RemoteError(
            f"the userinfo endpoint answered HTTP {status} with {describe_body(body, content_type)}"
        )
    return data


def profile_endpoint(entry: CacheEntry, name: str, profile: str) -> str:
    """The ``name`` endpoint (revocation, introspection, userinfo) the profile's login discovered.

    A login at an OpenID provider remembers every endpoint of its metadata (both the
    OpenID and the RFC 8414 document); one the provider publishes nowhere is the
    provider's lack (exit 6). Other logins (``--url``, ``--app``, the local store) know
    only a token endpoint.
    """
    url = entry.endpoints.get(name)
    if url:
        return url
    if entry.issuer:
        raise RemoteError(
            f"the provider {entry.issuer} publishes no {name} endpoint in its metadata, "
            f"so profile {profile!r} cannot use one",
            reason=Reason.UNSUPPORTED,
        )
    raise UsageError(
        f"profile {profile!r} was not logged in at an OpenID provider, so it knows no {name} "
        "endpoint: log in with --issuer-url to use it"
    )
