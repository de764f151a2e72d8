"""Unverified token parsing: size limit, Bearer prefix, strict base64url/JSON, JWE and opaque."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oauthcli.errors import OAuthCliError, TokenError
from oauthcli.verify.parse import (
    MAX_TOKEN_BYTES,
    b64url_decode,
    decode,
    normalize,
    parse,
)


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token(
    header: str = '{"alg":"HS256"}', payload: str = '{"sub":"alice"}', sig: bytes = b"s"
) -> str:
    return f"{b64(header)}.{b64(payload)}.{b64(sig)}"


HS_HEADER = b64('{"alg":"HS256"}')


def reason(excinfo: pytest.ExceptionInfo[TokenError]) -> str:
    return excinfo.value.reason


def test_decode_returns_header_payload_and_signing_input():
    parsed = decode(token())
    assert parsed.header == {"alg": "HS256"}
    assert parsed.payload == {"sub": "alice"}
    assert parsed.signature == b"s"
    assert parsed.signing_input == token().rsplit(".", 1)[0].encode()


@pytest.mark.parametrize(
    "text",
    [
        "Bearer {t}",
        "bearer {t}",
        "  {t}\n",
        "BEARER   {t}  ",
        "\tBearer {t}\r\n",
        "Bearer\t{t}",
        "Authorization: Bearer {t}",
        "authorization:Bearer {t}",
    ],
)
def test_bearer_prefix_and_whitespace_accepted(text):
    assert normalize(text.format(t=token())) == token()


@pytest.mark.parametrize("text", ["   \n", "Bearer", "Bearer ", "Authorization: Bearer  "])
def test_empty_token_is_malformed(text):
    with pytest.raises(TokenError, match="the token is empty") as exc:
        normalize(text)
    assert reason(exc) == "malformed"


def test_bearer_glued_to_the_token_is_not_stripped():
    assert normalize("Bearerx.y.z") == "Bearerx.y.z"


def test_tokens_over_64_kib_refused_before_decoding():
    big = "a" * (MAX_TOKEN_BYTES + 1)
    with pytest.raises(TokenError) as exc:
        normalize(big)
    assert reason(exc) == "too_large"
    assert normalize("a" * MAX_TOKEN_BYTES) == "a" * MAX_TOKEN_BYTES
    with pytest.raises(TokenError) as exc:
        normalize(b"x" * (10 * MAX_TOKEN_BYTES))
    assert reason(exc) == "too_large"


@pytest.mark.parametrize("segment", ["ab+c", "ab/c", "abc=", "a", "ab c", "é", "abcde"])
def test_base64url_is_strict(segment):
    with pytest.raises(TokenError) as exc:
        b64url_decode(segment)
    assert reason(exc) == "malformed"


def test_base64url_roundtrip():
    for n in range(20):
        data = bytes(range(250, 250 - n, -1))
        assert b64url_decode(b64(data)) == data


def test_opaque_token_gets_a_clear_message():
    with pytest.raises(TokenError) as exc:
        decode("2YotnFZFEjr1zCsicMWpAA")
    assert reason(exc) == "opaque"
    assert "not a JWT" in str(exc.value)


def test_jwe_is_recognised_and_its_header_named():
    header = b64('{"alg":"RSA-OAEP","enc":"A256GCM","kid":"k1"}')
    with pytest.raises(TokenError) as exc:
        decode(f"{header}.a.b.c.d")
    assert reason(exc) == "encrypted"
    assert "alg=RSA-OAEP" in str(exc.value) and "enc=A256GCM" in str(exc.value)
    # five parts without a JWE header (one naming "enc") are not "encrypted": just malformed
    for bad in ("!!.a.b.c.d", f"{HS_HEADER}.a.b.c.d"):
        with pytest.raises(TokenError) as exc:
            decode(bad)
        assert reason(exc) == "malformed"


@pytest.mark.parametrize(
    "bad",
    [
        "a.b",
        "a.b.c.d",
        token(header='{"typ":"JWT"}'),
        token(header='{"alg":""}'),
        token(header='{"alg":7}'),
        token(header="[1,2]"),
        token(payload="[]"),
        token(payload="not json"),
        token(payload='{"exp": NaN}'),
        token(payload='{"exp": Infinity}'),
        HS_HEADER + "." + b64(b"\xff\xfe") + ".c2ln",
        HS_HEADER + "." + b64("{}") + ".c2ln!",
    ],
)
def test_malformed_tokens(bad):
    with pytest.raises(TokenError) as exc:
        decode(bad)
    assert reason(exc) == "malformed"


@pytest.mark.parametrize(
    "header,payload",
    [
        ('{"alg":"HS256","alg":"none"}', "{}"),
        ('{"alg":"HS256"}', '{"sub":"alice","sub":"admin"}'),
        ('{"alg":"HS256"}', '{"a":{"x":1,"x":2}}'),
    ],
)
def test_repeated_member_names_are_refused(header, payload):
    with pytest.raises(TokenError) as exc:
        decode(token(header, payload))
    assert reason(exc) == "duplicate_key"


def test_header_cache_reuses_parsed_header():
    cache: dict = {}
    first = parse(token(payload='{"n":1}'), header_cache=cache)
    second = parse(token(payload='{"n":2}'), header_cache=cache)
    assert first.header is second.header
    assert second.payload == {"n": 2}
    assert len(cache) == 1


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_fuzzed_text_only_raises_token_errors(text):
    with contextlib.suppress(TokenError):
        decode(text)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(
                alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                max_size=40,
            ),
            st.binary(max_size=60).map(b64),
            st.dictionaries(
                st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4
            ).map(lambda d: b64(json.dumps(d))),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_fuzzed_segments_only_raise_token_errors(parts):
    try:
        decode(".".join(parts))
    except OAuthCliError as exc:
        assert isinstance(exc, TokenError)


def test_scopes_are_read_as_providers_carry_them():
    from oauthcli.claims import scopes_of

    cases = [
        ({"scope": "a b"}, ["a", "b"]),
        ({"scp": ["a", 1, "b"]}, ["a", "b"]),
        ({"scopes": ["x"]}, ["x"]),
        ({"scope": 5, "scp": ["y"]}, ["y"]),
        ({}, []),
    ]
    for claims, expected in cases:
        assert scopes_of(claims) == expected


# -- what no output could show faithfully is malformed (issue 9 items 4 and 14) ----------------


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ('{"x":"\\ud800"}', "surrogate"),
        ('{"x":["a","\\udfff"]}', "surrogate"),
        ('{"\\ud800":1}', "surrogate"),
        ('{"exp":1e400}', "out of range"),
        ('{"exp":-1e400}', "out of range"),
        ('{"a":' + "[" * 64 + "]" * 64 + "}", "deeper than 64"),
        ('{"a":' * 65 + "1" + "}" * 65, "deeper than 64"),
    ],
)
def test_json_no_output_could_show_is_malformed(payload, fragment):
    with pytest.raises(TokenError, match=fragment) as exc:
        decode(token(payload=payload))
    assert reason(exc) == "malformed"


@pytest.mark.parametrize(
    "payload",
    [
        '{"x":"\\ud83d\\ude00"}',  # a surrogate pair is one character, fine
        '{"x":"\\u0000"}',
        '{"a":' + "[" * 63 + "]" * 63 + "}",  # 64 levels with the object
        '{"n":' + "9" * 4000 + "}",
    ],
)
def test_json_at_the_limits_still_decodes(payload):
    parsed = decode(token(payload=payload))
    json.dumps(parsed.payload, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize("text", ["a\nb", "a b", "eyJ.eyJ\n.sig", "tok\u2028en", "t\u00f6ken"])
def test_whitespace_and_non_ascii_inside_a_token_are_malformed(text):
    with pytest.raises(TokenError) as exc:
        decode(text)
    assert reason(exc) == "malformed"
