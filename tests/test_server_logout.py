"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0, issue 23 item 6) at ``serve``:
the hint, the registered post-logout redirect URIs, state, the confirmation page; the
session really ends (a later ``prompt=none`` is ``login_required``)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import httpx
import jwt
import pytest

from oauthcli.keys import write_new_key
from oauthcli.store import UserStore
from tests.apps_serve.browser import (
    CONFIDENTIAL,
    PUBLIC,
    authorize,
    hidden_fields,
    log_in_for_code,
    provider_server,
    public_params,
    query,
    redeem,
)
from tests.conftest import write_store

BYE = "https://app.example/bye?from=op"
OTHER_BYE = "https://conf.example/bye"


@pytest.fixture
def es256_store(isolated_env: Path) -> Path:
    path = isolated_env / "users.toml"
    write_new_key(isolated_env / "signing.pem", "ES256")
    write_store(path, issuer={"algorithm": "ES256", "key_file": "signing.pem"})
    return path


@pytest.fixture
def op(es256_store: Path):
    with provider_server(es256_store) as provider:
        with UserStore(es256_store).edit() as data:
            data.clients[PUBLIC].post_logout_redirect_uris = [BYE]
            data.clients[CONFIDENTIAL].post_logout_redirect_uris = [OTHER_BYE]
        yield provider


def logged_in(http: httpx.Client, username: str = "alice") -> str:
    """Log in through /authorize (a session cookie in ``http``); the ID token."""
    code, verifier, params = log_in_for_code(http, username=username, scope="openid")
    answer = redeem(http, code, verifier, params["redirect_uri"])
    assert answer.status_code == 200, answer.text
    return answer.json()["id_token"]


def silent(http: httpx.Client) -> dict[str, str]:
    """``prompt=none``: what the client's redirect URI is told."""
    _, params = public_params(scope="openid", prompt="none")
    answer = authorize(http, **params)
    assert answer.status_code == 302, answer.text
    return query(answer.headers["location"])


def test_discovery_names_the_end_session_endpoint(op):
    with op.client() as http:
        config = http.get("/.well-known/openid-configuration").json()
    assert config["end_session_endpoint"] == op.url + "/logout"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_logout_with_a_hint_ends_the_session_and_returns_with_state(op, method):
    with op.client() as http:
        id_token = logged_in(http)
        assert "code" in silent(http)  # the session is live
        saved = list(http.cookies.jar)
        params = {"id_token_hint": id_token, "post_logout_redirect_uri": BYE, "state": "s-1",
                  "ui_locales": "fr", "logout_hint": "alice"}  # fmt: skip
        if method == "GET":
            answer = http.get("/logout", params=params)
        else:
            answer = http.post("/logout", data=params)
        assert answer.status_code == (302 if method == "GET" else 303), answer.text
        location = answer.headers["location"]
        assert location.startswith("https://app.example/bye?")
        assert query(location) == {"from": "op", "state": "s-1"}
        assert silent(http)["error"] == "login_required"
    # The old cookie, replayed, names no session any more.
    with op.client() as replay:
        for cookie in saved:
            replay.cookies.jar.set_cookie(cookie)
        assert silent(replay)["error"] == "login_required"


def test_an_expired_hint_is_still_a_hint(op, es256_store):
    with op.client() as http:
        id_token = logged_in(http)
        claims = jwt.decode(id_token, options={"verify_signature": False})
        key = (es256_store.parent / "signing.pem").read_bytes()
        header = jwt.get_unverified_header(id_token)
        expired = jwt.encode(
            {**claims, "iat": 1_000, "exp": 2_000}, key, algorithm="ES256", headers=header
        )
        answer = http.get("/logout", params={"id_token_hint": expired})
        assert answer.status_code == 200 and "<h1>Signed out</h1>" in answer.text
        assert silent(http)["error"] == "login_required"


def test_refused_logout_requests_show_an_error_and_never_redirect(op, isolated_env):
    with op.client() as http:
        id_token = logged_in(http)
        access = redeem(http, *log_in_for_code(http, scope="openid")[:2],
                        public_params()[1]["redirect_uri"]).json()["access_token"]  # fmt: skip
        stranger = isolated_env / "other.pem"
        write_new_key(stranger, "ES256")
        claims = jwt.decode(id_token, options={"verify_signature": False})
        forged = jwt.encode(claims, stranger.read_bytes(), algorithm="ES256")
        cases = [
            ({"id_token_hint": id_token, "post_logout_redirect_uri": "https://evil.example/"},
             "not registered"),
            ({"id_token_hint": id_token, "post_logout_redirect_uri": BYE + "&x=1"},
             "not registered"),
            ({"post_logout_redirect_uri": BYE}, "needs an id_token_hint or a client_id"),
            ({"client_id": CONFIDENTIAL, "id_token_hint": id_token}, "not the audience"),
            ({"client_id": PUBLIC, "post_logout_redirect_uri": OTHER_BYE}, "not registered"),
            ({"id_token_hint": forged}, "not an ID token this server issued"),
            ({"id_token_hint": access}, "not an ID token"),
            ({"id_token_hint": "not-a-jwt"}, "not an ID token"),
        ]  # fmt: skip
        for params, fragment in cases:
            answer = http.get("/logout", params=params)
            assert answer.status_code == 400, (params, answer.text)
            assert "location" not in answer.headers
            assert fragment in answer.text, (params, answer.text)
        assert "code" in silent(http)  # nothing ended the session


