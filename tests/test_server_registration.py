"""Dynamic client registration (RFC 7591, RFC 7592 read/delete; issue 23 item 7) at ``serve``:
metadata rules with the RFC's errors, the one client lookup finding registered clients at
/token and /authorize, the initial access token, ``client list --registered``."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from oauthcli.keys import write_new_key
from oauthcli.server.provider_settings import ProviderSettings
from oauthcli.server.registered import REGISTERED
from tests.apps_serve.browser import (
    authorize,
    provider_server,
    public_params,
    query,
    redeem,
    submit_login,
)
from tests.apps_serve.live import live_server
from tests.conftest import assert_one_line_error, write_store

CB = "https://rp.example/cb"
INITIAL = "initial-access-token-0123456789abcdef"


@pytest.fixture
def es256_store(isolated_env: Path) -> Path:
    path = isolated_env / "users.toml"
    write_new_key(isolated_env / "signing.pem", "ES256")
    write_store(path, issuer={"algorithm": "ES256", "key_file": "signing.pem"})
    return path


@pytest.fixture
def op(es256_store: Path):
    with provider_server(es256_store, provider_options={"registration": "open"}) as provider:
        yield provider


def register(http: httpx.Client, metadata: dict, **kwargs) -> httpx.Response:
    return http.post("/register", json=metadata, **kwargs)


def test_without_registration_there_is_no_endpoint(es256_store):
    with provider_server(es256_store) as op, op.client() as http:
        assert "registration_endpoint" not in http.get("/.well-known/openid-configuration").json()
        assert register(http, {"redirect_uris": [CB]}).status_code == 404


def test_a_registered_client_completes_a_code_flow_and_client_credentials(op):
    with op.client() as http:
        config = http.get("/.well-known/openid-configuration").json()
        assert config["registration_endpoint"] == op.url + "/register"
        answer = register(http, {
            "redirect_uris": [CB], "client_name": "My RP", "scope": "openid me nope",
            "grant_types": ["authorization_code", "client_credentials"],
            "token_endpoint_auth_method": "client_secret_post",
        })  # fmt: skip
        assert answer.status_code == 201, answer.text
        assert answer.headers["cache-control"] == "no-store"
        body = answer.json()
        client_id, secret = body["client_id"], body["client_secret"]
        assert body["scope"] == "openid me"  # fewer than asked: "nope" is no scope here
        assert body["client_name"] == "My RP" and body["redirect_uris"] == [CB]
        assert body["client_secret_expires_at"] > body["client_id_issued_at"] > 0
        assert body["registration_client_uri"] == f"{op.url}/register/{client_id}"

        _, params = public_params(CB, scope="openid me")
        params["client_id"] = client_id
        page = authorize(http, **params)
        assert page.status_code == 200, page.text  # the login form: the client is known
        answer = submit_login(http, page, "alice", "secret")
        code = query(answer.headers["location"])["code"]
        tokens = redeem(
            http, code, params_verifier(params), CB, client_id=client_id, client_secret=secret
        )
        assert tokens.status_code == 200, tokens.text
        assert tokens.json()["scope"] == "openid me" and tokens.json()["id_token"]
        wrong = http.post("/token", data={"grant_type": "client_credentials",
                          "client_id": client_id, "client_secret": secret + "x"})  # fmt: skip
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
        machine = http.post("/token", data={"grant_type": "client_credentials", "scope": "me",
                            "client_id": client_id, "client_secret": secret})  # fmt: skip
        assert machine.status_code == 200, machine.text
    # Kept in the server state, the secret only hashed (as `client add` stores a generated one).
    record = op.records.items(REGISTERED)[client_id]
    assert secret not in json.dumps(record)
    assert record["hashed_secret"].startswith("$hmac-sha256$")


_VERIFIERS: dict[str, str] = {}


def params_verifier(params: dict[str, str]) -> str:
    return _VERIFIERS[params["code_challenge"]]


@pytest.fixture(autouse=True)
def _remember_verifiers(monkeypatch):
    """public_params makes a verifier per request; keep it by its challenge for redeem."""
    import tests.apps_serve.browser as browser

    made = browser.pkce

    def pkce() -> tuple[str, str]:
        verifier, challenge = made()
        _VERIFIERS[challenge] = verifier
        return verifier, challenge

    monkeypatch.setattr(browser, "pkce", pkce)


@pytest.mark.parametrize(
    ("metadata", "error", "fragment"),
    [
        ({"redirect_uris": ["https://rp.example/cb#frag"]}, "invalid_redirect_uri", "fragment"),
        ({"redirect_uris": ["http://rp.example/cb"]}, "invalid_redirect_uri", "loopback"),
        ({"redirect_uris": []}, "invalid_redirect_uri", "required"),
        ({"application_type": "native", "redirect_uris": ["http://localhost/cb"]},
         "invalid_redirect_uri", "loopback"),
        ({"application_type": "native", "redirect_uris": ["myapp:/cb"]},
         "invalid_redirect_uri", "reverse domain"),
        ({"redirect_uris": ["com.example.app:/cb"]}, "invalid_redirect_uri", "web client"),
        ({"redirect_uris": [CB], "token_endpoint_auth_method": "client_secret_jwt"},
         "invalid_client_metadata", "token_endpoint_auth_method"),
        ({"redirect_uris": [CB], "response_types": ["code"], "grant_types": ["client_credentials"]},
         "invalid_client_metadata", "go together"),
        ({"grant_types": ["password"]}, "invalid_client_metadata", "not supported"),
        ({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"},
         "invalid_client_metadata", "cannot use client_credentials"),
        ({"redirect_uris": [CB], "token_endpoint_auth_method": "private_key_jwt"},
         "invalid_client_metadata", "jwks"),
        ({"redirect_uris": [CB], "jwks_uri": "https://rp.example/jwks"},
         "invalid_client_metadata", "jwks_uri is not supported"),
        ({"redirect_uris": [CB], "scope": ["me"]}, "invalid_client_metadata", "scope"),
        (["not", "an", "object"], "invalid_client_metadata", "JSON object"),
    ],
)  # fmt: skip
def test_metadata_that_cannot_be_registered_gets_the_rfc_7591_error(op, metadata, error, fragment):
    with op.client() as http:
        answer = register(http, metadata)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == error
    assert fragment in answer.json()["error_description"]
    assert op.records.items(REGISTERED) == {}


def test_native_clients_register_loopback_and_private_use_redirects(op):
    with op.client() as http:
        answer = register(http, {
            "application_type": "native", "token_endpoint_auth_method": "none",
            "redirect_uris": ["http://127.0.0.1/cb", "http://[::1]/cb", "com.example.app:/cb"],
        })  # fmt: skip
    assert answer.status_code == 201, answer.text
    assert "client_secret" not in answer.json()
    # A public client: PKCE, its id alone at /token (client_auth's one lookup finds it).
    client_id = answer.json()["client_id"]
    with op.client() as http:
        _, params = public_params("http://127.0.0.1:53682/cb", scope="openid")
        params["client_id"] = client_id
        page = authorize(http, **params)
        code = query(submit_login(http, page, "alice", "secret").headers["location"])["code"]
        tokens = redeem(
            http, code, params_verifier(params), params["redirect_uri"], client_id=client_id
        )
    assert tokens.status_code == 200, tokens.text


def test_a_body_that_is_not_json_is_refused(op):
    with op.client() as http:
        answer = http.post("/register", content=b"{", headers={"Content-Type": "application/json"})
        form = http.post("/register", data={"redirect_uris": CB})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_client_metadata"
    assert form.status_code == 400 and form.json()["error"] == "invalid_client_metadata"


def test_token_mode_needs_the_initial_access_token(es256_store):
    options = {"registration": "token", "registration_token": INITIAL}
    with provider_server(es256_store, provider_options=options) as op, op.client() as http:
        for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": INITIAL}):
            answer = register(http, {"redirect_uris": [CB]}, headers=headers)
            assert answer.status_code == 401, answer.text
            assert answer.json()["error"] == "invalid_token"
            assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        answer = register(
            http, {"redirect_uris": [CB]}, headers={"Authorization": f"Bearer {INITIAL}"}
        )
        assert answer.status_code == 201, answer.text


def test_read_and_delete_with_the_registration_access_token(op):
    with op.client() as http:
        body = register(http, {"redirect_uris": [CB], "client_name": "RP"}).json()
        uri, token = body["registration_client_uri"], body["registration_access_token"]
        assert http.get(uri).status_code == 401
        assert http.get(uri, headers={"Authorization": "Bearer nope"}).status_code == 401
        other = register(http, {"redirect_uris": [CB]}).json()["registration_access_token"]
        assert http.get(uri, headers={"Authorization": f"Bearer {other}"}).status_code == 401
        read = http.get(uri, headers={"Authorization": f"Bearer {token}"})
        assert read.status_code == 200, read.text
        assert read.json()["client_name"] == "RP" and read.json()["client_id"] == body["client_id"]
        assert "client_secret" not in read.json() and "hashed_secret" not in read.json()
        assert "registration_token" not in read.json()
        gone = http.delete(uri, headers={"Authorization": f"Bearer {token}"})
        assert gone.status_code == 204
        assert http.get(uri, headers={"Authorization": f"Bearer {token}"}).status_code == 401
        refused = http.post("/token", data={"grant_type": "client_credentials",
                            "client_id": body["client_id"], "client_secret": body["client_secret"]})  # fmt: skip
        assert refused.status_code == 401


def test_client_list_registered_reads_the_state_beside_the_store(cli, es256_store):
    provider = ProviderSettings(registration="open")
    with (
        live_server(es256_store, provider=provider) as server,
        server.client(trust_env=False) as http,
    ):
        body = register(http, {"redirect_uris": [CB], "client_name": "Listed"}).json()
    listed = cli("client", "list", "--registered", "--json", "--store", str(es256_store))
    assert listed.exit_code == 0, listed.stderr
    assert json.loads(listed.stdout) == [
        {
            "client_id": body["client_id"],
            "client_name": "Listed",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["authorization_code"],
            "scope": "",
            "redirect_uris": [CB],
            "client_id_issued_at": body["client_id_issued_at"],
        }
    ]
    assert body["client_secret"] not in listed.output
    table = cli("client", "list", "--registered", "--store", str(es256_store))
    assert body["client_id"] in table.stdout and "Listed" in table.stdout
    # Not in the TOML store.
    assert body["client_id"] not in es256_store.read_text()


def test_serve_registration_options_are_checked(cli, store_path, isolated_env):
    assert_one_line_error(cli("serve", "--registration", "token"), 2, "--registration-token-file")
    assert_one_line_error(cli("serve", "--registration", "maybe"), 2, "open or token")
    token_file = isolated_env / "reg.token"
    token_file.write_text(INITIAL + "\n")
    token_file.chmod(0o644)
    result = cli("serve", "--registration", "token", "--registration-token-file", str(token_file))
    assert_one_line_error(result, 7, "chmod 600")
    assert INITIAL not in result.output


def test_oauth4webapi_registers_a_client_and_completes_a_code_flow(op):
    """panva's oauth4webapi (nobody here wrote it) finds registration_endpoint by discovery,
    registers, and redeems a code with the registered client's secret; the ID token and
    /userinfo name the person who logged in."""
    import shutil
    import subprocess

    from tests.oidc.harness import node_modules

    if shutil.which("node") is None:
        pytest.skip("node is not installed: the oauth4webapi test needs Node.js")
    modules = node_modules("oauth4webapi", "3")
    script = Path(__file__).resolve().parent / "apps_serve" / "o4w_register.mjs"

    def step(name: str, given: dict) -> dict:
        proc = subprocess.run(
            ["node", str(script), str(modules), op.url, name],
            input=json.dumps(given), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    started = step("start", {"redirect_uri": "http://127.0.0.1:9/cb"})
    client_id = started["client"]["client_id"]
    assert client_id in op.records.items(REGISTERED)
    with op.client() as http:
        page = http.get(started["authorization_url"])
        assert page.status_code == 200, page.text
        answer = submit_login(http, page, "alice", "secret")
        assert answer.status_code == 303, answer.text
    done = step("finish", {**started, "callback": answer.headers["location"]})
    assert done["claims"]["sub"] == "alice" and done["claims"]["aud"] == client_id
    assert done["userinfo"]["sub"] == "alice"
    assert done["scope"] == "openid me"


def test_a_registered_client_uses_only_the_grants_it_registered(op):
    """RFC 7591 2 grant_types, enforced with RFC 6749's unauthorized_client (4.1.2.1, 5.2)."""
    with op.client() as http:
        code_only = register(http, {"redirect_uris": [CB]}).json()
        auth = (code_only["client_id"], code_only["client_secret"])
        for data in ({"grant_type": "client_credentials"},
                     {"grant_type": "refresh_token", "refresh_token": "x"}):  # fmt: skip
            answer = http.post("/token", data=data, auth=auth)
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"] == "unauthorized_client"
        device = http.post("/device_authorization", data={"scope": "openid"}, auth=auth)
        assert device.status_code == 400 and device.json()["error"] == "unauthorized_client"

        machine = register(http, {"grant_types": ["client_credentials"], "redirect_uris": [CB]})
        body = machine.json()
        _, params = public_params(CB, scope="openid")
        params["client_id"] = body["client_id"]
        answer = authorize(http, **params)
        assert answer.status_code == 302, answer.text
        assert query(answer.headers["location"])["error"] == "unauthorized_client"


def test_serve_with_registration_token_says_where_and_takes_the_token(store_path, isolated_env):
    """``oauthcli serve --registration token`` end to end: the token from a 0600 file (never
    argv), the endpoint announced, a request without the token refused, one with it served."""
    from tests.cli.test_serve_cmd import serve

    token_file = isolated_env / "reg.token"
    token_file.write_text(INITIAL + "\n")
    token_file.chmod(0o600)
    args = ("--store", str(store_path), "--registration", "token",
            "--registration-token-file", str(token_file))  # fmt: skip
    with serve(*args, cwd=store_path.parent) as (proc, url, log):
        assert f"  register:  {url}/register   (with the initial access token, RFC 7591)" in (
            log.read_text()
        )
        assert INITIAL not in " ".join(proc.args)
        with httpx.Client(base_url=url, trust_env=False) as http:
            assert register(http, {"redirect_uris": [CB]}).status_code == 401
            answer = register(
                http, {"redirect_uris": [CB]}, headers={"Authorization": f"Bearer {INITIAL}"}
            )
            assert answer.status_code == 201, answer.text
    assert INITIAL not in log.read_text()
