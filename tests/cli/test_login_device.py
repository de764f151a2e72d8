"""``login --grant device-code`` (RFC 8628) against a real OpenID provider.

The poller's sleep is injected: it records the intervals (no wall-clock asserts)
and is where the "user" acts on the provider's device page (tests/oidc/browser.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx
import pytest

from oauthcli import settings
from oauthcli.client import oidc_login as login
from oauthcli.client.cache import TokenCache
from oauthcli.errors import AuthenticationError
from oauthcli.http import make_client
from tests.oidc.browser import drive

DEVICE = "urn:ietf:params:oauth:grant-type:device_code"


class User:
    """Acts on the device page at the n-th sleep of the poller."""

    def __init__(self, act_at: int | None, action: str = "approve") -> None:
        self.act_at = act_at
        self.action = action
        self.sleeps: list[float] = []
        self.url: str | None = None
        self.messages: list[str] = []

    def notify(self, message: str) -> None:
        self.messages.append(message)
        found = re.search(r"open (\S+) on any device", message)
        if found:
            self.url = found.group(1)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if len(self.sleeps) == self.act_at:
            assert self.url is not None
            with httpx.Client(trust_env=False, timeout=20) as browser:
                page = drive(browser, self.url, action=self.action)
            assert page.status_code == 200, page.text[:300]
        if len(self.sleeps) > 50:
            raise AssertionError("the poller never stopped")


def run(provider, user: User, client_id: str = "public", **options):
    request = login.ProviderLogin(
        issuer=provider.issuer,
        grant="device-code",
        client_id=client_id,
        client_auth="none",
        **options,
    )
    io = login.Interaction(notify=user.notify, sleep=user.sleep, clock=lambda: 0.0)
    with make_client(10) as http:
        return login.login(http, request, io)


def device_polls(provider, client_id: str) -> int:
    return sum(
        1
        for r in provider.token_requests()
        if r.get("grant_type") == DEVICE and r.get("client_id") == client_id
    )


def test_keeps_polling_while_pending_then_gets_tokens(oidc_provider):
    user = User(act_at=2)
    before = device_polls(oidc_provider, "public")
    entry = run(oidc_provider, user, scopes=["openid", "offline_access"])
    # the first poll was answered authorization_pending, the second brought the tokens
    assert user.sleeps == [5, 5]  # the provider sends no interval: RFC 8628's default 5 s
    assert device_polls(oidc_provider, "public") - before == 2
    assert entry.grant == "device_code" and entry.id_token and entry.username == "alice"
    assert entry.refresh_token  # offline_access


def test_slow_down_adds_five_seconds_each_time(oidc_provider):
    user = User(act_at=3)
    entry = run(oidc_provider, user, client_id="device-slow")
    assert user.sleeps == [5, 10, 15]
    assert entry.access_token


def test_denial_on_the_device_page_stops_with_access_denied(oidc_provider):
    user = User(act_at=1, action="deny")
    with pytest.raises(AuthenticationError, match="denied"):
        run(oidc_provider, user)
    assert len(user.sleeps) == 1


def test_an_expired_device_code_stops_the_polling(oidc_provider):
    import time

    # "device-expiring" gets 1 s device codes; the poller is told to wait 0.2 s per step,
    # and polls until the provider itself answers expired_token (its local clock is frozen).
    steps: list[float] = []

    def short_sleep(seconds: float) -> None:
        steps.append(seconds)
        if len(steps) > 100:
            raise AssertionError("the provider never expired the code")
        time.sleep(0.2)

    request = login.ProviderLogin(
        issuer=oidc_provider.issuer,
        grant="device-code",
        client_id="device-expiring",
        client_auth="none",
    )
    io = login.Interaction(notify=lambda m: None, sleep=short_sleep, clock=lambda: 0.0)
    with make_client(10) as http, pytest.raises(AuthenticationError, match="expired"):
        login.login(http, request, io)


def test_the_poller_gives_up_at_the_timeout_on_its_own_clock(oidc_provider):
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    request = login.ProviderLogin(
        issuer=oidc_provider.issuer,
        grant="device-code",
        client_id="public",
        client_auth="none",
        timeout=12,
    )
    io = login.Interaction(notify=lambda m: None, sleep=sleep, clock=lambda: now[0])
    with make_client(10) as http, pytest.raises(AuthenticationError, match="within 12 s"):
        login.login(http, request, io)
    assert sleeps == [5, 5, 2]  # two pending polls, then the third wait ends at the limit


def hostile_device_provider(site, url: str, **answer) -> None:
    """A provider whose device authorization answer is ``answer`` and that never approves."""
    from tests._jwks_server import JsonSite

    assert isinstance(site, JsonSite)
    site.routes["/.well-known/openid-configuration"] = {
        "issuer": url,
        "token_endpoint": url + "/token",
        "device_authorization_endpoint": url + "/device",
        "grant_types_supported": [DEVICE],
    }
    site.routes["/device"] = {
        "device_code": "dc",
        "user_code": "ABCD-EFGH",
        "verification_uri": url + "/activate",
        "expires_in": 600,
        **answer,
    }
    site.routes["/token"] = (400, {"error": "authorization_pending"})


def test_no_wait_runs_past_the_timeout_whatever_interval_the_provider_asks():
    from tests._jwks_server import JsonSite

    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    site = JsonSite()
    with site.serve() as url:
        hostile_device_provider(site, url, interval=100000)
        request = login.ProviderLogin(
            issuer=url, grant="device-code", client_id="c", client_auth="none", timeout=30
        )
        io = login.Interaction(notify=lambda m: None, sleep=sleep, clock=lambda: now[0])
        with make_client(10) as http, pytest.raises(AuthenticationError, match="within 30 s"):
            login.login(http, request, io)
    assert sleeps == [30]  # it slept 100000 s before
    assert "/token" not in site.requests  # nothing polled once the time was up


@pytest.mark.parametrize("member", ["verification_uri", "verification_uri_complete"])
@pytest.mark.parametrize(
    "uri", ["javascript:alert(document.cookie)", "file:///etc/passwd", "data:text/html,x"]
)
def test_a_verification_uri_that_is_not_http_is_refused(member, uri):
    from oauthcli.errors import RemoteError
    from tests._jwks_server import JsonSite

    told: list[str] = []
    site = JsonSite()
    with site.serve() as url:
        hostile_device_provider(site, url, **{member: uri})
        request = login.ProviderLogin(
            issuer=url, grant="device-code", client_id="c", client_auth="none"
        )
        io = login.Interaction(notify=told.append, sleep=lambda s: None, clock=lambda: 0.0)
        with make_client(10) as http, pytest.raises(RemoteError, match=member) as exc:
            login.login(http, request, io)
    assert "only http and https" in str(exc.value)
    assert told == []  # nothing shown to the person
    assert "/token" not in site.requests


def _cli_env() -> dict[str, str]:
    # the person approving in the test is at hand, though stdin is the test runner's
    return {**os.environ, "PYTHONUNBUFFERED": "1", "OAUTHCLI_INTERACTIVE": "1"}


def test_cli_device_login_prints_the_verification_uri_and_caches_nothing_until_approved(
    oidc_provider,
):
    """End to end, as in an SSH session: the installed CLI polls while the user approves."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "oauthcli",
            "login",
            "--issuer-url",
            oidc_provider.issuer,
            "--client-id",
            "public",
            "--grant",
            "device-code",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_cli_env(),
    )
    try:
        line = proc.stderr.readline()
        found = re.search(r"open (\S+) on any device \(code ([^)]+)\)", line)
        assert found, line
        assert TokenCache(settings.cache_dir()).load("default") is None
        with httpx.Client(trust_env=False, timeout=20) as browser:
            drive(browser, found.group(1))
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert '"id_token"' in out
    entry = TokenCache(settings.cache_dir()).load("default")
    assert entry is not None and entry.grant == "device_code"
