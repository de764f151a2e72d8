"""Clients registered at ``/register`` (RFC 7591): their metadata rules and their record.

A leaf of the server package (``ServerContext.with_registered`` reads records through it):
registered clients live in the server state as ``registered_client`` records keyed by
client id, never in the TOML store. Secrets and registration access tokens are kept
hashed: a generated secret as ``passwords.hash_generated_secret`` (as ``client add``
does), the registration access token as a SHA-256 digest.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from oauthcli.errors import StoreError, UsageError
from oauthcli.store import Client, check_client_jwks, validate_redirect_uri

REGISTERED = "registered_client"  # ctx.records kind (oauthcli.state.contract.KINDS)
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials", DEVICE_GRANT)
RESPONSE_TYPES = ("code",)
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
# Human-readable metadata kept and echoed as given (RFC 7591 2; OIDC Registration 2).
_STRINGS = ("client_name", "client_uri", "logo_uri", "tos_uri", "policy_uri", "software_id",
            "software_version")  # fmt: skip
_PRIVATE_SCHEME = re.compile(r"[a-z][a-z0-9+-]*\.[a-z0-9+.-]+")


class InvalidMetadata(Exception):
    """An RFC 7591 3.2.2 error: ``invalid_redirect_uri`` or ``invalid_client_metadata``."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error, self.description = error, description


def _bad(description: str) -> InvalidMetadata:
    return InvalidMetadata("invalid_client_metadata", description)


def _strings(body: dict[str, Any], name: str, default: list[str]) -> list[str]:
    value = body.get(name, default)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _bad(f"{name} must be an array of strings")
    if len(value) > 20:
        raise _bad(f"{name} holds more than 20 values")
    return list(dict.fromkeys(value))


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_redirect_uri(uri: str, application_type: str) -> None:
    """RFC 6749 3.1.2 (absolute, no fragment) and RFC 8252 for native apps: a loopback IP
    literal over http (7.3; not ``localhost``, 8.3), a private-use scheme in reverse-domain
    form (7.1), or https (7.2). A web client: https, or http on a loopback host (development)."""
    try:
        validate_redirect_uri(uri)
    except UsageError as exc:
        raise InvalidMetadata("invalid_redirect_uri", str(exc)) from None
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if parts.scheme == "https":
        return
    if parts.scheme == "http":
        if _loopback(host) or (application_type == "web" and host == "localhost"):
            return
        raise InvalidMetadata(
            "invalid_redirect_uri",
            f"redirect URI {uri!r}: http only on a loopback address (127.0.0.1 or [::1]; "
            "RFC 8252 7.3 and 8.3), else https",
        )
    if application_type == "native" and _PRIVATE_SCHEME.fullmatch(parts.scheme):
        return
    raise InvalidMetadata(
        "invalid_redirect_uri",
        f"redirect URI {uri!r}: a native client's private-use scheme is a reverse domain name "
        "(com.example.app:/cb, RFC 8252 7.1); a web client uses https",
    )


def _grants(body: dict[str, Any], method: str) -> tuple[list[str], list[str]]:
    """``grant_types`` and ``response_types``, supported and consistent (RFC 7591 2.1)."""
    grant_types = _strings(body, "grant_types", ["authorization_code"])
    unknown = [g for g in grant_types if g not in GRANT_TYPES]
    if unknown:
        raise _bad(f"grant_types: {unknown[0][:80]!r} is not supported here")
    # RFC 7591 2: response_types defaults to code; for a client without the code grant, none.
    default_response = ["code"] if "authorization_code" in grant_types else []
    response_types = _strings(body, "response_types", default_response)
    if any(r not in RESPONSE_TYPES for r in response_types):
        raise _bad("response_types: only code is supported")
    # RFC 7591 2.1: the code response type goes with the authorization_code grant.
    if ("code" in response_types) != ("authorization_code" in grant_types):
        raise _bad("response_types code and grant_types authorization_code go together")
    if method == "none" and "client_credentials" in grant_types:
        raise _bad(
            "a public client (token_endpoint_auth_method none) cannot use client_credentials"
        )
    return grant_types, response_types


def _jwks(body: dict[str, Any], method: str) -> dict[str, Any] | None:
    """The client's public keys, for ``private_key_jwt`` and only for it."""
    if "jwks_uri" in body:
        raise _bad("jwks_uri is not supported here: send the public keys in jwks")
    jwks = body.get("jwks")
    if (method == "private_key_jwt") != (jwks is not None):
        raise _bad("jwks (the client's public keys) goes with private_key_jwt, and only with it")
    if jwks is None:
        return None
    if not isinstance(jwks, dict):
        raise _bad("jwks must be a JWK Set (a JSON object with keys)")
    try:
        check_client_jwks("jwks", jwks)
    except StoreError as exc:
        raise _bad(str(exc)) from None
    return jwks


def _descriptive(body: dict[str, Any]) -> dict[str, Any]:
    """Names, URIs and contacts for people, kept as given."""
    found: dict[str, Any] = {}
    for name in _STRINGS:
        value = body.get(name)
        if value is not None:
            if not isinstance(value, str) or len(value) > 500:
                raise _bad(f"{name} must be a string of at most 500 characters")
            found[name] = value
    if "contacts" in body:
        found["contacts"] = _strings(body, "contacts", [])
    return found


def validate_metadata(body: Any, known_scopes: list[str]) -> dict[str, Any]:
    """The client metadata of a registration request (RFC 7591 2), with its defaults;
    ``InvalidMetadata`` for what cannot be registered."""
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object")
    method = body.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        raise _bad(f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}")
    grant_types, response_types = _grants(body, method)
    application_type = body.get("application_type", "web")
    if application_type not in ("web", "native"):
        raise _bad("application_type must be web or native")
    redirect_uris = _strings(body, "redirect_uris", [])
    if "authorization_code" in grant_types and not redirect_uris:
        raise InvalidMetadata(
            "invalid_redirect_uri", "redirect_uris is required for the authorization_code grant"
        )
    logout_uris = _strings(body, "post_logout_redirect_uris", [])
    for uri in [*redirect_uris, *logout_uris]:
        check_redirect_uri(uri, application_type)
    jwks = _jwks(body, method)
    scope = body.get("scope", "")
    if not isinstance(scope, str):
        raise _bad("scope must be a string of space-separated scopes")
    # RFC 7591 2: the server may grant fewer scopes than asked; the response says which.
    scopes = [s for s in dict.fromkeys(scope.split()) if s in known_scopes]
    metadata: dict[str, Any] = {
        "token_endpoint_auth_method": method,
        "grant_types": grant_types,
        "response_types": response_types,
        "application_type": application_type,
        "redirect_uris": redirect_uris,
        "scope": " ".join(scopes),
    }
    if logout_uris:
        metadata["post_logout_redirect_uris"] = logout_uris
    if jwks is not None:
        metadata["jwks"] = jwks
    return {**metadata, **_descriptive(body)}


def client_of(record: dict[str, Any]) -> Client:
    """The ``Client`` a registration record stands for (as a ``[clients.ID]`` table would)."""
    method = record.get("token_endpoint_auth_method")
    return Client(
        client_id=str(record["client_id"]),
        hashed_secret=str(record.get("hashed_secret") or ""),
        scopes=str(record.get("scope") or "").split(),
        public=method == "none",
        redirect_uris=list(record.get("redirect_uris") or []),
        jwks=record.get("jwks") if method == "private_key_jwt" else None,
        post_logout_redirect_uris=list(record.get("post_logout_redirect_uris") or []),
        grant_types=[str(g) for g in record.get("grant_types") or []],
    )
