import json
import stat

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from oauthcli import keys
from oauthcli.errors import ConfigError, UsageError

ASYMMETRIC = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "ES512", "EdDSA"]


def pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_rfc7638_thumbprint_example():
    # RFC 7638 section 3.1: the example RSA key and its thumbprint.
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert keys.thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512", *ASYMMETRIC])
def test_generated_key_loads_and_kid_matches_jwks(tmp_path, alg):
    path = tmp_path / "key"
    kid = keys.write_new_key(path, alg)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    signing = keys.load_private_key_file(path, alg)
    assert signing.algorithm == alg and signing.kid == kid
    if alg.startswith("HS"):
        # at least the digest size, as RFC 7518 requires
        assert len(path.read_bytes().strip()) >= keys.HMAC_MIN_BYTES[alg]
        assert signing.public_jwk() is None
        return
    jwks = keys.jwks_from_files([path], alg)
    (jwk,) = jwks["keys"]
    assert jwk["kid"] == kid and jwk["alg"] == alg and jwk["use"] == "sig"
    assert "d" not in jwk and "p" not in jwk  # public half only
    # The JWK is usable by plain PyJWT to verify what the key signs.
    token = jwt.encode({"sub": "x"}, signing.key, algorithm=alg)
    assert jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=[alg])["sub"] == "x"


def test_write_new_key_refuses_to_overwrite_unless_asked(tmp_path):
    path = tmp_path / "k.pem"
    first = keys.write_new_key(path, "ES256")
    with pytest.raises(UsageError, match="already exists"):
        keys.write_new_key(path, "ES256")
    assert keys.load_private_key_file(path, "ES256").kid == first
    second = keys.write_new_key(path, "ES256", overwrite=True)
    assert second != first
    with pytest.raises(UsageError, match="does not exist"):
        keys.write_new_key(tmp_path / "missing" / "k.pem", "ES256")


def test_short_hmac_secrets_are_refused_for_signing():
    with pytest.raises(ConfigError, match="at least 32") as info:
        keys.hmac_signing_key(b"short-secret", "HS256")
    assert "short-secret" not in str(info.value)
    assert "oauthcli keys generate" in str(info.value)
    with pytest.raises(ConfigError, match="at least 64"):
        keys.hmac_signing_key(b"x" * 48, "HS512")
    assert keys.hmac_signing_key(b"x" * 48, "HS384").algorithm == "HS384"


def test_a_key_serves_one_family_and_curve(tmp_path):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    p384 = ec.generate_private_key(ec.SECP384R1())
    (tmp_path / "rsa.pem").write_bytes(pem(rsa_key))
    (tmp_path / "p384.pem").write_bytes(pem(p384))
    with pytest.raises(ConfigError, match="ES256 needs an EC key, not an RSA key"):
        keys.load_private_key_file(tmp_path / "rsa.pem", "ES256")
    with pytest.raises(ConfigError, match="ES256 needs a P-256 key, not P-384"):
        keys.load_private_key_file(tmp_path / "p384.pem", "ES256")
    with pytest.raises(ConfigError, match="EdDSA needs an Ed25519 key, not an RSA key"):
        keys.load_private_key_file(tmp_path / "rsa.pem", "EdDSA")
    with pytest.raises(ConfigError, match=r"RS256 needs an RSA key, not an EC key$"):
        keys.load_private_key_file(tmp_path / "p384.pem", "RS256")
    assert keys.load_private_key_file(tmp_path / "p384.pem", "ES384").algorithm == "ES384"
    # The same RSA key serves RS* and PS* (one family).
    assert keys.load_private_key_file(tmp_path / "rsa.pem", "PS256").family == keys.RSA


def test_small_rsa_keys_are_refused(tmp_path):
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    (tmp_path / "small.pem").write_bytes(pem(small))
    with pytest.raises(ConfigError, match="too small"):
        keys.load_private_key_file(tmp_path / "small.pem", "RS256")


