"""JWK Sets and discovery documents fetched over real HTTP (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import jwt
import pytest

from oauthcli.client.discovery import discover_provider as discover
from oauthcli.errors import RemoteError, TokenError, UsageError
from oauthcli.verify.fetch import RemoteJWKS
from oauthcli.verify.verifier import Verifier
from tests._jwks_server import JsonSite
from tests.verify.helpers import SECRET, claims, clock, hs, public_jwk, reason_of_verifier


def test_remote_jwks_is_fetched_once_and_cached(private_keys, signer, http):
    site = JsonSite({"/jwks.json": {"keys": [public_jwk(private_keys["ES256"], kid="a")]}})
    with site.serve() as url:
        verifier = Verifier(RemoteJWKS(url + "/jwks.json", http), now=clock())
        for _ in range(5):
            assert verifier.verify(signer("a")).payload["sub"] == "alice"
    assert site.requests == ["/jwks.json"]


def test_remote_jwks_refetched_once_on_unknown_kid(private_keys, signer, http):
    site = JsonSite({"/jwks.json": {"keys": [public_jwk(private_keys["ES256"], kid="a")]}})
    with site.serve() as url:
        verifier = Verifier(RemoteJWKS(url + "/jwks.json", http), now=clock())
        verifier.verify(signer("a"))
        # the issuer rotates to key "b"
        site.routes["/jwks.json"] = {
            "keys": [
                public_jwk(private_keys["ES256"], kid="a"),
                public_jwk(private_keys["ES384"], kid="b"),
            ]
        }
        assert verifier.verify(signer("b", "ES384")).algorithm == "ES384"
        assert site.requests == ["/jwks.json"] * 2
        # an unknown kid costs one refetch, and only the first time
        for _ in range(3):
            with pytest.raises(TokenError) as exc:
                verifier.verify(signer("nope"))
            assert exc.value.reason == "key"
        assert site.requests == ["/jwks.json"] * 3


def test_remote_jwks_errors_are_remote_errors(private_keys, http):
    site = JsonSite(
        {
            "/broken.json": b"{not json",
            "/gone.json": (500, {"error": "boom"}),
            "/big.json": {"keys": [], "pad": "x" * 600_000},
            "/moved.json": (302, {}),
        }
    )
    with site.serve() as url:
        for path in ("/broken.json", "/gone.json", "/big.json", "/missing.json"):
            with pytest.raises(RemoteError):
                RemoteJWKS(url + path, http).keys()
        with pytest.raises(RemoteError, match="larger than 512 KiB"):
            RemoteJWKS(url + "/big.json", http).keys()
    with pytest.raises(RemoteError, match="could not connect") as exc:
        RemoteJWKS(url + "/jwks.json", http).keys()  # the server is gone now
    assert exc.value.reason == "connect"


def test_shared_secrets_in_a_fetched_jwks_are_ignored(private_keys, http):
    # a key set at a URL is public: an 'oct' key in it would let anyone forge tokens
    oct_jwk = {"kty": "oct", "kid": "s", "k": jwt.utils.base64url_encode(SECRET).decode()}
    rsa = private_keys["RS256"]
    site = JsonSite(
        {
            "/mixed.json": {"keys": [oct_jwk, public_jwk(rsa, kid="r")]},
            "/oct.json": {"keys": [oct_jwk]},
        }
    )
    forged = hs(claims(), headers={"kid": "s"})
    with site.serve() as url:
        remote = RemoteJWKS(url + "/mixed.json", http)
        verifier = Verifier(remote, now=clock())
        assert reason_of_verifier(verifier, forged) in ("algorithm", "key")
        assert any("shared secret" in note for note in remote.skipped)
        token = jwt.encode(claims(), rsa, algorithm="RS256", headers={"kid": "r"})
        assert verifier.verify(token).algorithm == "RS256"
        with pytest.raises(RemoteError, match="only shared secrets"):
            RemoteJWKS(url + "/oct.json", http).keys()


def test_plain_http_only_to_loopback(http):
    for url in ("http://example.com/jwks.json", "ftp://x/y", "file:///etc/passwd", "jwks.json"):
        with pytest.raises(UsageError):
            RemoteJWKS(url, http)
    RemoteJWKS("http://localhost:1/jwks.json", http)
    RemoteJWKS("http://[::1]:1/jwks.json", http)
    RemoteJWKS("https://example.com/jwks.json", http)


def test_oidc_discovery(private_keys, signer, http):
    site = JsonSite()
    with site.serve() as url:
        site.routes["/.well-known/openid-configuration"] = {
            "issuer": url,
            "jwks_uri": url + "/keys",
        }
        site.routes["/keys"] = {"keys": [public_jwk(private_keys["ES256"], kid="a")]}
        found = discover(url, http)
        assert found.endpoints["jwks"] == url + "/keys" and found.issuer == url
        verifier = Verifier(
            RemoteJWKS(found.endpoints["jwks"], http), issuer=found.issuer, now=clock()
        )
        assert verifier.verify(signer("a", iss=url)).payload["iss"] == url
        with pytest.raises(TokenError) as exc:
            verifier.verify(signer("a", iss=url + ".evil"))
        assert exc.value.reason == "issuer"


def test_rfc8414_fallback_with_path(private_keys, http):
    site = JsonSite()
    with site.serve() as url:
        issuer = url + "/tenant1"
        site.routes["/.well-known/oauth-authorization-server/tenant1"] = {
            "issuer": issuer,
            "jwks_uri": url + "/tenant1/jwks",
        }
        found = discover(issuer, http)
        assert found.endpoints["jwks"] == url + "/tenant1/jwks"
        assert site.requests[:2] == [
            "/tenant1/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server/tenant1",
        ]


def test_discovery_document_must_name_the_same_issuer(http):
    site = JsonSite()
    with site.serve() as url:
        site.routes["/.well-known/openid-configuration"] = {
            "issuer": "https://evil.example",
            "jwks_uri": url + "/keys",
        }
        with pytest.raises(RemoteError, match="names issuer"):
            discover(url, http)
        site.routes["/.well-known/openid-configuration"] = {
            "issuer": url,
            "jwks_uri": "http://evil.example/keys",
        }
        with pytest.raises(RemoteError, match="https"):
            discover(url, http)
        del site.routes["/.well-known/openid-configuration"]
        with pytest.raises(RemoteError, match="no discovery document"):
            discover(url, http)


def test_a_weak_key_of_a_fetched_set_is_reported_once_used(http):
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    site = JsonSite({"/jwks.json": {"keys": [public_jwk(weak, kid="w")]}})
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        token = jwt.encode(claims(), weak, algorithm="RS256", headers={"kid": "w"})
    with site.serve() as url:
        verifier = Verifier(RemoteJWKS(url + "/jwks.json", http), now=clock())
        assert verifier.warnings == [] and verifier.usage_warnings() == []
        for _ in range(3):
            assert any("1024 bits" in w for w in verifier.verify(token).warnings)
        (warning,) = verifier.usage_warnings()
        assert "1024 bits" in warning


@pytest.mark.parametrize(
    "url",
    [
        "https://admin:hunter2pass@idp.example/jwks.json",
        "http://admin:hunter2pass@127.0.0.1:1/jwks.json",
        "https://:hunter2pass@idp.example/",
        "http://admin:hunter2pass@evil.example/jwks.json",
    ],
)
def test_urls_with_credentials_are_refused_without_repeating_them(url, http):
    with pytest.raises(UsageError, match="credentials") as exc:
        RemoteJWKS(url, http)
    assert "hunter2pass" not in str(exc.value) and "admin" not in str(exc.value)
    with pytest.raises(UsageError) as exc:
        discover(url, http)
    assert "hunter2pass" not in str(exc.value)
