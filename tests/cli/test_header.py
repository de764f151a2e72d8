"""``oauthcli header``: one line for ``curl -H "$(oauthcli header)"``, or nothing at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import assert_one_line_error
from tests.live_server import live_server, tutorial_server

# Subprocesses import this checkout, whatever the venv's editable install points at.
CHECKOUT = {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}

__all__ = ["tutorial_server"]  # fixture, imported for pytest to find


def login(cli, url, user="alice", *extra):
    result = cli(
        "login", user, "--url", url, "--password-stdin", "-s", "me", *extra, input="secret\n"
    )
    assert result.exit_code == 0, result.stderr


def cached(isolated_env: Path, profile: str = "default") -> dict:
    return json.loads((isolated_env.parent / "cache" / f"{profile}.json").read_text())


def test_header_prints_exactly_the_authorization_line(cli, tutorial_server, isolated_env):
    login(cli, tutorial_server.token_url)
    result = cli("header")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"Authorization: Bearer {cached(isolated_env)['access_token']}\n"
    assert result.stderr == ""
    name, _, value = result.stdout.strip().partition(": ")
    me = httpx.get(tutorial_server.url + "/users/me", headers={name: value}, timeout=5)
    assert me.json()["username"] == "alice"
    # nothing was refreshed for a valid token
    assert len(tutorial_server.app.state.tutorial.token_requests) == 1


def test_header_for_another_profile(cli, tutorial_server, isolated_env):
    login(cli, tutorial_server.token_url, "johndoe", "--profile", "john")
    result = cli("header", "--profile", "john")
    assert (
        result.stdout == f"Authorization: Bearer {cached(isolated_env, 'john')['access_token']}\n"
    )
    result = cli("header", env={"OAUTHCLI_PROFILE": "john"})
    assert result.exit_code == 0, result.stderr


def test_expired_token_is_refreshed_first(cli, tutorial_server, isolated_env):
    state = tutorial_server.app.state.tutorial
    state.access_ttl_seconds = 0
    login(cli, tutorial_server.token_url)
    stale = cached(isolated_env)["access_token"]
    state.access_ttl_seconds = 900

    result = cli("header")
    assert result.exit_code == 0, result.stderr
    fresh = cached(isolated_env)["access_token"]
    assert fresh != stale
    assert result.stdout == f"Authorization: Bearer {fresh}\n"
    assert state.token_requests[-1].fields["grant_type"] == "refresh_token"
    me = httpx.get(
        tutorial_server.url + "/users/me", headers={"Authorization": f"Bearer {fresh}"}, timeout=5
    )
    assert me.status_code == 200


def test_revoked_refresh_token_prints_nothing(cli, tutorial_server, isolated_env):
    state = tutorial_server.app.state.tutorial
    state.access_ttl_seconds = 0
    login(cli, tutorial_server.token_url)
    state.revoke_refresh_tokens()
    result = cli("header")
    assert_one_line_error(result, 3, "refresh token rejected", "log in again")
    assert result.stdout == ""


def test_no_profile_prints_nothing(cli):
    result = cli("header")
    assert_one_line_error(result, 3, "no token cached", "oauthcli login")
    assert result.stdout == ""


def test_expired_token_without_refresh_token_prints_nothing(cli, isolated_env):
    cache = isolated_env.parent / "cache"
    cache.mkdir(mode=0o700)
    entry = {"access_token": "old", "expires_at": 1, "source": "remote", "token_url": "https://x/t"}
    (cache / "default.json").write_text(json.dumps(entry))
    (cache / "default.json").chmod(0o600)
    result = cli("header")
    assert_one_line_error(result, 3, "expired and cannot be refreshed")
    assert result.stdout == ""


def test_token_server_gone_prints_nothing(cli, isolated_env):
    from tests.apps.tutorial_app import create_tutorial_app

    with live_server(create_tutorial_app(access_ttl_seconds=0)) as server:
        login(cli, server.token_url)
    result = cli("header", "--timeout", "2")
    assert_one_line_error(result, 6, "could not connect")
    assert result.stdout == ""


def test_header_from_a_local_login(cli, store_path, isolated_env):
    assert cli("login", "alice", "--password-stdin", input="secret\n").exit_code == 0
    result = cli("header")
    assert result.stdout == f"Authorization: Bearer {cached(isolated_env)['access_token']}\n"


def test_header_in_a_shell_substitution(run_oauthcli, tutorial_server, isolated_env):
    env = {"OAUTHCLI_CACHE_DIR": str(isolated_env.parent / "cache"), **CHECKOUT}
    logged = run_oauthcli(
        "login", "alice", "--url", tutorial_server.token_url, "--password-stdin", "-s", "me",
        input="secret\n", env=env,
    )  # fmt: skip
    assert logged.exit_code == 0, logged.stderr
    result = run_oauthcli("header", env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("\n") == 1 and result.stdout.startswith("Authorization: Bearer ")


def test_a_token_that_would_inject_a_header_is_not_printed(cli, isolated_env):
    cache = isolated_env.parent / "cache"
    cache.mkdir(mode=0o700)
    entry = {"access_token": "t\r\nX-Evil: 1", "source": "remote", "token_url": "https://x/t"}
    (cache / "default.json").write_text(json.dumps(entry))
    (cache / "default.json").chmod(0o600)
    result = cli("header")
    assert_one_line_error(result, 6, "control characters")
    assert result.stdout == ""


def test_header_with_a_valid_token_imports_no_network_stack(isolated_env):
    # CI runs `curl -H "$(oauthcli header)"` in loops: no httpx unless a refresh is due.
    cache = isolated_env.parent / "cache"
    cache.mkdir(mode=0o700)
    entry = {"access_token": "abc", "source": "remote", "token_url": "https://x.example/t"}
    (cache / "default.json").write_text(json.dumps(entry))
    (cache / "default.json").chmod(0o600)
    probe = (
        "import sys; from oauthcli.cli import main; code = main(['header']); "
        "heavy = ('httpx', 'jwt', 'cryptography', 'rich', 'pydantic', 'fastapi'); "
        "print(sorted(m for m in heavy if m in sys.modules)); sys.exit(code)"
    )
    env = {**os.environ, **CHECKOUT}
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Authorization: Bearer abc\n[]\n"


def test_header_uses_oauthcli_token_unless_a_profile_is_chosen(cli, tutorial_server, isolated_env):
    env = {"OAUTHCLI_TOKEN": "Bearer from-env"}
    result = cli("header", env=env)  # no profile cached: the environment is enough
    assert (result.exit_code, result.stdout) == (0, "Authorization: Bearer from-env\n")

    login(cli, tutorial_server.token_url)
    token = cached(isolated_env)["access_token"]
    chosen = cli("header", "--profile", "default", env=env)
    assert chosen.stdout == f"Authorization: Bearer {token}\n"


def test_a_malformed_oauthcli_token_prints_nothing(cli):
    result = cli("header", env={"OAUTHCLI_TOKEN": "x\r\nX-Evil: 1"})
    assert_one_line_error(result, 2, "OAUTHCLI_TOKEN", "control characters")
    assert result.stdout == ""
