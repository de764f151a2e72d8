"""Run an ASGI app under a real uvicorn on 127.0.0.1, in a background thread.

    with live_server(app) as server:       # any ASGI app
        httpx.get(server.url + "/users/me")

Fixtures (use them with ``from tests.live_server import tutorial_server`` in a
test module or conftest, or ``pytest_plugins = ["tests.live_server"]`` in the
root conftest):

- ``tutorial_server``: the FastAPI tutorial app (``tests/apps/tutorial_app.py``)
  on one server shared by the whole run (started on first use); its state
  (users, TTLs, recorded requests, refresh tokens) is reset before each test.
- ``start_server``: a factory, ``start_server(app, **uvicorn_options)``, for
  any other app; each server is stopped when the test ends.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from tests.apps.tutorial_app import (
    ACCESS_TOKEN_EXPIRE_SECONDS,
    DEFAULT_USERS,
    REFRESH_TOKEN_EXPIRE_SECONDS,
    TutorialState,
    create_tutorial_app,
    make_users,
)

STARTUP_TIMEOUT = 10.0


@dataclass
class LiveServer:
    url: str  # "http://127.0.0.1:PORT", no trailing slash
    app: Any
    port: int

    @property
    def token_url(self) -> str:
        return self.url + "/token"


@contextlib.contextmanager
def live_server(app: Any, **uvicorn_options: Any) -> Iterator[LiveServer]:
    """Serve ``app`` until the block ends; ``ssl_certfile``/``ssl_keyfile`` make it https."""
    # Binding the socket ourselves gives a free port with no window for another process to take it.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        "lifespan": "off",
        # websockets' legacy modules warn on import, and warnings are errors here.
        "ws": "none",
        "timeout_graceful_shutdown": 2,
        **uvicorn_options,
    }
    server = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port}")
            time.sleep(0.01)
        scheme = "https" if options.get("ssl_certfile") else "http"
        yield LiveServer(url=f"{scheme}://127.0.0.1:{port}", app=app, port=port)
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT)
        sock.close()
        if thread.is_alive():
            raise RuntimeError(f"uvicorn on 127.0.0.1:{port} did not stop")


def reset_tutorial_state(state: TutorialState) -> None:
    state.users = make_users(DEFAULT_USERS)
    state.access_ttl_seconds = ACCESS_TOKEN_EXPIRE_SECONDS
    state.refresh_ttl_seconds = REFRESH_TOKEN_EXPIRE_SECONDS
    state.token_requests.clear()
    state.refresh_tokens.clear()


_shared: dict[str, LiveServer] = {}


def _shared_tutorial_server(config: pytest.Config) -> LiveServer:
    # Started on first use and stopped when pytest finishes, without a second fixture
    # that every importing module would also have to import.
    if "tutorial" not in _shared:
        stack = contextlib.ExitStack()
        _shared["tutorial"] = stack.enter_context(live_server(create_tutorial_app()))
        config.add_cleanup(stack.close)
        config.add_cleanup(lambda: _shared.pop("tutorial", None))
    return _shared["tutorial"]


@pytest.fixture
def tutorial_server(request: pytest.FixtureRequest) -> LiveServer:
    """The tutorial app on a real server; ``server.app.state.tutorial`` is fresh for each test."""
    server = _shared_tutorial_server(request.config)
    reset_tutorial_state(server.app.state.tutorial)
    return server


@pytest.fixture
def start_server() -> Iterator[Callable[..., LiveServer]]:
    """``start_server(app, **uvicorn_options) -> LiveServer``, stopped at the end of the test."""
    with contextlib.ExitStack() as stack:

        def start(app: Any, **uvicorn_options: Any) -> LiveServer:
            return stack.enter_context(live_server(app, **uvicorn_options))

        yield start


async def until_the_client_leaves(request: Any, limit: float = 60.0) -> None:
    """Hold a response until the client hangs up (at most ``limit`` s), for tests of a client's
    timeout: the answer never races the timeout, however loaded the machine is."""
    import asyncio

    await request.body()  # read first: is_disconnected() would otherwise consume the body
    deadline = time.monotonic() + limit
    while not await request.is_disconnected() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
