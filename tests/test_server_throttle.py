"""Login throttling: the counter itself, and 429 + Retry-After from the real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from oauthcli.server import LoginThrottle
from tests.apps_serve.live import add_client, live_server, login


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(throttle: LoginThrottle, key: str, times: int) -> None:
    for _ in range(times):
        assert throttle.begin(key) is None
        throttle.failed(key)


def test_locks_after_max_failures_for_the_lockout():
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, lockout=60, clock=clock)
    fail(throttle, "alice", 3)
    assert throttle.begin("alice") == 60
    clock.now += 59.2
    assert throttle.begin("alice") == 1
    clock.now += 1
    assert throttle.begin("alice") is None  # lock over, counter reset


def test_failures_outside_the_window_are_forgotten():
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, lockout=60, clock=clock)
    fail(throttle, "alice", 2)
    clock.now += 61
    fail(throttle, "alice", 2)
    assert throttle.begin("alice") is None


def test_success_clears_and_users_are_independent():
    throttle = LoginThrottle(max_failures=2, lockout=60, clock=Clock())
    fail(throttle, "alice", 1)
    assert throttle.begin("alice") is None
    throttle.succeeded("alice")
    fail(throttle, "alice", 1)
    assert throttle.begin("bob") is None
    fail(throttle, "bob", 1)
    assert throttle.begin("bob") is not None


def test_parallel_attempts_count_while_in_flight_after_a_failure():
    throttle = LoginThrottle(max_failures=3, lockout=60, clock=Clock())
    for _ in range(10):  # parallel logins of a user with no failures all go ahead
        assert throttle.begin("alice") is None
    for _ in range(10):
        throttle.finished("alice")
    fail(throttle, "alice", 1)
    assert throttle.begin("alice") is None
    assert throttle.begin("alice") is None
    assert throttle.begin("alice") == 1  # one failure + two guesses still running
    throttle.finished("alice")
    assert throttle.begin("alice") is None


def test_disabled_with_zero_and_memory_is_bounded():
    off = LoginThrottle(max_failures=0)
    fail(off, "alice", 100)
    assert off.begin("alice") is None
    bounded = LoginThrottle(max_failures=1, max_entries=10, clock=Clock())
    for n in range(100):
        fail(bounded, f"user{n}", 1)
    assert len(bounded._records) == 10


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
    assert body["error"] == "slow_down" and body["detail"] == body["error_description"]
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
