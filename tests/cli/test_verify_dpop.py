"""``verify --dpop-proof`` checks a proof against a token as a resource server would (RFC 9449
7.1: signed by the key ``cnf.jkt`` names, ``ath`` the token's hash, for the request), and
``decode``/``verify`` say which key a token is bound to."""

from __future__ import annotations

import json
import time

import jwt

from oauthcli.dpop import ProofKey
from tests.conftest import TEST_SECRET, assert_one_line_error

URL = "https://api.example.test/items?page=2"


def bound_token(jkt: str | None) -> str:
    now = int(time.time())
    claims = {"sub": "alice", "iat": now, "exp": now + 300, "scope": "me"}
    if jkt is not None:
        claims["cnf"] = {"jkt": jkt}
    return jwt.encode(claims, TEST_SECRET, algorithm="HS256", headers={"typ": "at+jwt"})


def test_verify_checks_the_proof_against_the_tokens_binding(cli, store_path):
    key = ProofKey.generate()
    token = bound_token(key.jkt)
    proof = key.proof("GET", URL, access_token=token)
    ok = cli("verify", token, "--dpop-proof", proof, "--htm", "GET", "--htu", URL, "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["valid"] is True and key.jkt in json.loads(ok.stdout)["message"]

    # Another key, another URL, another token: each a one-line refusal, exit 4.
    thief = ProofKey.generate().proof("GET", URL, access_token=token)
    assert_one_line_error(cli("verify", token, "--dpop-proof", thief, "--htm", "GET",
                              "--htu", URL), 4, "another key")  # fmt: skip
    assert_one_line_error(cli("verify", token, "--dpop-proof", proof, "--htm", "GET",
                              "--htu", "https://api.example.test/other"), 4, "another URL")  # fmt: skip
    other = bound_token(key.jkt) + ""
    stale = key.proof("GET", URL, access_token="not-this-token")
    assert_one_line_error(cli("verify", other, "--dpop-proof", stale, "--htm", "GET",
                              "--htu", URL), 4, "ath")  # fmt: skip
    refused = cli("verify", bound_token(None), "--dpop-proof", proof, "--htm", "GET",
                  "--htu", URL, "--json")  # fmt: skip
    assert refused.exit_code == 4
    assert json.loads(refused.stdout)["error"] == "invalid_dpop_proof"
    assert_one_line_error(cli("verify", token, "--dpop-proof", proof), 2, "--htm")


def test_decode_and_verify_show_the_bound_key(cli, store_path):
    key = ProofKey.generate()
    token = bound_token(key.jkt)
    decoded = cli("decode", token)
    assert decoded.exit_code == 0
    assert f"DPoP      bound to the key of thumbprint {key.jkt}" in decoded.stdout
    verified = cli("verify", token)
    assert verified.exit_code == 0 and f"DPoP-bound to key {key.jkt}" in verified.stdout
