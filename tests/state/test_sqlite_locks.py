"""The embedded SQLite state keeps SQLite's POSIX locks (SQLite's "How to corrupt" §2.2).

A process that opens and closes any descriptor on the database file drops every
POSIX lock it holds on it. Another process (the CLI beside ``serve``) then believes
it is the last user, checkpoints and deletes the ``-wal``/``-shm`` files under it.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from oauthcli.errors import StoreError
from oauthcli.state.sqlite import SqliteState

NOW = 1_700_000_000.0

# What a CLI process beside ``serve`` does to the file: open it with SQLite, read, close.
_OTHER_PROCESS = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("SELECT COUNT(*) FROM revoked").fetchone()
conn.close()
"""


def test_a_new_thread_keeps_the_process_locks_so_another_process_leaves_the_wal(tmp_path):
    path = tmp_path / "users.state.db"
    state = SqliteState(path, clock=lambda: NOW)
    state.revoke_access("jti-1", NOW + 3600, NOW)  # this thread's connection: WAL holds it
    wal = path.with_name(path.name + "-wal")
    assert wal.exists()

    # A second thread of the same process makes its first connection (serve's thread pool).
    seen: list[bool] = []
    worker = threading.Thread(target=lambda: seen.append(state.is_access_revoked("jti-1", NOW)))
    worker.start()
    worker.join(60)
    assert not worker.is_alive() and seen == [True]

    # Another process opens and closes the database: it must see this one still using it.
    subprocess.run([sys.executable, "-c", _OTHER_PROCESS, str(path)], check=True, timeout=60)
    assert wal.exists(), "another process checkpointed and deleted the -wal of a live user"
    assert path.with_name(path.name + "-shm").exists()
    assert state.is_access_revoked("jti-1", NOW)
    state.close()


def test_the_database_is_created_private_and_a_symlink_is_refused(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "users.state.db"
        SqliteState(path).ping()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        for suffix in ("-wal", "-shm"):
            assert stat.S_IMODE(Path(str(path) + suffix).stat().st_mode) == 0o600
    finally:
        os.umask(old)
    link = tmp_path / "link.state.db"
    link.symlink_to(tmp_path / "elsewhere.db")
    with pytest.raises(StoreError, match="symbolic link"):
        SqliteState(link).ping()
    assert not (tmp_path / "elsewhere.db").exists()


def test_many_first_opens_of_a_new_state_at_once_all_succeed(tmp_path):
    """Workers and CLI runs opening a fresh state together: switching the new file to WAL
    answered "database is locked" at once to all but one of them (about one round in twelve
    of eight openers failed before the fix)."""
    from oauthcli.sessions import SessionStore

    failures: list[BaseException] = []

    def open_and_write(path: Path, name: str) -> None:
        try:
            SessionStore(SqliteState(path)).start(name, f"{name}-0", 4102444800, now=1)
        except BaseException as exc:  # collected and asserted below
            failures.append(exc)

    for round_ in range(40):
        path = tmp_path / f"state-{round_}.db"
        threads = [threading.Thread(target=open_and_write, args=(path, f"u{n}")) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
            assert not thread.is_alive(), "an opener hung"
        assert failures == [], failures[0]
