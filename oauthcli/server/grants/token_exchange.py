"""Token exchange (RFC 8693): a token for a user, in exchange for a token that proves who they are.

For clients whose store table says ``token_exchange = true`` (``Client.may_use``; others get
``unauthorized_client``). The ``subject_token`` (2.1) is one of:

- an access token this server issued, checked by the server's own validation
  (``ServerContext.active_access_claims``: signature, expiry, revocation, the account);
- a JWT of a ``[trusted_issuers.NAME]`` (``oauthcli/trusted_issuers.py``) whose ``iss``
  it carries, verified by ``oauthcli verify``'s ``Verifier`` with that issuer's keys
  (``jwks_url`` or ``jwks_file``) and algorithms, its ``audience`` when set; its
  ``user_claim`` names the store user, who must be active.

An ``actor_token`` (with its ``actor_token_type``) is checked the same way and makes the
new token a delegation: ``act: {"sub": <actor>}``, with the subject token's own ``act``
nested inside (4.1); without one, the subject token's ``act`` is kept as it is.
``audience`` must be one of the client's ``exchange_audiences`` and ``resource`` goes
through the RFC 8707 rule of every grant (``target_audience``); either is the new token's
``aud`` (else ``invalid_target``, 2.2.2). ``scope`` may narrow what the
subject holds (the token's scope, or the trusted user's scopes) within the client's scopes.
The answer carries ``issued_token_type`` (2.2.1): an access token. A subject or actor
token that is not valid, or of a type not accepted, is ``invalid_request`` (2.2.2).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from oauthcli.claims import scopes_of
from oauthcli.dpop import confirmation, token_type
from oauthcli.errors import OAuthCliError
from oauthcli.server.client_auth import Policy
from oauthcli.server.context import ServerContext, is_client_token
from oauthcli.server.dpop_check import bound_jkt
from oauthcli.server.grants.base import Grant, required
from oauthcli.server.oauth import Form, OAuthError, invalid_request, parse_scope, target_audience
from oauthcli.server.provider import OIDC_SCOPES, active_user
from oauthcli.store import TOKEN_EXCHANGE, Client, StoreData
from oauthcli.tokens import GENERATION_CLAIM
from oauthcli.trusted_issuers import TrustedIssuer

log = logging.getLogger("oauthcli.server")

TOKEN_TYPE_PREFIX = "urn:ietf:params:oauth:token-type:"  # RFC 8693 3
ACCESS_TOKEN = TOKEN_TYPE_PREFIX + "access_token"
JWT = TOKEN_TYPE_PREFIX + "jwt"
ID_TOKEN = TOKEN_TYPE_PREFIX + "id_token"
OWN_TYPES = (ACCESS_TOKEN, JWT)  # this server's access tokens
TRUSTED_TYPES = (JWT, ID_TOKEN, ACCESS_TOKEN)  # a trusted issuer's JWTs

# RemoteJWKS per trusted issuer's jwks_url: fetched once, kept (and refetched) by verify/fetch.
_REMOTE: dict[str, Any] = {}


class Party:
    """Who a subject or actor token stands for, and what it allows."""

    def __init__(self, sub: str, scopes: list[str], act: Any = None, user: Any = None) -> None:
        self.sub, self.scopes, self.act, self.user = sub, scopes, act, user


def _issuer_of(token: str) -> str | None:
    from oauthcli.verify.parse import parse

    try:
        iss = parse(token).payload.get("iss")
    except OAuthCliError:
        raise invalid_request("the token is not a JWT") from None
    return iss if isinstance(iss, str) else None


def _trusted_claims(ctx: ServerContext, token: str, iss: str, data: StoreData) -> Any:
    """The verified claims of a trusted issuer's token, and that issuer; ``None``: not trusted."""
    issuers = data.trusted_issuers(ctx.live.store.path)
    trusted = next((t for t in issuers.values() if t.issuer == iss), None)
    if trusted is None:
        return None, None
    keys: Any
    if trusted.jwks_url is not None:
        from oauthcli.http import make_client
        from oauthcli.verify.fetch import RemoteJWKS

        # The key set is kept (and refetched for an unknown kid) across requests; the HTTP
        # client that fetches it lives only for this one, so no connection outlives it.
        with make_client(10.0) as http:
            keys = _REMOTE.get(trusted.jwks_url)
            if keys is None:
                keys = _REMOTE[trusted.jwks_url] = RemoteJWKS(trusted.jwks_url, http)
            keys.client = http
            return _verify(ctx, trusted, keys, token), trusted
    else:
        from oauthcli.verify.keyset import keys_from_jwks, parse_json_document

        assert trusted.jwks_file is not None
        try:
            raw = trusted.jwks_file.read_bytes()
        except OSError as exc:
            log.error("[trusted_issuers.%s] jwks_file: %s", trusted.name, exc.strerror)
            raise OAuthError(
                "server_error", "a trusted issuer's keys cannot be read", 500
            ) from None
        keys, _ = keys_from_jwks(parse_json_document(raw, str(trusted.jwks_file)), trusted.name)
    return _verify(ctx, trusted, keys, token), trusted


