"""The embedded server state: one SQLite file beside the user store (``<store>.state.db``).

Refresh-token families, revoked access tokens, login throttling and the
short-lived server records (codes, login sessions) of every ``serve`` worker,
every restart, and the CLI's local ``login``/``refresh``. Nothing to install:
SQLite is in Python's standard library.

- WAL mode, so readers (``GET /users/me`` checking revocations) never wait for
  a writer; ``synchronous=NORMAL`` (a power cut may lose the last commits, never
  corrupt the file: at worst a few sessions end or a lockout resets).
- Every read-modify-write runs in ``BEGIN IMMEDIATE``: the write lock is taken
  before the read, so two processes redeeming the same refresh token are
  serialised and the second sees the first one's rotation. ``busy_timeout``
  makes waiting writers queue instead of failing.
- Every row carries its expiry; expired rows are ignored by every read and
  deleted by a periodic sweep (expiry is the only cleanup: no row is evicted
  to make room for another, so 10,000 other usernames cannot erase a lockout).
- The file (and SQLite's ``-wal``/``-shm`` files, which copy its mode) is 0600.

Today's ``<store>.sessions.json`` and ``<store>.revoked.json`` (oauthcli 0.1)
are imported once, when the database is created, and renamed ``*.imported``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from oauthcli.errors import StateUnavailable, StoreError
from oauthcli.families import check_redeemable, reused_error
from oauthcli.fileio import PRIVATE_FILE

SCHEMA_VERSION = 1
T = TypeVar("T")
BUSY_TIMEOUT_S = 10.0
SWEEP_EVERY_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS families (
    id TEXT PRIMARY KEY, sub TEXT NOT NULL, scope TEXT NOT NULL, current_jti TEXT NOT NULL,
    expires_at REAL NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS families_sub ON families (sub);
CREATE INDEX IF NOT EXISTS families_expiry ON families (expires_at);
CREATE TABLE IF NOT EXISTS revoked (jti TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS revoked_expiry ON revoked (expires_at);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL, at REAL NOT NULL, failed INTEGER NOT NULL,
    expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS attempts_key ON attempts (key, failed, at);
CREATE INDEX IF NOT EXISTS attempts_expiry ON attempts (expires_at);
CREATE TABLE IF NOT EXISTS lockouts (key TEXT PRIMARY KEY, until REAL NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL, key TEXT NOT NULL, expires_at REAL NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (kind, key));
CREATE INDEX IF NOT EXISTS records_expiry ON records (expires_at);
CREATE TABLE IF NOT EXISTS control (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS control_log (id INTEGER PRIMARY KEY AUTOINCREMENT, value TEXT NOT NULL);
"""


def state_path_for_store(store_path: str | Path) -> Path:
    store_path = Path(store_path)
    return store_path.with_name(store_path.stem + ".state.db")


def legacy_paths_for_store(store_path: str | Path) -> tuple[Path, Path]:
    """oauthcli 0.1's JSON files: refresh sessions and revoked access tokens."""
    store_path = Path(store_path)
    return (
        store_path.with_name(store_path.stem + ".sessions.json"),
        store_path.with_name(store_path.stem + ".revoked.json"),
    )


# Serialises creating a database file with every SQLite open of one in this process.
_CREATE_LOCK = threading.Lock()


def _create_private(path: Path) -> None:
    """Create ``path`` 0600 if it does not exist; never open an existing one.

    Closing *any* descriptor on a file drops every POSIX lock this process holds on
    it, including SQLite's (SQLite's "How to corrupt your database" section 2.2):
    another process then believes it is the last user, checkpoints and deletes the
    ``-wal``/``-shm`` files under us. So the only descriptor opened outside SQLite
    is the one that creates the file (``O_EXCL``: a new inode, on which no SQLite
    connection of this process can hold a lock), closed before SQLite opens it.
    SQLite gives ``-wal``/``-shm`` the database's mode.
    """
    with _CREATE_LOCK:
        while True:
            try:
                if stat.S_ISLNK(os.lstat(path).st_mode):
                    raise StoreError(
                        f"the server state {path} is a symbolic link; refusing to follow it"
                    )
                return
            except FileNotFoundError:
                pass
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE)
            except FileExistsError:
                continue  # another process created it meanwhile: look at it again
            os.close(fd)
            return


