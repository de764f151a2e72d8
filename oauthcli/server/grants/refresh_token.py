"""The refresh_token grant (RFC 6749 6): rotation, reuse detection, the issuing client only."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from oauthcli.errors import AuthenticationError, TokenError
from oauthcli.server.client_auth import Policy
from oauthcli.server.context import ServerContext
from oauthcli.server.dpop_check import bound_jkt
from oauthcli.server.grants.base import Grant, oauth_error
from oauthcli.server.oauth import Form, OAuthError, invalid_request, parse_scope
from oauthcli.store import Client, StoreData
from oauthcli.tokens import TokenPair


async def handle(
    request: Request, ctx: ServerContext, form: Form, client: Client | None
) -> dict[str, Any]:
    """RFC 6749 6: rotate the refresh token (RFC 9700 4.14.2: a reuse revokes the family)."""
    token = form.get("refresh_token")
    if token is None:
        raise invalid_request("the refresh_token grant needs refresh_token")
    if form.oversized:
        raise OAuthError("invalid_grant", "refresh token is not valid")
    data = ctx.live.current()
    pair = await run_in_threadpool(
        _refresh_blocking, ctx, data, client, token, form, bound_jkt(request)
    )
    return pair.as_response()


def _refresh_blocking(
    ctx: ServerContext,
    data: StoreData,
    client: Client | None,
    token: str,
    form: Form,
    jkt: str | None,
) -> TokenPair:
    requested = parse_scope(form.get("scope"))
    try:
        return ctx.service.refresh(
            token,
            data.users.get,
            requested,
            client.client_id if client else None,
            form.get_all("resource"),  # RFC 8707 2.2: narrows the grant's resources
            jkt,
        )
    except TokenError as exc:
        raise OAuthError("invalid_grant", str(exc).capitalize()) from None
    except AuthenticationError as exc:
        raise oauth_error(exc) from None


GRANT = Grant("refresh_token", Policy.OPTIONAL, handle)
