"""Saying that something slow is still going on: the one watcher for slow exchanges and work.

A ``SlowNotice`` is handed in by the command layer (only when stderr is a terminal, so pipes
and CI logs get nothing): once an HTTP exchange (``oauthcli.http``: discovery, token
requests, every request of a client built with it) or a bcrypt hash outlasts ``after``
seconds, ``show(what, seconds)`` is called about once a second until it ends, then ``clear()``
once. The core never draws anything itself.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

Stop = Callable[[], None]


@dataclass(frozen=True)
class SlowNotice:
    show: Callable[[str, float], None]  # (what is awaited, seconds so far)
    clear: Callable[[], None]
    after: float = 1.0  # seconds of silence first (tests pass 0)
    every: float = 1.0
    clock: Callable[[], float] = time.monotonic

    def start(self, what: str) -> Stop:
        """Watch ``what`` from now; the returned function ends the watch (idempotent)."""
        done = threading.Event()
        began = self.clock()
        shown = threading.Event()

        def watch() -> None:
            if done.wait(self.after):
                return
            while not done.is_set():
                shown.set()
                self.show(what, self.clock() - began)
                done.wait(self.every)

        thread = threading.Thread(target=watch, name="oauthcli-slow", daemon=True)
        thread.start()
        lock = threading.Lock()

        def stop() -> None:
            with lock:
                if done.is_set():
                    return
                done.set()
            thread.join()
            if shown.is_set():
                self.clear()

        return stop

    @contextlib.contextmanager
    def watch(self, what: str) -> Iterator[None]:
        stop = self.start(what)
        try:
            yield
        finally:
            stop()


@contextlib.contextmanager
def watched(notice: SlowNotice | None, what: str) -> Iterator[None]:
    """``notice.watch(what)``, or nothing without a notice."""
    if notice is None:
        yield
        return
    with notice.watch(what):
        yield
