"""Token exchange (RFC 8693) at ``oauthcli serve``: own tokens, a trusted issuer's, delegation."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest

from oauthcli.keys import generate, jwks_from_files
from oauthcli.passwords import hash_password
from oauthcli.store import Client, UserStore
from tests.apps_serve.live import ROUNDS, live_server, login

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
JWT = "urn:ietf:params:oauth:token-type:jwt"
SECRET = "exchanger-secret-0123456789"
EXCHANGER = ("exchanger", SECRET)
TRUSTED = "https://ci.example"


@pytest.fixture
def ci_key(tmp_path: Path) -> Path:
    key = tmp_path / "ci.pem"
    key.write_bytes(generate("ES256"))
    key.chmod(0o600)
    return key


@pytest.fixture
def server(store_path: Path, ci_key: Path):
    jwks = store_path.parent / "ci.jwks.json"
    jwks.write_text(json.dumps(jwks_from_files([ci_key])))
    store = UserStore(store_path)
    with store.edit() as data:
        data.clients["exchanger"] = Client(
            "exchanger", hash_password(SECRET, ROUNDS), ["me", "items"],
            token_exchange=True, exchange_audiences=["https://api.example"],
        )  # fmt: skip
        data.clients["plain"] = Client("plain", hash_password(SECRET, ROUNDS), ["me"])
        data.other["trusted_issuers"] = {
            "ci": {
                "issuer": TRUSTED,
                "jwks_file": "ci.jwks.json",
                "algorithms": ["ES256"],
                "user_claim": "actor",
            }
        }
    with live_server(store_path) as live:
        yield live


def ci_token(key: Path, server_url: str, **claims) -> str:
    now = int(time.time())
    body = {"iss": TRUSTED, "sub": "repo:octo/app", "actor": "alice", "aud": server_url,
            "iat": now, "exp": now + 300, **claims}  # fmt: skip
    kid = jwks_from_files([key])["keys"][0]["kid"]
    return jwt.encode(body, key.read_bytes(), algorithm="ES256", headers={"kid": kid})


def exchange(server, subject: str, kind: str = ACCESS, auth=EXCHANGER, **extra: str):
    with server.client() as http:
        return http.post(
            "/token",
            data={
                "grant_type": GRANT,
                "subject_token": subject,
                "subject_token_type": kind,
                **extra,
            },
            auth=auth,
        )


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def alice_token(server, scope: str = "me") -> str:
    return login(server, scope=scope).json()["access_token"]


def test_an_own_access_token_is_exchanged_for_the_clients_token(server):
    answer = exchange(server, alice_token(server))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["issued_token_type"] == ACCESS and body["token_type"] == "bearer"
    new = claims(body["access_token"])
    assert new["sub"] == "alice" and new["client_id"] == "exchanger" and new["scope"] == "me"
    with server.client() as http:
        me = http.get("/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == "alice"


def test_discovery_lists_the_grant(server):
    with server.client() as http:
        meta = http.get("/.well-known/openid-configuration").json()
    assert GRANT in meta["grant_types_supported"]


def test_a_client_not_allowed_to_exchange_is_unauthorized(server):
    answer = exchange(server, alice_token(server), auth=("plain", SECRET))
    assert answer.status_code == 400
    assert answer.json()["error"] == "unauthorized_client"


@pytest.mark.parametrize(
    ("subject", "kind", "fragment"),
    [
        ("not-a-token", ACCESS, "not a JWT"),
        (None, "urn:ietf:params:oauth:token-type:saml2", "access_token or jwt"),
    ],
)
def test_bad_subject_tokens_are_invalid_request(server, subject, kind, fragment):
    answer = exchange(server, subject or alice_token(server), kind)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_request"
    assert fragment in answer.json()["error_description"]


def test_a_revoked_subject_token_is_refused(server):
    token = alice_token(server)
    with server.client() as http:
        http.post("/revoke", data={"token": token})
    answer = exchange(server, token)
    assert answer.json()["error"] == "invalid_request"
    assert "revoked" in answer.json()["error_description"]


def test_audience_must_be_listed_for_the_client(server):
    good = exchange(server, alice_token(server), audience="https://api.example")
    assert claims(good.json()["access_token"])["aud"] == "https://api.example"
    bad = exchange(server, alice_token(server), audience="https://elsewhere.example")
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_target"


def test_scope_cannot_widen_the_subjects(server):
    answer = exchange(server, alice_token(server, "me"), scope="me items")
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_scope"


def test_a_trusted_issuers_token_maps_its_claim_to_the_user(server, ci_key):
    answer = exchange(server, ci_token(ci_key, server.url), JWT, scope="me")
    assert answer.status_code == 200, answer.text
    assert claims(answer.json()["access_token"])["sub"] == "alice"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"iss": "https://evil.example"}, "neither this server nor a trusted issuer"),
        ({"aud": "https://another.example"}, "not valid"),
        ({"exp": 1_000_000_000}, "not valid"),
        ({"actor": "nobody"}, "names no active user"),
    ],
)
def test_untrusted_or_invalid_foreign_tokens_are_refused(server, ci_key, change, fragment):
    answer = exchange(server, ci_token(ci_key, server.url, **change), JWT)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_request"
    assert fragment in answer.json()["error_description"]


def test_a_trusted_issuer_signing_with_another_key_is_refused(server, tmp_path):
    other = tmp_path / "other.pem"
    other.write_bytes(generate("ES256"))
    answer = exchange(server, ci_token(other, server.url), JWT)
    assert answer.json()["error"] == "invalid_request"


def test_an_actor_token_makes_a_delegation_with_act(server, ci_key):
    actor = ci_token(ci_key, server.url, actor="johndoe")
    subject_answer = exchange(server, alice_token(server), actor_token=actor, actor_token_type=JWT)
    assert subject_answer.status_code == 200, subject_answer.text
    first = subject_answer.json()["access_token"]
    assert claims(first)["act"] == {"sub": "johndoe"}
    # exchanged again with another actor: the earlier chain nests (RFC 8693 4.1)
    again = exchange(server, first, actor_token=ci_token(ci_key, server.url, actor="alice"),
                     actor_token_type=JWT)  # fmt: skip
    assert claims(again.json()["access_token"])["act"] == {
        "sub": "alice",
        "act": {"sub": "johndoe"},
    }


def test_a_delegated_token_exchanged_without_an_actor_keeps_its_act(server, ci_key):
    """A token that says johndoe acts for alice, exchanged with no actor_token, must still
    say so: dropping ``act`` would turn the delegation into plain alice (RFC 8693 4.1)."""
    actor = ci_token(ci_key, server.url, actor="johndoe")
    delegated = exchange(server, alice_token(server), actor_token=actor, actor_token_type=JWT)
    assert delegated.status_code == 200, delegated.text
    again = exchange(server, delegated.json()["access_token"])
    assert again.status_code == 200, again.text
    assert claims(again.json()["access_token"])["sub"] == "alice"
    assert claims(again.json()["access_token"])["act"] == {"sub": "johndoe"}


def test_actor_token_without_its_type_is_invalid_request(server):
    answer = exchange(server, alice_token(server), actor_token=alice_token(server))
    assert answer.json()["error"] == "invalid_request"
