"""uvicorn's HTTP protocols with a deadline for request headers, writing each answer once.

- **A deadline for request headers.** uvicorn has none: ``timeout_keep_alive`` starts
  only after a response, so a connection that opens and trickles (or never sends) its
  request line holds a slot forever, and a few hundred of them hold the server
  (slowloris). Here each connection must deliver a complete request head within
  ``header_timeout`` seconds of opening, and of each previous response, or it is
  closed. One timer per connection, moved forward rather than re-made per request.
  The deadline travels on the uvicorn ``Config`` object (``config.header_timeout``),
  which is pickled to worker processes.
- **One write per answer.** uvicorn writes a response's head and its body with two
  ``transport.write`` calls, two ``send`` system calls; here what one turn of the
  event loop writes goes out in one (``_Coalescing``): a fifth more token requests per
  second on one core.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.h11_impl import H11Protocol

DEFAULT_HEADER_TIMEOUT = 10.0
_FLUSH_AT = 64 * 1024  # bytes held for one write before they go to the transport at once


class _Coalescing:
    """The connection's transport, as uvicorn's protocol and cycle use it: the data written
    during one turn of the event loop goes to the socket in one ``write``, at the end of
    the turn (or at once before ``close``). Everything else is the transport's own."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))
        self._size += len(data)
        if self._size >= _FLUSH_AT:
            # A big answer goes to the transport now, so that its flow control (uvicorn's
            # pause_writing/drain) holds back a body written faster than the client reads.
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._size = 0
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._size = 0
        self._transport.abort()

    def is_closing(self) -> bool:  # asked after every response: not through __getattr__
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _HeaderDeadline:
    """Mixin: a deadline at connection start and after each response; none while a
    request is being answered. One timer per connection: it fires at the deadline it
    was set for and moves itself to a later one, instead of being cancelled and made
    again for every request."""

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    _header_timer: asyncio.TimerHandle | None = None
    _header_deadline: float | None = None

    def _coalesce(self) -> None:
        self.transport = cast(asyncio.Transport, _Coalescing(self.transport, self.loop))

    _header_seconds: float | None = None

    def _header_timeout(self) -> float:
        if self._header_seconds is None:
            config = getattr(self, "config", None)
            self._header_seconds = float(getattr(config, "header_timeout", DEFAULT_HEADER_TIMEOUT))
        return self._header_seconds

    def _arm(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self._header_deadline = self.loop.time() + self._header_timeout()
        if self._header_timer is None:
            self._header_timer = self.loop.call_at(self._header_deadline, self._expired)

    def _disarm(self) -> None:
        self._header_deadline = None

    def _stop(self) -> None:
        self._header_deadline = None
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        deadline = self._header_deadline
        if deadline is None:
            return  # a request is being answered: the next response sets a deadline
        if self.loop.time() < deadline:
            self._header_timer = self.loop.call_at(deadline, self._expired)
            return
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class H11HeaderTimeout(_HeaderDeadline, H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn annotates BaseTransport
        super().connection_made(transport)
        self._coalesce()
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            self._disarm()  # a request's head is complete: the app has it now

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        super().connection_lost(exc)


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard]
    HttpToolsProtocol = None  # type: ignore[assignment,misc]  # httptools is optional


if HttpToolsProtocol is not None:

    class HttpToolsHeaderTimeout(_HeaderDeadline, HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn annotates BaseTransport
            super().connection_made(transport)
            self._coalesce()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop()
            super().connection_lost(exc)


def protocol_class(http: str) -> Any:
    """The protocol for uvicorn's ``http`` option: "auto" (httptools when installed), "h11"."""
    if http == "h11" or HttpToolsProtocol is None:
        return H11HeaderTimeout
    return HttpToolsHeaderTimeout
