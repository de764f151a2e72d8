"""``login --issuer-url`` with pushed authorization requests (RFC 9126) against ``oauthcli serve``:
automatic when discovery requires it, on demand with ``--par``, authenticated as at /token."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from oauthcli.keys import write_new_key
from oauthcli.passwords import hash_password
from oauthcli.store import Client, UserStore
from tests.apps_serve.browser import PUBLIC, provider_server
from tests.apps_serve.live import ROUNDS
from tests.conftest import assert_one_line_error, write_store
from tests.oidc.harness import CONFIDENTIAL_SECRET, secret_file

LOOPBACK_CONF = "loopback-conf"
LOOPBACK_CONF_SECRET = "loopback-conf-secret-0123456789"


def _serve(isolated_env, monkeypatch, **provider_options):
    write_new_key(isolated_env / "signing.pem", "ES256")
    store = isolated_env / "users.toml"
    write_store(store, issuer={"algorithm": "ES256", "key_file": "signing.pem"})
    with UserStore(store).edit() as data:
        data.clients[LOOPBACK_CONF] = Client(
            LOOPBACK_CONF,
            hash_password(LOOPBACK_CONF_SECRET, ROUNDS),
            scopes=["me"],
            redirect_uris=["http://127.0.0.1/callback"],
        )
    monkeypatch.setenv("OIDC_STANDIN_PASSWORD", "secret")  # alice's password in the demo store
    return provider_server(store, provider_options=provider_options)


@pytest.fixture
def serve_requiring_par(isolated_env, monkeypatch, standin_browser):
    with _serve(isolated_env, monkeypatch, require_par=True) as provider:
        yield provider


@pytest.fixture
def serve(isolated_env, monkeypatch, standin_browser):
    with _serve(isolated_env, monkeypatch) as provider:
        yield provider


def opened_url(stderr: str) -> dict[str, list[str]]:
    """The query of the authorization URL the login showed (and gave the browser)."""
    lines = stderr.splitlines()
    url = lines[lines.index("Open this URL in a browser to log in:") + 1]
    return parse_qs(urlsplit(url).query)


def test_discovery_requiring_par_makes_the_browser_login_push(cli, serve_requiring_par):
    result = cli(
        "login", "--issuer-url", serve_requiring_par.url, "--client-id", PUBLIC,
        "--scope", "openid me", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["access_token"]
    query = opened_url(result.stderr)
    assert set(query) == {"client_id", "request_uri"}
    assert query["request_uri"][0].startswith("urn:ietf:params:oauth:request_uri:")


def test_par_option_pushes_with_the_clients_secret(cli, serve, tmp_path):
    secret = secret_file(tmp_path, LOOPBACK_CONF_SECRET)
    result = cli(
        "login", "--issuer-url", serve.url, "--client-id", LOOPBACK_CONF,
        "--client-secret-file", str(secret), "--scope", "openid me", "--par",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert set(opened_url(result.stderr)) == {"client_id", "request_uri"}
    assert LOOPBACK_CONF_SECRET not in result.output


def test_a_wrong_secret_is_refused_at_the_push_before_any_browser(cli, serve, tmp_path):
    secret = secret_file(tmp_path, "not-the-secret-0123456789")
    result = cli(
        "login", "--issuer-url", serve.url, "--client-id", LOOPBACK_CONF,
        "--client-secret-file", str(secret), "--par",
    )  # fmt: skip
    assert_one_line_error(result, 3, "client authentication failed")
    assert "Open this URL" not in result.stderr


def test_without_par_the_parameters_travel_in_the_url(cli, serve):
    result = cli("login", "--issuer-url", serve.url, "--client-id", PUBLIC, "--scope", "me")
    assert result.exit_code == 0, result.output
    assert "code_challenge" in opened_url(result.stderr)


def test_par_is_for_the_browser_login(cli, serve):
    result = cli(
        "login", "--issuer-url", serve.url, "--client-id", LOOPBACK_CONF,
        "--grant", "device-code", "--par",
    )  # fmt: skip
    assert_one_line_error(result, 2, "--par", "authorization-code")


def test_par_needs_issuer_url(cli):
    assert_one_line_error(cli("login", "alice", "--par"), 2, "--par needs --issuer-url")


# ---- against panva's oidc-provider, configured to require pushed requests of every client


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [("public", None), ("confidential", CONFIDENTIAL_SECRET)],
)
def test_oidc_provider_requiring_par_logs_in(
    cli, oidc_provider_par, standin_browser, tmp_path, client_id, secret
):
    assert oidc_provider_par.discovery()["require_pushed_authorization_requests"] is True
    auth = [] if secret is None else ["--client-secret-file", str(secret_file(tmp_path, secret))]
    result = cli(
        "login", "--issuer-url", oidc_provider_par.issuer, "--client-id", client_id,
        *auth, "--scope", "openid email", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    claims = jwt.decode(json.loads(result.stdout)["id_token"], options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["aud"] == client_id
    assert set(opened_url(result.stderr)) == {"client_id", "request_uri"}
    report = json.loads(standin_browser.read_text().splitlines()[-1])
    assert report["final_status"] == 200, report


def test_oidc_provider_refuses_a_login_that_does_not_push(oidc_provider_par, standin_browser):
    """What the automatic push is for: the same login, its parameters in the URL, is refused."""
    import httpx

    url = (
        f"{oidc_provider_par.issuer}/auth?response_type=code&client_id=public"
        "&redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fcallback&scope=openid"
        "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
    )
    with httpx.Client(trust_env=False, timeout=20) as browser:
        answer = browser.get(url)
    assert answer.is_redirect, answer.text
    refused = parse_qs(urlsplit(answer.headers["location"]).query)
    assert refused["error"] == ["invalid_request"], refused
    assert "pushed" in refused["error_description"][0].lower()
