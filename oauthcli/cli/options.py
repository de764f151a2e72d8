"""Typer option types shared by the command modules (the only part of the shared CLI
helpers that needs Typer; the rest is in ``oauthcli.cli.common``)."""

from pathlib import Path
from typing import Annotated

import typer

from oauthcli.cli import complete

StoreOption = Annotated[
    Path | None,
    typer.Option(
        "--store",
        help="User store file (env OAUTHCLI_STORE, default ./users.toml).",
        show_default=False,
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="Token cache profile (env OAUTHCLI_PROFILE, default 'default').",
        show_default=False,
        autocompletion=complete.profiles,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
PasswordStdinOption = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of standard input instead of prompting.",
    ),
]
ClaimOption = Annotated[
    list[str] | None,
    typer.Option(
        "--claim",
        help='A chosen claim NAME=VALUE (repeatable); VALUE is JSON when it parses: roles=["admin"].',
        show_default=False,
    ),
]
# How a command that talks to a provider authenticates as a client (exchange, introspect).
ClientSecretFileOption = Annotated[
    Path | None,
    typer.Option(
        "--client-secret-file",
        help="File holding the client secret (or env OAUTHCLI_CLIENT_SECRET).",
        show_default=False,
    ),
]
ClientAuthOption = Annotated[
    str | None,
    typer.Option(
        "--client-auth",
        help="basic, post, private-key-jwt (--client-key) or none.",
        show_default=False,
        autocompletion=complete.client_auth_methods,
    ),
]
ClientKeyOption = Annotated[
    Path | None,
    typer.Option("--client-key", help="PEM private key for private-key-jwt.", show_default=False),
]
ProfileTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        help="Seconds to wait for the provider (default 10); when the profile must log in "
        "again, for the person to finish and for another oauthcli's login (default 300).",
        min=0.1,
        show_default=False,
    ),
]
