"""advance(): one provider clock decides everything by time, moved without sleeping.

A real ``oauthcli serve --control`` (the plugin's ``oauthcli_provider``); each test
observes the effect over HTTP as a client would, before and after ``advance``.
"""

from __future__ import annotations

import httpx
import pytest

from oauthcli import pytest_plugin
from oauthcli.store import Client
from tests.apps_serve.browser import hidden_fields, pkce, query

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CALLBACK = "http://127.0.0.1:53682/callback"


@pytest.fixture
def users(oauthcli_store):
    oauthcli_store.add_user("alice", "wonderland", scopes=["me"])
    oauthcli_store.add_client("svc", "svc-secret-value", scopes=["me"])
    with oauthcli_store.store.edit() as data:
        data.clients["web"] = Client("web", scopes=["me"], public=True, redirect_uris=[CALLBACK])
    return oauthcli_store


def login(http: httpx.Client) -> dict:
    form = {"grant_type": "password", "username": "alice", "password": "wonderland"}
    answer = http.post("/token", data=form)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_access_tokens_expire_for_users_me_and_introspection(users, oauthcli_provider):
    ttl = users.settings.access_ttl
    with oauthcli_provider.client() as http:
        token = login(http)["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert http.get("/users/me", headers=bearer).status_code == 200
        oauthcli_provider.advance(ttl - 120)  # 2 min of real time to spare on a loaded machine
        assert http.get("/users/me", headers=bearer).status_code == 200
        oauthcli_provider.advance(121)
        assert http.get("/users/me", headers=bearer).status_code == 401
        active = http.post("/introspect", data={"token": token}, auth=("svc", "svc-secret-value"))
        assert active.json() == {"active": False}
        # a token issued now lives from the moved clock on
        fresh = login(http)
        assert (
            http.get(
                "/users/me", headers={"Authorization": f"Bearer {fresh['access_token']}"}
            ).status_code
            == 200
        )


def test_a_refresh_token_expires(users, oauthcli_provider):
    with oauthcli_provider.client() as http:
        refresh = login(http)["refresh_token"]
        form = {"grant_type": "refresh_token", "refresh_token": refresh}
        rotated = http.post("/token", data=form)
        assert rotated.status_code == 200, rotated.text
        oauthcli_provider.advance(users.settings.refresh_ttl + 1)
        form["refresh_token"] = rotated.json()["refresh_token"]
        refused = http.post("/token", data=form)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    refreshes = oauthcli_provider.requests_to("token", grant_type="refresh_token")
    assert [r["status"] for r in refreshes] == [200, 400]


def test_a_device_code_expires(users, oauthcli_provider):
    auth = ("svc", "svc-secret-value")
    with oauthcli_provider.client() as http:
        grant = http.post("/device_authorization", data={"scope": "me"}, auth=auth).json()
        poll = {"grant_type": DEVICE_GRANT, "device_code": grant["device_code"]}
        assert http.post("/token", data=poll, auth=auth).json()["error"] == "authorization_pending"
        oauthcli_provider.advance(grant["expires_in"] + 1)
        assert http.post("/token", data=poll, auth=auth).json()["error"] == "expired_token"


def test_an_authorization_code_expires(users, oauthcli_provider):
    verifier, challenge = pkce()
    params = {
        "response_type": "code", "client_id": "web", "redirect_uri": CALLBACK, "scope": "me",
        "state": "s1", "code_challenge": challenge, "code_challenge_method": "S256",
    }  # fmt: skip
    with oauthcli_provider.client() as http:
        page = http.get("/authorize", params=params)
        form = {**hidden_fields(page.text), "username": "alice", "password": "wonderland"}
        code = query(http.post("/login", data=form).headers["location"])["code"]
        oauthcli_provider.advance(61)  # codes live 60 s
        redeemed = http.post(
            "/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
                  "code_verifier": verifier, "client_id": "web"},
        )  # fmt: skip
        assert redeemed.status_code == 400 and redeemed.json()["error"] == "invalid_grant"


def test_a_lockout_ends_when_the_clock_passes_it(users):
    serving = pytest_plugin.run_provider(users, "--max-failures", "2", "--lockout", "10m")
    with serving as provider, provider.client() as http:
        wrong = {"grant_type": "password", "username": "alice", "password": "nope"}
        for _ in range(2):
            assert http.post("/token", data=wrong).status_code == 400
        locked = http.post("/token", data={**wrong, "password": "wonderland"})
        assert locked.status_code == 429
        provider.advance(601)
        assert login(http)["token_type"].lower() == "bearer"


def test_the_clock_and_faults_hold_across_workers(users):
    """Two workers share the SQLite state: what one was told, the other does."""
    with pytest_plugin.run_provider(users, "--workers", "2") as provider:
        with provider.client() as http:
            token = login(http)["access_token"]
        provider.advance(users.settings.access_ttl + 1)
        provider.fail_next("token", "invalid_grant", times=0)
        workers: set[int] = set()
        for _ in range(200):  # new connections until both workers have answered
            with provider.client() as http:
                form = {"username": "alice", "password": "wonderland"}
                assert http.post("/token", data=form).status_code == 400
                me = http.get("/users/me", headers={"Authorization": f"Bearer {token}"})
                assert me.status_code == 401
            workers = {r["worker"] for r in provider.requests_to("token")[1:]}
            if len(workers) == 2:
                break
        assert len(workers) == 2
        assert provider.clear_faults() == 1
        with provider.client() as http:
            assert login(http)


def test_a_login_session_expires(users, oauthcli_provider):
    """The login page's session skips the form until --session-ttl (8 h) has passed."""
    _, challenge = pkce()
    params = {
        "response_type": "code", "client_id": "web", "redirect_uri": CALLBACK, "scope": "me",
        "state": "s1", "code_challenge": challenge, "code_challenge_method": "S256",
    }  # fmt: skip
    with oauthcli_provider.client() as browser:  # keeps the session cookie
        page = browser.get("/authorize", params=params)
        form = {**hidden_fields(page.text), "username": "alice", "password": "wonderland"}
        assert "code" in query(browser.post("/login", data=form).headers["location"])
        silent = {**params, "prompt": "none"}
        assert "code" in query(browser.get("/authorize", params=silent).headers["location"])
        oauthcli_provider.advance(8 * 3600 + 1)
        ended = query(browser.get("/authorize", params=silent).headers["location"])
        assert ended["error"] == "login_required"


def test_a_fault_for_n_requests_answers_exactly_n_of_a_concurrent_burst(users):
    """Each fault is spent atomically in the shared state: two workers, 24 requests at
    once, ``times=5``: exactly five are refused, whichever worker takes them."""
    from concurrent.futures import ThreadPoolExecutor

    with pytest_plugin.run_provider(users, "--workers", "2") as provider:
        provider.fail_next("token", "invalid_grant", times=5)

        def attempt(_: int) -> int:
            with provider.client() as http:
                form = {"username": "alice", "password": "wonderland"}
                return http.post("/token", data=form).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(attempt, range(24)))
        assert sorted(statuses).count(400) == 5 and statuses.count(200) == 19
        assert provider.control("faults") == {"faults": []}
        logged = provider.requests_to("token")
        assert len(logged) == 24 and sum(1 for r in logged if r["fault"]) == 5
