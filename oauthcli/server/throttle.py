"""Login throttling: too many failed logins for one username within a period -> 429.

Failures are counted per username as submitted (known or not, so throttling
reveals nothing about which users exist), in the server state: with the
embedded default every worker of one ``serve`` and every restart share the
counts; with ``--state redis://`` every instance does.

The limit holds for guesses still being checked: ``begin`` atomically
*reserves* an attempt before the password reaches bcrypt, and refuses once
failures plus reservations within ``window`` reach ``max_failures``. So at most
``max_failures`` guesses per username per window reach bcrypt, whatever the
concurrency. Parallel logins beyond that (CI jobs sharing a user) wait for a
reservation to be released, up to ``busy_wait`` seconds, then get 429 +
Retry-After: the server cannot tell them from guesses before checking.
A failure keeps its reservation as a failure; once ``max_failures`` failures
fall within the window the username is locked for ``lockout`` seconds. A
success releases its reservation and clears the failures. Every entry expires
on its own (a reservation left by a crashed worker too): nothing is evicted to
make room, so logins with other usernames cannot erase a lockout.

Keys live in namespaces (``key(USER, name)``, ``key(CLIENT, id)``, ``key(USER_CODE,
address)``): no username can lock out a client or an address. Every caller goes
through ``attempt``, one async context manager that reserves, waits while busy,
records the verdict and releases, with each state call off the event loop.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

from oauthcli.state.contract import ThrottleBackend
from oauthcli.state.memory import MemoryState

DEFAULT_MAX_FAILURES = 5
DEFAULT_LOCKOUT = 60
CLEAR_LAG = 1.0  # seconds a read of "no failure, no lock" stands for an unguessable success
_MAX_CLEAR = 4096
# Namespaces of throttle keys: a username, a client id, the address typing user codes.
USER = "user"
CLIENT = "client"
USER_CODE = "user_code"
_KEY_CHARS = 1024  # longer values (refused anyway) share the key of their first 1024 chars


def key(namespace: str, value: str) -> str:
    """The throttle key of ``value`` in ``namespace``: ``"user:alice"``, ``"client:ci-bot"``.

    The namespace is the prefix up to the first colon, so values of one namespace can
    never spell a key of another (a username ``"user_code 127.0.0.1"`` is ``"user:..."``).
    """
    return f"{namespace}:{value[:_KEY_CHARS]}"


class Throttled(Exception):
    """The key is locked (or its allowance stayed busy): retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed attempts; try again in {retry_after} s")
        self.retry_after = retry_after


class Attempt:
    """The verdict of one reserved attempt; no verdict releases it as ``finished``."""

    outcome = "finished"

    def failed(self) -> None:
        """Wrong credentials: the attempt stays counted as a failure."""
        self.outcome = "failed"

    def succeeded(self) -> None:
        """Right credentials: release the reservation and forget the failures."""
        self.outcome = "succeeded"


