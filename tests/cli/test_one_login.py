"""One login for many processes: parallel ``token`` / ``call`` / kubectl's
``token --format exec-credential`` on one profile share one refresh, and one browser login.

The provider is panva's oidc-provider (its token requests logged by ``provider.mjs``); the
person is the stand-in browser, which appends a line to its report at each launch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from oauthcli import settings
from oauthcli.client.cache import TokenCache
from tests.oidc.harness import CONFIDENTIAL_SECRET, secret_file

pytestmark = pytest.mark.usefixtures("standin_browser")


def cache() -> TokenCache:
    return TokenCache(settings.cache_dir())


@pytest.fixture
def logged_in(cli, oidc_provider, tmp_path):
    """The default profile, from a browser login with a refresh token (offline_access)."""
    secret = secret_file(tmp_path, CONFIDENTIAL_SECRET)
    result = cli(
        "login", "--issuer-url", oidc_provider.issuer, "--client-id", "confidential",
        "--client-secret-file", str(secret), "--scope", "openid offline_access",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    entry = cache().load("default")
    assert entry is not None and entry.refresh_token
    return entry


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "oauthcli", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def finish(processes: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    results = []
    for proc in processes:
        out, err = proc.communicate(timeout=240)
        results.append((proc.returncode, out, err))
    return results


def requests_since(oidc_provider, seen: int, grant: str) -> list[dict]:
    return [r for r in oidc_provider.token_requests()[seen:] if r.get("grant_type") == grant]


def test_ten_processes_on_an_expired_profile_refresh_it_once(oidc_provider, logged_in):
    cache().save("default", replace(logged_in, expires_at=int(time.time()) - 60))
    seen = len(oidc_provider.token_requests())
    commands = [
        ["token"],
        ["token", "--format", "exec-credential"],
        ["call", f"{oidc_provider.issuer}/me"],
        ["token", "--format", "env"],
    ]
    processes = [start(commands[i % len(commands)]) for i in range(10)]
    results = finish(processes)
    assert [code for code, _, _ in results] == [0] * 10, results
    assert len(requests_since(oidc_provider, seen, "refresh_token")) == 1
    fresh = cache().load("default")
    assert fresh is not None and fresh.access_token != logged_in.access_token
    for (_, out, _), args in zip(results, (commands * 3)[:10], strict=True):
        if args == ["token"]:
            assert out.strip() == fresh.access_token
        elif "exec-credential" in args:
            assert json.loads(out)["status"]["token"] == fresh.access_token
        elif args[0] == "call":
            assert json.loads(out)["sub"] == "alice"


def test_five_processes_that_need_a_login_open_one_browser(
    oidc_provider, logged_in, standin_browser
):
    # the tokens are dead: expired, and no refresh token to renew them
    cache().save(
        "default", replace(logged_in, expires_at=int(time.time()) - 60, refresh_token=None)
    )
    launches_before = len(standin_browser.read_text().splitlines())
    seen = len(oidc_provider.token_requests())
    commands = [["token"], ["token", "--format", "exec-credential"]]
    processes = [start(commands[i % 2]) for i in range(5)]
    results = finish(processes)
    assert [code for code, _, _ in results] == [0] * 5, results
    # one browser, one code redeemed; the four others waited on the profile and used it
    assert len(standin_browser.read_text().splitlines()) - launches_before == 1
    assert len(requests_since(oidc_provider, seen, "authorization_code")) == 1
    fresh = cache().load("default")
    assert (
        fresh is not None and fresh.refresh_token and fresh.access_token != logged_in.access_token
    )
    tokens = {
        json.loads(out)["status"]["token"] if out.startswith("{") else out.strip()
        for _, out, _ in results
    }
    assert tokens == {fresh.access_token}
    assert sum("logging in again" in err for _, _, err in results) == 1


def test_in_ci_none_of_them_opens_a_browser(oidc_provider, logged_in, standin_browser):
    cache().save("default", replace(logged_in, revoked="its refresh token was refused"))
    launches_before = len(standin_browser.read_text().splitlines())
    seen = len(oidc_provider.token_requests())
    processes = [start(["token"], {"CI": "true", "OAUTHCLI_INTERACTIVE": ""}) for _ in range(3)]
    results = finish(processes)
    for code, out, err in results:
        assert code == 3 and out == "", err
        assert err.count("\n") == 1 and "(CI=true)" in err
        assert f"login --issuer-url {oidc_provider.issuer} --client-id confidential" in err
    assert len(standin_browser.read_text().splitlines()) == launches_before
    assert oidc_provider.token_requests()[seen:] == []


def test_a_waiting_process_gives_up_at_its_timeout(cli, logged_in):
    """Another process holds the profile (a login a person has not finished): --timeout."""
    from oauthcli.fileio import exclusive_lock

    cache().save("default", replace(logged_in, expires_at=int(time.time()) - 60))
    with exclusive_lock(cache().path("default")):
        result = cli("token", "--timeout", "1")
    assert result.exit_code == 3, result.output
    assert "another oauthcli held profile 'default'" in result.stderr


def test_logins_on_one_registered_port_take_turns(cli, monkeypatch):
    """Another oauthcli's login holds the registered callback port: this one waits for it
    (at most --timeout) instead of failing to listen, and starts nothing meanwhile."""
    from oauthcli.fileio import exclusive_lock
    from tests.cli.test_non_interactive import Provider

    provider = Provider()  # counts requests; never started: nothing may reach it
    monkeypatch.setenv("OAUTHCLI_INTERACTIVE", "1")
    settings.cache_dir().mkdir(mode=0o700, exist_ok=True)
    with exclusive_lock(settings.cache_dir() / "loopback-8765"):
        result = cli(
            "login", "--issuer-url", provider.url, "--client-id", "cli",
            "--redirect-uri", "http://127.0.0.1:8765/callback", "--timeout", "1",
        )  # fmt: skip
    provider.server.server_close()
    assert result.exit_code == 3, result.output
    assert "callback port 8765" in result.stderr
    assert provider.requests == []


def test_a_new_login_is_the_same_login(logged_in):
    """What a dead profile runs again (and names in CI): its issuer, client, scopes, its
    registered redirect URI and DPoP; never a secret, only the file that holds it."""
    from oauthcli.client.oidc_profile import login_arguments, login_command

    entry = replace(
        logged_in, redirect_uri="http://127.0.0.1:8765/callback", dpop_key_file="/k.dpop.pem"
    )
    arguments = login_arguments(entry)
    assert arguments is not None
    command = login_command("dev", arguments)
    assert command[:5] == ["--profile", "dev", "login", "--issuer-url", logged_in.issuer]
    joined = " ".join(command)
    assert "--client-id confidential" in joined and "--client-secret-file " in joined
    assert "--redirect-uri http://127.0.0.1:8765/callback" in joined
    assert "--scope openid offline_access" in joined and command[-1] == "--dpop"
    assert CONFIDENTIAL_SECRET not in joined
    assert login_arguments(replace(logged_in, grant="password")) is None
