"""What every grant module shares: the registry's ``Grant`` entry and RFC 6749 5.2 errors."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from oauthcli.errors import AuthenticationError, Reason
from oauthcli.server.client_auth import Policy
from oauthcli.server.context import ServerContext
from oauthcli.server.oauth import Form, OAuthError, invalid_client
from oauthcli.store import Client

log = logging.getLogger("oauthcli.server")

# (request, context, form, the client ``client_auth`` authenticated under the grant's
# policy: never None for CLIENT and CONFIDENTIAL) -> the RFC 6749 5.1 token response.
Handler = Callable[[Request, ServerContext, Form, Client | None], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Grant:
    """One grant of the token endpoint: its ``grant_type``, who may use it, its handler."""

    grant_type: str
    client: Policy
    handle: Handler


def required(client: Client | None) -> Client:
    """The client of a grant whose policy demands one (``client_auth`` saw to it)."""
    if client is None:  # pragma: no cover - Policy.CLIENT/CONFIDENTIAL never pass None
        raise invalid_client("client authentication is required")
    return client


def invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


def oauth_error(exc: AuthenticationError) -> OAuthError:
    """RFC 6749 section 5.2 error for a refused login, chosen by the error's ``reason``."""
    if exc.reason == Reason.INVALID_CLIENT:
        return invalid_client()
    if exc.reason == Reason.INVALID_TARGET:  # RFC 8707 2: an unknown or ungranted resource
        return OAuthError("invalid_target", str(exc))
    error = "invalid_scope" if exc.reason == Reason.INVALID_SCOPE else "invalid_grant"
    # "incorrect username or password" -> the tutorial's "Incorrect username or password"
    return OAuthError(error, str(exc).capitalize())
