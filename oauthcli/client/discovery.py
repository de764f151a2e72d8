"""Discovery and public documents over HTTP: the one place oauthcli fetches a provider's metadata.

``login --issuer-url``, ``verify --issuer-url``/``--jwks URL``, ``introspect``, ``revoke``
and ``userinfo`` all come through here:

- :func:`check_url`: the URL policy for a public document: https, or http to this
  machine; no credentials in it (they would be sent and shown);
- :func:`fetch_json`: one GET through the injected ``oauthcli.http.make_client`` client,
  redirects refused, the body capped (``http.read_capped``), failures worded by
  ``http.transport_error`` (reason ``timeout``/``tls_verify``/``connect``..., so the
  commands add their ``--cacert`` hint);
- :func:`discover_provider`: OpenID Connect Discovery 1.0 and RFC 8414 metadata as one
  ``ProviderMetadata``. The first document found must name exactly the issuer URL it was
  fetched for (OpenID Connect Discovery 4.3, RFC 8414 3.3). Providers publish different
  documents at the two well-known URLs (django-oauth-toolkit's OpenID document omits the
  revocation and introspection endpoints its RFC 8414 one lists), so an endpoint the first
  lacks is taken from the other, and only from one naming the identical issuer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from oauthcli.errors import Reason, RemoteError, UsageError
from oauthcli.http import display_url, read_capped, transport_error
from oauthcli.text import clean
from oauthcli.urls import is_loopback_host, redact

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("oauthcli.http")

# A key set or metadata document is small; a bigger one is a wrong URL or a hostile server.
MAX_DOCUMENT_BYTES = 512 * 1024

# metadata member -> the name oauthcli uses (and stores in the profile)
ENDPOINTS = {
    "token_endpoint": "token",
    "authorization_endpoint": "authorization",
    "device_authorization_endpoint": "device_authorization",
    "revocation_endpoint": "revocation",
    "introspection_endpoint": "introspection",
    "userinfo_endpoint": "userinfo",
    "jwks_uri": "jwks",
    "pushed_authorization_request_endpoint": "par",  # RFC 9126 5
}


def check_url(url: str, what: str) -> str:
    """Only https, or http to a loopback address (a local dev server); no credentials in it.

    Messages show the URL through ``urls.redact``: a ``user:password@`` is never repeated.
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        has_userinfo = parts.username is not None or parts.password is not None
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:  # a bad port or IPv6 literal
        raise UsageError(f"{what} {redact(url)!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise UsageError(f"{what} {redact(url)!r} is not an http(s) URL")
    if has_userinfo:
        # a key set and a discovery document are public: credentials in the URL would be
        # sent (HTTP Basic) to wherever it points, and shown in every message naming it
        raise UsageError(f"{what} {redact(url)} must not carry credentials (user:password@)")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise UsageError(f"{what} {url} must use https (plain http only to localhost)")
    return url


def fetch_json(url: str, what: str, client: httpx.Client) -> tuple[int, Any]:
    """GET a public document at ``url`` (checked by :func:`check_url`) and parse JSON:
    ``(status, document)``, the document None unless 200.

    Network failures, redirects, oversized or non-JSON bodies: ``RemoteError``.
    """
    check_url(url, what)
    return get_json(url, what, client)


def get_json(
    url: str, what: str, client: httpx.Client, limit: int = MAX_DOCUMENT_BYTES
) -> tuple[int, Any]:
    """:func:`fetch_json` for a URL the caller has checked by its own policy (``login --app``
    fetches the document that decides where a password goes as it would send the password)."""
    import httpx  # start-up time: loaded only when a document is actually fetched

    shown = display_url(url)
    try:
        with client.stream(
            "GET", url, headers={"Accept": "application/json"}, follow_redirects=False
        ) as response:
            if response.is_redirect:
                location = display_url(response.headers.get("location", "")) or "?"
                raise RemoteError(
                    f"{what} {shown} redirects to {location!r}; "
                    "redirects are not followed: use the final URL",
                    reason=Reason.REDIRECT,
                )
            if response.status_code != 200:
                return response.status_code, None
            body = read_capped(response, url, limit)
    except httpx.InvalidURL as exc:
        raise UsageError(f"not a valid URL: {shown}") from exc
    except httpx.RequestError as exc:
        raise transport_error(exc, url, client) from exc
    try:
        return 200, json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise RemoteError(f"{what} {shown} is not JSON", reason=Reason.BAD_ANSWER) from None


def discovery_urls(issuer: str) -> list[str]:
    """OpenID Connect Discovery 1.0 first, then RFC 8414 (well-known before the path)."""
    parts = urlsplit(issuer)
    base = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    urls = [f"{issuer.rstrip('/')}/.well-known/openid-configuration"]
    urls.append(f"{base}/.well-known/oauth-authorization-server{path}")
    if path:
        urls.append(f"{issuer.rstrip('/')}/.well-known/oauth-authorization-server")
    return list(dict.fromkeys(urls))


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    endpoints: dict[str, str] = field(default_factory=dict)
    grant_types: tuple[str, ...] = ()
    code_challenge_methods: tuple[str, ...] = ()
    auth_methods: tuple[str, ...] = ()
    iss_parameter_supported: bool = False
    document_url: str = ""  # where the (first) document was found
    # RFC 9126 5: the authorization endpoint takes pushed requests only
    require_par: bool = False

    def endpoint(self, name: str) -> str | None:
        return self.endpoints.get(name)

    def require(self, name: str, why: str) -> str:
        url = self.endpoints.get(name)
        if url is None:
            raise RemoteError(
                f"the provider {self.issuer} publishes no {name} endpoint, needed {why}",
                reason=Reason.UNSUPPORTED,
            )
        return url

    def offers_grant(self, grant_type: str) -> bool:
        # RFC 8414 2: grant_types_supported defaults to authorization_code and implicit.
        offered = self.grant_types or ("authorization_code", "implicit")
        if grant_type == "authorization_code" and "authorization" not in self.endpoints:
            return False
        return grant_type in offered

    def to_profile(self) -> dict[str, Any]:
        """What the profile remembers (plain JSON)."""
        data = asdict(self)
        for key in ("grant_types", "code_challenge_methods", "auth_methods"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_profile(cls, data: dict[str, Any]) -> ProviderMetadata:
        return cls(
            issuer=str(data.get("issuer", "")),
            endpoints={str(k): str(v) for k, v in dict(data.get("endpoints") or {}).items()},
            grant_types=tuple(data.get("grant_types") or ()),
            code_challenge_methods=tuple(data.get("code_challenge_methods") or ()),
            auth_methods=tuple(data.get("auth_methods") or ()),
            iss_parameter_supported=bool(data.get("iss_parameter_supported")),
            document_url=str(data.get("document_url") or ""),
            require_par=bool(data.get("require_par")),
        )


def _strings(doc: dict[str, Any], name: str) -> tuple[str, ...]:
    value = doc.get(name)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def _check_issuer(doc: Any, issuer: str, where: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise RemoteError(
            f"discovery document {where} is not a JSON object", reason=Reason.BAD_ANSWER
        )
    named = doc.get("issuer")
    if named != issuer:
        raise RemoteError(
            f"discovery document {where} names issuer {clean(str(named), 200)!r}, not "
            f"{issuer!r}; refusing it (OpenID Connect Discovery 4.3, RFC 8414 3.3)",
            reason=Reason.ISSUER,
        )
    return doc


def _endpoints(doc: dict[str, Any], where: str) -> dict[str, str]:
    endpoints: dict[str, str] = {}
    for member, name in ENDPOINTS.items():
        url = doc.get(member)
        if url is None:
            continue
        if not isinstance(url, str):
            raise RemoteError(f"discovery document {where}: {member} is not a string")
        try:
            endpoints[name] = check_url(url, member)
        except UsageError as exc:
            raise RemoteError(f"discovery document {where}: {exc}") from None
    return endpoints


def parse_metadata(doc: Any, issuer: str, where: str) -> ProviderMetadata:
    """One discovery document, checked: it names ``issuer``; every endpoint passes ``check_url``."""
    doc = _check_issuer(doc, issuer, where)
    return ProviderMetadata(
        issuer=issuer,
        endpoints=_endpoints(doc, where),
        grant_types=_strings(doc, "grant_types_supported"),
        code_challenge_methods=_strings(doc, "code_challenge_methods_supported"),
        auth_methods=_strings(doc, "token_endpoint_auth_methods_supported"),
        iss_parameter_supported=doc.get("authorization_response_iss_parameter_supported") is True,
        document_url=where,
        require_par=doc.get("require_pushed_authorization_requests") is True,
    )


def discover_provider(
    issuer: str, client: httpx.Client, wanted: Iterable[str] = ENDPOINTS.values()
) -> ProviderMetadata:
    """Fetch and check ``issuer``'s metadata through ``client`` (an ``httpx.Client``).

    The first document found (OpenID, then RFC 8414) decides; when it lacks one of the
    ``wanted`` endpoints (all of them: a login remembers every one), the other documents
    are read too, and their endpoints are added only where they name the identical issuer
    (a document of another issuer is ignored, never trusted).
    """
    check_url(issuer, "issuer URL")
    tried = []
    urls = discovery_urls(issuer)
    for index, url in enumerate(urls):
        status, doc = fetch_json(url, "discovery document", client)
        if doc is None:
            tried.append(f"{display_url(url)} (HTTP {status})")
            if status in (404, 410):
                continue
            break
        metadata = parse_metadata(doc, issuer, url)
        return _completed(metadata, urls[index + 1 :], client, set(wanted))
    raise RemoteError(
        f"no discovery document for {issuer}: tried {', '.join(tried)}", reason=Reason.HTTP_STATUS
    )


def _completed(
    metadata: ProviderMetadata, others: list[str], client: httpx.Client, wanted: set[str]
) -> ProviderMetadata:
    """``metadata`` with the ``wanted`` endpoints it lacks taken from ``others`` of the same issuer."""
    endpoints = dict(metadata.endpoints)
    for url in others:
        if wanted <= set(endpoints):
            break
        try:
            _status, doc = fetch_json(url, "discovery document", client)
            if doc is None:
                continue
            more = _endpoints(_check_issuer(doc, metadata.issuer, url), url)
        except RemoteError as exc:  # the first document stands; this one adds nothing
            log.debug("ignoring %s: %s", display_url(url), exc)
            continue
        for name, value in more.items():
            endpoints.setdefault(name, value)
    if endpoints == metadata.endpoints:
        return metadata
    from dataclasses import replace

    return replace(metadata, endpoints=endpoints)
