"""DPoP at ``serve`` (RFC 9449), over a real uvicorn on 127.0.0.1: bound tokens from every
grant, proofs checked at /users/me and /userinfo, nonces, replay across instances, and
the clients or servers that require it."""

from __future__ import annotations

from pathlib import Path

import httpx
import jwt
import pytest

from oauthcli.dpop import ALGORITHMS, ProofKey
from oauthcli.server.provider_settings import ProviderSettings
from oauthcli.store import Client
from tests.apps_serve.browser import PUBLIC, log_in_for_code, provider_server
from tests.apps_serve.live import ROUNDS, add_client, live_server
from tests.conftest import TEST_SECRET


def _claims(token: str) -> dict:
    return jwt.decode(token, TEST_SECRET, algorithms=["HS256"], options={"verify_aud": False})


def _password(server, key: ProofKey | None, scope: str = "me", **headers: str):
    extra = {"DPoP": key.proof("POST", server.url + "/token")} if key else {}
    with server.client() as http:
        return http.post(
            "/token",
            data={"grant_type": "password", "username": "alice", "password": "secret",
                  "scope": scope},
            headers={**extra, **headers},
        )  # fmt: skip


def _me(server, token: str, proof: str | None, scheme: str = "DPoP", path: str = "/users/me"):
    headers = {"Authorization": f"{scheme} {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    with server.client() as http:
        return http.get(path, headers=headers)


@pytest.fixture
def server(store_path: Path):
    with live_server(store_path) as live:
        yield live


def test_a_proof_at_the_token_endpoint_binds_the_token_and_users_me_checks_it(server):
    key = ProofKey.generate()
    answer = _password(server, key)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "DPoP"
    token = body["access_token"]
    assert _claims(token)["cnf"] == {"jkt": key.jkt}
    me_url = server.url + "/users/me"

    ok = _me(server, token, key.proof("GET", me_url, access_token=token))
    assert ok.status_code == 200 and ok.json()["username"] == "alice"

    # RFC 9449 7.2: a bound token sent as Bearer is refused, with the DPoP challenge.
    as_bearer = _me(server, token, None, scheme="Bearer")
    assert as_bearer.status_code == 401
    challenge = as_bearer.headers["www-authenticate"]
    assert challenge.startswith("DPoP ") and 'error="invalid_token"' in challenge
    assert f'algs="{" ".join(ALGORITHMS)}"' in challenge
    # Without its proof, with a replayed proof, a proof for another URL, another key's proof.
    assert _me(server, token, None).status_code == 401
    replayed = key.proof("GET", me_url, access_token=token)
    assert _me(server, token, replayed).status_code == 200
    again = _me(server, token, replayed)
    assert again.status_code == 401
    assert 'error="invalid_dpop_proof"' in again.headers["www-authenticate"]
    other_url = _me(server, token, key.proof("GET", server.url + "/userinfo", access_token=token))
    assert 'error="invalid_dpop_proof"' in other_url.headers["www-authenticate"]
    thief = ProofKey.generate()
    stolen = _me(server, token, thief.proof("GET", me_url, access_token=token))
    assert stolen.status_code == 401
    assert 'error="invalid_dpop_proof"' in stolen.headers["www-authenticate"]
    # A proof made for another token (ath).
    assert _me(server, token, key.proof("GET", me_url, access_token="x" + token)).status_code == 401


def test_without_a_proof_tokens_stay_bearer_tokens(server):
    body = _password(server, None).json()
    assert body["token_type"] == "bearer" and "cnf" not in _claims(body["access_token"])
    assert _me(server, body["access_token"], None, scheme="Bearer").status_code == 200
    # The DPoP scheme with an unbound token is refused (it is not DPoP-bound).
    key = ProofKey.generate()
    proof = key.proof("GET", server.url + "/users/me", access_token=body["access_token"])
    assert _me(server, body["access_token"], proof).status_code == 401


def test_a_public_clients_refresh_token_is_bound_to_its_key(server):
    key = ProofKey.generate()
    body = _password(server, key, scope="me").json()
    refresh = body["refresh_token"]
    assert _claims(refresh)["cnf"] == {"jkt": key.jkt}  # RFC 9449 5

    def redeem(proof_key: ProofKey | None):
        headers = {"DPoP": proof_key.proof("POST", server.url + "/token")} if proof_key else {}
        with server.client() as http:
            return http.post(
                "/token", data={"grant_type": "refresh_token", "refresh_token": refresh},
                headers=headers,
            )  # fmt: skip

    for refused in (redeem(None), redeem(ProofKey.generate())):
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    # The refused attempts did not use it up: its own key redeems it, and the binding stays.
    renewed = redeem(key)
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["token_type"] == "DPoP"
    assert _claims(renewed.json()["access_token"])["cnf"] == {"jkt": key.jkt}
    assert _claims(renewed.json()["refresh_token"])["cnf"] == {"jkt": key.jkt}


def test_a_client_that_requires_dpop_and_introspection_shows_cnf(server):
    add_client(server.store, "svc", "svc-secret-1234567890", ["items"])
    with server.store.edit() as data:
        data.clients["svc"].require_dpop = True
    form = {"grant_type": "client_credentials", "scope": "items"}
    with server.client() as http:
        refused = http.post("/token", data=form, auth=("svc", "svc-secret-1234567890"))
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_dpop_proof"
        key = ProofKey.generate()
        proof = key.proof("POST", server.url + "/token")
        answer = http.post("/token", data=form, auth=("svc", "svc-secret-1234567890"),
                           headers={"DPoP": proof})  # fmt: skip
        assert answer.status_code == 200 and answer.json()["token_type"] == "DPoP"
        token = answer.json()["access_token"]
        seen = http.post("/introspect", data={"token": token},
                         auth=("svc", "svc-secret-1234567890")).json()  # fmt: skip
        assert seen["active"] and seen["cnf"] == {"jkt": key.jkt}
        # The same proof again: a replay.
        replay = http.post("/token", data=form, auth=("svc", "svc-secret-1234567890"),
                           headers={"DPoP": proof})  # fmt: skip
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_dpop_proof"
        assert "replayed" in replay.json()["error_description"]
    assert "require_dpop = true" in server.store.path.read_text()
    assert Client("x", "h", require_dpop=True).to_toml()["require_dpop"] is True
    assert ROUNDS


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_nonces_are_asked_for_rotated_and_answered_with_the_header(store_path: Path):
    clock = Clock()
    provider = ProviderSettings(dpop_nonce=True, clock=clock)
    with live_server(store_path, provider=provider) as server:
        key = ProofKey.generate()
        token_url = server.url + "/token"
        form = {"grant_type": "password", "username": "alice", "password": "secret"}
        with server.client() as http:
            first = http.post("/token", data=form,
                              headers={"DPoP": key.proof("POST", token_url, now=clock.now)})  # fmt: skip
            assert first.status_code == 400 and first.json()["error"] == "use_dpop_nonce"
            nonce = first.headers["DPoP-Nonce"]
            proof = key.proof("POST", token_url, nonce=nonce, now=clock.now)
            answer = http.post("/token", data=form, headers={"DPoP": proof})
            assert answer.status_code == 200, answer.text
            token = answer.json()["access_token"]
            me = server.url + "/users/me"
            # The resource asks for the nonce too (RFC 9449 9): 401 use_dpop_nonce + header.
            no_nonce = _me(server, token, key.proof("GET", me, access_token=token, now=clock.now))
            assert no_nonce.status_code == 401
            assert 'error="use_dpop_nonce"' in no_nonce.headers["www-authenticate"]
            assert no_nonce.headers["DPoP-Nonce"] == nonce
            with_nonce = key.proof("GET", me, access_token=token, nonce=nonce, now=clock.now)
            assert _me(server, token, with_nonce).status_code == 200
            # Two periods later the nonce has rotated out.
            clock.now += 2 * provider.dpop_nonce_period
            stale = key.proof("GET", me, access_token=token, nonce=nonce, now=clock.now)
            refused = _me(server, token, stale)
            assert 'error="use_dpop_nonce"' in refused.headers["www-authenticate"]
            assert refused.headers["DPoP-Nonce"] != nonce


def test_a_proof_is_used_once_across_two_instances_sharing_the_state(store_path: Path):
    with UserStoreEdit(store_path) as issuer:
        issuer["issuer"] = "https://issuer.example"
    with live_server(store_path) as one, live_server(store_path) as other:
        key = ProofKey.generate()
        # Both publish https://issuer.example/token: a proof for it is good at either, once.
        proof = key.proof("POST", "https://issuer.example/token")
        form = {"grant_type": "password", "username": "alice", "password": "secret"}
        with one.client() as http:
            assert http.post("/token", data=form, headers={"DPoP": proof}).status_code == 200
        with other.client() as http:
            replay = http.post("/token", data=form, headers={"DPoP": proof})
        assert replay.status_code == 400 and "replayed" in replay.json()["error_description"]


class UserStoreEdit:
    """Edit the store's ``[issuer]`` table."""

    def __init__(self, path: Path) -> None:
        from oauthcli.store import UserStore

        self.store = UserStore(path)

    def __enter__(self) -> dict:
        self._edit = self.store.edit()
        data = self._edit.__enter__()
        return data.other.setdefault("issuer", {})

    def __exit__(self, *exc: object) -> None:
        self._edit.__exit__(*exc)


def test_serve_can_require_dpop_and_discovery_lists_the_algorithms(store_path: Path):
    with live_server(store_path, provider=ProviderSettings(require_dpop=True)) as server:
        refused = _password(server, None)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_dpop_proof"
        assert _password(server, ProofKey.generate()).status_code == 200
        with server.client() as http:
            document = http.get("/.well-known/openid-configuration").json()
        assert document["dpop_signing_alg_values_supported"] == list(ALGORITHMS)


def test_the_code_flow_binds_and_userinfo_checks_the_proof_and_the_binding(store_path: Path):
    with provider_server(store_path) as op, op.client() as http:
        code, verifier, params = log_in_for_code(http, scope="openid profile offline_access")
        key = ProofKey.generate()
        proof = key.proof("POST", op.url + "/token", now=op.clock())
        answer = http.post(
            "/token",
            data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                  "redirect_uri": params["redirect_uri"], "client_id": PUBLIC},
            headers={"DPoP": proof},
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["token_type"] == "DPoP"
        token = body["access_token"]
        # A public client's refresh token is bound too (RFC 9449 5).
        refresh_claims = jwt.decode(body["refresh_token"], options={"verify_signature": False})
        assert refresh_claims["cnf"] == {"jkt": key.jkt}

        def userinfo(scheme: str, proof: str | None) -> httpx.Response:
            headers = {"Authorization": f"{scheme} {token}"}
            if proof is not None:
                headers["DPoP"] = proof
            return http.get("/userinfo", headers=headers)

        url = op.url + "/userinfo"
        ok = userinfo("DPoP", key.proof("GET", url, access_token=token, now=op.clock()))
        assert ok.status_code == 200 and ok.json()["sub"] == "alice"
        as_bearer = userinfo("Bearer", None)
        assert as_bearer.status_code == 401
        assert as_bearer.headers["www-authenticate"].startswith("DPoP ")
        assert as_bearer.json()["error"] == "invalid_token"
        other = key.proof("GET", op.url + "/users/me", access_token=token, now=op.clock())
        wrong_url = userinfo("DPoP", other)
        assert wrong_url.status_code == 401 and wrong_url.json()["error"] == "invalid_dpop_proof"


def test_a_code_asked_with_dpop_jkt_is_redeemed_only_with_that_keys_proof(store_path: Path):
    key, other = ProofKey.generate(), ProofKey.generate()
    with provider_server(store_path) as op, op.client() as http:

        def redeem(proof_key: ProofKey | None) -> httpx.Response:
            code, verifier, params = log_in_for_code(http, scope="me", dpop_jkt=key.jkt)
            headers = {}
            if proof_key is not None:
                headers["DPoP"] = proof_key.proof("POST", op.url + "/token", now=op.clock())
            return http.post(
                "/token",
                data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                      "redirect_uri": params["redirect_uri"], "client_id": PUBLIC},
                headers=headers,
            )  # fmt: skip

        for refused in (redeem(None), redeem(other)):
            assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
            assert "dpop_jkt" in refused.json()["error_description"]
        assert redeem(key).json()["token_type"] == "DPoP"
        bad = http.get("/authorize", params={"client_id": PUBLIC, "response_type": "code",
                                             "redirect_uri": "http://127.0.0.1:5/callback",
                                             "code_challenge": "x" * 43,
                                             "code_challenge_method": "S256",
                                             "dpop_jkt": "short"})  # fmt: skip
        assert bad.status_code in (302, 303) and "dpop_jkt" in bad.headers["location"]