def test_without_a_hint_a_confirmation_page_asks(op):
    with op.client() as http:
        logged_in(http)
        query_string = urlencode(
            {"client_id": PUBLIC, "post_logout_redirect_uri": BYE, "state": "s-2"}
        )
        page = http.get(f"/logout?{query_string}")
        assert page.status_code == 200 and "<h1>Sign out?</h1>" in page.text
        assert "code" in silent(http)  # asking ends nothing
        fields = hidden_fields(page.text)
        # A form posted from another site (login CSRF's twin) ends nothing.
        forged = http.post(
            "/logout/confirm", data={**fields, "decision": "logout"},
            headers={"Sec-Fetch-Site": "cross-site"},
        )  # fmt: skip
        assert forged.status_code == 400 and "location" not in forged.headers
        assert "code" in silent(http)
        answer = http.post("/logout/confirm", data={**fields, "decision": "logout"})
        assert answer.status_code == 303
        assert query(answer.headers["location"]) == {"from": "op", "state": "s-2"}
        assert silent(http)["error"] == "login_required"
        # The form is used once.
        again = http.post("/logout/confirm", data={**fields, "decision": "logout"})
        assert again.status_code == 400 and "location" not in again.headers


def test_stay_signed_in_keeps_the_session(op):
    with op.client() as http:
        logged_in(http)
        page = http.get("/logout")
        answer = http.post("/logout/confirm", data={**hidden_fields(page.text), "decision": "stay"})
        assert answer.status_code == 200 and "Still signed in" in answer.text
        assert "code" in silent(http)


def test_a_hint_for_another_user_asks_first(op):
    with op.client() as bob_browser:
        johns_hint = logged_in(bob_browser, "johndoe")
    with op.client() as http:
        logged_in(http)
        page = http.get("/logout", params={"id_token_hint": johns_hint})
        assert "<h1>Sign out?</h1>" in page.text and "alice" in page.text
        assert "code" in silent(http)


def test_the_confirmation_page_in_a_real_browser(op, es256_store):
    """Chromium: log in, open the logout URL without a hint, press Sign out; back at the
    client with state, and the provider asks for the password again."""
    pytest.importorskip("selenium.webdriver", reason="needs selenium (test extra)")
    from selenium.webdriver.common.by import By

    from tests.test_login_page_browser import (
        CALLBACK,
        allow,
        authorize_url,
        chromium_driver,
        sign_in,
        wait_for,
    )

    bye = "http://127.0.0.1:9/bye"  # port 9 (discard): nothing answers, the URL stays
    with UserStore(es256_store).edit() as data:
        data.clients[PUBLIC].post_logout_redirect_uris = [bye]
    with chromium_driver() as chromium:
        url, _ = authorize_url(op, CALLBACK, scope="openid")
        chromium.get(url)
        wait_for(chromium, lambda d: d.find_elements(By.ID, "password"))
        sign_in(chromium, "alice", "secret")
        allow(chromium)
        wait_for(chromium, lambda d: d.current_url.startswith(CALLBACK))

        logout = urlencode({"client_id": PUBLIC, "post_logout_redirect_uri": bye, "state": "s-3"})
        chromium.get(f"{op.url}/logout?{logout}")
        wait_for(chromium, lambda d: d.title == "Sign out? · oauthcli")
        assert "alice" in chromium.find_element(By.TAG_NAME, "main").text
        chromium.find_element(By.CSS_SELECTOR, "button[value=logout]").click()
        wait_for(chromium, lambda d: d.current_url.startswith(bye))
        assert query(chromium.current_url) == {"state": "s-3"}

        url, _ = authorize_url(op, CALLBACK, scope="openid", prompt="none")
        chromium.get(url)
        wait_for(chromium, lambda d: d.current_url.startswith(CALLBACK))
        assert query(chromium.current_url)["error"] == "login_required"
        url, _ = authorize_url(op, CALLBACK, scope="openid")
        chromium.get(url)
        wait_for(chromium, lambda d: d.find_elements(By.ID, "password"))


def test_openid_client_builds_the_logout_url_and_it_ends_the_session(op):
    """panva's openid-client (nobody here wrote it) finds end_session_endpoint by discovery
    and builds the logout URL; following it ends the session."""
    import json
    import shutil
    import subprocess

    from tests.oidc.harness import node_modules

    if shutil.which("node") is None:
        pytest.skip("node is not installed: the openid-client test needs Node.js")
    modules = node_modules("openid-client", "6")
    script = Path(__file__).resolve().parent / "apps_serve" / "oidc_client_logout.mjs"
    with op.client() as http:
        id_token = logged_in(http)
        proc = subprocess.run(
            ["node", str(script), str(modules), op.url, PUBLIC, id_token, BYE, "s-4"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        url = json.loads(proc.stdout)["url"]
        assert url.startswith(op.url + "/logout?")
        answer = http.get(url)
        assert answer.status_code == 302, answer.text
        assert query(answer.headers["location"]) == {"from": "op", "state": "s-4"}
        assert silent(http)["error"] == "login_required"
