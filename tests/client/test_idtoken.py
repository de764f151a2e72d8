"""ID token checks (OIDC Core 3.1.3.7) on real tokens from oidc-provider, and a substituted
ID token in a real login refused before anything is returned to cache."""

from __future__ import annotations

import base64
import hashlib
import json
import threading

import httpx
import jwt
import pytest

from oauthcli.client import oidc_login as login
from oauthcli.client.idtoken import verify_id_token
from oauthcli.errors import TokenError
from oauthcli.http import make_client
from tests.oidc.browser import drive


def browser_login(provider, http: httpx.Client, **options):
    """A real browser login through the core, the stand-in driven in-process."""

    def opener(url: str) -> bool:
        from urllib.parse import parse_qs, urlsplit

        redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]

        def person() -> None:
            with httpx.Client(trust_env=False, timeout=20) as browser:
                drive(browser, url, stop_at=redirect)

        threading.Thread(target=person, daemon=True).start()
        return True

    request = login.ProviderLogin(
        issuer=provider.issuer, grant="authorization-code", client_id="public", **options
    )
    return login.login(http, request, login.Interaction(notify=lambda m: None, opener=opener))


@pytest.fixture(scope="module")
def real_login(oidc_provider):
    with make_client(10) as http:
        entry = browser_login(oidc_provider, http, timeout=60)
    claims = jwt.decode(entry.id_token, options={"verify_signature": False})
    return entry, claims


def check(provider, token: str, **overrides):
    options = {
        "issuer": provider.issuer,
        "client_id": "public",
        "jwks_uri": f"{provider.issuer}/jwks",
        "nonce": None,
        "access_token": None,
    }
    options.update(overrides)
    with make_client(10) as http:
        return verify_id_token(token, http_client=http, **options)


def test_a_genuine_id_token_passes_every_check(oidc_provider, real_login):
    entry, claims = real_login
    verified = check(
        oidc_provider, entry.id_token, nonce=claims["nonce"], access_token=entry.access_token
    )
    assert verified["sub"] == "alice"


def test_a_wrong_nonce_is_refused(oidc_provider, real_login):
    entry, _ = real_login
    with pytest.raises(TokenError, match="nonce") as caught:
        check(oidc_provider, entry.id_token, nonce="the-nonce-this-login-sent")
    assert caught.value.reason == "nonce"


def test_another_clients_id_token_is_refused(oidc_provider, real_login):
    entry, _ = real_login
    with pytest.raises(TokenError, match="audience") as caught:
        check(oidc_provider, entry.id_token, client_id="confidential")
    assert caught.value.reason == "audience"


def test_a_tampered_id_token_fails_the_signature(oidc_provider, real_login):
    entry, claims = real_login
    header, _payload, signature = entry.id_token.split(".")
    forged = dict(claims, sub="mallory")
    payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenError, match="signature") as caught:
        check(oidc_provider, f"{header}.{payload}.{signature}")
    assert caught.value.reason == "signature"


def test_another_issuers_id_token_is_refused(oidc_provider, real_login):
    entry, _ = real_login
    with pytest.raises(TokenError, match="issuer"):
        check(oidc_provider, entry.id_token, issuer="http://127.0.0.1:1")


def test_a_replayed_id_token_in_a_login_is_refused_and_nothing_is_returned(
    oidc_provider, real_login
):
    """The provider cannot be made to send an old ID token: a proxy transport swaps it in."""
    old_entry, _ = real_login
    upstream = httpx.Client(trust_env=False, timeout=10)

    def proxy(request: httpx.Request) -> httpx.Response:
        answer = upstream.send(
            httpx.Request(
                request.method, request.url, headers=request.headers, content=request.read()
            )
        )
        body = answer.content
        if request.url.path == "/token" and answer.status_code == 200:
            data = json.loads(body)
            data["id_token"] = old_entry.id_token  # replayed from another login
            body = json.dumps(data).encode()
        headers = {"content-type": answer.headers.get("content-type", "application/json")}
        return httpx.Response(answer.status_code, headers=headers, content=body)

    with (
        httpx.Client(transport=httpx.MockTransport(proxy)) as http,
        upstream,
        pytest.raises(TokenError, match="nonce"),
    ):
        browser_login(oidc_provider, http, timeout=60)


