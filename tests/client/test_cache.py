import fcntl
import json
import os
import stat
import threading

import pytest

from oauthcli.client.cache import CacheEntry, TokenCache
from oauthcli.errors import StoreError, UsageError


def entry(**kw) -> CacheEntry:
    return CacheEntry(access_token="at", refresh_token="rt", expires_at=2_000_000_000, **kw)


def test_save_and_load_round_trip_private(tmp_path):
    cache = TokenCache(tmp_path / "deep" / "cache")
    path = cache.save("default", entry(scope="me", store="/x/users.toml", username="alice"))
    assert path == tmp_path / "deep" / "cache" / "default.json"
    assert stat.S_IMODE(cache.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = cache.load("default")
    assert loaded == entry(
        scope="me", store="/x/users.toml", username="alice", obtained_at=loaded.obtained_at
    )
    assert cache.load("other") is None


def test_expiry():
    e = CacheEntry(access_token="a", expires_at=100)
    assert not e.expired(now=99) and e.expired(now=100) and e.expired(now=80, margin=30)
    assert not CacheEntry(access_token="a").expired()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_file_others_can_read_is_refused(tmp_path, mode):
    cache = TokenCache(tmp_path / "c")
    path = cache.save("default", entry())
    path.chmod(mode)
    with pytest.raises(StoreError, match=f"mode {mode:o}.*chmod 600") as info:
        cache.load("default")
    assert "at" not in str(info.value).split()
    with pytest.raises(StoreError):
        cache.save("default", entry())


def test_a_directory_others_can_enter_is_refused(tmp_path):
    cache = TokenCache(tmp_path / "c")
    cache.save("default", entry())
    cache.directory.chmod(0o755)
    with pytest.raises(StoreError, match=r"directory .* run 'chmod 700 "):
        cache.load("default")
    with pytest.raises(StoreError, match="directory"):
        cache.check("default")
    # logout would not fix a directory: the hint is chmod only
    with pytest.raises(StoreError) as info:
        cache.load("default")
    assert "logout" not in str(info.value)


def test_a_cache_directory_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "c").write_text("not a directory")
    cache = TokenCache(tmp_path / "c")
    with pytest.raises(StoreError, match="is not a directory"):
        cache.check("default")
    with pytest.raises(StoreError, match="token cache directory"):
        cache.save("default", entry())


def test_bad_profile_names(tmp_path):
    cache = TokenCache(tmp_path)
    for name in ("../etc", "a/b", "", ".hidden", "x" * 65):
        with pytest.raises(UsageError, match="invalid profile name"):
            cache.path(name)
    assert cache.path("ci-job.2_a").name == "ci-job.2_a.json"


def test_corrupt_cache_is_reported(tmp_path):
    cache = TokenCache(tmp_path / "c")
    path = cache.save("default", entry())
    for text in ("{oops", "[]", '{"refresh_token": "x"}'):
        path.write_text(text)
        with pytest.raises(StoreError, match=r"corrupt.*oauthcli logout"):
            cache.load("default")


def test_unknown_fields_are_ignored_for_forward_compatibility(tmp_path):
    cache = TokenCache(tmp_path / "c")
    path = cache.save("default", entry())
    data = json.loads(path.read_text())
    data["added_later"] = 1
    path.write_text(json.dumps(data))
    assert cache.load("default").access_token == "at"


def test_update_runs_under_the_lock_and_saves_the_result(tmp_path):
    cache = TokenCache(tmp_path / "c")
    assert cache.update("p", lambda old: None) is None
    assert not cache.path("p").exists()
    cache.update("p", lambda old: entry(scope="one"))
    new = cache.update("p", lambda old: CacheEntry(access_token=old.access_token + "2"))
    assert new.access_token == "at2" and cache.load("p").access_token == "at2"


def test_delete(tmp_path):
    cache = TokenCache(tmp_path / "c")
    cache.save("default", entry())
    assert cache.delete("default") and not cache.delete("default")
    assert cache.load("default") is None
    # The lock file stays: another process may hold it (never unlinked, see fileio).
    assert [p.name for p in cache.directory.iterdir()] == ["default.json.lock"]
    assert not TokenCache(tmp_path / "none").delete("default")  # nothing to forget


def test_logout_during_a_refresh_waits_for_it_and_the_profile_stays_gone(tmp_path):
    """A refresh in flight (holding the profile's lock) when logout runs: logout must not
    remove the file (and the lock) under it, or the refresh writes a live session back."""
    cache = TokenCache(tmp_path / "c")
    cache.save("p", entry())
    refreshing, release = threading.Event(), threading.Event()

    def slow_refresh(old: CacheEntry | None) -> CacheEntry:
        refreshing.set()
        assert release.wait(60)
        return entry(scope="refreshed")

    refresher = threading.Thread(target=cache.update, args=("p", slow_refresh))
    refresher.start()
    assert refreshing.wait(60)
    deleted: list[bool] = []
    logout = threading.Thread(target=lambda: deleted.append(cache.delete("p")))
    logout.start()
    # While the refresh holds the lock, a second writer may not enter: a lock taken now
    # on the same file must still be busy (it would be free on a new, unlinked-and-made one).
    lock = os.open(cache.path("p").with_name("p.json.lock"), os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(lock)
    release.set()
    refresher.join(60)
    logout.join(60)
    assert not refresher.is_alive() and not logout.is_alive()
    assert deleted == [True]
    assert cache.load("p") is None, "a logged-out profile came back with a live refresh token"


def test_every_entry_is_built_from_a_token_response():
    from oauthcli.client.answer import TokenResponse
    from oauthcli.client.cache import CacheEntry

    first = CacheEntry.from_token_response(
        TokenResponse("a1", "Bearer", expires_in=60, refresh_token="r1"),
        now=1000,
        asked_scope="read",
        source="remote",
        token_url="https://idp.example/token",
    )
    assert (first.token_type, first.expires_at, first.scope, first.obtained_at) == (
        "bearer",
        1060,
        "read",
        1000,
    )
    # a refresh without refresh_token or scope keeps both (RFC 6749 6, 5.1), and the rest
    renewed = CacheEntry.from_token_response(
        TokenResponse("a2", "bearer", expires_in=None), now=2000, previous=first
    )
    assert (renewed.access_token, renewed.refresh_token, renewed.scope) == ("a2", "r1", "read")
    assert renewed.token_url == first.token_url and renewed.obtained_at == 2000
    assert renewed.expires_at is None  # neither expires_in nor a JWT exp
