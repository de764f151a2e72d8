"""DPoP (RFC 9449): the proof a client makes and the checks a server runs, in one place.

The client (``login --dpop``, ``call``, ``header``) makes proofs with a ``ProofKey``;
``serve``'s token endpoint and protected routes, and ``verify --dpop-proof``, check them
with ``check_proof``. Thumbprints (``jkt``) and ``ath`` are ``oauthcli.jose``'s.
No network, no state: replay (``jti``) and nonces are the caller's (``oauthcli.server``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from oauthcli.errors import Reason, TokenError
from oauthcli.jose import access_token_hash, b64url_decode, b64url_encode, thumbprint

TYP = "dpop+jwt"  # RFC 9449 4.2
HEADER = "DPoP"  # the request header carrying a proof (RFC 9449 4.1)
NONCE_HEADER = "DPoP-Nonce"  # RFC 9449 8.1
SCHEME = "DPoP"  # Authorization: DPoP <token> (RFC 9449 7.1)
TOKEN_TYPE = "DPoP"  # token_type of a bound token (RFC 9449 5)
# The asymmetric JWS algorithms accepted (RFC 9449 4.3 step 5: never none, never a MAC).
ALGORITHMS = ("ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512",
              "EdDSA")  # fmt: skip
DEFAULT_ALGORITHM = "ES256"
# RFC 9449 11.1: proofs are accepted for a short window around their iat.
MAX_AGE = 300  # seconds a proof stays acceptable after its iat
LEEWAY = 60  # seconds a proof's iat may be ahead of our clock
MAX_PROOF_BYTES = 8 * 1024
# Members of a private JWK (RFC 7518 6.2.2, 6.3.2, 6.4; RFC 8037 2): never in a proof.
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]")
_JTI = re.compile(r"[\x21-\x7e]{1,256}")


class ProofError(TokenError):
    """A DPoP proof refused; ``reason`` is the OAuth error (RFC 9449 5, 7.1, 8, 9):
    ``invalid_dpop_proof``, or ``use_dpop_nonce`` when only the server's nonce is missing."""

    def __init__(self, message: str, reason: Reason = Reason.INVALID_DPOP_PROOF) -> None:
        super().__init__(message, reason)


@dataclass(frozen=True)
class Proof:
    """A proof that passed ``check_proof``."""

    jkt: str  # RFC 7638 thumbprint of the proof's key: what a bound token's cnf.jkt names
    jti: str
    iat: int
    header: dict[str, Any]
    claims: dict[str, Any]


def normalize_htu(url: str) -> str:
    """The URL as ``htu`` compares it: no query, no fragment (RFC 9449 4.2, 4.3 step 9), after
    RFC 3986 6.2.2 syntax-based and 6.2.3 scheme-based normalisation (lower-case scheme and
    host, no default port, an empty path as ``/``, percent-encodings upper-case and
    unreserved characters decoded). ``ValueError`` for anything but an absolute http(s) URL."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError("not an absolute http(s) URL")
    host = parts.hostname.rstrip(".")  # urlsplit lower-cases it and drops IPv6 brackets
    if ":" in host:
        host = f"[{host}]"
    port = parts.port  # ValueError for a port out of range
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, _normalize_path(parts.path or "/"), "", ""))


def _normalize_path(path: str) -> str:
    def one(match: re.Match[str]) -> str:
        char = chr(int(match.group(0)[1:], 16))
        return char if _UNRESERVED.fullmatch(char) else match.group(0).upper()

    return _PERCENT.sub(one, path)


# ------------------------------------------------------------------ the client's key


class ProofKey:
    """The client's DPoP key pair (ES256 by default) and the proofs it signs (RFC 9449 4.2)."""

    def __init__(self, private_key: Any, algorithm: str = DEFAULT_ALGORITHM) -> None:
        from oauthcli.keys import JwtSigner, public_jwk

        self.private_key, self.algorithm = private_key, algorithm
        full = public_jwk(private_key, algorithm)
        # Only the required members (RFC 7638 3.2): no kid, alg or use in the proof's jwk.
        members = ("kty", "crv", "x", "y", "n", "e")
        self.jwk = {m: full[m] for m in members if m in full}
        self.jkt = thumbprint(self.jwk)
        self._signer = JwtSigner(private_key, algorithm)

    @classmethod
    def generate(cls) -> ProofKey:
        from cryptography.hazmat.primitives.asymmetric import ec

        return cls(ec.generate_private_key(ec.SECP256R1()), DEFAULT_ALGORITHM)

    @classmethod
    def from_pem(cls, pem: bytes) -> ProofKey:
        """A key saved by ``to_pem``; ``ValueError`` when it is not an EC P-256 private key."""
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        try:
            key = load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):
            raise ValueError("not a PEM private key") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("not an EC P-256 private key")
        return cls(key, DEFAULT_ALGORITHM)

    def to_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return bytes(
            self.private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    def proof(
        self,
        htm: str,
        htu: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
        now: float | None = None,
    ) -> str:
        """A fresh proof for one request: ``htm``, ``htu`` (no query or fragment), ``iat``, a
        new ``jti``; ``ath`` when presenting ``access_token``; the server's ``nonce``."""
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": htm.upper(),
            "htu": strip_htu(htu),
            "iat": int(time.time() if now is None else now),
        }
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        if nonce is not None:
            claims["nonce"] = nonce
        return self._signer.encode(claims, {"typ": TYP, "jwk": self.jwk})


