"""The Typer application: global options and the command groups.

Command modules import only typer at module level; everything heavier
(cryptography through PyJWT, httpx, fastapi) is imported inside the command
that needs it, so ``--help``, ``--version`` and ``user list`` start fast.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from oauthcli import __version__
from oauthcli.cli import (
    audit_cmd,
    clients,
    common,
    http_cmd,
    inspect_cmd,
    issue_cmd,
    keys_cmd,
    provider_cmd,
    serve_cmd,
    tokens_cmd,
    users,
)

app = typer.Typer(
    name="oauthcli",
    help="Issue, inspect and verify OAuth2 tokens and JWTs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(users.app, name="user")
app.add_typer(clients.app, name="client")
for module in (tokens_cmd, issue_cmd, inspect_cmd, http_cmd, keys_cmd, serve_cmd, provider_cmd):
    module.register(app)
audit_cmd.register(app)


# Root options that take a value: skipped when looking for the command name.
_VALUE_OPTIONS = {"--store", "--profile"}


def app_for(args: Sequence[str]) -> typer.Typer:
    """The app to run ``args`` with: when they name a command, a tree holding only it.

    Building Typer's command tree inspects the signature of every command
    (about 10 ms for all of them); ``oauthcli user list`` in a CI loop needs
    only the ``user`` group. Root help, typos and anything unclear get the full tree.
    """
    index = 0
    while index < len(args) and args[index].startswith("-"):
        option = args[index].split("=", 1)[0]
        if option not in (*_VALUE_OPTIONS, "--debug"):
            return app  # --help, --version, "--" or an unknown option: the root handles it
        index += 2 if args[index] in _VALUE_OPTIONS else 1
    if index >= len(args):
        return app
    name = args[index]
    commands = [info for info in app.registered_commands if info.name == name]
    groups = [info for info in app.registered_groups if info.name == name]
    if not commands and not groups:
        return app
    only = copy.copy(app)
    only.registered_commands = commands
    only.registered_groups = groups
    return only


def _version(value: bool) -> None:
    if value:
        typer.echo(f"oauthcli {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    store: Annotated[
        Path | None,
        typer.Option(
            "--store",
            help="User store file (env OAUTHCLI_STORE, default ./users.toml).",
            show_default=False,
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile", help="Token cache profile (env OAUTHCLI_PROFILE).", show_default=False
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks for internal errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Issue, inspect and verify OAuth2 tokens and JWTs.

    Exit codes: 0 ok, 1 internal error, 2 usage, 3 authentication failed,
    4 token invalid, 5 token expired or not yet valid, 6 network or remote
    server error, 7 store or configuration error.
    """
    common.global_options.clear()
    common.global_options.update(store=store, profile=profile, debug=debug)
