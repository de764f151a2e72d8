"""Verify JWTs: signature against an algorithm allow-list, then type, times, iss, aud, scopes.

``Verifier(keys, ...).verify(token)`` returns a :class:`VerifiedToken` or raises
``TokenError`` (exit 4) / ``TokenTimeError`` (exit 5) whose ``reason`` is one of
these stable codes (``--json`` ``"error"``)::

    too_large      token over 64 KiB (refused before decoding)
    opaque         not a JWT at all (no dots)
    encrypted      a JWE (5 parts): cannot be verified without decrypting
    malformed      bad base64url / JSON / structure, missing alg, non-string kid
    duplicate_key  header or payload JSON repeats a member name
    algorithm      alg is none (any casing), unsupported or not in the allow-list
    crit           header lists critical extensions (none are understood), or b64 without crit
    key            no key for this alg / kid
    signature      signature does not verify
    type           typ says another kind of token (a refresh token where an access token is due)
    claim          exp missing/not a number/past the year 9999, nbf/iat not numbers,
                   iss/sub/jti not strings or aud not a string or array of strings
                   (RFC 7519 4.1), required claim absent
    expired        exp has passed                       (exit 5)
    not_yet_valid  nbf or iat is in the future          (exit 5)
    too_old        iat older than max_age               (exit 5)
    issuer         iss is not exactly the expected one
    audience       aud does not contain an expected audience
    scope          a required scope is missing

Checks run in that order; claims are only read once the signature holds. The
key never comes from the token: ``jku``, ``x5u``, ``jwk``, ``x5c`` are ignored and
``kid`` is only ever a dictionary key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from oauthcli.claims import ACCESS_TYP, REFRESH_TYP, is_numeric_date, scopes_of
from oauthcli.durations import humanize_delta, iso_time
from oauthcli.errors import Reason, TokenError, TokenTimeError, UsageError
from oauthcli.keys import FAMILIES, HMAC, HMAC_MIN_BYTES
from oauthcli.verify import verdict
from oauthcli.verify.fetch import RemoteJWKS
from oauthcli.verify.keyset import VerificationKey
from oauthcli.verify.parse import ParsedToken, normalize, parse

LATEST_EXP = 253_402_300_799  # 9999-12-31T23:59:59Z, the last instant ISO-8601 can write
TIME_REASONS = frozenset({"expired", "not_yet_valid", "too_old"})
TOKEN_TYPES = ("access", "refresh", "any")
_ACCEPTED_TYP: dict[str, frozenset[str | None]] = {
    "access": frozenset({None, "jwt", ACCESS_TYP}),
    "refresh": frozenset({REFRESH_TYP}),
}
# exact_type: the one typ an issuer checking its own tokens accepts (RFC 9068 4: a resource
# server MUST check at+jwt; an OpenID ID token is typ JWT, never at+jwt or rt+jwt).
_EXACT_TYP: dict[str, frozenset[str | None]] = {
    "access": frozenset({ACCESS_TYP}),
    "refresh": frozenset({REFRESH_TYP}),
    "id": frozenset({"jwt"}),
}


@dataclass(frozen=True)
class VerifiedToken:
    header: dict[str, Any]
    payload: dict[str, Any]
    algorithm: str
    key: VerificationKey
    expires_in: int | None
    scopes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for a person: who, scopes, expiry, algorithm and key."""
        sub = self.payload.get("sub")
        who = f"sub {sub[:100]!r}, " if isinstance(sub, str) else ""
        scopes = f"scopes {' '.join(self.scopes)[:200]}, " if self.scopes else ""
        if self.expires_in is None:
            when = "never expires"
        elif self.expires_in < 0:
            when = f"expired {humanize_delta(self.expires_in)} ago, within the leeway"
        else:
            when = f"expires in {humanize_delta(self.expires_in)}"
        return (
            f"signature and claims OK: {who}{scopes}{when}, {self.algorithm}, {self.key.describe()}"
        )


def check_algorithms(algorithms: Iterable[str]) -> tuple[str, ...]:
    """Validate an explicit allow-list: supported names only, ``none`` never."""
    result = []
    for alg in algorithms:
        if alg.lower() == "none":
            raise UsageError("the 'none' algorithm is never accepted")
        if alg not in FAMILIES:
            raise UsageError(f"unsupported algorithm {alg!r}; choose from {', '.join(FAMILIES)}")
        result.append(alg)
    return tuple(dict.fromkeys(result))


