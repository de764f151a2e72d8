"""The state contract, run against every backend: memory, SQLite and a real redis-server.

One suite for ``oauthcli.state.contract.State``: refresh families (rotation, reuse,
expiry, user-wide revocation), revoked access tokens, the throttle counters (the
algorithm exists in Python, SQL and Lua: these tests are its one definition),
one-time records (atomic ``take`` under concurrency) and consent. Two handles on
one storage stand for two workers or two instances (memory: one handle, as it is
shared by nothing else). Expiry is driven by an injected clock, never by waiting.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from oauthcli.errors import TokenError
from oauthcli.server import LoginThrottle
from oauthcli.sessions import SessionStore
from oauthcli.state.contract import KINDS, grant_consent, has_consent, revoke_consent
from oauthcli.state.denylist import Denylist
from oauthcli.state.memory import MemoryState
from oauthcli.state.redis import RedisState
from oauthcli.state.sqlite import SqliteState

NOW = 1_700_000_000.0
BACKENDS = ["memory", "sqlite", "redis"]


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _handles(kind: str, request, tmp_path, clock: Clock) -> tuple[Any, Any]:
    if kind == "memory":
        shared = MemoryState(clock)
        return shared, shared
    if kind == "sqlite":
        path = tmp_path / "users.state.db"
        return SqliteState(path, clock=clock), SqliteState(path, clock=clock)
    server = request.getfixturevalue("redis_server")
    return RedisState.from_url(server.url, clock=clock), RedisState.from_url(
        server.url, clock=clock
    )


@pytest.fixture(params=BACKENDS)
def pair(request, tmp_path) -> tuple[Any, Any, Clock]:
    """Two handles on one shared state (two workers / two instances) and their clock."""
    clock = Clock()
    one, other = _handles(request.param, request, tmp_path, clock)
    return one, other, clock


@pytest.fixture(params=BACKENDS)
def one_state(request, tmp_path) -> tuple[Any, Clock]:
    clock = Clock()
    return _handles(request.param, request, tmp_path, clock)[0], clock


@pytest.fixture(params=BACKENDS)
def state(request, tmp_path) -> Any:
    """A backend for the throttle tests (their clock is the throttle's)."""
    return _handles(request.param, request, tmp_path, Clock())[0]


# ---------------------------------------------------------------- records


def test_records_put_get_replace_take_delete_and_expire(one_state):
    store, clock = one_state
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


def test_add_writes_only_when_no_live_record_is_there(one_state):
    store, clock = one_state
    assert store.add("dpop_jti", "k", {"n": 1}, ttl=10)
    assert not store.add("dpop_jti", "k", {"n": 2}, ttl=10)
    assert store.get("dpop_jti", "k") == {"n": 1}  # the refused add wrote nothing
    clock.now += 10
    assert store.add("dpop_jti", "k", {"n": 3}, ttl=10)  # expired: as if absent
    assert store.get("dpop_jti", "k") == {"n": 3}


def test_items_lists_the_live_records_of_one_kind(one_state):
    store, clock = one_state
    assert store.items("registered_client") == {}
    store.put("registered_client", "c-2", {"n": 2}, ttl=60)
    store.put("registered_client", "c-1", {"n": 1}, ttl=10)
    store.put("registered_client*", "x", {"n": 3}, ttl=60)  # a kind that globs the first
    store.put("code", "c-3", {"n": 4}, ttl=60)
    assert store.items("registered_client") == {"c-1": {"n": 1}, "c-2": {"n": 2}}
    clock.now += 10
    assert store.items("registered_client") == {"c-2": {"n": 2}}
    store.delete("registered_client", "c-2")
    assert store.items("registered_client") == {}


# ---------------------------------------------------------------- across handles


def test_20_concurrent_adds_of_one_key_across_handles_succeed_once(pair):
    one, other, _ = pair
    barrier = threading.Barrier(20)

    def add(i: int) -> bool:
        barrier.wait()
        return bool((one, other)[i % 2].add("dpop_jti", "race", {"i": i}, ttl=60))

    with ThreadPoolExecutor(20) as pool:
        got = list(pool.map(add, range(20)))
    assert got.count(True) == 1


def test_a_record_issued_by_one_is_taken_once_by_the_other(pair):
    one, other, _ = pair
    one.put("code", "c1", {"client_id": "cli"}, ttl=60)
    assert other.get("code", "c1") == {"client_id": "cli"}
    assert other.take("code", "c1") == {"client_id": "cli"}
    assert one.take("code", "c1") is None


def test_a_pushed_request_is_redeemed_once_at_either_instance_until_it_expires(pair):
    """RFC 9126: a request_uri pushed at one worker is taken once, at any worker, and is
    gone at its ``expires_in`` (the record the provider writes, ``par_request``)."""
    one, other, clock = pair
    assert "par_request" in KINDS
    one.put("par_request", "r1", {"request": {"client_id": "cli"}}, ttl=60)
    one.put("par_request", "r2", {"request": {"client_id": "cli"}}, ttl=60)
    assert other.take("par_request", "r1") == {"request": {"client_id": "cli"}}
    assert one.take("par_request", "r1") is None
    clock.now += 61
    assert other.take("par_request", "r2") is None


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


# ---------------------------------------------------------------- consent


def test_consent_covers_the_scopes_granted_and_adds_up(one_state):
    store, clock = one_state
    assert "consent" in KINDS
    assert not has_consent(store, "alice", "cli", ["openid"])
    grant_consent(store, "alice", "cli", ["openid", "me"], ttl=3600)
    assert has_consent(store, "alice", "cli", ["me"])
    assert has_consent(store, "alice", "cli", [])
    assert not has_consent(store, "alice", "cli", ["me", "offline_access"])
    assert not has_consent(store, "bob", "cli", ["me"])  # per user...
    assert not has_consent(store, "alice", "other", ["me"])  # ...and per client
    grant_consent(store, "alice", "cli", ["offline_access"], ttl=3600)
    assert has_consent(store, "alice", "cli", ["openid", "me", "offline_access"])
    clock.now += 3600
    assert not has_consent(store, "alice", "cli", ["me"])  # consent expires
    grant_consent(store, "alice", "cli", ["me"], ttl=3600)
    revoke_consent(store, "alice", "cli")
    assert not has_consent(store, "alice", "cli", ["me"])


def test_consent_keys_do_not_collide_across_separators(one_state):
    store, _ = one_state
    grant_consent(store, "a:b", "c", ["me"], ttl=60)
    assert not has_consent(store, "a", "b:c", ["me"])


# ------------------------------------------------------------- throttle


def fail(throttle: LoginThrottle, key: str, times: int) -> None:
    for _ in range(times):
        assert throttle.begin(key) is None
        throttle.failed(key)


def test_locks_after_max_failures_for_the_lockout(state):
    clock = Clock(1000.0)
    throttle = LoginThrottle(max_failures=3, lockout=60, clock=clock, backend=state)
    fail(throttle, "alice", 3)
    assert throttle.begin("alice") == 60
    clock.now += 59.2
    assert throttle.begin("alice") == 1
    clock.now += 1
    assert throttle.begin("alice") is None  # lock over, counter reset


def test_failures_outside_the_window_are_forgotten(state):
    clock = Clock(1000.0)
    throttle = LoginThrottle(max_failures=3, lockout=60, clock=clock, backend=state)
    fail(throttle, "alice", 2)
    clock.now += 61
    fail(throttle, "alice", 2)
    assert throttle.begin("alice") is None


def test_success_clears_and_users_are_independent(state):
    throttle = LoginThrottle(max_failures=2, lockout=60, clock=Clock(1000.0), backend=state)
    fail(throttle, "alice", 1)
    assert throttle.begin("alice") is None
    throttle.succeeded("alice")
    fail(throttle, "alice", 1)  # one failure since the success: not locked
    assert throttle.begin("alice") is None
    throttle.finished("alice")
    fail(throttle, "bob", 2)  # bob's failures are his own
    assert throttle.begin("bob") == 60
    assert throttle.begin("alice") is None


def test_guesses_in_flight_hold_the_limit(state):
    """Issue 9.1: reservations are taken before bcrypt, so a burst cannot walk past."""
    clock = Clock(1000.0)
    throttle = LoginThrottle(max_failures=3, lockout=60, clock=clock, backend=state)
    assert [throttle.try_begin("alice") for _ in range(5)] == [None, None, None, 0, 0]
    throttle.finished("alice")  # no verdict: the reservation is released
    assert throttle.begin("alice") is None
    throttle.succeeded("alice")  # a right password frees its place too
    assert throttle.begin("alice") is None
    for _ in range(3):
        throttle.failed("alice")
    assert throttle.begin("alice") == 60  # three failures: locked


def test_a_crashed_attempt_expires_with_the_window(state):
    clock = Clock(1000.0)
    throttle = LoginThrottle(max_failures=1, lockout=30, clock=clock, backend=state)
    assert throttle.begin("alice") is None  # the worker dies before its verdict
    assert throttle.try_begin("alice") == 0 and throttle.begin("alice") == 1
    clock.now += 31
    assert throttle.begin("alice") is None


def test_other_usernames_cannot_evict_a_lockout(state):
    """Issue 9.1: 10,000 logins with other usernames erased a 10-minute lockout."""
    clock = Clock(1000.0)
    throttle = LoginThrottle(max_failures=1, lockout=600, clock=clock, backend=state)
    fail(throttle, "alice", 1)
    # Redis has no eviction of ours to test (one round trip each): fewer there.
    count = 1_000 if isinstance(state, RedisState) else 10_000
    for n in range(count):
        clock.now = 1000.0 + n / count * 100
        fail(throttle, f"user{n}", 1)
    clock.now = 1100.0
    assert throttle.begin("alice") == 500
    clock.now += 500
    assert throttle.begin("alice") is None


def test_disabled_with_zero(state):
    off = LoginThrottle(max_failures=0, backend=state)
    fail(off, "alice", 100)
    assert off.begin("alice") is None


def test_throttle_counters_are_shared_by_two_handles(pair):
    one, other, clock = pair
    assert one.throttle_begin("alice", clock(), 2, 60) is None
    assert other.throttle_begin("alice", clock(), 2, 60) is None
    assert one.throttle_begin("alice", clock(), 2, 60) == 0  # two in flight fill it
    other.throttle_end("alice", clock(), "failed", 2, 60, 30)
    one.throttle_end("alice", clock(), "failed", 2, 60, 30)
    assert other.throttle_begin("alice", clock(), 2, 60) == 30
    clock.now += 30
    assert one.throttle_begin("alice", clock(), 2, 60) is None


def test_concurrent_reservations_never_exceed_the_allowance(pair):
    one, other, clock = pair
    barrier = threading.Barrier(20)

    def begin(i: int) -> int | None:
        barrier.wait()
        return (one, other)[i % 2].throttle_begin("burst", clock(), 5, 60)

    with ThreadPoolExecutor(20) as pool:
        got = list(pool.map(begin, range(20)))
    assert got.count(None) == 5 and got.count(0) == 15, got


def settle(throttle: LoginThrottle, key: str, ok: bool) -> int | None:
    """``LoginThrottle.settle`` (a coroutine: the server awaits it) from a test's thread."""
    return asyncio.run(throttle.settle(key, ok))


def test_settle_records_a_check_already_made(state):
    clock = Clock(1000.0)
    throttle = LoginThrottle(max_failures=3, lockout=60, clock=clock, backend=state)

    assert settle(throttle, "client fast", True) is None
    for _ in range(3):
        assert settle(throttle, "client fast", False) is None  # each failure counts
    assert settle(throttle, "client fast", True) == 60  # locked: even the right secret
    clock.now += 61
    assert settle(throttle, "client fast", True) is None
    # A success forgets the failures before it, as for a reserved attempt.
    for _ in range(2):
        settle(throttle, "client fast", False)
    settle(throttle, "client fast", True)
    for _ in range(2):
        settle(throttle, "client fast", False)
    assert throttle.begin("client fast") is None


def test_throttle_peek_reads_what_the_counters_say_and_writes_nothing(pair):
    one, other, clock = pair
    assert one.throttle_peek("alice", clock(), 60) is None  # never seen
    for _ in range(10):  # peeks reserve nothing: the allowance stays whole
        assert other.throttle_peek("alice", clock(), 60) is None
    assert one.throttle_begin("alice", clock(), 2, 60) is None
    assert other.throttle_peek("alice", clock(), 60) is None  # a reservation is no failure
    one.throttle_end("alice", clock(), "failed", 2, 60, 30)
    assert other.throttle_peek("alice", clock(), 60) == 0  # holds a failure
    clock.now += 61
    assert one.throttle_peek("alice", clock(), 60) is None  # out of the window
    for _ in range(2):
        assert other.throttle_begin("alice", clock(), 2, 60) is None
        other.throttle_end("alice", clock(), "failed", 2, 60, 30)
    assert one.throttle_peek("alice", clock(), 60) == 30  # locked
    clock.now += 29.5
    assert one.throttle_peek("alice", clock(), 60) == 1
    clock.now += 0.5
    assert one.throttle_peek("alice", clock(), 60) is None
    assert one.throttle_peek("bob", clock(), 60) is None


class CountingState:
    """The backend's throttle calls, counted (what a success costs)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def counted(*args: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return method(*args)

        return counted


def test_a_success_with_nothing_to_forget_writes_nothing(state):
    counting = CountingState(state)
    throttle = LoginThrottle(max_failures=3, lockout=60, clock=Clock(1000.0), backend=counting)
    for _ in range(50):
        assert settle(throttle, "client:ci", True) is None
    assert counting.calls == {"throttle_peek": 50}  # one read each, no reservation
    assert settle(throttle, "client:ci", False) is None
    assert settle(throttle, "client:ci", True) is None  # forgets that failure: writes
    assert counting.calls["throttle_begin"] == 2 and counting.calls["throttle_end"] == 2
    for _ in range(2):
        assert settle(throttle, "client:ci", False) is None
    assert settle(throttle, "client:ci", True) is None  # forgets both: two more do not lock
    for _ in range(2):
        assert settle(throttle, "client:ci", False) is None
    assert settle(throttle, "client:ci", False) is None  # the third since the success
    assert settle(throttle, "client:ci", True) == 60  # locked: even the right secret


def test_successes_racing_failures_across_handles_leave_sound_counters(pair):
    """Successes (one read when clean) and failures (reserve + record) at once, on two handles:
    afterwards no reservation is left behind, a lockout holds for every success, and the
    failures counted after the race lock the key at exactly max_failures."""
    one, other, clock = pair
    throttles = [
        LoginThrottle(max_failures=3, lockout=60, clock=clock, backend=b) for b in pair[:2]
    ]
    barrier = threading.Barrier(24)

    def run(i: int) -> int | None:
        barrier.wait()
        return settle(throttles[i % 2], "client:race", i >= 4)  # 4 failures, 20 successes

    with ThreadPoolExecutor(24) as pool:
        got = list(pool.map(run, range(24)))
    assert all(w is None or w >= 0 for w in got)
    # Whatever the interleaving: locked now, or not; then no reservation leaked.
    locked = throttles[0].try_begin("client:race")
    if locked is None:
        throttles[0].finished("client:race")
    else:
        assert locked > 0  # never "busy": nothing is in flight any more
        assert [settle(t, "client:race", True) for t in throttles] == [locked, locked]
        clock.now += 61
    for t in throttles:  # a clean start: three failures lock, not two, not four
        assert settle(t, "client:race", True) is None
    for _ in range(2):
        settle(throttles[1], "client:race", False)
    assert one.throttle_peek("client:race", clock(), 60) == 0
    settle(throttles[0], "client:race", False)
    assert other.throttle_peek("client:race", clock(), 60) == 60
    assert [settle(t, "client:race", True) for t in throttles] == [60, 60]


# ---------------------------------------------------------------- control (serve --control)


def test_the_control_document_is_shared_and_a_failing_change_writes_nothing(pair):
    one, other, _ = pair
    assert one.control_get() == {}

    def advance(doc: dict[str, Any]) -> float:
        doc["offset"] = doc.get("offset", 0) + 30
        return doc["offset"]

    assert one.control_update(advance) == 30
    assert other.control_update(advance) == 60
    assert one.control_get() == {"offset": 60}

    def broken(doc: dict[str, Any]) -> None:
        doc["offset"] = 0
        raise ValueError("refused")

    with pytest.raises(ValueError):
        other.control_update(broken)
    assert other.control_get() == {"offset": 60}


def test_20_concurrent_control_updates_lose_none(pair):
    one, other, _ = pair
    barrier = threading.Barrier(20)

    def bump(i: int) -> None:
        barrier.wait()

        def change(doc: dict[str, Any]) -> None:
            doc["n"] = doc.get("n", 0) + 1

        (one, other)[i % 2].control_update(change)

    with ThreadPoolExecutor(20) as pool:
        list(pool.map(bump, range(20)))
    assert one.control_get() == {"n": 20}


def test_the_request_log_keeps_the_newest_entries_in_order_and_clears(pair):
    one, other, _ = pair
    for i in range(7):
        (one, other)[i % 2].log_append({"n": i}, limit=5)
    assert other.log_entries() == [{"n": i} for i in range(2, 7)]
    one.log_clear()
    assert other.log_entries() == []
    one.control_update(lambda doc: doc.update(kept=True))
    assert other.control_get() == {"kept": True}  # the log's clearing leaves the document
