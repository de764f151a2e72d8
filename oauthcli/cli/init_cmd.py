"""``oauthcli init``: a new store with an ``[issuer]``, a signing key, a first user and client."""

from typing import Annotated

import typer

from oauthcli.cli import complete, output
from oauthcli.cli.common import read_password, resolve_store_path, store_is_named
from oauthcli.cli.options import JsonOption, PasswordStdinOption, StoreOption


def init(
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            metavar="USERNAME",
            help="Also add a first user (password prompted, or --password-stdin).",
            show_default=False,
        ),
    ] = None,
    alg: Annotated[
        str,
        typer.Option(
            "--alg",
            help="Signing algorithm of the new key (ES256, RS256, EdDSA, HS256...).",
            autocompletion=complete.algorithms,
        ),
    ] = "ES256",
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            "-s",
            help="Scope of the first user and the client (repeatable; default: me, items).",
            show_default=False,
        ),
    ] = None,
    issuer: Annotated[
        str | None,
        typer.Option(
            "--issuer",
            help="The issuer URL tokens carry (default: the URL 'serve' listens on).",
            show_default=False,
        ),
    ] = None,
    client_id: Annotated[
        str,
        typer.Option("--client-id", help="The public client (PKCE) for browser and device logins."),
    ] = "cli",
    no_client: Annotated[
        bool, typer.Option("--no-client", help="Do not add the public client.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing store and signing key.")
    ] = False,
    password_stdin: PasswordStdinOption = False,
    json_: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """Create a user store here (or at --store) with an \\[issuer] and a new signing key.

    The key (ES256 by default, mode 0600) is written beside the store as signing.pem;
    the store gets a public client for 'login --issuer-url' and, with --user, a first
    user. Nothing is replaced without --force. The next commands to run are printed.
    """
    from oauthcli import bootstrap, settings

    store_path = resolve_store_path(store)
    plan = bootstrap.InitPlan(
        store_path=store_path,
        algorithm=alg,
        issuer=issuer,
        scopes=tuple(scope) if scope else bootstrap.DEFAULT_SCOPES,
        user=user,
        client_id=None if no_client else client_id,
        overwrite=force,
    )
    bootstrap.check_plan(plan)  # refuse before a password is asked for
    if user is not None:
        from dataclasses import replace

        from oauthcli.passwords import check_password_policy, hash_password

        password = read_password(password_stdin, confirm=True, what=f"password for {user}")
        check_password_policy(password)
        rounds = settings.bcrypt_rounds()
        with output.working(f"hashing the password with bcrypt at cost {rounds}"):
            plan = replace(plan, hashed_password=hash_password(password, rounds))
    result = bootstrap.initialise(plan)
    named = store_is_named(store)
    commands = bootstrap.next_commands(result, store_named=named)
    if json_:
        output.print_json(
            {
                "store": str(result.store_path),
                "key_file": str(result.key_path),
                "kid": result.kid,
                "algorithm": result.algorithm,
                "issuer": result.issuer,
                "user": result.user,
                "client_id": result.client_id,
                "scopes": result.scopes,
                "next": commands,
            }
        )
        return
    issued_by = result.issuer or "the URL serve listens on"
    output.echo(f"Wrote {result.store_path}: tokens signed {result.algorithm}, issuer {issued_by}.")
    output.echo(f"Wrote the signing key {result.key_path} (mode 0600, kid {result.kid}).")
    if result.user is not None:
        output.echo(f"Added user {result.user} (scopes: {' '.join(result.scopes)}).")
    if result.client_id is not None:
        output.echo(f"Added public client {result.client_id} for browser and device logins.")
    output.echo("")
    output.echo("Next:")
    for command in commands:
        output.echo(f"  {command}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("init")(init)
