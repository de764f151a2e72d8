"""Feedback while something slow goes on (issue 22 item 2): on a terminal, a line once a
discovery fetch, a token request or a bcrypt hash takes more than a second ("waiting for
URL (2 s)"), redrawn in place and cleared when it ends; into a pipe, nothing of it.

The servers are real and slow on purpose (``tests/held_site.py``): each holds its answer
until the test has seen the line, so nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.cli.test_login_paste import Terminal
from tests.held_site import HeldSite

TOKEN = {"access_token": "opaque-at-123", "token_type": "bearer", "expires_in": 900}
DISCOVERY = "/.well-known/openid-configuration"


def waiting_for(url: str) -> re.Pattern[bytes]:
    return re.compile(rb"\r\x1b\[Kwaiting for " + re.escape(url.encode()) + rb" \((\d+) s\)")


def test_a_slow_token_request_is_said_on_a_terminal_then_cleared():
    site = HeldSite({"/token": TOKEN})
    with site.serve() as url:
        term = Terminal(["login", "alice", "--url", url + "/token", "--password-stdin"])
        term.type("secret\r")
        term.read_until(waiting_for(url + "/token"))
        site.release("/token")
        term.read_until(b"Logged in as alice")
        assert term.finish() == 0, term.screen
    shown = term.screen.rsplit(b"waiting for", 1)[1]
    # cleared before the summary: no line starts with the waiting text's leftovers
    assert b"\r\x1b[K" in shown and shown.index(b"\r\x1b[K") < shown.index(b"Logged in")
    assert b"opaque-at-123" not in term.screen


def test_a_slow_discovery_is_said_and_an_error_after_it_is_one_clean_line():
    site = HeldSite({DISCOVERY: (404, {"detail": "Not Found"})})
    with site.serve() as url:
        term = Terminal(["login", "--issuer-url", url, "--client-id", "c", "--no-browser"])
        term.read_until(waiting_for(url + DISCOVERY))
        site.release(DISCOVERY)
        term.read_until(b"oauthcli: error: ")
        assert term.finish() == 6, term.screen
    error = term.screen[term.screen.index(b"oauthcli: error: ") - 4 :]
    assert error.startswith(b"\r\x1b[K"), term.screen  # the waiting line was cleared first


def test_nothing_of_it_in_a_pipe():
    site = HeldSite({"/token": TOKEN}, hold_seconds=2.5)  # slower than the one second
    with site.serve() as url:
        proc = subprocess.run(
            [sys.executable, "-m", "oauthcli", "login", "alice", "--url", url + "/token",
             "--password-stdin", "--json"],
            input="secret\n", capture_output=True, text=True, timeout=120, env=os.environ.copy(),
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert site.requests == ["/token"]
    assert "waiting for" not in proc.stderr and "\x1b" not in proc.stderr + proc.stdout
    assert proc.stdout.startswith("{")


def test_a_high_bcrypt_cost_is_said_while_hashing(store_path, monkeypatch):
    # cost 15: 32,768 rounds of bcrypt's key schedule, over a second on any machine today
    # (cost 12, the default, takes about 0.25 s), so the line shows; nothing waits for time
    monkeypatch.setenv("OAUTHCLI_BCRYPT_ROUNDS", "15")
    term = Terminal(["user", "add", "bob", "--scope", "me", "--password-stdin"])
    term.type("a-long-password-1\r")
    term.read_until(re.compile(rb"\r\x1b\[Khashing the password with bcrypt at cost 15 \(\d+ s\)"))
    term.read_until(b"bob")
    assert term.finish() == 0, term.screen
    piped = subprocess.run(
        [sys.executable, "-m", "oauthcli", "user", "add", "carl", "--password-stdin"],
        input="a-long-password-2\n", capture_output=True, text=True, timeout=300,
        env=os.environ.copy(),
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert "hashing" not in piped.stderr and "\x1b" not in piped.stderr