def strip_htu(url: str) -> str:
    """RFC 9449 4.2: ``htu`` is the request's URI without query and fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


# ------------------------------------------------------------------ checking a proof


def _json_segment(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(segment))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ProofError(f"the DPoP proof's {what} is not base64url JSON") from None
    if not isinstance(value, dict):
        raise ProofError(f"the DPoP proof's {what} is not a JSON object")
    return value


def check_proof(
    proof: str,
    *,
    htm: str,
    htu: str | tuple[str, ...],
    now: float,
    access_token: str | None = None,
    nonces: Collection[str] | None = None,
    algorithms: Collection[str] = ALGORITHMS,
    max_age: float = MAX_AGE,
    leeway: float = LEEWAY,
) -> Proof:
    """RFC 9449 4.3: check one proof for the request ``htm htu`` at ``now``.

    ``htu``: the request's URL, or the URLs it is known by (the address it was sent to and
    the one the server publishes): the proof's must be one of them.
    ``access_token``: the token presented with it (``ath`` must be its hash, 4.3 step 12);
    ``nonces``: the server's currently valid nonces, ``None`` when it asks for none (step 10).
    Binding to a token's ``cnf.jkt`` and refusing a replayed ``jti`` are the caller's
    (``Proof.jkt``, ``Proof.jti``). ``ProofError`` for anything else.
    """
    header, claims, jkt = _verified(proof, algorithms)
    # Step 3: the claims every proof has.
    jti, iat = claims.get("jti"), claims.get("iat")
    if not isinstance(jti, str) or not _JTI.fullmatch(jti):
        raise ProofError("the DPoP proof has no valid jti")
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise ProofError("the DPoP proof has no numeric iat")
    _check_request(claims, htm, htu)
    # Step 11: fresh (RFC 9449 11.1).
    if iat > now + leeway:
        raise ProofError("the DPoP proof's iat is in the future")
    if iat < now - max_age:
        raise ProofError("the DPoP proof is too old")
    # Step 10: the server's nonce (use_dpop_nonce: the client retries with the new one).
    if nonces is not None:
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or nonce not in nonces:
            raise ProofError(
                "the DPoP proof lacks the server's current nonce", Reason.USE_DPOP_NONCE
            )
    # Step 12: bound to the access token presented with it.
    if access_token is not None:
        _check_ath(claims, access_token)
    return Proof(jkt=jkt, jti=jti, iat=int(iat), header=header, claims=claims)


def _verified(
    proof: str, algorithms: Collection[str]
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Steps 2 and 4 to 7: a JWS of typ dpop+jwt, an accepted algorithm, a public jwk that
    verifies the signature. ``(header, claims, jkt)``."""
    import jwt

    if len(proof) > MAX_PROOF_BYTES:
        raise ProofError("the DPoP proof is too large")
    segments = proof.split(".")
    if len(segments) != 3:
        raise ProofError("the DPoP proof is not a JWT")
    header = _json_segment(segments[0], "header")
    claims = _json_segment(segments[1], "payload")
    if header.get("typ") != TYP:
        raise ProofError(f"the DPoP proof's typ is not {TYP}")
    # Step 5: an asymmetric algorithm we accept (never none, never HMAC).
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms or alg not in ALGORITHMS:
        raise ProofError("the DPoP proof's alg is not one this server accepts")
    # Step 7: a public key only.
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise ProofError("the DPoP proof's header has no jwk")
    if any(m in jwk for m in _PRIVATE_MEMBERS):
        raise ProofError("the DPoP proof's jwk holds a private key")
    if alg in _CURVES and jwk.get("crv") != _CURVES[alg]:
        raise ProofError(f"the DPoP proof's jwk is not a {_CURVES[alg]} key, as {alg} needs")
    # Step 6: the signature, with that key.
    try:
        key = jwt.PyJWK(jwk, algorithm=alg).key
        jwt.PyJWS().decode(proof, key, algorithms=[alg])
        jkt = thumbprint(jwk)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        raise ProofError("the DPoP proof's signature does not verify with its jwk") from None
    return header, claims, jkt


