"""The token server, run for real under uvicorn on 127.0.0.1 and driven with httpx."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import threading
import time
from pathlib import Path
from urllib.parse import quote_plus

import httpx
import jwt
import pytest

from oauthcli import accounts
from oauthcli.errors import UsageError
from oauthcli.issuer import settings_for_store
from oauthcli.keys import write_new_key
from oauthcli.passwords import hash_password
from oauthcli.server import LoginThrottle, create_app
from oauthcli.store import User, UserStore
from oauthcli.tokens import TokenService
from tests.apps_serve.live import add_client, live_server, login
from tests.bcrypt_work import bcrypt_costs
from tests.conftest import TEST_SECRET, write_store


@pytest.fixture
def server(store_path: Path):
    with live_server(store_path) as live:
        yield live


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def me(server, token: str) -> httpx.Response:
    with server.client() as http:
        return http.get("/users/me", headers=bearer(token))


def challenge(response: httpx.Response) -> dict[str, str]:
    """The ``error``, ``error_description``, ``scope`` of a ``Bearer`` challenge (RFC 6750 3)."""
    header = response.headers["www-authenticate"]
    assert header.startswith("Bearer ")
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


# --- password grant ---------------------------------------------------------------------


def test_password_grant_issues_rfc6749_response_verifiable_with_pyjwt(server):
    response = login(server)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    assert body["scope"] == "me items"
    claims = jwt.decode(body["access_token"], TEST_SECRET, algorithms=["HS256"], issuer=server.url)
    assert claims["sub"] == "alice" and claims["scope"] == "me items"
    assert jwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"


def test_users_me_returns_the_user_without_hash(server):
    token = login(server).json()["access_token"]
    response = me(server, token)
    assert response.status_code == 200
    # Exactly the tutorial's User model: no scopes, never the hash.
    assert response.json() == {
        "username": "alice",
        "email": "alice@example.com",
        "full_name": "Alice",
        "disabled": False,
    }
    assert "$2b$" not in response.text


@pytest.mark.parametrize(
    ("username", "password", "description"),
    [
        ("alice", "wrong", "Incorrect username or password"),
        ("nobody", "secret", "Incorrect username or password"),
        ("carol", "wonderland", "Inactive user"),
        ("carol", "wrong", "Incorrect username or password"),
        ("alice", "x" * 73, "Incorrect username or password"),
        ("alice", "é" * 40, "Incorrect username or password"),
        ("a" * 2000, "secret", "Incorrect username or password"),
    ],
)
def test_failed_logins_are_rfc6749_invalid_grant_with_fastapi_detail(
    server, username, password, description
):
    response = login(server, username, password)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": description,
        "detail": description,
    }
    assert response.headers["cache-control"] == "no-store"
    assert password not in response.text


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "invalid_request"),
        ({"password": "secret"}, "invalid_request"),
        ({"grant_type": "password", "username": "alice"}, "invalid_request"),
        ({"grant_type": "password", "password": "secret"}, "invalid_request"),
        ({"grant_type": "implicit", "code": "x"}, "unsupported_grant_type"),
        ({"grant_type": "refresh_token"}, "invalid_request"),
    ],
)
def test_malformed_token_requests_are_400_not_422(server, data, error):
    with server.client() as http:
        response = http.post("/token", data=data)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error


def test_grant_type_defaults_to_password_like_oauth2passwordrequestform(server):
    """FastAPI's tutorial tests post only username and password, then get /users/me/."""
    with server.client() as http:
        ok = http.post("/token", data={"username": "johndoe", "password": "secret"})
        wrong = http.post("/token", data={"username": "johndoe", "password": "nope"})
        user = http.get("/users/me/", headers=bearer(ok.json()["access_token"]))
    assert user.status_code == 200 and user.json()["username"] == "johndoe"
    assert ok.status_code == 200, ok.text
    assert ok.json()["token_type"] == "bearer" and ok.json()["scope"] == "me"
    assert wrong.status_code == 400
    assert wrong.json()["detail"] == "Incorrect username or password"


