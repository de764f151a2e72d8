"""One client authentication for every endpoint that takes client credentials.

``/token`` (every grant), ``/revoke``, ``/introspect`` and ``/device_authorization``
all run ``authenticate`` (through the ``client_request`` dependency), as authlib's
``ClientAuthentication`` and node-oidc-provider's ``lib/shared/client_auth.js`` do:

1. ``presented``: the one parser of how the client identifies itself (RFC 6749 2.3):
   ``client_secret_basic`` (HTTP Basic, id and secret form-urlencoded: 2.3.1),
   ``client_secret_post`` (``client_id`` and ``client_secret`` in the form),
   ``private_key_jwt`` (``client_assertion``, RFC 7523 2.2, for a client whose public
   keys the store holds in ``jwks``), or ``none`` (a public client names itself with
   ``client_id``, 2.1). More than one method in a request is ``invalid_request`` (2.3).
2. A secret is checked under the client's throttle (``throttle.key(CLIENT, id)``):
   every endpoint counts failures against the same allowance, and a locked-out client
   is refused everywhere before its secret reaches bcrypt, with 429 ``invalid_client``
   and ``Retry-After``. RFC 6749 5.2 defines the token endpoint's errors and the
   client's authentication is what is refused: ``invalid_client`` (RFC 7009 2.2.1 and
   RFC 7662 2.3 use it too); ``temporarily_unavailable`` is an authorization endpoint
   error saying the server is overloaded, and RFC 8628's ``slow_down`` tells a device
   client to keep polling. The 429 status and ``Retry-After`` (RFC 6585 4) say when.
3. The client must be enabled, and the endpoint's ``Policy`` says who may call:
   anyone (``OPTIONAL``), a client (``CLIENT``) or a confidential client only
   (``CONFIDENTIAL``).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from oauthcli.jose import parse_basic_authorization
from oauthcli.server import throttle
from oauthcli.server.context import ServerContext
from oauthcli.server.oauth import (
    MAX_FIELD_BYTES,
    TOKEN_PATH,
    Form,
    OAuthError,
    invalid_client,
    invalid_request,
    read_form,
)
from oauthcli.server.provider import base_url, digest, issuer_of
from oauthcli.store import Client, StoreData

if TYPE_CHECKING:
    from oauthcli.passwords import VerifiedSecrets

BASIC = "client_secret_basic"
POST = "client_secret_post"
PRIVATE_KEY_JWT = "private_key_jwt"
NONE = "none"
SECRET_METHODS = (BASIC, POST)
AUTH_METHODS = (BASIC, POST, PRIVATE_KEY_JWT)  # discovery's *_auth_methods_supported
ASSERTION_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                        "ES256", "ES384", "ES512", "EdDSA")  # fmt: skip
ASSERTION = "client_assertion"  # ctx.records kind: jti of assertions used, until they expire
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class Policy(enum.Enum):
    """Who may call an endpoint (or use a grant)."""

    OPTIONAL = "optional"  # a client, or nobody (password, refresh_token, /revoke)
    CLIENT = "client"  # a public client naming itself, or a confidential one authenticated
    CONFIDENTIAL = "confidential"  # an authenticated confidential client (client_credentials)


@dataclass(frozen=True)
class Presented:
    """How the request identifies its client, parsed once."""

    method: str  # BASIC, POST, PRIVATE_KEY_JWT or NONE
    client_id: str | None  # None: no client named at all
    secret: str | None = None
    assertion: str | None = None


@dataclass(frozen=True)
class ClientRequest:
    """What an endpoint gets from the dependency: the form and the client (None: nobody)."""

    form: Form
    client: Client | None


def locked_out(exc: throttle.Throttled) -> OAuthError:
    """429 ``invalid_client`` with Retry-After (see the module docstring for why)."""
    return OAuthError(
        "invalid_client",
        f"Too many failed client authentications; try again in {exc.retry_after} s",
        429,
        {"Retry-After": str(exc.retry_after)},
    )


def presented(request: Request, form: Form) -> Presented:
    """The one parser of client credentials (RFC 6749 2.3, RFC 7521 4.2, RFC 7523 2.2).

    HTTP Basic with an empty secret is a public client naming itself (Swagger UI's
    Authorize dialog sends ``Basic Og==``, empty id and secret, when its fields are empty).
    """
    try:
        basic = parse_basic_authorization(request.headers.get("authorization"))
    except ValueError as exc:
        raise invalid_client(str(exc)) from None
    posted_secret = form.get("client_secret") is not None
    assertion_type = form.get("client_assertion_type")
    assertion = form.get("client_assertion")
    if (
        sum((basic is not None, posted_secret, assertion_type is not None or assertion is not None))
        > 1
    ):
        raise invalid_request("use one client authentication method, not two")
    named = form.get("client_id")
    found: Presented
    if basic is not None:
        client_id, secret = basic
        if secret:
            found = Presented(BASIC, client_id, secret=secret)
        else:
            found = Presented(NONE, client_id or named)
    elif posted_secret:
        if named is None:
            raise invalid_client("client_secret given without client_id")
        found = Presented(POST, named, secret=form.fields["client_secret"])
    elif assertion_type is not None or assertion is not None:
        if assertion_type is None or assertion is None:
            raise invalid_request("client_assertion and client_assertion_type go together")
        if assertion_type != ASSERTION_TYPE:
            raise invalid_client(f"unsupported client_assertion_type {assertion_type[:80]!r}")
        found = Presented(PRIVATE_KEY_JWT, _assertion_subject(assertion), assertion=assertion)
    else:
        found = Presented(NONE, named)
    if named is not None and found.client_id is not None and named != found.client_id:
        # RFC 7521 4.2: a client_id beside the credentials must name the same client.
        raise invalid_client("client_id does not match the authenticated client")
    return found


def _assertion_subject(assertion: str) -> str:
    """The ``sub`` of a client assertion, unverified: only to pick the client and its throttle."""
    from oauthcli.errors import OAuthCliError
    from oauthcli.verify.parse import parse

    try:
        sub = parse(assertion).payload.get("sub")
    except OAuthCliError:
        raise invalid_client("client_assertion is not a JWT") from None
    if not isinstance(sub, str) or not sub:
        raise invalid_client("client_assertion has no sub")
    return sub


def _check_secret(
    presented: Presented, data: StoreData, rounds: int, cache: VerifiedSecrets
) -> Client | None:
    """Blocking (bcrypt, unless the secret is a generated one or ``cache`` saw it succeed):
    the client whose secret this is, else ``None`` (``passwords.verify_secret``).

    Unknown clients and over-long secrets cost a dummy verification, so the answer
    takes as long whether or not the client exists. ``cache`` is ``LiveStore.secrets``,
    cleared when the store changes.
    """
    from oauthcli.passwords import dummy_verify, verify_secret

    client = data.clients.get(presented.client_id or "")
    secret = presented.secret or ""
    if client is None or client.public or len(secret.encode("utf-8")) > MAX_FIELD_BYTES:
        dummy_verify(rounds)
        return None
    return client if verify_secret(secret, client.hashed_secret, rounds, cache) else None


async def authenticate(
    request: Request, ctx: ServerContext, form: Form, policy: Policy
) -> Client | None:
    """The request's client under ``policy``; ``None`` only when ``OPTIONAL`` and none named.

    Raises ``OAuthError`` (``invalid_client`` 401, or 429 when locked out).
    """
    found = presented(request, form)
    data = ctx.live.current()
    if ctx.provider.registration is not None and found.client_id not in data.clients:
        # A client registered at /register (RFC 7591) is in the state: the one lookup.
        data = await run_in_threadpool(ctx.with_registered, data, found.client_id)
    if found.method == NONE:
        client = data.clients.get(found.client_id) if found.client_id else None
        if client is None:
            if policy is Policy.OPTIONAL:
                return None  # a client_id that names no client of ours identifies nobody
            if found.client_id is None:
                raise invalid_client("client_id is required")
            raise invalid_client()
        if not client.public:
            raise invalid_client("this confidential client must authenticate")
        return _allowed(client, policy)
    try:
        if found.method == PRIVATE_KEY_JWT:
            client = await _by_assertion(ctx, request, found, data)
        else:
            client = await _by_secret(ctx, found, data)
    except throttle.Throttled as exc:
        raise locked_out(exc) from None
    return _allowed(client, policy)


async def _by_secret(ctx: ServerContext, found: Presented, data: StoreData) -> Client:
    """client_secret_basic / client_secret_post, under the client's throttle."""
    key = throttle.key(throttle.CLIENT, found.client_id or "")
    client = await _check_cheap_secret(ctx, found, data, key)
    if client is not None:
        return client
    async with ctx.throttle.attempt(key) as attempt:
        client = await run_in_threadpool(
            _check_secret, found, data, ctx.rounds(data), ctx.live.secrets
        )
        if client is None:
            attempt.failed()
        else:
            attempt.succeeded()
    if client is None:
        raise invalid_client()
    return client


