"""The server state contract, held by each backend: SQLite (embedded default) and real Redis.

Two backend objects over the same storage stand for two workers or two
instances. Expiry is driven by an injected clock, never by waiting.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from oauthcli.errors import TokenError
from oauthcli.server.records import MemoryRecords
from oauthcli.server.state import Denylist
from oauthcli.sessions import SessionStore
from oauthcli.state_redis import RedisState
from oauthcli.state_sqlite import SqliteState

NOW = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "redis"])
def pair(request, tmp_path) -> tuple[Any, Any, Clock]:
    """Two handles on one shared state (two workers / two instances) and their clock."""
    clock = Clock()
    if request.param == "sqlite":
        path = tmp_path / "users.state.db"
        return SqliteState(path, clock=clock), SqliteState(path, clock=clock), clock
    server = request.getfixturevalue("redis_server")
    return (
        RedisState.from_url(server.url, clock=clock),
        RedisState.from_url(server.url, clock=clock),
        clock,
    )


@pytest.fixture(params=["memory", "sqlite", "redis"])
def records(request, tmp_path) -> tuple[Any, Clock]:
    clock = Clock()
    if request.param == "memory":
        return MemoryRecords(clock), clock
    if request.param == "sqlite":
        return SqliteState(tmp_path / "s.db", clock=clock), clock
    server = request.getfixturevalue("redis_server")
    return RedisState.from_url(server.url, clock=clock), clock


def test_records_put_get_replace_take_delete_and_expire(records):
    store, clock = records
    store.put("code", "abc", {"sub": "alice", "n": 1}, ttl=60)
    assert store.get("code", "abc") == {"sub": "alice", "n": 1}
    assert store.get("device", "abc") is None  # kinds are separate
    assert store.replace("code", "abc", {"sub": "alice", "n": 2}, ttl=60)
    assert not store.replace("code", "nope", {}, ttl=60)
    clock.now += 59
    assert store.get("code", "abc") == {"sub": "alice", "n": 2}
    assert store.take("code", "abc") == {"sub": "alice", "n": 2}
    assert store.take("code", "abc") is None and store.get("code", "abc") is None
    store.put("code", "gone", {"x": 1}, ttl=10)
    clock.now += 10
    assert store.get("code", "gone") is None
    assert not store.replace("code", "gone", {"x": 2}, ttl=10)
    assert store.take("code", "gone") is None
    store.put("session", "s1", {"x": 1}, ttl=10)
    store.delete("session", "s1")
    store.delete("session", "never-there")
    assert store.get("session", "s1") is None


def test_a_record_issued_by_one_is_taken_once_by_the_other(pair):
    one, other, _ = pair
    one.put("code", "c1", {"client_id": "cli"}, ttl=60)
    assert other.get("code", "c1") == {"client_id": "cli"}
    assert other.take("code", "c1") == {"client_id": "cli"}
    assert one.take("code", "c1") is None


def test_20_concurrent_takes_of_one_record_give_it_to_exactly_one(pair):
    one, other, _ = pair
    one.put("code", "race", {"sub": "alice"}, ttl=60)
    barrier = threading.Barrier(20)

    def take(i: int) -> dict[str, Any] | None:
        barrier.wait()
        return (one, other)[i % 2].take("code", "race")

    with ThreadPoolExecutor(20) as pool:
        got = list(pool.map(take, range(20)))
    assert [g for g in got if g is not None] == [{"sub": "alice"}]


def test_families_rotate_once_and_reuse_revokes_at_both(pair):
    one, other, clock = pair
    at_one, at_other = SessionStore(one), SessionStore(other)
    family = at_one.start("alice", "j1", int(NOW) + 3600, scope="me", now=clock())
    assert at_other.rotate(family, "j1", "j2", int(NOW) + 3600, now=clock())["scope"] == "me"
    with pytest.raises(TokenError) as info:
        at_one.rotate(family, "j1", "j3", int(NOW) + 3600, now=clock())
    assert info.value.reason == "reused"
    assert not at_other.is_active(family, now=clock()) and not at_one.is_active(family, now=clock())
    with pytest.raises(TokenError, match="revoked"):
        at_other.rotate(family, "j2", "j4", int(NOW) + 3600, now=clock())


def test_20_concurrent_rotations_of_one_refresh_token_yield_one_success(pair):
    one, other, clock = pair
    family = SessionStore(one).start("alice", "j1", int(NOW) + 3600, now=clock())
    barrier = threading.Barrier(20)

    def rotate(i: int) -> str:
        barrier.wait()
        try:
            SessionStore((one, other)[i % 2]).rotate(
                family, "j1", f"new-{i}", int(NOW) + 3600, now=clock()
            )
        except TokenError as exc:
            return exc.reason
        return "ok"

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(rotate, range(20)))
    assert outcomes.count("ok") == 1, outcomes


def test_family_expiry_and_user_wide_revocation(pair):
    one, other, clock = pair
    at_one, at_other = SessionStore(one), SessionStore(other)
    short = at_one.start("alice", "a1", int(NOW) + 10, now=clock())
    long = at_one.start("alice", "a2", int(NOW) + 3600, now=clock())
    bob = at_one.start("bob", "b1", int(NOW) + 3600, now=clock())
    clock.now += 11
    with pytest.raises(TokenError, match="session has ended"):
        at_other.rotate(short, "a1", "a3", int(NOW) + 3600, now=clock())
    assert at_other.revoke_user("alice", now=clock()) == 1  # the ended one is not counted
    assert not at_one.is_active(long, now=clock()) and at_one.is_active(bob, now=clock())
    assert at_other.revoke_family(bob) and not at_other.revoke_family("unknown")
    assert not at_one.is_active(bob, now=clock())


def test_revoked_access_tokens_are_seen_by_the_other_until_they_expire(pair):
    one, other, clock = pair
    Denylist(one, clock=clock).add("jti-1", int(NOW) + 30)
    Denylist(one, clock=clock).add("jti-old", int(NOW) - 1)  # already expired: nothing to keep
    seen = Denylist(other, clock=clock)
    assert seen.contains("jti-1") and not seen.contains("jti-2") and not seen.contains("jti-old")
    clock.now += 30
    assert not seen.contains("jti-1")
