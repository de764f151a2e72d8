"""Soak: ``serve --workers 2`` with CLI processes beside it, then SIGKILL and a restart.

The documented workflow: ``serve`` runs while people use the local CLI on the same
store (``login``, ``refresh``, ``user disable``/``enable``), all sharing the embedded
SQLite state. A client meanwhile revokes access tokens and refresh tokens and rotates
refresh tokens; each answer the server acknowledged is recorded. After SIGKILL and
a restart every acknowledged write must still hold, and the file must be intact.

Bounded by time (``SOAK_SECONDS``) and by counts, never asserting on durations.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.cli.test_serve_cmd import serve, stop
from tests.conftest import write_store

SOAK_SECONDS = float(os.environ.get("OAUTHCLI_SOAK_SECONDS", "20"))
MAX_CYCLES = 400
# Each loop runs at least this many cycles, however long a loaded machine takes for them
# (time bounds the soak from above; counts bound it from below, never a duration).
MIN_CYCLES = 8
CLIENTS = 4
ISSUER = "http://auth.example.test"


@dataclass
class Acknowledged:
    revoked_access: list[str] = field(default_factory=list)
    revoked_refresh: list[str] = field(default_factory=list)
    rotated_away: list[str] = field(default_factory=list)  # superseded by a rotation
    live_refresh: list[str] = field(default_factory=list)  # the newest of its family
    cli_runs: int = 0
    errors: list[str] = field(default_factory=list)


def _client(url: str, until: float, seen: Acknowledged) -> None:
    for cycle in range(MAX_CYCLES):
        if time.monotonic() >= until and cycle >= MIN_CYCLES:
            return
        # A new connection each cycle: cycles spread over both workers.
        with httpx.Client(base_url=url, timeout=60) as http:
            login = http.post(
                "/token",
                data={"grant_type": "password", "username": "alice", "password": "secret"},
            )
            if login.status_code != 200:
                seen.errors.append(f"login {login.status_code} {login.text}")
                return
            first = login.json()
            rotated = http.post(
                "/token",
                data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
            )
            if rotated.status_code != 200:
                seen.errors.append(f"refresh {rotated.status_code} {rotated.text}")
                return
            seen.rotated_away.append(first["refresh_token"])
            pair = rotated.json()
            if http.post("/revoke", data={"token": pair["access_token"]}).status_code == 200:
                seen.revoked_access.append(pair["access_token"])
            if cycle % 2:
                answer = http.post(
                    "/revoke",
                    data={"token": pair["refresh_token"], "token_type_hint": "refresh_token"},
                )
                if answer.status_code == 200:
                    seen.revoked_refresh.append(pair["refresh_token"])
            else:
                seen.live_refresh.append(pair["refresh_token"])


def _cli(store_path: Path, until: float, seen: Acknowledged) -> None:
    env = {**os.environ, "OAUTHCLI_STORE": str(store_path)}

    def run(*args: str, stdin: str | None = None) -> None:
        proc = subprocess.run(
            [sys.executable, "-m", "oauthcli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=store_path.parent,
            timeout=120,
        )
        if proc.returncode != 0:
            seen.errors.append(f"{args}: {proc.returncode} {proc.stderr.strip()}")
        seen.cli_runs += 1

    steps = [
        lambda: run("login", "johndoe", "--password-stdin", "--print", stdin="secret\n"),
        lambda: run("refresh", "--print"),
        lambda: run("user", "disable", "johndoe"),
        lambda: run("user", "enable", "johndoe"),
    ]
    for cycle in range(MAX_CYCLES):
        if time.monotonic() >= until and cycle >= MIN_CYCLES:
            return
        steps[cycle % len(steps)]()


@pytest.mark.slow
def test_acknowledged_revocations_and_rotations_survive_cli_use_and_sigkill(store_path):
    # One issuer across the restart (else it is the URL, whose port changes).
    write_store(
        store_path,
        issuer={"algorithm": "HS256", "secret_file": "hs256.secret", "issuer": ISSUER},
    )
    seen = Acknowledged()
    args = ("--store", str(store_path), "--max-failures", "0")
    with serve(*args, "--workers", "2", cwd=store_path.parent) as (proc, url, _):
        until = time.monotonic() + SOAK_SECONDS
        # Several clients at once: each worker runs requests on several threads.
        threads = [
            *(threading.Thread(target=_client, args=(url, until, seen)) for _ in range(CLIENTS)),
            threading.Thread(target=_cli, args=(store_path, until, seen)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SOAK_SECONDS + 300)
            assert not thread.is_alive()
        os.killpg(proc.pid, signal.SIGKILL)  # no clean shutdown: what is on disk is all
        proc.wait(30)
    assert seen.cli_runs >= 4 and len(seen.revoked_access) >= 4, seen

    with (
        serve(*args, cwd=store_path.parent) as (proc, url, _),
        httpx.Client(base_url=url, timeout=60) as http,
    ):
        for access in seen.revoked_access:
            answer = http.get("/users/me", headers={"Authorization": f"Bearer {access}"})
            assert answer.status_code == 401, "an acknowledged revocation was lost"
        for refresh_token in seen.live_refresh:  # each family's rotation held: its newest works
            answer = http.post(
                "/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
            )
            assert answer.status_code == 200, ("an acknowledged rotation was lost", answer.text)
        for refresh_token in seen.revoked_refresh + seen.rotated_away:
            answer = http.post(
                "/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
            )
            assert answer.status_code == 400, "a revoked or rotated refresh token works again"
        assert stop(proc) == 0

    with sqlite3.connect(store_path.with_name("users.state.db")) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.close()
    assert seen.errors == []  # e.g. the CLI's refresh of the session its login just started
