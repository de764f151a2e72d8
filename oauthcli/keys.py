"""Signing keys: generate, load, RFC 7638 key ids and RFC 7517 JWKS.

An algorithm belongs to one family (HMAC, RSA, EC, OKP) and a key is checked
against it before use, so an RSA key can never sign HS256 or an EC P-384 key
ES256. ``cryptography`` is imported only here, when a key is actually needed.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from oauthcli.errors import ConfigError, UsageError
from oauthcli.fileio import atomic_write, read_private
from oauthcli.jose import b64url_encode
from oauthcli.jose import thumbprint as jose_thumbprint

HMAC = "HMAC"
RSA = "RSA"
EC = "EC"
OKP = "OKP"

FAMILIES: dict[str, str] = {
    "HS256": HMAC,
    "HS384": HMAC,
    "HS512": HMAC,
    "RS256": RSA,
    "RS384": RSA,
    "RS512": RSA,
    "PS256": RSA,
    "PS384": RSA,
    "PS512": RSA,
    "ES256": EC,
    "ES384": EC,
    "ES512": EC,
    "EdDSA": OKP,
}
SUPPORTED_ALGORITHMS = tuple(FAMILIES)
# RFC 7518 3.2: an HMAC key must be at least as long as the hash output.
HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
RSA_MIN_BITS = 2048


@dataclass(frozen=True)
class Curve:
    """An EC curve under its three names: JWS ``alg``, JWK ``crv`` and cryptography's."""

    algorithm: str  # RFC 7518 3.4
    jwk: str  # RFC 7518 6.2.1.1
    secg: str  # cryptography's curve.name (SEC 2)

    def new(self) -> Any:
        """cryptography's curve object (``ec.SECP256R1()`` ...)."""
        from cryptography.hazmat.primitives.asymmetric import ec

        curve: Any = getattr(ec, self.secg.upper())()
        return curve


# The one table of EC curves; every lookup below is an index of it.
EC_CURVES = (
    Curve("ES256", "P-256", "secp256r1"),
    Curve("ES384", "P-384", "secp384r1"),
    Curve("ES512", "P-521", "secp521r1"),
)
CURVE_BY_ALGORITHM = {c.algorithm: c for c in EC_CURVES}
CURVE_BY_JWK = {c.jwk: c for c in EC_CURVES}
CURVE_BY_SECG = {c.secg: c for c in EC_CURVES}


def family_of(algorithm: str) -> str:
    try:
        return FAMILIES[algorithm]
    except KeyError:
        raise UsageError(
            f"unsupported algorithm {algorithm!r}; choose one of {', '.join(SUPPORTED_ALGORITHMS)}"
        ) from None


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256) of the key's required members (``jose.thumbprint``)."""
    try:
        return jose_thumbprint(jwk)
    except ValueError:
        raise ConfigError(f"cannot compute a key id for key type {jwk.get('kty')!r}") from None


@dataclass(frozen=True)
class SigningKey:
    """A key bound to one algorithm. ``key`` is a cryptography key object or HMAC bytes."""

    algorithm: str
    key: Any
    kid: str

    @property
    def family(self) -> str:
        return FAMILIES[self.algorithm]

    def public_jwk(self) -> dict[str, Any] | None:
        """The public half as a JWK, or None for HMAC secrets (they have no public half)."""
        if self.family == HMAC:
            return None
        return public_jwk(self.key, self.algorithm)

    def verification_key(self) -> Any:
        return self.key if self.family == HMAC else self.key.public_key()

    @cached_property
    def signer(self) -> JwtSigner:
        return JwtSigner(self.key, self.algorithm)

    def sign(self, claims: dict[str, Any], typ: str) -> str:
        """A JWT of ``claims`` with this key: ``typ`` and the key's ``kid`` in its header."""
        return self.signer.encode(claims, {"typ": typ, "kid": self.kid})


