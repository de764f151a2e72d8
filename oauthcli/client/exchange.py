"""``oauthcli exchange``: token exchange (RFC 8693) at a provider, cached as a profile.

The provider is found by discovery (``--issuer-url``) and the client authenticates as in
every login (``oidc_login.client_authentication``: basic, post, private-key-jwt, none); the
answer becomes a cache entry as every login's does (``CacheEntry.from_token_response``,
through ``oidc_login.cache_entry``). It must name ``issued_token_type`` (2.2.1).

The subject token never travels on argv, and is never printed, logged or cached: it is
masked in every message (the token request's ``secrets``). ``github_actions_token`` fetches
a GitHub Actions job's OIDC token (``ACTIONS_ID_TOKEN_REQUEST_URL`` with ``&audience=``,
``Authorization: bearer ACTIONS_ID_TOKEN_REQUEST_TOKEN``), held only in memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from oauthcli.errors import ConfigError, Reason, RemoteError, UsageError

if TYPE_CHECKING:
    import httpx

    from oauthcli.client.cache import CacheEntry
    from oauthcli.client.oidc_login import ProviderLogin

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"  # RFC 8693 2.1
TYPE_PREFIX = "urn:ietf:params:oauth:token-type:"  # RFC 8693 3
SHORT_TYPES = ("access_token", "refresh_token", "id_token", "jwt", "saml1", "saml2")
ISSUED_ACCESS = (TYPE_PREFIX + "access_token", TYPE_PREFIX + "jwt")


def token_type(value: str, option: str) -> str:
    """A token type URI (RFC 8693 3), from a short name (``jwt``) or the URI itself."""
    if value in SHORT_TYPES:
        return TYPE_PREFIX + value
    if ":" in value and not any(c.isspace() for c in value):
        return value
    raise UsageError(f"{option} must be one of {', '.join(SHORT_TYPES)} or a token type URI")


@dataclass(frozen=True)
class Exchange:
    subject_token: str = field(repr=False)
    subject_token_type: str
    actor_token: str | None = field(default=None, repr=False)
    actor_token_type: str | None = None
    audience: str | None = None


def exchange(http: httpx.Client, login: ProviderLogin, request: Exchange) -> CacheEntry:
    """RFC 8693 2.1 at ``login.issuer``'s token endpoint; the entry to cache."""
    from oauthcli.claims import scope_string
    from oauthcli.client import grants as remote
    from oauthcli.client.authcode import token_resource
    from oauthcli.client.oidc_login import at_provider, cache_entry

    metadata, token_url, auth = at_provider(http, login, "exchange", "to exchange the token")
    form: dict[str, str | list[str]] = {
        "grant_type": GRANT,
        "subject_token": request.subject_token,
        "subject_token_type": request.subject_token_type,
        "requested_token_type": TYPE_PREFIX + "access_token",
    }
    if request.actor_token is not None and request.actor_token_type is not None:
        form["actor_token"] = request.actor_token
        form["actor_token_type"] = request.actor_token_type
    if request.audience:
        form["audience"] = request.audience
    form.update(token_resource({"resource": login.resources} if login.resources else {}))
    scope = scope_string(login.scopes)
    secrets = tuple(t for t in (request.subject_token, request.actor_token) if t)
    response = remote.token_request(
        http,
        token_url,
        form,
        auth,
        scopes=scope or None,
        grant="token_exchange",
        secrets=secrets,
        insecure_http=login.insecure_http,
    )
    issued = response.raw.get("issued_token_type")
    if issued not in ISSUED_ACCESS:
        raise RemoteError(
            "the token exchange answer's issued_token_type is not an access token (RFC 8693 2.2.1)",
            reason=Reason.BAD_ANSWER,
        )
    return cache_entry(login, metadata, auth, "token-exchange", scope, response, {})


def github_actions_token(http: httpx.Client, audience: str) -> str:
    """The job's OIDC token (GitHub Actions), for ``audience``; never shown anywhere."""
    import httpx as _httpx

    from oauthcli import settings
    from oauthcli.client.discovery import check_url
    from oauthcli.client.secret import register
    from oauthcli.http import display_url, read_capped, transport_error
    from oauthcli.text import is_header_safe

    url, bearer = settings.github_actions_id_token_request()
    if not url or not bearer:
        raise ConfigError(
            "--subject-token-source github-actions needs ACTIONS_ID_TOKEN_REQUEST_URL and "
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN, which GitHub Actions sets in a job with "
            "'permissions: id-token: write'"
        )
    register(bearer)  # masked in --debug output too
    if not is_header_safe(bearer):  # it goes into an Authorization header
        raise ConfigError("ACTIONS_ID_TOKEN_REQUEST_TOKEN does not hold a token (visible ASCII)")
    check_url(url, "ACTIONS_ID_TOKEN_REQUEST_URL")
    full = url + ("&" if "?" in url else "?") + urlencode({"audience": audience})
    headers = {"Authorization": f"bearer {bearer}", "Accept": "application/json"}
    try:
        with http.stream("GET", full, headers=headers, follow_redirects=False) as answer:
            status = answer.status_code
            body = read_capped(answer, full) if status == 200 else b""
    except _httpx.RequestError as exc:
        raise transport_error(exc, full, http, (bearer,)) from exc
    if status != 200:
        raise RemoteError(
            f"the GitHub Actions token endpoint {display_url(url, (bearer,))} answered HTTP "
            f"{status}",
            reason=Reason.HTTP_STATUS,
        )
    try:
        value = json.loads(body).get("value")
    except (ValueError, UnicodeDecodeError, AttributeError):
        value = None
    if not isinstance(value, str) or not value:
        raise RemoteError(
            "the GitHub Actions token endpoint answered without a token (JSON 'value')",
            reason=Reason.BAD_ANSWER,
        )
    return register(value)
