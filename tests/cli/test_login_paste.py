"""``login --no-browser`` over SSH: the browser is elsewhere, so the address it was sent to
can be pasted back at the terminal (as ``gcloud auth login --no-launch-browser`` takes it)
while the loopback listener keeps waiting; it is checked as the listener checks a request,
never echoed; a provider offering the device grant gets ``--grant device-code`` suggested.
All through a pty, against ``oauthcli serve`` (and a provider site without a device grant).
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from oauthcli import settings
from oauthcli.client.cache import TokenCache
from tests._jwks_server import JsonSite
from tests.apps_serve.browser import PUBLIC, submit_login
from tests.cli.test_prompt import ON_TERMINAL

URL_LINE = re.compile(rb"Open this URL in a browser to log in:\r?\n(\S+)")
PASTE = b"paste here the address it was sent to"
SUGGESTION = b"--grant device-code"


@pytest.fixture
def serve(es256_provider):
    return es256_provider  # tests/conftest.py


class Terminal:
    """oauthcli on a pty: read what it shows, type into it."""

    def __init__(self, args: list[str]) -> None:
        self.leader, follower = pty.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ON_TERMINAL, *args],
            stdin=follower, stdout=follower, stderr=follower, env=os.environ.copy(),
        )  # fmt: skip
        os.close(follower)
        self.screen = b""

    def read_until(self, pattern: re.Pattern[bytes] | bytes, seconds: float = 90) -> bytes:
        """The screen once ``pattern`` is on it (generous: a loaded machine is slow)."""
        deadline = time.monotonic() + seconds
        found = lambda: (  # noqa: E731
            pattern.search(self.screen)
            if isinstance(pattern, re.Pattern)
            else pattern in self.screen
        )
        while not found():
            assert time.monotonic() < deadline, self.screen.decode(errors="replace")
            if self.proc.poll() is not None and not self._read(0):
                raise AssertionError(self.screen.decode(errors="replace"))
            self._read(0.1)
        return self.screen

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.leader], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.leader, 4096)
        except OSError:
            return False
        self.screen += chunk
        return bool(chunk)

    def type(self, text: str) -> None:
        os.write(self.leader, text.encode())

    def finish(self, seconds: float = 90) -> int:
        deadline = time.monotonic() + seconds
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.1)
        while self._read(0):
            pass
        if self.proc.poll() is None:
            self.proc.kill()
        code = self.proc.wait(30)
        os.close(self.leader)
        return code


def login_args(issuer: str) -> list[str]:
    return ["login", "--issuer-url", issuer, "--client-id", PUBLIC, "--no-browser",
            "--scope", "openid me", "--timeout", "300"]  # fmt: skip


def log_in_elsewhere(provider, url: str) -> str:
    """A browser on another machine: the login page, then the redirect it cannot load."""
    with provider.client() as browser:
        answer = submit_login(browser, browser.get(url), "alice", "secret")
        assert answer.status_code == 303, answer.text
        return answer.headers["location"]


def with_state(location: str, state: str) -> str:
    parts = urlsplit(location)
    query = [(k, state if k == "state" else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_the_redirect_address_pasted_back_logs_in_and_a_wrong_state_is_refused(serve):
    term = Terminal(login_args(serve.url))
    url = URL_LINE.search(term.read_until(URL_LINE)).group(1).decode()
    term.read_until(PASTE)
    location = log_in_elsewhere(serve, url)
    code = dict(parse_qsl(urlsplit(location).query))["code"]
    # another login's answer (wrong state): one line, the wait goes on
    term.type(with_state(location, "not-the-state-sent") + "\r")
    term.read_until(b"refused the pasted address")
    refusal = [line for line in term.screen.splitlines() if b"refused the pasted" in line]
    assert len(refusal) == 1 and b"wrong or missing state" in refusal[0], term.screen
    # the real one: redeemed, and the login is done (the listener never heard from anyone)
    term.type(location + "\r")
    term.read_until(b"Logged in as alice")
    assert term.finish() == 0, term.screen
    assert code.encode() not in term.screen  # never echoed: it holds a code
    entry = TokenCache(settings.cache_dir()).load("default")
    assert entry is not None and entry.username == "alice"


def test_a_pasted_error_response_ends_the_login_with_one_line(serve):
    term = Terminal(login_args(serve.url))
    url = URL_LINE.search(term.read_until(URL_LINE)).group(1).decode()
    term.read_until(PASTE)
    state = dict(parse_qsl(urlsplit(url).query))["state"]
    redirect = dict(parse_qsl(urlsplit(url).query))["redirect_uri"]
    answer = {"error": "access_denied", "state": state, "iss": serve.url}  # RFC 9207
    term.type(f"{redirect}?{urlencode(answer)}\r")
    assert term.finish() == 3, term.screen
    assert b"oauthcli: error: the provider refused the login: access_denied" in term.screen


def test_the_device_grant_is_suggested_only_when_the_provider_offers_it(serve):
    offered = Terminal(login_args(serve.url))
    offered.read_until(PASTE)
    offered.type("\x03")
    assert offered.finish() == 130
    assert offered.screen.count(SUGGESTION) == 1, offered.screen
    site = JsonSite()
    with site.serve() as issuer:
        site.routes["/.well-known/openid-configuration"] = {
            "issuer": issuer,
            "authorization_endpoint": issuer + "/authorize",
            "token_endpoint": issuer + "/token",
            "code_challenge_methods_supported": ["S256"],
        }
        plain = Terminal(login_args(issuer))
        plain.read_until(PASTE)
        plain.type("\x03")
        assert plain.finish() == 130
    assert SUGGESTION not in plain.screen, plain.screen