def test_json_body_and_repeated_parameters_are_invalid_request(server):
    with server.client() as http:
        as_json = http.post(
            "/token", json={"grant_type": "password", "username": "alice", "password": "secret"}
        )
        repeated = http.post(
            "/token",
            content="grant_type=password&username=alice&username=bob&password=secret",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert as_json.status_code == repeated.status_code == 400
    assert as_json.json()["error"] == repeated.json()["error"] == "invalid_request"


def test_multipart_form_is_accepted_like_oauth2passwordrequestform(server):
    with server.client() as http:
        response = http.post(
            "/token",
            files={"grant_type": (None, "password"), "username": (None, "alice")},
            data={"password": "secret"},
        )
    assert response.status_code == 200, response.text


def test_unknown_user_and_oversized_password_cost_a_bcrypt_verification(tmp_path, monkeypatch):
    """Each failure path does the bcrypt work of a wrong password: counted, not timed."""
    path = tmp_path / "slow.toml"
    (tmp_path / "hs.secret").write_text(TEST_SECRET)
    store = UserStore(path)
    with store.edit(create=True) as data:
        data.other["issuer"] = {"secret_file": "hs.secret"}
        data.other["passwords"] = {"bcrypt_rounds": 5}
        data.users["alice"] = User("alice", hash_password("secret", 5), scopes=["me"])
        data.users["old"] = User("old", hash_password("secret", 7), scopes=["me"])

    def cost_of(username: str, password: str) -> list[int]:
        with bcrypt_costs(monkeypatch) as costs:
            assert login(live, username, password).status_code == 400
        return costs

    monkeypatch.delenv("OAUTHCLI_BCRYPT_ROUNDS")  # dummy verifications at the store's cost
    with live_server(path, throttle=LoginThrottle(max_failures=0)) as live:
        slowest = cost_of("old", "wrong")
        assert slowest == [7]
        assert cost_of("alice", "wrong") == [5]
        # Unknown users, and fields refused before any lookup, cost as much as the
        # slowest known user; a password bcrypt cannot take as much as that user's check.
        assert cost_of("nobody", "wrong") == slowest
        assert cost_of("alice", "y" * 5000) == slowest
        assert cost_of("alice", "x" * 100) == [5]
        assert cost_of("old", "x" * 100) == [7]


# --- scopes -------------------------------------------------------------------------------


def test_scope_can_be_narrowed(server):
    response = login(server, scope="me")
    assert response.json()["scope"] == "me"
    assert me(server, response.json()["access_token"]).status_code == 200


@pytest.mark.parametrize(("username", "scope"), [("alice", "me admin"), ("johndoe", "items")])
def test_scope_escalation_is_invalid_scope(server, username, scope):
    response = login(server, username, "secret", scope=scope)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert "access_token" not in response.text


def test_missing_scope_is_403_insufficient_scope_with_challenge(server):
    token = login(server, scope="items").json()["access_token"]
    response = me(server, token)
    assert response.status_code == 403
    assert response.json() == {"detail": "Not enough permissions"}
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and 'scope="me"' in challenge
    assert 'error="insufficient_scope"' in challenge


def test_scope_removed_from_user_stops_working_at_once(server):
    token = login(server).json()["access_token"]
    with server.store.edit() as data:
        data.users["alice"].scopes = ["items"]
    assert me(server, token).status_code == 403


# --- bearer failures ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic YWxpY2U6c2VjcmV0"}, {"Authorization": "Bearer"}],
)
def test_missing_token_is_401_with_bearer_challenge(server, headers):
    with server.client() as http:
        response = http.get("/users/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["detail"] == "Not authenticated"


def test_garbage_tampered_and_refresh_tokens_are_401_invalid_token(server):
    pair = login(server).json()
    header, payload, signature = pair["access_token"].split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    for token in ("garbage", tampered, pair["refresh_token"]):
        response = me(server, token)
        assert response.status_code == 401, token
        assert response.json() == {"detail": "Could not validate credentials"}
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.parametrize("typ", ["中", 'a"b\\c', "x\r\nSet-Cookie: a=b"])
def test_crafted_header_values_never_break_the_challenge(server, typ):
    """The typ of an unverified header is quoted in the error: it must stay header-safe."""
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": typ}).encode())
    token = header.decode().rstrip("=") + ".eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    response = me(server, token)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.isascii() and "\n" not in challenge and "set-cookie" not in response.headers
    assert challenge.count('"') % 2 == 0


def test_expired_token_is_401(server, store_path):
    settings = settings_for_store(store_path, server.store.load().issuer)
    service = TokenService(settings, settings.signing_key())
    token, _ = service.access_token("alice", ["me"], ttl=-30, issuer=server.url)
    response = me(server, token)
    assert response.status_code == 401
    assert "expired" in challenge(response)["error_description"]


def test_token_of_other_issuer_is_401(server, store_path):
    settings = settings_for_store(store_path, server.store.load().issuer)
    service = TokenService(settings, settings.signing_key())
    token, _ = service.access_token("alice", ["me"], issuer="https://elsewhere.example")
    assert me(server, token).status_code == 401


def test_locally_minted_token_without_iss_is_accepted(server, store_path):
    # The store names no issuer, so `oauthcli login`/`issue` tokens work against the server.
    settings = settings_for_store(store_path, server.store.load().issuer)
    token, claims = TokenService(settings, settings.signing_key()).access_token("alice", ["me"])
    assert "iss" not in claims
    assert me(server, token).status_code == 200


def test_disabled_user_tokens_stop_working_immediately(server):
    token = login(server).json()["access_token"]
    assert me(server, token).status_code == 200
    with server.store.edit() as data:
        data.users["alice"].disabled = True
    response = me(server, token)
    assert response.status_code == 401
    assert response.json() == {"detail": "Could not validate credentials"}
    assert "inactive" in challenge(response)["error_description"]
    assert login(server).json()["error_description"] == "Inactive user"


def test_store_changes_apply_without_restart(server):
    with server.store.edit() as data:
        data.users["dave"] = User("dave", hash_password("pw-dave", 4), scopes=["me"])
    response = login(server, "dave", "pw-dave")
    assert response.status_code == 200
    assert me(server, response.json()["access_token"]).json()["username"] == "dave"


def test_broken_store_edit_keeps_serving_last_good_data(server, caplog):
    token = login(server).json()["access_token"]
    server.store.path.write_text("[users.alice\nbroken")
    with caplog.at_level(logging.ERROR, logger="oauthcli.server"):
        assert me(server, token).status_code == 200
    assert "keeping the last good user store" in caplog.text


# --- refresh --------------------------------------------------------------------------------


def refresh(server, token: str, **extra: str) -> httpx.Response:
    with server.client() as http:
        return http.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": token, **extra}
        )


