"""Issue 9 in decode/verify/keys: hostile text, lone surrogates, key-set rules, wrong results.

Each test names the item it proves; each failed before its fix.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import sys
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from oauthcli.cli import main
from oauthcli.keys import public_jwk
from tests._jwks_server import JsonSite
from tests.conftest import TEST_SECRET, Result, assert_one_line_error

SECRET = TEST_SECRET.encode()
# {"alg":"none"}.{"x":"\ud800"}: the payload escapes a lone UTF-16 surrogate
SURROGATE = "eyJhbGciOiJub25lIn0.eyJ4IjoiXHVkODAwIn0."


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(payload: bytes, header: bytes = b'{"alg":"HS256"}', secret: bytes = SECRET) -> str:
    """An HS256 JWS over raw payload bytes (any JSON text, valid or not)."""
    signing_input = f"{b64(header)}.{b64(payload)}"
    sig = hmac.digest(secret, signing_input.encode(), hashlib.sha256)
    return f"{signing_input}.{b64(sig)}"


def hs(claims: dict, **headers) -> str:
    return jwt.encode(claims, SECRET, algorithm="HS256", headers=headers or None)


def later(**claims) -> dict:
    return {"sub": "alice", "exp": int(time.time()) + 600, **claims}


def strict_json(text: str):
    """json.loads that refuses NaN/Infinity, as every other JSON parser does."""

    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def run_bytes(*args: str, input: bytes) -> Result:
    runner = CliRunner()
    with runner.isolation(input=input) as (out, err, *_):
        code = main(list(args))
        sys.stdout.flush()
        sys.stderr.flush()
        return Result(code, out.getvalue().decode(), err.getvalue().decode())


# -- item 3: claim values are cleaned for the terminal; --json stays exact ----------------------

HOSTILE_SCOPE = "me \x1b]8;;https://evil.example\x07click\x1b]8;;\x07 \u202eitems \x1b[2J"
HOSTILE_SUB = "ali\u2066ce\x1b]0;title\x07"


def test_item3_verify_prints_claims_cleaned_and_json_exact(cli, store_path):
    token = hs(later(sub=HOSTILE_SUB, scope=HOSTILE_SCOPE))
    result = cli("verify", "--secret-file", "hs256.secret", token)
    assert result.exit_code == 0, result.stderr
    for bad in ("\x1b", "\x07", "\u202e", "\u2066"):
        assert bad not in result.stdout and bad not in result.stderr
    assert "click" in result.stdout and "items" in result.stdout
    data = json.loads(cli("verify", "--secret-file", "hs256.secret", "--json", token).stdout)
    assert data["payload"]["scope"] == HOSTILE_SCOPE and data["payload"]["sub"] == HOSTILE_SUB


def test_item3_decode_prints_bidi_and_escapes_cleaned(cli):
    token = hs(later(name="\u202eevil\u2069", sub=HOSTILE_SUB))
    result = cli("decode", token)
    assert result.exit_code == 0
    for bad in ("\x1b", "\x07", "\u202e", "\u2066", "\u2069"):
        assert bad not in result.stdout
    assert json.loads(cli("decode", "--json", token).stdout)["payload"]["sub"] == HOSTILE_SUB


# -- item 4: lone surrogates are one malformed verdict, never an internal error ---------------


def test_item4_lone_surrogate_in_decode_and_verify(cli, store_path):
    assert_one_line_error(cli("decode", SURROGATE), 4, "surrogate")
    result = cli("decode", "--json", SURROGATE)
    assert result.exit_code == 4 and strict_json(result.stdout)["error"] == "malformed"
    result = cli("verify", "--json", SURROGATE)
    assert result.exit_code == 4, result.stderr
    assert strict_json(result.stdout)["error"] == "malformed"


def test_item4_lone_surrogate_in_a_batch_spoils_only_its_own_line(cli, store_path):
    good = hs(later())
    escaped = signed(b'{"sub":"x","exp":9999999999,"n":"\\udfff"}')  # validly signed
    result = cli("verify", "--batch", "-", input="\n".join([good, SURROGATE, escaped, good]))
    verdicts = [strict_json(line) for line in result.stdout.splitlines()]
    assert [v["error"] for v in verdicts] == [None, "malformed", "malformed", None]
    assert result.exit_code == 4


def test_item4_invalid_utf8_on_stdin_is_a_malformed_token(store_path):
    result = run_bytes("decode", "-", input=b"eyJ\xed\xa0\x80.x.y\n")
    assert_one_line_error(result, 4)
    result = run_bytes("verify", "--batch", "-", input=b"\xff\xfe\n" + hs(later()).encode())
    assert [strict_json(v)["error"] for v in result.stdout.splitlines()] == ["malformed", None]


# -- item 11: key-set rules ------------------------------------------------------------------


def test_item11_a_remote_rsa_1024_key_is_warned_about_like_a_local_one(cli, isolated_env):
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    jwk = public_jwk(weak, "RS256") | {"kid": "weak"}
    site = JsonSite({"/jwks": {"keys": [jwk]}})
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        token = jwt.encode(later(), weak, algorithm="RS256", headers={"kid": "weak"})
    with site.serve() as url:
        result = cli("verify", "--jwks", url + "/jwks", token)
        assert result.exit_code == 0, result.stderr
        assert "1024 bits" in result.stderr and "weak" in result.stderr
        data = json.loads(cli("verify", "--jwks", url + "/jwks", "--json", token).stdout)
        assert any("1024 bits" in w for w in data["warnings"])
        out = cli("verify", "--jwks", url + "/jwks", "--batch", "-", input=f"{token}\n{token}\n")
        assert out.exit_code == 0 and out.stderr.count("1024 bits") == 1


def test_item11_shared_secrets_in_a_jwks_file_need_allow_oct(cli, isolated_env):
    oct_jwk = {"kty": "oct", "kid": "s", "k": b64(SECRET)}
    (isolated_env / "oct.json").write_text(json.dumps({"keys": [oct_jwk]}))
    token = hs(later(), kid="s")
    assert_one_line_error(cli("verify", "--jwks", "oct.json", token), 7, "--allow-oct")
    result = cli("verify", "--jwks", "oct.json", "--allow-oct", token)
    assert result.exit_code == 0, result.stderr
    # beside a public key, the secret is skipped with a note, and cannot verify
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    mixed = {"keys": [oct_jwk, public_jwk(rsa_key, "RS256") | {"kid": "r"}]}
    (isolated_env / "mixed.json").write_text(json.dumps(mixed))
    result = cli("verify", "--jwks", "mixed.json", token)
    assert result.exit_code == 4 and "skipped" in result.stderr and "allow-oct" in result.stderr


def test_item11_b64_false_without_crit_is_refused(cli, store_path):
    # PyJWT would sign the payload unencoded; this one is signed over the usual base64url text,
    # so a verifier that ignores b64 accepts it
    token = signed(json.dumps(later()).encode(), header=b'{"alg":"HS256","b64":false}')
    result = cli("verify", "--json", token)
    assert result.exit_code == 4 and json.loads(result.stdout)["error"] == "crit"
    assert "RFC 7797" in result.stderr


@pytest.mark.parametrize(
    "option",
    [
        ["--issuer-url", "http://admin:hunter2pass@127.0.0.1:9/"],
        ["--issuer-url", "https://admin:hunter2pass@idp.example"],
        ["--jwks", "https://admin:hunter2pass@idp.example/jwks.json"],
        ["--jwks", "http://admin:hunter2pass@127.0.0.1:9/jwks.json"],
    ],
)
def test_item11_credentials_in_a_url_are_never_repeated(cli, option):
    result = cli("verify", *option, hs(later()))
    assert_one_line_error(result, 2, "credentials")
    assert "hunter2pass" not in result.output and "admin" not in result.output


# -- item 12: keys jwks leaves alg out for RSA keys ------------------------------------------


@pytest.mark.parametrize("generated", ["PS256", "RS256"])
def test_item12_rsa_keys_published_without_alg_verify_every_rsa_algorithm(
    cli, isolated_env, generated
):
    from oauthcli.keys import load_pem

    assert cli("keys", "generate", "--alg", generated, "--out", "k.pem").exit_code == 0
    result = cli("keys", "jwks", "k.pem")
    (jwk,) = json.loads(result.stdout)["keys"]
    assert "alg" not in jwk and jwk["kty"] == "RSA"
    (isolated_env / "jwks.json").write_text(result.stdout)
    private = load_pem((isolated_env / "k.pem").read_bytes(), "k.pem")
    for alg in ("PS256", "PS384", "PS512", "RS256", "RS384"):
        token = jwt.encode(later(), private, algorithm=alg, headers={"kid": jwk["kid"]})
        verified = cli("verify", "--jwks", "jwks.json", token)
        assert verified.exit_code == 0, (alg, verified.stderr)
    # --alg still labels the key, and then binds it to that one algorithm
    (isolated_env / "ps.json").write_text(cli("keys", "jwks", "k.pem", "--alg", "PS256").stdout)
    token = jwt.encode(later(), private, algorithm="RS384", headers={"kid": jwk["kid"]})
    assert_one_line_error(cli("verify", "--jwks", "ps.json", token), 4, "RS384")


# -- item 14: wrong results ------------------------------------------------------------------


def test_item14_decode_json_never_prints_infinity(cli):
    token = signed(b'{"sub":"alice","exp":1e400}')
    result = cli("decode", "--json", token)
    assert result.exit_code == 4
    data = strict_json(result.stdout)
    assert data["error"] == "malformed" and "out of range" in data["message"]


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("2YotnFZFEjr1zCsicMWpAA", "opaque"),
        ("eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d", "encrypted"),
    ],
)
def test_item14_decode_json_answers_for_opaque_and_encrypted_tokens(cli, token, reason):
    result = cli("decode", "--json", token)
    assert result.exit_code == 4
    data = strict_json(result.stdout)
    assert data["header"] is None and data["payload"] is None and data["valid"] is False
    assert data["error"] == reason and data["message"]


def test_item14_an_exp_past_the_year_9999_is_not_valid(cli, store_path):
    result = cli("verify", hs({"sub": "alice", "exp": 1e30}))
    assert_one_line_error(result, 4, "beyond the year 9999")


def test_item14_two_lines_on_stdin_are_not_a_jwe_nor_an_opaque_token(cli):
    result = cli("decode", "-", input="a\nb\n")
    assert_one_line_error(result, 4, "line break")
    assert "encrypted" not in result.stderr and "opaque" not in result.stderr


def test_item14_a_token_accepted_within_the_leeway_is_not_said_to_expire_later(cli, store_path):
    token = hs({"sub": "alice", "exp": int(time.time()) - 19})
    result = cli("verify", "--secret-file", "hs256.secret", "--leeway", "2m", token)
    assert result.exit_code == 0, result.stderr
    assert "expires in" not in result.stdout
    assert "expired" in result.stdout and "within the leeway" in result.stdout
    assert "leeway" in result.stderr  # also a warning


# -- item 16 and 17: help and --json warnings ------------------------------------------------


def test_item16_verify_help_lists_every_exit_code_and_commands_show_examples(cli):
    text = cli("verify", "--help").stdout
    assert "Exit codes" in text
    codes = [line.split()[0] for line in text.splitlines() if re.match(r"\s+\d  \S", line)]
    assert codes == ["0", "1", "2", "4", "5", "6", "7"]
    for command in (["verify"], ["decode"], ["keys"], ["keys", "generate"], ["keys", "jwks"]):
        assert "Example" in cli(*command, "--help").stdout, command


def test_item17_verify_json_carries_the_unchecked_audience_warning(cli, store_path):
    result = cli("verify", "--json", "--secret-file", "hs256.secret", hs(later(aud="api")))
    data = json.loads(result.stdout)
    assert data["valid"] is True
    assert len(data["warnings"]) == 1 and "audience not checked" in data["warnings"][0]
    assert "audience not checked" in result.stderr


# -- Done-when: a hostile corpus gets exactly one verdict per line ---------------------------


def _nested(depth: int) -> bytes:
    return b'{"sub":"x","exp":9999999999,"n":' + b"[" * depth + b"]" * depth + b"}"


HOSTILE_PAYLOADS = st.one_of(
    st.sampled_from(
        [
            b'{"x":"\\ud800"}',
            b'{"x":"\\udc00\\ud800"}',
            b'{"sub":"\\u0000","exp":9999999999}',
            b'{"sub":"a\x00b"}',
            b'{"exp":1e400}',
            b'{"exp":-1e400}',
            b'{"exp":1e30}',
            b'{"exp":' + b"9" * 5000 + b"}",
            b'{"exp":' + b"9" * 400 + b"}",
            b'{"sub":"x","exp":9999999999,"n":' + b"1" * 4000 + b"}",
        ]
    ),
    st.integers(1, 3000).map(_nested),
    st.text(max_size=40).map(lambda t: json.dumps({"sub": t, "exp": 9999999999}).encode()),
    st.binary(max_size=40),
)
HS_HEAD = b64(b'{"alg":"HS256"}')
RAW_LINES = st.one_of(
    st.binary(max_size=30).map(lambda b: b"x" + b.replace(b"\n", b"")),
    st.text(max_size=30).map(
        lambda t: b"x" + t.replace("\n", "").encode("utf-8", errors="surrogatepass")
    ),
)
LINES = st.one_of(
    HOSTILE_PAYLOADS.map(lambda p: signed(p).encode()),
    HOSTILE_PAYLOADS.map(lambda p: f"{HS_HEAD}.{b64(p)}.c2ln".encode()),  # bad signature
    RAW_LINES,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(LINES, min_size=1, max_size=10))
@example([signed(b'{"sub": "\\u0085", "exp": 9999999999}').encode()])  # NEL split a line once
@example([SURROGATE.encode(), b"x\x00\r\xed\xa0\x80", signed(_nested(2000)).encode()])
def test_batch_gives_exactly_one_verdict_per_line_of_a_hostile_corpus(store_path, lines):
    data = b"\n".join(lines) + b"\n"
    result = run_bytes("verify", "--secret-file", "hs256.secret", "--batch", "-", input=data)
    verdicts = [strict_json(v) for v in result.stdout.splitlines()]
    assert [v["line"] for v in verdicts] == list(range(1, len(lines) + 1))
    # The documented exit: 0 when all are valid, 5 when every failure is a time check, else 4.
    failures = {v["error"] for v in verdicts if not v["valid"]}
    time_only = failures <= {"expired", "not_yet_valid", "too_old"}
    assert result.exit_code == (0 if not failures else 5 if time_only else 4), result.stderr
    assert all(set(v) >= {"valid", "error", "message", "warnings"} for v in verdicts)
    (store_path.parent / "corpus.txt").write_bytes(data)  # the file path reads the same
    from_file = run_bytes(
        "verify", "--secret-file", "hs256.secret", "--batch", "corpus.txt", input=b""
    )

    def without_clock(text):  # expires_in moves with the clock between the two runs
        return [
            {k: v for k, v in strict_json(x).items() if k != "expires_in"}
            for x in text.splitlines()
        ]

    assert without_clock(from_file.stdout) == without_clock(result.stdout)