@pytest.fixture
def local_op():
    """Tokens the real provider never sends: signed here, its JWKS served by a mock transport."""
    import time

    from cryptography.hazmat.primitives.asymmetric import ec

    from oauthcli.keys import public_jwk

    key = ec.generate_private_key(ec.SECP256R1())
    jwk = public_jwk(key, "ES256")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"keys": [jwk]}))
    now = int(time.time())
    base = {"iss": "https://op.example", "sub": "alice", "aud": "cli", "iat": now, "exp": now + 60}

    def token(**claims) -> str:
        return jwt.encode({**base, **claims}, key, "ES256", headers={"kid": jwk["kid"]})

    http = httpx.Client(transport=transport)

    def verify(tok: str, **options):
        return verify_id_token(
            tok,
            issuer="https://op.example",
            client_id="cli",
            jwks_uri="https://op.example/jwks",
            http_client=http,
            **{"nonce": None, **options},
        )

    yield token, verify
    http.close()


def test_several_audiences_need_azp_to_be_the_client(local_op):
    token, verify = local_op
    assert verify(token(aud=["cli", "api"], azp="cli"))["sub"] == "alice"
    with pytest.raises(TokenError, match="azp"):
        verify(token(aud=["cli", "api"]))
    with pytest.raises(TokenError, match="azp"):
        verify(token(aud=["cli", "api"], azp="api"))


def test_at_hash_binds_the_id_token_to_its_access_token(local_op):
    token, verify = local_op
    # OIDC Core 3.1.3.6, by hand: ES256 -> SHA-256, its left 128 bits, base64url.
    left_half = hashlib.sha256(b"the-access-token").digest()[:16]
    good = token(at_hash=base64.urlsafe_b64encode(left_half).decode().rstrip("="))
    assert verify(good, access_token="the-access-token")["sub"] == "alice"
    with pytest.raises(TokenError, match="at_hash"):
        verify(good, access_token="another-access-token")


def test_an_id_token_without_iat_or_a_missing_nonce_is_refused(local_op):
    token, verify = local_op
    with pytest.raises(TokenError, match="iat"):
        verify(token(iat=None))
    with pytest.raises(TokenError, match="nonce"):
        verify(token(), nonce="sent")


def test_at_hash_of_an_ed448_id_token_is_shake256():
    """OIDC Core 3.1.3.6 (errata 2): EdDSA on Ed448 hashes with SHAKE256 (114 bytes)."""
    import time

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed448

    key = ed448.Ed448PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    jwk = {"kty": "OKP", "crv": "Ed448", "x": x, "kid": "ed448", "alg": "EdDSA"}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"keys": [jwk]}))
    left_half = hashlib.shake_256(b"the-access-token").digest(114)[:57]
    now = int(time.time())
    claims = {"iss": "https://op.example", "sub": "alice", "aud": "cli", "iat": now}
    claims |= {"exp": now + 60, "at_hash": base64.urlsafe_b64encode(left_half).decode().rstrip("=")}
    token = jwt.encode(claims, key, "EdDSA", headers={"kid": "ed448"})
    with httpx.Client(transport=transport) as http:
        options = {"issuer": "https://op.example", "client_id": "cli", "nonce": None}
        options |= {"jwks_uri": "https://op.example/jwks", "http_client": http}
        verified = verify_id_token(token, access_token="the-access-token", **options)
        assert verified["sub"] == "alice"
        with pytest.raises(TokenError, match="at_hash"):
            verify_id_token(token, access_token="another-access-token", **options)
