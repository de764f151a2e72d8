"""The README's "OpenID providers" examples, run as written against oidc-provider.

``$ISSUER`` is the provider on 127.0.0.1; ``$BROWSER`` is the stand-in person
(tests/oidc/browser.py); the device example gets its user from this test.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import httpx

from tests.oidc.browser import drive
from tests.oidc.harness import CONFIDENTIAL_SECRET, HERE, secret_file

ROOT = Path(__file__).resolve().parent.parent
SECTION = (ROOT / "README.md").read_text().split("## OpenID providers", 1)[1].split("\n## ", 1)[0]


def block(title: str, index: int = 0) -> str:
    part = SECTION.split(f"### {title}", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", part, re.S)[index]


def environment(provider, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTHCLI_")}
    env["OAUTHCLI_CACHE_DIR"] = str(tmp_path / "cache")
    env["ISSUER"] = provider.issuer
    env["BROWSER"] = f"{shlex.quote(sys.executable)} {shlex.quote(str(HERE / 'browser.py'))} %s"
    env["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{env['PATH']}"
    env["OAUTHCLI_INTERACTIVE"] = "1"  # the stand-in is the person, though stdin is no terminal
    env["OAUTHCLI_TOKEN_STORE"] = "file"  # never the OS keyring of the person running the tests
    return env


def run(script: str, provider, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=tmp_path,
        env=environment(provider, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_browser_login_example(oidc_provider, tmp_path):
    proc = run(block("Browser login"), oidc_provider, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "email: alice@example.com" in proc.stdout
    assert (tmp_path / "id.jwt").read_text().count(".") == 2


def test_resource_example(oidc_provider, tmp_path):
    proc = run(block("Clients, APIs and provider parameters"), oidc_provider, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_revoke_introspect_example(oidc_provider, tmp_path):
    secret_file(tmp_path, CONFIDENTIAL_SECRET)
    proc = run(block("Revoke, introspect, userinfo"), oidc_provider, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"active": true' in proc.stdout
    assert "inactive (exit 4)" in proc.stdout
    assert "log in again (exit 3)" in proc.stdout
    assert "revoked the tokens" in proc.stderr


def test_device_login_example(oidc_provider, tmp_path):
    proc = subprocess.Popen(
        ["bash", "-e", "-c", block("Device login")],
        cwd=tmp_path,
        env={**environment(oidc_provider, tmp_path), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stderr.readline()
        found = re.search(r"open (\S+) on any device", line)
        assert found, line
        with httpx.Client(trust_env=False, timeout=20) as browser:
            drive(browser, found.group(1))
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out + err
    assert "Logged in as alice" in out