class JwtSigner:
    """Compact JWS (RFC 7515 7.1) with one key: the one way oauthcli signs a JWT.

    The header and payload are written as PyJWT writes them (compact JSON; the header's
    members sorted, ``alg`` set here), and PyJWT's algorithm signs (for ECDSA, the
    R || S form of RFC 7518 3.4), with the key prepared once and each header's encoded
    segment kept: on a token endpoint these were a sixth of a request.
    """

    def __init__(self, key: Any, algorithm: str) -> None:
        from jwt import get_algorithm_by_name

        self.algorithm = algorithm
        self._algorithm = get_algorithm_by_name(algorithm)
        self._key = self._algorithm.prepare_key(key)
        self._headers: dict[tuple[tuple[str, str], ...], bytes] = {}

    def encode(self, claims: dict[str, Any], headers: dict[str, Any]) -> str:
        segment = self._header_segment(headers)
        payload = json.dumps(claims, separators=(",", ":")).encode("utf-8")
        signing_input = segment + b"." + b64url_encode(payload).encode("ascii")
        signature = self._algorithm.sign(signing_input, self._key)
        return (signing_input + b"." + b64url_encode(signature).encode("ascii")).decode("ascii")

    def _header_segment(self, headers: dict[str, Any]) -> bytes:
        cacheable = len(headers) <= 4 and all(isinstance(v, str) for v in headers.values())
        memo = tuple(sorted(headers.items())) if cacheable else None
        if memo is not None and memo in self._headers:
            return self._headers[memo]
        header = json.dumps(
            {**headers, "alg": self.algorithm}, separators=(",", ":"), sort_keys=True
        )
        segment = b64url_encode(header.encode("utf-8")).encode("ascii")
        if memo is not None and len(self._headers) < 16:
            self._headers[memo] = segment
        return segment


def public_jwk(key: Any, algorithm: str) -> dict[str, Any]:
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

    public = key.public_key() if hasattr(key, "private_bytes") else key
    # PyJWT's to_jwk is a staticmethod that its stubs do not show on the class
    converter: Any = {RSA: RSAAlgorithm, EC: ECAlgorithm, OKP: OKPAlgorithm}[FAMILIES[algorithm]]
    jwk: dict[str, Any] = dict(converter.to_jwk(public, as_dict=True))
    # RFC 7517 4.3: "use" and "key_ops" SHOULD NOT be used together; PyJWT adds key_ops to RSA.
    jwk.pop("key_ops", None)
    jwk.update({"kid": thumbprint(jwk), "alg": algorithm, "use": "sig"})
    return jwk


def check_key_matches(key: Any, algorithm: str) -> None:
    """Raise ``ConfigError`` unless ``key`` is of ``algorithm``'s family (and curve)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    family = family_of(algorithm)
    expected: dict[str, tuple[Any, ...]] = {  # Any: keep ``key`` Any after isinstance
        RSA: (rsa.RSAPrivateKey, rsa.RSAPublicKey),
        EC: (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey),
        OKP: (
            ed25519.Ed25519PrivateKey,
            ed25519.Ed25519PublicKey,
            ed448.Ed448PrivateKey,
            ed448.Ed448PublicKey,
        ),
    }
    if family == HMAC:
        if not isinstance(key, bytes):
            raise ConfigError(f"{algorithm} needs a shared secret, not {_describe(key, True)}")
        return
    if not isinstance(key, expected[family]):
        wanted = "Ed25519" if family == OKP else family
        raise ConfigError(
            f"{algorithm} needs {_article(wanted)} {wanted} key, not {_describe(key, True)}"
        )
    if family == OKP and not isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        # PyJWT can verify Ed448 but RFC 8037 clients mostly cannot, and the JWK would need crv Ed448.
        raise ConfigError(f"{algorithm} here means Ed25519; an Ed448 key is not supported")
    if family == EC:
        found = CURVE_BY_SECG.get(key.curve.name)
        wanted = CURVE_BY_ALGORITHM[algorithm].jwk
        if found is None or found.algorithm != algorithm:
            shown = found.jwk if found else key.curve.name
            raise ConfigError(f"{algorithm} needs a {wanted} key, not {shown}")
    if family == RSA and key.key_size < RSA_MIN_BITS:
        raise ConfigError(
            f"RSA key of {key.key_size} bits is too small; use at least {RSA_MIN_BITS}"
        )


def _article(word: str) -> str:
    # Said as letters: "an RSA key", "an HMAC key", "an X25519 key", "an EC key".
    return "an" if word[:1] in "AEIOUaeiouXRH" else "a"


def _describe(key: Any, article: bool = False) -> str:
    """A person's name for ``key``'s kind: ``"an RSA key"``, ``"an X25519 key (...)"``."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519

    agreement = " (for key agreement, not signing)"
    kinds: tuple[tuple[tuple[type, ...], str], ...] = (
        ((rsa.RSAPrivateKey, rsa.RSAPublicKey), "RSA key"),
        ((ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey), "EC key"),
        ((ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey), "Ed25519 key"),
        ((ed448.Ed448PrivateKey, ed448.Ed448PublicKey), "Ed448 key"),
        ((x25519.X25519PrivateKey, x25519.X25519PublicKey), "X25519 key" + agreement),
        ((x448.X448PrivateKey, x448.X448PublicKey), "X448 key" + agreement),
    )
    if isinstance(key, bytes):
        text = "shared secret"
    elif type(key).__name__ in ("DSAPrivateKey", "DSAPublicKey"):
        # By name: cryptography 51 deprecates reading the ``dsa`` module's key types, and
        # tests turn that warning into an error (a DSA key is refused by name either way).
        text = "DSA key"
    else:
        text = next((name for types, name in kinds if isinstance(key, types)), type(key).__name__)
    return f"{_article(text)} {text}" if article else text