def _use_wal(conn: sqlite3.Connection) -> None:
    """``PRAGMA journal_mode=WAL``, waiting as long as any other statement would.

    Switching a new file to WAL needs the file to itself, and SQLite answers "database is
    locked" at once, without the busy handler, while another connection holds it (several
    workers or CLI runs opening a fresh state together). The mode is persistent: once one
    of them has set it, the others' pragma returns at once.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


class SqliteState:
    """Families, revocations, throttle counters and records in one SQLite file.

    Safe to share between threads (one connection per thread) and processes
    (SQLite's file locks). ``clock`` gives "now" for every expiry check.
    """

    remote = False  # a local file: a read is inline (WAL readers never wait for a writer)

    def __init__(
        self,
        path: str | Path,
        *,
        legacy: tuple[Path, Path] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.legacy = legacy
        self.clock = clock
        self._local = threading.local()
        self._init_lock = threading.Lock()
        self._initialised = False
        self._next_sweep = 0.0

    @classmethod
    def for_store(
        cls, store_path: str | Path, clock: Callable[[], float] = time.time
    ) -> SqliteState:
        return cls(
            state_path_for_store(store_path), legacy=legacy_paths_for_store(store_path), clock=clock
        )

    def describe(self) -> str:
        return f"SQLite state {self.path}"

    def has_data(self) -> bool:
        """Whether there is anything to read (the file, or 0.1 JSON files to import)."""
        if self.path.exists():
            return True
        return self.legacy is not None and any(p.exists() for p in self.legacy)

    # ------------------------------------------------------------ connections

    def _unavailable(self, exc: BaseException) -> StateUnavailable:
        return StateUnavailable(f"cannot use the server state {self.path}: {exc}")

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        try:
            _create_private(self.path)
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            _use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
        except OSError as exc:
            raise StoreError(
                f"cannot open the server state {self.path}: {exc.strerror or exc}"
            ) from None
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from None
        with self._init_lock:
            if not self._initialised:
                try:
                    self._initialise(conn)
                except BaseException:
                    conn.close()
                    raise
                self._initialised = True
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _initialise(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            row = conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
            imported: list[Path] = []
            if row is None:
                conn.execute(
                    "INSERT INTO meta (name, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
                )
                imported = self._import_legacy(conn)
            elif int(row[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"the server state {self.path} was written by a newer oauthcli "
                    f"(schema {row[0]}): upgrade oauthcli, or delete it to log everyone out"
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        for path in imported:
            with contextlib.suppress(OSError):
                path.rename(path.with_name(path.name + ".imported"))

    def _import_legacy(self, conn: sqlite3.Connection) -> list[Path]:
        """Copy 0.1's live sessions and revocations in (once, in the creating transaction)."""
        if self.legacy is None:
            return []
        sessions_path, revoked_path = self.legacy
        now = self.clock()
        done = []
        families = _read_json_table(sessions_path, "families", "refresh-token state")
        if families is not None:
            for fid, fam in families.items():
                try:
                    row = (
                        str(fid),
                        str(fam["sub"]),
                        str(fam.get("scope", "")),
                        str(fam["current_jti"]),
                        float(fam["expires_at"]),
                        1 if fam.get("revoked") else 0,
                    )
                except (KeyError, TypeError, ValueError):
                    continue
                if row[4] > now:
                    conn.execute("INSERT OR IGNORE INTO families VALUES (?, ?, ?, ?, ?, ?)", row)
            done.append(sessions_path)
        revoked = _read_json_table(revoked_path, "revoked", "revoked-token list")
        if revoked is not None:
            for jti, exp in revoked.items():
                with contextlib.suppress(TypeError, ValueError):
                    if float(exp) > now:
                        conn.execute(
                            "INSERT OR IGNORE INTO revoked VALUES (?, ?)", (str(jti), float(exp))
                        )
            done.append(revoked_path)
        return done

    @contextlib.contextmanager
    def _write(self, now: float | None = None) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back if the block raises).

        ``now`` (the caller's clock) also dates the periodic sweep of expired rows.
        """
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from None
        try:
            yield conn
            if now is not None and (
                now >= self._next_sweep or now < self._next_sweep - 2 * SWEEP_EVERY_S
            ):
                self._sweep(conn, now)
                self._next_sweep = now + SWEEP_EVERY_S
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise self._unavailable(exc) from None
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _read(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        conn = self._connect()
        try:
            return conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from None

    @staticmethod
    def _sweep(conn: sqlite3.Connection, now: float) -> None:
        conn.execute("DELETE FROM families WHERE expires_at <= ?", (now,))
        conn.execute("DELETE FROM revoked WHERE expires_at <= ?", (now,))
        conn.execute("DELETE FROM attempts WHERE expires_at <= ?", (now,))
        conn.execute("DELETE FROM lockouts WHERE until <= ?", (now,))
        conn.execute("DELETE FROM records WHERE expires_at <= ?", (now,))

    def ping(self) -> None:
        self._read("SELECT 1", ())

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ------------------------------------------------------- refresh families

    def start_family(self, sub: str, jti: str, expires_at: float, scope: str, now: float) -> str:
        family_id = secrets.token_urlsafe(16)
        with self._write(now) as db:
            db.execute(
                "INSERT INTO families VALUES (?, ?, ?, ?, ?, 0)",
                (family_id, sub, scope, jti, float(expires_at)),
            )
        return family_id

    def rotate_family(
        self,
        family_id: str,
        presented_jti: str,
        new_jti: str,
        expires_at: float,
        now: float,
        check: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        reused = False
        with self._write(now) as db:
            family = _family(db, family_id)
            check_redeemable(family, now)
            assert family is not None
            if not secrets.compare_digest(family["current_jti"], presented_jti):
                db.execute("UPDATE families SET revoked = 1 WHERE id = ?", (family_id,))
                reused = True
            else:
                if check is not None:
                    check(dict(family))
                db.execute(
                    "UPDATE families SET current_jti = ?, expires_at = ? WHERE id = ?",
                    (new_jti, float(expires_at), family_id),
                )
                family.update(current_jti=new_jti, expires_at=expires_at)
        if reused:
            raise reused_error()
        return family

    def get_family(self, family_id: str) -> dict[str, Any] | None:
        rows = self._read(
            "SELECT sub, scope, current_jti, expires_at, revoked FROM families WHERE id = ?",
            (family_id,),
        )
        return _family_dict(rows[0]) if rows else None

    def revoke_family(self, family_id: str) -> bool:
        with self._write() as db:
            return (
                db.execute("UPDATE families SET revoked = 1 WHERE id = ?", (family_id,)).rowcount
                > 0
            )

    def revoke_user(self, sub: str, now: float) -> int:
        with self._write(now) as db:
            return db.execute(
                "UPDATE families SET revoked = 1 WHERE sub = ? AND revoked = 0 AND expires_at > ?",
                (sub, now),
            ).rowcount

    # ---------------------------------------------------- revoked access tokens

    def revoke_access(self, jti: str, expires_at: float, now: float) -> None:
        if expires_at <= now:
            return
        with self._write(now) as db:
            db.execute("INSERT OR REPLACE INTO revoked VALUES (?, ?)", (jti, float(expires_at)))

    def is_access_revoked(self, jti: str, now: float) -> bool:
        return bool(
            self._read("SELECT 1 FROM revoked WHERE jti = ? AND expires_at > ?", (jti, now))
        )

    # ------------------------------------------------------------- throttling

    def throttle_begin(self, key: str, now: float, max_attempts: int, window: float) -> int | None:
        with self._write(now) as db:
            row = db.execute("SELECT until FROM lockouts WHERE key = ?", (key,)).fetchone()
            if row is not None and row[0] > now:
                return max(1, math.ceil(row[0] - now))
            (count,) = db.execute(
                "SELECT COUNT(*) FROM attempts WHERE key = ? AND at > ?", (key, now - window)
            ).fetchone()
            if count >= max_attempts:
                return 0  # busy: guesses still being checked fill the allowance
            db.execute(
                "INSERT INTO attempts (key, at, failed, expires_at) VALUES (?, ?, 0, ?)",
                (key, now, now + window),
            )
            return None

    def throttle_end(
        self,
        key: str,
        now: float,
        outcome: str,
        max_attempts: int,
        window: float,
        lockout: float,
    ) -> None:
        with self._write(now) as db:
            db.execute(
                "DELETE FROM attempts WHERE id = (SELECT id FROM attempts "
                "WHERE key = ? AND failed = 0 ORDER BY at LIMIT 1)",
                (key,),
            )
            if outcome == "succeeded":
                db.execute("DELETE FROM attempts WHERE key = ? AND failed = 1", (key,))
            elif outcome == "failed":
                db.execute(
                    "INSERT INTO attempts (key, at, failed, expires_at) VALUES (?, ?, 1, ?)",
                    (key, now, now + window),
                )
                (failures,) = db.execute(
                    "SELECT COUNT(*) FROM attempts WHERE key = ? AND failed = 1 AND at > ?",
                    (key, now - window),
                ).fetchone()
                if failures >= max_attempts:
                    db.execute(
                        "INSERT OR REPLACE INTO lockouts VALUES (?, ?)", (key, now + lockout)
                    )
                    db.execute("DELETE FROM attempts WHERE key = ? AND failed = 1", (key,))

    def throttle_peek(self, key: str, now: float, window: float) -> int | None:
        # One statement: one snapshot of both tables (WAL readers never wait for a writer).
        ((until, failures),) = self._read(
            "SELECT (SELECT until FROM lockouts WHERE key = ?), "
            "(SELECT COUNT(*) FROM attempts WHERE key = ? AND failed = 1 AND at > ?)",
            (key, key, now - window),
        )
        if until is not None and until > now:
            return max(1, math.ceil(until - now))
        return 0 if failures else None

    # ---------------------------------------------------------------- records

    def put(self, kind: str, key: str, value: dict[str, Any], ttl: float) -> None:
        now = self.clock()
        with self._write(now) as db:
            db.execute(
                "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?)",
                (kind, key, now + ttl, json.dumps(value)),
            )

    def add(self, kind: str, key: str, value: dict[str, Any], ttl: float) -> bool:
        now = self.clock()
        with self._write(now) as db:
            # An expired record there counts as none (as for get); then insert if absent.
            db.execute(
                "DELETE FROM records WHERE kind = ? AND key = ? AND expires_at <= ?",
                (kind, key, now),
            )
            return (
                db.execute(
                    "INSERT OR IGNORE INTO records VALUES (?, ?, ?, ?)",
                    (kind, key, now + ttl, json.dumps(value)),
                ).rowcount
                > 0
            )

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        rows = self._read(
            "SELECT value FROM records WHERE kind = ? AND key = ? AND expires_at > ?",
            (kind, key, self.clock()),
        )
        return json.loads(rows[0][0]) if rows else None

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        now = self.clock()
        with self._write(now) as db:
            row = db.execute(
                "DELETE FROM records WHERE kind = ? AND key = ? RETURNING expires_at, value",
                (kind, key),
            ).fetchone()
        if row is None or row[0] <= now:
            return None
        return json.loads(row[1])

    def replace(self, kind: str, key: str, value: dict[str, Any], ttl: float) -> bool:
        now = self.clock()
        with self._write(now) as db:
            return (
                db.execute(
                    "UPDATE records SET expires_at = ?, value = ? "
                    "WHERE kind = ? AND key = ? AND expires_at > ?",
                    (now + ttl, json.dumps(value), kind, key, now),
                ).rowcount
                > 0
            )

    def delete(self, kind: str, key: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM records WHERE kind = ? AND key = ?", (kind, key))

    def items(self, kind: str) -> dict[str, dict[str, Any]]:
        rows = self._read(
            "SELECT key, value FROM records WHERE kind = ? AND expires_at > ? ORDER BY key",
            (kind, self.clock()),
        )
        return {row[0]: json.loads(row[1]) for row in rows}

    # ---------------------------------------------------------------- control

    def control_get(self) -> dict[str, Any]:
        rows = self._read("SELECT value FROM control WHERE name = 'control'", ())
        return json.loads(rows[0][0]) if rows else {}

    def control_update(self, change: Callable[[dict[str, Any]], T]) -> T:
        with self._write() as db:
            row = db.execute("SELECT value FROM control WHERE name = 'control'").fetchone()
            document = json.loads(row[0]) if row else {}
            result = change(document)
            db.execute(
                "INSERT OR REPLACE INTO control VALUES ('control', ?)", (json.dumps(document),)
            )
            return result

    def log_append(self, entry: dict[str, Any], limit: int) -> None:
        with self._write() as db:
            new_id = db.execute(
                "INSERT INTO control_log (value) VALUES (?)", (json.dumps(entry),)
            ).lastrowid
            db.execute("DELETE FROM control_log WHERE id <= ?", ((new_id or 0) - limit,))

    def log_entries(self) -> list[dict[str, Any]]:
        rows = self._read("SELECT value FROM control_log ORDER BY id", ())
        return [json.loads(row[0]) for row in rows]

    def log_clear(self) -> None:
        with self._write() as db:
            db.execute("DELETE FROM control_log")


# ------------------------------------------------------------------ helpers shared with Redis


def _family_dict(row: Any) -> dict[str, Any]:
    sub, scope, current_jti, expires_at, revoked = row
    return {
        "sub": sub,
        "scope": scope,
        "current_jti": current_jti,
        "expires_at": int(expires_at),
        "revoked": bool(revoked),
    }


def _family(db: sqlite3.Connection, family_id: str) -> dict[str, Any] | None:
    row = db.execute(
        "SELECT sub, scope, current_jti, expires_at, revoked FROM families WHERE id = ?",
        (family_id,),
    ).fetchone()
    return _family_dict(row) if row is not None else None


def _read_json_table(path: Path, table: str, what: str) -> dict[str, Any] | None:
    """One table of a 0.1 JSON state file; ``None`` when the file is absent."""
    try:
        doc = json.loads(path.read_bytes())
        found = doc[table]
        if not isinstance(found, dict):
            raise TypeError
        return found
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError):
        raise StoreError(f"{what} {path} is corrupt; delete it to forget it") from None
