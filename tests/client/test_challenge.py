"""WWW-Authenticate parsing: RFC 6750 section 3's examples and what servers send."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from oauthcli.client.challenge import parse, scope_wanted


def test_rfc_6750_examples():
    # RFC 6750 section 3: the two examples, verbatim.
    assert parse('Bearer realm="example"') == [("Bearer", {"realm": "example"})]
    [challenge] = parse(
        'Bearer realm="example", error="invalid_token", '
        'error_description="The access token expired"'
    )
    assert challenge.param("ERROR") == "invalid_token"
    assert challenge.params["error_description"] == "The access token expired"


def test_several_challenges_quoted_commas_and_escapes():
    header = (
        'DPoP algs="ES256 PS256", error="use_dpop_nonce", '
        'Bearer error="insufficient_scope", scope="read, \\"write\\"", Basic realm=x'
    )
    challenges = parse(header)
    assert [c.scheme for c in challenges] == ["DPoP", "Bearer", "Basic"]
    assert challenges[1].params == {"error": "insufficient_scope", "scope": 'read, "write"'}
    assert scope_wanted(header) == ('read, "write"', True)  # the DPoP one names no scope
    assert scope_wanted('Bearer error="insufficient_scope", scope="items"') == ("items", True)
    assert scope_wanted('Bearer scope="me items"') == ("me items", False)
    assert scope_wanted("Basic realm=x") == (None, False)


def test_token68_and_bare_schemes():
    assert parse("Negotiate abc123==, Bearer") == [("Negotiate", {}), ("Bearer", {})]


@given(st.text(max_size=300))
def test_any_header_parses_without_error(header):
    for challenge in parse(header):
        assert challenge.scheme
