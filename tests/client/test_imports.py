"""The client package stands alone: importing it loads no server code and no web framework."""

from __future__ import annotations

import json
import subprocess
import sys

MODULES = [
    "oauthcli.client",
    "oauthcli.client.answer",
    "oauthcli.client.bearer",
    "oauthcli.client.cache",
    "oauthcli.client.grants",
    "oauthcli.client.login",
    "oauthcli.client.policy",
    "oauthcli.client.profile",
    "oauthcli.client.refresh",
    "oauthcli.client.secret",
    "oauthcli.http",
]


def test_client_package_loads_no_server_code():
    script = (
        "import importlib, json, sys\n"
        f"for name in {MODULES!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout)
    forbidden = (
        "oauthcli.server",
        "oauthcli.cli",
        "fastapi",
        "starlette",
        "uvicorn",
        "typer",
    )  # (httpx itself may load rich for its own command line)
    assert [m for m in loaded if any(m == f or m.startswith(f + ".") for f in forbidden)] == []
    # the local store is only loaded when a local profile is refreshed
    assert "oauthcli.store" not in loaded and "oauthcli.sessions" not in loaded