class Verifier:
    """Checks tokens against fixed keys (or a remote JWKS) and fixed expectations.

    ``keys``: ``VerificationKey`` objects (``oauthcli.verify.keyset``), or a ``RemoteJWKS``.
    ``algorithms``: explicit allow-list; by default each key's own algorithms.
    ``audience``: one or several accepted values; the token must carry one of them.
    ``now``: the clock (``time.time``), injectable for tests.
    ``exact_type``: ``typ`` must be exactly the kind's own (``at+jwt``, ``rt+jwt``; ``id``:
    ``JWT``), as ``serve`` checks the tokens it issued itself.
    """

    def __init__(
        self,
        keys: Sequence[VerificationKey] | RemoteJWKS,
        algorithms: Iterable[str] | None = None,
        *,
        issuer: str | None = None,
        audience: str | Sequence[str] | None = None,
        leeway: float = 0,
        max_age: float | None = None,
        required_scopes: Sequence[str] = (),
        required_claims: Sequence[str] = (),
        allow_no_exp: bool = False,
        token_type: str = "access",  # noqa: S107 (a kind of token, not a password)
        exact_type: bool = False,
        now: Callable[[], float] = time.time,
    ) -> None:
        if token_type not in (_EXACT_TYP if exact_type else TOKEN_TYPES):
            raise UsageError(f"token type must be one of {', '.join(TOKEN_TYPES)}")
        if leeway < 0 or (max_age is not None and max_age < 0):
            raise UsageError("leeway and max age must not be negative")
        self.remote: RemoteJWKS | None = None
        self._static: list[VerificationKey] | None = None
        if isinstance(keys, RemoteJWKS):
            self.remote = keys
        else:
            self._static = list(keys)
        if self._static is not None and not self._static:
            raise UsageError("no key to verify with")
        self.algorithms = check_algorithms(algorithms) if algorithms is not None else None
        if self.algorithms is not None and self._static is not None:
            usable = {a for k in self._static for a in k.algorithms}
            unusable = [a for a in self.algorithms if a not in usable]
            if unusable:
                kinds = ", ".join(sorted({k.describe() for k in self._static}))
                raise UsageError(
                    f"--alg {unusable[0]} cannot be used with the key given ({kinds})"
                    + (
                        "; HMAC is never paired with a public key"
                        if FAMILIES[unusable[0]] == HMAC
                        else ""
                    )
                )
        self.issuer = issuer
        if isinstance(audience, str):
            audience = [audience]
        self.audience = frozenset(audience) if audience else None
        self.leeway = leeway
        self.max_age = max_age
        self.required_scopes = list(required_scopes)
        self.required_claims = list(required_claims)
        self.allow_no_exp = allow_no_exp
        self.token_type = token_type
        self.exact_type = exact_type
        self.now = now
        self._header_cache: dict[str, dict[str, Any]] = {}
        self._index: Any = None
        self._index_source: list[VerificationKey] | None = None
        self._weak_uses: dict[str, VerificationKey] = {}
        self._remote_warnings: dict[str, None] = {}  # of fetched keys that verified a token

    # -- keys ------------------------------------------------------------------------------

    @property
    def warnings(self) -> list[str]:
        keys = self._static if self._static is not None else []
        return [w for k in keys for w in k.warnings]

    def usage_warnings(self) -> list[str]:
        """Weak keys found by use: each warning once, whatever the number of tokens.

        ``warnings`` judges a secret by the first algorithm it may check (HS256 for
        ``--secret-file``); a 40-byte secret that verifies an HS512 token is reported
        here, once the token has shown which algorithm it uses. Keys of a fetched key
        set (an RSA-1024 key at a URL) are reported here once they verified a token.
        """
        weak_secrets = [
            _weak_secret(alg, key)
            for alg, key in sorted(self._weak_uses.items())
            if not key.warnings
        ]
        return weak_secrets + list(self._remote_warnings)

    def keys(self) -> list[VerificationKey]:
        if self.remote is not None:
            return self.remote.keys()
        assert self._static is not None  # one of the two is set in __init__
        return self._static

    def _indexes(
        self,
    ) -> tuple[
        dict[str, list[VerificationKey]], dict[tuple[str, str | None], list[VerificationKey]]
    ]:
        keys = self.keys()
        if self._index is None or self._index_source is not keys:
            by_alg: dict[str, list[VerificationKey]] = {}
            by_kid: dict[tuple[str, str | None], list[VerificationKey]] = {}
            for key in keys:
                for a in key.algorithms:
                    by_alg.setdefault(a, []).append(key)
                    by_kid.setdefault((a, key.kid), []).append(key)
            self._index, self._index_source = (by_alg, by_kid), keys
        return self._index

    def _lookup(self, alg: str, kid: str | None) -> list[VerificationKey]:
        by_alg, by_kid = self._indexes()
        if kid is None:
            return by_alg.get(alg, [])
        # keys without a kid (PEM, secrets) serve any kid; JWKS keys must match exactly
        return by_kid.get((alg, kid), []) + by_kid.get((alg, None), [])

    def _candidates(self, alg: str, kid: str | None) -> list[VerificationKey]:
        if self.algorithms is not None and alg not in self.algorithms:
            raise TokenError(
                f"algorithm {alg} is not allowed (allowed: {', '.join(self.algorithms)})",
                Reason.ALGORITHM,
            )
        found = self._lookup(alg, kid)
        if not found and kid is not None and self.remote and self.remote.refetch_for(kid):
            found = self._lookup(alg, kid)
        if found:
            return found
        by_alg, _ = self._indexes()
        if alg not in by_alg:
            if self.algorithms is None:
                allowed = ", ".join(sorted(by_alg))
                raise TokenError(
                    f"algorithm {alg} is not allowed for the key given (allowed: {allowed})",
                    Reason.ALGORITHM,
                )
            kinds = ", ".join(sorted({k.describe() for k in self.keys()}))
            raise TokenError(f"no key can verify {alg} (keys: {kinds})", Reason.KEY)
        raise TokenError(f"no key with kid {kid!r:.100} for {alg}", Reason.KEY)

    # -- checks ----------------------------------------------------------------------------

    def parse(self, token: str) -> ParsedToken:
        return parse(normalize(token), header_cache=self._header_cache)

    def verify(self, token: str) -> VerifiedToken:
        return self.check(self.parse(token))

    def check(self, parsed: ParsedToken) -> VerifiedToken:
        alg, kid = check_header(parsed.header)
        for key in self._candidates(alg, kid):
            if key.verify(alg, parsed.signing_input, parsed.signature):
                break
        else:
            raise TokenError("token signature is invalid", Reason.SIGNATURE)
        warnings = list(key.warnings)
        if key.family == HMAC and len(key.key) < HMAC_MIN_BYTES[alg]:
            self._weak_uses.setdefault(alg, key)
            if not key.warnings:
                warnings.append(_weak_secret(alg, key))
        if self.remote is not None:
            self._remote_warnings.update(dict.fromkeys(key.warnings))
        result = self._claims(parsed, alg, key)
        result.warnings[:0] = warnings
        return result

    def _claims(self, parsed: ParsedToken, alg: str, key: VerificationKey) -> VerifiedToken:
        header, payload = parsed.header, parsed.payload
        now = self.now()
        if self.token_type != "any":
            check_type(header, self.token_type, exact=self.exact_type)
        check_claim_types(payload)
        exp = check_exp(payload, now, self.leeway, self.allow_no_exp)
        check_nbf(payload, now, self.leeway)
        check_iat(payload, now, self.leeway)
        if self.max_age is not None:
            check_max_age(payload, now, self.leeway, self.max_age)
        if self.issuer is not None:
            check_issuer(payload, self.issuer)
        if self.audience is not None:
            check_audience(payload, self.audience)
        scopes = scopes_of(payload)
        check_scopes(scopes, self.required_scopes)
        check_required_claims(payload, self.required_claims)
        expires_in = verdict.seconds_until(exp, now) if exp is not None else None
        warnings = []
        if exp is not None and exp <= now:
            warnings.append(
                f"token expired {humanize_delta(now - exp)} ago; accepted within the leeway "
                f"of {humanize_delta(self.leeway)}"
            )
        if self.audience is None and "aud" in payload:
            # PyJWT would reject this token; peers silently skip aud. Accept, but say so.
            shown = json.dumps(payload["aud"], ensure_ascii=False)[:200]
            warnings.append(
                f"audience not checked: the token is for {shown}; give --audience to require it"
            )
        return VerifiedToken(header, payload, alg, key, expires_in, scopes, warnings)

    # -- verdicts --------------------------------------------------------------------------

    def evaluate(
        self, token: str
    ) -> tuple[VerifiedToken | None, TokenError | None, dict[str, Any]]:
        """``(result, None, verdict)`` or ``(None, error, verdict)``: never raises ``TokenError``."""
        parsed = None
        try:
            parsed = self.parse(token)
            result = self.check(parsed)
        except TokenError as exc:
            return None, exc, verdict.of_error(exc, parsed, self.now())
        return result, None, verdict.of_result(result)


