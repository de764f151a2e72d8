"""private_key_jwt (RFC 7523) at ``serve``: assertions signed with PyJWT, keys from ``cryptography``.

The client's public keys are a JWK Set in its ``[clients.ID]`` table (``jwks``); the one
client authentication (``client_auth``) verifies the assertion at every endpoint.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import tomli_w
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from oauthcli.errors import StoreError
from oauthcli.server import LoginThrottle
from oauthcli.store import Client, UserStore
from tests.apps_serve.browser import Clock
from tests.apps_serve.live import live_server

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT = "jwt-bot"


def _jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk["kid"] = "k1"
    return jwk


@pytest.fixture
def signer() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def server(store_path: Path, signer):
    with UserStore(store_path).edit() as data:
        data.clients[CLIENT] = Client(CLIENT, scopes=["items"], jwks={"keys": [_jwk(signer)]})
    throttle = LoginThrottle(max_failures=3, lockout=60, clock=Clock())
    with live_server(store_path, throttle=throttle) as live:
        yield live


def assertion(key: Any, aud: str, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": CLIENT, "sub": CLIENT, "aud": aud, "jti": str(uuid.uuid4()),
              "iat": now, "exp": now + 60, **overrides}  # fmt: skip
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": "k1"})


def token(http: httpx.Client, signed: str, **extra: str) -> httpx.Response:
    form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed, **extra}  # fmt: skip
    return http.post("/token", data=form)


def test_discovery_offers_private_key_jwt(server):
    with server.client() as http:
        meta = http.get("/.well-known/openid-configuration").json()
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    assert "ES256" in meta["token_endpoint_auth_signing_alg_values_supported"]
    assert "HS256" not in meta["token_endpoint_auth_signing_alg_values_supported"]


def test_an_assertion_for_the_issuer_or_the_token_endpoint_authenticates(server, signer):
    with server.client() as http:
        issuer = http.get("/.well-known/openid-configuration").json()["issuer"]
        for aud in (issuer, server.url + "/token"):
            answer = token(http, assertion(signer, aud))
            assert answer.status_code == 200, answer.text
            claims = jwt.decode(answer.json()["access_token"], options={"verify_signature": False})
            assert claims["sub"] == claims["client_id"] == CLIENT
        # The same client at introspection and revocation (RFC 7523 2.2 at any endpoint).
        access = token(http, assertion(signer, issuer)).json()["access_token"]
        form = {"token": access, "client_assertion_type": ASSERTION_TYPE}
        seen = http.post(
            "/introspect", data={**form, "client_assertion": assertion(signer, issuer)}
        )
        assert seen.json()["active"] is True and seen.json()["client_id"] == CLIENT
        gone = http.post("/revoke", data={**form, "client_assertion": assertion(signer, issuer)})
        assert gone.status_code == 200
        again = http.post(
            "/introspect", data={**form, "client_assertion": assertion(signer, issuer)}
        )
        assert again.json() == {"active": False}


@pytest.mark.parametrize(
    "change",
    [
        {"aud": "https://elsewhere.example/token"},
        {"exp": int(time.time()) - 10},
        {"iss": "someone-else"},
        {"sub": "someone-else"},
    ],
)
def test_assertions_for_elsewhere_or_expired_or_of_another_client_are_refused(
    server, signer, change
):
    with server.client() as http:
        change = dict(change)
        aud = change.pop("aud", server.url + "/token")
        refused = token(http, assertion(signer, aud, **change))
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


def test_an_assertion_is_used_once(server, signer):
    with server.client() as http:
        signed = assertion(signer, server.url + "/token")
        assert token(http, signed).status_code == 200
        replay = token(http, signed)
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"


def test_another_key_is_refused_and_counts_against_the_client(server, signer):
    other = ec.generate_private_key(ec.SECP256R1())
    with server.client() as http:
        for _ in range(3):
            forged = token(http, assertion(other, server.url + "/token"))
            assert forged.status_code == 401 and forged.json()["error"] == "invalid_client"
        locked = token(http, assertion(signer, server.url + "/token"))
    assert locked.status_code == 429 and locked.json()["error"] == "invalid_client"
    assert int(locked.headers["retry-after"]) >= 1


def test_an_hmac_assertion_is_refused(server):
    """The store holds only public keys: an HS256 assertion has nothing to verify with."""
    with server.client() as http:
        signed = jwt.encode(
            {"iss": CLIENT, "sub": CLIENT, "aud": server.url + "/token", "jti": "x",
             "exp": int(time.time()) + 60},
            "a-shared-secret-of-at-least-32-bytes!!", algorithm="HS256",
        )  # fmt: skip
        assert token(http, signed).status_code == 401


def test_the_store_takes_public_keys_only(store_path, signer):
    store = UserStore(store_path)
    private = ECAlgorithm.to_jwk(signer, as_dict=True)
    for table, fragment in (
        ({"jwks": {"keys": [private]}}, "private key"),
        ({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, "shared secret"),
        ({"jwks": {"keys": [_jwk(signer)]}, "hashed_secret": "x"}, "exactly one"),
    ):
        text = store_path.read_text()
        extra = tomli_w.dumps({"clients": {"bad": table}})
        store_path.write_text(text + "\n" + extra)
        with pytest.raises(StoreError, match=fragment):
            store.load()
        store_path.write_text(text)
