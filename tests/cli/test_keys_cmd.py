import json
import stat

import jwt
import pytest

from oauthcli.keys import SUPPORTED_ALGORITHMS
from tests.conftest import assert_one_line_error, write_store

ALL = list(SUPPORTED_ALGORITHMS)  # every algorithm oauthcli signs with


@pytest.mark.parametrize("alg", ["HS256", "RS256", "ES384", "EdDSA"])
def test_generate_writes_a_private_file_and_reports_on_stderr(cli, isolated_env, alg):
    result = cli("keys", "generate", "--alg", alg, "--out", "key.out")
    assert result.exit_code == 0, result.stderr
    path = isolated_env / "key.out"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert result.stdout == ""  # key material never goes to the terminal by accident
    assert "key.out" in result.stderr and "kid " in result.stderr
    material = path.read_text()
    assert material.strip() not in result.output
    if alg.startswith("HS"):
        assert len(material.strip()) >= 64
    else:
        assert material.startswith("-----BEGIN PRIVATE KEY-----")


def test_generate_needs_an_explicit_destination(cli):
    result = cli("keys", "generate", "--alg", "ES256")
    assert_one_line_error(result, 2, "--out")
    assert result.stdout == ""


def test_generate_to_stdout_only_when_asked(cli):
    result = cli("keys", "generate", "--alg", "ES256", "--out", "-")
    assert result.exit_code == 0
    assert result.stdout.startswith("-----BEGIN PRIVATE KEY-----")
    assert "standard output" in result.stderr and "kid " in result.stderr


def test_generate_refuses_to_replace_without_force(cli, isolated_env):
    assert cli("keys", "generate", "--alg", "HS256", "--out", "s").exit_code == 0
    before = (isolated_env / "s").read_bytes()
    result = cli("keys", "generate", "--alg", "HS256", "--out", "s")
    assert_one_line_error(result, 2, "already exists", "--force")
    assert (isolated_env / "s").read_bytes() == before
    assert cli("keys", "generate", "--alg", "HS256", "--out", "s", "--force").exit_code == 0
    assert (isolated_env / "s").read_bytes() != before
    assert stat.S_IMODE((isolated_env / "s").stat().st_mode) == 0o600


@pytest.mark.parametrize("alg", ["none", "HS1", "rs256"])
def test_generate_refuses_unknown_algorithms(cli, alg):
    assert_one_line_error(
        cli("keys", "generate", "--alg", alg, "--out", "k"), 2, "unsupported algorithm"
    )


def test_jwks_of_several_keys_for_rotation(cli, isolated_env):
    kids = []
    for name, alg in (("old.pem", "RS256"), ("new.pem", "ES256")):
        result = cli("keys", "generate", "--alg", alg, "--out", name)
        kids.append(result.stderr.split("kid ")[1].rstrip(")\n"))
    result = cli("keys", "jwks", "old.pem", "new.pem")
    assert result.exit_code == 0, result.stderr
    jwks = json.loads(result.stdout)
    assert [k["kid"] for k in jwks["keys"]] == kids
    # an RSA key serves RS* and PS* alike: no "alg" unless --alg says which (issue 9 item 12)
    assert [k.get("alg") for k in jwks["keys"]] == [None, "ES256"]
    for jwk in jwks["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)
        jwt.PyJWK(jwk)  # PyJWT accepts it


def test_jwks_with_an_explicit_algorithm(cli):
    cli("keys", "generate", "--alg", "RS256", "--out", "rsa.pem")
    jwks = json.loads(cli("keys", "jwks", "rsa.pem", "--alg", "PS256").stdout)
    assert jwks["keys"][0]["alg"] == "PS256"
    assert_one_line_error(cli("keys", "jwks", "rsa.pem", "--alg", "ES256"), 7, "ES256 needs")


def test_jwks_refuses_hmac_secrets_without_printing_them(cli, isolated_env):
    cli("keys", "generate", "--alg", "HS256", "--out", "hs.secret")
    result = cli("keys", "jwks", "hs.secret")
    assert_one_line_error(result, 7, "HMAC secrets have no public JWK")
    assert (isolated_env / "hs.secret").read_text().strip() not in result.output
    assert_one_line_error(cli("keys", "jwks", "missing.pem"), 7, "cannot read key file")


@pytest.mark.parametrize("alg", ALL)
def test_issued_token_kid_matches_jwks(cli, isolated_env, alg):
    key_name = "hs.secret" if alg.startswith("HS") else "signing.pem"
    option = "secret_file" if alg.startswith("HS") else "key_file"
    write_store(isolated_env / "users.toml", issuer={"algorithm": alg, option: key_name})
    generated = cli("keys", "generate", "--alg", alg, "--out", key_name)
    kid = generated.stderr.split("kid ")[1].rstrip(")\n")
    token = cli("issue", "--sub", "svc").stdout.strip()
    assert jwt.get_unverified_header(token)["kid"] == kid
    if not alg.startswith("HS"):
        (jwk,) = json.loads(cli("keys", "jwks", key_name, "--alg", alg).stdout)["keys"]
        assert jwk["kid"] == kid
        assert jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=[alg])["sub"] == "svc"
