"""serve checks the tokens it issued through `oauthcli verify`'s checks (one validator): the
401's error_description is the sentence `verify` prints for the same token, and what verify
refuses (an expiry beyond the year 9999, a subject that is not a string) serve refuses too."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from oauthcli.claims import REFRESH_TYP
from oauthcli.client.challenge import parse
from oauthcli.issuer import settings_for_store
from oauthcli.server.bearer import header_safe
from oauthcli.tokens import TokenService
from tests.apps_serve.live import live_server


@pytest.fixture
def server(store_path):
    with live_server(store_path) as live:
        yield live


def _service(store_path, server) -> TokenService:
    settings = settings_for_store(store_path, server.store.load().issuer)
    return TokenService(settings, settings.signing_key())


def _description(server, token: str) -> str:
    with server.client() as http:
        answer = http.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401, answer.text
    assert answer.json() == {"detail": "Could not validate credentials"}  # the tutorial's body
    (challenge,) = parse(answer.headers["www-authenticate"])  # the one RFC 6750 3 parser
    assert challenge.scheme == "Bearer" and challenge.param("error") == "invalid_token"
    return challenge.param("error_description") or ""


def _tampered(token: str) -> str:
    head, body, sig = token.split(".")
    return f"{head}.{body}.{sig[::-1]}"


CASES = {
    "expired": lambda s: s.access_token("alice", ["me"], extra={"exp": int(time.time()) - 600})[0],
    "signature": lambda s: _tampered(s.access_token("alice", ["me"])[0]),
    "exp_beyond_9999": lambda s: s.access_token("alice", ["me"], extra={"exp": 10**12})[0],
    "sub_not_a_string": lambda s: s.access_token("alice", ["me"], extra={"sub": ["alice"]})[0],
    "iat_not_a_number": lambda s: s.access_token("alice", ["me"], extra={"iat": "yesterday"})[0],
}
REASONS = {
    "expired": "expired",
    "signature": "signature",
    "exp_beyond_9999": "claim",
    "sub_not_a_string": "claim",
    "iat_not_a_number": "claim",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_serve_refuses_with_the_sentence_verify_prints(server, store_path, cli, case):
    token = CASES[case](_service(store_path, server))
    verdict = cli("verify", "--json", token)
    said = json.loads(verdict.stdout)
    assert said["valid"] is False and said["error"] == REASONS[case], verdict.stdout
    assert _description(server, token) == header_safe(said["message"])


def test_a_refresh_token_is_not_an_access_token_nor_an_id_token(server, store_path):
    service = _service(store_path, server)
    token, _ = service.access_token("alice", ["me"])
    with server.client() as http:
        assert (
            http.get("/users/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        )
    as_refresh = service._encode({**_claims(token), "fam": "f", "jti": "j"}, REFRESH_TYP)
    assert "is not an access token" in _description(server, as_refresh)
    as_id = service._encode(_claims(token), "JWT")  # an ID token's typ (RFC 9068 4: at+jwt only)
    assert "is not an access token" in _description(server, as_id)


def _claims(token: str) -> dict:
    import jwt

    return jwt.decode(token, options={"verify_signature": False})


def test_introspection_calls_such_a_token_inactive(server, store_path):
    from tests.apps_serve.live import add_client

    add_client(server.store, "rs", "rs-secret", ["me"])
    token = CASES["exp_beyond_9999"](_service(store_path, server))
    with server.client() as http:
        answer = http.post(
            "/introspect", data={"token": token}, auth=httpx.BasicAuth("rs", "rs-secret")
        )
    assert answer.status_code == 200 and answer.json() == {"active": False}