def generate(algorithm: str) -> bytes:
    """New key material for ``algorithm``: PKCS#8 PEM, or a random secret for HMAC."""
    family = family_of(algorithm)
    if family == HMAC:
        # URL-safe text so the secret can also live in OAUTHCLI_SECRET; 64 random bytes.
        return secrets.token_urlsafe(64).encode() + b"\n"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if family == RSA:
        key: Any = rsa.generate_private_key(
            public_exponent=65537, key_size=3072 if algorithm.endswith("512") else 2048
        )
    elif family == EC:
        key = ec.generate_private_key(CURVE_BY_ALGORITHM[algorithm].new())
    else:
        key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def key_id(material: bytes, algorithm: str) -> str:
    """The ``kid`` tokens signed with ``material`` (as ``generate`` returns it) will carry."""
    if family_of(algorithm) == HMAC:
        secret = material.strip()
        return thumbprint({"kty": "oct", "k": b64url_encode(secret)})
    key = load_pem(material, "generated key")
    return str(public_jwk(key, algorithm)["kid"])


def write_new_key(path: Path, algorithm: str, *, overwrite: bool = False) -> str:
    """Generate key material for ``algorithm`` into ``path`` (mode 0600, atomic); return its kid."""
    family_of(algorithm)
    if path.is_dir():
        raise UsageError(f"{path} is a directory; give a file name")
    if path.exists() and not overwrite:
        raise UsageError(f"{path} already exists (use --force to replace it)")
    if not path.parent.is_dir():
        raise UsageError(f"directory {path.parent} does not exist")
    material = generate(algorithm)
    try:
        atomic_write(path, material, mode=0o600)
    except OSError as exc:  # permission denied, read-only file system, disk full
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    return key_id(material, algorithm)


def read_secret_file(path: Path) -> bytes:
    """An HMAC secret from a file only its owner can read (else the ``chmod`` to run)."""
    try:
        secret = read_private(path, "secret file").strip()
    except FileNotFoundError:
        raise ConfigError(
            f"secret file {path} not found (create one with 'oauthcli keys generate --alg HS256 --out {path}')"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"secret file {path} is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read secret file {path}: {exc.strerror}") from None
    if not secret:
        raise ConfigError(f"secret file {path} is empty")
    return secret


def check_secret_length(secret: bytes, algorithm: str) -> str | None:
    """A warning text when ``secret`` is shorter than RFC 7518 requires, else None."""
    needed = HMAC_MIN_BYTES[algorithm]
    if len(secret) < needed:
        return f"the {algorithm} secret is {len(secret)} bytes; RFC 7518 requires at least {needed}"
    return None


_SSH_KEY_PREFIXES = (b"ssh-", b"ecdsa-sha2-", b"sk-")


def is_key_material(secret: bytes) -> bool:
    """True when ``secret`` is a PEM, DER or SSH key, a certificate or a JWK: not a shared secret.

    PyJWT's rule (``HMACAlgorithm.prepare_key``), for signing and verifying alike: a
    public key used as an HMAC secret lets anyone who has it forge tokens (RFC 8725
    section 3.1). Importing PyJWT costs about 80 ms (it loads cryptography), so a cheap
    test rules out what it would surely accept first: a PEM block has "----" markers,
    DER starts with an ASN.1 SEQUENCE (0x30, "0"), a JWK is a JSON object or array ("{"
    or "[" in any UTF encoding: PyJWT also scans JSON too deep to parse for a "kty"
    member), an SSH key starts with its type name. An empty secret is left to it.
    """
    if secret and not (
        b"----" in secret
        or b"{" in secret
        or b"[" in secret
        or secret[:1] == b"0"
        or secret.startswith(_SSH_KEY_PREFIXES)
    ):
        return False
    from jwt.algorithms import HMACAlgorithm
    from jwt.exceptions import InvalidKeyError

    try:
        HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(secret)
    except InvalidKeyError:
        return True
    return False


