"""RFC 8707 resource indicators at ``serve``: ``resource`` at /authorize (kept with the code),
/device_authorization and /token (every grant) sets the access token's ``aud`` when it is one
of ``[issuer] resources``; a token request narrows a grant's resources, never widens them;
an unknown resource is ``invalid_target``. One rule decides: ``IssuerSettings.audience_for``.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import jwt
import pytest

from oauthcli.errors import AuthenticationError, ConfigError
from oauthcli.issuer import IssuerSettings
from oauthcli.store import UserStore
from tests.apps_serve.browser import (
    CONFIDENTIAL,
    CONFIDENTIAL_SECRET,
    authorize,
    log_in_for_code,
    provider_server,
    public_params,
    query,
    redeem,
)
from tests.apps_serve.live import add_client, live_server

ORDERS = "https://api.example.test/orders"
BILLING = "https://api.example.test/billing"
OTHER = "https://api.example.test/other"  # configured, but never asked for at /authorize
RESOURCES = [ORDERS, BILLING, OTHER]


@pytest.fixture
def resource_store(store_path: Path) -> Path:
    with UserStore(store_path).edit() as data:
        data.other["issuer"]["resources"] = RESOURCES
    return store_path


@pytest.fixture
def op(resource_store: Path):
    with provider_server(resource_store) as provider:
        yield provider


def aud(token: str):
    return jwt.decode(token, options={"verify_signature": False}).get("aud")


def me(http: httpx.Client, token: str) -> httpx.Response:
    return http.get("/users/me", headers={"Authorization": f"Bearer {token}"})


def introspect(http: httpx.Client, token: str) -> dict:
    answer = http.post(
        "/introspect", data={"token": token}, auth=(CONFIDENTIAL, CONFIDENTIAL_SECRET)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def refresh(http: httpx.Client, token: str, **extra) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": token, "client_id": "web-app"}
    return http.post("/token", data={**data, **extra})


# --- the one rule ---------------------------------------------------------------------------


def test_audience_for_narrows_a_grant_and_never_widens_it():
    settings = IssuerSettings(audience="default-api", resources=(ORDERS, BILLING, OTHER))
    assert settings.audience_for([]) == (None, [])  # the defaults: client's, issuer's
    assert settings.audience_for([ORDERS]) == (ORDERS, [ORDERS])
    assert settings.audience_for([ORDERS, BILLING, ORDERS]) == (
        [ORDERS, BILLING],
        [ORDERS, BILLING],
    )
    # continuing a grant: the token is for what is asked among what it holds; it keeps all
    assert settings.audience_for([BILLING], [ORDERS, BILLING]) == (BILLING, [ORDERS, BILLING])
    assert settings.audience_for([], [ORDERS, BILLING]) == ([ORDERS, BILLING], [ORDERS, BILLING])
    assert settings.audience_for([], []) == (None, [])
    for requested, granted in (([OTHER], [ORDERS]), ([ORDERS], []), (["https://evil/"], None)):
        with pytest.raises(AuthenticationError) as caught:
            settings.audience_for(requested, granted)
        assert caught.value.reason == "invalid_target"


@pytest.mark.parametrize(
    "value", ["relative/path", "https://api.example.test/x#frag", "has space:x", 3, [1]]
)
def test_configured_resources_must_be_absolute_uris_without_a_fragment(tmp_path, value):
    table = {"resources": value if isinstance(value, list) else [value]}
    with pytest.raises(ConfigError, match=r"absolute URI without a fragment|list of URIs"):
        IssuerSettings.from_table(table, tmp_path)
    good = IssuerSettings.from_table({"resources": [ORDERS, "urn:example:billing"]}, tmp_path)
    assert good.resources == (ORDERS, "urn:example:billing")


# --- /authorize and the code ----------------------------------------------------------------


def test_resources_asked_at_authorize_are_kept_with_the_code_and_narrowed_at_token(op):
    with op.client() as http:
        code, verifier, params = log_in_for_code(
            http, scope="me offline_access", resource=[ORDERS, BILLING]
        )
        answer = redeem(http, code, verifier, params["redirect_uri"], resource=ORDERS)
        assert answer.status_code == 200, answer.text
        tokens = answer.json()
        assert aud(tokens["access_token"]) == ORDERS
        # for another resource server: serve's own API refuses it; introspection knows it
        assert me(http, tokens["access_token"]).status_code == 401
        seen = introspect(http, tokens["access_token"])
        assert seen["active"] is True and seen["aud"] == ORDERS
        # a refresh may ask for another resource the authorization covered ...
        again = refresh(http, tokens["refresh_token"], resource=BILLING)
        assert again.status_code == 200, again.text
        assert aud(again.json()["access_token"]) == BILLING
        # ... and without resource gets a token for all of them (RFC 8707 2.2)
        both = refresh(http, again.json()["refresh_token"])
        assert aud(both.json()["access_token"]) == [ORDERS, BILLING]
        # never one it did not cover (configured or not), and the refresh token survives it
        for wider in (OTHER, "https://elsewhere.example/"):
            refused = refresh(http, both.json()["refresh_token"], resource=wider)
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"] == "invalid_target"
        assert refresh(http, both.json()["refresh_token"], resource=ORDERS).status_code == 200


def test_a_code_without_resources_gets_the_default_audience_and_cannot_widen(op):
    with op.client() as http:
        code, verifier, params = log_in_for_code(http, scope="me")
        plain = redeem(http, code, verifier, params["redirect_uri"])
        assert plain.status_code == 200, plain.text
        assert aud(plain.json()["access_token"]) is None
        assert me(http, plain.json()["access_token"]).json()["username"] == "alice"
        code, verifier, params = log_in_for_code(http, scope="me")
        wider = redeem(http, code, verifier, params["redirect_uri"], resource=ORDERS)
        assert wider.status_code == 400 and wider.json()["error"] == "invalid_target"


def test_an_unknown_resource_at_authorize_goes_back_to_the_client_as_invalid_target(op):
    with op.client() as http:
        _, params = public_params(resource=[ORDERS, "https://unknown.example/api"])
        answer = authorize(http, **params)
        assert answer.status_code == 302, answer.text
        got = query(answer.headers["location"])
        assert got["error"] == "invalid_target"
        assert "unknown.example" in got["error_description"]
        assert got["state"] == params["state"] and got["iss"] == op.url


# --- /token: password, client_credentials, device ------------------------------------------


def test_password_and_client_credentials_grants_take_resource(resource_store):
    add_client(UserStore(resource_store), "bot", "bot-secret-0123456789", ["items"])
    with live_server(resource_store) as server, server.client() as http:
        form = {"grant_type": "password", "username": "alice", "password": "secret"}
        one = http.post("/token", data={**form, "resource": ORDERS})
        assert one.status_code == 200, one.text
        assert aud(one.json()["access_token"]) == ORDERS
        unknown = http.post("/token", data={**form, "resource": "https://unknown.example/"})
        assert unknown.status_code == 400
        assert unknown.json()["error"] == "invalid_target"
        # the refresh token's grant covers what the password grant asked for, no more
        narrowed = http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": one.json()["refresh_token"],
                  "resource": BILLING},
        )  # fmt: skip
        assert narrowed.json()["error"] == "invalid_target"
        bot = ("bot", "bot-secret-0123456789")
        client = {"grant_type": "client_credentials"}
        two = http.post("/token", data={**client, "resource": [ORDERS, BILLING]}, auth=bot)
        assert two.status_code == 200, two.text
        assert aud(two.json()["access_token"]) == [ORDERS, BILLING]
        refused = http.post("/token", data={**client, "resource": "urn:x:nope"}, auth=bot)
        assert refused.json()["error"] == "invalid_target"


def test_device_authorization_keeps_its_resources(op):
    from tests.oidc.browser import drive

    with op.client() as http:
        start = http.post(
            "/device_authorization",
            data={"client_id": "web-app", "scope": "me", "resource": [ORDERS, BILLING]},
        )
        assert start.status_code == 200, start.text
        unknown = http.post(
            "/device_authorization", data={"client_id": "web-app", "resource": OTHER + "x"}
        )
        assert unknown.json()["error"] == "invalid_target"
        with httpx.Client(trust_env=False, timeout=30) as browser:
            drive(browser, start.json()["verification_uri_complete"], password="secret")
        poll = {
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": start.json()["device_code"],
            "client_id": "web-app",
        }
        wider = http.post("/token", data={**poll, "resource": OTHER})
        assert wider.json()["error"] == "invalid_target"
        tokens = http.post("/token", data={**poll, "resource": BILLING})
        assert tokens.status_code == 200, tokens.text
        assert aud(tokens.json()["access_token"]) == BILLING


# --- clients: oauthcli's own login, and oauth4webapi ----------------------------------------


def test_cli_login_and_refresh_with_resource_at_serve(
    cli, resource_store, standin_browser, monkeypatch
):
    from oauthcli.keys import write_new_key

    write_new_key(resource_store.parent / "signing.pem", "ES256")
    with UserStore(resource_store).edit() as data:
        data.other["issuer"] = {
            "algorithm": "ES256", "key_file": "signing.pem", "resources": RESOURCES
        }  # fmt: skip
    monkeypatch.setenv("OIDC_STANDIN_PASSWORD", "secret")
    with provider_server(resource_store) as provider:
        login = cli(
            "login", "--issuer-url", provider.url, "--client-id", "web-app",
            "--scope", "openid me offline_access", "--resource", ORDERS, "--resource", BILLING,
        )  # fmt: skip
        assert login.exit_code == 0, login.output
        assert aud(cli("token").stdout.strip()) == ORDERS
        refreshed = cli("refresh", "--resource", BILLING, "--print")
        assert refreshed.exit_code == 0, refreshed.output
        assert aud(refreshed.stdout.strip()) == BILLING
        wider = cli("refresh", "--resource", OTHER)
        assert wider.exit_code == 3, wider.output
        assert "not part of the authorization" in wider.stderr, wider.stderr
        assert len(wider.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def o4w_modules() -> Path:
    import shutil

    from tests.oidc.harness import node_modules

    if shutil.which("node") is None:
        pytest.skip("node is not installed: the oauth4webapi tests need Node.js")
    return node_modules("oauth4webapi", "3")


def test_oauth4webapi_asks_for_resources_with_client_credentials(resource_store, o4w_modules):
    import json
    import subprocess

    secret = "o4w-secret-0123456789abcdef"
    add_client(UserStore(resource_store), "o4w", secret, ["items"])
    script = Path(__file__).resolve().parent / "apps_serve" / "o4w_resource.mjs"
    with live_server(resource_store) as server:
        proc = subprocess.run(
            ["node", str(script), str(o4w_modules), server.url, "o4w", secret, ORDERS, BILLING],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert aud(answer["one"]["access_token"]) == ORDERS
    assert aud(answer["both"]["access_token"]) == [ORDERS, BILLING]
    assert answer["unknown"] == {"error": "invalid_target", "status": 400}
