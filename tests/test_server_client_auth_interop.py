"""panva's oauth4webapi authenticates at ``serve`` with each method ``client_auth`` takes.

An implementation nobody here wrote: its client_secret_basic (RFC 6749 2.3.1 form-encoding
of id and secret), client_secret_post and private_key_jwt (its assertion's ``aud`` is the
issuer) at the token, introspection and revocation endpoints found by discovery.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from oauthcli.passwords import hash_password
from oauthcli.store import Client, UserStore
from tests.apps_serve.live import ROUNDS, live_server
from tests.oidc.harness import node_modules

HERE = Path(__file__).resolve().parent
# Characters RFC 6749 2.3.1 makes a client form-encode before Basic: a naive client fails.
SECRET = "s3cret:with%odd&chars+and spaces/0123456789"


@pytest.fixture(scope="module")
def modules() -> Path:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the oauth4webapi tests need Node.js")
    return node_modules("oauth4webapi", "3")


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "private_key_jwt"])
def test_oauth4webapi_authenticates_with_each_method(store_path, modules, method):
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k1"}
    with UserStore(store_path).edit() as data:
        if method == "private_key_jwt":
            data.clients["o4w"] = Client("o4w", scopes=["items"], jwks={"keys": [jwk]})
        else:
            data.clients["o4w"] = Client("o4w", hash_password(SECRET, ROUNDS), ["items"])
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    credential = pem if method == "private_key_jwt" else SECRET
    with live_server(store_path) as server:
        proc = subprocess.run(
            ["node", str(HERE / "apps_serve" / "o4w_client.mjs"), str(modules), server.url,
             "o4w", method, credential],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["token"]["scope"] == "items"
    assert answer["introspection"]["active"] is True
    assert answer["introspection"]["client_id"] == "o4w"
    assert answer["after_revocation"] == {"active": False}