def hmac_signing_key(secret: bytes, algorithm: str, source: str = "the secret") -> SigningKey:
    """An HMAC key for signing: asymmetric key files and short secrets are refused."""
    if is_key_material(secret):
        raise ConfigError(
            f"{source} holds an asymmetric key, certificate or JWK, not a shared secret "
            f"({algorithm} signs with a shared secret; for that key set the [issuer] algorithm "
            "to its own, e.g. RS256, ES256 or EdDSA)"
        )
    problem = check_secret_length(secret, algorithm)
    if problem:
        raise ConfigError(
            f"{problem}; refusing to sign with it "
            f"(generate one with 'oauthcli keys generate --alg {algorithm} --out FILE')"
        )
    return SigningKey(algorithm, secret, thumbprint({"kty": "oct", "k": b64url_encode(secret)}))


def load_pem(data: bytes, source: str) -> Any:
    """A private or public key object from PEM bytes (or an X.509 certificate's public key)."""
    import warnings

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.utils import CryptographyDeprecationWarning

    try:
        # A DSA key loads with a deprecation warning (cryptography 51); it is refused by
        # name afterwards (``_describe``), so the warning would only come before the error.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            if b"PRIVATE KEY" in data:
                return serialization.load_pem_private_key(data, password=None)
            if b"CERTIFICATE" in data:
                return x509.load_pem_x509_certificate(data).public_key()
            return serialization.load_pem_public_key(data)
    except TypeError:
        raise ConfigError(f"{source}: encrypted private keys are not supported") from None
    except ValueError as exc:
        raise ConfigError(f"{source}: not a usable PEM key ({exc})") from None


def load_private_key_file(path: Path, algorithm: str) -> SigningKey:
    """A signing key from a file only its owner can read (else the ``chmod`` to run)."""
    try:
        data = read_private(path, "key file")
    except FileNotFoundError:
        raise ConfigError(
            f"key file {path} not found (create one with 'oauthcli keys generate --alg {algorithm} --out {path}')"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"key file {path} is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc.strerror}") from None
    if family_of(algorithm) == HMAC:
        return hmac_signing_key(data.strip(), algorithm, str(path))
    key = load_pem(data, str(path))
    if not hasattr(key, "private_bytes"):
        raise ConfigError(f"{path} holds a public key; signing needs the private key")
    check_key_matches(key, algorithm)
    jwk = public_jwk(key, algorithm)
    return SigningKey(algorithm, key, jwk["kid"])


def guess_algorithm(key: Any) -> str:
    """The natural algorithm of an asymmetric key (RS256, ES256/384/512, EdDSA)."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        curve = CURVE_BY_SECG.get(key.curve.name)
        if curve is not None:
            return curve.algorithm
        raise ConfigError(f"unsupported EC curve {key.curve.name}")
    return "EdDSA"


def jwks_from_files(paths: list[Path], algorithm: str | None = None) -> dict[str, Any]:
    """The public JWKS of PEM key files.

    Without ``algorithm``, an EC or Ed25519 key's ``alg`` follows from its curve; an RSA
    key gets no ``alg`` at all: the file cannot tell RS256 from PS512, and a wrong label
    makes verifiers (ours, node ``jose``) refuse the tokens it signs (RFC 7517 4.4:
    ``alg`` is OPTIONAL).
    """
    keys: list[dict[str, Any]] = []
    seen: set[str] = set()
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read key file {path}: {exc.strerror}") from None
        if b"-----BEGIN" not in data:
            raise ConfigError(
                f"{path}: not a PEM key (HMAC secrets have no public JWK and are never published)"
            )
        key = load_pem(data, str(path))
        alg = algorithm or guess_algorithm(key)
        if family_of(alg) == HMAC:
            raise UsageError(f"{alg} keys are shared secrets: they have no public JWK")
        check_key_matches(key, alg)
        jwk = public_jwk(key, alg)
        if algorithm is None and family_of(alg) == RSA:
            del jwk["alg"]
        if jwk["kid"] not in seen:  # the same key named twice is published once
            seen.add(jwk["kid"])
            keys.append(jwk)
    return {"keys": keys}
