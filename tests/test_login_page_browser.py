"""The login page in a real browser: headless Chromium through selenium and chromedriver.

Opens an authorization URL, types the credentials, submits; the redirect to the
client's loopback URI carries a code that redeems at /token. Skipped (saying why)
where Chromium or chromedriver is not installed.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.apps_serve.browser import hidden_fields, provider_server, public_params, query, redeem

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CALLBACK = "http://127.0.0.1:9/callback"  # port 9 (discard): nothing answers, the URL stays


def chromium_flags(profile_dir: str) -> list[str]:
    return [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile_dir}", "--window-size=900,760",
        "--no-proxy-server",
    ]  # fmt: skip


@pytest.fixture
def chromium() -> Iterator[Any]:
    with chromium_driver() as driver:
        yield driver


@contextmanager
def chromium_driver() -> Iterator[Any]:
    """Headless Chromium through chromedriver (skips, saying why, where either is missing)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.skip(f"needs Debian's chromium and chromium-driver packages ({', '.join(missing)})")
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (test extra)")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="oauthcli-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in chromium_flags(profile):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver: Any, condition: Any, timeout: float = 30) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def sign_in(driver: Any, username: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "username").clear()
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def test_log_in_through_the_page_and_redeem_the_code(chromium, store_path, tmp_path):
    from selenium.webdriver.common.by import By

    with provider_server(store_path) as op:
        verifier, params = public_params(CALLBACK, scope="openid me")
        chromium.get(f"{op.url}/authorize?{urlencode({'response_type': 'code', **params})}")
        wait_for(chromium, lambda d: d.find_elements(By.ID, "password"))
        assert chromium.title == "Sign in · oauthcli"
        shot = tmp_path / "login.png"
        chromium.save_screenshot(str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        sign_in(chromium, "alice", "not-her-password")
        alert = wait_for(chromium, lambda d: d.find_elements(By.CSS_SELECTOR, ".alert"))
        assert alert[0].text == "Incorrect username or password."
        assert chromium.find_element(By.ID, "password").get_attribute("value") == ""

        sign_in(chromium, "alice", "secret")
        allow(chromium)
        wait_for(chromium, lambda d: d.current_url.startswith(CALLBACK))
        got = query(chromium.current_url)
        assert got["state"] == params["state"] and got["iss"] == op.url
        assert "secret" not in chromium.current_url
        with op.client() as http:
            token = redeem(http, got["code"], verifier, CALLBACK)
        assert token.status_code == 200, token.text
        assert token.json()["scope"] == "openid me" and token.json()["id_token"]

        # The session cookie and the consent: the next authorization skips both pages.
        verifier, params = public_params(CALLBACK, scope="openid me")
        chromium.get(f"{op.url}/authorize?{urlencode({'response_type': 'code', **params})}")
        wait_for(chromium, lambda d: d.current_url.startswith(CALLBACK))
        assert query(chromium.current_url)["state"] == params["state"]


def allow(driver: Any, decision: str = "approve") -> None:
    """Press Allow (or Deny) on the consent page, which must come up."""
    from selenium.webdriver.common.by import By

    wait_for(driver, lambda d: d.title == "Allow access? · oauthcli")
    driver.find_element(By.CSS_SELECTOR, f"button[value={decision}]").click()


def authorize_url(op: Any, redirect_uri: str, **extra: str) -> tuple[str, dict[str, str]]:
    _, params = public_params(redirect_uri, **extra)
    return f"{op.url}/authorize?{urlencode({'response_type': 'code', **params})}", params


def test_consent_is_asked_once_per_client_and_scopes(chromium, store_path):
    from selenium.webdriver.common.by import By

    with provider_server(store_path) as op:
        url, _ = authorize_url(op, CALLBACK, scope="openid me")
        chromium.get(url)
        wait_for(chromium, lambda d: d.find_elements(By.ID, "password"))
        sign_in(chromium, "alice", "secret")
        wait_for(chromium, lambda d: d.title == "Allow access? · oauthcli")
        scopes = chromium.find_elements(By.CSS_SELECTOR, ".scopes li")
        assert [s.text for s in scopes] == ["openid", "me"]
        assert "web-app" in chromium.find_element(By.TAG_NAME, "main").text
        allow(chromium)
        wait_for(chromium, lambda d: d.current_url.startswith(CALLBACK))
        assert "code" in query(chromium.current_url)

        # Second time, same client and scopes: straight back with a code, no page at all.
        url, params = authorize_url(op, CALLBACK, scope="openid me")
        chromium.get(url)
        wait_for(chromium, lambda d: d.current_url.startswith(CALLBACK))
        assert query(chromium.current_url)["state"] == params["state"]
        assert "code" in query(chromium.current_url)

        # prompt=none for scopes alice never allowed, or for a refresh token: consent_required.
        for scope in ("openid me items", "openid me offline_access"):
            url, params = authorize_url(op, CALLBACK, scope=scope, prompt="none")
            chromium.get(url)
            wait_for(chromium, lambda d: d.current_url.startswith(CALLBACK))
            got = query(chromium.current_url)
            assert got["error"] == "consent_required" and "code" not in got, scope
            assert got["state"] == params["state"]

        # Without prompt=none, more scopes need the password again, then the page; Deny
        # tells the client access_denied.
        url, params = authorize_url(op, CALLBACK, scope="openid me items")
        chromium.get(url)
        wait_for(chromium, lambda d: d.find_elements(By.ID, "password"))
        sign_in(chromium, "alice", "secret")
        allow(chromium, "deny")
        wait_for(chromium, lambda d: d.current_url.startswith(CALLBACK))
        assert query(chromium.current_url)["error"] == "access_denied"


def recording_site(seen: list[dict[str, str]]) -> Any:
    """An ASGI app that records the cookies each request brings, answering a small page."""
    from starlette.requests import Request
    from starlette.responses import HTMLResponse

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append({"path": scope["path"], **Request(scope).cookies})
        await HTMLResponse("<title>client</title>callback")(scope, receive, send)

    return app


def test_the_session_cookie_does_not_reach_other_local_servers(chromium, store_path):
    """Cookies do not isolate ports (RFC 6265 8.5): the client's callback server on another
    127.0.0.1 port must not receive the provider's session, and a session replayed from
    elsewhere grants nothing the user did not allow."""
    import httpx

    from tests.live_server import live_server

    seen: list[dict[str, str]] = []
    with provider_server(store_path) as op, live_server(recording_site(seen)) as app:
        callback = f"{app.url}/callback"
        url, _ = authorize_url(op, callback, scope="openid me")
        chromium.get(url)
        sign_in(chromium, "alice", "secret")
        allow(chromium)
        wait_for(chromium, lambda d: d.current_url.startswith(callback) and seen)
        assert [name for c in seen for name in c if "session" in name] == []  # the callback

        # A local server that asks for the provider's path does get it (cookies do not
        # isolate ports), and replays it at /authorize: nothing the user did not allow.
        chromium.get(f"{app.url}/authorize")
        wait_for(chromium, lambda d: any(c["path"] == "/authorize" for c in seen))
        got = next(c for c in seen if c["path"] == "/authorize")
        stolen = {k: v for k, v in got.items() if k.startswith("oauthcli_session")}
        assert stolen
        with httpx.Client(base_url=op.url, trust_env=False, cookies=stolen) as thief:
            for scope, prompt in (("openid me offline_access", "none"), ("me items", "none")):
                _, params = public_params(callback, scope=scope, prompt=prompt)
                answer = thief.get("/authorize", params={"response_type": "code", **params})
                assert answer.status_code == 302
                assert query(answer.headers["location"])["error"] == "consent_required"
            _, params = public_params(callback, scope="openid me offline_access")
            answer = thief.get("/authorize", params={"response_type": "code", **params})
            assert answer.status_code == 200 and 'id="password"' in answer.text  # no code


def test_a_tossed_cookie_and_a_forged_login_form_are_refused(chromium, store_path):
    """Login CSRF: a page on another 127.0.0.1 port sets the cookie a double-submit check
    would compare, and posts the attacker's own login form from the victim's browser."""
    import httpx
    from selenium.webdriver.common.by import By
    from starlette.responses import HTMLResponse

    from tests.live_server import live_server

    with provider_server(store_path) as op:
        with httpx.Client(base_url=op.url, trust_env=False) as attacker:
            _, params = public_params(CALLBACK, scope="me")
            page = attacker.get("/authorize", params={"response_type": "code", **params})
            fields = hidden_fields(page.text)
            tossed = attacker.cookies.get("oauthcli_csrf") or fields["csrf"]
        inputs = "".join(
            f'<input type="hidden" name="{k}" value="{v}">'
            for k, v in {**fields, "username": "johndoe", "password": "secret"}.items()
        )
        evil = (
            f"<script>document.cookie = 'oauthcli_csrf={tossed}; path=/';</script>"
            f"<form id=f method=post action='{op.url}/login'>{inputs}</form>"
            "<script>document.getElementById('f').submit();</script>"
        )

        async def attacker_site(scope: Any, receive: Any, send: Any) -> None:
            await HTMLResponse(evil)(scope, receive, send)

        with live_server(attacker_site) as site:
            chromium.get(site.url)
            wait_for(chromium, lambda d: d.current_url.startswith(op.url))
            main = wait_for(chromium, lambda d: d.find_elements(By.TAG_NAME, "main"))
            assert "could not be verified" in main[0].text
        # The victim is not signed in as the attacker: the provider asks for a password.
        url, _ = authorize_url(op, CALLBACK, scope="me")
        chromium.get(url)
        wait_for(chromium, lambda d: d.find_elements(By.ID, "password"))
        assert not chromium.current_url.startswith(CALLBACK)


def test_the_page_refuses_to_be_framed(chromium, store_path):
    """Another site that frames the login form or /docs gets nothing (clickjacking); a page
    without the headers (the JWKS) frames fine, so the test can tell the difference."""
    from selenium.webdriver.common.by import By
    from starlette.responses import HTMLResponse

    from tests.live_server import live_server

    with provider_server(store_path) as op:
        _, params = public_params(CALLBACK)
        target = f"{op.url}/authorize?{urlencode({'response_type': 'code', **params})}"
        page = (
            f"<iframe id=f onload='window.framed=true' src='{target}'></iframe>"
            f"<iframe id=g onload='window.control=true' src='{op.url}/.well-known/jwks.json'>"
            "</iframe>"
            f"<iframe id=d onload='window.docs=true' src='{op.url}/docs'></iframe>"
        )

        async def attacker_site(scope: Any, receive: Any, send: Any) -> None:
            await HTMLResponse(page)(scope, receive, send)

        with live_server(attacker_site) as site:
            chromium.get(site.url.replace("127.0.0.1", "localhost"))  # another origin
            wait_for(
                chromium,
                lambda d: d.execute_script("return window.framed && window.control && window.docs"),
            )
            chromium.switch_to.frame(chromium.find_element(By.ID, "g"))
            assert chromium.find_element(By.TAG_NAME, "body").text == '{"keys":[]}'
            chromium.switch_to.default_content()
            chromium.switch_to.frame(chromium.find_element(By.ID, "f"))
            assert chromium.find_elements(By.ID, "password") == []
            assert chromium.find_elements(By.ID, "username") == []
            chromium.switch_to.default_content()
            chromium.switch_to.frame(chromium.find_element(By.ID, "d"))
            assert chromium.find_elements(By.ID, "swagger-ui") == []
