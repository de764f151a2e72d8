"""Claims you choose (issue 23 item 5): ``[users.NAME.claims]``, ``[clients.ID.claims]`` and a
client's ``audience`` reach access tokens, ID tokens and /userinfo as their scopes allow;
reserved claims are refused when the store loads."""

from __future__ import annotations

from pathlib import Path

import httpx
import jwt
import pytest

from oauthcli.keys import write_new_key
from oauthcli.passwords import hash_password
from oauthcli.store import Client, UserStore
from tests.apps_serve.browser import (
    CONF_CB,
    CONFIDENTIAL,
    CONFIDENTIAL_SECRET,
    PUBLIC,
    log_in_for_code,
    provider_server,
    query,
    redeem,
    submit_login,
)
from tests.conftest import assert_one_line_error, write_store

API = "https://api.example.com"


@pytest.fixture
def claims_store(isolated_env: Path) -> Path:
    path = isolated_env / "users.toml"
    write_new_key(isolated_env / "signing.pem", "ES256")
    store = write_store(path, issuer={"algorithm": "ES256", "key_file": "signing.pem"})
    with store.edit() as data:
        data.users["alice"].claims = {
            "roles": ["admin", "ops"],
            "tenant": "acme",
            "given_name": "Alice",  # a standard claim: only with scope profile
            "settings": {"theme": "dark", "beta": True},
        }
        data.clients["svc"] = Client(
            "svc",
            hash_password("svc-secret-0123456789", 4),
            scopes=["items"],
            audience=API,
            claims={"tier": "gold"},
        )
    return path


@pytest.fixture
def op(claims_store: Path):
    with provider_server(claims_store) as provider:
        with UserStore(claims_store).edit() as data:
            data.clients[PUBLIC].audience = [API, "https://other.example"]
            data.clients[PUBLIC].claims = {"app": "web"}
        yield provider


def signed_claims(op, token: str, audience: str | None = None) -> dict:
    with httpx.Client(trust_env=False) as http:
        config = http.get(op.url + "/.well-known/openid-configuration").json()
    key = jwt.PyJWKClient(config["jwks_uri"]).get_signing_key_from_jwt(token)
    return jwt.decode(
        token, key.key, algorithms=["ES256"], audience=audience, issuer=config["issuer"]
    )


def code_tokens(op, http: httpx.Client, scope: str) -> dict:
    code, verifier, params = log_in_for_code(http, scope=scope)
    response = redeem(http, code, verifier, params["redirect_uri"])
    assert response.status_code == 200, response.text
    return response.json()


def test_chosen_claims_in_access_token_id_token_and_userinfo(op):
    with op.client() as http:
        body = code_tokens(op, http, "openid me")
        info = http.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    access = signed_claims(op, body["access_token"], audience=API)
    # The client's audience and claims, the user's claims; no standard claim without profile.
    assert access["aud"] == [API, "https://other.example"]
    assert access["app"] == "web" and access["roles"] == ["admin", "ops"]
    assert access["tenant"] == "acme" and access["settings"] == {"theme": "dark", "beta": True}
    assert "given_name" not in access
    id_claims = signed_claims(op, body["id_token"], audience=PUBLIC)
    assert id_claims["roles"] == ["admin", "ops"] and id_claims["tenant"] == "acme"
    assert "app" not in id_claims and "given_name" not in id_claims
    # /userinfo accepts the token whose aud is the client's own audience.
    assert info.status_code == 200, info.text
    assert info.json() == {
        "sub": "alice",
        "roles": ["admin", "ops"],
        "tenant": "acme",
        "settings": {"theme": "dark", "beta": True},
    }


def test_standard_chosen_claims_follow_their_scope(op):
    with op.client() as http:
        body = code_tokens(op, http, "openid profile")
        info = http.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert signed_claims(op, body["id_token"], audience=PUBLIC)["given_name"] == "Alice"
    assert signed_claims(op, body["access_token"], audience=API)["given_name"] == "Alice"
    assert info.json()["given_name"] == "Alice"


def test_claims_survive_refresh_and_introspection(op):
    with op.client() as http:
        body = code_tokens(op, http, "openid offline_access")
        refreshed = http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                  "client_id": PUBLIC},
        )  # fmt: skip
        assert refreshed.status_code == 200, refreshed.text
        token = refreshed.json()["access_token"]
        info = http.post(
            "/introspect", data={"token": token}, auth=("svc", "svc-secret-0123456789")
        )
    access = signed_claims(op, token, audience=API)
    assert access["roles"] == ["admin", "ops"] and access["app"] == "web"
    assert info.json()["active"] is True, info.text


