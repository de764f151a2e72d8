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
from tests.conftest import write_store
from tests.oidc.browser import drive
from tests.oidc.harness import secret_file


@pytest.fixture
def serve(isolated_env, monkeypatch, standin_browser):
    """``oauthcli serve``'s app on 127.0.0.1 with an ES256 issuer (ID tokens verifiable by JWKS)."""
    write_new_key(isolated_env / "signing.pem", "ES256")
    store = isolated_env / "users.toml"
    write_store(store, issuer={"algorithm": "ES256", "key_file": "signing.pem"})
    monkeypatch.setenv("OIDC_STANDIN_PASSWORD", "secret")  # alice's password in the demo store
    with provider_server(store) as provider:
        yield provider


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
