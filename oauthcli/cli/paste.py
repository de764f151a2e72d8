"""An address pasted at the terminal, read without echo while other work goes on.

``login --no-browser`` waits for the browser's redirect on the loopback listener and, at
the same time, for the person to paste that redirect's address (a browser on another
machine cannot reach this one's 127.0.0.1). The address carries an authorization code,
so it is never echoed; the terminal's settings are restored however the wait ends.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
from typing import Any

POLL_SECONDS = 0.2  # how soon the reader notices that the wait is over
MAX_LINE = 16 * 1024


def terminal_reader() -> PastedLines | None:
    """A reader of standard input when it is a terminal; None otherwise (a script's
    stdin is never consumed by a login)."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return PastedLines(fd) if os.isatty(fd) else None


class PastedLines:
    """``__call__(stop)``: the next line typed or pasted, None once ``stop`` is set or the
    input ends. Echo goes off at the first call and stays off until a call returns None:
    turning it back on between two lines would echo whatever is pasted in that moment
    (a second paste right after a refused one carries a code)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = b""
        self._saved: list[Any] | None = None

    def __call__(self, stop: threading.Event) -> str | None:
        from oauthcli.client.secret import register  # masked in --debug tracebacks

        if self._saved is None and not self._quiet():
            return None  # not a terminal we may change after all: the listener alone waits
        while b"\n" not in self._buffer and b"\r" not in self._buffer:
            if stop.is_set():
                self._give_back()
                return None
            ready, _, _ = select.select([self.fd], [], [], POLL_SECONDS)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:
                self._give_back()
                return None
            if not chunk:
                self._give_back()
                return None
            self._buffer = (self._buffer + chunk)[-MAX_LINE:]
        line, _, self._buffer = self._buffer.replace(b"\r", b"\n").partition(b"\n")
        return register(line.decode("utf-8", "replace").strip())

    def _quiet(self) -> bool:
        import termios

        try:
            saved = termios.tcgetattr(self.fd)
            quiet = list(saved)
            quiet[3] &= ~termios.ECHO
            termios.tcsetattr(self.fd, termios.TCSANOW, quiet)
        except (termios.error, OSError):
            return False
        self._saved = saved
        return True

    def _give_back(self) -> None:
        """The terminal's settings as they were before the first call."""
        import termios

        if self._saved is not None:
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(self.fd, termios.TCSANOW, self._saved)
            self._saved = None
