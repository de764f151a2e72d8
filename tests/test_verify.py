"""The verifier core: every algorithm, key forms, claims checks, JWKS and discovery over real HTTP."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from oauthcli import keys
from oauthcli.batch import run_batch
from oauthcli.errors import (
    ConfigError,
    OAuthCliError,
    RemoteError,
    TokenError,
    TokenTimeError,
    UsageError,
)
from oauthcli.jwks import (
    RemoteJWKS,
    discover,
    key_from_jwk,
    key_from_object,
    key_from_pem,
    key_from_secret,
    keys_from_jwks,
)
from oauthcli.keys import SUPPORTED_ALGORITHMS, generate, load_pem
from oauthcli.verify import Verifier
from tests._jwks_server import JsonSite

VECTORS = Path(__file__).parent / "vectors"
NOW = 1_700_000_000
SECRET = b"k" * 64


def clock(at: float = NOW):
    return lambda: at


def claims(**extra):
    return {"sub": "alice", "iat": NOW - 10, "exp": NOW + 900, **extra}


@pytest.fixture(scope="module")
def private_keys():
    return {alg: load_pem(generate(alg), alg) for alg in SUPPORTED_ALGORITHMS if alg[:2] != "HS"}


def public_pem(key) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_jwk(key, **extra) -> dict:
    """The key's public JWK without an "alg" (so RSA keys serve RS* and PS*)."""
    jwk = keys.public_jwk(key, keys.guess_algorithm(key))
    del jwk["alg"]
    return {**jwk, **extra}


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


def hs(payload, headers=None) -> str:
    return jwt.encode(payload, SECRET, algorithm="HS256", headers=headers)


def check(token, **options):
    options.setdefault("now", clock())
    return Verifier([key_from_secret(SECRET)], **options).verify(token)


def reason_of(token, **options) -> str | None:
    try:
        check(token, **options)
    except TokenError as exc:
        return exc.reason
    return None


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


# -- JWKS and discovery over real HTTP -------------------------------------------------------


@pytest.fixture
def signer(private_keys):
    def sign(kid: str, key_name: str = "ES256", **extra) -> str:
        return jwt.encode(
            claims(**extra), private_keys[key_name], algorithm=key_name, headers={"kid": kid}
        )

    return sign


def test_remote_jwks_is_fetched_once_and_cached(private_keys, signer):
    site = JsonSite({"/jwks.json": {"keys": [public_jwk(private_keys["ES256"], kid="a")]}})
    with site.serve() as url:
        verifier = Verifier(RemoteJWKS(url + "/jwks.json"), now=clock())
        for _ in range(5):
            assert verifier.verify(signer("a")).payload["sub"] == "alice"
    assert site.requests == ["/jwks.json"]


def test_remote_jwks_refetched_once_on_unknown_kid(private_keys, signer):
    site = JsonSite({"/jwks.json": {"keys": [public_jwk(private_keys["ES256"], kid="a")]}})
    with site.serve() as url:
        verifier = Verifier(RemoteJWKS(url + "/jwks.json"), now=clock())
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


def test_remote_jwks_errors_are_remote_errors(private_keys):
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
                RemoteJWKS(url + path).keys()
    with pytest.raises(RemoteError, match="cannot fetch"):
        RemoteJWKS(url + "/jwks.json").keys()  # the server is gone now


def test_shared_secrets_in_a_fetched_jwks_are_ignored(private_keys):
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
        remote = RemoteJWKS(url + "/mixed.json")
        verifier = Verifier(remote, now=clock())
        assert reason_of_verifier(verifier, forged) in ("algorithm", "key")
        assert any("shared secret" in note for note in remote.skipped)
        token = jwt.encode(claims(), rsa, algorithm="RS256", headers={"kid": "r"})
        assert verifier.verify(token).algorithm == "RS256"
        with pytest.raises(RemoteError, match="only shared secrets"):
            RemoteJWKS(url + "/oct.json").keys()


def reason_of_verifier(verifier, token) -> str | None:
    try:
        verifier.verify(token)
    except TokenError as exc:
        return exc.reason
    return None


def test_plain_http_only_to_loopback():
    for url in ("http://example.com/jwks.json", "ftp://x/y", "file:///etc/passwd", "jwks.json"):
        with pytest.raises(UsageError):
            RemoteJWKS(url)
    RemoteJWKS("http://localhost:1/jwks.json")
    RemoteJWKS("http://[::1]:1/jwks.json")
    RemoteJWKS("https://example.com/jwks.json")


