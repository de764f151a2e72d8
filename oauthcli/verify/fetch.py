"""Key sets and discovery documents over HTTP, through an injected ``httpx.Client``.

The client is built by ``oauthcli.http.make_client``, the same factory as the
token endpoint client's, so one policy (CA bundle, proxies, timeouts) holds for
both. Only https, or http to a loopback address; a 512 KiB cap; redirects are
not followed. A fetched JWKS is kept in memory for ``ttl`` seconds and fetched
again (at most once per unknown ``kid``, and a few times in all) when a token
names a key it lacks. Shared secrets (``oct`` keys) in a fetched set are
ignored: a published secret lets anyone sign.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from oauthcli.errors import ConfigError, RemoteError, UsageError
from oauthcli.keys import HMAC
from oauthcli.urls import is_loopback_host, redact
from oauthcli.verify.keyset import VerificationKey, keys_from_jwks, parse_json_document

if TYPE_CHECKING:
    import httpx

MAX_DOCUMENT_BYTES = 512 * 1024


def check_url(url: str, what: str) -> str:
    """Only https, or http to a loopback address (a local dev server); no credentials in it.

    Messages show the URL through ``urls.redact``: a ``user:password@`` is never repeated.
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        has_userinfo = parts.username is not None or parts.password is not None
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
    """GET ``url`` and parse JSON: (status, document or None). Network failures: ``RemoteError``."""
    import httpx  # start-up time: loaded only when a key set is actually fetched

    check_url(url, what)
    try:
        with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
            if response.is_redirect:
                raise RemoteError(
                    f"{what} {url} redirects to {response.headers.get('location', '?')!r}; "
                    "redirects are not followed: use the final URL"
                )
            if response.status_code != 200:
                return response.status_code, None
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise RemoteError(
                        f"{what} {url} is larger than {MAX_DOCUMENT_BYTES // 1024} KiB"
                    )
    except httpx.HTTPError as exc:
        raise RemoteError(f"cannot fetch {what} {url}: {exc or type(exc).__name__}") from None
    return 200, parse_json_document(bytes(body), f"{what} {url}", RemoteError)


class RemoteJWKS:
    """A JWK Set at a URL, fetched lazily, kept ``ttl`` seconds, refetched on unknown kids."""

    def __init__(
        self,
        url: str,
        client: httpx.Client,
        ttl: float = 300.0,
        max_refetches: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = check_url(url, "JWKS URL")
        self.client = client
        self.ttl = ttl
        self.max_refetches = max_refetches
        self.clock = clock
        self.fetches = 0
        self.skipped: list[str] = []
        self._keys: list[VerificationKey] | None = None
        self._fetched_at = 0.0
        self._refetched_kids: set[str] = set()

    def _fetch(self) -> list[VerificationKey]:
        self.fetches += 1
        status, doc = fetch_json(self.url, "JWKS", self.client)
        if doc is None:
            raise RemoteError(f"JWKS {self.url} answered HTTP {status}")
        try:
            keys, self.skipped = keys_from_jwks(doc, f"JWKS {self.url}")
        except ConfigError as exc:
            raise RemoteError(str(exc)) from None
        # a published key set is public: a shared secret in it would let anyone sign
        shared = [k for k in keys if k.family == HMAC]
        if shared:
            self.skipped += [
                f"{k.source}: a shared secret ('oct') published at a URL" for k in shared
            ]
            keys = [k for k in keys if k.family != HMAC]
            if not keys:
                raise RemoteError(
                    f"JWKS {self.url}: no usable signature key (only shared secrets, which "
                    "must never be published; use --secret-file)"
                )
        self._keys, self._fetched_at = keys, self.clock()
        return keys

    def keys(self) -> list[VerificationKey]:
        if self._keys is None or self.clock() - self._fetched_at > self.ttl:
            return self._fetch()
        return self._keys

    def refetch_for(self, kid: str) -> bool:
        """Fetch again because a token names ``kid``; at most once per kid and a few in all."""
        if kid in self._refetched_kids or len(self._refetched_kids) >= self.max_refetches:
            return False
        self._refetched_kids.add(kid)
        self._fetch()
        return True


@dataclass(frozen=True)
class Discovery:
    issuer: str
    jwks_uri: str
    document_url: str


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


def discover(issuer: str, client: httpx.Client) -> Discovery:
    """Find the ``jwks_uri`` of ``issuer``; the document must name exactly that issuer."""
    check_url(issuer, "issuer URL")
    tried = []
    for url in discovery_urls(issuer):
        status, doc = fetch_json(url, "discovery document", client)
        if doc is None:
            tried.append(f"{url} (HTTP {status})")
            if status in (404, 410):
                continue
            break
        if not isinstance(doc, dict):
            raise RemoteError(f"discovery document {url} is not a JSON object")
        named = doc.get("issuer")
        if named != issuer:
            raise RemoteError(
                f"discovery document {url} names issuer {str(named)[:200]!r}, not {issuer!r}; "
                "refusing it (OpenID Connect Discovery 4.3, RFC 8414 3.3)"
            )
        jwks_uri = doc.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise RemoteError(f"discovery document {url} has no jwks_uri")
        try:
            check_url(jwks_uri, "jwks_uri")
        except UsageError as exc:
            raise RemoteError(f"discovery document {url}: {exc}") from None
        return Discovery(issuer, jwks_uri, url)
    raise RemoteError(f"no discovery document for {issuer}: tried {', '.join(tried)}")
