"""Protected resource metadata (RFC 9728): from an API's URL to the authorization server to log in at.

``login --resource-url URL`` and ``call`` (on a 401 that names metadata) come through here:

- :func:`well_known_url`: RFC 9728 3.1, the well-known suffix inserted between the host and
  the path of the resource identifier (``https://api.example/v1`` ->
  ``https://api.example/.well-known/oauth-protected-resource/v1``);
- :func:`discover_resource`: that document first; when there is none, the API itself is
  asked (no token) and a 401's ``WWW-Authenticate`` ``resource_metadata`` (RFC 9728 5.1,
  read by the one challenge parser, ``client/challenge.py``) names the document;
- :func:`read_metadata`: one document fetched with discovery's URL policy
  (``discovery.fetch_json``: https, or http to this machine; no redirects; capped) and
  checked: a JSON object whose ``resource`` is the resource identifier (RFC 9728 3.3).
  From the well-known URL the ``resource`` must be identical to the identifier it was made
  from. From a 401 it must be identical to the URL requested, or (as
  draft-ietf-oauth-rfc9728bis and the MCP clients relax 3.3) name the same origin with a
  path the URL's path lies under (``https://api.example`` for ``https://api.example/v1/me``);
  anything else is refused, so an API cannot send a client to log in for another one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from oauthcli.errors import Reason, RemoteError, UsageError
from oauthcli.text import clean

if TYPE_CHECKING:
    import httpx

WELL_KNOWN = "/.well-known/oauth-protected-resource"


@dataclass(frozen=True)
class ResourceMetadata:
    resource: str  # the resource identifier: the RFC 8707 resource to ask tokens for
    authorization_servers: tuple[str, ...]
    scopes: tuple[str, ...]
    document_url: str

    def authorization_server(self, chosen: str | None = None) -> str:
        """The issuer to log in at: ``chosen`` when it is one the resource names, else the first."""
        if not self.authorization_servers:
            raise RemoteError(
                f"the resource metadata {self.document_url} names no authorization server "
                "(RFC 9728 2 authorization_servers): pass --issuer-url",
                reason=Reason.UNSUPPORTED,
            )
        if chosen is None:
            return self.authorization_servers[0]
        if chosen.rstrip("/") not in [a.rstrip("/") for a in self.authorization_servers]:
            named = ", ".join(clean(a, 200) for a in self.authorization_servers)
            raise UsageError(
                f"--issuer-url {chosen} is not an authorization server of {self.resource} "
                f"(its metadata names {named})"
            )
        return chosen


def resource_identifier(url: str) -> str:
    """``url`` as a resource identifier (RFC 8707 2: absolute, no fragment)."""
    parts = urlsplit(url.strip())
    if parts.fragment:
        raise UsageError(f"--resource-url {url!r} must not have a #fragment (RFC 8707 2)")
    return urlunsplit(parts._replace(fragment=""))


def well_known_url(identifier: str) -> str:
    """RFC 9728 3.1: the metadata URL of a resource identifier."""
    parts = urlsplit(identifier)
    path = "" if parts.path == "/" else parts.path
    return urlunsplit(parts._replace(path=WELL_KNOWN + path, fragment=""))


def _same(a: str, b: str) -> bool:
    """Identical identifiers, but for what RFC 3986 6.2.2/6.2.3 normalisation makes equal
    (case of scheme and host, an empty path as ``/``)."""
    pa, pb = urlsplit(a), urlsplit(b)
    return (
        pa.scheme.lower() == pb.scheme.lower()
        and pa.netloc.lower() == pb.netloc.lower()
        and (pa.path or "/") == (pb.path or "/")
        and pa.query == pb.query
    )


def _covers(resource: str, url: str) -> bool:
    """``resource`` is ``url``, or the same origin with a path ``url``'s path lies under."""
    if _same(resource, url):
        return True
    pr, pu = urlsplit(resource), urlsplit(url)
    if (pr.scheme.lower(), pr.netloc.lower()) != (pu.scheme.lower(), pu.netloc.lower()):
        return False
    if pr.query:
        return False
    base = pr.path.rstrip("/")
    return pu.path == base or pu.path.startswith(base + "/")


def read_metadata(
    url: str, http: httpx.Client, *, expected: str, prefix_ok: bool = False
) -> ResourceMetadata | None:
    """The document at ``url`` for the resource ``expected`` (see the module docstring);
    ``None`` when there is none there (404/410)."""
    from oauthcli.client.discovery import fetch_json

    status, doc = fetch_json(url, "protected resource metadata", http)
    if doc is None:
        if status in (404, 410):
            return None
        raise RemoteError(
            f"protected resource metadata {clean(url, 300)} answered HTTP {status}",
            reason=Reason.HTTP_STATUS,
        )
    if not isinstance(doc, dict):
        raise RemoteError(f"protected resource metadata {clean(url, 300)} is not a JSON object")
    resource = doc.get("resource")
    matches = _covers if prefix_ok else _same
    if not isinstance(resource, str) or not matches(resource, expected):
        raise RemoteError(
            f"protected resource metadata {clean(url, 300)} is for "
            f"{clean(str(resource), 200)!r}, not {clean(expected, 300)!r}: refusing it "
            "(RFC 9728 3.3)",
            reason=Reason.ISSUER,
        )
    return ResourceMetadata(
        resource=resource,
        authorization_servers=_strings(doc, "authorization_servers"),
        scopes=_strings(doc, "scopes_supported"),
        document_url=url,
    )


def _strings(doc: dict[str, Any], name: str) -> tuple[str, ...]:
    value = doc.get(name)
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def challenge_metadata_url(www_authenticate: str) -> str | None:
    """The ``resource_metadata`` a Bearer or DPoP challenge names (RFC 9728 5.1)."""
    from oauthcli.client.challenge import parse

    for challenge in parse(www_authenticate):
        if challenge.scheme.lower() in ("bearer", "dpop"):
            found = challenge.param("resource_metadata")
            if found:
                return found
    return None


def discover_resource(url: str, http: httpx.Client) -> ResourceMetadata:
    """The metadata of the API at ``url``: its well-known document, else the one its 401 names."""
    from oauthcli.client.discovery import check_url
    from oauthcli.http import display_url, transport_error

    identifier = resource_identifier(url)
    check_url(identifier, "--resource-url")
    found = read_metadata(well_known_url(identifier), http, expected=identifier)
    if found is not None:
        return found
    import httpx

    try:  # only the status and headers matter: the body is never read
        with http.stream("GET", identifier, headers={"Accept": "application/json"}) as answer:
            status, challenge = answer.status_code, answer.headers.get("www-authenticate", "")
    except httpx.RequestError as exc:
        raise transport_error(exc, identifier, http) from exc
    named = challenge_metadata_url(challenge)
    if status != 401 or named is None:
        raise RemoteError(
            f"{display_url(identifier)} publishes no protected resource metadata (RFC 9728): "
            f"no {WELL_KNOWN} document, and it answered HTTP {status} without "
            "resource_metadata; log in with --issuer-url",
            reason=Reason.UNSUPPORTED,
        )
    check_url(named, "resource_metadata")
    found = read_metadata(named, http, expected=identifier, prefix_ok=True)
    if found is None:
        raise RemoteError(
            f"the resource_metadata {clean(named, 300)} named by {display_url(identifier)} "
            "is not there (HTTP 404)",
            reason=Reason.HTTP_STATUS,
        )
    return found
