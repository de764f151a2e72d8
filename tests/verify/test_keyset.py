"""Keys from secrets, PEM, key objects and JWK Sets: each bound to the algorithms it may check."""

from __future__ import annotations

import json

import jwt
import pytest

from oauthcli.errors import ConfigError
from oauthcli.verify.keyset import key_from_secret, keys_from_jwks
from oauthcli.verify.verifier import Verifier
from tests.verify.helpers import SECRET, VECTORS, claims, clock, public_jwk, public_pem


def test_short_secrets_verify_with_a_warning():
    short = b"hunter2"
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        token = jwt.encode(claims(), short, algorithm="HS256")
    verifier = Verifier([key_from_secret(short)], now=clock())
    assert verifier.verify(token).payload["sub"] == "alice"
    assert any("7 bytes" in w for w in verifier.warnings)
    assert "hunter2" not in " ".join(verifier.warnings)
    assert Verifier([key_from_secret(SECRET)]).warnings == []


@pytest.mark.parametrize("material", ["pem", "jwk_json"])
def test_asymmetric_key_material_refused_as_a_secret(private_keys, material):
    data = (
        public_pem(private_keys["RS256"])
        if material == "pem"
        else json.dumps(public_jwk(private_keys["RS256"])).encode()
    )
    with pytest.raises(ConfigError):
        key_from_secret(data)


def test_jwks_documents():
    doc = json.loads((VECTORS / "jwks.json").read_text())
    keys, skipped = keys_from_jwks(doc, "jwks.json")
    assert [k.kid for k in keys] == ["rsa-1", "ec-1"] and skipped == []
    doc["keys"].append({"kty": "RSA", "use": "enc", "n": "x", "e": "AQAB", "kid": "enc"})
    doc["keys"].append({"kty": "XYZ", "kid": "odd"})
    keys, skipped = keys_from_jwks(doc, "jwks.json")
    assert len(keys) == 2 and len(skipped) == 2
    with pytest.raises(ConfigError):
        keys_from_jwks({"keys": []}, "empty")
    with pytest.raises(ConfigError):
        keys_from_jwks([1, 2], "list")
    assert len(keys_from_jwks(doc["keys"][0], "single")[0]) == 1
