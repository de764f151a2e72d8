"""``oauthcli init``: from an empty folder to a store every flow of ``serve`` works with."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from oauthcli.store import UserStore
from tests.cli.test_serve_cmd import end_group, wait_for_url, wait_until_ready
from tests.conftest import assert_one_line_error

PASSWORD = "correct horse battery"


def init(cli, *args: str, password: str | None = PASSWORD):
    stdin = None if password is None else f"{password}\n{password}\n"
    extra = ("--password-stdin",) if password is not None and "--user" in args else ()
    return cli("init", *args, *extra, input=stdin)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_writes_a_private_store_key_user_and_client(cli, isolated_env):
    result = init(cli, "--user", "alice")
    assert result.exit_code == 0, result.output
    store, key = isolated_env / "users.toml", isolated_env / "signing.pem"
    assert mode(store) == 0o600 and mode(key) == 0o600
    data = UserStore(store).load()
    assert data.issuer["algorithm"] == "ES256" and data.issuer["key_file"] == "signing.pem"
    assert "issuer" not in data.issuer  # serve's own URL is the issuer, whatever its port
    assert data.users["alice"].scopes == ["me", "items"] and data.users["alice"].generation
    client = data.clients["cli"]
    assert client.public and client.redirect_uris == [
        "http://127.0.0.1/callback",
        "http://127.0.0.1/docs/oauth2-redirect",
    ]
    # The next three commands: serve, a browser login with the new client, a call.
    lines = result.stdout.splitlines()
    nxt = [line.strip() for line in lines[lines.index("Next:") + 1 :]]
    assert nxt == [
        "oauthcli serve --port 8000",
        "oauthcli login --issuer-url http://127.0.0.1:8000 --client-id cli",
        "oauthcli call GET http://127.0.0.1:8000/users/me",
    ]
    assert PASSWORD not in result.output
    # The store works at once: a password login signs ES256 with the new key, and
    # verify finds the key through the store.
    login = cli("login", "alice", "--password-stdin", "--print", input=PASSWORD + "\n")
    assert login.exit_code == 0, login.output
    token = login.stdout.strip()
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    verified = cli("verify", token, "--require-scope", "me")
    assert verified.exit_code == 0, verified.output


def test_init_refuses_to_overwrite_without_force(cli, isolated_env):
    assert init(cli, password=None).exit_code == 0
    store, key = isolated_env / "users.toml", isolated_env / "signing.pem"
    before = (store.read_bytes(), key.read_bytes())
    assert_one_line_error(init(cli, password=None), 2, "users.toml already exists", "--force")
    assert (store.read_bytes(), key.read_bytes()) == before
    forced = init(cli, "--force", "--alg", "EdDSA", password=None)
    assert forced.exit_code == 0, forced.output
    assert key.read_bytes() != before[1]
    assert UserStore(store).load().issuer["algorithm"] == "EdDSA"


def test_an_existing_key_file_is_refused_before_anything_is_written(cli, isolated_env):
    (isolated_env / "signing.pem").write_text("somebody's key\n")
    result = init(cli, "--user", "alice")
    assert_one_line_error(result, 2, "signing.pem already exists")
    assert not (isolated_env / "users.toml").exists()
    assert (isolated_env / "signing.pem").read_text() == "somebody's key\n"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--alg", "XX256"), "unsupported algorithm 'XX256'"),
        (("--issuer", "ftp://example.test"), "--issuer must be an http(s) URL"),
        (("--issuer", "http://auth.example.test"), "plain http is for loopback"),
        (("--issuer", "http://127.0.0.1:8000/?x=1"), "query or a fragment"),
        (("--user", "cli"), "cannot be both the user and the client id"),
        (("--user", "bad name"), "invalid username"),
    ],
)
def test_bad_options_write_nothing(cli, isolated_env, args, fragment):
    assert_one_line_error(init(cli, *args), 2, fragment)
    assert sorted(p.name for p in isolated_env.iterdir()) == []


def test_hmac_init_and_json_output(cli, isolated_env):
    result = init(cli, "--alg", "HS256", "--no-client", "--json", password=None)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["algorithm"] == "HS256" and answer["client_id"] is None
    assert answer["key_file"] == "signing.secret" and mode(isolated_env / "signing.secret") == 0o600
    assert answer["next"][0] == "oauthcli serve --port 8000"
    assert "clients" not in (isolated_env / "users.toml").read_text()


def test_errors_about_missing_stores_and_keys_point_at_init(cli, isolated_env):
    missing = cli("login", "alice", "--password-stdin", input="x\n")
    assert_one_line_error(missing, 7, "users.toml not found", "oauthcli init")
    (isolated_env / "users.toml").write_text('[issuer]\nalgorithm = "ES256"\n')
    (isolated_env / "users.toml").chmod(0o600)
    nokey = cli("issue", "--sub", "alice")
    assert_one_line_error(nokey, 7, "no signing key", "oauthcli init")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serve_for(cli, folder: Path) -> Iterator[str]:
    """``init --user alice`` for a free port, then ``oauthcli serve`` as a subprocess on it;
    yields the issuer URL. The port is chosen before serve binds it: retried on a clash."""
    for _attempt in range(3):
        port = _free_port()
        issuer = f"http://127.0.0.1:{port}"
        made = init(cli, "--user", "alice", "--issuer", issuer, "--force")
        assert made.exit_code == 0, made.output
        log = folder / f"serve-{port}.log"
        with log.open("wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "oauthcli", "serve", "--port", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                cwd=folder,
                env=os.environ.copy(),
                start_new_session=True,
            )
        try:
            try:
                url = wait_for_url(proc, log)
            except AssertionError:
                if "in use" in log.read_text():
                    continue
                raise
            assert url == issuer
            wait_until_ready(url)
            yield issuer
            return
        finally:
            end_group(proc)
    pytest.fail("no free port for serve after three tries")


def test_from_an_empty_folder_to_a_browser_login(cli, isolated_env, standin_browser, monkeypatch):
    """init, then serve as a subprocess, then a browser login (PKCE, the login page filled in
    by the stand-in browser) with the client init made, then a call as alice."""
    with serve_for(cli, isolated_env) as issuer:
        monkeypatch.setenv("OIDC_STANDIN_LOGIN", "alice")
        monkeypatch.setenv("OIDC_STANDIN_PASSWORD", PASSWORD)
        login = cli("login", "--issuer-url", issuer, "--client-id", "cli", "--scope", "openid me")
        assert login.exit_code == 0, login.output
        assert login.stdout.startswith("Logged in as alice"), login.stdout
        me = cli("call", "GET", f"{issuer}/users/me")
        assert me.exit_code == 0, me.output
        assert json.loads(me.stdout)["username"] == "alice"