def _check_request(claims: dict[str, Any], htm: str, htu: str | tuple[str, ...]) -> None:
    """Steps 8 and 9: the method, and the URL without query and fragment, normalised."""
    if claims.get("htm") != htm.upper():
        raise ProofError(f"the DPoP proof is for another HTTP method (not {htm.upper()})")
    proof_htu = claims.get("htu")
    matches = False
    for url in (htu,) if isinstance(htu, str) else htu:
        try:
            matches = isinstance(proof_htu, str) and normalize_htu(proof_htu) == normalize_htu(url)
        except ValueError:
            continue
        if matches:
            break
    if not matches:
        raise ProofError("the DPoP proof is for another URL")


def _check_ath(claims: dict[str, Any], access_token: str) -> None:
    ath = claims.get("ath")
    try:
        expected = access_token_hash(access_token)
    except ValueError:  # not ASCII: no token of RFC 6749 A.12's syntax
        expected = None
    if not isinstance(ath, str) or ath != expected:
        raise ProofError("the DPoP proof's ath does not match the access token")


def confirmation_jkt(claims: dict[str, Any]) -> str | None:
    """The ``cnf.jkt`` of a token's claims (RFC 9449 6.1), or ``None`` when it names none."""
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    return jkt if isinstance(jkt, str) else None


def confirmation(jkt: str | None) -> dict[str, Any]:
    """The ``cnf`` claim binding a token to a DPoP key's thumbprint (RFC 9449 6.1), if any."""
    return {"cnf": {"jkt": jkt}} if jkt is not None else {}


def token_type(jkt: str | None) -> str:
    """RFC 9449 5: ``DPoP`` for a token bound to a key, else ``bearer``."""
    return TOKEN_TYPE if jkt is not None else "bearer"


class NonceSource:
    """Server nonces (RFC 9449 8, 9) without state: an HMAC of the time window under a secret
    every worker and instance of one server derives alike (from its signing key). The
    nonce rotates every ``period`` seconds; the one before stays valid for a period, so a
    client that just fetched one is not refused at the turn."""

    def __init__(self, secret: bytes, period: int = 300, clock: Callable[[], float] = time.time):
        self.secret, self.period, self.clock = secret, period, clock

    def _nonce(self, window: int) -> str:
        mac = hmac.new(self.secret, f"dpop-nonce:{window}".encode(), hashlib.sha256).digest()
        return b64url_encode(mac[:24])

    def current(self) -> str:
        return self._nonce(int(self.clock() // self.period))

    def valid(self) -> frozenset[str]:
        window = int(self.clock() // self.period)
        return frozenset((self._nonce(window), self._nonce(window - 1)))
