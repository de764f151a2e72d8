"""Which key ``verify`` uses: one explicit source, else the store's [issuer], else OAUTHCLI_SECRET."""

from __future__ import annotations

import json

import httpx
import jwt
import pytest

from oauthcli.errors import ConfigError, StoreError, UsageError
from oauthcli.keys import generate, write_new_key
from oauthcli.verify.fetch import RemoteJWKS
from oauthcli.verify.keysource import resolve
from oauthcli.verify.verifier import Verifier
from tests._jwks_server import JsonSite
from tests.conftest import TEST_SECRET, write_store
from tests.verify.helpers import VECTORS, claims, clock, public_jwk


def test_one_explicit_source_at_most(tmp_path):
    with pytest.raises(UsageError, match="--secret-file and --key"):
        resolve(secret_file=tmp_path / "s", key_file=tmp_path / "k", store_path=tmp_path / "u")


def test_secret_file_serves_every_hmac_algorithm(tmp_path):
    path = tmp_path / "hs.secret"
    path.write_text(TEST_SECRET + "\n")
    choice = resolve(secret_file=path, store_path=tmp_path / "none.toml")
    (key,) = choice.keys
    assert key.algorithms == ("HS256", "HS384", "HS512")
    assert key.key == TEST_SECRET.encode()  # the trailing newline is not part of the secret
    assert choice.description == str(path)


def test_pem_key_and_jwks_file(tmp_path):
    choice = resolve(key_file=VECTORS / "rsa_public.pem", store_path=tmp_path / "none.toml")
    assert [k.family for k in choice.keys] == ["RSA"]
    jwks = json.loads((VECTORS / "jwks.json").read_text())
    jwks["keys"].append({"kty": "XYZ", "kid": "odd"})
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks))
    choice = resolve(jwks=str(path), store_path=tmp_path / "none.toml")
    assert [k.kid for k in choice.keys] == ["rsa-1", "ec-1"]
    assert len(choice.notes) == 1 and "unsupported key type 'XYZ'" in choice.notes[0]


def test_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        resolve(key_file=tmp_path / "missing.pem", store_path=tmp_path / "none.toml")
    with pytest.raises(ConfigError, match="not found"):
        resolve(jwks=str(tmp_path / "missing.json"), store_path=tmp_path / "none.toml")


def test_urls_are_fetched_through_the_injected_client(tmp_path):
    from oauthcli.keys import load_pem

    private = load_pem(generate("ES256"), "k")
    site = JsonSite({"/keys": {"keys": [public_jwk(private, kid="a")]}})
    seen: list[str] = []
    with (
        site.serve() as url,
        httpx.Client(
            event_hooks={"request": [lambda request: seen.append(str(request.url))]}
        ) as client,
    ):
        site.routes["/.well-known/openid-configuration"] = {
            "issuer": url,
            "jwks_uri": url + "/keys",
        }
        choice = resolve(jwks=url + "/keys", store_path=tmp_path / "u.toml", client=client)
        assert isinstance(choice.keys, RemoteJWKS) and choice.keys.client is client
        choice = resolve(issuer_url=url, store_path=tmp_path / "u.toml", client=client)
        assert choice.issuer == url and choice.description.startswith(url + "/keys (from ")
        token = jwt.encode(claims(iss=url), private, algorithm="ES256", headers={"kid": "a"})
        Verifier(choice.keys, issuer=choice.issuer, now=clock()).verify(token)
    assert seen == [url + "/.well-known/openid-configuration", url + "/keys"]


def test_the_store_hmac_secret_is_found_as_signing_finds_it(tmp_path, monkeypatch):
    store = tmp_path / "users.toml"
    (tmp_path / "hs.secret").write_text(TEST_SECRET)
    write_store(store, issuer={"algorithm": "HS384", "secret_file": "hs.secret", "issuer": "me"})
    choice = resolve(store_path=store)
    (key,) = choice.keys
    assert key.algorithms == ("HS384",) and key.source == str(tmp_path / "hs.secret")
    assert choice.issuer == "me"
    # OAUTHCLI_SECRET wins over secret_file, for issuing and verifying alike
    monkeypatch.setenv("OAUTHCLI_SECRET", "e" * 48)
    (key,) = resolve(store_path=store).keys
    assert key.key == b"e" * 48 and key.source == "OAUTHCLI_SECRET"


def test_the_store_asymmetric_key_gives_its_public_half(tmp_path):
    store = tmp_path / "users.toml"
    write_new_key(tmp_path / "signing.pem", "ES256")
    write_store(store, issuer={"algorithm": "ES256", "key_file": "signing.pem", "audience": "api"})
    choice = resolve(store_path=store)
    (key,) = choice.keys
    assert key.algorithms == ("ES256",) and not hasattr(key.key, "private_bytes")
    assert choice.audience == "api"


def test_a_store_without_key_material_says_what_to_set(tmp_path):
    store = tmp_path / "users.toml"
    write_store(store, issuer={"algorithm": "HS256"})
    with pytest.raises(ConfigError, match="set OAUTHCLI_SECRET or secret_file"):
        resolve(store_path=store)
    write_store(store, issuer={"algorithm": "RS256"})
    with pytest.raises(ConfigError, match="set key_file"):
        resolve(store_path=store)


def test_without_a_store_the_environment_secret_is_used(tmp_path, monkeypatch):
    missing = tmp_path / "none.toml"
    with pytest.raises(ConfigError, match="no key to verify with"):
        resolve(store_path=missing)
    monkeypatch.setenv("OAUTHCLI_SECRET", TEST_SECRET)
    choice = resolve(store_path=missing)
    assert choice.description == "OAUTHCLI_SECRET"
    # a store named explicitly must exist: the environment does not stand in for it
    with pytest.raises(StoreError, match="not found"):
        resolve(store_path=missing, store_explicit=True)


def test_shared_secrets_of_a_jwks_file_are_used_only_when_allowed(tmp_path):
    oct_jwk = {"kty": "oct", "kid": "s", "k": jwt.utils.base64url_encode(b"s" * 64).decode()}
    only = tmp_path / "oct.json"
    only.write_text(json.dumps({"keys": [oct_jwk]}))
    with pytest.raises(ConfigError, match=r"only shared secrets.*--allow-oct"):
        resolve(jwks=str(only), store_path=tmp_path / "none.toml")
    (key,) = resolve(jwks=str(only), store_path=tmp_path / "none.toml", allow_oct=True).keys
    assert key.family == "HMAC" and key.kid == "s"
    mixed = tmp_path / "mixed.json"
    doc = json.loads((VECTORS / "jwks.json").read_text())
    doc["keys"].append(oct_jwk)
    mixed.write_text(json.dumps(doc))
    choice = resolve(jwks=str(mixed), store_path=tmp_path / "none.toml")
    assert [k.kid for k in choice.keys] == ["rsa-1", "ec-1"]
    assert any("shared secret" in n and "--allow-oct" in n for n in choice.notes)
