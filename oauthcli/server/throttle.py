"""Login throttling: too many failed logins for one username within a period -> 429.

Kept in memory, per worker process: with ``--workers N`` an attacker gets up to
N times the allowance, and a restart forgets it. It bounds online guessing
against a development server; it is not a distributed rate limiter.

Failures are counted per username as submitted (known or not, so throttling
reveals nothing about which users exist). Once ``max_failures`` failures fall
within ``window`` seconds, the username is locked for ``lockout`` seconds; a
successful login clears its record. Once a username has a recent failure,
logins still being checked count as failures while they run, so a burst of
parallel guesses can't slip past; parallel logins with no failure (CI jobs
sharing a user) are never held back.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_MAX_FAILURES = 5
DEFAULT_LOCKOUT = 60


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    in_flight: int = 0
    locked_until: float = 0.0


class LoginThrottle:
    def __init__(
        self,
        max_failures: int = DEFAULT_MAX_FAILURES,
        lockout: float = DEFAULT_LOCKOUT,
        window: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self.lockout = lockout
        self.window = lockout if window is None else window
        self.clock = clock
        self.max_entries = max_entries
        self._records: OrderedDict[str, _Record] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.max_failures > 0

    def _record(self, key: str, now: float) -> _Record:
        record = self._records.get(key)
        if record is None:
            record = self._records[key] = _Record()
            while len(self._records) > self.max_entries:
                self._records.popitem(last=False)
        else:
            self._records.move_to_end(key)
        while record.failures and record.failures[0] <= now - self.window:
            record.failures.popleft()
        return record

    def begin(self, key: str) -> int | None:
        """Start a login attempt: ``None`` to go ahead, else the seconds to wait (Retry-After)."""
        if not self.enabled:
            return None
        now = self.clock()
        record = self._record(key, now)
        if record.locked_until > now:
            return max(1, math.ceil(record.locked_until - now))
        if record.failures and len(record.failures) + record.in_flight >= self.max_failures:
            # Recent failures plus guesses still running fill the allowance: come back shortly.
            return 1
        record.in_flight += 1
        return None

    def failed(self, key: str) -> None:
        if not self.enabled:
            return
        now = self.clock()
        record = self._record(key, now)
        record.in_flight = max(0, record.in_flight - 1)
        record.failures.append(now)
        if len(record.failures) >= self.max_failures:
            record.locked_until = now + self.lockout
            record.failures.clear()

    def succeeded(self, key: str) -> None:
        if not self.enabled:
            return
        self._records.pop(key, None)

    def finished(self, key: str) -> None:
        """The attempt ended without a verdict on the password (e.g. bad scope after success)."""
        record = self._records.get(key)
        if record is not None:
            record.in_flight = max(0, record.in_flight - 1)
