"""A real uvicorn server on a free 127.0.0.1 port, in a thread, for the server tests."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from oauthcli.issuer import settings_for_store
from oauthcli.passwords import hash_password
from oauthcli.server import create_app
from oauthcli.server.run import ServeOptions, base_url, bind, uvicorn_config
from oauthcli.store import Client, UserStore

ROUNDS = 4


@dataclass
class LiveServer:
    url: str
    app: Any
    store: UserStore

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)


@contextlib.contextmanager
def serve_socket(app: Any, sock: socket.socket, **serve_options: Any) -> Iterator[None]:
    """Serve ``app`` with uvicorn in a thread on ``sock``, configured as ``serve`` does."""
    options = ServeOptions(Path("unused.toml"), **serve_options)
    config = uvicorn_config(options, app, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()
        if thread.is_alive():
            raise RuntimeError("uvicorn did not stop")


@contextlib.contextmanager
def live_server(
    store_path: Path, serve_options: dict[str, Any] | None = None, **create_kwargs: Any
) -> Iterator[LiveServer]:
    """``create_app`` over the store at ``store_path``, served for real on 127.0.0.1."""
    store = UserStore(store_path)
    settings = settings_for_store(store_path, store.load().issuer)
    sock = bind("127.0.0.1", 0)
    url = base_url("127.0.0.1", sock.getsockname()[1])
    app = create_app(store, settings, issuer_url=url, **create_kwargs)
    with serve_socket(app, sock, **(serve_options or {})):
        yield LiveServer(url, app, store)


def add_client(store: UserStore, client_id: str, secret: str, scopes: list[str]) -> None:
    with store.edit() as data:
        data.clients[client_id] = Client(client_id, hash_password(secret, ROUNDS), scopes)


def login(server: LiveServer, username: str = "alice", password: str = "secret", **extra: str):
    with server.client() as http:
        return http.post(
            "/token",
            data={"grant_type": "password", "username": username, "password": password, **extra},
        )
