"""Protected resource metadata (RFC 9728) of serve's own API, and its 401s naming it."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from oauthcli.client.challenge import parse
from tests.apps_serve.live import live_server, login

PATH = "/.well-known/oauth-protected-resource"


@pytest.fixture
def server(store_path: Path):
    with live_server(store_path) as live:
        yield live


def test_the_document_names_the_api_and_this_authorization_server(server):
    with server.client() as http:
        answer = http.get(PATH)
        openid = http.get("/.well-known/openid-configuration").json()
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    doc = answer.json()
    # RFC 9728 3.3: resource is the identifier the well-known URL was made from
    assert doc["resource"] == server.url
    assert doc["authorization_servers"] == [openid["issuer"]] == [server.url]
    assert "me" in doc["scopes_supported"]
    assert doc["bearer_methods_supported"] == ["header"]
    assert "ES256" in doc["dpop_signing_alg_values_supported"]


@pytest.mark.parametrize("path", ["/users/me", "/userinfo"])
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"])
def test_401s_name_the_metadata(server, path, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    with server.client() as http:
        answer = http.get(path, headers=headers)
    assert answer.status_code == 401
    (challenge,) = parse(answer.headers["www-authenticate"])
    assert challenge.scheme == "Bearer"
    assert challenge.param("resource_metadata") == server.url + PATH
    if authorization:
        assert challenge.param("error") == "invalid_token"
    if path == "/users/me":  # the tutorial's body, whole
        expected = "Could not validate credentials" if authorization else "Not authenticated"
        assert answer.json() == {"detail": expected}


def test_a_token_for_the_api_resource_is_accepted_by_the_api(server):
    token = login(server, scope="me", resource=server.url).json()["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == server.url
    with server.client() as http:
        me = http.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "alice"


def test_another_resource_is_still_invalid_target(server):
    answer = login(server, scope="me", resource="https://elsewhere.example/api")
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_target"
