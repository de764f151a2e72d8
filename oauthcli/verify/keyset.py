"""Verification keys: from secrets, PEM, key objects and JWK Sets (RFC 7517).

Every key is bound to the algorithms it may check: its own when it declares one
(JWK ``alg``, the ``[issuer]`` setting), else those of its family (an RSA key:
RS256..PS512; a P-256 key: ES256 only). An HMAC algorithm is never paired with
an asymmetric key, whatever form the key came in. Only the public half of an
asymmetric key is kept. Fetching key sets over HTTP is ``oauthcli.verify.fetch``.
PyJWT and cryptography are imported inside the functions that build or use a key
(start-up time: ``decode`` and importing the verifier load neither).

Header fields ``jku``, ``x5u``, ``jwk`` and ``x5c`` are never looked at.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from oauthcli.errors import ConfigError
from oauthcli.jose import b64url_decode
from oauthcli.keys import (
    CURVE_BY_JWK,
    CURVE_BY_SECG,
    EC,
    FAMILIES,
    HMAC,
    OKP,
    RSA,
    RSA_MIN_BITS,
    check_secret_length,
    is_key_material,
    load_pem,
)

FAMILY_ALGORITHMS: dict[str, tuple[str, ...]] = {
    HMAC: ("HS256", "HS384", "HS512"),
    RSA: ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    OKP: ("EdDSA",),
}
_HMAC_DIGEST = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}
_PUBLIC_MEMBERS = {RSA: ("kty", "n", "e"), EC: ("kty", "crv", "x", "y"), OKP: ("kty", "crv", "x")}


@dataclass
class VerificationKey:
    """A public key or shared secret and the algorithms it may verify."""

    family: str
    key: Any  # bytes (HMAC) or a cryptography public key object
    algorithms: tuple[str, ...]
    kid: str | None = None  # only JWKS keys have one; matched against the token's kid
    source: str = ""
    warnings: list[str] = field(default_factory=list)
    _prepared: dict[str, Any] = field(default_factory=dict, repr=False)

    def describe(self) -> str:
        name = {HMAC: "shared secret", RSA: "RSA key", EC: "EC key", OKP: "Ed25519 key"}
        text = name.get(self.family, self.family)
        return f"{text} {self.kid!r}" if self.kid else text

    def verify(self, algorithm: str, signing_input: bytes, signature: bytes) -> bool:
        """True when ``signature`` is valid; ``algorithm`` must be one of ``self.algorithms``."""
        if algorithm not in self.algorithms:
            return False
        if self.family == HMAC:
            expected = hmac.digest(self.key, signing_input, _HMAC_DIGEST[algorithm])
            return hmac.compare_digest(expected, signature)
        prepared = self._prepared.get(algorithm)
        if prepared is None:
            from jwt.algorithms import get_default_algorithms

            implementation = get_default_algorithms()[algorithm]
            prepared = (implementation, implementation.prepare_key(self.key))
            self._prepared[algorithm] = prepared
        implementation, key = prepared
        try:
            return bool(implementation.verify(signing_input, key, signature))
        except Exception:  # a malformed signature must read as "invalid", never crash
            return False


def _family_of_object(key: Any) -> tuple[str, Any, tuple[str, ...]]:
    """(family, public key, algorithms) of a cryptography key object."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        key = key.public_key()
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        key = key.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return RSA, key, FAMILY_ALGORITHMS[RSA]
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = CURVE_BY_SECG.get(key.curve.name)
        if curve is None:
            raise ConfigError(f"unsupported EC curve {key.curve.name}")
        return EC, key, (curve.algorithm,)
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return OKP, key, FAMILY_ALGORITHMS[OKP]
    raise ConfigError(f"cannot verify with a {type(key).__name__.lstrip('_')}")


def _restrict(algorithms: tuple[str, ...], algorithm: str | None, what: str) -> tuple[str, ...]:
    if algorithm is None:
        return algorithms
    if algorithm not in algorithms:
        family = FAMILIES.get(algorithm, "unknown")
        raise ConfigError(f"{what} cannot be used with {algorithm} (a {family} algorithm)")
    return (algorithm,)


def key_from_secret(
    secret: bytes, algorithm: str | None = None, source: str = "secret"
) -> VerificationKey:
    """An HMAC key. Short secrets are accepted for verifying, with a warning in ``warnings``."""
    if algorithm is not None and FAMILIES.get(algorithm) != HMAC:
        raise ConfigError(f"{source}: a shared secret cannot verify {algorithm} tokens")
    if is_key_material(secret):
        raise ConfigError(
            f"{source} holds an asymmetric key, certificate or JWK, not a shared secret "
            "(use --key or --jwks for those)"
        )
    algorithms = (algorithm,) if algorithm else FAMILY_ALGORITHMS[HMAC]
    warnings = [w for w in (check_secret_length(secret, a) for a in algorithms[:1]) if w]
    if warnings:
        warnings = [f"{warnings[0]}; verifying anyway, but such a secret can be brute-forced"]
    return VerificationKey(HMAC, bytes(secret), algorithms, source=source, warnings=warnings)


