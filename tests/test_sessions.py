"""Refresh-token families over the embedded SQLite state (what the CLI and serve share)."""

import json
import multiprocessing
import stat
import threading

import pytest

from oauthcli.errors import StoreError, TokenError
from oauthcli.sessions import SessionStore
from oauthcli.state.sqlite import SqliteState

NOW = 1_700_000_000
LATER = NOW + 3600


def test_family_lives_beside_the_store_and_nothing_is_created_for_nothing(tmp_path):
    store = SessionStore.for_store(tmp_path / "users.toml")
    assert store.path == tmp_path / "users.state.db"
    # `user disable` on a store that never had a login creates no state file
    assert store.revoke_user("alice") == 0 and not store.revoke_family("x")
    assert not store.path.exists()


def test_rotation_allows_only_the_newest_token(tmp_path):
    store = SessionStore(tmp_path / "s.db")
    family = store.start("alice", "jti-1", LATER, scope="me items", now=NOW)
    for suffix in ("", "-wal", "-shm"):
        path = tmp_path / f"s.db{suffix}"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
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


def test_a_refused_check_leaves_the_token_valid(tmp_path):
    store = SessionStore(tmp_path / "s.db")
    family = store.start("alice", "j1", LATER, now=NOW)

    def refuse(record):
        raise TokenError("no", "scope")

    with pytest.raises(TokenError, match="no"):
        store.rotate(family, "j1", "j2", LATER, now=NOW, check=refuse)
    assert store.rotate(family, "j1", "j2", LATER, now=NOW)["current_jti"] == "j2"


def test_unknown_and_ended_families(tmp_path):
    store = SessionStore(tmp_path / "s.db")
    with pytest.raises(TokenError, match="unknown"):
        store.rotate("no-such-family", "j", "k", LATER, now=NOW)
    family = store.start("alice", "j1", NOW + 10, now=NOW)
    with pytest.raises(TokenError, match="session has ended"):
        store.rotate(family, "j1", "j2", LATER, now=NOW + 11)


def test_expired_families_are_swept_by_expiry(tmp_path):
    state = SqliteState(tmp_path / "s.db")
    store = SessionStore(state)
    old = store.start("old", "j1", NOW + 10, now=NOW)
    new = store.start("new", "j2", LATER, now=NOW + 100)  # a write after expiry sweeps
    assert store.family(old) is None and store.family(new) is not None


def test_revoke_user_ends_only_that_users_families(tmp_path):
    store = SessionStore(tmp_path / "s.db")
    a1 = store.start("alice", "a1", LATER, now=NOW)
    a2 = store.start("alice", "a2", LATER, now=NOW)
    b = store.start("bob", "b1", LATER, now=NOW)
    assert store.revoke_user("alice", now=NOW) == 2
    assert store.revoke_user("alice", now=NOW) == 0
    assert not store.is_active(a1, now=NOW) and not store.is_active(a2, now=NOW)
    assert store.is_active(b, now=NOW)
    assert store.revoke_family(b) and not store.revoke_family("unknown")


def test_sessions_of_oauthcli_0_1_are_imported_once(tmp_path):
    """Existing setups keep working: today's JSON files are read into the new state."""
    legacy = tmp_path / "users.sessions.json"
    legacy.write_text(
        json.dumps(
            {
                "families": {
                    "fam-live": {
                        "sub": "alice",
                        "scope": "me",
                        "current_jti": "j1",
                        "expires_at": LATER,
                        "revoked": False,
                    },
                    "fam-old": {
                        "sub": "bob",
                        "scope": "",
                        "current_jti": "j",
                        "expires_at": NOW - 1,
                        "revoked": False,
                    },
                }
            }
        )
    )
    revoked = tmp_path / "users.revoked.json"
    revoked.write_text(json.dumps({"revoked": {"jti-x": LATER, "jti-gone": NOW - 5}}))
    state = SqliteState.for_store(tmp_path / "users.toml", clock=lambda: NOW)
    store = SessionStore(state)
    assert store.rotate("fam-live", "j1", "j2", LATER, now=NOW)["sub"] == "alice"
    assert store.family("fam-old") is None
    assert state.is_access_revoked("jti-x", NOW) and not state.is_access_revoked("jti-gone", NOW)
    assert not legacy.exists() and (tmp_path / "users.sessions.json.imported").exists()
    assert (tmp_path / "users.revoked.json.imported").exists()
    # A second process opening the same state does not import again.
    legacy.write_text(json.dumps({"families": {}}))
    again = SessionStore.for_store(tmp_path / "users.toml")
    assert again.family("fam-live")["current_jti"] == "j2"


def test_corrupt_legacy_file_is_a_store_error(tmp_path):
    (tmp_path / "users.sessions.json").write_text("{not json")
    with pytest.raises(StoreError, match="corrupt"):
        SessionStore.for_store(tmp_path / "users.toml").start("alice", "j", LATER, now=NOW)


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "s.db"

    def start_many(name: str) -> None:
        store = SessionStore(path)  # each thread its own connection, as separate processes
        for i in range(15):
            store.start(name, f"{name}-{i}", LATER, now=NOW)

    threads = [threading.Thread(target=start_many, args=(f"u{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive(), "a writer hung"
    store = SessionStore(path)
    assert sum(store.revoke_user(f"u{n}", now=NOW) for n in range(4)) == 60


def _rotate_once(path: str, family: str, barrier, results) -> None:
    barrier.wait()
    try:
        SessionStore(path).rotate(family, "j1", f"new-{id(barrier)}", LATER, now=NOW)
        results.put("ok")
    except TokenError as exc:
        results.put(exc.reason)


def test_one_refresh_token_is_spent_once_across_processes(tmp_path):
    """8 processes present the same refresh token at once: exactly one rotates it."""
    path = str(tmp_path / "s.db")
    family = SessionStore(path).start("alice", "j1", LATER, now=NOW)
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(8), ctx.Queue()
    procs = [
        ctx.Process(target=_rotate_once, args=(path, family, barrier, results)) for _ in range(8)
    ]
    for proc in procs:
        proc.start()
    outcomes = sorted(results.get(timeout=60) for _ in procs)
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0, proc.exitcode  # None while still running
    assert outcomes.count("ok") == 1, outcomes
    # every other presentation was reuse, which revoked the family (or found it revoked)
    assert set(outcomes) - {"ok"} <= {"reused", "revoked"}
    assert not SessionStore(path).is_active(family, now=NOW)


def test_unwritable_state_is_a_store_error(tmp_path):
    (tmp_path / "not-a-dir").write_text("")
    store = SessionStore(tmp_path / "not-a-dir" / "s.db")
    with pytest.raises(StoreError, match="cannot open the server state"):
        store.start("alice", "j", LATER, now=NOW)


@pytest.mark.parametrize(
    ("family", "live", "reason_text"),
    [
        (None, False, "unknown or its session has ended"),
        ({"revoked": False, "expires_at": NOW + 1}, True, None),
        ({"revoked": False, "expires_at": NOW}, False, "unknown or its session has ended"),
        ({"revoked": True, "expires_at": NOW + 100}, False, "has been revoked"),
        ({"revoked": 1, "expires_at": NOW - 1}, False, "has been revoked"),
    ],
)
def test_one_rule_says_whether_a_family_may_be_redeemed(family, live, reason_text):
    from oauthcli import families
    from oauthcli.errors import TokenError

    assert families.is_live(family, NOW) is live
    if live:
        families.check_redeemable(family, NOW)
    else:
        with pytest.raises(TokenError, match=reason_text) as raised:
            families.check_redeemable(family, NOW)
        assert raised.value.reason == "revoked"
