"""A TCP server on 127.0.0.1 that reads Redis commands and answers each with a fixed reply.

For faults a real redis-server cannot be made to produce: a "Redis" that answers an
integer to everything, or garbage that is not RESP at all (another service on the port).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


def _commands(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The names of the whole RESP commands ``buffer`` starts with, and the rest."""
    names: list[bytes] = []
    while buffer.startswith(b"*"):
        head, sep, rest = buffer.partition(b"\r\n")
        if not sep:
            break
        words = []
        for _ in range(int(head[1:])):
            size_line, sep, rest = rest.partition(b"\r\n")
            size = int(size_line[1:]) if sep else -1
            if size < 0 or len(rest) < size + 2:
                return names, buffer
            words.append(rest[:size])
            rest = rest[size + 2 :]
        names.append(words[0].upper() if words else b"")
        buffer = rest
    return names, buffer


@contextlib.contextmanager
def wrong_resp_server(
    reply: bytes, per_command: bool = True, replies: dict[bytes, bytes] | None = None
) -> Iterator[str]:
    """Answer every command with ``reply`` (``replies`` by command name first), or send
    ``reply`` once per connection and close (``per_command=False``); yield the URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve_one(conn: socket.socket) -> None:
        with conn:
            buffer = b""
            while not stop.is_set():
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                if not per_command:
                    conn.sendall(reply)
                    return
                names, buffer = _commands(buffer + data)
                conn.sendall(b"".join((replies or {}).get(name, reply) for name in names))

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
        listener.close()
        thread.join(30)
        assert not thread.is_alive()
