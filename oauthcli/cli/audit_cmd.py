"""``oauthcli audit [TOKEN]``: everything risky about a token, in one list (exit 0 clean, 4 not)."""

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from oauthcli.cli import output
from oauthcli.cli.inspect_cmd import TokenArg
from oauthcli.cli.inspect_run import read_token
from oauthcli.cli.options import JsonOption, ProfileOption
from oauthcli.errors import Reason


def audit(
    token: TokenArg = None,
    secret_file: Annotated[
        Path | None,
        typer.Option(
            "--secret-file",
            help="HMAC secret the token is meant for: also judge its length.",
            show_default=False,
        ),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            help="PEM public key (or certificate) the token is meant for: also judge it.",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOption = False,
    profile: ProfileOption = None,
) -> None:
    """List what is risky about a token: exit 0 when nothing is, 4 when something is.

    Checks: alg none; HS* signed with a published secret (FastAPI tutorial, jwt.io, ...);
    a key too weak for its alg; no exp; a lifetime over a day; no aud or iss; jku/x5u/jwk/x5c
    headers. The signature is not verified (use 'oauthcli verify' for that).
    """
    from oauthcli.audit import audit as audit_token
    from oauthcli.errors import TokenError
    from oauthcli.verify import verdict
    from oauthcli.verify.parse import decode

    try:
        parsed = decode(read_token(token, profile, "audit"))
    except TokenError as exc:
        if json_output:  # as verify --json: a token that cannot be read still gets an answer
            output.print_json(verdict.of_error(exc, None, time.time()))
        raise
    secret = None
    public_key = None
    if secret_file is not None:
        from oauthcli.keys import read_secret_file

        secret = read_secret_file(secret_file)
    if key is not None:
        from oauthcli.errors import ConfigError
        from oauthcli.keys import load_pem

        try:
            material = key.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read key file {key}: {exc.strerror}") from None
        loaded = load_pem(material, str(key))
        public_key = loaded.public_key() if hasattr(loaded, "private_bytes") else loaded
    findings = audit_token(parsed, time.time(), secret=secret, public_key=public_key)
    if json_output:
        # verify's shape ("valid": no risk found), and each finding with its code
        output.print_json(
            {
                "valid": not findings,
                "error": "audit" if findings else None,
                "message": _summary(findings),
                "header": parsed.header,
                "payload": parsed.payload,
                "expires_in": verdict.expires_in_of(parsed.payload, time.time()),
                "warnings": [f.message for f in findings],
                "findings": [f.as_json() for f in findings],
            }
        )
    elif not findings:
        output.echo("clean: nothing risky found (signature not verified; see 'oauthcli verify')")
    else:
        width = max(len(f.code) for f in findings)
        for finding in findings:
            output.echo(f"{finding.code.ljust(width)}  {output.clean(finding.message)}")
    if findings:
        raise TokenError(_summary(findings), Reason.AUDIT)


def _summary(findings: list[Any]) -> str:
    if not findings:
        return "clean: nothing risky found (signature not verified; see 'oauthcli verify')"
    codes = ", ".join(f.code for f in findings)
    plural = "risk" if len(findings) == 1 else "risks"
    return f"{len(findings)} {plural} found: {codes}"


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("audit")(audit)
