"""``oauthcli keys generate`` / ``oauthcli keys jwks``: signing keys and their public JWKS."""

from pathlib import Path
from typing import Annotated

import typer

from oauthcli.cli import complete, output

ALGORITHMS = "HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512, EdDSA"

keys_app = typer.Typer(
    help="Create signing keys and publish their public halves (JWKS).", no_args_is_help=True
)


@keys_app.command("generate")
def generate(
    alg: Annotated[
        str,
        typer.Option(
            "--alg",
            help=f"Algorithm the key is for: {ALGORITHMS}.",
            show_default=False,
            autocompletion=complete.algorithms,
        ),
    ],
    out: Annotated[
        str,
        typer.Option(
            "--out",
            "-o",
            help="File to write (created 0600); '-' writes to standard output.",
            show_default=False,
        ),
    ],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write a new private key (PKCS#8 PEM) or, for HS*, a random 64-byte secret.

    The key id (RFC 7638 thumbprint) that tokens signed with it carry is printed
    on stderr. Key material goes to standard output only with '--out -'.
    """
    from oauthcli import keys

    keys.family_of(alg)
    if out == "-":
        material = keys.generate(alg)
        kid = keys.key_id(material, alg)
        from oauthcli.cli import ci_output

        text = material.decode("ascii")
        ci_output.emit(text.removesuffix("\n"), [text])  # a PEM is masked line by line
        output.note(f"wrote a new {alg} key to standard output (kid {kid})")
        return
    path = Path(out).expanduser()
    kid = keys.write_new_key(path, alg, overwrite=force)
    kind = "secret" if keys.family_of(alg) == keys.HMAC else "private key"
    output.note(f"wrote a new {alg} {kind} to {path} (mode 0600, kid {kid})")


@keys_app.command("jwks")
def jwks(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="PEM key files (private or public keys, or certificates); several for rotation.",
            metavar="KEY_FILE...",
            show_default=False,
        ),
    ],
    alg: Annotated[
        str | None,
        typer.Option(
            "--alg",
            autocompletion=complete.algorithms,
            help=(
                "Algorithm to publish as 'alg' (default: ES* by curve, EdDSA; none for RSA "
                "keys, which serve RS* and PS* alike)."
            ),
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print the public JWKS (RFC 7517) of key files; each kid is the RFC 7638 thumbprint."""
    from oauthcli import keys

    if alg is not None:
        keys.family_of(alg)
    output.print_json(keys.jwks_from_files(paths, alg))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(keys_app, name="keys")
