"""Pushed authorization requests (RFC 9126) at ``oauthcli serve``: ``POST /par`` then ``/authorize``."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from oauthcli.server.provider import REQUEST_URI_PREFIX
from oauthcli.store import UserStore
from tests.apps_serve.browser import (
    CONF_CB,
    CONFIDENTIAL,
    CONFIDENTIAL_SECRET,
    PUBLIC,
    alert,
    pkce,
    provider_server,
    public_params,
    query,
    redeem,
    submit_login,
)

CONF = (CONFIDENTIAL, CONFIDENTIAL_SECRET)


@pytest.fixture
def op(store_path: Path):
    with provider_server(store_path) as provider:
        yield provider


def push(http: httpx.Client, auth=None, **params: str) -> httpx.Response:
    return http.post("/par", data={"response_type": "code", **params}, auth=auth)


def conf_params(**extra: str) -> tuple[str, dict[str, str]]:
    verifier, challenge = pkce()
    params = {
        "redirect_uri": CONF_CB,
        "state": "st-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scope": "me",
        **extra,
    }
    return verifier, params


def by_reference(http: httpx.Client, client_id: str, request_uri: str, **extra: str):
    return http.get(
        "/authorize", params={"client_id": client_id, "request_uri": request_uri, **extra}
    )


def assert_error_page(response: httpx.Response, fragment: str) -> None:
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert fragment in (alert(response.text) or ""), response.text


def test_a_pushed_request_logs_in_once_and_its_reference_is_single_use(op):
    with op.client() as http:
        verifier, params = conf_params()
        pushed = push(http, auth=CONF, **params)
        assert pushed.status_code == 201, pushed.text
        assert pushed.headers["cache-control"] == "no-store"
        body = pushed.json()
        assert body["request_uri"].startswith(REQUEST_URI_PREFIX)
        assert body["expires_in"] == 60
        # RFC 9126 4: only client_id and request_uri; the pushed parameters are the request
        # (a state given here is ignored)
        page = by_reference(http, CONFIDENTIAL, body["request_uri"], state="not-this-one")
        assert page.status_code == 200, page.text
        answer = submit_login(http, page, "alice", "secret")
        assert answer.status_code == 303, answer.text
        got = query(answer.headers["location"])
        assert answer.headers["location"].startswith(CONF_CB + "?")
        assert got["state"] == "st-1"
        token = redeem(http, got["code"], verifier, CONF_CB, client_id=CONFIDENTIAL, auth=CONF)
        assert token.status_code == 200, token.text
        assert token.json()["scope"] == "me"
        again = by_reference(http, CONFIDENTIAL, body["request_uri"])
        assert_error_page(again, "request_uri is unknown, expired or already used")


def test_a_public_client_pushes_with_its_client_id(op):
    with op.client() as http:
        verifier, params = public_params()
        pushed = push(http, **params)
        assert pushed.status_code == 201, pushed.text
        page = by_reference(http, PUBLIC, pushed.json()["request_uri"])
        answer = submit_login(http, page, "alice", "secret")
        got = query(answer.headers["location"])
        assert redeem(http, got["code"], verifier, params["redirect_uri"]).status_code == 200


def test_the_reference_expires_on_the_provider_clock(op):
    with op.client() as http:
        _, params = conf_params()
        request_uri = push(http, auth=CONF, **params).json()["request_uri"]
        op.clock.advance(61)
        assert_error_page(by_reference(http, CONFIDENTIAL, request_uri), "expired")


def test_another_clients_reference_is_refused(op):
    with op.client() as http:
        _, params = conf_params()
        request_uri = push(http, auth=CONF, **params).json()["request_uri"]
        assert_error_page(by_reference(http, PUBLIC, request_uri), "request_uri is unknown")
        # and it was consumed by the attempt: the reference is single-use whoever tries
        assert_error_page(by_reference(http, CONFIDENTIAL, request_uri), "already used")


def test_client_authentication_is_the_token_endpoints(op):
    with op.client() as http:
        _, params = conf_params()
        wrong = push(http, auth=(CONFIDENTIAL, "not-the-secret-0123456789"), **params)
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "invalid_client"
        unauthenticated = push(http, client_id=CONFIDENTIAL, **params)
        assert unauthenticated.status_code == 401
        assert unauthenticated.json()["error"] == "invalid_client"
        nobody = push(http, **params)
        assert nobody.status_code == 401


@pytest.mark.parametrize(
    ("change", "error", "fragment"),
    [
        ({"redirect_uri": "https://evil.example/cb"}, "invalid_request", "redirect_uri"),
        ({"scope": "admin"}, "invalid_scope", "admin"),
        ({"response_type": "token"}, "unsupported_response_type", "response_type=code"),
        ({"code_challenge_method": "plain"}, "invalid_request", "S256"),
        ({"request_uri": REQUEST_URI_PREFIX + "x" * 40}, "invalid_request", "request_uri"),
        ({"resource": "https://unknown.example/api"}, "invalid_target", "unknown.example"),
    ],
)
def test_pushed_requests_get_the_checks_of_authorize_as_json(op, change, error, fragment):
    with op.client() as http:
        _, params = conf_params()
        answer = push(http, auth=CONF, **{**params, **change})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == error
        assert fragment in answer.json()["error_description"]


def test_a_client_that_requires_par_is_refused_at_authorize_without_it(store_path):
    with provider_server(store_path) as op:
        with UserStore(store_path).edit() as data:
            data.clients[PUBLIC].require_pushed_authorization_requests = True
        with op.client() as http:
            _, params = public_params()
            direct = http.get("/authorize", params={"response_type": "code", **params})
            assert direct.status_code == 302
            got = query(direct.headers["location"])
            assert got["error"] == "invalid_request"
            assert "pushed_authorization_request_endpoint" in got["error_description"]
            assert got["state"] == params["state"]
            pushed = push(http, **params)
            page = by_reference(http, PUBLIC, pushed.json()["request_uri"])
            assert page.status_code == 200, page.text


def test_serve_wide_requirement_is_in_discovery_and_enforced(store_path):
    with (
        provider_server(store_path, provider_options={"require_par": True}) as op,
        op.client() as http,
    ):
        meta = http.get("/.well-known/openid-configuration").json()
        assert meta["pushed_authorization_request_endpoint"] == op.url + "/par"
        assert meta["require_pushed_authorization_requests"] is True
        _, params = conf_params()
        direct = http.get(
            "/authorize", params={"response_type": "code", "client_id": CONFIDENTIAL, **params}
        )
        assert query(direct.headers["location"])["error"] == "invalid_request"


def test_discovery_offers_par_without_requiring_it(op):
    with op.client() as http:
        meta = http.get("/.well-known/oauth-authorization-server").json()
    assert meta["pushed_authorization_request_endpoint"] == op.url + "/par"
    assert meta["require_pushed_authorization_requests"] is False


def test_a_dpop_proof_at_par_binds_the_code_to_its_key(op):
    """RFC 9449 10.1: the proof sent with the push binds the code as dpop_jkt would: it is
    redeemed only with a proof of that key."""
    from oauthcli.dpop import ProofKey

    pushed_with, other = ProofKey.generate(), ProofKey.generate()
    with op.client() as http:
        verifier, params = public_params()
        # the provider's clock is the hand-moved one: proofs are made at its time
        proof = pushed_with.proof("POST", op.url + "/par", now=op.clock())
        pushed = http.post(
            "/par", data={"response_type": "code", **params}, headers={"DPoP": proof}
        )
        assert pushed.status_code == 201, pushed.text
        page = by_reference(http, PUBLIC, pushed.json()["request_uri"])
        code = query(submit_login(http, page, "alice", "secret").headers["location"])["code"]
        wrong = other.proof("POST", op.url + "/token", now=op.clock())
        refused = http.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": PUBLIC,
                "redirect_uri": params["redirect_uri"],
                "code_verifier": verifier,
            },
            headers={"DPoP": wrong},
        )
        assert refused.status_code == 400, refused.text
        assert "another DPoP key" in refused.json()["error_description"]


def test_a_bad_dpop_proof_at_par_is_refused(op):
    from oauthcli.dpop import ProofKey

    with op.client() as http:
        _, params = public_params()
        elsewhere = ProofKey.generate().proof("POST", op.url + "/token", now=op.clock())
        answer = http.post(
            "/par", data={"response_type": "code", **params}, headers={"DPoP": elsewhere}
        )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_dpop_proof"
