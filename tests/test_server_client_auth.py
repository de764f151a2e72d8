"""One client authentication (``oauthcli.server.client_auth``) at every endpoint, over real HTTP.

Issue 20.7: ``/introspect``, ``/revoke`` and the password grant's client check were not
throttled and accepted the right secret while the client was locked out at ``/token``;
throttle keys shared one namespace; a locked-out client was told RFC 8628's ``slow_down``.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from oauthcli.server import LoginThrottle
from tests.apps_serve.browser import (
    CONFIDENTIAL,
    CONFIDENTIAL_SECRET,
    PUBLIC,
    Clock,
    hidden_fields,
    provider_server,
)

WRONG = (CONFIDENTIAL, "not-the-secret")
RIGHT = (CONFIDENTIAL, CONFIDENTIAL_SECRET)
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def op(store_path: Path):
    throttle = LoginThrottle(max_failures=3, lockout=60, clock=Clock())
    with provider_server(store_path, throttle=throttle) as provider:
        yield provider


def _token(http: httpx.Client, auth: tuple[str, str]) -> httpx.Response:
    return http.post("/token", data={"grant_type": "client_credentials"}, auth=auth)


def _introspect(http: httpx.Client, auth: tuple[str, str]) -> httpx.Response:
    return http.post("/introspect", data={"token": "x"}, auth=auth)


def _revoke(http: httpx.Client, auth: tuple[str, str]) -> httpx.Response:
    return http.post("/revoke", data={"token": "x"}, auth=auth)


def _password(http: httpx.Client, auth: tuple[str, str]) -> httpx.Response:
    form = {"grant_type": "password", "username": "alice", "password": "secret"}
    return http.post("/token", data=form, auth=auth)


def _device(http: httpx.Client, auth: tuple[str, str]) -> httpx.Response:
    return http.post("/device_authorization", data={"scope": "me"}, auth=auth)


def _code(http: httpx.Client, auth: tuple[str, str]) -> httpx.Response:
    return http.post("/token", data={"grant_type": "authorization_code", "code": "x"}, auth=auth)


ENDPOINTS = {
    "token": _token,
    "introspect": _introspect,
    "revoke": _revoke,
    "password": _password,
    "device_authorization": _device,
    "authorization_code": _code,
}


def _assert_locked_out(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    # RFC 6749 5.2: the client's authentication is refused; not slow_down (keep polling).
    assert body["error"] == "invalid_client"
    assert 1 <= int(response.headers["retry-after"]) <= 60


@pytest.mark.parametrize("where", sorted(ENDPOINTS))
def test_a_client_locked_out_at_token_is_locked_out_everywhere(op, where):
    with op.client() as http:
        for _ in range(3):
            assert _token(http, WRONG).status_code == 401
        _assert_locked_out(ENDPOINTS[where](http, RIGHT))


@pytest.mark.parametrize("where", sorted(ENDPOINTS))
def test_wrong_secrets_at_any_endpoint_count_against_the_client(op, where):
    with op.client() as http:
        for _ in range(3):
            refused = ENDPOINTS[where](http, WRONG)
            assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        _assert_locked_out(_token(http, RIGHT))


def test_the_right_secret_passes_at_every_endpoint(op):
    with op.client() as http:
        assert _token(http, RIGHT).status_code == 200
        assert _introspect(http, RIGHT).json() == {"active": False}
        assert _revoke(http, RIGHT).status_code == 200
        assert _password(http, RIGHT).status_code == 200
        assert _device(http, RIGHT).status_code == 200
        assert _code(http, RIGHT).json()["error"] == "invalid_grant"


def test_a_username_cannot_lock_out_a_client_or_an_address(op):
    """Keys are namespaced: once, the username ``client conf-app`` was the client's key."""
    with op.client() as http:
        for name in ("client " + CONFIDENTIAL, "client:" + CONFIDENTIAL, "user_code 127.0.0.1"):
            for _ in range(3):
                form = {"grant_type": "password", "username": name, "password": "x"}
                assert http.post("/token", data=form).status_code == 400
            form = {"grant_type": "password", "username": name, "password": "x"}
            assert http.post("/token", data=form).status_code == 429  # the username is locked
        assert _token(http, RIGHT).status_code == 200
        grant = http.post("/device_authorization", data={"client_id": PUBLIC}).json()
        entry = http.get("/device")
        typed = http.post(
            "/device", data={**hidden_fields(entry.text), "user_code": grant["user_code"]}
        )
        assert typed.status_code == 200, typed.text


def _enter(http: httpx.Client, user_code: str) -> httpx.Response:
    entry = http.get("/device")
    return http.post("/device", data={**hidden_fields(entry.text), "user_code": user_code})


def test_entering_ones_own_code_does_not_reset_the_user_code_throttle(op):
    """Otherwise a guesser enters a code of their own after every few guesses, forever."""
    with op.client() as http:
        grant = http.post("/device_authorization", data={"client_id": PUBLIC}).json()
        assert _enter(http, "BCDF-GHJK").status_code == 400
        assert _enter(http, "BCDF-GHJL").status_code == 400
        assert _enter(http, grant["user_code"]).status_code == 200
        assert _enter(http, "BCDF-GHJM").status_code == 400
        blocked = _enter(http, "BCDF-GHJN")
        assert blocked.status_code == 429 and blocked.headers["retry-after"]


def test_one_method_per_request(op):
    with op.client() as http:
        both = http.post(
            "/token",
            data={
                "grant_type": "client_credentials",
                "client_id": CONFIDENTIAL,
                "client_secret": CONFIDENTIAL_SECRET,
            },
            auth=RIGHT,
        )
        assert both.status_code == 400 and both.json()["error"] == "invalid_request"
        posted = http.post(
            "/introspect",
            data={"token": "x", "client_id": CONFIDENTIAL, "client_secret": CONFIDENTIAL_SECRET},
        )
        assert posted.status_code == 200
        other = http.post(
            "/introspect", data={"token": "x", "client_id": PUBLIC}, auth=RIGHT
        )  # a client_id beside Basic must name the same client (RFC 7521 4.2)
        assert other.status_code == 401 and other.json()["error"] == "invalid_client"


def test_public_clients_and_anonymous_callers_get_what_their_endpoint_allows(op):
    with op.client() as http:
        public = http.post("/introspect", data={"token": "x", "client_id": PUBLIC})
        assert public.status_code == 401 and public.json()["error"] == "invalid_client"
        anonymous = http.post("/introspect", data={"token": "x"})
        assert anonymous.status_code == 401
        cc = http.post("/token", data={"grant_type": "client_credentials", "client_id": PUBLIC})
        assert cc.status_code == 401
        # Revocation and the password grant take anybody (RFC 7009 2.1: tokens of no client).
        assert http.post("/revoke", data={"token": "x"}).status_code == 200
        form = {"grant_type": "password", "username": "alice", "password": "secret"}
        assert http.post("/token", data=form).status_code == 200
        # A confidential client naming itself without its secret is refused, not anonymous.
        named = http.post("/token", data={**form, "client_id": CONFIDENTIAL})
        assert named.status_code == 401 and named.json()["error"] == "invalid_client"
