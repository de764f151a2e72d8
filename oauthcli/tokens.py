"""Mint and redeem this tool's own JWTs over PyJWT (authentication is in ``oauthcli.login``).

Access tokens carry ``typ: at+jwt`` (RFC 9068) and refresh tokens ``typ: rt+jwt``;
each decoder demands its own type, so one can never stand in for the other.
Refresh tokens also carry no scope claim and no audience, so an API that ignores
``typ`` still refuses them. The clock and the key are passed in, never global.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oauthcli.claims import ACCESS_TYP, OPENID_SCOPES, REFRESH_TYP
from oauthcli.dpop import confirmation, confirmation_jkt, token_type
from oauthcli.errors import AuthenticationError, Reason, TokenError
from oauthcli.issuer import Audience, IssuerSettings
from oauthcli.keys import SigningKey
from oauthcli.sessions import SessionStore
from oauthcli.store import User

if TYPE_CHECKING:
    from oauthcli.verify.verifier import Verifier

# The account generation a token was issued under (oauthcli.accounts); private claim.
GENERATION_CLAIM = "gen"
# The refresh-token family (one login's grant) a token belongs to; private claim of refresh
# tokens and of the access tokens minted with them, so revoking the family ends both.
FAMILY_CLAIM = "fam"
# The RFC 8707 resources a refresh token's grant covers (IssuerSettings.audience_for);
# private claim of refresh tokens, so a refresh may narrow them and never widen them.
RESOURCE_CLAIM = "resource"


# What a provider adds to an access token for ``(sub, client_id, scopes)``: chosen claims
# and the ``aud`` (None: the issuer's). ``serve`` passes ServerContext.chosen_access_claims.
ChosenClaims = Callable[[str, str | None, list[str] | None], tuple[dict[str, Any], Any]]


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None
    token_type: str = "bearer"

    def as_response(self) -> dict[str, Any]:
        """The RFC 6749 section 5.1 token response."""
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        body["scope"] = self.scope
        return body


def new_jti() -> str:
    return secrets.token_urlsafe(16)


class TokenService:
    def __init__(
        self,
        settings: IssuerSettings,
        key: SigningKey,
        sessions: SessionStore | None = None,
        clock: Callable[[], float] = time.time,
        chosen: ChosenClaims | None = None,
    ) -> None:
        self.settings = settings
        self.key = key
        self.sessions = sessions
        self.clock = clock
        self.chosen = chosen
        # Per kind of token: the key and issuer it was made for, and the Verifier.
        self._verifiers: dict[str, tuple[SigningKey, str | None, Verifier]] = {}

    def _encode(self, claims: dict[str, Any], typ: str) -> str:
        return self.key.sign(claims, typ)

    def access_token(
        self,
        sub: str,
        scopes: list[str] | None,
        *,
        ttl: int | None = None,
        audience: str | list[str] | None = None,
        issuer: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Sign an access token; ``extra`` claims are added last and win over the defaults.

        ``scopes=None`` (``issue`` without ``--scope``) leaves the scope claim out.
        """
        now = int(self.clock())
        lifetime = self.settings.access_ttl if ttl is None else ttl
        chosen: dict[str, Any] = {}
        chosen_aud = None
        if self.chosen is not None:
            chosen, chosen_aud = self.chosen(sub, (extra or {}).get("client_id"), scopes)
        claims: dict[str, Any] = {}
        iss = issuer or self.settings.issuer
        if iss:
            claims["iss"] = iss
        claims["sub"] = sub
        aud = audience or chosen_aud or self.settings.audience
        if aud:
            claims["aud"] = aud
        claims.update({"iat": now, "nbf": now, "exp": now + lifetime, "jti": new_jti()})
        if scopes is None:
            pass
        elif self.settings.scope_claim == "scopes":
            claims["scopes"] = list(scopes)
        else:
            claims["scope"] = " ".join(scopes)
        claims.update(chosen)  # never a reserved name (claims.RESERVED_CLAIMS): checked at load
        claims.update(extra or {})
        return self._encode(claims, ACCESS_TYP), claims

    def _refresh_token(
        self,
        sub: str,
        family: str,
        jti: str,
        expires_at: int,
        generation: str | None = None,
        client_id: str | None = None,
        resources: Sequence[str] = (),
        jkt: str | None = None,
    ) -> str:
        now = int(self.clock())
        claims: dict[str, Any] = {}
        if self.settings.issuer:
            claims["iss"] = self.settings.issuer
        claims.update({"sub": sub, "iat": now, "exp": expires_at, "jti": jti, "fam": family})
        claims.update(_bound(generation, client_id))
        if resources:
            claims[RESOURCE_CLAIM] = list(resources)
        claims.update(confirmation(jkt))
        return self._encode(claims, REFRESH_TYP)

    def _require_sessions(self) -> SessionStore:
        if self.sessions is None:
            raise RuntimeError("refresh tokens need a SessionStore")
        return self.sessions

    def login(
        self,
        sub: str,
        scopes: list[str],
        generation: str | None = None,
        client_id: str | None = None,
        access_jti: str | None = None,
        audience: Audience | None = None,
        jkt: str | None = None,
        bind_refresh: bool = False,
    ) -> TokenPair:
        """An access token and the first refresh token of a new session family.

        ``client_id``: the authenticated client the tokens are issued to (RFC 9068's
        claim); only that client may then refresh or revoke them (RFC 6749 6, RFC 7009 2.1).
        Every access token of the family names it (``fam``), so revoking the family ends
        them too (RFC 7009 2.1). ``access_jti``: the access token's ``jti``, chosen before
        (an authorization code's redemption records it first, to revoke on a replay).
        ``audience``: what ``IssuerSettings.audience_for`` decided (RFC 8707); the refresh
        token keeps its resources.
        ``jkt``: the DPoP key the access token is bound to (``cnf``, RFC 9449 6.1); with
        ``bind_refresh`` (a public client, RFC 9449 5) the refresh token is bound too.
        """
        sessions = self._require_sessions()
        jti = new_jti()
        expires_at = int(self.clock()) + self.settings.refresh_ttl
        family = sessions.start(sub, jti, expires_at, scope=" ".join(scopes), now=self.clock())
        extra = {**_bound(generation, client_id), FAMILY_CLAIM: family, **confirmation(jkt)}
        if access_jti is not None:
            extra["jti"] = access_jti
        aud = audience if audience is not None else self.settings.audience_for([])
        access, _ = self.access_token(sub, scopes, audience=aud.aud, extra=extra)
        refresh = self._refresh_token(
            sub, family, jti, expires_at, generation, client_id, aud.resources,
            jkt if bind_refresh else None,
        )  # fmt: skip
        return TokenPair(access, self.settings.access_ttl, " ".join(scopes), refresh,
                         token_type(jkt))  # fmt: skip

    def refresh(
        self,
        refresh_token: str,
        find_user: Callable[[str], User | None],
        scopes: list[str] | None = None,
        client_id: str | None = None,
        resources: Sequence[str] = (),
        jkt: str | None = None,
    ) -> TokenPair:
        """Redeem a refresh token: rotate it and issue a new pair.

        The user must still exist and be active; the new scopes are those of the
        session that the user still holds (``scopes`` may narrow them further).
        ``resources`` (RFC 8707 2.2) picks the access token's audience among the
        resources the refresh token's grant holds.
        ``jkt``: the DPoP key of the request's proof; a refresh token bound to a key
        (a public client's, RFC 9449 5) is redeemed only with a proof of that key, and
        the new one stays bound. The new access token is bound to ``jkt``.
        """
        sessions = self._require_sessions()
        claims = self.decode(refresh_token, REFRESH_TYP)
        family, jti, sub = claims.get("fam"), claims.get("jti"), claims.get("sub")
        if not (isinstance(family, str) and isinstance(jti, str) and isinstance(sub, str)):
            raise TokenError("refresh token lacks its session claims", Reason.CLAIM)
        owner = claims.get("client_id")
        if owner is not None and owner != client_id:
            # RFC 6749 section 6: only the client it was issued to may redeem it.
            raise AuthenticationError("the refresh token was issued to another client")
        held = claims.get(RESOURCE_CLAIM, [])
        if not isinstance(held, list) or not all(isinstance(r, str) for r in held):
            raise TokenError("refresh token has a malformed resource claim", Reason.CLAIM)
        # Before the rotation: a refused request must not use the token up.
        aud = self.settings.audience_for(resources, held)
        bound_to = confirmation_jkt(claims)
        if bound_to is not None and bound_to != jkt:
            # RFC 9449 5: checked before the rotation, so a thief's attempt burns nothing.
            raise AuthenticationError("the refresh token is bound to another DPoP key")
        new_id = new_jti()
        expires_at = int(self.clock()) + self.settings.refresh_ttl
        user = find_user(sub)
        stale = user is None or user.disabled or not generation_matches(claims, user.generation)
        granted: list[str] = []

        def check(record: dict[str, Any]) -> None:
            # Runs before the rotation is saved: a refused request must not use the token up.
            if stale or user is None:
                return  # revoked below
            granted.extend(
                s
                for s in str(record.get("scope", "")).split()
                if s in user.scopes or s in OPENID_SCOPES
            )
            if scopes is not None:
                missing = [s for s in scopes if s not in granted]
                if missing:
                    raise AuthenticationError(
                        f"scope not granted: {' '.join(missing)}", Reason.INVALID_SCOPE
                    )
                granted[:] = [s for s in granted if s in scopes]

        sessions.rotate(family, jti, new_id, expires_at, now=self.clock(), check=check)
        if stale or user is None:
            sessions.revoke_family(family)
            if user is None:
                raise AuthenticationError("the user no longer exists")
            if user.disabled:
                raise AuthenticationError("inactive user", Reason.INACTIVE)
            raise AuthenticationError("the account changed since this session began")
        owner_id = owner if isinstance(owner, str) else None
        extra = {**_bound(user.generation, owner_id), FAMILY_CLAIM: family, **confirmation(jkt)}
        access, _ = self.access_token(sub, granted, audience=aud.aud, extra=extra)
        refresh = self._refresh_token(
            sub, family, new_id, expires_at, user.generation, owner_id, aud.resources, bound_to
        )
        return TokenPair(access, self.settings.access_ttl, " ".join(granted), refresh,
                         token_type(jkt))  # fmt: skip

    def decode(
        self,
        token: str,
        expected_typ: str = ACCESS_TYP,
        audiences: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        """Verify one of our own tokens through ``oauthcli verify``'s checks (signature with
        our key and algorithm only, exactly our ``typ``, exp/nbf/iat, iss, required claims),
        then its audience (:func:`check_access_audience`); ``TokenError`` with verify's reasons.

        ``audiences``: more ``aud`` values an access token may name (the clients' own
        ``audience``); a token without ``aud`` still needs none configured."""
        claims = self.verifier(expected_typ).verify(token).payload
        if expected_typ == ACCESS_TYP:
            check_access_audience(claims.get("aud"), self.settings.audience, audiences)
        else:  # a refresh token names no audience (its resources are a claim of their own)
            check_access_audience(claims.get("aud"), None, frozenset())
        return claims

    def verifier(self, expected_typ: str, *, expired_ok: bool = False) -> Verifier:
        """The ``Verifier`` of our ``expected_typ`` tokens (``at+jwt``, ``rt+jwt``, ``JWT``: an
        ID token), made once per key and issuer. ``expired_ok``: its times are not held
        against it (an ``id_token_hint``, OpenID RP-Initiated Logout 1.0 section 2)."""
        from oauthcli.verify.keyset import key_from_object
        from oauthcli.verify.verifier import LATEST_EXP, Verifier

        kind = {ACCESS_TYP: "access", REFRESH_TYP: "refresh"}.get(expected_typ, "id")
        slot = kind + (" expired ok" if expired_ok else "")
        made = self._verifiers.get(slot)
        if made is not None and made[0] is self.key and made[1] == self.settings.issuer:
            return made[2]
        key = key_from_object(self.key.key, self.key.algorithm, "the issuer's signing key")
        found = Verifier(
            [key],
            [self.key.algorithm],
            issuer=self.settings.issuer,
            # A leeway over every NumericDate the verifier accepts: no time is held against it.
            leeway=LATEST_EXP if expired_ok else 0,
            required_claims=("iat", "sub"),
            token_type=kind,
            exact_type=True,
            now=self.clock,
        )
        self._verifiers[slot] = (self.key, self.settings.issuer, found)
        return found


def check_access_audience(
    aud: Any, configured: str | list[str] | None, accepted: frozenset[str]
) -> None:
    """RFC 7519 4.1.3 over the configured audience and ``accepted`` (verify's
    ``check_audience``): a token without ``aud`` passes unless an audience is configured; one
    naming an audience needs one of them (none allowed: refused, as PyJWT does)."""
    from oauthcli.verify.verifier import check_audience

    if aud is None and not configured:
        return
    allowed = accepted | set([configured] if isinstance(configured, str) else configured or [])
    if not allowed:
        if aud in ("", []):
            return
        raise TokenError(f"token audience {aud!r:.200}; this server expects none", Reason.AUDIENCE)
    check_audience({} if aud is None else {"aud": aud}, frozenset(allowed))


def _bound(generation: str | None, client_id: str | None) -> dict[str, Any]:
    """The claims that tie a user's tokens to the account's state and to their client."""
    claims: dict[str, Any] = {}
    if generation is not None:
        claims[GENERATION_CLAIM] = generation
    if client_id is not None:
        claims["client_id"] = client_id
    return claims


def generation_matches(claims: dict[str, Any], current: str | None) -> bool:
    """Whether a token was issued under the account's current generation.

    A token without ``gen`` (minted by ``oauthcli issue`` by whoever holds the key,
    or by 0.1) is not bound to a generation and passes.
    """
    if GENERATION_CLAIM not in claims:
        return True
    return claims[GENERATION_CLAIM] == current
