"""``login --resource-url`` (RFC 9728): from an API's URL to its authorization server and a token
for it, against ``oauthcli serve``'s own resource metadata; and ``call``'s hint on a 401."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jwt
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oauthcli import settings
from oauthcli.client.cache import TokenCache
from oauthcli.server.run import base_url, bind
from tests.apps_serve.browser import PUBLIC
from tests.apps_serve.live import serve_socket
from tests.conftest import assert_one_line_error


@pytest.fixture
def serve(browser_provider):
    return browser_provider  # tests/conftest.py


@pytest.fixture
def person(monkeypatch):
    """Someone at hand for a browser login (the refusals come before any browser opens)."""
    monkeypatch.setenv("OAUTHCLI_INTERACTIVE", "1")


@contextmanager
def api(routes: dict[str, Any]) -> Iterator[str]:
    """A stand-in API on 127.0.0.1: ``{path: (status, json body or None, headers)}``."""

    def handler(path: str):
        status, body, headers = routes[path]

        async def answer(request) -> Response:
            if body is None:
                return Response(status_code=status, headers=headers)
            document = body(str(request.base_url).rstrip("/")) if callable(body) else body
            return JSONResponse(document, status_code=status, headers=headers)

        return answer

    app = Starlette(routes=[Route(path, handler(path)) for path in routes])
    sock = bind("127.0.0.1", 0)
    with serve_socket(app, sock):
        yield base_url("127.0.0.1", sock.getsockname()[1])


def cached():
    return TokenCache(settings.cache_dir()).load("default")


@pytest.mark.parametrize("path", ["", "/users/me"], ids=["well-known", "401-resource_metadata"])
def test_login_for_serves_api_finds_serve_and_asks_for_the_resource(cli, serve, path):
    result = cli(
        "login", "--resource-url", serve.url + path, "--client-id", PUBLIC,
        "--scope", "openid me", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    access = json.loads(result.stdout)["access_token"]
    assert jwt.decode(access, options={"verify_signature": False})["aud"] == serve.url
    entry = cached()
    assert entry.issuer == serve.url and entry.resources == [serve.url]
    me = cli("call", serve.url + "/users/me")
    assert me.exit_code == 0, me.output
    assert json.loads(me.stdout)["username"] == "alice"


def test_metadata_for_another_resource_is_refused(cli, person):
    doc = {"resource": "https://other.example/api", "authorization_servers": ["https://idp"]}
    with api({"/.well-known/oauth-protected-resource": (200, doc, {})}) as url:
        result = cli("login", "--resource-url", url, "--client-id", "cli")
    assert_one_line_error(result, 6, "https://other.example/api", "RFC 9728 3.3")


def test_a_401_naming_another_origins_resource_is_refused(cli, person):
    """The 401's document may name a resource the URL lies under, on the same origin only."""
    with api(
        {
            "/.well-known/oauth-protected-resource": (
                200,
                lambda base: {
                    "resource": "https://evil.example",
                    "authorization_servers": ["https://idp"],
                },
                {},
            )
        }
    ) as meta:
        challenge = f'Bearer resource_metadata="{meta}/.well-known/oauth-protected-resource"'
        with api({"/v1/orders": (401, None, {"WWW-Authenticate": challenge})}) as url:
            result = cli("login", "--resource-url", url + "/v1/orders", "--client-id", "cli")
    assert_one_line_error(result, 6, "RFC 9728 3.3")


def test_an_api_without_metadata_says_so(cli, person):
    with api({"/v1/orders": (401, None, {"WWW-Authenticate": "Bearer"})}) as url:
        result = cli("login", "--resource-url", url + "/v1/orders", "--client-id", "cli")
    assert_one_line_error(result, 6, "publishes no protected resource metadata", "--issuer-url")


def test_issuer_url_must_be_one_the_resource_names(cli, serve):
    result = cli(
        "login", "--resource-url", serve.url, "--issuer-url", "https://idp.example",
        "--client-id", PUBLIC,
    )  # fmt: skip
    assert_one_line_error(result, 2, "not an authorization server of", serve.url)


def test_resource_url_needs_a_client_id(cli, serve):
    assert_one_line_error(cli("login", "--resource-url", serve.url), 2, "--client-id")


def test_call_on_a_401_says_which_login_would_work(cli, serve):
    result = cli("call", serve.url + "/users/me", "--token", "-", input="not-a-token\n")
    assert result.exit_code == 3, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("oauthcli: error: HTTP 401")
    assert f"login --resource-url {serve.url} --client-id ID" in line, line
    assert f"authorization server {serve.url}" in line
