import json
import stat
import threading
import time

import pytest

from oauthcli.errors import StoreError, TokenError
from oauthcli.sessions import SessionStore

# revoke_user/revoke_family write with the real clock, so test times are real ones.
NOW = int(time.time())
LATER = NOW + 3600


def test_family_lives_beside_the_store(tmp_path):
    store = SessionStore.for_store(tmp_path / "users.toml")
    assert store.path == tmp_path / "users.sessions.json"
    assert store.revoke_user("alice") == 0 and not store.path.exists()


def test_rotation_allows_only_the_newest_token(tmp_path):
    store = SessionStore(tmp_path / "s.json")
    family = store.start("alice", "jti-1", LATER, scope="me items", now=NOW)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    record = store.rotate(family, "jti-1", "jti-2", LATER, now=NOW)
    assert record["sub"] == "alice" and record["scope"] == "me items"
    assert store.is_active(family, now=NOW)
    with pytest.raises(TokenError, match="already used") as info:
        store.rotate(family, "jti-1", "jti-3", LATER, now=NOW)
    assert info.value.reason == "reused"
    assert not store.is_active(family, now=NOW)
    with pytest.raises(TokenError, match="revoked") as info:
        store.rotate(family, "jti-2", "jti-4", LATER, now=NOW)
    assert info.value.reason == "revoked"


def test_unknown_and_ended_families(tmp_path):
    store = SessionStore(tmp_path / "s.json")
    with pytest.raises(TokenError, match="unknown"):
        store.rotate("no-such-family", "j", "k", LATER, now=NOW)
    family = store.start("alice", "j1", NOW + 10, now=NOW)
    with pytest.raises(TokenError, match="session has ended"):
        store.rotate(family, "j1", "j2", LATER, now=NOW + 11)


def test_expired_families_are_dropped_from_the_file(tmp_path):
    store = SessionStore(tmp_path / "s.json")
    store.start("old", "j1", NOW + 10, now=NOW)
    store.start("new", "j2", LATER, now=NOW + 20)
    subs = [f["sub"] for f in json.loads(store.path.read_text())["families"].values()]
    assert subs == ["new"]


def test_revoke_user_ends_only_that_users_families(tmp_path):
    store = SessionStore(tmp_path / "s.json")
    a1 = store.start("alice", "a1", LATER, now=NOW)
    a2 = store.start("alice", "a2", LATER, now=NOW)
    b = store.start("bob", "b1", LATER, now=NOW)
    assert store.revoke_user("alice") == 2
    assert store.revoke_user("alice") == 0
    assert not store.is_active(a1, now=NOW) and not store.is_active(a2, now=NOW)
    assert store.is_active(b, now=NOW)
    assert store.revoke_family(b) and not store.revoke_family("unknown")


def test_corrupt_state_is_a_store_error(tmp_path):
    path = tmp_path / "s.json"
    for text in ("{not json", "[]", '{"families": []}'):
        path.write_text(text)
        with pytest.raises(StoreError, match="corrupt"):
            SessionStore(path).start("alice", "j", LATER, now=NOW)


def test_concurrent_writers_lose_nothing(tmp_path):
    store = SessionStore(tmp_path / "s.json")

    def start_many(name: str) -> None:
        for i in range(15):
            SessionStore(store.path).start(name, f"{name}-{i}", LATER, now=NOW)

    threads = [threading.Thread(target=start_many, args=(f"u{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each thread opens its own lock fd, so flock serialises them like separate processes.
    families = json.loads(store.path.read_text())["families"]
    assert len(families) == 60


def test_unwritable_state_is_a_store_error(tmp_path):
    (tmp_path / "not-a-dir").write_text("")
    store = SessionStore(tmp_path / "not-a-dir" / "s.json")
    with pytest.raises(StoreError, match="cannot write refresh-token state"):
        store.start("alice", "j", LATER, now=NOW)
