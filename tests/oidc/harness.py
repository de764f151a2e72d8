"""Fixtures: panva's oidc-provider (a certified third-party OpenID provider) on 127.0.0.1.

The provider runs from ``$OAUTHCLI_TEST_CACHE/oidc-provider/node_modules`` (default
``~/.cache/oauthcli-test``), installed there with npm when missing. The tests skip,
saying why, only when node is not installed. See ``provider.mjs`` for its clients.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).resolve().parent
# Read at import, before any test points HOME elsewhere.
TEST_CACHE = Path(os.environ.get("OAUTHCLI_TEST_CACHE") or Path.home() / ".cache" / "oauthcli-test")
PASSWORD = "wonderland"
CONFIDENTIAL_SECRET = "confidential-secret-0123456789"
CONFIDENTIAL_POST_SECRET = "confidential-post-secret-0123456789"


@dataclass
class OidcProvider:
    issuer: str
    log: Path
    client_key: Path  # the private key of client "pkjwt"

    def token_requests(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def discovery(self) -> dict:
        with httpx.Client(trust_env=False) as client:
            return client.get(f"{self.issuer}/.well-known/openid-configuration").json()


def node_modules(package: str, version: str) -> Path:
    """``node_modules`` holding ``package`` under the test cache (``.ci/run`` installs it
    there); installed with npm when missing, skipped when npm is missing too."""
    directory = TEST_CACHE / package
    modules = directory / "node_modules"
    if (modules / package / "package.json").exists():
        return modules
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"{package} is not installed and npm is missing")
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "package.json").exists():
        (directory / "package.json").write_text(
            f'{{"name": "oauthcli-test-{package}", "private": true}}'
        )
    subprocess.run(
        [npm, "install", "-q", "--no-audit", "--no-fund", f"{package}@{version}"],
        cwd=directory,
        check=True,
        timeout=600,
    )
    return modules


def _modules_dir() -> Path:
    return node_modules("oidc-provider", "9")


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    yield from _run_provider(tmp_path_factory, {})


@pytest.fixture(scope="session")
def oidc_provider_dpop_nonce(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """The same provider requiring DPoP nonces (RFC 9449 8, 9) at /token and userinfo."""
    yield from _run_provider(tmp_path_factory, {"dpop_nonce": True})


@pytest.fixture(scope="session")
def oidc_provider_par(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """A second provider that requires pushed authorization requests of every client
    (``features.pushedAuthorizationRequests.requirePushedAuthorizationRequests``)."""
    yield from _run_provider(tmp_path_factory, {"require_par": True})


def _run_provider(tmp_path_factory: pytest.TempPathFactory, extra: dict) -> Iterator[OidcProvider]:
    from oauthcli.keys import generate, jwks_from_files

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the oidc-provider tests need Node.js")
    modules = _modules_dir()
    work = tmp_path_factory.mktemp("oidc")
    key = work / "pkjwt-client.pem"
    key.write_bytes(generate("ES256"))
    key.chmod(0o600)
    log = work / "token-requests.jsonl"
    config = {"log": str(log), "pkjwt_jwks": jwks_from_files([key]), **extra}
    proc = subprocess.Popen(
        [node, str(HERE / "provider.mjs"), str(modules), json.dumps(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        first: list[str] = []
        reader = threading.Thread(target=lambda: first.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(60)
        if not first or not first[0].strip():
            raise RuntimeError("oidc-provider did not start")
        issuer = json.loads(first[0])["issuer"]
        deadline = time.monotonic() + 60
        with httpx.Client(trust_env=False, timeout=5) as client:
            while True:
                try:
                    if client.get(f"{issuer}/.well-known/openid-configuration").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("oidc-provider's discovery never answered")
                time.sleep(0.05)
        yield OidcProvider(issuer=issuer, log=log, client_key=key)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def standin_browser(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """``$BROWSER`` is the stand-in; returns the file it reports to (one JSON line per run)."""
    report = tmp_path / "browser-report.jsonl"
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(HERE / 'browser.py'))} %s"
    monkeypatch.setenv("BROWSER", command)
    monkeypatch.setenv("OIDC_STANDIN_REPORT", str(report))
    # the stand-in is the person at the browser: one is at hand, though stdin is no terminal
    monkeypatch.setenv("OAUTHCLI_INTERACTIVE", "1")
    for name in ("OIDC_STANDIN_LOGIN", "OIDC_STANDIN_PASSWORD", "OIDC_STANDIN_ACTION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OIDC_STANDIN_FORGE", raising=False)
    # webbrowser reads $BROWSER once per process: make it read this one.
    import webbrowser

    monkeypatch.setattr(webbrowser, "_tryorder", None)
    monkeypatch.setattr(webbrowser, "_browsers", {})
    return report


def secret_file(directory: Path, secret: str) -> Path:
    path = directory / "client.secret"
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return path
