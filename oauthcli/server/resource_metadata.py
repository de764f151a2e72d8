"""Protected resource metadata (RFC 9728) for serve's own API: ``/users/me`` and ``/userinfo``.

The API's resource identifier is the server's public base URL (``ServerContext.public_base``:
the configured ``[issuer] issuer`` URL, else the bound address), so its document is at
``/.well-known/oauth-protected-resource`` (RFC 9728 3.1: the well-known suffix inserted
before the identifier's path, which is empty). It names this server as the authorization
server, the scopes, how tokens are sent, and DPoP. Every 401 of the API carries
``resource_metadata="<that URL>"`` in its challenge (RFC 9728 5.1), beside the RFC 6750
parameters; the body stays the tutorial's.

``serve`` accepts its own identifier as an RFC 8707 ``resource`` (``own_resource`` is added
to the resources ``IssuerSettings.audience_for`` knows) and ``/users/me`` accepts a token
whose ``aud`` is it, so a client that found the server through this document can log in
with ``resource`` set.
"""

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from oauthcli.dpop import ALGORITHMS as DPOP_ALGORITHMS
from oauthcli.server import docs
from oauthcli.server.context import ServerContext
from oauthcli.server.discovery import MetadataDocument

PATH = "/.well-known/oauth-protected-resource"


def own_resource(configured_issuer: str | None, server_url: str | None) -> str | None:
    """The API's resource identifier when it does not depend on the request: the configured
    issuer URL, else the address serve is bound to (``None`` in-process)."""
    for url in (configured_issuer, server_url):
        if url and url.startswith(("https://", "http://")):
            return url.rstrip("/")
    return None


def metadata_url(ctx: ServerContext, request: Any) -> str:
    """Where the document is (``resource_metadata`` of the API's challenges)."""
    return ctx.public_base(request) + PATH


def with_metadata(challenge: str, url: str) -> str:
    """A ``WWW-Authenticate`` challenge with ``resource_metadata`` added (RFC 9728 5.1)."""
    scheme, _, params = challenge.partition(" ")
    added = f'resource_metadata="{url}"'
    return f"{scheme} {params}, {added}" if params else f"{scheme} {added}"


def document(ctx: ServerContext, base: str) -> dict[str, Any]:
    """RFC 9728 2: the metadata of the API whose identifier is ``base``."""
    issuer = ctx.issuer or base
    doc: dict[str, Any] = {
        "resource": base,
        "scopes_supported": ctx.live.scopes(),
        "bearer_methods_supported": ["header"],  # RFC 6750 2.1 only
        "resource_documentation": base + docs.DOCS_PATH,
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
        "dpop_bound_access_tokens_required": ctx.provider.require_dpop,
    }
    if issuer.startswith(("https://", "http://")):
        doc["authorization_servers"] = [issuer]
    return doc


def router(ctx: ServerContext) -> APIRouter:
    routes = APIRouter(tags=["discovery"])
    metadata = MetadataDocument(ctx, document)

    @routes.get(PATH)
    async def protected_resource_metadata(request: Request) -> Any:
        """RFC 9728 protected resource metadata of /users/me and /userinfo."""
        return Response(metadata.render(ctx.public_base(request)), media_type="application/json")

    return routes
