"""Login throttling: the policy (busy waits) and 429 + Retry-After from the real server.

The counters under it are part of the state contract: ``tests/state/test_conformance.py``.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from oauthcli.server import LoginThrottle
from tests.apps_serve.live import add_client, live_server, login


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_busy_logins_wait_for_a_place_then_429(tmp_path):
    throttle = LoginThrottle(max_failures=1, lockout=60, clock=Clock(), busy_wait=0.2)

    async def scenario() -> list[int | None]:
        assert await throttle.acquire("alice") is None
        waiting = asyncio.ensure_future(throttle.acquire("alice"))
        await asyncio.sleep(0.01)
        throttle.succeeded("alice")  # the first login ends: the waiter gets its place
        first = await waiting
        timed_out = await throttle.acquire("alice")  # nobody releases: 429 after busy_wait
        return [first, timed_out]

    assert asyncio.run(scenario()) == [None, 1]


@pytest.fixture
def server(store_path: Path):
    with live_server(store_path, throttle=LoginThrottle(max_failures=3, lockout=30)) as live:
        yield live


def test_repeated_failures_get_429_with_retry_after(server):
    for _ in range(3):
        assert login(server, "alice", "wrong").status_code == 400
    locked = login(server, "alice", "secret")  # even the right password waits
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["retry-after"]) <= 30
    body = locked.json()
    # RFC 6749 5.2: the credentials are refused; not RFC 8628 slow_down (keep polling).
    assert body["error"] == "invalid_grant" and body["detail"] == body["error_description"]
    assert "access_token" not in body
    # Another user is not affected; unknown users are throttled the same way.
    assert login(server, "johndoe", "secret").status_code == 200
    for _ in range(3):
        assert login(server, "ghost", "wrong").status_code == 400
    assert login(server, "ghost", "wrong").status_code == 429


def test_success_resets_the_count(server):
    for _ in range(2):
        login(server, "alice", "wrong")
    assert login(server, "alice", "secret").status_code == 200
    for _ in range(2):
        login(server, "alice", "wrong")
    assert login(server, "alice", "secret").status_code == 200


def test_a_burst_of_guesses_reaches_bcrypt_at_most_max_failures_times(server):
    """Issue 9.1: 60 concurrent guesses, the right password among them: at most 3 are checked.

    A 400 is a password that bcrypt checked and refused; a 429 never reached bcrypt.
    """
    guesses = ["wrong"] * 59 + ["secret"]
    form = {"grant_type": "password", "username": "alice"}
    with server.client() as http, ThreadPoolExecutor(20) as pool:
        statuses = list(
            pool.map(
                lambda pw: http.post("/token", data={**form, "password": pw}).status_code,
                guesses,
            )
        )
    checked = statuses.count(400) + statuses.count(200)
    assert set(statuses) <= {200, 400, 429}, statuses
    assert checked <= 3 and statuses.count(400) <= 3, statuses
    assert statuses.count(429) >= 57


def test_client_secret_guessing_is_throttled_too(server):
    add_client(server.store, "ci-bot", "right-secret", [])
    with server.client() as http:
        for _ in range(3):
            response = http.post(
                "/token",
                data={"grant_type": "client_credentials"},
                auth=("ci-bot", "wrong"),
            )
            assert response.status_code == 401
        response = http.post(
            "/token", data={"grant_type": "client_credentials"}, auth=("ci-bot", "right-secret")
        )
    assert response.status_code == 429 and "retry-after" in response.headers


def test_a_generated_client_secret_is_throttled_without_queueing(server, monkeypatch):
    """A client of `client add --new-secret-file` (no bcrypt) is not held to --max-failures
    requests in flight, yet guessing its secret locks it out like any other."""
    from oauthcli.passwords import generate_secret, hash_generated_secret
    from oauthcli.store import Client

    secret = generate_secret()
    with server.store.edit() as data:
        data.clients["fast"] = Client("fast", hash_generated_secret(secret), [])
    acquired: list[str] = []
    real_acquire = LoginThrottle.acquire

    async def counting_acquire(self, key):
        acquired.append(key)
        return await real_acquire(self, key)

    monkeypatch.setattr(LoginThrottle, "acquire", counting_acquire)
    form = {"grant_type": "client_credentials"}
    with server.client() as http, ThreadPoolExecutor(12) as pool:
        statuses = list(
            pool.map(lambda _: http.post("/token", data=form, auth=("fast", secret)).status_code,
                     range(36))
        )  # fmt: skip
        assert statuses == [200] * 36
        assert acquired == []  # never waited for a reservation
        for _ in range(3):
            assert http.post("/token", data=form, auth=("fast", "x" * 43)).status_code == 401
        locked = http.post("/token", data=form, auth=("fast", secret))
    assert locked.status_code == 429 and "retry-after" in locked.headers


@pytest.mark.parametrize("remote", [False, True])
def test_a_free_success_reads_a_local_state_inline_and_a_remote_one_off_the_loop(remote):
    """``offload``: the one read a client's token request makes of the throttle (nothing to
    forget, no lock) runs on the event loop for a local backend and in the thread pool
    for a remote one (a network round trip must not hold every other request)."""
    import threading

    from oauthcli.state.memory import MemoryState

    readers: list[int] = []

    class Recording(MemoryState):
        def throttle_peek(self, key: str, now: float, window: float) -> int | None:
            readers.append(threading.get_ident())
            return super().throttle_peek(key, now, window)

    backend = Recording()
    backend.remote = remote
    throttle = LoginThrottle(backend=backend)

    async def settle() -> tuple[int | None, int]:
        return await throttle.settle("client:ci", True), threading.get_ident()

    answer, loop_thread = asyncio.run(settle())
    assert answer is None and len(readers) == 1
    assert (readers[0] != loop_thread) is remote


def test_an_unguessable_success_reads_the_throttle_once_a_lag_and_sees_a_lockout_here_at_once():
    """A generated secret's success (``unguessable``) re-reads the throttle once per
    ``CLEAR_LAG``: another worker's lockout refuses it within that time, a lockout
    recorded by this worker at once; a chosen secret's success reads every time."""
    from oauthcli.server.throttle import CLEAR_LAG
    from oauthcli.state.memory import MemoryState

    class Clock:
        def __init__(self, now: float) -> None:
            self.now = now

        def __call__(self) -> float:
            return self.now

    reads: list[str] = []

    class Counting(MemoryState):
        def throttle_peek(self, key: str, now: float, window: float) -> int | None:
            reads.append(key)
            return super().throttle_peek(key, now, window)

    clock, lag = Clock(1000.0), Clock(0.0)
    backend = Counting(clock)
    here, there = (
        LoginThrottle(max_failures=3, lockout=60, clock=clock, backend=backend, monotonic=lag)
        for _ in range(2)
    )

    def settle(throttle: LoginThrottle, ok: bool, unguessable: bool = True) -> int | None:
        return asyncio.run(throttle.settle("client:ci", ok, unguessable=unguessable))

    assert [settle(here, True) for _ in range(5)] == [None] * 5
    assert len(reads) == 1
    assert [settle(there, False) for _ in range(3)] == [None] * 3  # another worker locks it
    assert settle(here, True) is None  # within the lag: not seen yet
    lag.now += CLEAR_LAG
    assert settle(here, True) == 60  # seen: even the right secret is refused
    clock.now += 61  # the lockout ends
    assert settle(here, True) is None and settle(here, True) is None
    reads.clear()
    assert [settle(here, False) for _ in range(3)] == [None] * 3  # locked here ...
    assert settle(here, True) == 60  # ... and refused here at once, with no time passing
    clock.now += 61
    reads.clear()
    assert [settle(here, True, unguessable=False) for _ in range(3)] == [None] * 3
    assert len(reads) == 3  # a chosen secret's success reads every time


def test_a_success_read_while_this_worker_records_a_lockout_is_not_remembered():
    """A "clear" read that races a write of this worker (a SQLite lock wait, a Redis round
    trip) is not kept: once the lockout is recorded the right generated secret is refused
    at once, as the README promises for a lockout recorded by the same worker."""
    import threading

    from oauthcli.state.memory import MemoryState

    writing, go = threading.Event(), threading.Event()

    class Slow(MemoryState):
        def throttle_end(self, *args: object) -> None:
            writing.set()
            assert go.wait(30)  # a deadline for the test's own signal, not a measurement
            super().throttle_end(*args)  # type: ignore[arg-type]

    throttle = LoginThrottle(max_failures=1, lockout=60, backend=Slow())

    async def race() -> tuple[int | None, int | None]:
        failing = asyncio.ensure_future(throttle.settle("client:ci", False))
        await asyncio.get_running_loop().run_in_executor(None, writing.wait)
        during = await throttle.settle("client:ci", True, unguessable=True)
        go.set()
        await failing
        return during, await throttle.settle("client:ci", True, unguessable=True)

    during, after = asyncio.run(race())
    assert during is None  # read before the lockout was written: the success went ahead
    assert after == 60
