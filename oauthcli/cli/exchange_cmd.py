"""``oauthcli exchange``: token exchange (RFC 8693), the result cached as a profile.

The subject and actor tokens never come from argv (``ps`` shows argv to every user):
``-`` reads one from stdin, ``--subject-token-file``/``--actor-token-file`` from a file,
``OAUTHCLI_SUBJECT_TOKEN``/``OAUTHCLI_ACTOR_TOKEN`` from the environment, and
``--subject-token-source github-actions`` from the job's OIDC token endpoint. A literal
token given on the command line is refused with one line.
"""

import sys
from pathlib import Path
from typing import Annotated

import typer

from oauthcli.cli.common import resolve_profile
from oauthcli.cli.options import (
    ClientAuthOption,
    ClientKeyOption,
    ClientSecretFileOption,
    JsonOption,
    ProfileOption,
)
from oauthcli.cli.provider_cmd import HTTP_TIMEOUT, CacertOption
from oauthcli.cli.tokens_cmd import (
    PrintOption,
    ScopeOption,
    cache_and_report,
    check_profile,
    scope_list,
)
from oauthcli.errors import UsageError

SOURCES = ("github-actions",)


def _read_token(
    given: str | None, file: Path | None, env: str | None, option: str, stdin_taken: bool
) -> tuple[str | None, bool]:
    """The token from ``-`` (stdin), a file, or the environment; never a literal on argv."""
    from oauthcli.client.secret import read_secret_file, register

    if given is not None and file is not None:
        raise UsageError(f"{option} and {option}-file contradict each other: choose one")
    if given is not None and given != "-":
        raise UsageError(
            f"{option} takes '-' (read from stdin), not the token itself: a token on the "
            f"command line is visible to every user (ps); use {option}-file FILE or the "
            "environment variable"
        )
    value: str | None
    if given == "-":
        if stdin_taken:
            raise UsageError("only one token can be read from stdin ('-')")
        value = sys.stdin.readline().strip()
        if not value:
            raise UsageError(f"{option} -: stdin is empty")
        return register(value), True
    if file is not None:
        return read_secret_file(file, f"{option}-file"), stdin_taken
    return (register(env) if env else None), stdin_taken


