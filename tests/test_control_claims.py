"""serve --control: claims you choose at run time (``set_claims``/``clear_claims``) and
``auto_login`` (issue 23 item 5), through the control API's one registry, by the plugin's
``oauthcli_provider`` methods and by ``oauthcli control``."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets

import httpx
import jwt
import pytest

from oauthcli import pytest_plugin
from oauthcli.errors import UsageError
from oauthcli.store import Client
from tests.conftest import assert_one_line_error

CALLBACK = "http://127.0.0.1:9/callback"


@pytest.fixture
def users(oauthcli_store):
    oauthcli_store.add_user("alice", "wonderland", scopes=["me", "openid"])
    oauthcli_store.add_user("bob", "wonderland", scopes=["me", "openid"])
    with oauthcli_store.store.edit() as data:
        data.users["alice"].claims = {"roles": ["viewer"], "tenant": "acme"}
        data.clients["web"] = Client("web", scopes=["me"], public=True, redirect_uris=[CALLBACK])
    return oauthcli_store


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def password_token(provider, user: str = "alice", scope: str = "openid me") -> str:
    answer = provider.login(user, "wonderland", scopes=scope.split())
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def test_set_claims_reaches_new_tokens_and_userinfo_then_clears(users, oauthcli_provider):
    provider = oauthcli_provider
    assert claims_of(password_token(provider))["roles"] == ["viewer"]
    assert provider.set_claims("alice", roles=["admin"], groups=["ops"]) == {
        "roles": ["admin"],
        "groups": ["ops"],
    }
    token = password_token(provider)
    assert claims_of(token)["roles"] == ["admin"] and claims_of(token)["groups"] == ["ops"]
    assert claims_of(token)["tenant"] == "acme"  # the store's other claims stay
    with provider.client() as http:
        info = http.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).json()
    assert info["roles"] == ["admin"] and info["groups"] == ["ops"]
    assert "groups" not in claims_of(password_token(provider, "bob"))  # alice's only
    assert "set_claims user='alice'" in provider.log.read_text()
    provider.clear_claims("alice")
    assert claims_of(password_token(provider))["roles"] == ["viewer"]


def test_set_claims_refuses_reserved_claims_and_unknown_users(users, oauthcli_provider):
    with pytest.raises(UsageError, match="claim 'sub' is set by the provider"):
        oauthcli_provider.set_claims("alice", sub="root")
    with pytest.raises(UsageError, match="no user 'nobody'"):
        oauthcli_provider.set_claims("nobody", roles=["admin"])
    assert claims_of(password_token(oauthcli_provider))["sub"] == "alice"


def pkce_params() -> tuple[str, dict[str, str]]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, {
        "response_type": "code", "client_id": "web", "redirect_uri": CALLBACK,
        "scope": "openid me", "state": secrets.token_urlsafe(8),
        "code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256",
    }  # fmt: skip


def test_auto_login_completes_the_next_authorize_without_a_page(users, oauthcli_provider):
    provider = oauthcli_provider
    provider.auto_login("alice")
    with provider.client() as http:
        verifier, params = pkce_params()
        answer = http.get("/authorize", params=params)
        assert answer.status_code == 302, answer.text  # no login page
        location = httpx.URL(answer.headers["location"])
        assert str(location).startswith(CALLBACK)
        assert location.params["state"] == params["state"]
        tokens = http.post("/token", data={
            "grant_type": "authorization_code", "code": location.params["code"],
            "redirect_uri": CALLBACK, "client_id": "web", "code_verifier": verifier,
        })  # fmt: skip
        assert tokens.status_code == 200, tokens.text
        assert claims_of(tokens.json()["id_token"])["sub"] == "alice"
    assert "auto_login completed /authorize as alice" in provider.log.read_text()
    # Once: the next authorization (another browser) shows the login page again.
    with provider.client() as fresh:
        again = fresh.get("/authorize", params=pkce_params()[1])
        assert again.status_code == 200 and 'id="password"' in again.text
    with pytest.raises(UsageError, match="no active user 'nobody'"):
        provider.auto_login("nobody")


def test_auto_login_is_404_without_control(users):
    with pytest_plugin.run_provider(users, control=False) as provider, provider.client() as http:
        answer = http.post("/_oauthcli/auto_login", json={"user": "alice"})
        assert answer.status_code == 404
        assert http.get("/authorize", params=pkce_params()[1]).status_code == 200


def test_the_cli_sets_claims_with_a_json_object(users, cli):
    with pytest_plugin.run_provider(users, "--control", control=False) as provider:
        args = ("--url", provider.url, "--store", str(users.path))
        result = cli("control", "set-claims", "user=alice", 'claims={"roles": ["admin"]}', *args,
                     "--json")  # fmt: skip
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout) == {"user": "alice", "claims": {"roles": ["admin"]}}
        assert claims_of(password_token(provider))["roles"] == ["admin"]
        bad = cli("control", "set-claims", "user=alice", "claims=admin", *args)
        assert_one_line_error(bad, 2, "claims must be a JSON object")


def test_logout_accepts_a_hint_signed_by_a_key_rotate_keys_kept(users, oauthcli_provider):
    """RP-initiated logout after a key rotation: an ID token of the previous key is still
    a hint while that key stays published (keep_old), and no more once it is dropped."""
    provider = oauthcli_provider

    def signed_in_id_token(http: httpx.Client) -> str:
        provider.auto_login("alice")
        verifier, params = pkce_params()
        code = httpx.URL(http.get("/authorize", params=params).headers["location"]).params["code"]
        tokens = http.post("/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
            "client_id": "web", "code_verifier": verifier,
        })  # fmt: skip
        return str(tokens.json()["id_token"])

    with provider.client() as http:
        hint = signed_in_id_token(http)
        provider.rotate_keys(keep_old=True)
        out = http.get("/logout", params={"id_token_hint": hint})
        assert out.status_code == 200 and "Signed out" in out.text, out.text
    with provider.client() as http:
        hint = signed_in_id_token(http)
        provider.rotate_keys(keep_old=False)
        out = http.get("/logout", params={"id_token_hint": hint})
        assert out.status_code == 400 and "not an ID token this server issued" in out.text


@pytest.fixture(scope="session")
def oauthcli_serve_args():
    return ("--registration", "open")


def test_faults_and_the_request_log_know_registration_and_logout(users, oauthcli_provider):
    provider = oauthcli_provider
    provider.fail_next("registration", "invalid_client_metadata", description="not today")
    with provider.client() as http:
        refused = http.post("/register", json={"redirect_uris": [CALLBACK]})
        assert refused.status_code == 400
        assert refused.json()["error_description"] == "not today"
        registered = http.post("/register", json={"redirect_uris": [CALLBACK]})
        assert registered.status_code == 201, registered.text
        http.get("/logout", params={"id_token_hint": "eyJ.not.a-token"})
    logged = provider.requests_to("registration")
    assert [e["status"] for e in logged] == [400, 201]
    assert logged[0]["fault"] is not None
    (logout,) = provider.requests_to("end_session")
    assert logout["params"]["id_token_hint"].startswith("sha256:")  # a token: hashed