class LoginThrottle:
    def __init__(
        self,
        max_failures: int = DEFAULT_MAX_FAILURES,
        lockout: float = DEFAULT_LOCKOUT,
        window: float | None = None,
        clock: Callable[[], float] = time.time,
        backend: ThrottleBackend | None = None,
        busy_wait: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.busy_wait = busy_wait
        self.max_failures = max_failures
        self.lockout = lockout
        self.window = lockout if window is None else window
        self.clock = clock
        self.backend: ThrottleBackend = backend if backend is not None else MemoryState(clock)
        self.monotonic = monotonic
        # key -> until when (``monotonic``) a read of "no failure, no lock" stands for a
        # success no guess can produce (``settle(unguessable=True)``); any write here ends it.
        self._clear: dict[str, float] = {}
        self._writes = 0  # writes made through this throttle (a read racing one is not kept)

    @property
    def enabled(self) -> bool:
        return self.max_failures > 0

    def try_begin(self, key: str) -> int | None:
        """Try to reserve a login attempt once: ``None`` to go ahead, ``0`` when busy (retry
        shortly), else the seconds the key is locked. Blocking: call it off the event loop.
        """
        if not self.enabled:
            return None
        with self._writing(key):
            return self.backend.throttle_begin(key, self.clock(), self.max_failures, self.window)

    def begin(self, key: str) -> int | None:
        """Reserve a login attempt without waiting: ``None`` to go ahead, else Retry-After."""
        wait = self.try_begin(key)
        return 1 if wait == 0 else wait

    async def acquire(self, key: str) -> int | None:
        """Reserve an attempt, waiting while the allowance is busy: ``None`` to go ahead,
        else the Retry-After seconds (locked, or still busy after ``busy_wait``)."""
        import anyio

        deadline = time.monotonic() + self.busy_wait
        while True:
            wait = await anyio.to_thread.run_sync(self.try_begin, key)
            if wait is None or wait > 0:
                return wait
            if time.monotonic() >= deadline:
                return 1
            await anyio.sleep(0.05)

    @asynccontextmanager
    async def attempt(self, key: str) -> AsyncIterator[Attempt]:
        """Reserve an attempt for ``key`` (raise ``Throttled`` when locked or still busy),
        run the body, and end the reservation with the verdict the body recorded::

            async with ctx.throttle.attempt(throttle.key(throttle.USER, name)) as attempt:
                ok = await run_in_threadpool(check, name, password)
                attempt.succeeded() if ok else attempt.failed()

        The verdict is written even when the body raises or the request is cancelled.
        """
        import anyio

        retry_after = await self.acquire(key)
        if retry_after is not None:
            raise Throttled(retry_after)
        attempt = Attempt()
        try:
            yield attempt
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._end, key, attempt.outcome)

    async def settle(self, key: str, ok: bool, *, unguessable: bool = False) -> int | None:
        """Throttle a check already made because it cost nothing (a generated client
        secret's HMAC, a verification remembered): no reservation has to bound the work,
        yet a locked key is refused and a failure counts as any other.

        ``None``: the outcome is recorded (a success may go ahead); ``> 0``: the key is
        locked for that many seconds; ``0``: reservations of other attempts fill the
        allowance (the key is not locked): a success may go ahead, a failure must be
        recorded through ``attempt`` instead.

        A success with no failure to forget and no lock (the common case: a client
        fetching tokens) is one read, inline unless the backend is remote
        (``offload.read``); anything else is written off the event loop. For a success
        no guess can produce (``unguessable``: a generated 256-bit secret, which a
        lockout does not protect) that read stands for ``CLEAR_LAG`` seconds: a lockout
        recorded by another worker or instance refuses it within that time, one recorded
        here at once. Even a read of the state costs a token request a sixth of its time.
        """
        from oauthcli.server import offload

        if not self.enabled:
            return None
        if ok:
            if unguessable and self._clear.get(key, 0.0) > self.monotonic():
                return None
            # A success only forgets failures: with none to forget and no lock there is
            # nothing to write. A failure recorded after that read stays counted: the
            # success took effect before it.
            writes = self._writes
            wait = await offload.read(
                self.backend, self.backend.throttle_peek, key, self.clock(), self.window
            )
            if wait is None and unguessable and writes == self._writes:
                if len(self._clear) >= _MAX_CLEAR:
                    self._clear.clear()
                self._clear[key] = self.monotonic() + CLEAR_LAG
            if wait != 0:
                return wait
        return await offload.write(self._record, key, ok)

    def _record(self, key: str, ok: bool) -> int | None:
        wait = self.try_begin(key)
        if wait is None:
            # Reserved and released in one go: held for two statements, not for a check.
            self._end(key, "succeeded" if ok else "failed")
        return wait

    def _end(self, key: str, outcome: str) -> None:
        if self.enabled:
            with self._writing(key):
                self.backend.throttle_end(
                    key, self.clock(), outcome, self.max_failures, self.window, self.lockout
                )

    @contextmanager
    def _writing(self, key: str) -> Iterator[None]:
        """A write of ``key``'s counters ends any remembered "clear" read of it: one made
        before the write, and (through ``_writes``) one whose read raced with it."""
        self._clear.pop(key, None)
        try:
            yield
        finally:
            self._writes += 1
            self._clear.pop(key, None)

    def failed(self, key: str) -> None:
        """The reserved attempt was a wrong password: it stays counted as a failure."""
        self._end(key, "failed")

    def succeeded(self, key: str) -> None:
        """The password was right: release the reservation and forget the failures."""
        self._end(key, "succeeded")

    def finished(self, key: str) -> None:
        """The attempt ended without a verdict on the password: release the reservation."""
        self._end(key, "finished")
