"""A real ``redis-server`` on a free 127.0.0.1 port, for the shared-state tests.

    from tests.redis_server import redis_server, redis_url   # fixtures

``redis_server`` is one server for the whole run (no persistence:
``--save '' --appendonly no``), flushed before each test; ``RedisServer`` can
also be started alone (a test that stops and restarts it). Tests skip, saying
why, only when ``redis-server`` is not installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BINARY = "redis-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    def __init__(self, directory: Path, password: str | None = None) -> None:
        self.directory = directory
        self.password = password
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):  # -> redis.Redis
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password)

    def start(self) -> None:
        """Start (or restart, on the same port) and wait until it answers PING."""
        args = [
            BINARY,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
            "--loglevel",
            "warning",
        ]
        if self.password:
            args += ["--requirepass", self.password]
        log = (self.directory / "redis.log").open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.client().ping():
                    return
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"redis-server did not start: {(self.directory / 'redis.log').read_text()}"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.proc = None


@contextlib.contextmanager
def running_redis(password: str | None = None) -> Iterator[RedisServer]:
    if shutil.which(BINARY) is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run does)")
    with tempfile.TemporaryDirectory(prefix="oauthcli-redis-") as tmp:
        server = RedisServer(Path(tmp), password)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def _session_redis() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


@pytest.fixture
def redis_server(_session_redis: RedisServer) -> RedisServer:
    """One redis-server for the whole run, emptied (FLUSHALL) before each test."""
    _session_redis.client().flushall()
    return _session_redis


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test alone (to stop and restart it)."""
    with running_redis() as server:
        yield server
