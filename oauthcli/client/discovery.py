"""An OpenID provider's (or RFC 8414 authorization server's) endpoints, from its metadata.

The document must name exactly the issuer URL it was fetched for (OpenID Connect
Discovery 4.3, RFC 8414 3.3), as ``verify --issuer-url`` already requires; every
endpoint in it must be https, or http on this machine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from oauthcli.errors import RemoteError, UsageError
from oauthcli.verify.fetch import check_url, discovery_urls, fetch_json

# metadata member -> the name oauthcli uses (and stores in the profile)
ENDPOINTS = {
    "token_endpoint": "token",
    "authorization_endpoint": "authorization",
    "device_authorization_endpoint": "device_authorization",
    "revocation_endpoint": "revocation",
    "introspection_endpoint": "introspection",
    "userinfo_endpoint": "userinfo",
    "jwks_uri": "jwks",
}


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    endpoints: dict[str, str] = field(default_factory=dict)
    grant_types: tuple[str, ...] = ()
    code_challenge_methods: tuple[str, ...] = ()
    auth_methods: tuple[str, ...] = ()
    iss_parameter_supported: bool = False

    def endpoint(self, name: str) -> str | None:
        return self.endpoints.get(name)

    def require(self, name: str, why: str) -> str:
        url = self.endpoints.get(name)
        if url is None:
            raise RemoteError(f"the provider {self.issuer} has no {name} endpoint, needed {why}")
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
        )


def _strings(doc: dict[str, Any], name: str) -> tuple[str, ...]:
    value = doc.get(name)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def parse_metadata(doc: Any, issuer: str, where: str) -> ProviderMetadata:
    if not isinstance(doc, dict):
        raise RemoteError(f"discovery document {where} is not a JSON object")
    named = doc.get("issuer")
    if named != issuer:
        from oauthcli.client.answer import clean

        raise RemoteError(
            f"discovery document {where} names issuer {clean(str(named))!r}, not {issuer!r}; "
            "refusing it (OpenID Connect Discovery 4.3, RFC 8414 3.3)"
        )
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
    if "token" not in endpoints:
        raise RemoteError(f"discovery document {where} has no token_endpoint")
    return ProviderMetadata(
        issuer=issuer,
        endpoints=endpoints,
        grant_types=_strings(doc, "grant_types_supported"),
        code_challenge_methods=_strings(doc, "code_challenge_methods_supported"),
        auth_methods=_strings(doc, "token_endpoint_auth_methods_supported"),
        iss_parameter_supported=doc.get("authorization_response_iss_parameter_supported") is True,
    )


def discover_provider(issuer: str, client: Any) -> ProviderMetadata:
    """Fetch and check ``issuer``'s metadata through ``client`` (an ``httpx.Client``)."""
    check_url(issuer, "issuer URL")
    tried = []
    for url in discovery_urls(issuer):
        status, doc = fetch_json(url, "discovery document", client)
        if doc is None:
            tried.append(f"{url} (HTTP {status})")
            if status in (404, 410):
                continue
            break
        return parse_metadata(doc, issuer, url)
    raise RemoteError(f"no discovery document for {issuer}: tried {', '.join(tried)}")