def test_refresh_rotates_and_reuse_revokes_the_family(server):
    first = login(server).json()
    second = refresh(server, first["refresh_token"])
    assert second.status_code == 200, second.text
    assert second.headers["cache-control"] == "no-store"
    pair = second.json()
    assert pair["refresh_token"] != first["refresh_token"]
    assert me(server, pair["access_token"]).status_code == 200

    reuse = refresh(server, first["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    assert "already used" in reuse.json()["error_description"]
    # The thief's copy and the legitimate newest token are both dead now.
    after = refresh(server, pair["refresh_token"])
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"


def test_concurrent_logins_and_refreshes_each_get_their_own_session(server):
    """CI jobs sharing a user: parallel logins all succeed, and every session refreshes."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(16) as pool:
        logins = list(pool.map(lambda i: login(server, ("alice", "johndoe")[i % 2]), range(32)))
        assert [r.status_code for r in logins] == [200] * 32
        tokens = [r.json()["refresh_token"] for r in logins]
        refreshed = list(pool.map(lambda token: refresh(server, token), tokens))
    assert [r.status_code for r in refreshed] == [200] * 32
    assert len({r.json()["refresh_token"] for r in refreshed}) == 32
    for response in refreshed[:4]:
        assert me(server, response.json()["access_token"]).status_code == 200


def test_refresh_can_narrow_but_not_widen(server):
    pair = login(server, scope="me").json()
    widened = refresh(server, pair["refresh_token"], scope="me items")
    assert widened.status_code == 400 and widened.json()["error"] == "invalid_scope"
    narrowed = refresh(server, login(server).json()["refresh_token"], scope="items")
    assert narrowed.status_code == 200 and narrowed.json()["scope"] == "items"


def test_refresh_for_disabled_user_is_invalid_grant(server):
    pair = login(server).json()
    with server.store.edit() as data:
        data.users["alice"].disabled = True
    response = refresh(server, pair["refresh_token"])
    assert response.status_code == 400
    assert response.json()["error_description"] == "Inactive user"


def test_access_token_is_not_a_refresh_token(server):
    pair = login(server).json()
    response = refresh(server, pair["access_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


# --- clients ----------------------------------------------------------------------------------


CLIENT_SECRET = "s3cret:with%odd&chars"


@pytest.fixture
def with_client(server):
    add_client(server.store, "ci-bot", CLIENT_SECRET, ["items"])
    return server


def client_token(server, headers=None, **data: str) -> httpx.Response:
    with server.client() as http:
        return http.post(
            "/token", data={"grant_type": "client_credentials", **data}, headers=headers or {}
        )


def test_client_credentials_with_basic_and_post(with_client):
    by_basic = client_token(with_client, basic("ci-bot", CLIENT_SECRET))
    by_post = client_token(with_client, client_id="ci-bot", client_secret=CLIENT_SECRET)
    for response in (by_basic, by_post):
        assert response.status_code == 200, response.text
        body = response.json()
        assert "refresh_token" not in body and body["scope"] == "items"
        claims = jwt.decode(body["access_token"], TEST_SECRET, algorithms=["HS256"])
        assert claims["sub"] == claims["client_id"] == "ci-bot"


def test_a_client_made_by_client_add_costs_no_bcrypt_per_token(
    cli, server, isolated_env, monkeypatch
):
    """``client add --new-secret-file`` stores a fast hash: /token never runs bcrypt for it."""
    result = cli("client", "add", "fast-bot", "-s", "items", "--new-secret-file", "fast.secret")
    assert result.exit_code == 0, result.stderr
    secret = (isolated_env / "fast.secret").read_text().strip()
    with bcrypt_costs(monkeypatch) as costs:
        for _ in range(3):
            response = client_token(server, basic("fast-bot", secret))
            assert response.status_code == 200, response.text
            assert response.json()["scope"] == "items"
        wrong = client_token(server, basic("fast-bot", secret[:-2]))
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert costs == []


def test_a_bcrypt_client_secret_is_checked_once_until_the_client_changes(with_client, monkeypatch):
    server = with_client
    with bcrypt_costs(monkeypatch) as costs:
        for _ in range(3):
            assert client_token(server, basic("ci-bot", CLIENT_SECRET)).status_code == 200
    assert costs == [4]  # the first request; the others hit the cache of verified secrets
    with bcrypt_costs(monkeypatch) as costs:
        for _ in range(2):
            assert client_token(server, basic("ci-bot", "wrong")).status_code == 401
    assert costs == [4, 4]  # failures are never remembered

    with server.store.edit() as data:  # any change to the store forgets every verification
        data.clients["ci-bot"].scopes = ["items", "me"]
    with bcrypt_costs(monkeypatch) as costs:
        assert client_token(server, basic("ci-bot", CLIENT_SECRET)).status_code == 200
        assert client_token(server, basic("ci-bot", CLIENT_SECRET)).status_code == 200
    assert costs == [4]

    with server.store.edit() as data:  # a disabled client is refused, cached or not
        data.clients["ci-bot"].disabled = True
    assert client_token(server, basic("ci-bot", CLIENT_SECRET)).status_code == 401
    with server.store.edit() as data:  # a new secret: the old one is refused at once
        data.clients["ci-bot"].disabled = False
        data.clients["ci-bot"].hashed_secret = hash_password("the-new-client-secret", 4)
    assert client_token(server, basic("ci-bot", CLIENT_SECRET)).status_code == 401
    assert client_token(server, basic("ci-bot", "the-new-client-secret")).status_code == 200


@pytest.mark.parametrize(
    ("headers", "data"),
    [
        (basic("ci-bot", "wrong"), {}),
        (basic("nobody", CLIENT_SECRET), {}),
        ({}, {"client_id": "ci-bot", "client_secret": "wrong"}),
        ({}, {}),
        ({"Authorization": "Basic !!!"}, {}),
    ],
)
def test_bad_client_is_401_invalid_client_with_basic_challenge(with_client, headers, data):
    response = client_token(with_client, headers, **data)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"] == 'Basic realm="oauthcli"'


def test_disabled_client_and_scope_escalation(with_client):
    assert client_token(with_client, basic("ci-bot", CLIENT_SECRET), scope="me").json()[
        "error"
    ] == ("invalid_scope")
    with with_client.store.edit() as data:
        data.clients["ci-bot"].disabled = True
    assert client_token(with_client, basic("ci-bot", CLIENT_SECRET)).status_code == 401


def test_client_token_is_not_a_user_token(with_client):
    with with_client.store.edit() as data:
        data.clients["ci-bot"].scopes = ["me"]
    token = client_token(with_client, basic("ci-bot", CLIENT_SECRET)).json()["access_token"]
    assert me(with_client, token).status_code == 401
    # A user of the client's name (its tokens carry sub: ci-bot) is refused outright.
    with pytest.raises(UsageError, match="must not be a username"), with_client.store.edit() as d:
        d.users["ci-bot"] = User("ci-bot", hash_password("x-pass", 4), scopes=["me"])


def test_password_grant_checks_client_credentials_when_given(with_client):
    good = login(with_client, client_id="ci-bot", client_secret=CLIENT_SECRET)
    bad = login(with_client, client_id="ci-bot", client_secret="wrong")
    assert good.status_code == 200
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"


# --- revocation and introspection ---------------------------------------------------------------


def revoke(server, token: str, **extra: str) -> httpx.Response:
    with server.client() as http:
        return http.post("/revoke", data={"token": token, **extra})


def test_revoked_access_token_is_401(server):
    token = login(server).json()["access_token"]
    response = revoke(server, token)
    assert response.status_code == 200
    answer = me(server, token)
    assert answer.status_code == 401 and "revoked" in challenge(answer)["error_description"]
    # Persisted beside the store, so other workers and restarts see it too.
    import jwt

    from oauthcli.state.denylist import Denylist

    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert Denylist.for_store(server.store.path).contains(jti)


def test_revoking_a_refresh_token_ends_its_family(server):
    pair = login(server).json()
    assert revoke(server, pair["refresh_token"], token_type_hint="refresh_token").status_code == 200
    assert refresh(server, pair["refresh_token"]).json()["error"] == "invalid_grant"


def test_revoking_unknown_tokens_is_200_and_missing_token_is_400(server):
    assert revoke(server, "not-a-token").status_code == 200
    with server.client() as http:
        assert http.post("/revoke", data={}).status_code == 400


def introspect(server, token: str, auth=True, **extra: str) -> httpx.Response:
    headers = basic("ci-bot", CLIENT_SECRET) if auth else {}
    with server.client() as http:
        return http.post("/introspect", data={"token": token, **extra}, headers=headers)


def test_introspection_of_access_and_refresh_tokens(with_client):
    pair = login(with_client).json()
    access = introspect(with_client, pair["access_token"])
    assert access.status_code == 200
    body = access.json()
    assert body["active"] is True and body["token_type"] == "access_token"
    assert body["sub"] == body["username"] == "alice" and body["scope"] == "me items"
    assert body["iss"] == with_client.url and body["exp"] > body["iat"]
    refreshing = introspect(with_client, pair["refresh_token"]).json()
    assert refreshing["active"] is True and refreshing["token_type"] == "refresh_token"

    refresh(with_client, pair["refresh_token"])
    assert introspect(with_client, pair["refresh_token"]).json() == {"active": False}
    revoke(with_client, pair["access_token"])
    assert introspect(with_client, pair["access_token"]).json() == {"active": False}
    assert introspect(with_client, "garbage").json() == {"active": False}


def test_introspection_of_client_token_names_the_client(with_client):
    token = client_token(with_client, basic("ci-bot", CLIENT_SECRET)).json()["access_token"]
    body = introspect(with_client, token).json()
    assert body["active"] is True and body["client_id"] == "ci-bot"
    assert "username" not in body


def test_introspection_requires_client_authentication(with_client):
    token = login(with_client).json()["access_token"]
    response = introspect(with_client, token, auth=False)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"] == 'Basic realm="oauthcli"'


# --- discovery, JWKS, docs ------------------------------------------------------------------------


def test_discovery_documents(server):
    with server.client() as http:
        oidc = http.get("/.well-known/openid-configuration").json()
        rfc8414 = http.get("/.well-known/oauth-authorization-server").json()
        jwks = http.get("/.well-known/jwks.json").json()
    assert oidc == rfc8414
    assert oidc["issuer"] == server.url
    assert oidc["token_endpoint"] == server.url + "/token"
    assert oidc["jwks_uri"] == server.url + "/.well-known/jwks.json"
    assert oidc["revocation_endpoint"] == server.url + "/revoke"
    assert oidc["introspection_endpoint"] == server.url + "/introspect"
    assert oidc["grant_types_supported"] == [
        "password",
        "refresh_token",
        "client_credentials",
        "authorization_code",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ]
    assert oidc["scopes_supported"] == [
        "openid",
        "profile",
        "email",
        "offline_access",
        "items",
        "me",
    ]
    assert "client_secret_basic" in oidc["token_endpoint_auth_methods_supported"]
    assert jwks == {"keys": []}  # HMAC secrets are never published


def test_discovery_is_built_once_per_store_version_and_follows_store_changes(
    store_path, monkeypatch
):
    """Served as bytes built ahead of time: not per request, but rebuilt when the store changes."""
    from oauthcli.server import app as app_module

    built: list[str] = []
    real = app_module.discovery_metadata

    def counting(ctx, base):
        built.append(base)
        return real(ctx, base)

    monkeypatch.setattr(app_module, "discovery_metadata", counting)
    with live_server(store_path) as live, live.client() as http:
        first = http.get("/.well-known/openid-configuration")
        for path in (
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
        ):
            again = http.get(path)
            assert again.content == first.content
            assert again.headers["content-type"] == "application/json"
        assert built == [live.url]
        assert "billing" not in first.json()["scopes_supported"]

        with live.store.edit() as data:
            data.users["alice"].scopes.append("billing")
        changed = http.get("/.well-known/oauth-authorization-server").json()
        assert "billing" in changed["scopes_supported"]
        assert built == [live.url, live.url]


@pytest.fixture
def es256_store(isolated_env: Path) -> Path:
    path = isolated_env / "es.toml"
    write_new_key(isolated_env / "signing.pem", "ES256")
    write_store(
        path,
        issuer={"algorithm": "ES256", "key_file": "signing.pem", "issuer": "https://auth.test"},
    )
    return path


def test_es256_jwks_verifies_tokens_with_plain_pyjwt(es256_store):
    with live_server(es256_store) as live, live.client() as http:
        discovery = http.get("/.well-known/openid-configuration").json()
        assert discovery["issuer"] == "https://auth.test"  # [issuer].issuer wins
        # ... and is the public base of every advertised URL (the server runs behind it).
        assert discovery["jwks_uri"] == "https://auth.test/.well-known/jwks.json"
        jwks = http.get("/.well-known/jwks.json").json()
        token = login(live).json()["access_token"]
        assert me(live, token).status_code == 200
    (jwk,) = jwks["keys"]
    assert jwk["kty"] == "EC" and jwk["crv"] == "P-256" and jwk["alg"] == "ES256"
    assert "d" not in jwk
    assert jwt.get_unverified_header(token)["kid"] == jwk["kid"]
    claims = jwt.decode(
        token,
        jwt.PyJWK(jwk).key,
        algorithms=["ES256"],
        issuer=discovery["issuer"],
    )
    assert claims["sub"] == "alice"


@pytest.mark.parametrize("algorithm", ["RS256", "EdDSA"])
def test_jwks_kid_matches_tokens_and_tutorial_scopes_claim(isolated_env, algorithm):
    """A resource server using PyJWKClient finds the key by kid; ``scopes`` (list) works too."""
    path = isolated_env / "asym.toml"
    write_new_key(isolated_env / "signing.pem", algorithm)
    write_store(
        path, issuer={"algorithm": algorithm, "key_file": "signing.pem", "scope_claim": "scopes"}
    )
    with live_server(path) as live:
        token = login(live, scope="me items").json()["access_token"]
        assert me(live, token).json()["username"] == "alice"
        only_items = login(live, scope="items").json()["access_token"]
        assert me(live, only_items).status_code == 403
        signing_key = jwt.PyJWKClient(live.url + "/.well-known/jwks.json").get_signing_key_from_jwt(
            token
        )
        claims = jwt.decode(token, signing_key.key, algorithms=[algorithm], issuer=live.url)
    assert claims["scopes"] == ["me", "items"] and "scope" not in claims


def test_openapi_exposes_password_flow_for_swagger_authorize(server):
    with server.client() as http:
        docs = http.get("/docs")
        schema = http.get("/openapi.json").json()
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    flow = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"]
    assert flow["tokenUrl"] == "token"
    assert set(flow["scopes"]) == {"me", "items"}
    assert schema["paths"]["/users/me"]["get"]["security"] == [{"OAuth2PasswordBearer": ["me"]}]
    form = schema["paths"]["/token"]["post"]["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in form


@pytest.mark.parametrize("client_id", ["", "my-swagger-app"])
def test_swagger_authorize_with_empty_client_secret_logs_in(server, client_id):
    """Swagger UI's Authorize sends HTTP Basic with its client fields, even when empty."""
    body = "grant_type=password&scope=me%20items&username=alice&password=secret"
    with server.client() as http:
        response = http.post(
            "/token",
            content=body,
            headers={
                **basic(client_id, ""),
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Requested-With": "XMLHttpRequest",
            },
        )
        assert response.status_code == 200, response.text
        assert response.json()["scope"] == "me items"
        user = http.get("/users/me", headers=bearer(response.json()["access_token"]))
    assert user.status_code == 200 and user.json()["username"] == "alice"


def test_openapi_scopes_follow_the_store(server):
    with server.store.edit() as data:
        data.users["alice"].scopes.append("admin")
    with server.client() as http:
        schema = http.get("/openapi.json").json()
    flow = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"]
    assert "admin" in flow["scopes"]


# --- operations ----------------------------------------------------------------------------------


def test_access_log_has_no_tokens_or_query_strings(server, caplog):
    with caplog.at_level(logging.INFO, logger="oauthcli.access"), server.client() as http:
        pair = login(server).json()
        http.get(f"/users/me?access_token={pair['access_token']}")
        http.get(f"/anything/{pair['access_token']}")
        http.get("/users/me", headers=bearer(pair["access_token"]))
        http.post(
            "/token",
            data={"grant_type": "password", "username": "alice", "password": "secret"},
        )
        # Each line is written just after its response: wait for all five, in any order.
        lines = _access_lines(caplog, 5)
    requests = sorted(line.split(" - ", 1)[1].rsplit(" ", 1)[0] for line in lines)
    assert requests == [
        '"GET /anything/<token>" 404',
        '"GET /users/me" 200',
        '"GET /users/me" 401',
        '"POST /token" 200',
        '"POST /token" 200',
    ]
    for secret in (pair["access_token"], pair["refresh_token"], "secret", "access_token="):
        assert not any(secret in line for line in lines), secret


def test_bcrypt_runs_off_the_event_loop(store_path, monkeypatch):
    """While a password check is under way, /users/me still answers.

    The check is held inside bcrypt until /users/me has answered: if bcrypt ran on the
    event loop, /users/me could not answer and the gate would never open.
    """
    import bcrypt

    entered, release = threading.Event(), threading.Event()
    real = bcrypt.hashpw

    def gated(password: bytes, salt: bytes) -> bytes:
        if password == b"pw-gated":
            entered.set()
            assert release.wait(60), "the event loop never answered /users/me"
        return real(password, salt)

    with live_server(store_path) as live:
        token = login(live).json()["access_token"]
        with live.store.edit() as data:
            data.users["slow"] = User("slow", hash_password("pw-gated", 4), scopes=["me"])
        monkeypatch.setattr(bcrypt, "hashpw", gated)
        results: list[int] = []
        thread = threading.Thread(
            target=lambda: results.append(login(live, "slow", "pw-gated").status_code)
        )
        thread.start()
        try:
            assert entered.wait(60), "the login never reached bcrypt"
            with live.client() as http:
                assert http.get("/users/me", headers=bearer(token)).status_code == 200
        finally:
            release.set()
            thread.join(60)
            assert not thread.is_alive(), "the gated login never ended"
    assert results == [200]


def test_create_app_works_in_process_with_asgi_transport(store_path):
    import asyncio

    store = UserStore(store_path)
    app = create_app(store, settings_for_store(store_path, store.load().issuer))

    async def scenario() -> tuple[int, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            response = await http.post(
                "/token",
                data={"grant_type": "password", "username": "alice", "password": "secret"},
            )
            token = response.json()["access_token"]
            answer = await http.get("/users/me", headers=bearer(token))
            return response.status_code, answer.status_code

    assert asyncio.run(scenario()) == (200, 200)


def test_create_app_fails_early_without_key(isolated_env):
    from oauthcli.errors import ConfigError

    path = isolated_env / "nokey.toml"
    write_store(path, issuer={"algorithm": "ES256", "key_file": "missing.pem"})
    store = UserStore(path)
    with pytest.raises(ConfigError, match=r"missing\.pem"):
        create_app(store, settings_for_store(path, store.load().issuer))


# --- issue 9 item 9: hardening ------------------------------------------------------------------


@pytest.fixture
def two_clients(server):
    # ci-bot may hold "me": a user's tokens through it reach /users/me (issue 20.8).
    add_client(server.store, "ci-bot", CLIENT_SECRET, ["items", "me"])
    add_client(server.store, "other-bot", "other-secret", ["items"])
    return server


def test_revoke_only_by_the_client_the_token_was_issued_to(two_clients):
    """RFC 7009 section 2.1: another client, or an anonymous caller, revokes nothing."""
    server = two_clients
    owner = basic("ci-bot", CLIENT_SECRET)
    client_access = client_token(server, owner).json()["access_token"]
    user_pair = login(server, client_id="ci-bot", client_secret=CLIENT_SECRET).json()
    with server.client() as http:
        for token in (client_access, user_pair["access_token"], user_pair["refresh_token"]):
            other = http.post(
                "/revoke", data={"token": token}, headers=basic("other-bot", "other-secret")
            )
            anonymous = http.post("/revoke", data={"token": token})
            assert (other.status_code, other.json()["error"]) == (400, "unauthorized_client")
            assert (anonymous.status_code, anonymous.json()["error"]) == (401, "invalid_client")
    # Nothing was revoked: the tokens still work ...
    assert me(server, user_pair["access_token"]).status_code == 200
    assert introspect(server, client_access).json()["active"] is True
    refreshed = refresh(
        server, user_pair["refresh_token"], client_id="ci-bot", client_secret=CLIENT_SECRET
    )
    assert refreshed.status_code == 200, refreshed.text
    # ... until their own client revokes them.
    with server.client() as http:
        assert http.post("/revoke", data={"token": client_access}, headers=owner).status_code == 200
    assert introspect(server, client_access).json() == {"active": False}


def test_refresh_token_of_a_client_is_redeemed_only_by_that_client(two_clients):
    server = two_clients
    pair = login(server, client_id="ci-bot", client_secret=CLIENT_SECRET).json()
    for extra in ({}, {"client_id": "other-bot", "client_secret": "other-secret"}):
        answer = refresh(server, pair["refresh_token"], **extra)
        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")
    good = refresh(server, pair["refresh_token"], client_id="ci-bot", client_secret=CLIENT_SECRET)
    assert good.status_code == 200, good.text


def test_a_token_issued_to_no_client_is_revoked_by_whoever_holds_it(server):
    token = login(server).json()["access_token"]
    assert revoke(server, token).status_code == 200
    assert me(server, token).status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
        {"Forwarded": "host=evil.example;proto=https"},
    ],
)
def test_discovery_ignores_the_request_host_and_forwarded_headers(server, headers):
    with server.client() as http:
        metadata = http.get("/.well-known/oauth-authorization-server", headers=headers).json()
    assert metadata["issuer"] == server.url
    assert metadata["token_endpoint"] == server.url + "/token"
    assert "evil" not in json.dumps(metadata) and "https" not in json.dumps(metadata)


def test_only_the_servers_own_host_names_are_answered(store_path):
    """DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 reaches
    the server with that Host; it gets 421 on every path, the login page included."""
    with UserStore(store_path).edit() as data:
        data.other["issuer"]["issuer"] = "https://idp.example"
    with live_server(store_path) as live, live.client() as http:
        port = live.url.rsplit(":", 1)[1]
        for path in ("/.well-known/openid-configuration", "/docs", "/authorize", "/token"):
            for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.nip.io", "attacker"):
                answer = http.get(path, headers={"Host": host})
                assert answer.status_code == 421, (path, host)
                assert "evil" not in answer.text
        for host in (
            f"127.0.0.1:{port}",
            f"localhost:{port}",
            "LOCALHOST.",
            "[::1]:1",
            "idp.example",
        ):
            answer = http.get("/.well-known/openid-configuration", headers={"Host": host})
            assert answer.status_code == 200, host
            assert answer.json()["issuer"] == "https://idp.example"


def test_discovery_follows_a_trusted_proxy_when_told_to(store_path):
    with live_server(store_path, trust_forwarded=True) as live, live.client() as http:
        metadata = http.get("/.well-known/openid-configuration", headers={"Host": "api.test"})
    assert metadata.json()["token_endpoint"] == "http://api.test/token"


def test_token_with_an_audience_is_refused_when_none_is_configured(server, store_path):
    settings = settings_for_store(store_path, server.store.load().issuer)
    service = TokenService(settings, settings.signing_key())
    token, _ = service.access_token("alice", ["me"], audience="some-other-api")
    response = me(server, token)
    assert response.status_code == 401
    assert "audience" in challenge(response)["error_description"].lower()


def test_a_nonexistent_subject_is_an_invalid_token_not_an_inactive_user(server, store_path):
    settings = settings_for_store(store_path, server.store.load().issuer)
    token, _ = TokenService(settings, settings.signing_key()).access_token("bob", ["me"])
    body = challenge(me(server, token))
    assert body["error"] == "invalid_token" and "inactive" not in body["error_description"]
    assert "not a user" in body["error_description"]


@pytest.mark.parametrize(
    "change",
    [
        lambda store: accounts.set_password(store, "alice", hash_password("secret", 4)),
        lambda store: (
            accounts.set_disabled(store, "alice", True),
            accounts.set_disabled(store, "alice", False),
        ),
        lambda store: (
            accounts.remove_user(store, "alice"),
            accounts.add_user(store, User("alice", hash_password("secret", 4), scopes=["me"])),
        ),
    ],
    ids=["passwd", "disable-enable", "remove-readd"],
)
def test_tokens_of_an_earlier_account_state_stop_working(server, change):
    accounts.set_password(server.store, "alice", hash_password("secret", 4))  # a generation
    old = login(server).json()
    assert me(server, old["access_token"]).status_code == 200
    change(server.store)
    answer = me(server, old["access_token"])
    assert answer.status_code == 401 and "account changed" in challenge(answer)["error_description"]
    assert refresh(server, old["refresh_token"]).json()["error"] == "invalid_grant"
    fresh = login(server).json()
    assert me(server, fresh["access_token"]).status_code == 200


def test_docs_work_offline_from_installed_assets(server):
    with server.client() as http:
        page = http.get("/docs")
        assert page.status_code == 200
        urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
        assets = [u for u in urls if u.endswith((".js", ".css"))]
        assert assets and all(u.startswith("/docs/assets/") for u in assets), urls
        assert "cdn" not in page.text.lower() and "https://" not in page.text
        for url in assets:
            asset = http.get(url)
            assert asset.status_code == 200 and len(asset.content) > 1000, url
        assert http.get("/docs/oauth2-redirect").status_code == 200


def test_hmac_issuer_with_a_pem_file_fails_at_start_not_per_request(isolated_env):
    from oauthcli.errors import ConfigError

    path = isolated_env / "pem.toml"
    write_new_key(isolated_env / "signing.pem", "ES256")
    write_store(path, issuer={"algorithm": "HS256", "secret_file": "signing.pem"})
    store = UserStore(path)
    with pytest.raises(ConfigError, match="not a shared secret"):
        create_app(store, settings_for_store(path, store.load().issuer))


def _access_lines(caplog, count: int) -> list[str]:
    # The server thread logs a request just after sending its response: wait for it.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = [r.getMessage() for r in caplog.records if r.name == "oauthcli.access"]
        if len(lines) >= count:
            return lines
        time.sleep(0.01)
    raise AssertionError("the access log lines did not arrive")


@pytest.mark.parametrize("trusted", [False, True])
def test_x_forwarded_for_is_logged_as_the_client_only_from_a_trusted_proxy(
    store_path, caplog, trusted
):
    options = {"forwarded_allow_ips": "127.0.0.1"} if trusted else {}
    with (
        live_server(store_path, serve_options=options) as live,
        caplog.at_level(logging.INFO, logger="oauthcli.access"),
        live.client() as http,
    ):
        http.get("/users/me", headers={"X-Forwarded-For": "203.0.113.9"})
        line = _access_lines(caplog, 1)[0]
    assert ("203.0.113.9" in line) is trusted, line
    assert trusted or line.startswith("127.0.0.1:")


@pytest.mark.parametrize("http_impl", ["httptools", "h11"])
def test_half_open_connections_are_closed_and_the_server_keeps_answering(store_path, http_impl):
    """Slowloris: connections that never finish their request head are dropped."""
    import socket

    serve_options = {"header_timeout": 0.5, "max_connections": 64, "http": http_impl}
    with live_server(store_path, serve_options=serve_options) as live:
        port = int(live.url.rsplit(":", 1)[1])
        held = []
        for i in range(40):
            sock = socket.create_connection(("127.0.0.1", port))
            if i % 2:
                sock.sendall(b"GET /users/me HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never ends
            held.append(sock)
        try:
            for sock in held:
                sock.settimeout(60)  # a deadline for the server's close, not a measurement
                with contextlib.suppress(ConnectionResetError):
                    assert sock.recv(1024) == b""
            # The slots are free again: a real client is answered.
            assert login(live).status_code == 200
            # And a keep-alive connection gets a new deadline after each response.
            idle = socket.create_connection(("127.0.0.1", port))
            idle.sendall(b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            idle.settimeout(60)
            received = b""
            while True:
                chunk = idle.recv(4096)
                if not chunk:
                    break
                received += chunk
            assert received.startswith(b"HTTP/1.1 200")
            idle.close()
        finally:
            for sock in held:
                sock.close()


@pytest.mark.parametrize("http_impl", ["httptools", "h11"])
def test_pipelined_answers_arrive_whole_and_in_order_before_a_close(store_path, http_impl):
    """Each answer is written once (head and body together, ``protocols._Coalescing``):
    three pipelined requests sent in one packet get three whole answers, in order, and
    ``Connection: close`` on the last still delivers it before the server closes."""
    import socket

    with live_server(store_path, serve_options={"http": http_impl}) as live:
        port = int(live.url.rsplit(":", 1)[1])
        jwks = httpx.get(live.url + "/.well-known/jwks.json", trust_env=False).content
        config = httpx.get(live.url + "/.well-known/openid-configuration", trust_env=False)
        head = "Host: 127.0.0.1\r\n"
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(
                (
                    f"GET /.well-known/jwks.json HTTP/1.1\r\n{head}\r\n"
                    f"GET /.well-known/openid-configuration HTTP/1.1\r\n{head}\r\n"
                    f"GET /.well-known/jwks.json HTTP/1.1\r\n{head}Connection: close\r\n\r\n"
                ).encode()
            )
            sock.settimeout(60)  # a deadline for the server's close, not a measurement
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
    bodies = []
    rest = received
    while rest:
        status, _, rest = rest.partition(b"\r\n")
        headers, _, rest = rest.partition(b"\r\n\r\n")
        assert status == b"HTTP/1.1 200 OK", received
        length = int(re.search(rb"(?im)^content-length: *(\d+)", headers)[1])
        bodies.append(rest[:length])
        rest = rest[length:]
    assert bodies == [jwks, config.content, jwks]


def test_a_big_answer_reaches_the_transport_at_once_for_its_flow_control():
    """``_Coalescing`` holds what one event-loop turn writes for one ``send``, but never a
    big answer: from 64 KiB on it goes to the transport at once, so that the transport's
    flow control (uvicorn's ``pause_writing``/``drain``) holds back a body written faster
    than the client reads (a held 188 MiB body grew the server by 555 MiB)."""
    import asyncio

    from oauthcli.server.protocols import _Coalescing

    class Transport:  # records what reaches the socket's side
        def __init__(self) -> None:
            self.written: list[bytes] = []

        def write(self, data: bytes) -> None:
            self.written.append(data)

        def is_closing(self) -> bool:
            return False

    async def turn() -> tuple[list[int], list[int]]:
        transport = Transport()
        coalescing = _Coalescing(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        coalescing.write(b"HTTP/1.1 200 OK\r\n\r\n")
        coalescing.write(b"{}")
        small = [len(d) for d in transport.written]  # nothing yet: held for the turn's end
        for _ in range(3):
            coalescing.write(b"x" * 40_000)
        big = [len(d) for d in transport.written]  # the first 64 KiB went out at once
        await asyncio.sleep(0)
        return small, big + [len(d) for d in transport.written[len(big) :]]

    small, big = asyncio.run(turn())
    assert small == []
    assert big[0] == 19 + 2 + 80_000 and sum(big) == 19 + 2 + 120_000


def test_a_public_client_naming_itself_owns_its_tokens(server):
    """A public client cannot authenticate; its client_id binds the tokens to it."""
    from oauthcli.store import Client

    with server.store.edit() as data:
        data.clients["web-app"] = Client("web-app", public=True, scopes=["me"])
        data.clients["other-app"] = Client("other-app", public=True, scopes=["me"])
    pair = login(server, client_id="web-app").json()
    assert jwt.decode(pair["access_token"], options={"verify_signature": False})["client_id"] == (
        "web-app"
    )
    # RFC 7009 2.1: refused unless the client the token was issued to asks; no client at all is
    # an authentication failure (401), another client an unauthorized one (400).
    for extra, status, error in (
        ({}, 401, "invalid_client"),
        ({"client_id": "other-app"}, 400, "unauthorized_client"),
    ):
        refused = refresh(server, pair["refresh_token"], **extra)
        assert refused.json()["error"] == "invalid_grant"
        revoked = revoke(server, pair["access_token"], **extra)
        assert (revoked.status_code, revoked.json()["error"]) == (status, error)
    assert me(server, pair["access_token"]).status_code == 200
    assert refresh(server, pair["refresh_token"], client_id="web-app").status_code == 200
    assert revoke(server, pair["access_token"], client_id="web-app").status_code == 200
    assert me(server, pair["access_token"]).status_code == 401