def test_oidc_discovery(private_keys, signer):
    site = JsonSite()
    with site.serve() as url:
        site.routes["/.well-known/openid-configuration"] = {
            "issuer": url,
            "jwks_uri": url + "/keys",
        }
        site.routes["/keys"] = {"keys": [public_jwk(private_keys["ES256"], kid="a")]}
        found = discover(url)
        assert found.jwks_uri == url + "/keys" and found.issuer == url
        verifier = Verifier(RemoteJWKS(found.jwks_uri), issuer=found.issuer, now=clock())
        assert verifier.verify(signer("a", iss=url)).payload["iss"] == url
        with pytest.raises(TokenError) as exc:
            verifier.verify(signer("a", iss=url + ".evil"))
        assert exc.value.reason == "issuer"


def test_rfc8414_fallback_with_path(private_keys):
    site = JsonSite()
    with site.serve() as url:
        issuer = url + "/tenant1"
        site.routes["/.well-known/oauth-authorization-server/tenant1"] = {
            "issuer": issuer,
            "jwks_uri": url + "/tenant1/jwks",
        }
        found = discover(issuer)
        assert found.jwks_uri == url + "/tenant1/jwks"
        assert site.requests == [
            "/tenant1/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server/tenant1",
        ]


def test_discovery_document_must_name_the_same_issuer():
    site = JsonSite()
    with site.serve() as url:
        site.routes["/.well-known/openid-configuration"] = {
            "issuer": "https://evil.example",
            "jwks_uri": url + "/keys",
        }
        with pytest.raises(RemoteError, match="names issuer"):
            discover(url)
        site.routes["/.well-known/openid-configuration"] = {
            "issuer": url,
            "jwks_uri": "http://evil.example/keys",
        }
        with pytest.raises(RemoteError, match="https"):
            discover(url)
        del site.routes["/.well-known/openid-configuration"]
        with pytest.raises(RemoteError, match="no discovery document"):
            discover(url)


# -- batch -----------------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [10_000, 5])
def test_batch_verdicts_in_input_order(threshold):
    good = hs(claims())
    lines = [good, "garbage", hs(claims(exp=NOW - 5)), "", good] * 20
    out: list[str] = []
    verifier = Verifier([key_from_secret(SECRET)], now=clock())
    summary = run_batch(
        verifier,
        (line + "\n" for line in lines),
        out.append,
        workers=2,
        parallel_threshold=threshold,
    )
    verdicts = [json.loads(line) for line in "".join(out).splitlines()]
    # blank lines get no verdict, but line numbers still count them
    assert [v["line"] for v in verdicts] == [n for n in range(1, 101) if n % 5 != 4]
    for line, verdict in zip([t for t in lines if t], verdicts, strict=True):
        assert verdict == {"line": verdict["line"], **verifier.verdict(line)}
    assert [v["error"] for v in verdicts[:4]] == [None, "opaque", "expired", None]
    assert summary.total == 80 and summary.valid == 40
    assert isinstance(summary.error(), TokenError)
    assert not isinstance(summary.error(), TokenTimeError)


def test_batch_exit_is_time_error_when_only_time_failed():
    out: list[str] = []
    verifier = Verifier([key_from_secret(SECRET)], now=clock())
    summary = run_batch(verifier, [hs(claims()), hs(claims(exp=NOW - 5))], out.append)
    assert isinstance(summary.error(), TokenTimeError)
    summary = run_batch(verifier, [hs(claims())], out.append)
    assert summary.error() is None


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
    verdict = FUZZ_VERIFIER.verdict(text)
    json.dumps(verdict)
    assert set(verdict) == {"valid", "error", "message", "header", "payload", "expires_in"}


def test_clock_defaults_to_now():
    token = hs({"sub": "a", "exp": int(time.time()) + 60})
    assert Verifier([key_from_secret(SECRET)]).verify(token).expires_in in (59, 60)


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
    verdict = FUZZ_VERIFIER.verdict(token)
    assert verdict["error"] == "claim" and verdict["expires_in"] is None
    bad_signature = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert FUZZ_VERIFIER.verdict(bad_signature)["expires_in"] is None
    out: list[str] = []
    run_batch(FUZZ_VERIFIER, [token, bad_signature], out.append)
    assert [json.loads(v)["expires_in"] for v in "".join(out).splitlines()] == [None, None]


def test_infinite_and_absurd_times():
    # 1e400 parses as infinity: not a NumericDate
    head, _, sig = hs(claims()).split(".")
    body = base64.urlsafe_b64encode(b'{"exp":1e400}').rstrip(b"=").decode()
    assert FUZZ_VERIFIER.verdict(f"{head}.{body}.{sig}")["error"] in ("claim", "signature")
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


def test_batch_skips_blank_lines():
    out: list[str] = []
    summary = run_batch(FUZZ_VERIFIER, ["\n", GOOD + "\r\n", "  \t\n", "\n"], out.append)
    assert summary.total == 1 and summary.error() is None
    assert [json.loads(v)["line"] for v in "".join(out).splitlines()] == [2]
    out.clear()
    assert run_batch(FUZZ_VERIFIER, ["\n", "\n"], out.append).total == 0
    assert "".join(out) == ""
