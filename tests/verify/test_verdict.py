"""The one verdict builder: every outcome's verdict, and the same verdict on every path."""

from __future__ import annotations

import json

import pytest

from oauthcli.errors import TokenError
from oauthcli.verify import verdict
from oauthcli.verify.batch import run_batch
from oauthcli.verify.keyset import key_from_secret
from oauthcli.verify.verifier import Verifier
from tests.verify.helpers import NOW, SECRET, claims, clock, hs

HEADER = {"alg": "HS256", "typ": "JWT"}
VALID = claims()

# (name, token, verifier options, expected verdict); "message" is checked separately.
CASES = [
    (
        "valid",
        hs(VALID),
        {},
        {
            "valid": True,
            "error": None,
            "header": HEADER,
            "payload": VALID,
            "expires_in": 900,
            "warnings": [],
        },
    ),
    (
        "expired: header and payload still shown, expires_in negative",
        hs(claims(exp=NOW - 30)),
        {},
        {
            "valid": False,
            "error": "expired",
            "header": HEADER,
            "payload": claims(exp=NOW - 30),
            "expires_in": -30,
            "warnings": [],
        },
    ),
    (
        "bad signature",
        hs(VALID)[:-4] + "AAAA",
        {},
        {
            "valid": False,
            "error": "signature",
            "header": HEADER,
            "payload": VALID,
            "expires_in": 900,
            "warnings": [],
        },
    ),
    (
        "wrong audience",
        hs(claims(aud="other")),
        {"audience": "api"},
        {
            "valid": False,
            "error": "audience",
            "header": HEADER,
            "payload": claims(aud="other"),
            "expires_in": 900,
            "warnings": [],
        },
    ),
    (
        "no exp",
        hs({"sub": "alice"}),
        {},
        {
            "valid": False,
            "error": "claim",
            "header": HEADER,
            "payload": {"sub": "alice"},
            "expires_in": None,
            "warnings": [],
        },
    ),
    (
        "no exp, allowed",
        hs({"sub": "alice"}),
        {"allow_no_exp": True},
        {
            "valid": True,
            "error": None,
            "header": HEADER,
            "payload": {"sub": "alice"},
            "expires_in": None,
            "warnings": [],
        },
    ),
    (
        "opaque: nothing decoded",
        "2YotnFZFEjr1zCsicMWpAA",
        {},
        {
            "valid": False,
            "error": "opaque",
            "header": None,
            "payload": None,
            "expires_in": None,
            "warnings": [],
        },
    ),
    (
        "malformed: nothing decoded",
        "a.b",
        {},
        {
            "valid": False,
            "error": "malformed",
            "header": None,
            "payload": None,
            "expires_in": None,
            "warnings": [],
        },
    ),
]
MESSAGES = {
    "valid": "signature and claims OK: sub 'alice', expires in 15 min, HS256, shared secret",
    "expired: header and payload still shown, expires_in negative": "token expired 30 s ago",
    "bad signature": "token signature is invalid",
    "wrong audience": "token audience 'other'; expected 'api'",
    "no exp": "token has no exp claim",
    "no exp, allowed": "never expires",
    "opaque: nothing decoded": "token is opaque",
    "malformed: nothing decoded": "3 (JWS) or 5 (JWE)",
}


def verifier(**options) -> Verifier:
    return Verifier([key_from_secret(SECRET)], now=clock(), **options)


@pytest.mark.parametrize(("name", "token", "options", "expected"), CASES, ids=[c[0] for c in CASES])
def test_verdict_of_each_outcome(name, token, options, expected):
    result, error, found = verifier(**options).evaluate(token)
    assert list(found) == list(verdict.FIELDS)
    assert {k: v for k, v in found.items() if k != "message"} == expected
    assert MESSAGES[name] in found["message"]
    assert (result is None) == (error is not None) == (not expected["valid"])


@pytest.mark.parametrize(("name", "token", "options", "expected"), CASES, ids=[c[0] for c in CASES])
def test_a_batch_line_is_the_same_verdict_with_its_line_number(name, token, options, expected):
    out: list[str] = []
    run_batch(verifier(**options), ["", token], out.append)
    (line,) = "".join(out).splitlines()
    assert list(json.loads(line)) == ["line", *verdict.FIELDS]
    assert json.loads(line) == {"line": 2, **verifier(**options).evaluate(token)[2]}


def test_json_line_is_compact_and_reuses_a_header_text():
    found = verdict.of_error(TokenError("bad", "signature"), None, NOW)
    assert verdict.json_line(found) == (
        '{"valid":false,"error":"signature","message":"bad","header":null,'
        '"payload":null,"expires_in":null,"warnings":[]}'
    )
    _, _, valid = verifier().evaluate(hs(VALID))
    text = verdict.json_line(valid, 7, encode_header=lambda header: '{"alg":"cached"}')
    assert text.startswith('{"line":7,"valid":true,') and '"header":{"alg":"cached"}' in text
    assert "é" in verdict.json_line({**valid, "message": "é"})  # UTF-8 kept, not \\u-escaped


def test_a_json_line_stays_one_line_for_every_reader():
    # U+0085, U+2028 and U+2029 are line breaks to str.splitlines(): a batch reader splitting
    # on them would see one verdict as two (found by the hostile-corpus fuzz test)
    _, _, found = verifier().evaluate(hs(claims(sub="a\x85b\u2028c\u2029d")))
    text = verdict.json_line(found, 1)
    assert len(text.splitlines()) == 1
    assert json.loads(text)["payload"]["sub"] == "a\x85b\u2028c\u2029d"