def _weak_secret(alg: str, key: VerificationKey) -> str:
    return (
        f"the {alg} secret ({key.source}) is {len(key.key)} bytes; RFC 7518 requires at "
        f"least {HMAC_MIN_BYTES[alg]}; verified anyway, but such a secret can be brute-forced"
    )


# -- header and claim checks, one per member (as PyJWT's _validate_*) --------------------------


def check_header(header: dict[str, Any]) -> tuple[str, str | None]:
    """(alg, kid) of a header this verifier can act on; never ``none``, never an extension."""
    alg = header["alg"]
    if alg.lower() == "none":
        raise TokenError("algorithm 'none' (an unsigned token) is never accepted", Reason.ALGORITHM)
    if alg not in FAMILIES:
        raise TokenError(f"unsupported algorithm {alg[:40]!r}", Reason.ALGORITHM)
    if "crit" in header:
        crit = header["crit"]
        names = ", ".join(str(c)[:40] for c in crit) if isinstance(crit, list) else "?"
        raise TokenError(
            f"token requires extensions this verifier does not understand (crit: {names})",
            Reason.CRIT,
        )
    if "b64" in header and header["b64"] is not True:
        # RFC 7797 3, 6: b64=false signs the payload unencoded and must be listed in crit;
        # without crit a verifier that ignores b64 would check other bytes than were signed.
        raise TokenError(
            "token header sets b64 (RFC 7797 unencoded payload) without listing it in crit; "
            "refusing it",
            Reason.CRIT,
        )
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise TokenError("token header kid is not a string", Reason.MALFORMED)
    return alg, kid


