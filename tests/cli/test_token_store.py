"""``--token-store auto|keyring|file``: the tokens in the OS keyring (a real Secret Service,
GNOME Keyring on a private D-Bus session), only what is not secret in the cache file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# the fixture "serve": oauthcli serve with DPoP nonces required
from tests.cli.test_login_dpop import serve  # noqa: F401
from tests.conftest import assert_one_line_error

pytest_plugins = ["tests.secret_service"]

# keyring's own switch: a backend that refuses everything (as on a machine without one)
NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def cache_dir() -> Path:
    return Path(os.environ["OAUTHCLI_CACHE_DIR"])


def files_holding(*values: str) -> list[Path]:
    """Every file under the cache directory that holds one of ``values``."""
    found = []
    for path in cache_dir().rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(v.encode() in data for v in values if v):
                found.append(path)
    return found


def keyring_item(profile: str = "default") -> str | None:
    """The profile's item in the OS keyring, read by keyring itself in a fresh process."""
    path = os.path.abspath(cache_dir() / f"{profile}.json")
    code = f"import keyring; print(keyring.get_password('oauthcli', {path!r}))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    return None if out == "None" else out


def login(run, store_path: Path, *root: str, env: dict[str, str] | None = None):
    return run(
        "--store", str(store_path), *root, "login", "alice", "--password-stdin", "--json",
        input="secret\n", env=env,
    )  # fmt: skip


def test_with_the_keyring_the_file_cache_holds_no_token(run_oauthcli, store_path, secret_service):
    result = login(run_oauthcli, store_path, "--token-store", "keyring")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    tokens = [answer["access_token"], answer["refresh_token"]]
    assert files_holding(*tokens) == []
    entry = json.loads((cache_dir() / "default.json").read_text())
    assert entry["token_store"] == "keyring" and entry["username"] == "alice"
    assert json.loads(keyring_item() or "{}")["refresh_token"] == answer["refresh_token"]
    # read back through the keyring, whatever the store setting now
    shown = run_oauthcli("token")
    assert shown.exit_code == 0 and shown.stdout.strip() == answer["access_token"]
    # a refresh's new tokens go there too
    refreshed = run_oauthcli("refresh", "--json", env={"OAUTHCLI_TOKEN_STORE": "keyring"})
    assert refreshed.exit_code == 0, refreshed.output
    new = json.loads(refreshed.stdout)
    assert new["refresh_token"] != answer["refresh_token"]
    assert files_holding(*tokens, new["access_token"], new["refresh_token"]) == []
    status = run_oauthcli("status", "--json")
    assert json.loads(status.stdout)["usable"] is True


def test_auto_uses_the_keyring_when_there_is_one(run_oauthcli, store_path, secret_service):
    result = login(run_oauthcli, store_path, env={"OAUTHCLI_TOKEN_STORE": "auto"})
    assert result.exit_code == 0 and result.stderr == "", result.output
    assert files_holding(json.loads(result.stdout)["access_token"]) == []
    assert keyring_item() is not None


@pytest.mark.parametrize("command", [["logout"], ["profile", "rm", "default"]])
def test_logout_and_profile_rm_remove_both(run_oauthcli, store_path, secret_service, command):
    env = {"OAUTHCLI_TOKEN_STORE": "keyring"}
    assert login(run_oauthcli, store_path, env=env).exit_code == 0
    assert keyring_item() is not None
    result = run_oauthcli("--store", str(store_path), *command)
    assert result.exit_code == 0, result.output
    assert keyring_item() is None
    assert not (cache_dir() / "default.json").exists()


def test_auto_without_a_keyring_keeps_the_file_and_says_so_once(run_oauthcli, store_path):
    env = {"OAUTHCLI_TOKEN_STORE": "auto", **NO_KEYRING}
    first = login(run_oauthcli, store_path, env=env)
    assert first.exit_code == 0, first.output
    lines = first.stderr.splitlines()
    assert len(lines) == 1 and "no usable OS keyring" in lines[0] and "0600" in lines[0]
    path = cache_dir() / "default.json"
    assert json.loads(path.read_text())["access_token"] == json.loads(first.stdout)["access_token"]
    assert path.stat().st_mode & 0o777 == 0o600
    again = login(run_oauthcli, store_path, env=env)
    assert again.exit_code == 0 and again.stderr == "", again.output


def test_keyring_without_a_keyring_is_refused(run_oauthcli, store_path):
    result = login(run_oauthcli, store_path, env={"OAUTHCLI_TOKEN_STORE": "keyring", **NO_KEYRING})
    assert_one_line_error(result, 7, "no usable OS keyring", "--token-store file")
    assert not (cache_dir() / "default.json").exists()


def test_a_profile_in_the_keyring_without_one_says_what_is_wrong(
    run_oauthcli, store_path, secret_service
):
    assert login(run_oauthcli, store_path, "--token-store", "keyring").exit_code == 0
    result = run_oauthcli("token", env=NO_KEYRING)
    assert_one_line_error(result, 7, "OS keyring")


def test_a_bad_token_store_is_refused(cli, store_path):
    assert_one_line_error(cli("--token-store", "vault", "token"), 2, "auto, keyring, file")
    result = cli("token", env={"OAUTHCLI_TOKEN_STORE": "vault"})
    assert_one_line_error(result, 7, "OAUTHCLI_TOKEN_STORE", "auto, keyring, file")


def test_a_login_into_the_file_leaves_no_copy_in_the_keyring(
    run_oauthcli, store_path, secret_service
):
    assert login(run_oauthcli, store_path, "--token-store", "keyring").exit_code == 0
    assert keyring_item() is not None
    again = login(run_oauthcli, store_path, "--token-store", "file")
    assert again.exit_code == 0, again.output
    assert keyring_item() is None
    entry = json.loads((cache_dir() / "default.json").read_text())
    assert entry["access_token"] == json.loads(again.stdout)["access_token"]
    assert "token_store" not in entry


def test_a_dpop_key_goes_to_the_keyring_with_the_tokens(
    run_oauthcli,
    secret_service,
    serve,  # noqa: F811 - the fixture imported above
):
    """login --dpop (RFC 9449): the profile's private key is kept in the keyring item, not in
    a .dpop.pem file; call and refresh sign with it from there; logout forgets it."""
    result = run_oauthcli(
        "--token-store", "keyring", "login", "alice", "--url", serve.url + "/token", "--dpop",
        "--password-stdin", "--json", input="secret\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["token_type"] == "dpop"
    assert not (cache_dir() / "default.dpop.pem").exists()
    assert files_holding("PRIVATE KEY", json.loads(result.stdout)["access_token"]) == []
    assert "PRIVATE KEY" in json.loads(keyring_item() or "{}")["dpop_key"]
    called = run_oauthcli("call", serve.url + "/users/me")
    assert called.exit_code == 0, called.output
    assert json.loads(called.stdout)["username"] == "alice"
    refreshed = run_oauthcli("--token-store", "keyring", "refresh", "--json")
    assert refreshed.exit_code == 0 and json.loads(refreshed.stdout)["token_type"] == "dpop"
    assert files_holding("PRIVATE KEY") == []
    assert run_oauthcli("logout").exit_code == 0
    assert keyring_item() is None
    assert not (cache_dir() / "default.json").exists()
    assert not (cache_dir() / "default.dpop.pem").exists()
