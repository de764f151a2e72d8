"""The names oauthcli uses that its dependencies do not publish: each has a version ceiling in
pyproject.toml, and this test fails when a release moves one (the behaviour each supports is
tested elsewhere: usage errors' exit 2, the slowloris header deadline); and no other private
name is read without being listed here."""

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


# Every name starting with "_" that oauthcli reads off an object other than self/cls, or a private
# module it imports: only these, each for a reason. A new one fails here until it is listed with
# a ceiling and a test above, or replaced by a public API (http.py's deadline-bound network
# backend now goes through httpcore's public network_backend=, not httpx's transport internals).
ALLOWED = {
    "_replace": "urllib's SplitResult is a namedtuple: _replace is its public API",
    "_exit": "os._exit is public",
    "_handle": "client/loopback.py: the request handler reads its own listener",
    "_outcome": "client/loopback.py: the request handler reads its own listener",
    "_result": "client/loopback.py: the request handler reads its own listener",
    "_answered": "client/loopback.py: the request handler reads its own listener",
    "_plain_usage": "cli/app.py's own mark on a click command",
    "_empty_checked": "cli/app.py's own mark on a click parameter",
    "import typer._click": "test_typer_vendored_click_exceptions, typer<0.29",
}


def _private_names() -> dict[str, set[str]]:
    import ast
    from pathlib import Path

    import oauthcli

    root = Path(oauthcli.__file__).parent
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = None
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                own = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
                if not own and not node.attr.startswith("__"):
                    name = node.attr
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                parts = node.module.split(".")
                if any(p.startswith("_") and not p.startswith("__") for p in parts):
                    name = f"import {node.module}"
                else:
                    private = [
                        a.name
                        for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")
                    ]
                    name = f"from {node.module} import {private[0]}" if private else None
            if name is not None:
                found.setdefault(name, set()).add(str(path.relative_to(root)))
    return found


def test_no_private_name_of_a_dependency_beyond_the_listed_ones():
    unlisted = {name: files for name, files in _private_names().items() if name not in ALLOWED}
    assert unlisted == {}
