"""What every endpoint shares: the live store, the token service, revocations, throttling."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oauthcli import families
from oauthcli import settings as env
from oauthcli.dpop import NonceSource
from oauthcli.errors import Reason, TokenError
from oauthcli.issuer import IssuerSettings
from oauthcli.keys import SigningKey
from oauthcli.server.provider_settings import ProviderSettings
from oauthcli.server.state import LiveStore
from oauthcli.server.throttle import LoginThrottle
from oauthcli.sessions import SessionStore
from oauthcli.state.contract import Records
from oauthcli.state.denylist import Denylist
from oauthcli.state.memory import MemoryState
from oauthcli.store import Client, StoreData
from oauthcli.tokens import (
    ACCESS_TYP,
    FAMILY_CLAIM,
    REFRESH_TYP,
    TokenService,
    check_access_audience,
    generation_matches,
)
from oauthcli.verify.verifier import check_issuer


@dataclass
class ServerContext:
    live: LiveStore
    settings: IssuerSettings
    key: SigningKey
    sessions: SessionStore
    denylist: Denylist
    throttle: LoginThrottle
    # [issuer].issuer, else the server's own base URL (None: tokens carry no iss)
    issuer: str | None

    # Verified access-token claims by token string: a client that reuses its token
    # (the common case) pays for the signature check once, not per request.
    # Expiry, revocation and the subject's status are still checked every time.
    verified_cache_size: int = 4096
    # Codes, device codes, login sessions, pending logins (oauthcli.state.contract.KINDS).
    records: Records = field(default_factory=MemoryState)
    provider: ProviderSettings = field(default_factory=ProviderSettings)
    # The bound address (serve), and whether a trusted proxy's Host/X-Forwarded-Proto count.
    server_url: str | None = None
    trust_forwarded: bool = False
    # Chosen claims set at run time (the control API's set_claims), by username: they
    # replace the store's [users.NAME.claims] of the same name.
    claim_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    # serve --control's auto_login: blocking; the user the next /authorize completes as
    # (taken once), else None. None: no control API.
    auto_login: Callable[[], str | None] | None = None
    # The resource identifier of this server's own API (RFC 9728, resource_metadata.py):
    # a token whose aud is it is for /users/me and /userinfo.
    api_resource: str | None = None

    def __post_init__(self) -> None:
        self._verified: dict[str, dict[str, Any]] = {}
        issuing = dataclasses.replace(self.settings, issuer=self.issuer)
        # One clock decides everything by time (serve --control moves it: control.ProviderClock).
        clock = self.provider.clock
        self.service = TokenService(
            issuing, self.key, self.sessions, clock=clock, chosen=self.chosen_access_claims
        )
        # Verifies with the store's own settings: when the store names no issuer,
        # tokens minted locally by `oauthcli login`/`issue` (no iss) are accepted too.
        self.verifier = TokenService(self.settings, self.key, clock=clock)
        # DPoP nonces (serve --dpop-nonce): derived from the signing key, so every worker
        # and instance of one server issues and accepts the same ones.
        self.dpop_nonces: NonceSource | None = None
        if self.provider.dpop_nonce:
            self.dpop_nonces = NonceSource(
                nonce_secret(self.key), self.provider.dpop_nonce_period, self.provider.clock
            )

        # serve --control's rotate_keys: keys still published and accepted, by kid, and the
        # rotation applied here (the control document's key generation).
        self.previous_keys: dict[str, TokenService] = {}
        self.key_generation = 0

    def use_keys(self, current: SigningKey, previous: list[SigningKey], generation: int) -> None:
        """Sign with ``current`` from now on; accept and publish ``previous`` too."""
        clock = self.provider.clock
        self.previous_keys = {
            k.kid: TokenService(self.settings, k, clock=clock)
            for k in previous
            if k.kid != current.kid
        }
        self.key = self.service.key = self.verifier.key = current
        self._verified.clear()
        self.key_generation = generation

    def published_keys(self) -> list[SigningKey]:
        """The keys the JWKS publishes: the signing key, then those kept after a rotation."""
        return [self.key, *(v.key for v in self.previous_keys.values())]

    def public_base(self, request: Any) -> str:
        """Where clients reach this server (discovery's URLs, ``verification_uri``): the
        configured ``[issuer] issuer`` URL, else the bound address; never an untrusted
        request's ``Host``."""
        configured = self.settings.issuer
        if configured and configured.startswith(("https://", "http://")):
            return configured.rstrip("/")
        if self.server_url and not self.trust_forwarded:
            return self.server_url.rstrip("/")
        # Behind a trusted proxy (uvicorn applied X-Forwarded-Proto), or in-process use
        # without a server address (create_app over httpx.ASGITransport).
        return str(request.base_url).rstrip("/")

    def rounds(self, data: StoreData) -> int:
        return env.bcrypt_rounds(data.bcrypt_rounds)

    def find_client(self, client_id: str | None, data: StoreData | None = None) -> Client | None:
        """Blocking (a registered client is in the state): the client of this id, enabled or
        not; the one lookup every endpoint uses (client_auth through ``with_registered``)."""
        if not client_id:
            return None
        return self.with_registered(data or self.live.current(), client_id).clients.get(client_id)

    def with_registered(self, data: StoreData, client_id: str | None) -> StoreData:
        """Blocking: ``data``, or a copy naming the client registered at ``/register`` (RFC
        7591) under ``client_id`` when the store has none of that id."""
        if not client_id or client_id in data.clients or self.provider.registration is None:
            return data
        from oauthcli.server.registered import REGISTERED, client_of

        record = self.records.get(REGISTERED, client_id)
        if record is None:
            return data
        return dataclasses.replace(data, clients={**data.clients, client_id: client_of(record)})

    def user_claims(self, username: str, data: StoreData | None = None) -> dict[str, Any]:
        """A user's chosen claims: the store's, with the run-time ones over them."""
        data = data if data is not None else self.live.current()
        user = data.users.get(username)
        stored = user.claims if user is not None else {}
        return {**stored, **self.claim_overrides.get(username, {})}

    def chosen_access_claims(
        self, sub: str, client_id: str | None, scopes: list[str] | None
    ) -> tuple[dict[str, Any], Any]:
        """The one place that decides an access token's chosen claims and ``aud``
        (``TokenService.chosen``): the client's claims, then the user's (``scoped_claims``:
        a standard claim only under its OIDC Core 5.4 scope); the client's ``audience``."""
        from oauthcli.claims import scoped_claims

        data = self.live.current()
        # A registered client (RFC 7591) has no chosen claims or audience: the store's only.
        client = data.clients.get(client_id) if client_id else None
        found: dict[str, Any] = dict(client.claims) if client is not None else {}
        if sub in data.users:
            found.update(scoped_claims(self.user_claims(sub, data), scopes))
        return found, client.audience if client is not None else None

    def audiences(self, data: StoreData) -> frozenset[str]:
        """Every client's own ``audience``: access tokens may name any of them."""
        found: set[str] = set()
        for client in data.clients.values():
            aud = client.audience
            found.update([aud] if isinstance(aud, str) else aud or [])
        return frozenset(found)

    def verifier_for(self, token: str) -> TokenService:
        """The verifier of the key that signed ``token`` (by ``kid``): the signing key's, or
        that of a key ``rotate_keys`` kept published."""
        if not self.previous_keys:
            return self.verifier
        import jwt

        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            kid = None
        return self.previous_keys.get(str(kid), self.verifier)

    def decode(self, token: str, typ: str) -> dict[str, Any]:
        """Verify one of our tokens (``TokenError`` if it is not valid here), access tokens
        for any of the store's RFC 8707 resources included (``own_api`` tells them apart)."""
        accepted = self.audiences(self.live.current()) | set(self.settings.resources)
        claims = self.verifier_for(token).decode(token, typ, audiences=accepted)
        if self.issuer is not None and "iss" in claims:
            check_issuer(claims, self.issuer)
        return claims

    def active_access_claims(
        self, token: str, data: StoreData, *, own_api: bool = True
    ) -> dict[str, Any]:
        """Claims of an access token that is valid, not revoked, and whose subject is active.

        ``own_api``: the token is presented to this server's API (``/users/me``,
        ``/userinfo``), so one issued for another resource (RFC 8707 ``aud``) is refused;
        introspection, which answers for every resource server, passes False."""
        claims = self._verified.get(token)
        if claims is None or claims["exp"] <= self.provider.clock():
            self._verified.pop(token, None)
            claims = self.decode(token, ACCESS_TYP)
            if len(self._verified) >= self.verified_cache_size:
                self._verified.clear()
            self._verified[token] = claims
        if own_api:
            accepted = self.audiences(data)
            if self.api_resource is not None:
                accepted |= {self.api_resource}
            check_access_audience(claims.get("aud"), self.settings.audience, accepted)
        jti = claims.get("jti")
        if isinstance(jti, str) and self.denylist.contains(jti):
            raise TokenError("token has been revoked", Reason.REVOKED)
        sub = claims["sub"]
        if is_client_token(claims):
            client = self.find_client(sub, data)
            if client is None or client.disabled:
                raise TokenError("inactive client", Reason.INACTIVE)
        else:
            check_user(claims, data)
        family_id = claims.get(FAMILY_CLAIM)
        if family_id is not None:
            # Its refresh family was revoked (/revoke, a refresh reuse, a replayed code, the
            # user's sessions ended): RFC 7009 2.1, RFC 6749 4.1.2. A family the state does
            # not know is no revocation, as a jti missing from the denylist is none.
            family = self.sessions.family(str(family_id))
            if family is not None and family["revoked"]:
                raise TokenError("the token's session has been revoked", Reason.REVOKED)
        return claims

    def active_refresh_claims(self, token: str, data: StoreData) -> dict[str, Any]:
        """Blocking (reads the session file): claims of a redeemable refresh token."""
        claims = self.decode(token, REFRESH_TYP)
        family = self.sessions.family(str(claims.get("fam")))
        if (
            family is None
            or not families.is_live(family, self.provider.clock())
            or family["current_jti"] != claims.get("jti")
        ):
            raise TokenError("refresh token is no longer valid", Reason.REVOKED)
        check_user(claims, data)
        claims["scope"] = str(family.get("scope", ""))
        return claims


def nonce_secret(key: SigningKey) -> bytes:
    """A secret for DPoP nonces that only holders of the signing key can derive."""
    import hashlib

    material = key.key
    if not isinstance(material, bytes):
        from cryptography.hazmat.primitives import serialization

        material = material.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    return hashlib.sha256(b"oauthcli dpop nonce\0" + material).digest()


def check_user(claims: dict[str, Any], data: StoreData) -> None:
    """The token's user exists, is active, and is the same account the token was issued to."""
    user = data.users.get(claims["sub"])
    if user is None:
        raise TokenError("the token's subject is not a user of this server", Reason.UNKNOWN_SUBJECT)
    if user.disabled:
        raise TokenError("inactive user", Reason.INACTIVE)
    if not generation_matches(claims, user.generation):
        # Password changed, disabled and enabled, or removed and added again since.
        raise TokenError("the account changed since the token was issued", Reason.STALE)


def is_client_token(claims: dict[str, Any]) -> bool:
    """client_credentials tokens name the client as both ``sub`` and ``client_id`` (RFC 9068)."""
    return claims.get("client_id") is not None and claims.get("client_id") == claims.get("sub")
