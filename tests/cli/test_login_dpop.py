"""``login --dpop`` (RFC 9449) against ``oauthcli serve`` with nonces required: the password
and browser grants get DPoP-bound tokens, ``call`` signs each request (and answers the
nonce challenge), ``header`` needs the request, ``refresh`` keeps the binding, ``logout``
forgets the key; the key file is private and never written through a planted link."""

from __future__ import annotations

import json
import stat

import jwt
import pytest

from oauthcli import settings
from oauthcli.client.cache import TokenCache
from oauthcli.dpop import check_proof
from oauthcli.jose import thumbprint
from oauthcli.keys import write_new_key
from oauthcli.server.provider_settings import ProviderSettings
from oauthcli.store import UserStore
from tests.apps_serve.browser import PUBLIC, add_flow_clients
from tests.apps_serve.live import live_server
from tests.conftest import assert_one_line_error, write_store


@pytest.fixture
def serve(isolated_env, monkeypatch, standin_browser):
    """serve with an ES256 issuer, the flow clients, no consent page and DPoP nonces."""
    write_new_key(isolated_env / "signing.pem", "ES256")
    store = isolated_env / "users.toml"
    write_store(store, issuer={"algorithm": "ES256", "key_file": "signing.pem"})
    add_flow_clients(UserStore(store))
    monkeypatch.setenv("OIDC_STANDIN_PASSWORD", "secret")
    with live_server(store, provider=ProviderSettings(consent=False, dpop_nonce=True)) as live:
        yield live


def cached():
    return TokenCache(settings.cache_dir()).load("default")


def key_file():
    return settings.cache_dir() / "default.dpop.pem"


def test_password_login_with_dpop_then_call_header_refresh_and_logout(cli, serve):
    result = cli("login", "alice", "--url", serve.url + "/token", "--dpop", "--password-stdin",
                 "--json", input="secret\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["token_type"] == "dpop"
    entry = cached()
    assert entry.token_type == "dpop"
    assert stat.S_IMODE(key_file().stat().st_mode) == 0o600
    claims = jwt.decode(entry.access_token, options={"verify_signature": False})
    public = json.loads(json.dumps(
        jwt.get_unverified_header(_proof_of(cli, serve.url + "/users/me"))["jwk"]))  # fmt: skip
    assert claims["cnf"] == {"jkt": thumbprint(public)}

    # call: Authorization: DPoP with a proof for its method and URL (a nonce retry included).
    called = cli("call", serve.url + "/users/me")
    assert called.exit_code == 0, called.output
    assert json.loads(called.stdout)["username"] == "alice"

    # header: the proof needs the request; with it, two header lines.
    needs = cli("header")
    assert_one_line_error(needs, 2, "--htm")
    shown = cli("header", "--htm", "GET", "--htu", serve.url + "/users/me")
    assert shown.exit_code == 0, shown.output
    auth_line, proof_line = shown.stdout.strip().splitlines()
    assert auth_line == f"Authorization: DPoP {entry.access_token}"
    proof = proof_line.removeprefix("DPoP: ")
    checked = check_proof(proof, htm="GET", htu=serve.url + "/users/me",
                          now=jwt.decode(proof, options={"verify_signature": False})["iat"],
                          access_token=entry.access_token)  # fmt: skip
    assert checked.jkt == claims["cnf"]["jkt"]

    # refresh keeps the binding (the refresh token of a public login is bound too).
    assert cli("refresh").exit_code == 0
    renewed = jwt.decode(cached().access_token, options={"verify_signature": False})
    assert renewed["cnf"] == claims["cnf"] and cached().token_type == "dpop"
    assert cli("call", serve.url + "/users/me").exit_code == 0

    # logout forgets the key with the tokens.
    assert cli("logout").exit_code == 0
    assert not key_file().exists()


def _proof_of(cli, url: str) -> str:
    shown = cli("header", "--htm", "GET", "--htu", url)
    assert shown.exit_code == 0, shown.output
    return shown.stdout.strip().splitlines()[1].removeprefix("DPoP: ")


def test_browser_login_with_dpop_binds_the_code_and_the_tokens(cli, serve):
    result = cli("login", "--issuer-url", serve.url, "--client-id", PUBLIC, "--dpop",
                 "--scope", "openid profile me offline_access", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    entry = cached()
    assert entry.token_type == "dpop" and entry.dpop_key_file
    claims = jwt.decode(entry.access_token, options={"verify_signature": False})
    refresh = jwt.decode(entry.refresh_token, options={"verify_signature": False})
    assert claims["cnf"] == refresh["cnf"]  # RFC 9449 5: a public client's refresh token
    # userinfo is a protected resource: DPoP scheme and a proof (RFC 9449 7).
    info = cli("userinfo", "--json")
    assert info.exit_code == 0, info.output
    assert json.loads(info.stdout)["sub"] == "alice"
    assert cli("refresh").exit_code == 0
    assert cli("call", serve.url + "/users/me").exit_code == 0


def test_the_key_is_never_written_through_a_planted_link(cli, serve, tmp_path):
    settings.cache_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
    target = tmp_path / "elsewhere.pem"
    key_file().symlink_to(target)
    result = cli("login", "alice", "--url", serve.url + "/token", "--dpop", "--password-stdin",
                 input="secret\n")  # fmt: skip
    assert_one_line_error(result, 7, "symbolic link")
    assert not target.exists()


def test_device_login_with_dpop_polls_with_proofs(isolated_env, tmp_path):
    """The device grant: each poll carries a proof (nonces on); the token is bound."""
    import re
    import time

    import httpx

    from oauthcli.client import oidc_login as login
    from oauthcli.client.dpop_key import key_path, load_or_create
    from oauthcli.http import make_client
    from tests.oidc.browser import drive

    write_new_key(isolated_env / "signing.pem", "ES256")
    store = isolated_env / "users.toml"
    write_store(store, issuer={"algorithm": "ES256", "key_file": "signing.pem"})
    add_flow_clients(UserStore(store))
    provider = ProviderSettings(consent=False, dpop_nonce=True, device_interval=1)
    seen: dict[str, str] = {}

    def notify(message: str) -> None:
        found = re.search(r"open (\S+) on any device", message)
        if found:
            seen["url"] = found.group(1)

    def sleep(seconds: float) -> None:
        if "approved" not in seen:
            seen["approved"] = "yes"
            with httpx.Client(trust_env=False, timeout=20) as browser:
                drive(browser, seen["url"], password="secret", action="approve")
        time.sleep(seconds)  # serve's polling interval (1 s) on its real clock

    key = tmp_path / "device.dpop.pem"
    load_or_create(key)
    with live_server(store, provider=provider) as server:
        request = login.ProviderLogin(
            issuer=server.url, grant="device-code", client_id=PUBLIC, client_auth="none",
            scopes=["openid", "me"], dpop_key_file=key,
        )  # fmt: skip
        io = login.Interaction(notify=notify, sleep=sleep)
        with make_client(10) as http:
            entry = login.login(http, request, io)
    assert entry.token_type == "dpop" and entry.dpop_key_file == str(key)
    claims = jwt.decode(entry.access_token, options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": load_or_create(key).jkt}
    assert key_path(settings.cache_dir(), "x").name == "x.dpop.pem"