def test_missing_key_file_says_how_to_create_it(tmp_path):
    with pytest.raises(ConfigError, match="oauthcli keys generate --alg RS256 --out"):
        keys.load_private_key_file(tmp_path / "nope.pem", "RS256")
    with pytest.raises(ConfigError, match="oauthcli keys generate --alg HS256 --out"):
        keys.read_secret_file(tmp_path / "nope.secret")


def test_public_key_cannot_sign(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "pub.pem").write_bytes(public)
    with pytest.raises(ConfigError, match="public key"):
        keys.load_private_key_file(tmp_path / "pub.pem", "ES256")
    # ... but it can be published: rotation keeps old public keys in the JWKS.
    assert keys.jwks_from_files([tmp_path / "pub.pem"])["keys"][0]["crv"] == "P-256"


def test_jwks_of_several_keys_deduplicates_and_refuses_hmac(tmp_path):
    a, b = tmp_path / "a.pem", tmp_path / "b.pem"
    kid_a = keys.write_new_key(a, "ES256")
    kid_b = keys.write_new_key(b, "EdDSA")
    jwks = keys.jwks_from_files([a, b, a])
    assert [k["kid"] for k in jwks["keys"]] == [kid_a, kid_b]
    assert [k["alg"] for k in jwks["keys"]] == ["ES256", "EdDSA"]
    json.dumps(jwks)
    secret = tmp_path / "hs.secret"
    keys.write_new_key(secret, "HS256")
    with pytest.raises(ConfigError, match="HMAC secrets have no public JWK") as info:
        keys.jwks_from_files([secret])
    assert secret.read_text().strip() not in str(info.value)
    with pytest.raises(UsageError, match="no public JWK"):
        keys.jwks_from_files([a], "HS256")


def test_unknown_and_none_algorithms_are_refused():
    for alg in ("none", "HS1", "RS1", ""):
        with pytest.raises(UsageError, match="unsupported algorithm"):
            keys.family_of(alg)


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
def test_public_jwk_has_use_but_not_key_ops(alg):
    from oauthcli.keys import generate, load_pem, public_jwk

    jwk = public_jwk(load_pem(generate(alg), "test"), alg)
    assert jwk["use"] == "sig" and "key_ops" not in jwk


