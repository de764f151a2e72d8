"""The interactive path: a hidden prompt with confirmation on a real terminal (a pty)."""

import os
import pty
import select
import subprocess
import sys
import time

from oauthcli.passwords import verify_password
from oauthcli.store import UserStore

# The child, as an interactive shell starts a foreground command: a new session whose
# controlling terminal is the pty on stdin, so Ctrl-C typed there is a SIGINT, with
# SIGINT's default action (the suite itself may run with it ignored: a script that starts
# it in the background hands that on, and Python keeps an inherited SIG_IGN); then
# oauthcli. Done in a fresh interpreter, not a preexec_fn (unsafe with xdist's threads).
ON_TERMINAL = (
    "import fcntl, os, signal, sys, termios; "
    "signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.setsid(); "
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, '-m', 'oauthcli', *sys.argv[1:]])"
)


def run_on_terminal(args, answers, env=None, timeout=30.0):
    """Run oauthcli with a pty as its terminal; send each answer after its prompt appears."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", ON_TERMINAL, *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**os.environ, **(env or {})},
    )
    os.close(follower)
    seen = b""
    pending = list(answers)
    answered_at = 0  # answer a prompt only once: look at output after the last answer
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
                if pending and seen[answered_at:].rstrip().endswith(b":"):
                    answer = pending.pop(0)
                    os.write(leader, answer.encode() + (b"" if answer == "\x03" else b"\n"))
                    answered_at = len(seen)
            elif proc.poll() is not None:
                break
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"oauthcli still runs after the dialogue; screen: {seen!r}"
            ) from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
    return proc.returncode, seen.decode(errors="replace")


def test_add_prompts_twice_and_hides_the_password(isolated_env):
    code, screen = run_on_terminal(
        ["user", "add", "bob", "--scope", "me"], ["typed-secret", "typed-secret"]
    )
    assert code == 0, screen
    assert "Password:" in screen and "Repeat password:" in screen
    assert "typed-secret" not in screen  # not echoed
    assert verify_password(
        "typed-secret", UserStore("users.toml").load().users["bob"].hashed_password, 4
    )[0]


def test_mismatched_confirmation_is_refused_after_three_tries(isolated_env):
    code, screen = run_on_terminal(["user", "add", "bob"], ["first-one", "second-one"] * 3)
    assert code == 2, screen
    assert screen.count("do not match; try again") == 2
    assert "did not match (3 tries)" in screen
    assert not (isolated_env / "users.toml").exists()


def test_a_mismatch_asks_again(isolated_env):
    code, screen = run_on_terminal(
        ["user", "add", "bob"], ["first-one", "second-one", "typed-secret", "typed-secret"]
    )
    assert code == 0, screen
    assert "do not match; try again" in screen
    stored = UserStore("users.toml").load().users["bob"].hashed_password
    assert verify_password("typed-secret", stored, 4)[0]


def test_ctrl_c_at_a_prompt_ends_the_line_with_exit_130(isolated_env):
    code, screen = run_on_terminal(["user", "add", "bob"], ["\x03"])
    assert code == 130, screen
    # The prompt's line is ended before the message: the shell prompt starts on a new line.
    assert "Password: \r\n" in screen or "Password: ^C\r\n" in screen, repr(screen)
    assert screen.rstrip().endswith("oauthcli: aborted")
    assert "Traceback" not in screen
    assert not (isolated_env / "users.toml").exists()
