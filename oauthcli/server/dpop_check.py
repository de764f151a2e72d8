"""DPoP at ``serve`` (RFC 9449): the one place the token endpoint and the protected routes
check proofs, nonces, replays and bindings.

- ``token_binding``: run by the token endpoint before any grant; the key thumbprint the
  grant binds its tokens to (``cnf.jkt``), or ``None`` without a ``DPoP`` header (a
  header lookup: requests without DPoP pay nothing else).
- ``resource_binding``: run by ``bearer.authenticate`` (``/users/me``, your own routes)
  and ``/userinfo`` once the token's claims are known: a bound token needs the DPoP scheme
  and a proof of its key for this request (RFC 9449 7.1, 7.2).

Each proof's ``jti`` is accepted once (``Records.add`` in the shared state: across workers
and instances) while its ``iat`` is acceptable (RFC 9449 11.1).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request

from oauthcli.dpop import (
    LEEWAY,
    MAX_AGE,
    NONCE_HEADER,
    Proof,
    ProofError,
    check_proof,
    confirmation_jkt,
)
from oauthcli.errors import Reason, TokenError
from oauthcli.server.context import ServerContext
from oauthcli.server.oauth import OAuthError
from oauthcli.store import Client

REPLAY = "dpop_jti"  # oauthcli.state.contract.KINDS


@dataclass(frozen=True)
class Presented:
    """How a protected route got its token: the scheme (lower case), the token, the DPoP
    headers, and the request they must name (``conn``: its method and URLs)."""

    scheme: str
    token: str | None
    proofs: list[str]
    conn: HTTPConnection | None = None
    method: str = "GET"


def request_urls(ctx: ServerContext, conn: HTTPConnection) -> tuple[str, ...]:
    """The URLs a client may have signed: the one it reached and the one this server publishes."""
    path = conn.url.path
    reached = str(conn.url.replace(query="", fragment=""))
    return reached, ctx.public_base(conn) + path


def presented(conn: HTTPConnection, method: str) -> Presented:
    """What a request presents: ``Authorization: Bearer|DPoP <token>`` and its DPoP headers."""
    scheme, _, token = (conn.headers.get("authorization") or "").partition(" ")
    return Presented(scheme.lower(), token.strip() or None, conn.headers.getlist("dpop"),
                     conn, method)  # fmt: skip


async def _check(
    ctx: ServerContext,
    proofs: list[str],
    method: str,
    urls: tuple[str, ...],
    access_token: str | None,
) -> Proof:
    """One proof for this request (RFC 9449 4.3), fresh, with our nonce, never seen before."""
    if len(proofs) != 1:
        raise ProofError("send exactly one DPoP header")  # RFC 9449 4.3 step 1
    nonces = ctx.dpop_nonces.valid() if ctx.dpop_nonces is not None else None
    proof = check_proof(
        proofs[0],
        htm=method,
        htu=urls,
        now=ctx.provider.clock(),
        access_token=access_token,
        nonces=nonces,
    )
    # RFC 9449 11.1: a jti is unique per key; remembered while the proof could be accepted.
    key = hashlib.sha256(f"{proof.jkt}\0{proof.jti}".encode()).hexdigest()
    fresh = await run_in_threadpool(ctx.records.add, REPLAY, key, {}, MAX_AGE + LEEWAY + 1)
    if not fresh:
        raise ProofError("the DPoP proof was already used (jti replayed)")
    return proof


def nonce_headers(ctx: ServerContext) -> dict[str, str]:
    """``DPoP-Nonce`` with the current nonce when the server asks for them (RFC 9449 8.1)."""
    return {NONCE_HEADER: ctx.dpop_nonces.current()} if ctx.dpop_nonces is not None else {}


async def token_binding(request: Request, ctx: ServerContext, client: Client | None) -> str | None:
    """The token endpoint's proof (RFC 9449 5): the ``jkt`` to bind, ``None`` without one.

    A client with ``require_dpop`` (or ``serve --require-dpop``) must send one; errors are
    RFC 6749 5.2 answers: ``invalid_dpop_proof``, or ``use_dpop_nonce`` with the nonce."""
    proofs = request.headers.getlist("dpop")
    if not proofs:
        if ctx.provider.require_dpop or (client is not None and client.require_dpop):
            raise OAuthError("invalid_dpop_proof", "a DPoP proof is required (RFC 9449)")
        return None
    try:
        proof = await _check(ctx, proofs, "POST", request_urls(ctx, request), None)
    except ProofError as exc:
        headers = nonce_headers(ctx) if exc.reason == Reason.USE_DPOP_NONCE else {}
        raise OAuthError(exc.reason, str(exc), 400, headers) from None
    request.state.dpop_jkt = proof.jkt
    return proof.jkt


async def resource_binding(
    ctx: ServerContext, presented: Presented, claims: dict[str, Any]
) -> None:
    """RFC 9449 7.1: a token bound to a key (``cnf.jkt``) is accepted only with the DPoP
    scheme and a valid proof of that key naming this request and this token.

    ``ProofError`` (``invalid_dpop_proof``/``use_dpop_nonce``) for a bad proof,
    ``TokenError`` (answered as ``invalid_token``) for a token presented the wrong way."""
    jkt = confirmation_jkt(claims)
    if presented.scheme != "dpop":
        if jkt is not None:
            # RFC 9449 7.2: a DPoP-bound token is never accepted as a bearer token.
            raise TokenError(
                "the token is DPoP-bound: send it with the DPoP scheme and a proof", Reason.BINDING
            )
        return
    if jkt is None:
        raise TokenError("the token is not DPoP-bound: send it as Bearer", Reason.BINDING)
    urls = request_urls(ctx, presented.conn) if presented.conn is not None else ()
    proof = await _check(ctx, presented.proofs, presented.method, urls, presented.token)
    if proof.jkt != jkt:
        raise ProofError("the DPoP proof is signed by another key than the token is bound to")


def bound_jkt(request: Request) -> str | None:
    """The ``jkt`` ``token_binding`` found for this token request (the grants bind to it)."""
    jkt = getattr(request.state, "dpop_jkt", None)
    return jkt if isinstance(jkt, str) else None