def key_from_object(
    key: Any, algorithm: str | None = None, source: str = "key", kid: str | None = None
) -> VerificationKey:
    """A key from bytes (an HMAC secret) or a cryptography key object (public half kept)."""
    if isinstance(key, bytes | bytearray):
        return key_from_secret(bytes(key), algorithm, source)
    if isinstance(key, str):
        raise ConfigError(f"{source}: pass secrets as bytes and PEM keys through key_from_pem")
    family, public, algorithms = _family_of_object(key)
    warnings = []
    if family == RSA and public.key_size < RSA_MIN_BITS:
        warnings.append(
            f"{source}: RSA key of {public.key_size} bits is weak (use at least {RSA_MIN_BITS})"
        )
    restricted = _restrict(algorithms, algorithm, f"{source} ({family} key)")
    return VerificationKey(family, public, restricted, kid, source, warnings)


def key_from_pem(data: bytes, source: str = "key", algorithm: str | None = None) -> VerificationKey:
    """A public (or private: its public half) PEM key or X.509 certificate."""
    if b"-----BEGIN" not in data:
        raise ConfigError(f"{source}: not a PEM key (for a shared secret use --secret-file)")
    return key_from_object(load_pem(data, source), algorithm, source)


def _b64url_bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ConfigError(f"{what} is not a base64url string")
    try:
        return b64url_decode(value.rstrip("="))
    except ValueError:
        raise ConfigError(f"{what} is not valid base64url") from None


def key_from_jwk(jwk: dict[str, Any], source: str = "JWK") -> VerificationKey:
    """One JWK (RFC 7517). Raises ``ConfigError`` for keys that cannot verify signatures."""
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
    from jwt.exceptions import PyJWTError

    if not isinstance(jwk, dict):
        raise ConfigError(f"{source}: a JWK must be a JSON object")
    kty = jwk.get("kty")
    kid = jwk.get("kid")
    kid = kid if isinstance(kid, str) else None
    where = f"{source} key {kid!r}" if kid else source
    if jwk.get("use", "sig") != "sig":
        raise ConfigError(f"{where} is for {jwk.get('use')!r}, not signatures")
    ops = jwk.get("key_ops")
    if isinstance(ops, list) and "verify" not in ops:
        raise ConfigError(f"{where} does not allow 'verify' (key_ops {ops})")
    alg = jwk.get("alg")
    if alg is not None and (not isinstance(alg, str) or alg not in FAMILIES):
        raise ConfigError(f"{where} has unsupported alg {alg!r}")
    if kty == "oct":
        secret = _b64url_bytes(jwk.get("k"), f"{where} 'k'")
        key = key_from_secret(secret, alg, where)
        key.kid = kid
        return key
    # Any: PyJWT's from_jwk is a staticmethod that its stubs do not show on the class
    converters: dict[str, tuple[str, Any]] = {
        "RSA": (RSA, RSAAlgorithm),
        "EC": (EC, ECAlgorithm),
        "OKP": (OKP, OKPAlgorithm),
    }
    if kty not in converters:
        raise ConfigError(f"{where} has unsupported key type {kty!r}")
    family, converter = converters[kty]
    public = {m: jwk.get(m) for m in _PUBLIC_MEMBERS[family]}
    if family == EC and public["crv"] not in CURVE_BY_JWK:
        raise ConfigError(f"{where} has unsupported curve {public['crv']!r}")
    try:
        obj = converter.from_jwk(public)
    except (PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"{where} is not a usable {kty} key ({exc})") from None
    return key_from_object(obj, alg, where, kid)


def keys_from_jwks(doc: Any, source: str) -> tuple[list[VerificationKey], list[str]]:
    """Usable keys of a JWK Set (or of a single JWK) and a note for each key skipped."""
    if isinstance(doc, dict) and "keys" not in doc and "kty" in doc:
        doc = {"keys": [doc]}
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ConfigError(f"{source}: not a JWK Set (expected an object with a 'keys' list)")
    keys, skipped = [], []
    for index, jwk in enumerate(doc["keys"]):
        try:
            keys.append(key_from_jwk(jwk, f"{source} #{index}"))
        except ConfigError as exc:
            skipped.append(str(exc))
    if not keys:
        raise ConfigError(
            f"{source}: no usable signature key"
            + (f" ({skipped[0]})" if skipped else " (the set is empty)")
        )
    return keys, skipped


def parse_json_document(data: bytes, source: str, error: type[Exception] = ConfigError) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise error(f"{source} is not valid JSON") from None