async def _by_assertion(
    ctx: ServerContext, request: Request, found: Presented, data: StoreData
) -> Client:
    """private_key_jwt (RFC 7523 2.2), under the client's throttle as a secret is."""
    async with ctx.throttle.attempt(
        throttle.key(throttle.CLIENT, found.client_id or "")
    ) as attempt:
        client = await run_in_threadpool(_check_assertion, ctx, request, found, data)
        if client is None:
            attempt.failed()
        else:
            attempt.succeeded()
    if client is None:
        raise invalid_client("client_assertion is not valid for this client")
    return client


def _allowed(client: Client, policy: Policy) -> Client:
    if client.disabled:
        raise invalid_client()
    if policy is Policy.CONFIDENTIAL and client.public:
        raise invalid_client("a public client cannot use this endpoint")
    return client


def assertion_audiences(ctx: ServerContext, request: Request) -> list[str]:
    """What an assertion's ``aud`` may name: the issuer (RFC 7523 3 as updated in 2025, what
    the project's client sends), the token endpoint URL (RFC 7523 3), or the URL of the
    endpoint it was sent to (as node-oidc-provider accepts)."""
    base = base_url(request)
    found = [issuer_of(ctx, request), base + TOKEN_PATH, base + request.url.path]
    if ctx.issuer and ctx.issuer.startswith(("https://", "http://")):
        found.append(ctx.issuer.rstrip("/") + TOKEN_PATH)
    return list(dict.fromkeys(found))


