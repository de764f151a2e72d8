"""``oauthcli control``: drive a running ``oauthcli serve --control`` (issue 23).

One command for every operation of ``oauthcli.control.OPERATIONS`` (the registry the
HTTP API and the pytest plugin share): ``oauthcli control fail-next endpoint=token
error=invalid_grant``. The token comes from serve's token file, never from argv.
"""

from pathlib import Path
from typing import Annotated, Any

import typer

from oauthcli.cli import output
from oauthcli.cli.common import resolve_store_path
from oauthcli.cli.options import JsonOption, StoreOption


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("control")(control_cmd)


def control_cmd(
    operation: Annotated[
        str,
        typer.Argument(
            help="fail-next, clear-faults, faults, issue-bad-token, rotate-keys, advance, "
            "requests, clear-requests, set-claims, clear-claims or auto-login.",
            show_default=False,
        ),
    ],
    params: Annotated[
        list[str] | None,
        typer.Argument(
            help="The operation's parameters as NAME=VALUE (e.g. endpoint=token times=2).",
            show_default=False,
        ),
    ] = None,
    url: Annotated[
        str, typer.Option("--url", help="The server's base URL (a loopback address).")
    ] = "http://127.0.0.1:8000",
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help="serve's control token file. Default: <store>.control-token beside the store.",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """Drive a running 'oauthcli serve --control': faults, its clock, its request log.

    Operations: fail-next (queue a fault: error, status, retry_after, delay, body, drop,
    token_kind; times; client, user), clear-faults, faults, issue-bad-token (kind, sub),
    rotate-keys (keep_old), advance (seconds), requests (endpoint, grant_type),
    clear-requests, set-claims (user, claims), clear-claims (user), auto-login (user).
    Prints the server's answer.
    """
    from oauthcli.client.control import ControlClient, read_token_file
    from oauthcli.control import find, parse_value, token_file_for_store
    from oauthcli.errors import UsageError

    op = find(operation)
    values: dict[str, Any] = {}
    for item in params or []:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise UsageError(f"parameters are NAME=VALUE, not {output.clean(item)!r}")
        values[name.replace("-", "_")] = parse_value(op, name, text)
    path = token_file or token_file_for_store(resolve_store_path(store))
    client = ControlClient(url, read_token_file(path))
    try:
        answer = client.call(op.name, **values)
    finally:
        client.close()
    if json_output:
        output.print_json(answer)
        return
    _show(answer)


def _show(answer: dict[str, Any]) -> None:
    if "requests" in answer:
        for entry in answer["requests"]:
            shown = [
                str(entry.get(name) or "-")
                for name in ("method", "path", "grant_type", "client_id", "user", "status")
            ]
            error = entry.get("error")
            output.echo(output.clean(" ".join(shown) + (f" {error}" if error else "")))
        return
    if "faults" in answer:
        for fault in answer["faults"]:
            output.echo(output.clean(" ".join(f"{k}={v}" for k, v in fault.items())))
        return
    for name, value in answer.items():
        if isinstance(value, dict):
            value = " ".join(f"{k}={v}" for k, v in value.items())
        output.echo(output.clean(f"{name}: {value}", None))
