"""Take docs/login-page.png: the login page of ``oauthcli serve`` in headless Chromium.

    .venv/bin/python docs/screenshot_login.py [OUT.png]

Serves a copy of users.example.toml on a free 127.0.0.1 port and opens an
authorization URL for its public client ``demo-app``. Needs Debian's chromium and
chromium-driver packages and selenium (the test extra).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from oauthcli.issuer import settings_for_store
from oauthcli.keys import write_new_key
from oauthcli.server import create_app
from oauthcli.server.run import base_url, bind
from oauthcli.store import UserStore

ROOT = Path(__file__).resolve().parent.parent


def main(out: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="oauthcli-shot-"))
    try:
        shutil.copy(ROOT / "users.example.toml", work / "users.toml")
        write_new_key(work / "demo.pem", "ES256")
        store = UserStore(work / "users.toml")
        sock = bind("127.0.0.1", 0)
        url = base_url("127.0.0.1", sock.getsockname()[1])
        app = create_app(store, settings_for_store(store.path, store.load().issuer), issuer_url=url)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        params = {
            "response_type": "code",
            "client_id": "demo-app",
            "redirect_uri": "http://127.0.0.1:8400/callback",
            "scope": "openid profile me",
            "state": "screenshot",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
        }
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in (
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={work / 'profile'}", "--window-size=720,820",
            "--force-device-scale-factor=1", "--no-proxy-server",
        ):  # fmt: skip
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            driver.get(f"{url}/authorize?{urlencode(params)}")
            driver.find_element(By.ID, "username").send_keys("alice")
            driver.find_element(By.TAG_NAME, "h1").click()  # move the focus out of the field
            driver.save_screenshot(str(out))
        finally:
            driver.quit()
            server.should_exit = True
            thread.join(10)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "login-page.png")
