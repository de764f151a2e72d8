"""``oauthcli serve`` with shared state, as users run it: real processes, real Redis.

- the embedded default (``<store>.state.db``) across ``--workers 2`` and a restart;
- two instances on one ``redis-server``: rotation, reuse, revocation, throttling and
  records seen by both, and races between them;
- Redis stopped mid-run: 503 ``temporarily_unavailable``, nothing accepted, then recovery.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from oauthcli.state.redis import RedisState
from tests.cli.test_serve_cmd import serve, stop
from tests.conftest import assert_one_line_error, write_store
from tests.redis_server import running_redis

ISSUER = "http://auth.example.test"


def token(url: str, http: httpx.Client | None = None, **form: str) -> httpx.Response:
    if http is not None:
        return http.post(url + "/token", data=form)
    with httpx.Client(timeout=30) as client:
        return client.post(url + "/token", data=form)


def password(url: str, user: str = "alice", pw: str = "secret", **kw) -> httpx.Response:
    return token(url, grant_type="password", username=user, password=pw, **kw)


def refresh(url: str, refresh_token: str, **kw) -> httpx.Response:
    return token(url, grant_type="refresh_token", refresh_token=refresh_token, **kw)


def me(url: str, access_token: str) -> httpx.Response:
    return httpx.get(
        url + "/users/me", headers={"Authorization": f"Bearer {access_token}"}, timeout=30
    )


@contextlib.contextmanager
def instances(store_path: Path, *args: str, count: int = 2) -> Iterator[list[str]]:
    """``count`` instances of one provider: one issuer, as behind a load balancer."""
    write_store(
        store_path,
        issuer={"algorithm": "HS256", "secret_file": "hs256.secret", "issuer": ISSUER},
    )
    with contextlib.ExitStack() as stack:
        urls = [
            stack.enter_context(serve("--store", str(store_path), *args, cwd=store_path.parent))[1]
            for _ in range(count)
        ]
        yield urls


# ---------------------------------------------------------------- embedded default


def test_two_workers_allow_exactly_max_failures_and_a_restart_keeps_the_lockout(store_path):
    args = ("--workers", "2", "--max-failures", "5", "--lockout", "10m")
    with serve("--store", str(store_path), *args, cwd=store_path.parent) as (proc, url, _):
        with httpx.Client(timeout=60) as http, ThreadPoolExecutor(6) as pool:
            statuses = list(
                pool.map(lambda _: password(url, pw="wrong", http=http).status_code, range(12))
            )
        assert sorted(statuses) == [400] * 5 + [429] * 7, statuses
        assert stop(proc) == 0
    with serve("--store", str(store_path), *args, cwd=store_path.parent) as (_, url, _):
        locked = password(url)  # the right password, after a restart: still locked out
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 60
    assert (store_path.parent / "users.state.db").exists()


def test_refresh_rotated_by_one_worker_is_reused_at_the_other(store_path):
    with serve("--store", str(store_path), "--workers", "2", cwd=store_path.parent) as (
        _,
        url,
        _,
    ):
        first = password(url).json()
        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda _: refresh(url, first["refresh_token"]), range(20)))
        assert [a.status_code for a in answers].count(200) == 1


# --------------------------------------------------------------------------- Redis


def test_two_instances_on_redis_act_as_one_provider(store_path, redis_server):
    with instances(store_path, "--state", redis_server.url, "--max-failures", "4") as (a, b):
        # A refresh token rotated at one is refused as reused at the other...
        first = password(a).json()
        rotated = refresh(a, first["refresh_token"])
        assert rotated.status_code == 200
        reused = refresh(b, first["refresh_token"])
        assert reused.status_code == 400 and "already used" in reused.json()["error_description"]
        # ...and the whole family is revoked at both.
        for url in (a, b):
            assert refresh(url, rotated.json()["refresh_token"]).status_code == 400

        # A revocation at one is seen by the other.
        access = password(b).json()["access_token"]
        assert me(a, access).status_code == 200
        with httpx.Client(timeout=30) as http:
            assert http.post(b + "/revoke", data={"token": access}).status_code == 200
        assert me(a, access).status_code == 401

        # Failed logins at both count against one limit (4).
        assert password(a, "johndoe", "wrong").status_code == 400
        assert password(b, "johndoe", "wrong").status_code == 400
        assert password(a, "johndoe", "wrong").status_code == 400
        assert password(b, "johndoe", "wrong").status_code == 400
        assert password(a, "johndoe", "secret").status_code == 429
        assert password(b, "johndoe", "secret").status_code == 429
    assert redis_server.client().keys("oauthcli:*")  # the state was in Redis


def test_20_refreshes_of_one_token_over_two_instances_yield_one_success(store_path, redis_server):
    with instances(store_path, "--state", redis_server.url) as urls:
        first = password(urls[0]).json()
        barrier = threading.Barrier(20)

        def attempt(i: int) -> int:
            barrier.wait()
            return refresh(urls[i % 2], first["refresh_token"]).status_code

        with ThreadPoolExecutor(20) as pool:
            statuses = list(pool.map(attempt, range(20)))
    assert statuses.count(200) == 1 and statuses.count(400) == 19, statuses


def test_records_issued_by_one_app_are_redeemed_once_at_the_other(store_path, redis_server):
    """Codes, device codes and login sessions go through ``Records`` on each app's state."""
    from oauthcli.issuer import settings_for_store
    from oauthcli.server import create_app
    from oauthcli.store import UserStore

    store = UserStore(store_path)
    settings = settings_for_store(store_path, store.load().issuer)
    apps = [
        create_app(store, settings, state=RedisState.from_url(redis_server.url)) for _ in range(2)
    ]
    one, other = (app.state.server_state for app in apps)
    one.put("code", "c-1", {"client_id": "cli", "sub": "alice"}, ttl=60)
    barrier = threading.Barrier(20)

    def take(i: int):
        barrier.wait()
        return (one, other)[i % 2].take("code", "c-1")

    with ThreadPoolExecutor(20) as pool:
        got = [g for g in pool.map(take, range(20)) if g is not None]
    assert got == [{"client_id": "cli", "sub": "alice"}]


