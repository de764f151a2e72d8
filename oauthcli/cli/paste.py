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
    input ends. Echo is off only while a line is being read."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = b""

    def __call__(self, stop: threading.Event) -> str | None:
        import termios

        from oauthcli.client.secret import register  # masked in --debug tracebacks

        try:
            saved = termios.tcgetattr(self.fd)
            quiet = list(saved)
            quiet[3] &= ~termios.ECHO
            termios.tcsetattr(self.fd, termios.TCSANOW, quiet)
        except (termios.error, OSError):
            return None  # not a terminal we may change after all: the listener alone waits
        try:
            while b"\n" not in self._buffer and b"\r" not in self._buffer:
                if stop.is_set():
                    return None
                ready, _, _ = select.select([self.fd], [], [], POLL_SECONDS)
                if not ready:
                    continue
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    return None
                if not chunk:
                    return None
                self._buffer = (self._buffer + chunk)[-MAX_LINE:]
        finally:
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(self.fd, termios.TCSANOW, saved)
        line, _, self._buffer = self._buffer.replace(b"\r", b"\n").partition(b"\n")
        return register(line.decode("utf-8", "replace").strip())