def test_client_credentials_token_carries_the_clients_claims_and_audience(op):
    with op.client() as http:
        answer = http.post(
            "/token", data={"grant_type": "client_credentials"},
            auth=("svc", "svc-secret-0123456789"),
        )  # fmt: skip
    assert answer.status_code == 200, answer.text
    access = signed_claims(op, answer.json()["access_token"], audience=API)
    assert access["aud"] == API and access["tier"] == "gold" and access["sub"] == "svc"


def test_run_time_claims_replace_the_stores(op):
    op.server.app.state.ctx.claim_overrides["alice"] = {"roles": ["viewer"]}
    with op.client() as http:
        body = code_tokens(op, http, "openid")
    assert signed_claims(op, body["access_token"], audience=API)["roles"] == ["viewer"]
    assert signed_claims(op, body["id_token"], audience=PUBLIC)["tenant"] == "acme"


def test_a_confidential_clients_token_without_an_audience_has_none(op):
    with op.client() as http:
        page = http.get(
            "/authorize",
            params={"response_type": "code", "client_id": CONFIDENTIAL, "redirect_uri": CONF_CB,
                    "scope": "openid"},
        )  # fmt: skip
        code = query(submit_login(http, page, "alice", "secret").headers["location"])["code"]
        body = redeem(
            http, code, None, CONF_CB, client_id="", auth=(CONFIDENTIAL, CONFIDENTIAL_SECRET)
        ).json()
    access = signed_claims(op, body["access_token"])
    assert "aud" not in access and access["roles"] == ["admin", "ops"]


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ('[users.alice.claims]\nsub = "root"\n', "claim 'sub' is set by the provider"),
        ("[users.alice.claims]\nexp = 99\n", "claim 'exp' is set by the provider"),
        ('[clients.x.claims]\nscope = "admin"\n', "claim 'scope' is set by the provider"),
        ("[users.alice.claims]\nwhen = 1979-05-27\n", "is not a JSON value"),
        ('[clients.x]\npublic = true\naudience = ""\n', "'audience' must be a non-empty"),
    ],
)
def test_reserved_or_bad_claims_are_refused_at_load_in_one_line(cli, tmp_path, table, fragment):
    path = tmp_path / "users.toml"
    hashed = hash_password("secret", 4)
    client = "" if "[clients.x]" in table else "[clients.x]\npublic = true\n"
    path.write_text(
        f'[users.alice]\nhashed_password = "{hashed}"\n{client}{table}', encoding="utf-8"
    )
    path.chmod(0o600)
    result = cli("user", "list", "--store", str(path))
    assert_one_line_error(result, 7, fragment)


def test_user_and_client_add_take_claims_and_audience(cli, store_path):
    added = cli(
        "user", "add", "dave", "--password-stdin", "--claim", 'roles=["admin"]',
        "--claim", "tenant=acme", "--claim", "level=3", input="a-good-long-password\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    client = cli(
        "client", "add", "web", "--public", "--redirect-uri", "http://127.0.0.1/cb",
        "--post-logout-redirect-uri", "http://127.0.0.1/bye", "--audience", API,
        "--claim", "app=web",
    )  # fmt: skip
    assert client.exit_code == 0, client.stderr
    data = UserStore(store_path).load()
    assert data.users["dave"].claims == {"roles": ["admin"], "tenant": "acme", "level": 3}
    web = data.clients["web"]
    assert web.audience == API and web.claims == {"app": "web"}
    assert web.post_logout_redirect_uris == ["http://127.0.0.1/bye"]
    refused = cli("user", "add", "eve", "--password-stdin", "--claim", "iss=me", input="x\n")
    assert_one_line_error(refused, 2, "claim 'iss' is set by the provider")


def test_user_set_changes_and_removes_chosen_claims(cli, store_path):
    assert (
        cli("user", "set", "alice", "--claim", 'roles=["admin"]', "--claim", "tier=1").exit_code
        == 0
    )
    assert UserStore(store_path).load().users["alice"].claims == {"roles": ["admin"], "tier": 1}
    result = cli("user", "set", "alice", "--claim", "tier=2", "--remove-claim", "roles",
                 "--remove-claim", "nope")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "had no claim 'nope'" in result.stderr
    assert UserStore(store_path).load().users["alice"].claims == {"tier": 2}
    assert_one_line_error(
        cli("user", "set", "alice", "--claim", "aud=x"), 2, "claim 'aud' is set by the provider"
    )
    assert_one_line_error(
        cli("user", "set", "alice", "--claim", "a=1", "--remove-claim", "a"), 2, "both name 'a'"
    )
