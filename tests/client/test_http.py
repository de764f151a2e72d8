"""oauthcli.http: one deadline for a whole exchange, and proxies never for loopback or
credentials over plain http, against real servers on 127.0.0.1 (a trickling server and a
tiny recording proxy)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from oauthcli.errors import RemoteError
from oauthcli.http import make_client, proxy_for, read_capped, transport_error
from tests.conftest import assert_one_line_error
from tests.live_server import start_server, tutorial_server

__all__ = ["start_server", "tutorial_server"]

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\nX-Pad: "


@dataclass
class RawServer:
    """A TCP server on 127.0.0.1 answering each connection with ``respond(conn)`` in a thread."""

    url: str
    port: int
    seen: list[bytes] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)


def _serve(respond) -> Iterator[RawServer]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    server = RawServer(url=f"http://127.0.0.1:{port}", port=port)

    def accept() -> None:
        while not server.stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=_handle, args=(conn,), daemon=True).start()

    def _handle(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                server.seen.append(conn.recv(65536))
                respond(conn, server)
            except OSError:
                pass  # the client hung up: that is what most tests want

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        listener.close()
        thread.join(30)
        assert not thread.is_alive(), "the raw server did not stop"


def _trickle(data: bytes, gap: float):
    def respond(conn: socket.socket, server: RawServer) -> None:
        for i in range(len(data)):
            if server.stop.wait(gap):
                return
            conn.sendall(data[i : i + 1])
            server.sent.append(i)

    return respond


@pytest.fixture
def trickling_headers() -> Iterator[RawServer]:
    """Headers one byte every 20 ms: each read is quick, the whole answer takes many seconds."""
    yield from _serve(_trickle(HEAD + b"x" * 400 + b"\r\n\r\n" + b"{}" * 20, 0.02))


@pytest.fixture
def trickling_body() -> Iterator[RawServer]:
    body = b'{"access_token": "' + b"a" * 300 + b'", "token_type": "bearer"}'
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )

    def respond(conn: socket.socket, server: RawServer) -> None:
        conn.sendall(head.encode())
        _trickle(body, 0.02)(conn, server)

    yield from _serve(respond)


class SteppingClock:
    """A monotonic clock that moves one second each time it is read: no real time involved."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        self.now += 1.0
        return self.now


# ---------------------------------------------------------------- issue 9.5: one deadline


def _get(client: httpx.Client, url: str) -> bytes:
    try:
        with client.stream("GET", url) as response:
            return read_capped(response, url)
    except httpx.RequestError as exc:
        raise transport_error(exc, url, client) from exc


def test_trickled_headers_cannot_outlast_the_timeout(trickling_headers):
    clock = SteppingClock()
    with make_client(timeout=5, clock=clock) as client, pytest.raises(RemoteError) as caught:
        _get(client, trickling_headers.url + "/")
    assert caught.value.reason == "timeout"
    assert str(caught.value) == f"timed out after 5 s contacting {trickling_headers.url}/"
    # The clock moves 1 s a read: the client gave up after a handful of socket operations,
    # long before the server got to the end of its headers.
    assert clock.reads <= 8
    assert len(trickling_headers.sent) < len(HEAD)


def test_trickled_body_cannot_outlast_the_timeout(trickling_body):
    clock = SteppingClock()
    with make_client(timeout=5, clock=clock) as client, pytest.raises(RemoteError) as caught:
        _get(client, trickling_body.url + "/")
    assert caught.value.reason == "timeout"
    assert clock.reads <= 8
    assert len(trickling_body.sent) < 300


def test_each_request_gets_the_whole_timeout_again(tutorial_server):
    # The deadline starts per request: a long-lived client is not timed out by its age.
    clock = SteppingClock()
    with make_client(timeout=10, clock=clock) as client:
        for _ in range(10):
            assert client.get(tutorial_server.url + "/openapi.json").status_code == 200
    assert clock.reads > 20  # twice the timeout's worth of clock in total, and no timeout


def test_login_with_a_timeout_stops_a_trickling_token_endpoint(cli, trickling_headers):
    # A real clock here: --timeout 1 against headers that take 10 s to arrive.
    result = cli(
        "login", "alice", "--url", trickling_headers.url + "/token", "--password-stdin",
        "--timeout", "1", input="secret\n",
    )  # fmt: skip
    assert_one_line_error(result, 6, "timed out after 1 s contacting")
    assert len(trickling_headers.sent) < len(HEAD)


# ---------------------------------------------------------------- issue 9.2: proxies

PROXY_VARS = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]


@pytest.fixture
def recording_proxy() -> Iterator[RawServer]:
    """Records what reaches it, forwards nothing: answers 502 (and 403 to CONNECT)."""

    def respond(conn: socket.socket, server: RawServer) -> None:
        status = b"403 Forbidden" if server.seen[-1].startswith(b"CONNECT") else b"502 Bad Gateway"
        conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    yield from _serve(respond)


@pytest.fixture
def proxied(monkeypatch, recording_proxy) -> RawServer:
    for name in [*PROXY_VARS, "NO_PROXY", "no_proxy", "REQUEST_METHOD"]:
        monkeypatch.delenv(name, raising=False)
    for name in PROXY_VARS:
        monkeypatch.setenv(name, recording_proxy.url)
    return recording_proxy


