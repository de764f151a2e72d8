"""Fixture ``secret_service``: a real Secret Service (GNOME Keyring) on a private D-Bus
session bus, for the OS keyring token store; no test touches the person's own keyring.

``.ci/run`` installs ``gnome-keyring`` and ``dbus`` and sets ``OAUTHCLI_TEST_KEYRING=required``
(read at import, before the tests clear ``OAUTHCLI_*``): there a daemon that cannot run is a
failure. Elsewhere the tests skip, saying why, only when the daemons cannot run here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# The keyring's password (the "login" keyring, created and unlocked with it).
KEYRING_PASSWORD = "keyring-test-password"
REQUIRED = os.environ.get("OAUTHCLI_TEST_KEYRING") == "required"


def _cannot(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"the Secret Service must run here (OAUTHCLI_TEST_KEYRING=required): {reason}")
    pytest.skip(reason)


def _first_line(proc: subprocess.Popen[str], wait: float) -> str:
    found: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: found.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(wait)
    return found[0].strip() if found else ""


def _secrets_owned(env: dict[str, str]) -> bool:
    answer = subprocess.run(
        [
            "dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner",
            "string:org.freedesktop.secrets",
        ],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return "boolean true" in answer.stdout


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


@pytest.fixture
def secret_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private session bus with gnome-keyring-daemon's secrets component, unlocked;
    ``DBUS_SESSION_BUS_ADDRESS`` points at it (for this process and the CLI it starts).
    Yields the bus address."""
    missing = [
        name
        for name in ("dbus-daemon", "dbus-send", "gnome-keyring-daemon")
        if not shutil.which(name)
    ]
    if missing:
        _cannot(f"{', '.join(missing)} not installed (.ci/run installs gnome-keyring and dbus)")
    # short: a unix socket's path has at most 107 bytes, and tmp_path under xdist is long
    home = Path(tempfile.mkdtemp(prefix="oauthcli-ss-"))
    runtime = home / "run"
    runtime.mkdir(mode=0o700)
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_RUNTIME_DIR": str(runtime),
    }
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1", f"--address=unix:dir={home}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    daemon: subprocess.Popen[str] | None = None
    try:
        address = _first_line(bus, 30)
        if not address:
            _stop(bus)
            why = (bus.stderr.read() if bus.stderr else "").strip().splitlines()
            _cannot(f"dbus-daemon cannot start a session bus here: {why[-1] if why else '?'}")
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        daemon = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, env=env,
        )  # fmt: skip
        assert daemon.stdin is not None
        daemon.stdin.write(KEYRING_PASSWORD)
        daemon.stdin.close()
        deadline = time.monotonic() + 60  # generous: a loaded machine
        while not _secrets_owned(env):
            if daemon.poll() is not None:
                why = (daemon.stderr.read() if daemon.stderr else "").strip().splitlines()
                _cannot(f"gnome-keyring-daemon cannot run here: {why[-1] if why else '?'}")
            if time.monotonic() > deadline:
                raise RuntimeError("gnome-keyring-daemon never took org.freedesktop.secrets")
            time.sleep(0.05)
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
        yield address
    finally:
        if daemon is not None:
            _stop(daemon)
        _stop(bus)
        shutil.rmtree(home, ignore_errors=True)
