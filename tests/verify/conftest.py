"""Fixtures of the verifier tests: keys of every algorithm, a signer, a real HTTP client."""

from __future__ import annotations

import jwt
import pytest

from oauthcli.http import make_client
from oauthcli.keys import SUPPORTED_ALGORITHMS, generate, load_pem
from tests.verify.helpers import claims


@pytest.fixture(scope="module")
def private_keys():
    return {alg: load_pem(generate(alg), alg) for alg in SUPPORTED_ALGORITHMS if alg[:2] != "HS"}


@pytest.fixture
def signer(private_keys):
    def sign(kid: str, key_name: str = "ES256", **extra) -> str:
        return jwt.encode(
            claims(**extra), private_keys[key_name], algorithm=key_name, headers={"kid": kid}
        )

    return sign


@pytest.fixture
def http():
    """The client every fetch goes through, as the CLI builds it (oauthcli.http.make_client)."""
    with make_client(5.0) as client:
        yield client
