"""Feedback while a person is awaited: on a terminal, one line with the time left, redrawn
in place (browser and device logins); into a pipe, nothing of it."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest

from tests.apps_serve.browser import PUBLIC
from tests.cli.test_prompt import ON_TERMINAL

LEFT = re.compile(
    rb"(waiting for the browser|waiting for approval|not approved yet)\.\.\. (\d+):(\d\d) left, Ctrl-C to cancel"
)


@pytest.fixture
def serve(es256_provider):
    return es256_provider  # tests/conftest.py


def watch_on_terminal(args: list[str], readings: int = 2) -> tuple[int, bytes]:
    """Run oauthcli on a pty until the waiting line has shown ``readings`` different times
    left, then type Ctrl-C; the exit code and the whole screen."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", ON_TERMINAL, *args],
        stdin=follower, stdout=follower, stderr=follower, env=os.environ.copy(),
    )  # fmt: skip
    os.close(follower)
    seen = b""
    interrupted = False
    deadline = time.monotonic() + 90  # generous: a loaded machine starts Python slowly
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if ready:
                try:
                    seen += os.read(leader, 4096)
                except OSError:
                    break
            times = {m.group(2) + m.group(3) for m in LEFT.finditer(seen)}
            if len(times) >= readings and not interrupted:
                os.write(leader, b"\x03")
                interrupted = True
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
    return proc.returncode, seen


def test_a_browser_login_shows_the_time_left_on_a_terminal(serve):
    args = ["login", "--issuer-url", serve.url, "--client-id", PUBLIC, "--no-browser"]
    code, screen = watch_on_terminal([*args, "--timeout", "300"])
    assert code == 130, screen
    readings = [int(m.group(2)) * 60 + int(m.group(3)) for m in LEFT.finditer(screen)]
    assert len(set(readings)) >= 2 and readings == sorted(readings, reverse=True), screen
    assert readings[0] <= 300
    assert b"\r\x1b[K" in screen  # redrawn in place, not a new line each second
    assert b"Open this URL in a browser" in screen


def test_a_device_login_shows_the_time_left_and_the_last_status(serve):
    args = ["login", "--issuer-url", serve.url, "--client-id", PUBLIC, "--grant", "device-code"]
    code, screen = watch_on_terminal(args, readings=3)
    assert code == 130, screen
    assert (LEFT.search(screen) and b"To log in, open" in screen) or b"/device" in screen


def test_nothing_of_it_in_a_pipe(cli, serve, monkeypatch):
    monkeypatch.setenv("OAUTHCLI_INTERACTIVE", "1")  # a person, yet stderr is a pipe
    result = cli(
        "login", "--issuer-url", serve.url, "--client-id", PUBLIC, "--no-browser",
        "--timeout", "2",
    )  # fmt: skip
    assert result.exit_code == 3
    assert "left, Ctrl-C" not in result.stderr and "\x1b" not in result.stderr