def test_loopback_login_never_goes_through_a_proxy(cli, tutorial_server, proxied):
    result = cli(
        "--debug", "login", "alice", "--url", tutorial_server.token_url, "--password-stdin",
        input="secret\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert proxied.seen == []
    assert "direct, no proxy (loopback host)" in result.stderr


def test_https_elsewhere_goes_through_the_proxy_and_debug_says_so(cli, proxied):
    result = cli(
        "--debug", "login", "alice", "--url", "https://auth.example.invalid/token",
        "--password-stdin", "--timeout", "5", input="secret\n",
    )  # fmt: skip
    assert result.exit_code == 6
    assert [line.split(b"\r\n")[0] for line in proxied.seen] == [
        b"CONNECT auth.example.invalid:443 HTTP/1.1"
    ]
    assert b"secret" not in b"".join(proxied.seen)  # the tunnel was refused: nothing else sent
    assert (
        f"POST https://auth.example.invalid/token: through the proxy {proxied.url}" in result.stderr
    )


def test_no_proxy_is_honoured(cli, proxied, monkeypatch):
    monkeypatch.setenv("NO_PROXY", ".example.invalid")
    result = cli(
        "--debug", "login", "alice", "--url", "https://auth.example.invalid/token",
        "--password-stdin", "--timeout", "5", input="secret\n",
    )  # fmt: skip
    assert result.exit_code == 6
    assert proxied.seen == []
    assert "direct, no proxy (NO_PROXY)" in result.stderr


def test_credentials_over_plain_http_never_go_through_a_proxy(cli, proxied):
    result = cli(
        "--debug", "login", "alice", "--url", "http://auth.example.invalid/token",
        "--insecure-http", "--password-stdin", "--timeout", "5", input="secret\n",
    )  # fmt: skip
    assert result.exit_code == 6  # direct: the name does not resolve
    assert proxied.seen == []
    assert "direct, no proxy (plain http carrying credentials)" in result.stderr


def test_a_proxy_with_a_password_is_not_shown(cli, proxied, monkeypatch):
    with_password = proxied.url.replace("http://", "http://user:pr0xypass@")
    monkeypatch.setenv("HTTPS_PROXY", with_password)
    monkeypatch.setenv("https_proxy", with_password)
    result = cli(
        "--debug", "login", "alice", "--url", "https://auth.example.invalid/token",
        "--password-stdin", "--timeout", "5", input="secret\n",
    )  # fmt: skip
    assert f"through the proxy {proxied.url}" in result.stderr
    assert "pr0xypass" not in result.output


@pytest.mark.parametrize(
    ("url", "carries", "env", "expected"),
    [
        ("https://api.example.com/x", False, {"https": "http://p:1"}, ("http://p:1", "from the environment")),
        ("https://api.example.com/x", True, {"all": "http://p:1"}, ("http://p:1", "from the environment")),
        ("http://api.example.com/x", False, {"http": "http://p:1"}, ("http://p:1", "from the environment")),
        ("http://api.example.com/x", True, {"http": "http://p:1"}, (None, "plain http carrying credentials")),
        ("http://127.0.0.1:8000/x", False, {"all": "http://p:1"}, (None, "loopback host")),
        ("https://localhost/x", False, {"https": "http://p:1"}, (None, "loopback host")),
        ("http://[::1]:80/x", False, {"http": "http://p:1"}, (None, "loopback host")),
        ("http://127.8.9.1/x", False, {"http": "http://p:1"}, (None, "loopback host")),
        ("https://api.example.com/x", False, {"http": "http://p:1"}, (None, "no proxy configured")),
        ("https://api.example.com/x", False, {"https": "http://p:1", "no": "example.com"}, (None, "NO_PROXY")),
        ("https://api.example.com/x", False, {"https": "http://p:1", "no": "*"}, (None, "NO_PROXY")),
        ("https://api.example.com:8443/x", False, {"https": "http://p:1", "no": "api.example.com:443"},
         ("http://p:1", "from the environment")),
        ("https://badexample.com/x", False, {"https": "http://p:1", "no": "example.com"},
         ("http://p:1", "from the environment")),
        ("https://api.example.com/x", False, {"https": "p:3128"}, ("http://p:3128", "from the environment")),
    ],
)  # fmt: skip
def test_proxy_for(url, carries, env, expected):
    assert proxy_for(url, env, carries_credentials=carries) == expected


def test_verify_fetches_a_loopback_key_set_directly_not_through_a_proxy(cli, proxied, start_server):
    # A proxy on the path could swap the key set a token is checked against.
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    fetched: list[str] = []

    async def jwks(request):
        fetched.append(request.url.path)
        return JSONResponse({"keys": []})

    server = start_server(Starlette(routes=[Route("/jwks.json", jwks)]))
    token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSJ9.c2ln"
    result = cli("verify", token, "--jwks", server.url + "/jwks.json")
    assert proxied.seen == []
    assert fetched == ["/jwks.json"], result.stderr  # (an empty set: the verdict itself is moot)


def test_an_unusable_proxy_is_a_usage_error(cli, monkeypatch):
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "gopher://user:pw@proxy.example:70")
    result = cli("login", "alice", "--url", "https://auth.example.invalid/token",
                 "--password-stdin", input="secret\n")  # fmt: skip
    assert_one_line_error(result, 2, "cannot use the proxy gopher://proxy.example:70")
    assert "pw@" not in result.stderr
