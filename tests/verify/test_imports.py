"""Layering: the verifier is usable on its own, without the store, sessions or the token client."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
import {module}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {roots})))
"""

# What verifying a token must never drag in: the user store, refresh sessions, the issuer's
# minting, the token endpoint client, the server, the CLI; and no heavy module at import time
# (PyJWT/cryptography load when a key is used, httpx when a URL is fetched).
FORBIDDEN = {
    "oauthcli.store",
    "oauthcli.sessions",
    "oauthcli.tokens",
    "oauthcli.issuer",
    "oauthcli.client",
    "oauthcli.server",
    "oauthcli.cli",
    "typer",
    "rich",
    "httpx",
    "jwt",
    "cryptography",
}


def loaded_by(module: str) -> set[str]:
    roots = ["oauthcli", "typer", "rich", "httpx", "jwt", "cryptography"]
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module, roots=roots)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(json.loads(proc.stdout))


@pytest.mark.parametrize(
    "module",
    [
        "oauthcli.verify",
        "oauthcli.verify.parse",
        "oauthcli.verify.verifier",
        "oauthcli.verify.verdict",
        "oauthcli.verify.batch",
        "oauthcli.verify.fetch",
    ],
)
def test_verifier_modules_load_no_store_sessions_client_or_heavy_module(module):
    loaded = loaded_by(module)
    assert module in loaded
    assert not {m for m in loaded if m in FORBIDDEN or m.split(".")[0] in FORBIDDEN}
    assert not any(m.startswith(("oauthcli.client.", "oauthcli.server.")) for m in loaded)


def test_the_subpackage_init_is_empty():
    # oauthcli/__init__.py loads oauthcli.errors for its public names; verify/ adds nothing
    assert loaded_by("oauthcli.verify") == loaded_by("oauthcli") | {"oauthcli.verify"}
