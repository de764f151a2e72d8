"""``POST /par``: pushed authorization requests (RFC 9126).

A client posts what it would have put in the ``/authorize`` URL, authenticated as at
``/token`` (``client_auth.authenticate``: the one client authentication), and gets a
``request_uri`` (``urn:ietf:params:oauth:request_uri:...``) to send to ``/authorize``
beside its ``client_id`` (RFC 9126 4). The pushed parameters pass the very checks of
``/authorize`` (``authorize.validate``); what they resolved to is kept as a ``par_request``
record in the server state (``ctx.records``, so every worker and instance sees it), keyed
by the SHA-256 of the reference, for ``ProviderSettings.par_ttl`` seconds on the provider's
clock, and ``/authorize`` takes it once (``authorize.pushed_request``).

Errors are token-endpoint style JSON (RFC 9126 2.3): ``invalid_request`` for a request
``/authorize`` would refuse before it knows where to redirect (client, redirect URI), the
authorization error otherwise (``invalid_scope``, ``unsupported_response_type``...), and
``invalid_client`` from the client authentication.
"""

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from oauthcli.server import authorize, dpop_check
from oauthcli.server.client_auth import ClientRequest, Policy, client_request
from oauthcli.server.context import ServerContext
from oauthcli.server.oauth import NO_STORE, OAuthError, invalid_request
from oauthcli.server.provider import PAR_PATH, PUSHED, REQUEST_URI_PREFIX, digest, new_token

# The client's authentication is not part of the authorization request.
_CLIENT_AUTH = ("client_secret", "client_assertion", "client_assertion_type")

PAR_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "description": "the /authorize parameters, and the client's authentication",
                    "properties": {
                        "response_type": {"type": "string", "enum": ["code"]},
                        "client_id": {"type": "string"},
                        "redirect_uri": {"type": "string"},
                        "scope": {"type": "string"},
                        "state": {"type": "string"},
                        "code_challenge": {"type": "string"},
                        "code_challenge_method": {"type": "string", "enum": ["S256"]},
                        "nonce": {"type": "string"},
                    },
                }
            }
        },
    },
    "responses": {
        "201": {"description": "RFC 9126 2.2: request_uri and expires_in"},
        "400": {"description": "RFC 9126 2.3 error (invalid_request, invalid_scope, ...)"},
        "401": {"description": "invalid_client"},
    },
}


def push(ctx: ServerContext, call: ClientRequest, jkt: str | None = None) -> dict[str, Any]:
    """Blocking (the server state): validate the pushed request, store it, name it.

    ``jkt``: the key of a DPoP proof sent with the push, which binds the code to it as
    ``dpop_jkt`` does (RFC 9449 10.1); both given, they must name the same key."""
    client = call.client
    assert client is not None  # Policy.CLIENT
    params = {k: v for k, v in call.form.fields.items() if k not in _CLIENT_AUTH}
    if "request_uri" in params:
        # RFC 9126 2.1: a pushed request cannot itself refer to a pushed request.
        raise invalid_request("request_uri is not allowed in a pushed authorization request")
    params["client_id"] = client.client_id  # the authenticated client (RFC 9126 2.1)
    try:
        request = authorize.validate(params, set(), ctx, call.form.get_all("resource"))
    except authorize.PageError as exc:
        raise invalid_request(str(exc)) from None
    except authorize.ToClient as exc:
        raise OAuthError(exc.error, exc.description) from None
    if jkt is not None:
        if request.dpop_jkt is not None and request.dpop_jkt != jkt:
            raise OAuthError("invalid_dpop_proof", "dpop_jkt names another key than the proof")
        request.dpop_jkt = jkt
    reference = new_token()
    ttl = ctx.provider.par_ttl
    record = {"request": asdict(request), "exp": ctx.provider.clock() + ttl}
    ctx.records.put(PUSHED, digest(reference), record, ttl)
    return {"request_uri": REQUEST_URI_PREFIX + reference, "expires_in": ttl}


def router(ctx: ServerContext) -> APIRouter:
    routes = APIRouter(tags=["openid"])
    ParCall = Annotated[ClientRequest, Depends(client_request(ctx, Policy.CLIENT))]

    @routes.post(PAR_PATH, openapi_extra=PAR_FORM, status_code=201)
    async def pushed_authorization_request(request: Request, call: ParCall) -> Any:
        """Pushed authorization request (RFC 9126): the /authorize parameters, pushed."""
        # RFC 9449 10.1: a DPoP proof here, checked as at /token, binds the code to its key.
        jkt = await dpop_check.token_binding(request, ctx, call.client)
        body = await run_in_threadpool(push, ctx, call, jkt)
        headers = {**NO_STORE, **dpop_check.nonce_headers(ctx)}
        return JSONResponse(body, status_code=201, headers=headers)

    return routes
