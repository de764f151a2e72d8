"""The device authorization grant (RFC 8628) of ``oauthcli serve`` over real HTTP, every state."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from oauthcli.server import LoginThrottle
from oauthcli.store import UserStore
from tests.apps_serve.browser import (
    CONFIDENTIAL,
    CONFIDENTIAL_SECRET,
    PUBLIC,
    Clock,
    alert,
    hidden_fields,
    provider_server,
    submit_login,
)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def op(store_path: Path):
    with provider_server(store_path) as provider:
        yield provider


def start(http: httpx.Client, scope: str | None = "me offline_access", **extra: str) -> dict:
    data = {"client_id": PUBLIC, **extra}
    if scope is not None:
        data["scope"] = scope
    response = http.post("/device_authorization", data=data)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.json()


def poll(http: httpx.Client, device_code: str, client_id: str = PUBLIC) -> httpx.Response:
    return http.post(
        "/token",
        data={"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": client_id},
    )


def error_of(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    return response.json()["error"]


def enter_code(browser: httpx.Client, user_code: str) -> httpx.Response:
    entry = browser.get("/device")
    assert entry.status_code == 200
    assert entry.headers["x-frame-options"] == "DENY"
    return browser.post("/device", data={**hidden_fields(entry.text), "user_code": user_code})


def decide(browser: httpx.Client, confirm_page: httpx.Response, decision: str) -> httpx.Response:
    assert "Allow this device?" in confirm_page.text, confirm_page.text
    return browser.post(
        "/device/confirm", data={**hidden_fields(confirm_page.text), "decision": decision}
    )


def test_device_flow_from_code_to_tokens(op):
    with op.client() as device, op.client() as browser:
        grant = start(device)
        assert set(grant) == {
            "device_code", "user_code", "verification_uri", "verification_uri_complete",
            "expires_in", "interval",
        }  # fmt: skip
        assert re.fullmatch(
            r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}", grant["user_code"]
        )
        assert grant["verification_uri"] == op.url + "/device"
        assert grant["verification_uri_complete"] == (
            f"{op.url}/device?user_code={grant['user_code']}"
        )
        assert grant["expires_in"] == 600 and grant["interval"] == 5
        assert error_of(poll(device, grant["device_code"])) == "authorization_pending"

        # The person opens verification_uri_complete: the code is filled in.
        entry = browser.get(grant["verification_uri_complete"])
        assert f'value="{grant["user_code"]}"' in entry.text
        typed = grant["user_code"].lower().replace("-", " ")  # typed loosely
        login = browser.post("/device", data={**hidden_fields(entry.text), "user_code": typed})
        assert 'name="password"' in login.text and PUBLIC in login.text
        confirm = submit_login(browser, login, "alice", "secret")
        assert confirm.status_code == 200
        assert grant["user_code"] in confirm.text and "alice" in confirm.text
        op.clock.advance(5)
        assert error_of(poll(device, grant["device_code"])) == "authorization_pending"
        done = decide(browser, confirm, "approve")
        assert done.status_code == 200 and "Device connected" in done.text

        op.clock.advance(5)
        tokens = poll(device, grant["device_code"])
        assert tokens.status_code == 200, tokens.text
        body = tokens.json()
        assert body["scope"] == "me offline_access" and body["refresh_token"]
        me = device.get("/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert me.json()["username"] == "alice"
        # A device code is redeemed once.
        op.clock.advance(5)
        assert error_of(poll(device, grant["device_code"])) == "invalid_grant"
        # The user code is used up too.
        again = enter_code(browser, grant["user_code"])
        assert again.status_code == 400


def test_polling_too_fast_is_slow_down_and_the_interval_grows(op):
    with op.client() as device:
        code = start(device)["device_code"]
        assert error_of(poll(device, code)) == "authorization_pending"
        op.clock.advance(4)
        slow = poll(device, code)
        assert error_of(slow) == "slow_down"
        assert "10 s" in slow.json()["error_description"]
        op.clock.advance(9)  # the interval is now 10 s
        assert error_of(poll(device, code)) == "slow_down"  # and now 15 s
        op.clock.advance(15)
        assert error_of(poll(device, code)) == "authorization_pending"


def test_deny_is_access_denied(op):
    with op.client() as device, op.client() as browser:
        grant = start(device)
        confirm = submit_login(browser, enter_code(browser, grant["user_code"]), "alice", "secret")
        done = decide(browser, confirm, "deny")
        assert "Request denied" in done.text
        assert error_of(poll(device, grant["device_code"])) == "access_denied"
        op.clock.advance(5)
        assert error_of(poll(device, grant["device_code"])) == "invalid_grant"


def test_expired_device_code_is_expired_token(op):
    with op.client() as device, op.client() as browser:
        grant = start(device)
        op.clock.advance(grant["expires_in"])
        assert error_of(poll(device, grant["device_code"])) == "expired_token"
        page = enter_code(browser, grant["user_code"])
        assert page.status_code == 400
        assert "not valid or has expired" in (alert(page.text) or "")


def test_the_login_session_goes_straight_to_approve(op):
    with op.client() as device, op.client() as browser:
        first = start(device)
        confirm = submit_login(browser, enter_code(browser, first["user_code"]), "alice", "secret")
        decide(browser, confirm, "approve")
        second = start(device, scope="me")
        confirm = enter_code(browser, second["user_code"])
        assert "Allow this device?" in confirm.text  # no password asked
        decide(browser, confirm, "approve")
        body = poll(device, second["device_code"]).json()
        assert body["scope"] == "me" and "refresh_token" not in body  # no offline_access


def test_wrong_codes_on_the_page_are_refused_then_throttled(store_path):
    throttle = LoginThrottle(max_failures=3, lockout=60, clock=Clock())
    with provider_server(store_path, throttle=throttle) as op, op.client() as browser:
        grant = start(browser)
        for bad in ("BCDF-GHJK", "nonsense", "AAAA-AAAA"):
            page = enter_code(browser, bad)
            assert page.status_code == 400
            assert "not valid or has expired" in (alert(page.text) or "")
        blocked = enter_code(browser, grant["user_code"])
        assert blocked.status_code == 429 and blocked.headers["retry-after"]


def test_device_pages_need_their_csrf_token(op):
    elsewhere = {"origin": "http://127.0.0.1:9", "sec-fetch-site": "same-site"}
    with op.client() as device, op.client() as browser, op.client() as attacker:
        grant = start(device)
        login = enter_code(browser, grant["user_code"])
        fields = hidden_fields(login.text)
        wrong = attacker.post("/login", data={**fields, "csrf": "x" * 43, "username": "alice",
                                              "password": "secret"})  # fmt: skip
        assert wrong.status_code == 400
        forged = browser.post("/login", data={**fields, "username": "alice", "password": "secret"},
                              headers=elsewhere)  # fmt: skip
        assert forged.status_code == 400
        confirm = submit_login(browser, login, "alice", "secret")
        stolen = browser.post(
            "/device/confirm",
            data={**hidden_fields(confirm.text), "decision": "approve"},
            headers=elsewhere,
        )
        assert stolen.status_code == 400
        # A form of another page posted to /login is refused, not a server error.
        entry = browser.get("/device")
        misplaced = browser.post("/login", data={**hidden_fields(entry.text), "username": "alice",
                                                  "password": "secret"})  # fmt: skip
        assert misplaced.status_code == 400
        assert error_of(poll(device, grant["device_code"])) == "authorization_pending"


def test_verification_uri_is_built_on_the_issuer_url_as_discovery_is(store_path):
    with UserStore(store_path).edit() as data:
        data.other["issuer"]["issuer"] = "https://idp.example/tenant"
    with provider_server(store_path) as op, op.client() as http:
        metadata = http.get("/.well-known/openid-configuration").json()
        grant = start(http)
    assert (
        metadata["device_authorization_endpoint"]
        == "https://idp.example/tenant/device_authorization"
    )
    assert grant["verification_uri"] == "https://idp.example/tenant/device"
    assert grant["verification_uri_complete"].startswith("https://idp.example/tenant/device?")


def test_device_authorization_checks_the_client(op, store_path):
    with op.client() as http:
        unknown = http.post("/device_authorization", data={"client_id": "nobody"})
        assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_client"
        anonymous = http.post("/device_authorization", data={"client_id": CONFIDENTIAL})
        assert anonymous.status_code == 401
        ok = http.post(
            "/device_authorization", data={"scope": "me"}, auth=(CONFIDENTIAL, CONFIDENTIAL_SECRET)
        )
        assert ok.status_code == 200
        code = ok.json()["device_code"]
        # Another client cannot poll with it.
        assert error_of(poll(http, code)) == "invalid_grant"
        own = http.post(
            "/token",
            data={"grant_type": DEVICE_GRANT, "device_code": code},
            auth=(CONFIDENTIAL, CONFIDENTIAL_SECRET),
        )
        assert error_of(own) == "authorization_pending"
        scope = http.post("/device_authorization", data={"client_id": PUBLIC, "scope": "admin"})
        assert error_of(scope) == "invalid_scope"
        assert error_of(poll(http, "no-such-code")) == "invalid_grant"
        missing = http.post("/token", data={"grant_type": DEVICE_GRANT, "client_id": PUBLIC})
        assert error_of(missing) == "invalid_request"
        with UserStore(store_path).edit() as data:
            data.clients[PUBLIC].disabled = True
        assert http.post("/device_authorization", data={"client_id": PUBLIC}).status_code == 401


def test_the_example_store_runs_the_readme_flows_under_oauthcli_serve(isolated_env):
    """``oauthcli serve --store users.example.toml``: its public client ``demo-app`` does the
    device flow and the browser flow as the README shows them."""
    import shutil

    from oauthcli.keys import write_new_key
    from tests.apps_serve.browser import pkce, query
    from tests.cli.test_serve_cmd import serve

    root = Path(__file__).resolve().parent.parent
    shutil.copy(root / "users.example.toml", isolated_env / "users.example.toml")
    write_new_key(isolated_env / "demo.pem", "ES256")  # what the Quickstart's first line makes
    args = ("--store", "users.example.toml", "--session-ttl", "30m", "--log-level", "warning")
    with (
        serve(*args, cwd=isolated_env) as (_, url, _),
        httpx.Client(base_url=url, timeout=30, trust_env=False) as http,
    ):
        grant = http.post(
            "/device_authorization", data={"client_id": "demo-app", "scope": "openid me"}
        ).json()
        # The store's configured issuer, as discovery says, not the address it was reached at.
        assert grant["verification_uri"] == "http://127.0.0.1:8000/device"
        entry = http.get(urlsplit(grant["verification_uri_complete"])._replace(netloc="").geturl())
        login = http.post(
            "/device", data={**hidden_fields(entry.text), "user_code": grant["user_code"]}
        )
        confirm = submit_login(http, login, "alice", "secret")
        session_cookie = confirm.headers["set-cookie"]
        assert "max-age=1800" in session_cookie.lower()
        decide(http, confirm, "approve")
        tokens = poll(http, grant["device_code"], "demo-app").json()
        assert tokens["scope"] == "openid me" and tokens["id_token"]

        verifier, challenge = pkce()
        redirect_uri = "http://127.0.0.1:8400/callback"
        answer = http.get(
            "/authorize",
            params={"response_type": "code", "client_id": "demo-app", "redirect_uri": redirect_uri,
                    "code_challenge": challenge, "code_challenge_method": "S256", "state": "s",
                    "scope": "openid me"},
        )  # fmt: skip
        assert answer.status_code == 302  # the session and the consent of the device login
        code = query(answer.headers["location"])["code"]
        token = http.post(
            "/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": "demo-app",
                  "redirect_uri": redirect_uri, "code_verifier": verifier},
        )  # fmt: skip
        assert token.status_code == 200 and token.json()["scope"] == "openid me"
