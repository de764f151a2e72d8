"""``oauthcli login --app URL``: the token endpoint and scopes from the app's OpenAPI document."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Security
from fastapi.security import OAuth2AuthorizationCodeBearer, OAuth2PasswordBearer

from oauthcli.client.openapi import document_url, oauth2_schemes
from tests.conftest import assert_one_line_error
from tests.live_server import start_server, tutorial_server  # noqa: F401 - fixtures

PROJECT = Path(__file__).resolve().parent.parent / "plugin_project"


def tutorial_api():
    """tests/plugin_project/tutorial_api.py: the tutorial-style app of the plugin's test project."""
    spec = importlib.util.spec_from_file_location(
        "plugin_tutorial_api", PROJECT / "tutorial_api.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def oauthcli_issuer_settings():
    return {"algorithm": "HS256", "scope_claim": "scopes"}  # the tutorial's "scopes" list claim


@pytest.fixture
def api(oauthcli_store, oauthcli_provider, start_server):  # noqa: F811
    """The tutorial-style app on a real server, its tokenUrl pointing at a real provider."""
    oauthcli_store.add_user("alice", "wonderland", scopes=["me", "items"])
    oauthcli_store.add_user("johndoe", "secret", scopes=["me"])
    app = tutorial_api().make_app(oauthcli_provider.token_url, oauthcli_store.secret)
    return start_server(app)


def test_login_app_with_the_password_flow(cli, api, oauthcli_provider):
    result = cli(
        "login", "alice", "--app", api.url, "--password-stdin", "--json", input="wonderland\n"
    )
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["scope"] == "me items"  # no --scope: nothing asked, all the user has
    # Where the password went is said before it is sent.
    assert f"token endpoint {oauthcli_provider.token_url}" in result.stderr
    assert "OAuth2PasswordBearer (password flow)" in result.stderr
    me = httpx.get(
        api.url + "/users/me/",
        headers={"Authorization": f"Bearer {answer['access_token']}"},
        trust_env=False,
    )
    assert me.status_code == 200 and me.json() == {"username": "alice"}
    # The profile remembers the real token endpoint: refresh goes there.
    refreshed = cli("refresh", "--json")
    assert refreshed.exit_code == 0, refreshed.stderr


def test_after_login_app_call_may_send_the_token_to_the_app(cli, api, oauthcli_provider):
    # the app's token endpoint is on another origin (the provider); the token is for the app
    assert api.url != oauthcli_provider.url
    result = cli("login", "alice", "--app", api.url, "--password-stdin", input="wonderland\n")
    assert result.exit_code == 0, result.stderr
    called = cli("call", api.url + "/users/me/")
    assert called.exit_code == 0, called.stderr
    assert json.loads(called.stdout) == {"username": "alice"}
    # and still nowhere else
    refused = cli("call", "http://127.0.0.2:9/users/me/")
    assert refused.exit_code == 2 and "refusing to send" in refused.stderr


def test_login_app_wrong_password(cli, api):
    result = cli("login", "alice", "--app", api.url, "--password-stdin", input="nope\n")
    assert result.exit_code == 3
    assert result.stderr.splitlines()[-1].startswith("oauthcli: error: ")
    assert "incorrect username or password" in result.stderr.lower()


def test_a_refused_scope_lists_the_apps_scopes(cli, api):
    result = cli(
        "login",
        "johndoe",
        "--app",
        api.url,
        "--scope",
        "items",
        "--password-stdin",
        input="secret\n",
    )
    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert lines[-1].lower().startswith("oauthcli: error: scope not granted")
    listing = lines[lines.index("Scopes the app knows (--scope):") + 1 : -1]
    assert listing == [
        "  me     Read information about the current user.",
        "  items  Read items.",
    ]


def test_login_app_against_oauthcli_serve(cli, oauthcli_store, oauthcli_provider):
    oauthcli_store.add_user("alice", "pw", scopes=["me", "items"])
    for url in (oauthcli_provider.url, oauthcli_provider.url + "/", oauthcli_provider.openapi_url):
        result = cli(
            "login",
            "alice",
            "--app",
            url,
            "--scope",
            "me",
            "--password-stdin",
            "--print",
            input="pw\n",
        )
        assert result.exit_code == 0, result.stderr
        with oauthcli_provider.client() as http:
            me = http.get("/users/me", headers={"Authorization": f"Bearer {result.stdout.strip()}"})
        assert me.status_code == 200
    refused = cli(
        "login",
        "alice",
        "--app",
        oauthcli_provider.url,
        "--scope",
        "admin",
        "--password-stdin",
        input="pw\n",
    )
    assert refused.exit_code == 3
    assert "  items" in refused.stderr and "  me" in refused.stderr


def test_an_app_without_oauth2(cli, start_server):  # noqa: F811
    app = FastAPI()

    @app.get("/ping")
    def ping() -> str:
        return "pong"

    server = start_server(app)
    assert_one_line_error(
        cli("login", "alice", "--app", server.url, "--password-stdin", input="pw\n"),
        6,
        "declares no OAuth2 security scheme",
    )


def two_scheme_app() -> FastAPI:
    app = FastAPI()
    users = OAuth2PasswordBearer(tokenUrl="token", scheme_name="users")
    staff = OAuth2PasswordBearer(tokenUrl="https://sso.example/token", scheme_name="staff")

    @app.get("/a")
    def a(token: str = Security(users)) -> str:
        return token

    @app.get("/b")
    def b(token: str = Security(staff)) -> str:
        return token

    return app


def test_an_app_with_several_schemes(cli, start_server):  # noqa: F811
    server = start_server(two_scheme_app())
    assert_one_line_error(
        cli("login", "alice", "--app", server.url, "--password-stdin", input="pw\n"),
        2,
        "2 OAuth2 schemes (users, staff)",
        "--app-scheme",
    )
    assert_one_line_error(
        cli(
            "login",
            "alice",
            "--app",
            server.url,
            "--app-scheme",
            "nope",
            "--password-stdin",
            input="pw\n",
        ),
        2,
        "no OAuth2 scheme 'nope'",
    )
    # Chosen: the relative tokenUrl resolves against the app, which has no /token: its 404 is exit 6.
    chosen = cli(
        "login",
        "alice",
        "--app",
        server.url,
        "--app-scheme",
        "users",
        "--password-stdin",
        input="pw\n",
    )
    assert f"token endpoint {server.url}/token" in chosen.stderr
    assert chosen.exit_code == 6, chosen.stderr


def test_an_authorization_code_only_app(cli, start_server):  # noqa: F811
    app = FastAPI()
    scheme = OAuth2AuthorizationCodeBearer(authorizationUrl="authorize", tokenUrl="token")

    @app.get("/a")
    def a(token: str = Security(scheme)) -> str:
        return token

    server = start_server(app)
    result = cli("login", "alice", "--app", server.url, "--password-stdin", input="pw\n")
    assert_one_line_error(result, 2, "no password flow", "authorizationCode")
    assert f"authorizes at {server.url}/authorize" in result.stderr


def test_bad_documents(cli, start_server):  # noqa: F811
    app = FastAPI()

    @app.get("/notjson.json")
    def not_json() -> int:
        return 42

    server = start_server(app)
    assert_one_line_error(
        cli("login", "a", "--app", server.url + "/missing.json", "--password-stdin", input="p\n"),
        6,
        "404",
    )
    assert_one_line_error(
        cli("login", "a", "--app", server.url + "/notjson.json", "--password-stdin", input="p\n"),
        6,
        "not an OpenAPI document",
    )
    # fetched as every public document is (client/discovery.py): a redirect is named, not followed
    from starlette.responses import RedirectResponse

    # No return annotation: under `from __future__ import annotations` it is a string that
    # FastAPI 0.115 resolves in the module's globals, where this local import is not.
    @app.get("/moved.json", response_class=RedirectResponse)
    def moved():
        return RedirectResponse("/openapi.json", status_code=302)

    assert_one_line_error(
        cli("login", "a", "--app", server.url + "/moved.json", "--password-stdin", input="p\n"),
        6,
        "redirects to",
        "use the final URL",
    )


def test_option_mistakes_are_refused_before_the_network(cli):
    assert_one_line_error(
        cli("login", "a", "--app", "http://127.0.0.1:9", "--url", "http://127.0.0.1:9/token"),
        2,
        "--app and --url",
    )
    assert_one_line_error(cli("login", "a", "--app-scheme", "x"), 2, "only applies with --app")
    assert_one_line_error(
        cli("login", "a", "--app", "http://api.example.com"), 2, "plain http", "--insecure-http"
    )


@pytest.mark.parametrize(
    ("servers", "token_url", "expected"),
    [
        (None, "token", "http://h:1/token"),
        (None, "/auth/token", "http://h:1/auth/token"),
        ([{"url": "/api"}], "token", "http://h:1/api/token"),
        ([{"url": "https://other.example/v1/"}], "token", "https://other.example/v1/token"),
        ([{"url": "https://{region}.example"}], "token", "http://h:1/token"),
        (None, "https://sso.example/oauth/token", "https://sso.example/oauth/token"),
    ],
)
def test_relative_urls_resolve_against_the_server_object(servers, token_url, expected):
    doc = {
        "openapi": "3.1.0",
        "components": {
            "securitySchemes": {
                "s": {
                    "type": "oauth2",
                    "flows": {"password": {"tokenUrl": token_url, "scopes": {"a": "A"}}},
                },
                "key": {"type": "apiKey", "name": "X-Key", "in": "header"},
            }
        },
    }
    if servers is not None:
        doc["servers"] = servers
    [scheme] = oauth2_schemes(doc, "http://h:1/openapi.json")
    assert scheme.flows["password"].token_url == expected
    assert scheme.scopes == {"a": "A"}


def test_document_url():
    assert document_url("http://h/") == "http://h/openapi.json"
    assert document_url("http://h/api") == "http://h/api/openapi.json"
    assert document_url("http://h/api/v1/openapi.json") == "http://h/api/v1/openapi.json"


def test_a_scope_left_out_of_the_answer_is_reported(cli, tutorial_server):  # noqa: F811
    # The FastAPI tutorial app grants only the asked scopes the user holds, without an error.
    result = cli(
        "login",
        "johndoe",
        "--app",
        tutorial_server.url,
        "--scope",
        "me items",
        "--password-stdin",
        "--json",
        input="secret\n",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["scope"] == "me"
    assert "oauthcli: warning: the server did not grant the scope items" in result.stderr
    assert "  items  Read items." in result.stderr
