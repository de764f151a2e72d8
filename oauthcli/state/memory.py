"""The state contract in this process's memory (tests, ``create_app`` without a shared state).

Same behaviour as the SQLite and Redis backends (the conformance suite runs all
three); nothing is shared with another process. One lock serialises every call,
which makes each operation atomic. Expiry is checked against the injected clock on
every read; expired entries are swept now and then (never a live one evicted).
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from oauthcli.families import check_redeemable, reused_error

T = TypeVar("T")
_SWEEP_EVERY = 1024  # writes between sweeps of expired entries


@dataclass
class _Attempts:
    pending: list[float] = field(default_factory=list)
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0

    def expired(self, now: float, window: float) -> bool:
        return self.locked_until <= now and all(
            t <= now - window for t in self.pending + self.failures
        )


class MemoryState:
    """``oauthcli.state.contract.State`` in memory, with an injectable clock."""

    remote = False

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._families: dict[str, dict[str, Any]] = {}
        self._revoked: dict[str, float] = {}
        self._attempts: dict[str, _Attempts] = {}
        self._records: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._writes = 0
        self._control: dict[str, Any] = {}
        self._log: list[dict[str, Any]] = []

    def describe(self) -> str:
        return "in-memory state (this process only)"

    def has_data(self) -> bool:
        return True

    def ping(self) -> None:
        return None

    def close(self) -> None:
        return None

    def _sweep(self, now: float, window: float | None = None) -> None:
        """Drop expired entries, every ``_SWEEP_EVERY`` writes (call with the lock held)."""
        self._writes += 1
        if self._writes % _SWEEP_EVERY:
            return
        for fid in [f for f, fam in self._families.items() if fam["expires_at"] <= now]:
            del self._families[fid]
        for jti in [j for j, exp in self._revoked.items() if exp <= now]:
            del self._revoked[jti]
        if window is not None:  # throttle entries only with the window that dates them
            for k in [k for k, a in self._attempts.items() if a.expired(now, window)]:
                del self._attempts[k]
        for rk in [k for k, (exp, _) in self._records.items() if exp <= now]:
            del self._records[rk]

    # ------------------------------------------------------- refresh families

    def start_family(self, sub: str, jti: str, expires_at: float, scope: str, now: float) -> str:
        family_id = secrets.token_urlsafe(16)
        with self._lock:
            self._sweep(now)
            self._families[family_id] = {
                "sub": sub,
                "scope": scope,
                "current_jti": jti,
                "expires_at": int(expires_at),
                "revoked": False,
            }
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
        with self._lock:
            family = self._families.get(family_id)
            check_redeemable(family, now)
            assert family is not None
            if not secrets.compare_digest(family["current_jti"], presented_jti):
                family["revoked"] = True
                raise reused_error()
            if check is not None:
                check(dict(family))
            family.update(current_jti=new_jti, expires_at=int(expires_at))
            return dict(family)

    def get_family(self, family_id: str) -> dict[str, Any] | None:
        with self._lock:
            family = self._families.get(family_id)
            return None if family is None else dict(family)

    def revoke_family(self, family_id: str) -> bool:
        with self._lock:
            family = self._families.get(family_id)
            if family is None:
                return False
            family["revoked"] = True
            return True

    def revoke_user(self, sub: str, now: float) -> int:
        count = 0
        with self._lock:
            for family in self._families.values():
                if family["sub"] == sub and not family["revoked"] and family["expires_at"] > now:
                    family["revoked"] = True
                    count += 1
        return count

    # ---------------------------------------------------- revoked access tokens

    def revoke_access(self, jti: str, expires_at: float, now: float) -> None:
        if expires_at <= now:
            return
        with self._lock:
            self._sweep(now)
            self._revoked[jti] = float(expires_at)

    def is_access_revoked(self, jti: str, now: float) -> bool:
        with self._lock:
            return self._revoked.get(jti, now) > now

    # ------------------------------------------------------------- throttling

    def _entry(self, key: str, now: float, window: float) -> _Attempts:
        self._sweep(now, window)
        entry = self._attempts.setdefault(key, _Attempts())
        entry.pending = [t for t in entry.pending if t > now - window]
        entry.failures = [t for t in entry.failures if t > now - window]
        return entry

    def throttle_begin(self, key: str, now: float, max_attempts: int, window: float) -> int | None:
        with self._lock:
            entry = self._entry(key, now, window)
            if entry.locked_until > now:
                return max(1, math.ceil(entry.locked_until - now))
            if len(entry.pending) + len(entry.failures) >= max_attempts:
                return 0
            entry.pending.append(now)
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
        with self._lock:
            entry = self._entry(key, now, window)
            if entry.pending:
                entry.pending.pop(0)
            if outcome == "succeeded":
                entry.failures.clear()
            elif outcome == "failed":
                entry.failures.append(now)
                if len(entry.failures) >= max_attempts:
                    entry.locked_until = now + lockout
                    entry.failures.clear()

    def throttle_peek(self, key: str, now: float, window: float) -> int | None:
        with self._lock:
            entry = self._attempts.get(key)
            if entry is None:
                return None
            if entry.locked_until > now:
                return max(1, math.ceil(entry.locked_until - now))
            return 0 if any(t > now - window for t in entry.failures) else None

    # ---------------------------------------------------------------- records

    def _live(self, k: tuple[str, str], now: float) -> dict[str, Any] | None:
        found = self._records.get(k)
        if found is None:
            return None
        if found[0] <= now:
            del self._records[k]
            return None
        return found[1]

    def put(self, kind: str, key: str, value: dict[str, Any], ttl: float) -> None:
        with self._lock:
            now = self.clock()
            self._sweep(now)
            self._records[(kind, key)] = (now + ttl, dict(value))

    def add(self, kind: str, key: str, value: dict[str, Any], ttl: float) -> bool:
        with self._lock:
            now = self.clock()
            if self._live((kind, key), now) is not None:
                return False
            self._sweep(now)
            self._records[(kind, key)] = (now + ttl, dict(value))
            return True

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._live((kind, key), self.clock())
            return None if found is None else dict(found)

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._live((kind, key), self.clock())
            if found is not None:
                del self._records[(kind, key)]
            return found

    def replace(self, kind: str, key: str, value: dict[str, Any], ttl: float) -> bool:
        with self._lock:
            now = self.clock()
            if self._live((kind, key), now) is None:
                return False
            self._records[(kind, key)] = (now + ttl, dict(value))
            return True

    def delete(self, kind: str, key: str) -> None:
        with self._lock:
            self._records.pop((kind, key), None)

    def items(self, kind: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            now = self.clock()
            return {
                k: dict(v)
                for (kd, k), (exp, v) in self._records.items()
                if kd == kind and exp > now
            }

    # ---------------------------------------------------------------- control

    def control_get(self) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self._control))

    def control_update(self, change: Callable[[dict[str, Any]], T]) -> T:
        with self._lock:
            # A copy (as the other backends decode one): a failing change writes nothing.
            document = json.loads(json.dumps(self._control))
            result = change(document)
            self._control = json.loads(json.dumps(document))
            return result

    def log_append(self, entry: dict[str, Any], limit: int) -> None:
        with self._lock:
            self._log.append(json.loads(json.dumps(entry)))
            del self._log[: max(0, len(self._log) - limit)]

    def log_entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return json.loads(json.dumps(self._log))

    def log_clear(self) -> None:
        with self._lock:
            self._log.clear()
