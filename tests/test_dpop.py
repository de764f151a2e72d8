"""DPoP proofs (RFC 9449): the RFC's own examples as vectors, and every check of 4.3."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from oauthcli import dpop, jose
from oauthcli.dpop import ProofError, ProofKey, check_proof, normalize_htu

# RFC 9449 section 4.2, figure 3: the proof of a token request.
RFC_TOKEN_PROOF = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik"
    "VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR"
    "nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE"
    "QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIj"
    "oiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwia"
    "WF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg"
    "4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
)
# RFC 9449 section 7.1, figure 12: the proof of a resource request, with ath.
RFC_RESOURCE_PROOF = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik"
    "VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR"
    "nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE"
    "QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIj"
    "oiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0Z"
    "WRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNF"
    "c05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71E"
    "OptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA"
)
RFC_ACCESS_TOKEN = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"  # section 7.1, figure 11
RFC_ATH = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
RFC_JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"  # section 6.1, figure 7
RFC_JWK = {
    "kty": "EC",
    "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
    "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
    "crv": "P-256",
}
HTU = "https://server.example.com/token"
NOW = 1_700_000_000


def test_rfc9449_thumbprint_and_ath_examples():
    assert jose.thumbprint(RFC_JWK) == RFC_JKT
    assert jose.thumbprint({**RFC_JWK, "kid": "ignored", "use": "sig"}) == RFC_JKT
    assert jose.access_token_hash(RFC_ACCESS_TOKEN) == RFC_ATH


def test_rfc9449_token_request_proof_verifies():
    proof = check_proof(RFC_TOKEN_PROOF, htm="POST", htu=HTU, now=1562262616)
    assert proof.jkt == RFC_JKT
    assert proof.jti == "-BwC3ESc6acc2lTc"
    assert proof.header["jwk"] == RFC_JWK
    # The same proof is for POST /token only: another method, another URL are refused.
    with pytest.raises(ProofError, match="method"):
        check_proof(RFC_TOKEN_PROOF, htm="GET", htu=HTU, now=1562262616)
    with pytest.raises(ProofError, match="another URL"):
        check_proof(RFC_TOKEN_PROOF, htm="POST", htu=HTU + "2", now=1562262616)


def test_rfc9449_resource_proof_verifies_with_its_access_token_only():
    url = "https://resource.example.org/protectedresource"
    proof = check_proof(
        RFC_RESOURCE_PROOF, htm="GET", htu=url, now=1562262618, access_token=RFC_ACCESS_TOKEN
    )
    assert proof.claims["ath"] == RFC_ATH and proof.jkt == RFC_JKT
    with pytest.raises(ProofError, match="ath"):
        check_proof(RFC_RESOURCE_PROOF, htm="GET", htu=url, now=1562262618, access_token="other")


def test_a_made_proof_has_the_claims_of_section_4_2_and_checks():
    key = ProofKey.generate()
    token = "an.access.token"
    made = key.proof("get", HTU + "?q=1#frag", access_token=token, nonce="n1", now=NOW)
    header = jwt.get_unverified_header(made)
    claims = jwt.decode(made, options={"verify_signature": False})
    assert header["typ"] == "dpop+jwt" and header["alg"] == "ES256"
    assert set(header["jwk"]) == {"kty", "crv", "x", "y"}  # public members only
    assert claims["htm"] == "GET" and claims["htu"] == HTU  # no query, no fragment
    assert claims["iat"] == NOW and claims["nonce"] == "n1"
    assert claims["ath"] == jose.access_token_hash(token)
    checked = check_proof(made, htm="GET", htu=HTU, now=NOW, access_token=token, nonces={"n1"})
    assert checked.jkt == key.jkt == jose.thumbprint(key.jwk)
    assert key.proof("GET", HTU, now=NOW) != key.proof("GET", HTU, now=NOW)  # new jti each


def test_the_key_round_trips_through_pem():
    key = ProofKey.generate()
    again = ProofKey.from_pem(key.to_pem())
    assert again.jkt == key.jkt
    with pytest.raises(ValueError):
        ProofKey.from_pem(b"not a key")


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("HTTPS://Server.Example.COM:443/token?x=1#y", "https://server.example.com/token"),
        ("http://127.0.0.1:80", "http://127.0.0.1/"),
        ("http://127.0.0.1:8080/a%7eb%2f", "http://127.0.0.1:8080/a~b%2F"),
        ("http://[::1]:9000/x", "http://[::1]:9000/x"),
    ],
)
def test_htu_is_normalised_per_rfc3986(url, normal):
    assert normalize_htu(url) == normal


def _forge(header: dict, claims: dict, key=None, alg="ES256") -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims, key, algorithm=alg, headers=header)


def _claims(**extra):
    return {"jti": "j1", "htm": "POST", "htu": HTU, "iat": NOW, **extra}


def test_refusals_of_section_4_3():
    key = ProofKey.generate()
    good_header = {"typ": "dpop+jwt", "jwk": key.jwk}

    def refused(proof: str, match: str, **kw) -> None:
        args = {"htm": "POST", "htu": HTU, "now": NOW, **kw}
        with pytest.raises(ProofError, match=match) as info:
            check_proof(proof, **args)
        assert info.value.reason in ("invalid_dpop_proof", "use_dpop_nonce")

    refused("not-a-jwt", "not a JWT")
    refused(_forge({"typ": "JWT", "jwk": key.jwk}, _claims(), key.private_key), "typ")
    # Signed by another key than the jwk it carries.
    refused(_forge(good_header, _claims()), "signature")
    # A private key in the header.
    private = {**key.jwk, "d": "AAAA"}
    refused(_forge({"typ": "dpop+jwt", "jwk": private}, _claims(), key.private_key), "private")
    # HS256 and none are never accepted.
    hs = jwt.encode(_claims(), "s" * 32, algorithm="HS256", headers=good_header)
    refused(hs, "alg")
    none = jwt.encode(_claims(), None, algorithm="none", headers=good_header)
    refused(none, "alg")
    # An algorithm the server did not allow.
    refused(key.proof("POST", HTU, now=NOW), "alg", algorithms=["PS256"])
    # Times: too old, from the future.
    refused(key.proof("POST", HTU, now=NOW - dpop.MAX_AGE - 1), "too old")
    refused(key.proof("POST", HTU, now=NOW + dpop.LEEWAY + 1), "future")
    # Missing jti.
    no_jti = {k: v for k, v in _claims().items() if k != "jti"}
    refused(_forge(good_header, no_jti, key.private_key), "jti")
    # Nonce: missing or stale is use_dpop_nonce.
    with pytest.raises(ProofError) as info:
        check_proof(key.proof("POST", HTU, now=NOW, nonce="old"), htm="POST", htu=HTU, now=NOW,
                    nonces={"new"})  # fmt: skip
    assert info.value.reason == "use_dpop_nonce"
    # An access token presented with a proof without ath.
    refused(key.proof("POST", HTU, now=NOW), "ath", access_token="tok")
    # Not JSON.
    refused("e30.bm90anNvbg.c2ln", "payload")
    assert json.loads(jose.b64url_decode("e30")) == {}