# -- claim checks, one per claim (as PyJWT's _validate_*) ---------------------------------------


def _typ(header: dict[str, Any]) -> str | None:
    typ = header.get("typ")
    if not isinstance(typ, str):
        return None if typ is None else "?"
    typ = typ.lower()
    return typ[len("application/") :] if typ.startswith("application/") else typ


def check_type(header: dict[str, Any], token_type: str, *, exact: bool = False) -> None:
    """``typ`` must fit the kind of token wanted: an access token is never a refresh token.

    ``exact``: only the kind's own ``typ`` (no ``JWT`` or missing one for an access token)."""
    typ = _typ(header)
    if typ in (_EXACT_TYP if exact else _ACCEPTED_TYP)[token_type]:
        return
    if exact:
        kind = {"access": "an access", "refresh": "a refresh", "id": "an ID"}[token_type]
        raise TokenError(f"token is not {kind} token (typ {header.get('typ')!r:.40})", Reason.TYPE)
    if typ == REFRESH_TYP:
        raise TokenError(
            "this is a refresh token (typ rt+jwt), not an access token "
            "(use --token-type refresh to check it)",
            Reason.TYPE,
        )
    kind = "an access" if token_type == "access" else "a refresh"
    raise TokenError(
        f"token type {str(header.get('typ'))[:40]!r} is not {kind} token "
        "(use --token-type any to accept it)",
        Reason.TYPE,
    )


# RFC 7519 4.1.1-4.1.3, 4.1.7: these registered claims are StringOrURI / case-sensitive strings.
STRING_CLAIMS = ("iss", "sub", "jti")


def check_claim_types(payload: dict[str, Any]) -> None:
    """The registered claims have their registered types: ``iss``, ``sub``, ``jti`` strings,
    ``aud`` a string or an array of strings (RFC 7519 4.1; PyJWT refuses the same).

    Checked whether or not a check of the claim's value was asked for: a ``sub`` of
    ``[1, 2]`` is not a subject any consumer of the verdict can rely on.
    """
    for name in STRING_CLAIMS:
        if name in payload and not isinstance(payload[name], str):
            raise TokenError(f"token {name} claim is not a string (RFC 7519 4.1)", Reason.CLAIM)
    aud = payload.get("aud", "")
    if not isinstance(aud, str) and not (
        isinstance(aud, list) and all(isinstance(a, str) for a in aud)
    ):
        raise TokenError(
            "token aud claim is neither a string nor an array of strings (RFC 7519 4.1.3)",
            Reason.CLAIM,
        )


