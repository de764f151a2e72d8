"""uvicorn's HTTP protocols with a deadline for request headers.

uvicorn has none: ``timeout_keep_alive`` starts only after a response, so a
connection that opens and trickles (or never sends) its request line holds a
slot forever, and a few hundred of them hold the server (slowloris). Here each
connection must deliver a complete request head within ``header_timeout``
seconds of opening, and of each previous response, or it is closed.

The deadline travels on the uvicorn ``Config`` object (``config.header_timeout``),
which is pickled to worker processes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

DEFAULT_HEADER_TIMEOUT = 10.0


class _HeaderDeadline:
    """Mixin: arm a timer at connection start and after each response; disarm on headers."""

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    _header_timer: asyncio.TimerHandle | None = None

    def _header_timeout(self) -> float:
        config = getattr(self, "config", None)
        return float(getattr(config, "header_timeout", DEFAULT_HEADER_TIMEOUT))

    def _arm(self) -> None:
        self._disarm()
        if self.transport is not None and not self.transport.is_closing():
            self._header_timer = self.loop.call_later(self._header_timeout(), self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class H11HeaderTimeout(_HeaderDeadline, H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn annotates BaseTransport
        super().connection_made(transport)
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
        self._disarm()
        super().connection_lost(exc)


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard]
    HttpToolsProtocol = None  # type: ignore[assignment,misc]  # httptools is optional


if HttpToolsProtocol is not None:

    class HttpToolsHeaderTimeout(_HeaderDeadline, HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn annotates BaseTransport
            super().connection_made(transport)
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)


def protocol_class(http: str) -> Any:
    """The protocol for uvicorn's ``http`` option: "auto" (httptools when installed), "h11"."""
    if http == "h11" or HttpToolsProtocol is None:
        return H11HeaderTimeout
    return HttpToolsHeaderTimeout