def _key_materials() -> list[bytes]:
    """Every form of key a person might put in a secret file by mistake."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.x509.oid import NameOID

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    spki, pem_enc, der_enc = (
        serialization.PublicFormat.SubjectPublicKeyInfo,
        serialization.Encoding.PEM,
        serialization.Encoding.DER,
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ec_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(ec_key, hashes.SHA256())
    )
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key())
    materials = [pem(rsa_key), pem(ec_key), pem(ed_key), cert.public_bytes(pem_enc)]
    for key in (rsa_key, ec_key, ed_key):
        public = key.public_key()
        materials += [public.public_bytes(pem_enc, spki), public.public_bytes(der_enc, spki)]
        materials.append(
            public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        )
    materials += [
        cert.public_bytes(der_enc),
        rsa_key.public_key().public_bytes(der_enc, serialization.PublicFormat.PKCS1),
        jwk.encode(),
        json.dumps({"keys": [json.loads(jwk)]}).encode(),
        jwk.encode("utf-16"),
        b"  \n" + pem(ec_key).replace(b"\n", b"\r\n"),
    ]
    return materials


def test_key_material_is_never_taken_for_a_shared_secret():
    for material in _key_materials():
        assert keys.is_key_material(material), material[:40]


@pytest.mark.parametrize(
    "secret",
    [
        b"s" * 32,
        b"0123456789abcdef0123456789abcdef",  # starts like DER: PyJWT looks, and accepts it
        b"{not json but a secret}-padding-to-32-bytes",
        b"ssh-is-not-a-key-type-here-at-all-really",
        b"-----not a PEM marker-----abcdefghij",
        bytes(range(256)),
    ],
)
def test_plain_secrets_are_shared_secrets_as_pyjwt_says(secret):
    from jwt.algorithms import HMACAlgorithm
    from jwt.exceptions import InvalidKeyError

    try:
        HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(secret)
        pyjwt_refuses = False
    except InvalidKeyError:
        pyjwt_refuses = True
    assert keys.is_key_material(secret) is pyjwt_refuses


def test_random_secrets_agree_with_pyjwt():
    """Generated secrets, as 'keys generate' and people make them: the cheap test and PyJWT agree."""
    import random
    import secrets as secrets_module

    from jwt.algorithms import HMACAlgorithm
    from jwt.exceptions import InvalidKeyError

    rng = random.Random(7)
    samples = [secrets_module.token_bytes(32) for _ in range(200)]
    samples += [
        bytes(rng.randrange(32, 127) for _ in range(rng.randrange(1, 80))) for _ in range(500)
    ]
    for secret in samples:
        try:
            HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(secret)
            refused = False
        except InvalidKeyError:
            refused = True
        assert keys.is_key_material(secret) is refused, secret


def test_every_form_pyjwt_knows_as_key_material_is_refused():
    """Built from PyJWT's own tables, so a rule it adds to them is checked here too."""
    from jwt import utils

    deep = b"[" * 5000 + b'"kty":"oct","k":"x"'  # JSON too deep to parse: PyJWT scans it
    forms = [deep, deep.decode().encode("utf-16"), deep.decode().encode("utf-32-be")]
    for label in utils._PEMS:
        forms.append(b"-----BEGIN " + label + b"-----\nMIIB\n-----END " + label + b"-----\n")
    forms += [
        prefix + b" AAAAC3NzaC1lZDI1NTE5AAAAIA== me@host" for prefix in utils._SSH_KEY_FORMATS
    ]
    for form in forms:
        assert keys.is_key_material(form), form[:60]


def test_a_dsa_key_is_named_without_a_deprecation_warning(tmp_path):
    # cryptography 51 deprecates the dsa module's names; the key is still refused by name,
    # and reading it raises no warning (pytest turns warnings into errors).
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from cryptography.hazmat.primitives.asymmetric import dsa

        dsa_key = dsa.generate_private_key(key_size=2048)
        (tmp_path / "dsa.pem").write_bytes(pem(dsa_key))
    with pytest.raises(ConfigError, match="ES256 needs an EC key, not a DSA key"):
        keys.load_private_key_file(tmp_path / "dsa.pem", "ES256")


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512", *ASYMMETRIC])
def test_a_signed_jwt_is_what_pyjwt_writes_and_verifies(tmp_path, alg):
    """``SigningKey.sign`` (the one signer: tokens, ID tokens, assertions) writes the header
    and payload as PyJWT does; deterministic algorithms give PyJWT's exact token, and
    every signature verifies with PyJWT and the key's public half."""
    from oauthcli.issuer import IssuerSettings

    path = tmp_path / "key"
    keys.write_new_key(path, alg)
    key = IssuerSettings(algorithm=alg, key_file=path).signing_key()
    claims = {"sub": "alice", "aud": ["a", "b"], "iat": 1, "scope": "me", "name": "Zoë"}
    token = key.sign(claims, "at+jwt")
    again = key.sign({**claims, "sub": "bob"}, "at+jwt")  # the header's segment, kept
    expected = jwt.encode(claims, key.key, algorithm=alg, headers={"typ": "at+jwt", "kid": key.kid})
    assert token.split(".")[:2] == expected.split(".")[:2]
    assert again.split(".")[0] == token.split(".")[0]
    if alg.startswith(("HS", "RS", "Ed")):
        assert token == expected
    options = {"verify_aud": False}
    verifier = key.verification_key()
    assert jwt.decode(token, verifier, algorithms=[alg], options=options) == claims
    assert jwt.decode(again, verifier, algorithms=[alg], options=options)["sub"] == "bob"
    assert jwt.get_unverified_header(token) == {"alg": alg, "kid": key.kid, "typ": "at+jwt"}
