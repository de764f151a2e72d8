"""OpenID Connect on ``oauthcli serve``: ID tokens checked with PyJWT against /jwks, /userinfo,
discovery, refresh tokens by ``offline_access``, and Swagger UI's authorization-code flow."""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path

import httpx
import jwt
import pytest

from oauthcli.keys import write_new_key
from tests.apps_serve.browser import (
    CONF_CB,
    CONFIDENTIAL,
    CONFIDENTIAL_SECRET,
    PUBLIC,
    authorize,
    hidden_fields,
    log_in_for_code,
    pkce,
    provider_server,
    query,
    redeem,
    submit_login,
)
from tests.conftest import write_store

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def es256_store(isolated_env: Path) -> Path:
    path = isolated_env / "users.toml"
    write_new_key(isolated_env / "signing.pem", "ES256")
    write_store(path, issuer={"algorithm": "ES256", "key_file": "signing.pem"})
    return path


@pytest.fixture
def op(es256_store: Path):
    with provider_server(es256_store) as provider:
        yield provider


def verify_id_token(op, id_token: str, audience: str = PUBLIC) -> dict:
    """As a relying party does: the key from the provider's JWKS, by discovery."""
    with httpx.Client(trust_env=False) as http:
        config = http.get(op.url + "/.well-known/openid-configuration").json()
    key = jwt.PyJWKClient(config["jwks_uri"]).get_signing_key_from_jwt(id_token)
    return jwt.decode(
        id_token,
        key.key,
        algorithms=config["id_token_signing_alg_values_supported"],
        audience=audience,
        issuer=config["issuer"],
        options={"require": ["iss", "sub", "aud", "exp", "iat", "auth_time"]},
        # The provider's clock is the test's, which a test may move ahead of real time.
        leeway=max(0.0, op.clock() - time.time()),
    )


def left_half_sha256(value: str) -> str:
    digest = hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def code_tokens(op, http: httpx.Client, scope: str, **extra: str) -> dict:
    code, verifier, params = log_in_for_code(http, scope=scope, **extra)
    response = redeem(http, code, verifier, params["redirect_uri"])
    assert response.status_code == 200, response.text
    return response.json()


def test_id_token_claims_verified_against_the_jwks(op):
    with op.client() as http:
        body = code_tokens(op, http, "openid profile email", nonce="n-0S6_WzA2Mj")
    claims = verify_id_token(op, body["id_token"])
    assert claims["iss"] == op.url
    assert claims["sub"] == "alice" and claims["aud"] == PUBLIC
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["at_hash"] == left_half_sha256(body["access_token"])
    assert claims["auth_time"] == int(op.clock.now)  # the login, on the provider's clock
    assert claims["exp"] > claims["iat"]
    assert claims["name"] == "Alice" and claims["email"] == "alice@example.com"
    assert claims["preferred_username"] == "alice"
    assert jwt.get_unverified_header(body["id_token"])["alg"] == "ES256"
    assert body["scope"] == "openid profile email"


def test_id_token_claims_follow_the_scopes(op):
    with op.client() as http:
        body = code_tokens(op, http, "openid")
    claims = verify_id_token(op, body["id_token"])
    assert "nonce" not in claims
    assert not {"name", "email", "preferred_username"} & set(claims)


def test_auth_time_is_the_login_not_the_session_reuse(op):
    with op.client() as http:
        first = verify_id_token(op, code_tokens(op, http, "openid")["id_token"])
        op.clock.advance(120)
        second = verify_id_token(op, code_tokens(op, http, "openid")["id_token"])
    assert second["auth_time"] == first["auth_time"]


def test_confidential_client_gets_its_own_audience(op):
    with op.client() as http:
        page = http.get(
            "/authorize",
            params={"response_type": "code", "client_id": CONFIDENTIAL, "redirect_uri": CONF_CB,
                    "scope": "openid email"},
        )  # fmt: skip
        code = query(submit_login(http, page, "johndoe", "secret").headers["location"])["code"]
        body = redeem(
            http, code, None, CONF_CB, client_id="", auth=(CONFIDENTIAL, CONFIDENTIAL_SECRET)
        ).json()
    claims = verify_id_token(op, body["id_token"], audience=CONFIDENTIAL)
    assert claims["sub"] == "johndoe" and claims["email"] == "johndoe@example.com"


def userinfo(http: httpx.Client, token: str, method: str = "GET") -> httpx.Response:
    return http.request(method, "/userinfo", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("openid", {"sub": "alice"}),
        ("openid profile", {"sub": "alice", "name": "Alice", "preferred_username": "alice"}),
        ("openid email", {"sub": "alice", "email": "alice@example.com"}),
    ],
)
def test_userinfo_per_scope(op, scope, expected):
    with op.client() as http:
        token = code_tokens(op, http, scope)["access_token"]
        for method in ("GET", "POST"):
            response = userinfo(http, token, method)
            assert response.status_code == 200
            assert response.json() == expected


