"""The client_credentials grant (RFC 6749 4.4), for confidential clients only."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from oauthcli.dpop import confirmation, token_type
from oauthcli.errors import AuthenticationError
from oauthcli.login import grant_scopes
from oauthcli.server.client_auth import Policy
from oauthcli.server.context import ServerContext
from oauthcli.server.dpop_check import bound_jkt
from oauthcli.server.grants.base import Grant, oauth_error, required
from oauthcli.server.oauth import Form, parse_scope, target_audience
from oauthcli.store import Client
from oauthcli.tokens import TokenPair


async def handle(
    request: Request, ctx: ServerContext, form: Form, client: Client | None
) -> dict[str, Any]:
    """RFC 6749 4.4: an access token for the confidential client itself (RFC 9068: sub)."""
    client = required(client)
    requested = parse_scope(form.get("scope"))
    try:
        scopes = grant_scopes(client.scopes, requested)
    except AuthenticationError as exc:
        raise oauth_error(exc) from None
    aud = target_audience(ctx.settings, form)
    jkt = bound_jkt(request)
    access, _ = ctx.service.access_token(
        client.client_id,
        scopes,
        audience=aud.aud,
        extra={"client_id": client.client_id, **confirmation(jkt)},
    )
    return TokenPair(
        access, ctx.settings.access_ttl, " ".join(scopes), token_type=token_type(jkt)
    ).as_response()


GRANT = Grant("client_credentials", Policy.CONFIDENTIAL, handle)
