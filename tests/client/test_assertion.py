"""private-key-jwt (RFC 7523 2.2): the assertion's claims, and its kid as `keys jwks` publishes it."""

from __future__ import annotations

import json

import jwt
import pytest

from oauthcli.client.assertion import ASSERTION_TYPE, ClientAuthentication, load_client_key
from oauthcli.errors import ConfigError, UsageError
from oauthcli.keys import generate


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "client.pem"
    path.write_bytes(generate("ES256"))
    path.chmod(0o600)
    return path


def test_assertion_claims_and_kid(cli, key_file):
    published = json.loads(cli("keys", "jwks", str(key_file)).stdout)["keys"][0]
    auth = ClientAuthentication(
        "my-client", "private-key-jwt", key=load_client_key(key_file)
    ).for_provider("https://op.example", "https://op.example/token")
    form: dict = {}
    headers: dict = {}
    masked = auth.apply(form, headers, "https://op.example/token")
    assert "Authorization" not in headers
    assert form["client_id"] == "my-client" and form["client_assertion_type"] == ASSERTION_TYPE
    assertion = form["client_assertion"]
    assert masked == (assertion,)
    header = jwt.get_unverified_header(assertion)
    assert header["kid"] == published["kid"] and header["alg"] == "ES256"
    claims = jwt.decode(
        assertion,
        jwt.PyJWK(published).key,
        algorithms=["ES256"],
        # the issuer, not the token endpoint (draft-ietf-oauth-rfc7523bis)
        audience="https://op.example",
    )
    assert claims["aud"] == "https://op.example"
    assert claims["iss"] == claims["sub"] == "my-client"
    assert 0 < claims["exp"] - claims["iat"] <= 60
    second: dict = {}
    auth.apply(second, {}, "https://op.example/token")
    assert (
        jwt.decode(second["client_assertion"], options={"verify_signature": False})["jti"]
        != claims["jti"]
    )


def test_basic_post_and_none():
    form: dict = {}
    headers: dict = {}
    ClientAuthentication("c", "basic", "s e/c").apply(form, headers, "u")
    assert form == {} and headers["Authorization"] == "Basic YzpzK2UlMkZj"
    form = {}
    ClientAuthentication("c", "post", "sec").apply(form, {}, "u")
    assert form == {"client_id": "c", "client_secret": "sec"}
    form = {}
    ClientAuthentication("c", "none").apply(form, {}, "u")
    assert form == {"client_id": "c"}


def test_private_key_jwt_needs_a_private_key(tmp_path, cli, key_file):
    with pytest.raises(UsageError, match="--client-key"):
        ClientAuthentication("c", "private-key-jwt")
    public = tmp_path / "public.pem"
    from cryptography.hazmat.primitives import serialization

    from oauthcli.keys import load_pem

    key = load_pem(key_file.read_bytes(), "k")
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    with pytest.raises(ConfigError, match="not a PEM private key"):
        load_client_key(public)


def test_an_assertion_goes_only_to_the_providers_own_origins(key_file):
    auth = ClientAuthentication("c", "private-key-jwt", key=load_client_key(key_file)).for_provider(
        "https://op.example/tenant", "https://token.op.example/token"
    )
    for url in ("https://op.example/revoke", "https://token.op.example/introspect"):
        form: dict = {}
        auth.apply(form, {}, url)
        claims = jwt.decode(form["client_assertion"], options={"verify_signature": False})
        assert claims["aud"] == "https://op.example/tenant"
    for url in (
        "https://other.example/revoke",
        "http://op.example/revoke",
        "https://op.example:8443/x",
    ):
        form = {}
        with pytest.raises(UsageError, match="refusing to send a client assertion") as exc:
            auth.apply(form, {}, url)
        assert exc.value.reason == "destination" and "client_assertion" not in form
    with pytest.raises(UsageError, match="issuer"):
        ClientAuthentication("c", "private-key-jwt", key=load_client_key(key_file)).apply(
            {}, {}, "https://op.example/token"
        )