def test_userinfo_refuses_tokens_without_openid_and_bad_tokens(op):
    with op.client() as http:
        token = code_tokens(op, http, "me")["access_token"]
        lacking = userinfo(http, token)
        assert lacking.status_code == 403
        assert 'error="insufficient_scope"' in lacking.headers["www-authenticate"]
        assert http.get("/userinfo").status_code == 401
        bad = userinfo(http, "not-a-token")
        assert bad.status_code == 401
        assert 'error="invalid_token"' in bad.headers["www-authenticate"]
        revoked = code_tokens(op, http, "openid")["access_token"]
        http.post("/revoke", data={"token": revoked, "client_id": PUBLIC})
        assert userinfo(http, revoked).status_code == 401


def test_offline_access_decides_the_refresh_token(op):
    with op.client() as http:
        assert "refresh_token" not in code_tokens(op, http, "openid me")
        body = code_tokens(op, http, "openid me offline_access")
        refreshed = http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                  "client_id": PUBLIC},
        )  # fmt: skip
        assert refreshed.status_code == 200, refreshed.text
        assert refreshed.json()["refresh_token"] != body["refresh_token"]
        # The OpenID scopes survive the refresh (the user's store scopes hold only API scopes).
        assert refreshed.json()["scope"] == "openid me offline_access"
        assert userinfo(http, refreshed.json()["access_token"]).json() == {"sub": "alice"}


def test_device_flow_issues_an_id_token(op):
    with op.client() as device, op.client() as browser:
        grant = device.post(
            "/device_authorization", data={"client_id": PUBLIC, "scope": "openid profile"}
        ).json()
        entry = browser.get(grant["verification_uri_complete"])
        login = browser.post(
            "/device", data={**hidden_fields(entry.text), "user_code": grant["user_code"]}
        )
        confirm = submit_login(browser, login, "alice", "secret")
        browser.post("/device/confirm", data={**hidden_fields(confirm.text), "decision": "approve"})
        body = device.post(
            "/token",
            data={"grant_type": DEVICE_GRANT, "device_code": grant["device_code"],
                  "client_id": PUBLIC},
        ).json()  # fmt: skip
    claims = verify_id_token(op, body["id_token"])
    assert claims["sub"] == "alice" and claims["name"] == "Alice" and "nonce" not in claims


def test_discovery_lists_the_provider(op):
    with op.client() as http:
        config = http.get("/.well-known/openid-configuration").json()
        assert http.get("/.well-known/oauth-authorization-server").json() == config
    assert config["authorization_endpoint"] == op.url + "/authorize"
    assert config["device_authorization_endpoint"] == op.url + "/device_authorization"
    assert config["userinfo_endpoint"] == op.url + "/userinfo"
    assert config["response_types_supported"] == ["code"]
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert config["subject_types_supported"] == ["public"]
    assert config["id_token_signing_alg_values_supported"] == ["ES256"]
    assert config["authorization_response_iss_parameter_supported"] is True
    assert "authorization_code" in config["grant_types_supported"]
    assert DEVICE_GRANT in config["grant_types_supported"]
    assert config["scopes_supported"] == [
        "openid",
        "profile",
        "email",
        "offline_access",
        "items",
        "me",
    ]
    assert "none" in config["token_endpoint_auth_methods_supported"]


def test_swagger_ui_offers_the_code_flow_with_pkce(op):
    with op.client() as http:
        schema = http.get("/openapi.json").json()
        docs = http.get("/docs").text
        redirect_page = http.get("/docs/oauth2-redirect")
        flows = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]
        assert set(flows) == {"password", "authorizationCode"}
        code_flow = flows["authorizationCode"]
        assert code_flow["authorizationUrl"] == "authorize"
        assert code_flow["tokenUrl"] == flows["password"]["tokenUrl"] == "token"
        assert {"openid", "me", "items"} <= set(code_flow["scopes"])
        assert '"usePkceWithAuthorizationCodeGrant": true' in docs
        assert redirect_page.status_code == 200

        assert '"clientId": "web-app"' in docs  # the store's public client for /docs

        # What Swagger UI does from its Authorize button: PKCE, then form params, no secret.
        verifier, challenge = pkce()
        redirect_uri = op.url + "/docs/oauth2-redirect"
        page = authorize(
            http, redirect_uri=redirect_uri, state="sw", code_challenge=challenge,
            code_challenge_method="S256", scope="me items",
        )  # fmt: skip
        code = query(submit_login(http, page, "alice", "secret").headers["location"])["code"]
        token = http.post(
            "/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": PUBLIC,
                  "client_secret": "", "redirect_uri": redirect_uri, "code_verifier": verifier},
        )  # fmt: skip
        assert token.status_code == 200, token.text
        me = http.get(
            "/users/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
        )
        assert me.json()["username"] == "alice"