def _check_assertion(
    ctx: ServerContext, request: Request, presented: Presented, data: StoreData
) -> Client | None:
    """Blocking (the state): the client whose key signed this assertion, else ``None``.

    RFC 7523 3: ``iss`` and ``sub`` are the client id, ``aud`` names this server, ``exp``
    has not passed; its ``jti`` is used once (recorded until ``exp``: a replay is refused).
    Only the client's own public keys (``jwks`` in the store) verify it, with the
    algorithms those keys allow (never HMAC: the store holds no shared secret for it).
    """
    from oauthcli.errors import OAuthCliError
    from oauthcli.verify.keyset import keys_from_jwks
    from oauthcli.verify.verifier import Verifier

    client_id = presented.client_id or ""
    client = data.clients.get(client_id)
    if client is None or client.jwks is None or client.public:
        return None
    try:
        keys, _ = keys_from_jwks(client.jwks, f"client {client_id} jwks")
        verifier = Verifier(
            [k for k in keys if set(k.algorithms) <= set(ASSERTION_ALGORITHMS)],
            issuer=client_id,
            audience=assertion_audiences(ctx, request),
            token_type="any",
            required_claims=("sub", "jti"),
            now=ctx.service.clock,
        )
        claims = verifier.verify(presented.assertion or "").payload
    except OAuthCliError:
        return None
    jti = claims["jti"]
    if claims["sub"] != client_id or not isinstance(jti, str) or len(jti) > MAX_FIELD_BYTES:
        return None
    record = digest(f"{client_id}\x00{jti}")
    ttl = max(1.0, float(claims["exp"]) - ctx.service.clock())
    # RFC 7523 3 (7): a jti seen before is a replay. One atomic insert-if-absent, so two
    # requests racing with one assertion (across workers too) cannot both get through.
    if not ctx.records.add(ASSERTION, record, {"client_id": client_id}, ttl):
        return None
    return client


def _cheap_to_check(presented: Presented, data: StoreData, cache: VerifiedSecrets) -> bool:
    """Whether ``_check_secret`` answers without bcrypt: a known client whose stored secret is
    a generated one's fast hash, or whose secret ``cache`` saw succeed."""
    from oauthcli.passwords import is_fast_hash

    client = data.clients.get(presented.client_id or "")
    secret = presented.secret or ""
    if client is None or client.public or len(secret.encode("utf-8")) > MAX_FIELD_BYTES:
        return False
    return is_fast_hash(client.hashed_secret) or cache.seen(secret, client.hashed_secret)


async def _check_cheap_secret(
    ctx: ServerContext, found: Presented, data: StoreData, key: str
) -> Client | None:
    """A secret that costs nothing to check is checked first, its outcome recorded after
    (``LoginThrottle.settle``): a client's concurrent requests do not queue for the
    ``--max-failures`` reservations that bound bcrypt work, yet a locked-out client is
    refused and every failure counts. ``None``: not cheap, or a failure that must be
    recorded through ``attempt`` (the allowance is busy); raises ``invalid_client``/
    ``Throttled`` otherwise."""
    cache = ctx.live.secrets
    if not _cheap_to_check(found, data, cache):
        return None
    from oauthcli.passwords import is_fast_hash

    client = _check_secret(found, data, ctx.rounds(data), cache)
    # A generated secret (256 random bits) is not guessed: its success may use a read of
    # the throttle up to a second old (LoginThrottle.settle); a chosen one's never does.
    unguessable = client is not None and is_fast_hash(client.hashed_secret)
    wait = await ctx.throttle.settle(key, client is not None, unguessable=unguessable)
    if wait:
        raise throttle.Throttled(wait)
    if client is None and wait is None:
        raise invalid_client()
    return client


def client_request(
    ctx: ServerContext, policy: Policy | Callable[[Form], Policy]
) -> Callable[[Request], Awaitable[ClientRequest]]:
    """The FastAPI dependency: read the form, authenticate its client under ``policy``
    (or the policy ``policy(form)`` picks, e.g. by ``grant_type``)."""

    async def dependency(request: Request) -> ClientRequest:
        form = await read_form(request)
        chosen = policy(form) if callable(policy) else policy
        return ClientRequest(form, await authenticate(request, ctx, form, chosen))

    return dependency