def check_exp(
    payload: dict[str, Any], now: float, leeway: float, allow_missing: bool
) -> float | None:
    """The usable ``exp`` (None when absent and allowed); expired once ``now >= exp + leeway``."""
    exp = payload.get("exp")
    if exp is None:
        if "exp" in payload:
            raise TokenError("token exp claim is null", Reason.CLAIM)
        if not allow_missing:
            raise TokenError(
                "token has no exp claim, so it never expires (use --allow-no-exp to accept that)",
                Reason.CLAIM,
            )
        return None
    if not is_numeric_date(exp):
        raise TokenError("token exp claim is not a number", Reason.CLAIM)
    if exp > LATEST_EXP:
        # exp 1e30 is a token that never expires in disguise
        raise TokenError(
            f"token exp claim {exp:g} is beyond the year 9999: not a usable expiry", Reason.CLAIM
        )
    if now >= exp + leeway:
        raise TokenTimeError(
            f"token expired {humanize_delta(now - exp)} ago (exp {iso_time(exp)})", Reason.EXPIRED
        )
    return exp


def check_nbf(payload: dict[str, Any], now: float, leeway: float) -> None:
    if "nbf" not in payload:
        return
    nbf = payload["nbf"]
    if not is_numeric_date(nbf):
        raise TokenError("token nbf claim is not a number", Reason.CLAIM)
    if nbf > now + leeway:
        raise TokenTimeError(
            f"token is not valid yet: valid in {humanize_delta(nbf - now)} (nbf {iso_time(nbf)})",
            Reason.NOT_YET_VALID,
        )


def check_iat(payload: dict[str, Any], now: float, leeway: float) -> None:
    if "iat" not in payload:
        return
    iat = payload["iat"]
    if not is_numeric_date(iat):
        raise TokenError("token iat claim is not a number", Reason.CLAIM)
    if iat > now + leeway:
        raise TokenTimeError(
            f"token is issued in the future: in {humanize_delta(iat - now)} (iat {iso_time(iat)})",
            Reason.NOT_YET_VALID,
        )


def check_max_age(payload: dict[str, Any], now: float, leeway: float, max_age: float) -> None:
    """``iat`` must be present and no older than ``max_age`` (run after :func:`check_iat`)."""
    iat = payload.get("iat")
    if not is_numeric_date(iat):
        raise TokenError("token has no iat claim, so its age is unknown", Reason.CLAIM)
    if now - iat > max_age + leeway:
        raise TokenTimeError(
            f"token was issued {humanize_delta(now - iat)} ago, more than the maximum age of "
            f"{humanize_delta(max_age)}",
            Reason.TOO_OLD,
        )


def check_issuer(payload: dict[str, Any], issuer: str) -> None:
    iss = payload.get("iss")
    if iss == issuer:
        return
    got = "missing" if iss is None else "not a string"
    if isinstance(iss, str):
        got = repr(iss[:200])
    raise TokenError(f"token issuer {got} is not {issuer!r}", Reason.ISSUER)


def check_audience(payload: dict[str, Any], audience: frozenset[str]) -> None:
    """``aud`` (a string or a list) must hold one of ``audience`` (RFC 7519 4.1.3)."""
    aud = payload.get("aud")
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else None
    if values is not None and any(isinstance(v, str) and v in audience for v in values):
        return
    want = " or ".join(repr(a) for a in sorted(audience))
    got = "is missing" if aud is None else repr(aud)[:200]
    raise TokenError(f"token audience {got}; expected {want}", Reason.AUDIENCE)


def check_scopes(scopes: list[str], required: Sequence[str]) -> None:
    missing = [s for s in required if s not in scopes]
    if missing:
        raise TokenError(f"token lacks required scope: {' '.join(missing)}", Reason.SCOPE)


def check_required_claims(payload: dict[str, Any], names: Sequence[str]) -> None:
    for name in names:
        if payload.get(name) is None:
            raise TokenError(f"token lacks required claim {name!r}", Reason.CLAIM)
