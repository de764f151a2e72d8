"""``oauthcli decode`` and ``oauthcli verify``: their options and help.

What they do is ``oauthcli.cli.inspect_run``; ``oauthcli.cli.fastpath`` starts the
common forms without Typer (a test checks it parses exactly as these signatures do).
"""

from pathlib import Path
from typing import Annotated

import typer

from oauthcli.cli import complete
from oauthcli.cli.options import JsonOption, ProfileOption, StoreOption

TokenArg = Annotated[
    str | None,
    typer.Argument(
        help="The token ('-' reads stdin). Default: $OAUTHCLI_TOKEN, else the profile's cached access token.",
        show_default=False,
    ),
]


def decode(
    token: TokenArg = None,
    json_output: JsonOption = False,
    profile: ProfileOption = None,
) -> None:
    """Show a token's header and claims WITHOUT checking its signature.

    Times are shown as ISO-8601 and relative to now. Encrypted (JWE) and opaque
    tokens are reported as such (exit 4). Use 'oauthcli verify' to trust a token.
    """
    from oauthcli.cli import inspect_run

    inspect_run.decode(token, json_output, profile)


def verify(
    token: TokenArg = None,
    secret_file: Annotated[
        Path | None,
        typer.Option(
            "--secret-file", help="HMAC secret file (or env OAUTHCLI_SECRET).", show_default=False
        ),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key", help="PEM public key, private key or certificate.", show_default=False
        ),
    ] = None,
    jwks: Annotated[
        str | None,
        typer.Option(
            "--jwks",
            metavar="FILE|URL",
            help="JWK Set: a file or an https URL.",
            show_default=False,
        ),
    ] = None,
    issuer_url: Annotated[
        str | None,
        typer.Option(
            "--issuer-url",
            metavar="URL",
            help="Issuer to discover (OIDC / RFC 8414) for its jwks_uri; iss must equal it.",
            show_default=False,
        ),
    ] = None,
    alg: Annotated[
        list[str] | None,
        typer.Option(
            "--alg",
            help="Accepted algorithm (repeatable). Default: the key's own.",
            show_default=False,
            autocompletion=complete.algorithms,
        ),
    ] = None,
    issuer: Annotated[
        str | None,
        typer.Option("--issuer", help="Required iss (exact match).", show_default=False),
    ] = None,
    audience: Annotated[
        list[str] | None,
        typer.Option(
            "--audience", help="Accepted aud (repeatable: any one of them).", show_default=False
        ),
    ] = None,
    require_scope: Annotated[
        list[str] | None,
        typer.Option(
            "--require-scope",
            help="Scope the token must carry (repeatable, all needed).",
            show_default=False,
        ),
    ] = None,
    require_claim: Annotated[
        list[str] | None,
        typer.Option(
            "--require-claim", help="Claim the token must carry (repeatable).", show_default=False
        ),
    ] = None,
    leeway: Annotated[
        str, typer.Option("--leeway", help="Clock skew allowed (e.g. 30s, 2m).")
    ] = "0",
    max_age: Annotated[
        str | None,
        typer.Option(
            "--max-age", help="Reject tokens issued (iat) longer ago (e.g. 1h).", show_default=False
        ),
    ] = None,
    allow_no_exp: Annotated[
        bool, typer.Option("--allow-no-exp", help="Accept tokens without exp.")
    ] = False,
    token_type: Annotated[
        str,
        typer.Option("--token-type", help="access (rejects refresh tokens), refresh or any."),
    ] = "access",  # noqa: S107
    batch: Annotated[
        str | None,
        typer.Option(
            "--batch",
            metavar="FILE|-",
            help="Verify one token per line of FILE ('-': stdin); prints JSON Lines.",
            show_default=False,
        ),
    ] = None,
    allow_oct: Annotated[
        bool,
        typer.Option(
            "--allow-oct",
            help="Use shared secrets ('oct' keys) of a --jwks FILE (never of a URL).",
        ),
    ] = False,
    cacert: Annotated[
        Path | None,
        typer.Option(
            "--cacert",
            metavar="FILE",
            help="CA bundle (PEM) to trust for --jwks URL / --issuer-url instead of the system's.",
            show_default=False,
        ),
    ] = None,
    dpop_proof: Annotated[
        str | None,
        typer.Option(
            "--dpop-proof",
            metavar="PROOF",
            help="Also check this DPoP proof (RFC 9449) against the token: signed by the key "
            "its cnf.jkt names, ath its hash, for --htm and --htu.",
            show_default=False,
        ),
    ] = None,
    htm: Annotated[
        str | None,
        typer.Option("--htm", help="With --dpop-proof: the request's method.", show_default=False),
    ] = None,
    htu: Annotated[
        str | None,
        typer.Option("--htu", help="With --dpop-proof: the request's URL.", show_default=False),
    ] = None,
    json_output: JsonOption = False,
    store: StoreOption = None,
    profile: ProfileOption = None,
) -> None:
    """Verify a token's signature and claims. Exit 0 valid, 5 expired/not yet valid, 4 invalid.

    Keys: the store's \\[issuer] settings by default, or --secret-file, --key,
    --jwks or --issuer-url. Header fields jku/x5u/jwk/x5c are never followed.

    Exit codes:

    \b
    0  valid (with --batch: every token valid)
    1  internal error (a bug: rerun with --debug and report it)
    2  bad option or value
    4  token invalid: malformed, opaque, encrypted, bad signature,
       wrong alg/typ/iss/aud/scope
    5  token expired, not yet valid, or older than --max-age
       (--batch: every failure was one of these)
    6  the key set or discovery document could not be fetched
    7  missing or unreadable key material or store
    """
    from oauthcli.cli import inspect_run

    inspect_run.verify(
        token,
        secret_file=secret_file,
        key=key,
        jwks=jwks,
        issuer_url=issuer_url,
        alg=alg,
        issuer=issuer,
        audience=audience,
        require_scope=require_scope,
        require_claim=require_claim,
        leeway=leeway,
        max_age=max_age,
        allow_no_exp=allow_no_exp,
        token_type=token_type,
        batch=batch,
        allow_oct=allow_oct,
        cacert=cacert,
        json_output=json_output,
        store=store,
        profile=profile,
        dpop_proof=dpop_proof,
        htm=htm,
        htu=htu,
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("decode")(decode)
    app.command("verify")(verify)
