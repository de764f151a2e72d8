"""``POST /token``: the grants, one module each, registered in one table.

As node-oidc-provider's ``lib/actions/grants/index.js``: ``GRANTS`` is the one list of
what the token endpoint does. It feeds the dispatch (``token_endpoint``), the client
authentication each grant needs (``client_policy``, run by ``client_auth``), discovery's
``grant_types_supported`` and the OpenAPI form's ``grant_type`` enum (``GRANT_TYPES``).
A new grant is a module with a ``GRANT`` and its line below.

Everything that blocks (bcrypt, the server state) runs in the thread pool, so the event
loop keeps serving ``/users/me`` while passwords are checked, and bcrypt uses every core.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from oauthcli.server import dpop_check
from oauthcli.server.client_auth import ClientRequest, Policy
from oauthcli.server.context import ServerContext
from oauthcli.server.grants import (
    authorization_code,
    client_credentials,
    device_code,
    password,
    refresh_token,
    token_exchange,
)
from oauthcli.server.grants.base import Grant
from oauthcli.server.oauth import NO_STORE, Form, OAuthError, invalid_request
from oauthcli.server.provider import check_client_grant

GRANTS: dict[str, Grant] = {
    grant.grant_type: grant
    for grant in (
        password.GRANT,
        refresh_token.GRANT,
        client_credentials.GRANT,
        authorization_code.GRANT,
        device_code.GRANT,
        token_exchange.GRANT,
    )
}
GRANT_TYPES = tuple(GRANTS)


def grant_of(form: Form) -> Grant:
    """The request's grant; ``invalid_request``/``unsupported_grant_type`` when there is none."""
    grant_type = form.get("grant_type")
    if grant_type is None:
        # OAuth2PasswordRequestForm makes grant_type optional: the tutorial's own
        # tests (and clients copied from them) post just username and password.
        if form.get("username") is None:
            raise invalid_request("missing grant_type")
        grant_type = password.GRANT.grant_type
    grant = GRANTS.get(grant_type)
    if grant is None:
        raise OAuthError(
            "unsupported_grant_type", f"grant_type must be one of {', '.join(GRANT_TYPES)}"
        )
    return grant


def client_policy(form: Form) -> Policy:
    """Who may use the request's grant (the token endpoint's client authentication)."""
    return grant_of(form).client


async def token_endpoint(request: Request, ctx: ServerContext, call: ClientRequest) -> Response:
    """Dispatch to the grant's handler; its RFC 6749 5.1 answer with ``Cache-Control: no-store``.

    A DPoP proof (RFC 9449 5) is checked first, for every grant; the grant binds its tokens
    to the proof's key (``dpop_check.bound_jkt``)."""
    grant = grant_of(call.form)
    if call.client is not None:
        check_client_grant(call.client, grant.grant_type)
    await dpop_check.token_binding(request, ctx, call.client)
    body = await grant.handle(request, ctx, call.form, call.client)
    return JSONResponse(body, headers={**NO_STORE, **dpop_check.nonce_headers(ctx)})
