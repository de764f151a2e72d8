"""``oauthcli issue`` and the [issuer] settings it reads: bad configuration is exit 7, never a crash."""

import json

import jwt
import pytest

from tests.conftest import TEST_SECRET, assert_one_line_error, write_store


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_hmac_issuer_pointing_at_a_pem_file_is_exit_7_with_verifys_words(cli, isolated_env):
    assert cli("keys", "generate", "--alg", "RS256", "--out", "k.pem").exit_code == 0
    write_store(isolated_env / "users.toml", issuer={"algorithm": "HS256", "key_file": "k.pem"})
    issued = cli("issue", "--sub", "alice")
    assert_one_line_error(issued, 7, "k.pem holds an asymmetric key", "not a shared secret")
    login = cli("login", "alice", "--password-stdin", input="secret\n")
    assert_one_line_error(login, 7, "holds an asymmetric key")


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        ("access_token_ttl = 1.5", "access_token_ttl 1.5"),
        ("refresh_token_ttl = [1]", "refresh_token_ttl [1]"),
        ("access_token_ttl = true", "access_token_ttl true"),
    ],
)
def test_a_ttl_of_the_wrong_type_is_exit_7(cli, isolated_env, setting, fragment):
    (isolated_env / "hs.secret").write_text(TEST_SECRET)
    (isolated_env / "users.toml").write_text(
        f'[issuer]\nalgorithm = "HS256"\nsecret_file = "hs.secret"\n{setting}\n'
    )
    assert_one_line_error(cli("issue", "--sub", "a"), 7, fragment, "whole number of seconds")


def test_issue_with_a_named_missing_store_is_exit_7_not_the_env_secret(cli, monkeypatch):
    monkeypatch.setenv("OAUTHCLI_SECRET", TEST_SECRET)
    assert_one_line_error(cli("issue", "--sub", "a", "--store", "typo.toml"), 7, "not found")
    assert_one_line_error(cli("--store", "typo.toml", "issue", "--sub", "a"), 7, "not found")
    monkeypatch.setenv("OAUTHCLI_STORE", "typo.toml")
    assert_one_line_error(cli("issue", "--sub", "a"), 7, "not found")
    assert_one_line_error(cli("verify", "x.y.z"), 7, "not found")  # as verify does
    monkeypatch.delenv("OAUTHCLI_STORE")
    # No store named and none in ./: OAUTHCLI_SECRET signs (handy in CI).
    unnamed = cli("issue", "--sub", "a")
    assert unnamed.exit_code == 0, unnamed.stderr


def test_issue_without_scope_writes_no_scope_claim(cli, store_path):
    token = cli("issue", "--sub", "alice").stdout.strip()
    assert "scope" not in claims_of(token)
    scoped = cli("issue", "--sub", "alice", "--scope", "me items").stdout.strip()
    assert claims_of(scoped)["scope"] == "me items"


@pytest.mark.parametrize("aud", ["", " "])
def test_an_empty_audience_is_refused_not_dropped(cli, store_path, aud):
    assert_one_line_error(cli("issue", "--sub", "a", "--aud", aud), 2, "--aud must not be empty")
    body = json.loads(cli("issue", "--sub", "a", "--aud", "api", "--json").stdout)
    assert body["payload"]["aud"] == "api"


@pytest.mark.parametrize(
    "args",
    [
        ["verify", "x.y.z", "--jwks", ""],
        ["verify", "x.y.z", "--key", ""],
        ["verify", "x.y.z", "--secret-file", ""],
        ["verify", "x.y.z", "--secret-file="],
        ["keys", "jwks", ""],
        ["--store", "", "user", "list"],
    ],
)
def test_an_empty_path_says_empty_path(cli, store_path, args):
    result = cli(*args)
    assert_one_line_error(result, 2, "empty path")
    assert "directory" not in result.stderr


def test_an_ed448_key_is_refused_by_name(cli, isolated_env):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed448, x25519

    for name, key in (
        ("ed448.pem", ed448.Ed448PrivateKey.generate()),
        ("x.pem", x25519.X25519PrivateKey.generate()),
    ):
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        (isolated_env / name).write_bytes(pem)
    write_store(isolated_env / "users.toml", issuer={"algorithm": "EdDSA", "key_file": "ed448.pem"})
    result = cli("issue", "--sub", "alice")
    assert_one_line_error(result, 7, "Ed448 key is not supported")
    assert "Ed25519Private" not in result.stderr
    write_store(isolated_env / "users.toml", issuer={"algorithm": "EdDSA", "key_file": "x.pem"})
    result = cli("issue", "--sub", "alice")
    assert_one_line_error(result, 7, "EdDSA needs an Ed25519 key, not an X25519 key")


@pytest.mark.parametrize("problem", ["directory", "not-utf8", "missing", "writable-by-others"])
def test_store_problems_are_the_same_through_store_and_the_environment(
    cli, isolated_env, monkeypatch, problem
):
    path = isolated_env / "s.toml"
    if problem == "directory":
        path.mkdir()
    elif problem == "not-utf8":
        path.write_bytes(b"\xff\xfe")
    elif problem == "writable-by-others":
        write_store(path)
        path.chmod(0o666)
    for command in (["user", "list"], ["issue", "--sub", "a"], ["verify", "x.y.z"]):
        by_option = cli(*command, "--store", str(path))
        by_global = cli("--store", str(path), *command)
        monkeypatch.setenv("OAUTHCLI_STORE", str(path))
        by_env = cli(*command)
        monkeypatch.delenv("OAUTHCLI_STORE")
        assert by_option.exit_code == by_global.exit_code == by_env.exit_code == 7, command
        assert by_option.stderr == by_global.stderr == by_env.stderr
