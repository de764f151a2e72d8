"""oauthcli.client (policy, refresh, profile, bearer): where a profile's token may go, how it is kept fresh, and
BearerAuth's refresh-once-and-retry, against the real tutorial app."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

import oauthcli.http as transport
from oauthcli.client import grants as token_grants
from oauthcli.client import refresh as credentials
from oauthcli.client.bearer import BearerAuth
from oauthcli.client.cache import CacheEntry, TokenCache
from oauthcli.client.policy import check_destination
from oauthcli.client.profile import ProfileToken
from oauthcli.client.refresh import client_secret_for
from oauthcli.errors import AuthenticationError, ConfigError, UsageError
from oauthcli.urls import origin_of
from tests.live_server import tutorial_server

__all__ = ["tutorial_server"]  # fixture, imported for pytest to find


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://API.example.com/users/me?x=1", "https://api.example.com"),
        ("https://api.example.com:443/", "https://api.example.com"),
        ("http://api.example.com:80", "http://api.example.com"),
        ("http://127.0.0.1:8000/token", "http://127.0.0.1:8000"),
        ("http://[::1]:8000/x", "http://[::1]:8000"),
        ("HTTPS://api.example.com:8443", "https://api.example.com:8443"),
    ],
)
def test_origin_of(url, origin):
    assert origin_of(url) == origin


@pytest.mark.parametrize("url", ["ftp://x/", "api.example.com/x", "http://[::1/x", "http:///x"])
def test_origin_of_refuses_non_http_urls(url):
    with pytest.raises(UsageError):
        origin_of(url)


def remote_entry(**kw) -> CacheEntry:
    return CacheEntry(
        access_token="tok", source="remote", token_url="https://auth.example.com/token", **kw
    )


def test_remote_token_only_to_its_token_origin():
    entry = remote_entry()
    check_destination(entry, "https://auth.example.com/users/me")
    check_destination(entry, "https://AUTH.example.com:443/other")
    for url in (
        "https://api.example.com/users/me",
        "http://auth.example.com/users/me",  # another scheme is another origin
        "https://auth.example.com:8443/users/me",
        "http://127.0.0.1/users/me",  # loopback is not special for a remote token
    ):
        with pytest.raises(UsageError, match="refusing to send"):
            check_destination(entry, url)


def test_allowed_origins_widen_the_list():
    entry = remote_entry(allowed_origins=["https://api.example.com"])
    check_destination(entry, "https://api.example.com/x")
    check_destination(entry, "https://other.example.com/x", ["https://other.example.com:443"])
    with pytest.raises(UsageError, match=r"to https://third\.example\.com: it is only sent") as e:
        check_destination(entry, "https://third.example.com/x")
    assert e.value.reason == "destination"


def test_local_token_only_to_loopback():
    entry = CacheEntry(access_token="tok", source="local", store="/tmp/users.toml")
    for url in ("http://localhost:8000/x", "http://127.0.0.1/x", "https://[::1]:9/x"):
        check_destination(entry, url)
    with pytest.raises(UsageError, match="loopback"):
        check_destination(entry, "https://api.example.com/x")
    check_destination(entry, "https://api.example.com/x", ["https://api.example.com"])


def test_client_secret_is_read_afresh_from_the_file_or_environment(tmp_path, monkeypatch):
    secret_file = tmp_path / "client.secret"
    secret_file.write_text("file-secret\n")
    monkeypatch.setenv("OAUTHCLI_CLIENT_SECRET", "env-secret")
    assert client_secret_for(remote_entry(client_id="app")) == "env-secret"
    with_file = remote_entry(client_id="app", client_secret_file=str(secret_file))
    assert client_secret_for(with_file) == "file-secret"
    secret_file.write_text("rotated\n")
    assert client_secret_for(with_file) == "rotated"
    assert client_secret_for(remote_entry()) is None  # no client, no secret
    secret_file.unlink()
    with pytest.raises(ConfigError, match="cannot read client secret file"):
        client_secret_for(with_file)


def test_local_refresh_errors_are_authentication_errors(cli, store_path, isolated_env):
    assert cli("login", "alice", "--password-stdin", input="secret\n").exit_code == 0
    cache = TokenCache(isolated_env.parent / "cache")
    entry = cache.load("default")
    assert entry is not None
    refreshed = credentials.refresh(entry)
    assert refreshed.refresh_token != entry.refresh_token
    with pytest.raises(AuthenticationError, match="already used"):
        credentials.refresh(entry)  # the rotated-out token: reuse revokes the session


def test_refresh_without_refresh_token():
    with pytest.raises(AuthenticationError, match="no refresh token"):
        credentials.refresh(remote_entry())


# ---------------------------------------------------------------- ProfileToken


def remote_login(server, cache: TokenCache, profile: str = "default") -> CacheEntry:
    with transport.make_client(5) as client:
        token = token_grants.password_grant(client, server.token_url, "alice", "secret", ["me"])
    now = int(time.time())
    entry = CacheEntry(
        access_token=token.access_token,
        refresh_token=token.refresh_token,
        expires_at=now + token.expires_in if token.expires_in is not None else None,
        scope="me",
        source="remote",
        token_url=server.token_url,
        username="alice",
    )
    cache.save(profile, entry)
    return entry


def grants(server) -> list[str]:
    return [r.fields["grant_type"] for r in server.app.state.tutorial.token_requests]


def test_fresh_refreshes_an_expired_token_and_saves_it(tutorial_server, tmp_path):
    cache = TokenCache(tmp_path / "cache")
    tutorial_server.app.state.tutorial.access_ttl_seconds = 0
    old = remote_login(tutorial_server, cache)
    tutorial_server.app.state.tutorial.access_ttl_seconds = 900

    source = ProfileToken(cache, "default")
    fresh = source.fresh()
    assert fresh.access_token != old.access_token
    assert cache.load("default") == fresh
    assert source.fresh() is fresh  # no second refresh while valid
    assert grants(tutorial_server) == ["password", "refresh_token"]


def test_a_refresh_made_meanwhile_by_another_process_is_adopted(tutorial_server, tmp_path):
    cache = TokenCache(tmp_path / "cache")
    remote_login(tutorial_server, cache)
    first, second = ProfileToken(cache, "default"), ProfileToken(cache, "default")

    refreshed = first.refresh()
    # The second holder's token was refused too; presenting the rotated-out refresh token
    # would fail, so it takes the one the first holder just saved instead.
    adopted = second.refresh()
    assert adopted.refresh_token == refreshed.refresh_token
    assert adopted.access_token == refreshed.access_token
    assert grants(tutorial_server) == ["password", "refresh_token"]


def test_concurrent_refreshes_present_each_refresh_token_once(tutorial_server, tmp_path):
    cache = TokenCache(tmp_path / "cache")
    remote_login(tutorial_server, cache)
    holders = [ProfileToken(cache, "default") for _ in range(4)]
    errors: list[BaseException] = []

    def run(holder: ProfileToken) -> None:
        try:
            holder.refresh()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(h,)) for h in holders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive(), "a refresh hung"
    assert errors == []
    assert grants(tutorial_server) == ["password", "refresh_token"]
    assert len({h.entry.access_token for h in holders}) == 1


def test_a_profile_replaced_meanwhile_is_not_refreshed(tutorial_server, tmp_path):
    cache = TokenCache(tmp_path / "cache")
    entry = remote_login(tutorial_server, cache)
    holder = ProfileToken(cache, "default")
    cache.save("default", replace(entry, token_url="https://elsewhere.example.com/token"))
    with pytest.raises(AuthenticationError, match="replaced by another login"):
        holder.refresh()
    cache.delete("default")
    with pytest.raises(AuthenticationError, match="logged out"):
        holder.refresh()


def test_allow_origins_are_remembered_canonically(tutorial_server, tmp_path):
    cache = TokenCache(tmp_path / "cache")
    remote_login(tutorial_server, cache)
    holder = ProfileToken(cache, "default")
    holder.allow_origins(["HTTPS://api.example.com:443/path", "https://api.example.com"])
    saved = json.loads((tmp_path / "cache" / "default.json").read_text())
    assert saved["allowed_origins"] == ["https://api.example.com"]
    assert ProfileToken(cache, "default").entry.allowed_origins == ["https://api.example.com"]


def test_missing_profile():
    with pytest.raises(AuthenticationError, match="run 'oauthcli login' first"):
        ProfileToken(TokenCache(Path("/nonexistent-cache")), "default")


# ---------------------------------------------------------------- BearerAuth


def test_bearer_auth_refreshes_once_on_401_and_retries(tutorial_server):
    state = tutorial_server.app.state.tutorial
    with transport.make_client(5) as client:
        good = token_grants.password_grant(
            client, tutorial_server.token_url, "alice", "secret", ["me"]
        )
        calls: list[str] = []

        def refresher() -> str:
            calls.append("refresh")
            return good.access_token

        auth = BearerAuth("not-a-token", refresher)
        me = client.get(tutorial_server.url + "/users/me", auth=auth)
        assert me.status_code == 200 and auth.refreshed and calls == ["refresh"]

        # Still refused after one refresh: the 401 comes back, no loop.
        state.secret_key += "-rotated"
        try:
            stuck = BearerAuth("not-a-token", refresher)
            refused = client.get(tutorial_server.url + "/users/me", auth=stuck)
        finally:
            state.secret_key = state.secret_key.removesuffix("-rotated")
        assert refused.status_code == 401 and calls == ["refresh", "refresh"]


def test_bearer_auth_without_refresher_just_sends(tutorial_server):
    with httpx.Client(timeout=5) as client:
        refused = client.get(tutorial_server.url + "/users/me", auth=BearerAuth("nope"))
    assert refused.status_code == 401
