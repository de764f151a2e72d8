"""The login page in a real browser: headless Chromium through selenium and chromedriver.

Opens an authorization URL, types the credentials, submits; the redirect to the
client's loopback URI carries a code that redeems at /token. Skipped (saying why)
where Chromium or chromedriver is not installed.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.apps_serve.browser import provider_server, public_params, query, redeem

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
        wait_for(chromium, lambda d: d.current_url.startswith(CALLBACK))
        got = query(chromium.current_url)
        assert got["state"] == params["state"] and got["iss"] == op.url
        assert "secret" not in chromium.current_url
        with op.client() as http:
            token = redeem(http, got["code"], verifier, CALLBACK)
        assert token.status_code == 200, token.text
        assert token.json()["scope"] == "openid me" and token.json()["id_token"]

        # The session cookie: the next authorization skips the form.
        verifier, params = public_params(CALLBACK)
        chromium.get(f"{op.url}/authorize?{urlencode({'response_type': 'code', **params})}")
        wait_for(chromium, lambda d: d.current_url.startswith(CALLBACK))
        assert query(chromium.current_url)["state"] == params["state"]


def test_the_page_refuses_to_be_framed(chromium, store_path):
    """Another site that frames the login form gets nothing (clickjacking); a page without
    the headers (the JWKS) frames fine, so the test can tell the difference."""
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
        )

        async def attacker_site(scope: Any, receive: Any, send: Any) -> None:
            await HTMLResponse(page)(scope, receive, send)

        with live_server(attacker_site) as site:
            chromium.get(site.url.replace("127.0.0.1", "localhost"))  # another origin
            wait_for(chromium, lambda d: d.execute_script("return window.framed && window.control"))
            chromium.switch_to.frame(chromium.find_element(By.ID, "g"))
            assert chromium.find_element(By.TAG_NAME, "body").text == '{"keys":[]}'
            chromium.switch_to.default_content()
            chromium.switch_to.frame(chromium.find_element(By.ID, "f"))
            assert chromium.find_elements(By.ID, "password") == []
            assert chromium.find_elements(By.ID, "username") == []
