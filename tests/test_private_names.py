"""The names oauthcli uses that its dependencies do not publish: each has a version ceiling in
pyproject.toml, and this test fails when a release moves one (the behaviour each supports is
tested elsewhere: usage errors' exit 2, the slowloris header deadline, one deadline per
exchange)."""

from __future__ import annotations

import asyncio
import inspect


def test_typer_vendored_click_exceptions():
    # cli/__init__.py catches these to turn Typer's own outcomes into exit codes.
    from typer._click import exceptions

    assert issubclass(exceptions.UsageError, exceptions.ClickException)
    assert issubclass(exceptions.NoArgsIsHelpError, exceptions.UsageError)
    assert "ctx" in inspect.signature(exceptions.UsageError).parameters
    assert callable(exceptions.ClickException.format_message)


def test_typer_plain_help_switch():
    # cli/app.py sets rich_markup_mode = None on each built command for plain help.
    import typer
    from typer.core import TyperCommand, TyperGroup

    app = typer.Typer(rich_markup_mode="rich")
    app.command("one")(lambda: None)
    app.command("two")(lambda: None)
    command = typer.main.get_command(app)
    assert isinstance(command, TyperGroup | TyperCommand)
    assert command.rich_markup_mode == "rich"


def test_uvicorn_protocol_hooks():
    # server/protocols.py adds a request-head deadline to uvicorn's HTTP protocols.
    from uvicorn.protocols.http.h11_impl import H11Protocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    for protocol in (H11Protocol, HttpToolsProtocol):
        for name in ("connection_made", "data_received", "on_response_complete", "connection_lost"):
            assert callable(getattr(protocol, name)), (protocol, name)
    assert callable(HttpToolsProtocol.on_headers_complete)
    # server/run.py runs --workers N through uvicorn's supervisor, which starts the servers.
    from uvicorn.supervisors import Multiprocess

    assert "target" not in inspect.signature(Multiprocess).parameters
    # H11HeaderTimeout reads the request cycle to tell a complete request head.
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    loop = asyncio.new_event_loop()
    try:
        config = Config(app=_app, http="h11", ws="none")
        protocol = H11Protocol(config, ServerState(), {}, _loop=loop)
        assert protocol.cycle is None
    finally:
        loop.close()


async def _app(scope, receive, send) -> None:  # pragma: no cover - never called
    pass


def test_httpx_transport_pool_backend():
    # http.py gives each httpx.HTTPTransport's httpcore pool its deadline-bound network backend
    # (httpx has no public hook for it; httpcore's network_backend= is public but a transport
    # built on it would copy httpx's request, response and error mapping).
    import httpcore
    import httpx

    transport = httpx.HTTPTransport()
    try:
        assert isinstance(transport._pool, httpcore.ConnectionPool)
        assert isinstance(transport._pool._network_backend, httpcore.NetworkBackend)
    finally:
        transport.close()
