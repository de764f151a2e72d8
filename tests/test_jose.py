"""oauthcli.jose against the specifications' own examples and hand-computed values."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthcli.jose import (
    b64url_decode,
    b64url_encode,
    basic_authorization,
    is_s256_challenge,
    parse_basic_authorization,
    s256_challenge,
    s256_matches,
    token_hash,
)

# RFC 7636 Appendix B.
RFC7636_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC7636_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_s256_is_rfc_7636_appendix_b():
    assert s256_challenge(RFC7636_VERIFIER) == RFC7636_CHALLENGE
    assert is_s256_challenge(RFC7636_CHALLENGE)
    assert s256_matches(RFC7636_VERIFIER, RFC7636_CHALLENGE)


def test_a_verifier_outside_rfc_7636_syntax_never_matches():
    short = "a" * 42  # 4.1: at least 43 characters
    assert not s256_matches(short, s256_challenge(short))
    spaced = "a" * 42 + " "  # not an unreserved character
    assert not s256_matches(spaced, s256_challenge(spaced))
    assert not s256_matches(RFC7636_VERIFIER[:-1] + "l", RFC7636_CHALLENGE)
    assert not is_s256_challenge(RFC7636_CHALLENGE + "A")
    assert not is_s256_challenge(RFC7636_CHALLENGE[:-1] + "=")


def test_c_hash_and_at_hash_are_the_published_examples():
    # OpenID Connect Core 1.0 Appendix A.4 (code id_token, RS256).
    code = "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk"
    assert token_hash(code, "RS256") == "LDktKdoQak3Pk0cnXxCltA"
    # panva's oidc-token-hash README (the at_hash helper of oidc-provider and openid-client).
    access_token = (
        "YmJiZTAwYmYtMzgyOC00NzhkLTkyOTItNjJjNDM3MGYzOWIy9sFhvH8K_x8UIHj1osisS57f5DduL"
        "-ar_qw5jl3lthwpMjm283aVMQXDmoqqqydDSqJfbhptzw8rUVwkuQbolw"
    )
    assert token_hash(access_token, "RS256") == "x7vk7f6BvQj0jQHYFIk4ag"


# OIDC Core 3.1.3.6: the hash of the alg; for EdDSA the curve's (Ed25519: SHA-512, Ed448:
# SHAKE256 with 114 bytes). Written out here rather than derived from the code under test.
HASHES = {
    "HS256": ("sha256", 32), "RS256": ("sha256", 32), "PS256": ("sha256", 32),
    "ES256": ("sha256", 32), "ES256K": ("sha256", 32),
    "HS384": ("sha384", 48), "RS384": ("sha384", 48), "PS384": ("sha384", 48),
    "ES384": ("sha384", 48),
    "HS512": ("sha512", 64), "RS512": ("sha512", 64), "PS512": ("sha512", 64),
    "ES512": ("sha512", 64), "EdDSA": ("sha512", 64), "Ed25519": ("sha512", 64),
}  # fmt: skip


@pytest.mark.parametrize("alg", sorted(HASHES))
def test_the_hash_is_the_one_of_the_alg(alg):
    name, size = HASHES[alg]
    digest = hashlib.new(name, b"an-access-token").digest()
    assert len(digest) == size
    expected = base64.urlsafe_b64encode(digest[: size // 2]).decode().rstrip("=")
    assert token_hash("an-access-token", alg) == expected


def test_eddsa_on_ed448_hashes_with_shake256():
    digest = hashlib.shake_256(b"an-access-token").digest(114)
    expected = base64.urlsafe_b64encode(digest[:57]).decode().rstrip("=")
    assert token_hash("an-access-token", "EdDSA", "Ed448") == expected
    assert token_hash("an-access-token", "Ed448") == expected


@pytest.mark.parametrize("alg", ["none", "RS1", "ES256X", "", "EdDSA-Ed448"])
def test_an_alg_without_a_hash_is_refused(alg):
    with pytest.raises(ValueError, match="no ID token hash"):
        token_hash("t", alg)


def test_basic_credentials_are_form_urlencoded_before_base64():
    # RFC 6749 2.3.1: application/x-www-form-urlencoded id and secret, joined by ":".
    header = basic_authorization("my app:1", "p@ss:w%rd+é")
    expected_pair = "my+app%3A1:p%40ss%3Aw%25rd%2B%C3%A9"
    assert header == "Basic " + base64.b64encode(expected_pair.encode()).decode()
    assert parse_basic_authorization(header) == ("my app:1", "p@ss:w%rd+é")


def test_basic_parsing_tells_another_scheme_from_a_malformed_header():
    assert parse_basic_authorization(None) is None
    assert parse_basic_authorization("") is None
    assert parse_basic_authorization("Bearer abc") is None
    # Swagger UI's Authorize dialog with empty fields: an empty id and secret, well-formed.
    assert parse_basic_authorization("Basic Og==") == ("", "")
    assert parse_basic_authorization("basic " + base64.b64encode(b"a:b").decode()) == ("a", "b")
    for bad in ("Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Basic /w=="):
        with pytest.raises(ValueError, match="malformed HTTP Basic"):
            parse_basic_authorization(bad)


@given(st.text(), st.text())
def test_basic_round_trips_any_text(client_id, secret):
    assert parse_basic_authorization(basic_authorization(client_id, secret)) == (
        client_id,
        secret,
    )


@given(st.binary(max_size=64))
def test_base64url_round_trips_without_padding(data):
    encoded = b64url_encode(data)
    assert "=" not in encoded and "+" not in encoded and "/" not in encoded
    assert b64url_decode(encoded) == data


@pytest.mark.parametrize("bad", ["a", "ab=", "a+b/", "ab cd", "abcde"])
def test_base64url_refuses_padding_foreign_characters_and_impossible_lengths(bad):
    with pytest.raises(ValueError, match="not base64url"):
        b64url_decode(bad)
