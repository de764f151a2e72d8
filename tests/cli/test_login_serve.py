"""The same flows against ``oauthcli serve`` (now an OpenID provider too): browser login
with PKCE through its login page, device login, ID token, userinfo, revoke and introspect."""

from __future__ import annotations

import json
import re

import httpx
import jwt
import pytest

from oauthcli import settings
from oauthcli.client.cache import TokenCache
from oauthcli.http import make_client
from oauthcli.keys import write_new_key
from tests.apps_serve.browser import CONFIDENTIAL, CONFIDENTIAL_SECRET, PUBLIC, provider_server
from tests.oidc.browser import drive
from tests.oidc.harness import secret_file


@pytest.fixture
def serve(browser_provider):
    return browser_provider  # tests/conftest.py


def cached():
    return TokenCache(settings.cache_dir()).load("default")


def test_browser_login_at_serve_with_pkce_and_an_id_token(cli, serve):
    result = cli(
        "login",
        "--issuer-url",
        serve.url,
        "--client-id",
        PUBLIC,
        "--scope",
        "openid profile me offline_access",
        "--json",
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    claims = jwt.decode(answer["id_token"], options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["aud"] == PUBLIC and claims["at_hash"]
    assert cached().refresh_token
    info = cli("userinfo", "--json")
    assert info.exit_code == 0, info.output
    assert json.loads(info.stdout)["preferred_username"] == "alice"
    assert cli("refresh").exit_code == 0
    assert cli("token", "--id-token").exit_code == 0


def test_revoke_at_serve_then_its_introspection_says_inactive(cli, serve, tmp_path):
    assert (
        cli(
            "login",
            "--issuer-url",
            serve.url,
            "--client-id",
            PUBLIC,
            "--scope",
            "openid me offline_access",
        ).exit_code
        == 0
    )
    refresh_token = cached().refresh_token
    secret = secret_file(tmp_path, CONFIDENTIAL_SECRET)

    def introspect() -> int:
        return cli(
            "introspect",
            "-",
            "--issuer-url",
            serve.url,
            "--client-id",
            CONFIDENTIAL,
            "--client-secret-file",
            str(secret),
            input=refresh_token + "\n",
        ).exit_code

    assert introspect() == 0
    revoked = cli("revoke")
    assert revoked.exit_code == 0, revoked.output
    assert introspect() == 4


@pytest.mark.parametrize("action", ["approve", "deny"])
def test_device_login_at_serve(serve, action):
    from oauthcli.client import oidc_login as login
    from oauthcli.errors import AuthenticationError

    seen: dict[str, str] = {}
    sleeps: list[float] = []

    def notify(message: str) -> None:
        found = re.search(r"open (\S+) on any device", message)
        if found:
            seen["url"] = found.group(1)

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 1:
            with httpx.Client(trust_env=False, timeout=20) as browser:
                drive(browser, seen["url"], password="secret", action=action)
        # serve measures polling against its own (hand-moved) clock: move it as we wait
        serve.clock.advance(seconds)

    request = login.ProviderLogin(
        issuer=serve.url,
        grant="device-code",
        client_id=PUBLIC,
        client_auth="none",
        scopes=["openid", "me"],
    )
    io = login.Interaction(notify=notify, sleep=sleep, clock=lambda: 0.0)
    with make_client(10) as http:
        if action == "deny":
            with pytest.raises(AuthenticationError, match="denied"):
                login.login(http, request, io)
            return
        entry = login.login(http, request, io)
    assert entry.id_token and entry.username == "alice"
    assert sleeps == [5]


def _page_of(report) -> str:
    """The last page the stand-in browser saw at the loopback listener."""
    return json.loads(report.read_text().splitlines()[-1])["final_text"]


def test_browser_login_against_the_example_store_verifies_its_id_token(
    cli, isolated_env, monkeypatch, standin_browser
):
    """users.example.toml as shipped (ES256, the Quickstart's demo.pem), served on a free port:
    the ID token verifies, and the page says "Logged in" only after that."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    store = isolated_env / "users.example.toml"
    text = (root / "users.example.toml").read_text()
    store.write_text(text.replace('issuer = "http://127.0.0.1:8000"\n', ""))  # a free port here
    store.chmod(0o600)
    write_new_key(isolated_env / "demo.pem", "ES256")  # as the Quickstart's first line does
    monkeypatch.setenv("OIDC_STANDIN_PASSWORD", "secret")
    with provider_server(store) as op:
        result = cli(
            "login", "--issuer-url", op.url, "--client-id", "demo-app", "--scope", "openid me",
            "--json",
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    claims = jwt.decode(json.loads(result.stdout)["id_token"], options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["aud"] == "demo-app"
    assert "<h1>Logged in</h1>" in _page_of(standin_browser)


def test_the_loopback_page_shows_the_error_when_the_id_token_fails(
    cli, store_path, monkeypatch, standin_browser
):
    """An HS256 issuer's ID token cannot be verified by a client (no public key): one line
    saying what to change (exit 7) in the terminal, and the browser is told instead of
    "Logged in"."""
    monkeypatch.setenv("OIDC_STANDIN_PASSWORD", "secret")
    with provider_server(store_path) as op:
        result = cli("login", "--issuer-url", op.url, "--client-id", PUBLIC, "--scope", "openid me")
    assert result.exit_code == 7, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("oauthcli: error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert "signs ID tokens with HS256" in errors[0] and 'algorithm = "ES256"' in errors[0]
    page = _page_of(standin_browser)
    assert "<h1>Login failed</h1>" in page and "Logged in" not in page
    assert cached() is None or not cached().access_token
