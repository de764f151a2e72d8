"""The verifier core: every algorithm, every key form, the claim checks, fuzzing."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from oauthcli.errors import OAuthCliError, TokenError, TokenTimeError, UsageError
from oauthcli.keys import SUPPORTED_ALGORITHMS, generate, load_pem
from oauthcli.verify.batch import run_batch
from oauthcli.verify.keyset import key_from_jwk, key_from_object, key_from_pem, key_from_secret
from oauthcli.verify.verifier import Verifier
from tests.verify.helpers import (
    NOW,
    SECRET,
    VECTORS,
    check,
    claims,
    clock,
    hs,
    public_jwk,
    public_pem,
    reason_of,
)

# -- every algorithm, every key form ---------------------------------------------------------


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_pyjwt_hmac_tokens_verify(alg):
    token = jwt.encode(claims(), SECRET, algorithm=alg)
    result = Verifier([key_from_secret(SECRET)], now=clock()).verify(token)
    assert result.payload["sub"] == "alice"
    assert result.algorithm == alg
    assert result.expires_in == 900
    jwk = {"kty": "oct", "k": jwt.utils.base64url_encode(SECRET).decode()}
    assert Verifier([key_from_jwk(jwk)], now=clock()).verify(token).algorithm == alg


@pytest.mark.parametrize("alg", [a for a in SUPPORTED_ALGORITHMS if not a.startswith("HS")])
@pytest.mark.parametrize("form", ["pem", "private_pem", "jwk", "object"])
def test_pyjwt_asymmetric_tokens_verify(private_keys, alg, form):
    family_key = {"RS": "RS256", "PS": "RS256"}.get(alg[:2], alg)
    private = private_keys[family_key if alg[:2] in ("RS", "PS") else alg]
    token = jwt.encode(claims(), private, algorithm=alg, headers={"kid": "k1"})
    if form == "pem":
        key = key_from_pem(public_pem(private))
    elif form == "private_pem":
        key = key_from_pem(
            private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    elif form == "jwk":
        key = key_from_jwk(public_jwk(private, kid="k1"))
    else:
        key = key_from_object(private.public_key())
    result = Verifier([key], now=clock()).verify(token)
    assert result.algorithm == alg
    assert result.header["kid"] == "k1"


def test_wrong_key_is_a_signature_error(private_keys):
    token = jwt.encode(claims(), private_keys["ES256"], algorithm="ES256")
    other = load_pem(generate("ES256"), "other")
    with pytest.raises(TokenError) as exc:
        Verifier([key_from_object(other)], now=clock()).verify(token)
    assert exc.value.reason == "signature"
    with pytest.raises(TokenError) as exc:
        Verifier([key_from_secret(b"x" * 40)], now=clock()).verify(
            jwt.encode(claims(), SECRET, algorithm="HS256")
        )
    assert exc.value.reason == "signature"


# -- RFC 7515 Appendix A ---------------------------------------------------------------------


@pytest.mark.parametrize("example", ["A.1", "A.2", "A.3"])
def test_rfc7515_examples_pass_the_signature_and_are_expired(example):
    vector = json.loads((VECTORS / "rfc7515.json").read_text())[example]
    key = key_from_jwk(vector["jwk"])
    with pytest.raises(TokenTimeError) as exc:
        Verifier([key]).verify(vector["token"])
    assert exc.value.reason == "expired"
    assert exc.value.exit_code == 5
    # one second before exp (2011-03-22T18:43:00Z) the very same token is valid
    result = Verifier([key], now=clock(1300819379)).verify(vector["token"])
    assert result.algorithm == vector["alg"]
    assert result.payload["iss"] == "joe"
    assert result.payload["http://example.com/is_root"] is True
    # and a changed signature fails before any time check
    head, body, sig = vector["token"].split(".")
    bad = f"{head}.{body}.{sig[:-4]}AAAA"
    with pytest.raises(TokenError) as exc:
        Verifier([key]).verify(bad)
    assert exc.value.reason == "signature"


# -- claims ----------------------------------------------------------------------------------


def test_time_checks_and_leeway():
    assert reason_of(hs(claims(exp=NOW))) == "expired"
    assert reason_of(hs(claims(exp=NOW - 1))) == "expired"
    assert reason_of(hs(claims(exp=NOW - 29)), leeway=30) is None
    assert reason_of(hs(claims(nbf=NOW + 10))) == "not_yet_valid"
    assert reason_of(hs(claims(nbf=NOW + 10)), leeway=10) is None
    assert reason_of(hs(claims(iat=NOW + 10))) == "not_yet_valid"
    assert reason_of(hs(claims(iat=NOW - 3600)), max_age=600) == "too_old"
    assert reason_of(hs(claims(iat=NOW - 300)), max_age=600) is None
    assert reason_of(hs({"sub": "a", "exp": NOW + 10}), max_age=600) == "claim"
    with pytest.raises(TokenTimeError):
        check(hs(claims(exp=NOW - 1)))


def test_exp_is_required_unless_allowed():
    assert reason_of(hs({"sub": "a"})) == "claim"
    assert reason_of(hs({"sub": "a"}), allow_no_exp=True) is None
    assert reason_of(hs({"sub": "a", "exp": None}), allow_no_exp=True) == "claim"
    assert reason_of(hs({"sub": "a", "exp": "2099"}), allow_no_exp=True) == "claim"


def test_issuer_is_an_exact_match():
    token = hs(claims(iss="https://auth.example.com"))
    assert reason_of(token, issuer="https://auth.example.com") is None
    assert reason_of(token, issuer="https://auth.example.co") == "issuer"
    assert reason_of(token, issuer="https://auth.example.com/") == "issuer"
    assert reason_of(hs(claims()), issuer="https://auth.example.com") == "issuer"


def test_audience_string_or_list():
    assert reason_of(hs(claims(aud="api")), audience="api") is None
    assert reason_of(hs(claims(aud=["x", "api"])), audience="api") is None
    assert reason_of(hs(claims(aud=["x"])), audience=["api", "x"]) is None
    assert reason_of(hs(claims(aud="apix")), audience="api") == "audience"
    assert reason_of(hs(claims()), audience="api") == "audience"
    # without an expected audience, aud is not checked (unlike PyJWT's default)
    assert reason_of(hs(claims(aud="anything"))) is None


@pytest.mark.parametrize(
    "bad",
    [
        {"sub": [1, 2]},
        {"sub": 42},
        {"iss": {"x": 1}},
        {"jti": 7},
        {"aud": 1},
        {"aud": ["api", 2]},
        {"aud": None},
    ],
)
def test_registered_claims_have_their_types(bad):
    # RFC 7519 4.1: iss, sub, jti are strings; aud a string or an array of strings. Refused
    # whether or not the claim's value is checked (PyJWT refuses "sub": [1, 2] too).
    # Signed with PyJWS: PyJWT's encode itself refuses a non-string iss.
    token = jwt.api_jws.encode(json.dumps(claims(**bad)).encode(), SECRET, algorithm="HS256")
    assert reason_of(token) == "claim"
    with pytest.raises(TokenError, match=f"token {next(iter(bad))} claim"):
        check(token)
    if "aud" in bad:
        assert reason_of(token, audience="api") == "claim"


def test_registered_claims_of_the_right_types_pass():
    token = hs(claims(iss="https://i.example", sub="alice", jti="j1", aud=["api", "web"]))
    assert reason_of(token) is None
    assert reason_of(hs(claims(aud="api"))) is None


@pytest.mark.parametrize(
    "scope_claims",
    [{"scope": "me items"}, {"scp": ["me", "items"]}, {"scopes": ["items", "me"]}],
)
def test_required_scopes_from_any_provider_shape(scope_claims):
    token = hs(claims(**scope_claims))
    assert reason_of(token, required_scopes=["me", "items"]) is None
    assert check(token).scopes and set(check(token).scopes) == {"me", "items"}
    assert reason_of(token, required_scopes=["me", "admin"]) == "scope"


def test_required_claims():
    assert reason_of(hs(claims(email="a@b")), required_claims=["email"]) is None
    assert reason_of(hs(claims()), required_claims=["email"]) == "claim"
    assert reason_of(hs(claims(email=None)), required_claims=["email"]) == "claim"


def test_token_types():
    access = hs(claims(), headers={"typ": "at+jwt"})
    refresh = hs(claims(), headers={"typ": "rt+jwt"})
    plain = hs(claims(), headers={"typ": "JWT"})
    app_typ = hs(claims(), headers={"typ": "application/at+jwt"})
    assert reason_of(access) is None and reason_of(plain) is None and reason_of(app_typ) is None
    assert reason_of(hs(claims())) is None  # PyJWT writes typ JWT; also absent is fine
    assert reason_of(refresh) == "type"
    assert reason_of(refresh, token_type="refresh") is None
    assert reason_of(access, token_type="refresh") == "type"
    assert reason_of(refresh, token_type="any") is None
    with pytest.raises(UsageError):
        check(access, token_type="id")


# -- allow-list and key binding --------------------------------------------------------------


def test_default_allow_list_is_the_keys_own_algorithm(private_keys):
    key = key_from_secret(SECRET, "HS256")
    assert Verifier([key], now=clock()).verify(hs(claims())).algorithm == "HS256"
    with pytest.raises(TokenError) as exc:
        Verifier([key], now=clock()).verify(jwt.encode(claims(), SECRET, algorithm="HS512"))
    assert exc.value.reason == "algorithm"
    ec = key_from_object(private_keys["ES256"])
    assert ec.algorithms == ("ES256",)
    rsa = key_from_jwk({**public_jwk(private_keys["RS256"]), "alg": "PS256"})
    assert rsa.algorithms == ("PS256",)


def test_explicit_allow_list(private_keys):
    token = jwt.encode(claims(), private_keys["RS256"], algorithm="RS512")
    key = key_from_pem(public_pem(private_keys["RS256"]))
    assert Verifier([key], ["RS512"], now=clock()).verify(token).algorithm == "RS512"
    with pytest.raises(TokenError) as exc:
        Verifier([key], ["RS256"], now=clock()).verify(token)
    assert exc.value.reason == "algorithm"
    for bad in (["none"], ["NONE"], ["HS1"]):
        with pytest.raises(UsageError):
            Verifier([key], bad)
    with pytest.raises(UsageError, match="HMAC"):
        Verifier([key], ["HS256"])


# -- fuzzing ---------------------------------------------------------------------------------

FUZZ_VERIFIER = Verifier([key_from_secret(SECRET)], now=clock())
GOOD = hs(claims())


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.builds(
            lambda i, j, s: GOOD[:i] + s + GOOD[j:],
            st.integers(0, len(GOOD)),
            st.integers(0, len(GOOD)),
            st.text(max_size=8),
        ),
    )
)
def test_fuzzed_tokens_only_produce_token_errors(text):
    try:
        FUZZ_VERIFIER.verify(text)
    except OAuthCliError as exc:
        assert isinstance(exc, TokenError)
    verdict = FUZZ_VERIFIER.evaluate(text)[2]
    json.dumps(verdict)
    assert list(verdict) == [
        "valid",
        "error",
        "message",
        "header",
        "payload",
        "expires_in",
        "warnings",
    ]


def test_clock_defaults_to_now():
    exp = int(time.time()) + 60
    before = time.time()
    expires_in = Verifier([key_from_secret(SECRET)]).verify(hs({"sub": "a", "exp": exp})).expires_in
    after = time.time()
    # The real clock, read between before and after (however long a loaded machine took).
    assert expires_in is not None and exp - after - 1 <= expires_in <= exp - before


def test_weak_rsa_keys_verify_with_a_warning():
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        token = jwt.encode(claims(), weak, algorithm="RS256")
    verifier = Verifier([key_from_object(weak.public_key())], now=clock())
    assert verifier.verify(token).algorithm == "RS256"
    assert any("1024 bits" in w for w in verifier.warnings)


@pytest.mark.parametrize("exp", [10**400, -(10**400)])
def test_time_claims_beyond_the_float_range_are_claim_errors(exp):
    # 10**400 in a JSON token made int - float arithmetic overflow (an internal error)
    token = hs(claims(exp=exp))
    assert reason_of(token) == "claim"
    verdict = FUZZ_VERIFIER.evaluate(token)[2]
    assert verdict["error"] == "claim" and verdict["expires_in"] is None
    bad_signature = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert FUZZ_VERIFIER.evaluate(bad_signature)[2]["expires_in"] is None
    out: list[str] = []
    run_batch(FUZZ_VERIFIER, [token, bad_signature], out.append)
    assert [json.loads(v)["expires_in"] for v in "".join(out).splitlines()] == [None, None]


def test_infinite_and_absurd_times():
    # 1e400 would parse as infinity, which no JSON output can write back: malformed
    head, _, sig = hs(claims()).split(".")
    body = base64.urlsafe_b64encode(b'{"exp":1e400}').rstrip(b"=").decode()
    found = FUZZ_VERIFIER.evaluate(f"{head}.{body}.{sig}")[2]
    assert found["error"] == "malformed" and "out of range" in found["message"]
    with pytest.raises(TokenTimeError, match="valid in more than 10,000 years"):
        check(hs(claims(nbf=1e200)))


def test_a_secret_short_for_the_algorithm_used_is_reported_once_used():
    # 40 bytes is enough for HS256 (no warning up front) but not for HS512
    secret = b"s" * 40
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        token = jwt.encode(claims(), secret, algorithm="HS512")
    verifier = Verifier([key_from_secret(secret)], now=clock())
    assert verifier.warnings == [] and verifier.usage_warnings() == []
    verifier.verify(jwt.encode(claims(), secret, "HS256"))
    assert verifier.usage_warnings() == []
    verifier.verify(token)
    (warning,) = verifier.usage_warnings()
    assert "HS512" in warning and "40 bytes" in warning and "64" in warning
    for threshold in (10_000, 5):
        batch = Verifier([key_from_secret(secret)], now=clock())
        summary = run_batch(batch, [token] * 20, [].append, workers=2, parallel_threshold=threshold)
        assert summary.valid == 20 and summary.warnings == [warning]


# -- issue 9 items in the core ---------------------------------------------------------------


def test_a_token_accepted_within_the_leeway_says_it_expired():
    result = check(hs({"sub": "alice", "exp": NOW - 19}), leeway=30)
    assert result.expires_in == -19
    assert "expired 19 s ago, within the leeway" in result.describe()
    assert "expires in" not in result.describe()
    assert result.warnings == ["token expired 19 s ago; accepted within the leeway of 30 s"]
    # half a second past exp is "expired", not "expires in 0 s"
    assert check(hs({"sub": "alice", "exp": NOW - 0.5}), leeway=30).expires_in == -1


@pytest.mark.parametrize("exp", [1e30, 253_402_300_800])
def test_an_exp_past_the_year_9999_is_a_claim_error(exp):
    assert reason_of(hs({"sub": "alice", "exp": exp})) == "claim"
    assert check(hs({"sub": "alice", "exp": 253_402_300_799})).expires_in is not None


def test_b64_false_header_is_a_crit_error():
    import hashlib
    import hmac

    head = base64.urlsafe_b64encode(b'{"alg":"HS256","b64":false}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=").decode()
    sig = hmac.digest(SECRET, f"{head}.{body}".encode(), hashlib.sha256)
    token = f"{head}.{body}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"
    with pytest.raises(TokenError, match="RFC 7797") as exc:
        check(token)
    assert exc.value.reason == "crit"
    assert reason_of(hs(claims(), headers={"b64": True})) is None  # the default, harmless


def test_the_unchecked_audience_is_a_warning_of_the_result():
    assert check(hs(claims(aud="api"))).warnings == [
        'audience not checked: the token is for "api"; give --audience to require it'
    ]
    assert check(hs(claims(aud="api")), audience="api").warnings == []