def test_redis_down_mid_run_is_503_and_service_resumes(store_path, own_redis):
    with serve("--store", str(store_path), "--state", own_redis.url, cwd=store_path.parent) as (
        _,
        url,
        log,
    ):
        good = password(url).json()
        revoked = password(url).json()["access_token"]
        with httpx.Client(timeout=30) as http:
            http.post(url + "/revoke", data={"token": revoked})
        assert me(url, revoked).status_code == 401

        own_redis.stop()
        for answer in (
            refresh(url, good["refresh_token"]),
            password(url),
            me(url, revoked),  # a revoked token is never let through for want of the list
            me(url, good["access_token"]),
            password(url, pw="wrong"),
        ):
            assert answer.status_code == 503, answer.text
            body = answer.json()
            assert body["error"] == "temporarily_unavailable", body
        text = log.read_text()
        assert "cannot reach the state store" in text and "Traceback" not in text

        own_redis.start()  # same port, empty (no persistence): sessions are gone
        deadline = time.monotonic() + 30  # after a failure, calls fail fast for a second
        while me(url, good["access_token"]).status_code != 200:
            assert time.monotonic() < deadline, "service did not resume"
            time.sleep(0.1)
        assert refresh(url, good["refresh_token"]).status_code == 400  # refused, not accepted
        assert password(url).status_code == 200
        assert "reachable again" in log.read_text()


def test_serve_refuses_to_start_without_its_redis(cli, store_path):
    from tests.redis_server import free_port

    result = cli(
        "serve", "--store", str(store_path), "--state", f"redis://127.0.0.1:{free_port()}/0"
    )
    assert_one_line_error(result, 7, "cannot reach the state store")


@pytest.mark.parametrize(
    ("state", "fragment"),
    [
        ("redis://:hunter2@127.0.0.1:6379/0", "OAUTHCLI_STATE_PASSWORD"),
        ("redis://user:hunter2@127.0.0.1:6379/0", "must not carry a password"),
        ("redis://127.0.0.1:6379/0?password=hunter2", "must not carry a password"),
        ("rediss://127.0.0.1:6379/0?ssl_password=hunter2", "must not carry a password"),
        ("http://127.0.0.1:6379/0", "redis://HOST:PORT/DB"),
        ("redis://127.0.0.1:6379/x", "must be a number"),
    ],
)
def test_state_url_is_checked_before_anything_starts(cli, store_path, state, fragment):
    result = cli("serve", "--store", str(store_path), "--state", state)
    assert_one_line_error(result, 2, fragment)
    assert "hunter2" not in result.output


def test_password_from_the_environment_or_a_file(cli, store_path, monkeypatch, tmp_path):
    with running_redis(password="s3cret-pw") as server:
        wrong = cli("serve", "--store", str(store_path), "--state", server.url)
        assert_one_line_error(wrong, 7, "cannot reach the state store")  # NOAUTH
        assert "s3cret-pw" not in wrong.output
        pw_file = tmp_path / "redis.pw"
        pw_file.write_text("s3cret-pw\n")
        for extra, env in (
            (("--state-password-file", str(pw_file)), {}),
            ((), {"OAUTHCLI_STATE_PASSWORD": "s3cret-pw"}),
        ):
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            with serve(
                "--store", str(store_path), "--state", server.url, *extra, cwd=store_path.parent
            ) as (_, url, _):
                assert password(url).status_code == 200
        assert server.client().keys("oauthcli:fam:*")


def test_cli_local_login_and_serve_share_sessions_through_oauthcli_state(
    cli, store_path, redis_server, monkeypatch
):
    monkeypatch.setenv("OAUTHCLI_STATE", redis_server.url)
    with instances(store_path, count=1) as (url,):  # no --state: OAUTHCLI_STATE
        result = cli("login", "alice", "--password-stdin", "--format", "env", input="secret\n")
        assert result.exit_code == 0, result.stderr
        lines = dict(line.split("=", 1) for line in result.stdout.split())
        assert redis_server.client().keys("oauthcli:fam:*")
        rotated = refresh(url, lines["OAUTHCLI_REFRESH_TOKEN"])  # the CLI's session, at serve
        assert rotated.status_code == 200, rotated.text
        assert cli("user", "disable", "alice").exit_code == 0  # revokes it in Redis too
        assert cli("user", "enable", "alice").exit_code == 0
        assert refresh(url, rotated.json()["refresh_token"]).status_code == 400
