"""The pasted-address reader keeps the terminal quiet for the whole wait.

A refused paste followed at once by the right one (a person pasting again) must not
be echoed: the second address carries an authorization code.
"""

from __future__ import annotations

import os
import pty
import termios
import threading

from oauthcli.cli.paste import PastedLines


def echo_on(fd: int) -> bool:
    return bool(termios.tcgetattr(fd)[3] & termios.ECHO)


def test_echo_stays_off_between_two_pasted_lines_and_comes_back_when_the_wait_ends():
    master, slave = pty.openpty()
    try:
        assert echo_on(slave)
        read = PastedLines(slave)
        stop = threading.Event()
        os.write(master, b"http://127.0.0.1:1/callback?state=wrong\r")
        assert read(stop) == "http://127.0.0.1:1/callback?state=wrong"
        assert not echo_on(slave)  # the next paste may come at once: still not echoed
        os.write(master, b"http://127.0.0.1:1/callback?code=abc\r")
        assert read(stop) == "http://127.0.0.1:1/callback?code=abc"
        assert not echo_on(slave)
        stop.set()
        assert read(stop) is None
        assert echo_on(slave)  # given back as it was
    finally:
        os.close(master)
        os.close(slave)
