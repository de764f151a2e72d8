"""Find how to log in to an app from its OpenAPI document (``oauthcli login --app URL``).

A FastAPI app publishes ``/openapi.json``; its ``components.securitySchemes`` holds
an ``oauth2`` scheme per ``OAuth2PasswordBearer`` / ``OAuth2AuthorizationCodeBearer``
with the flows' URLs and the scopes the app knows (OpenAPI 3.1 section 4.8.27-29,
"OAuth Flows Object"). Relative URLs are resolved against the first Server Object's
URL, itself relative to the document (section 4.8.5: no ``servers`` means ``/``),
so FastAPI's ``tokenUrl="token"`` becomes ``http://app/token``.

Network access goes through the caller's ``httpx.Client`` (``oauthcli.http.make_client``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from oauthcli.client.answer import clean
from oauthcli.errors import Reason, RemoteError, UsageError
from oauthcli.http import MAX_BODY_BYTES, display_url

# OpenAPI flow names, in the order ``login --app`` prefers them.
FLOW_NAMES = ("password", "clientCredentials", "authorizationCode", "implicit")


@dataclass(frozen=True)
class OAuthFlow:
    name: str
    token_url: str | None = None
    authorization_url: str | None = None
    refresh_url: str | None = None
    scopes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OAuthScheme:
    name: str
    flows: dict[str, OAuthFlow]

    @property
    def scopes(self) -> dict[str, str]:
        """Every scope any of the scheme's flows names, with its description."""
        merged: dict[str, str] = {}
        for flow in self.flows.values():
            for scope, text in flow.scopes.items():
                merged.setdefault(scope, text)
        return merged

    def flow_for(self, grant: str) -> OAuthFlow:
        """The flow ``login`` runs for ``grant`` ("password" or "client-credentials")."""
        wanted = {"password": "password", "client-credentials": "clientCredentials"}[grant]
        flow = self.flows.get(wanted)
        if flow is not None and flow.token_url:
            return flow
        offered = ", ".join(self.flows) or "none"
        hint = ""
        code = self.flows.get("authorizationCode")
        if code is not None:
            hint = (
                f"; its authorization-code flow authorizes at {display_url(code.authorization_url or '?')}"
                f" and redeems codes at {display_url(code.token_url or '?')}"
            )
        raise UsageError(
            f"the app's OAuth2 scheme {clean(self.name)!r} has no {wanted} flow "
            f"(it offers: {clean(offered)}){hint}"
        )


@dataclass(frozen=True)
class AppAuth:
    document_url: str
    scheme: OAuthScheme


def document_url(app_url: str) -> str:
    """The OpenAPI document of ``app_url``: the URL itself when it names a ``.json`` file."""
    url = app_url.strip()
    parts = urlsplit(url)
    if parts.path.endswith(".json"):
        return url
    base = parts._replace(query="", fragment="").geturl()
    return base.rstrip("/") + "/openapi.json"


def fetch_document(client: httpx.Client, url: str) -> dict[str, Any]:
    """GET the OpenAPI document (as every public document: ``discovery.get_json``) as a JSON object."""
    from oauthcli.client.discovery import get_json

    shown = display_url(url)
    # an app's whole API is described there: up to the client's 1 MiB answer cap
    status, doc = get_json(url, "the OpenAPI document", client, MAX_BODY_BYTES)
    if doc is None:
        raise RemoteError(
            f"{shown} answered HTTP {status}: no OpenAPI document there "
            "(give the app's base URL or the document's URL)",
            reason=Reason.HTTP_STATUS,
        )
    if not isinstance(doc, dict) or not ("openapi" in doc or "swagger" in doc):
        raise RemoteError(f"{shown} is JSON but not an OpenAPI document (no 'openapi' field)")
    return doc


def _base_url(doc: dict[str, Any], doc_url: str) -> str:
    """Where relative URLs point: the first server's URL (default ``/``), with a trailing slash."""
    servers = doc.get("servers")
    server = "/"
    if isinstance(servers, list) and servers and isinstance(servers[0], dict):
        candidate = servers[0].get("url")
        if isinstance(candidate, str) and candidate and "{" not in candidate:
            server = candidate
    base = urljoin(doc_url, server)
    return base if base.endswith("/") else base + "/"


def _url(value: Any, base: str) -> str | None:
    return urljoin(base, value.strip()) if isinstance(value, str) and value.strip() else None


def oauth2_schemes(doc: dict[str, Any], doc_url: str) -> list[OAuthScheme]:
    """The document's ``oauth2`` security schemes, URLs made absolute."""
    components = doc.get("components")
    schemes = components.get("securitySchemes") if isinstance(components, dict) else None
    if not isinstance(schemes, dict):
        return []
    base = _base_url(doc, doc_url)
    found = []
    for name, scheme in schemes.items():
        if not isinstance(scheme, dict) or scheme.get("type") != "oauth2":
            continue
        raw_flows = scheme.get("flows")
        flows: dict[str, OAuthFlow] = {}
        for flow_name in FLOW_NAMES:
            raw = raw_flows.get(flow_name) if isinstance(raw_flows, dict) else None
            if not isinstance(raw, dict):
                continue
            scopes = raw.get("scopes")
            flows[flow_name] = OAuthFlow(
                name=flow_name,
                token_url=_url(raw.get("tokenUrl"), base),
                authorization_url=_url(raw.get("authorizationUrl"), base),
                refresh_url=_url(raw.get("refreshUrl"), base),
                scopes={
                    str(k): str(v) for k, v in (scopes.items() if isinstance(scopes, dict) else [])
                },
            )
        found.append(OAuthScheme(str(name), flows))
    return found


def choose_scheme(schemes: list[OAuthScheme], wanted: str | None, shown_url: str) -> OAuthScheme:
    """The one scheme to log in with: the only one, or the one named ``wanted``."""
    names = ", ".join(clean(s.name) for s in schemes)
    if wanted is not None:
        for scheme in schemes:
            if scheme.name == wanted:
                return scheme
        raise UsageError(
            f"the app at {shown_url} has no OAuth2 scheme {clean(wanted)!r} (it has: {names or 'none'})"
        )
    if not schemes:
        raise RemoteError(
            f"the app at {shown_url} declares no OAuth2 security scheme in its OpenAPI document "
            "(use --url with its token endpoint instead)"
        )
    if len(schemes) > 1:
        raise UsageError(
            f"the app at {shown_url} declares {len(schemes)} OAuth2 schemes ({names}): "
            "choose one with --app-scheme NAME"
        )
    return schemes[0]


def discover(client: httpx.Client, app_url: str, scheme: str | None = None) -> AppAuth:
    """Fetch ``app_url``'s OpenAPI document and pick its OAuth2 scheme."""
    url = document_url(app_url)
    doc = fetch_document(client, url)
    return AppAuth(url, choose_scheme(oauth2_schemes(doc, url), scheme, display_url(app_url)))
