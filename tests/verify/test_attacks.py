"""The classic JWT attacks as fixed vectors (tests/vectors/attacks.json), in the core and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from oauthcli.errors import ConfigError, TokenError, UsageError
from oauthcli.keys import generate, load_pem, public_jwk
from oauthcli.verify.keyset import key_from_jwk, key_from_object, key_from_pem, keys_from_jwks
from oauthcli.verify.verifier import TIME_REASONS, Verifier
from tests._jwks_server import JsonSite
from tests.conftest import assert_one_line_error

VECTORS_DIR = Path(__file__).parent.parent / "vectors"
VECTORS = json.loads((VECTORS_DIR / "attacks.json").read_text())["vectors"]
JWKS_FILE = str(VECTORS_DIR / "jwks.json")
RSA_PUBLIC = str(VECTORS_DIR / "rsa_public.pem")
NOW = 1_700_000_100  # just after the vectors' iat


def by_name(name: str) -> dict:
    return next(v for v in VECTORS if v["name"] == name)


def verifier_for(vector: dict, keys) -> Verifier:
    o = vector["options"]
    return Verifier(
        keys,
        issuer=o.get("issuer"),
        audience=o.get("audience"),
        required_scopes=o.get("required_scopes", ()),
        allow_no_exp=o.get("allow_no_exp", False),
        token_type=o.get("token_type", "access"),
        now=lambda: NOW,
    )


def cli_options(vector: dict) -> list[str]:
    o = vector["options"]
    args = []
    if "issuer" in o:
        args += ["--issuer", o["issuer"]]
    if "audience" in o:
        args += ["--audience", o["audience"]]
    for scope in o.get("required_scopes", ()):
        args += ["--require-scope", scope]
    if o.get("allow_no_exp"):
        args.append("--allow-no-exp")
    if "token_type" in o:
        args += ["--token-type", o["token_type"]]
    return args


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_in_core(vector):
    keys, _ = keys_from_jwks(json.loads(Path(JWKS_FILE).read_text()), "jwks.json")
    verdict = verifier_for(vector, keys).evaluate(vector["token"])[2]
    assert verdict["error"] == vector["reason"], verdict["message"]
    assert verdict["valid"] is (vector["reason"] is None)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_through_the_cli(cli, vector):
    result = cli("verify", "--jwks", JWKS_FILE, "--json", *cli_options(vector), vector["token"])
    verdict = json.loads(result.stdout)
    assert verdict["error"] == vector["reason"], verdict["message"]
    if vector["reason"] is None:
        assert result.exit_code == 0, result.stderr
        return
    code = 5 if vector["reason"] in TIME_REASONS else 4
    assert_one_line_error(result, code)
    assert "Traceback" not in result.output


def test_vectors_cover_the_issue_list():
    names = " ".join(v["name"] for v in VECTORS)
    for needed in (
        "alg_none",
        "alg_None",
        "alg_NONE",
        "alg_nOnE",
        "hs256_signed_with_rsa_public_pem",
        "hs256_signed_with_rsa_public_jwk",
        "stripped_signature",
        "tampered_payload",
        "tampered_signature",
        "es256_psychic_zero_signature",
        "unknown_crit",
        "exp_missing",
        "exp_null",
        "exp_string",
        "iss_prefix",
        "kid_injection",
        "refresh_token_as_access",
        "duplicate_payload_key",
    ):
        assert needed in names


# -- key confusion in every key form ---------------------------------------------------------

CONFUSED = ["hs256_signed_with_rsa_public_pem", "hs256_signed_with_rsa_public_jwk"]


@pytest.mark.parametrize("name", CONFUSED)
def test_hs256_with_rsa_public_key_pem_form(cli, name):
    result = cli("verify", "--key", RSA_PUBLIC, by_name(name)["token"])
    assert_one_line_error(result, 4, "algorithm HS256 is not allowed")


@pytest.mark.parametrize("name", CONFUSED)
def test_hs256_with_rsa_public_key_object_and_jwk_forms(name):
    pem = Path(RSA_PUBLIC).read_bytes()
    public = load_pem(pem, "rsa")
    jwk = public_jwk(public, "RS256")
    for key in (key_from_object(public), key_from_pem(pem), key_from_jwk(jwk)):
        with pytest.raises(TokenError) as exc:
            Verifier([key]).verify(by_name(name)["token"])
        assert exc.value.reason == "algorithm"
        # forcing HMAC onto an RSA key is refused up front, whatever the key's form
        with pytest.raises(UsageError, match="HMAC is never paired"):
            Verifier([key], ["HS256", "RS256"])


def test_hmac_alg_forced_on_cli_with_rsa_key_is_a_usage_error(cli):
    token = by_name("hs256_signed_with_rsa_public_pem")["token"]
    result = cli("verify", "--key", RSA_PUBLIC, "--alg", "HS256", token)
    assert_one_line_error(result, 2, "HS256")
    result = cli("verify", "--jwks", JWKS_FILE, "--alg", "HS256", token)
    assert_one_line_error(result, 2, "HS256")


def test_rsa_public_key_refused_as_an_hmac_secret(cli, tmp_path):
    # a private copy: a secret file readable by others is refused before its content is read
    secret_file = tmp_path / "rsa_public.pem"
    secret_file.write_bytes(Path(RSA_PUBLIC).read_bytes())
    secret_file.chmod(0o600)
    result = cli("verify", "--secret-file", str(secret_file), by_name("valid_rs256")["token"])
    assert_one_line_error(result, 7, "not a shared secret")
    with pytest.raises(ConfigError):
        Verifier([key_from_object(Path(RSA_PUBLIC).read_bytes())])


def test_psychic_signature_with_every_key_form():
    ec = load_pem(generate("ES256"), "ec")
    token = by_name("es256_psychic_zero_signature")["token"]
    for key in (key_from_object(ec), key_from_jwk(public_jwk(ec, "ES256") | {"kid": "ec-1"})):
        with pytest.raises(TokenError) as exc:
            Verifier([key]).verify(token)
        assert exc.value.reason == "signature"


def test_none_is_never_accepted_even_when_asked(cli):
    token = by_name("alg_none_unsigned")["token"]
    for alg in ("none", "NONE", "None"):
        result = cli("verify", "--jwks", JWKS_FILE, "--alg", alg, token)
        assert_one_line_error(result, 2, "never accepted")


# -- the token never chooses the key ---------------------------------------------------------


def test_jku_x5u_jwk_headers_are_never_followed(cli):
    attacker = load_pem(generate("RS256"), "attacker")
    attacker_jwk = public_jwk(attacker, "RS256") | {"kid": "rsa-1"}
    site = JsonSite({"/jwks.json": {"keys": [attacker_jwk]}, "/cert.pem": b"x"})
    with site.serve() as url:
        token = jwt.encode(
            {"sub": "admin", "exp": 4102444800},
            attacker,
            algorithm="RS256",
            headers={
                "kid": "rsa-1",
                "jku": url + "/jwks.json",
                "x5u": url + "/cert.pem",
                "jwk": attacker_jwk,
            },
        )
        result = cli("verify", "--jwks", JWKS_FILE, token)
        assert_one_line_error(result, 4, "signature")
        result = cli("verify", "--key", RSA_PUBLIC, "--json", token)
        assert json.loads(result.stdout)["error"] == "signature"
        # also when the key set itself is remote: only its own URL is fetched
        site.routes["/real.json"] = json.loads(Path(JWKS_FILE).read_text())
        result = cli("verify", "--jwks", url + "/real.json", token)
        assert_one_line_error(result, 4, "signature")
    assert site.requests == ["/real.json"]


def test_kid_path_injection_reads_no_file(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    secret_dir = tmp_path / "keys"
    secret_dir.mkdir()
    (secret_dir / "k.pem").write_bytes(
        load_pem(generate("RS256"), "x")
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for vector in VECTORS:
        if vector["name"].startswith("kid_injection"):
            result = cli("verify", "--jwks", JWKS_FILE, "--json", vector["token"])
            assert json.loads(result.stdout)["error"] == "key"
            assert result.exit_code == 4


def test_oversized_tokens_refused_before_decoding(cli):
    token = by_name("valid_rs256")["token"]
    padded = token + "A" * (64 * 1024)
    result = cli("verify", "--jwks", JWKS_FILE, padded)
    assert_one_line_error(result, 4, "larger than 64 KiB")
    result = cli("verify", "--jwks", JWKS_FILE, "-", input=padded)
    assert_one_line_error(result, 4, "larger than 64 KiB")
    result = cli("decode", "-", input="x" * (10 * 1024 * 1024))
    assert_one_line_error(result, 4, "larger than 64 KiB")