def _verify(ctx: ServerContext, trusted: TrustedIssuer, keys: Any, token: str) -> dict[str, Any]:
    from oauthcli.verify.verifier import Verifier

    verifier = Verifier(
        keys,
        trusted.algorithms,
        issuer=trusted.issuer,
        # its tokens are for this server unless the table names their audience
        audience=trusted.audience or ctx.issuer,
        token_type="any",
        required_claims=(trusted.user_claim,),
        now=ctx.provider.clock,
    )
    return verifier.verify(token).payload


def _party(ctx: ServerContext, token: str, kind: str, what: str, data: StoreData) -> Party:
    """Blocking (keys, the server state): the party ``token`` (of type ``kind``) stands for."""
    from oauthcli.text import clean

    if len(token) > 16 * 1024:
        raise invalid_request(f"{what} is too long")
    iss = _issuer_of(token)
    own = iss is None or iss == ctx.issuer
    try:
        if own:
            if kind not in OWN_TYPES:
                raise invalid_request(f"{what}_type must be access_token or jwt for this server's")
            claims = ctx.active_access_claims(token, data, own_api=False)
            if is_client_token(claims):
                return Party(str(claims["sub"]), [], claims.get("act"))
            owner = data.users[claims["sub"]]  # active_access_claims checked the account
            return Party(str(claims["sub"]), scopes_of(claims), claims.get("act"), owner)
        if kind not in TRUSTED_TYPES:
            raise invalid_request(f"{what}_type must be jwt, id_token or access_token")
        claims, trusted = _trusted_claims(ctx, token, str(iss), data)
    except OAuthCliError as exc:
        raise invalid_request(f"{what} is not valid: {clean(str(exc), 200)}") from None
    if trusted is None:
        raise invalid_request(
            f"{what} is from {clean(str(iss), 200)!r}, neither this server nor a trusted issuer"
        )
    name = claims.get(trusted.user_claim)
    user = active_user(data, name) if isinstance(name, str) else None
    if user is None:
        raise invalid_request(f"{what}'s {trusted.user_claim} names no active user of this server")
    return Party(user.username, list(user.scopes), claims.get("act"), user)


def _scopes(client: Client, subject: Party, requested: list[str] | None) -> list[str]:
    held = [s for s in subject.scopes if s in client.scopes or s in OIDC_SCOPES]
    if requested is None:
        return held
    refused = [s for s in requested if s not in held]
    if refused:
        raise OAuthError(
            "invalid_scope", f"scope not held by the subject token: {' '.join(refused)}"
        )
    return requested


def _exchange(ctx: ServerContext, form: Form, client: Client) -> tuple[Party, Party | None]:
    data = ctx.live.current()
    subject_token, subject_type = form.get("subject_token"), form.get("subject_token_type")
    if not subject_token or not subject_type:
        raise invalid_request("subject_token and subject_token_type are required (RFC 8693 2.1)")
    requested_type = form.get("requested_token_type")
    if requested_type is not None and requested_type not in (ACCESS_TOKEN, JWT):
        raise invalid_request("this server issues access tokens only (requested_token_type)")
    subject = _party(ctx, subject_token, subject_type, "subject_token", data)
    if subject.user is None:
        raise invalid_request("subject_token does not belong to a user")
    actor_token, actor_type = form.get("actor_token"), form.get("actor_token_type")
    if (actor_token is None) != (actor_type is None):
        raise invalid_request("actor_token and actor_token_type go together (RFC 8693 2.1)")
    actor = None
    if actor_token is not None and actor_type is not None:
        actor = _party(ctx, actor_token, actor_type, "actor_token", data)
    return subject, actor


async def handle(
    request: Request, ctx: ServerContext, form: Form, client: Client | None
) -> dict[str, Any]:
    client = required(client)
    subject, actor = await run_in_threadpool(_exchange, ctx, form, client)
    scopes = _scopes(client, subject, parse_scope(form.get("scope")))
    audience = form.get("audience")
    if audience is not None and audience not in client.exchange_audiences:
        raise OAuthError(
            "invalid_target", "this client may not ask tokens for that audience (RFC 8693 2.2.2)"
        )
    resources = target_audience(ctx.settings, form)
    targets = [*([audience] if audience else []), *resources.resources]
    extra: dict[str, Any] = {"client_id": client.client_id}
    if subject.user is not None and subject.user.generation is not None:
        extra[GENERATION_CLAIM] = subject.user.generation
    # RFC 8693 4.1: the current actor, the earlier chain nested inside. Without an actor
    # token the subject's own chain stays: exchanging never launders a delegation.
    act = subject.act if isinstance(subject.act, dict) else None
    if actor is not None:
        act = {"sub": actor.sub, **({"act": act} if act is not None else {})}
    if act is not None:
        extra["act"] = act
    jkt = bound_jkt(request)
    access, _ = ctx.service.access_token(
        subject.sub,
        scopes,
        audience=(targets[0] if len(targets) == 1 else targets) or None,
        extra={**extra, **confirmation(jkt)},
    )
    return {
        "access_token": access,
        "issued_token_type": ACCESS_TOKEN,  # RFC 8693 2.2.1
        "token_type": token_type(jkt),
        "expires_in": ctx.settings.access_ttl,
        "scope": " ".join(scopes),
    }


GRANT = Grant(TOKEN_EXCHANGE, Policy.CLIENT, handle)