def exchange(
    issuer_url: Annotated[
        str,
        typer.Option(
            "--issuer-url",
            help="The provider to exchange at (its discovery names /token).",
        ),
    ],
    client_id: Annotated[
        str | None, typer.Option("--client-id", help="The client registered at the provider.")
    ] = None,
    client_secret_file: ClientSecretFileOption = None,
    client_auth: ClientAuthOption = None,
    client_key: ClientKeyOption = None,
    subject_token: Annotated[
        str | None,
        typer.Option(
            "--subject-token",
            metavar="-",
            help="'-' reads the subject token from stdin (never the token itself on argv; "
            "or env OAUTHCLI_SUBJECT_TOKEN).",
            show_default=False,
        ),
    ] = None,
    subject_token_file: Annotated[
        Path | None,
        typer.Option(
            "--subject-token-file", help="File holding the subject token.", show_default=False
        ),
    ] = None,
    subject_token_type: Annotated[
        str | None,
        typer.Option(
            "--subject-token-type",
            help="access_token, id_token, jwt, refresh_token, saml1, saml2 or a token type URI "
            "(RFC 8693 3); default jwt with --subject-token-source, else access_token.",
            show_default=False,
        ),
    ] = None,
    subject_token_source: Annotated[
        str | None,
        typer.Option(
            "--subject-token-source",
            help="github-actions: the job's OIDC token (ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN).",
            show_default=False,
        ),
    ] = None,
    subject_audience: Annotated[
        str | None,
        typer.Option(
            "--subject-audience",
            help="With --subject-token-source: the aud asked for the job's token "
            "(default: the provider's issuer URL).",
            show_default=False,
        ),
    ] = None,
    actor_token: Annotated[
        str | None,
        typer.Option(
            "--actor-token",
            metavar="-",
            help="'-' reads the actor token from stdin (or env OAUTHCLI_ACTOR_TOKEN): delegation.",
            show_default=False,
        ),
    ] = None,
    actor_token_file: Annotated[
        Path | None,
        typer.Option(
            "--actor-token-file", help="File holding the actor token.", show_default=False
        ),
    ] = None,
    actor_token_type: Annotated[
        str,
        typer.Option(
            "--actor-token-type", help="The actor token's type (as --subject-token-type)."
        ),
    ] = "access_token",  # noqa: S107 - a token type, not a password
    audience: Annotated[
        str | None,
        typer.Option(
            "--audience",
            help="The service the new token is for (RFC 8693 2.1).",
            show_default=False,
        ),
    ] = None,
    resource: Annotated[
        list[str] | None,
        typer.Option(
            "--resource", help="RFC 8707 resource the new token is for.", show_default=False
        ),
    ] = None,
    scope: ScopeOption = None,
    print_only: PrintOption = False,
    json_output: JsonOption = False,
    profile: ProfileOption = None,
    cacert: CacertOption = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for each server.", min=0.1)
    ] = HTTP_TIMEOUT,
) -> None:
    """Exchange a token for one of this provider's (RFC 8693) and cache it as a profile.

    The subject token is never taken from argv, printed, logged or cached.
    """
    from oauthcli import settings
    from oauthcli.cli.provider_cmd import login_request
    from oauthcli.client.exchange import Exchange, github_actions_token, token_type
    from oauthcli.client.exchange import exchange as run_exchange

    profile_name = resolve_profile(profile)
    check_profile(profile_name, print_only, json_output)
    if subject_token_source is not None and subject_token_source not in SOURCES:
        raise UsageError(f"--subject-token-source must be {' or '.join(SOURCES)}")
    if subject_token_source is None and subject_audience is not None:
        raise UsageError("--subject-audience applies to --subject-token-source")
    stdin_taken = False
    subject: str | None = None
    if subject_token_source is None:
        subject, stdin_taken = _read_token(
            subject_token, subject_token_file, settings.env_subject_token(),
            "--subject-token", stdin_taken,
        )  # fmt: skip
        if subject is None:
            raise UsageError(
                "no subject token: pass --subject-token - (stdin), --subject-token-file FILE, "
                "OAUTHCLI_SUBJECT_TOKEN or --subject-token-source github-actions"
            )
    elif subject_token is not None or subject_token_file is not None:
        raise UsageError("--subject-token-source and --subject-token contradict each other")
    actor, _ = _read_token(
        actor_token, actor_token_file, settings.env_actor_token(), "--actor-token", stdin_taken
    )
    kind = subject_token_type or ("jwt" if subject_token_source else "access_token")
    login = login_request(
        issuer_url=issuer_url,
        client_id=client_id,
        client_secret_file=client_secret_file,
        client_auth=client_auth,
        client_key=client_key,
        scopes=scope_list(scope) or [],
        resources=resource or [],
    )
    from oauthcli.cli import output
    from oauthcli.http import make_client

    cafile = str(cacert) if cacert is not None else None
    with make_client(timeout, cafile, notice=output.slow_notice()) as http:
        if subject is None:
            subject = github_actions_token(http, subject_audience or issuer_url.rstrip("/"))
        request = Exchange(
            subject_token=subject,
            subject_token_type=token_type(kind, "--subject-token-type"),
            actor_token=actor,
            actor_token_type=token_type(actor_token_type, "--actor-token-type") if actor else None,
            audience=audience,
        )
        entry = run_exchange(http, login, request)
    del subject, request
    cache_and_report(profile_name, entry, print_only, json_output, "Exchanged for")


def register(app: typer.Typer) -> None:
    app.command("exchange")(exchange)
