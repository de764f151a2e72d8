"""The tutorial's ``get_current_user`` dependency and its RFC 6750 errors.

The contract of FastAPI's security tutorial (its own tests check it): without a
token, or with another scheme than Bearer, ``401 {"detail": "Not authenticated"}``
and exactly ``WWW-Authenticate: Bearer``; a bad token, ``401 {"detail": "Could not
validate credentials"}``. The reason goes where OAuth clients read it (the
challenge's ``error``/``error_description``, RFC 6750 section 3), never into the body.
"""

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import FastAPI, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from fastapi.security.utils import get_authorization_scheme_param

from oauthcli.claims import scopes_of
from oauthcli.dpop import ALGORITHMS, ProofError
from oauthcli.errors import TokenError
from oauthcli.server import dpop_check, offload
from oauthcli.server.context import ServerContext, is_client_token
from oauthcli.server.resource_metadata import metadata_url, with_metadata
from oauthcli.store import User

NOT_AUTHENTICATED = "Not authenticated"
INVALID_CREDENTIALS = "Could not validate credentials"

_NOT_HEADER_SAFE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


class BearerError(Exception):
    """401/403 from a protected route, with the RFC 6750 ``WWW-Authenticate`` challenge."""

    def __init__(
        self,
        status: int,
        detail: str,
        challenge: str,
        error: str | None = None,
        description: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.challenge = status, detail, challenge
        self.error, self.description = error, description
        self.headers = headers or {}

    def response(self, resource_metadata: str | None = None) -> JSONResponse:
        # The body is exactly the tutorial's ({"detail": ...}, which FastAPI's own tests
        # compare whole); the OAuth error and its description travel in the challenge,
        # where RFC 6750 section 3 puts them for a protected resource. (The token
        # endpoint's errors stay in its body: RFC 6749 section 5.2.) A 401 also names the
        # API's protected resource metadata (RFC 9728 5.1).
        body: dict[str, Any] = {"detail": self.detail}
        challenge = self.challenge
        if resource_metadata is not None and self.status == 401:
            challenge = with_metadata(challenge, resource_metadata)
        return JSONResponse(
            body,
            status_code=self.status,
            headers={"WWW-Authenticate": challenge, **self.headers},
        )


def header_safe(text: str) -> str:
    # RFC 6750 3: error_description is printable ASCII without '"' or '\\'
    # (the message may quote an attacker's header, e.g. its typ).
    return _NOT_HEADER_SAFE.sub("?", text.replace('"', "'"))


def challenge(required: list[str], error: str | None = None, description: str | None = None) -> str:
    """``Bearer`` alone when there is no error (the tutorial's answer to a missing token)."""
    if not error:
        return "Bearer"
    params = [f'error="{error}"']
    if description:
        params.append(f'error_description="{description}"')
    if required:
        params.append(f'scope="{" ".join(required)}"')
    return "Bearer " + ", ".join(params)


def dpop_challenge(error: str | None = None, description: str | None = None) -> str:
    """RFC 9449 7.1: ``DPoP algs="..."`` with the error, for a request that used or needed DPoP."""
    params = [f'algs="{" ".join(ALGORITHMS)}"']
    if error:
        params.append(f'error="{error}"')
    if description:
        params.append(f'error_description="{description}"')
    return "DPoP " + ", ".join(params)


def dpop_error(ctx: ServerContext, exc: TokenError) -> BearerError:
    """401 with the DPoP challenge (RFC 9449 7.1, 9): ``invalid_dpop_proof``,
    ``use_dpop_nonce`` (with a fresh ``DPoP-Nonce``) or ``invalid_token``."""
    error = exc.reason if isinstance(exc, ProofError) else "invalid_token"
    description = header_safe(str(exc))
    headers = dpop_check.nonce_headers(ctx) if error == "use_dpop_nonce" else {}
    return BearerError(401, INVALID_CREDENTIALS, dpop_challenge(error, description), error,
                       description, headers)  # fmt: skip


def invalid_token(required: list[str], reason: str) -> BearerError:
    description = header_safe(reason)
    return BearerError(
        401,
        INVALID_CREDENTIALS,
        challenge(required, "invalid_token", description),
        "invalid_token",
        description,
    )


def install(app: FastAPI) -> None:
    async def _bearer_error(request: Request, exc: BearerError) -> JSONResponse:
        return exc.response(metadata_url(request.app.state.ctx, request))

    app.add_exception_handler(BearerError, _bearer_error)  # type: ignore[arg-type]  # Starlette types handlers for Exception, not subclasses


async def authenticate(
    ctx: ServerContext,
    token: str | None,
    required: list[str],
    presented: dpop_check.Presented | None = None,
) -> User:
    """The user of a bearer ``token`` holding the ``required`` scopes, else ``BearerError``.

    A valid, unrevoked token of an active user whose account has not changed since; a
    scope taken away from the user in the store stops working at once. Every route that
    takes a user's token runs this (``get_current_user`` and the lean ``/users/me``).
    ``presented``: the request's scheme and DPoP proofs (``dpop_check``); a DPoP-bound
    token is accepted only with a proof of its key (RFC 9449 7.1), never as Bearer.
    """
    if presented is None:
        presented = dpop_check.Presented("bearer", token, [])
    elif presented.scheme in ("bearer", "dpop"):
        token = presented.token
    else:
        token = None
    if not token:
        raise BearerError(401, NOT_AUTHENTICATED, challenge(required))
    data = ctx.live.current()
    try:
        claims = await offload.read(ctx.denylist.backend, ctx.active_access_claims, token, data)
    except TokenError as exc:
        raise invalid_token(required, str(exc)) from None
    if is_client_token(claims):
        raise invalid_token(required, "the token does not belong to a user")
    try:
        await dpop_check.resource_binding(ctx, presented, claims)
    except TokenError as exc:
        raise dpop_error(ctx, exc) from None
    user = data.users[claims["sub"]]  # active_access_claims checked that it exists
    granted = set(scopes_of(claims)) & set(user.scopes)
    missing = [s for s in required if s not in granted]
    if missing:
        raise BearerError(
            403,
            "Not enough permissions",
            challenge(required, "insufficient_scope", f"needs scope {' '.join(missing)}"),
            "insufficient_scope",
            f"needs scope {' '.join(missing)}",
        )
    return user


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, as ``OAuth2PasswordBearer`` reads it."""
    scheme, token = get_authorization_scheme_param(authorization)
    return token if scheme.lower() == "bearer" else None


def current_user_dependency(
    ctx: ServerContext, scheme: OAuth2PasswordBearer
) -> Callable[..., Awaitable[User]]:
    """``Security(dependency, scopes=[...])``: a valid, unrevoked token of an active user."""

    async def get_current_user(
        request: Request,
        security_scopes: SecurityScopes,
        token: Annotated[str | None, Security(scheme)],
    ) -> User:
        presented = dpop_check.presented(request, request.method)
        return await authenticate(ctx, token, security_scopes.scopes, presented)

    return get_current_user
