"""``oauthcli issue``: mint an access token without a password, for fixtures and CI."""

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from oauthcli.cli import complete, output
from oauthcli.cli.common import resolve_store_path, store_is_named
from oauthcli.cli.options import JsonOption, StoreOption
from oauthcli.cli.tokens_cmd import load_issuer, scope_list
from oauthcli.errors import UsageError

if TYPE_CHECKING:
    from oauthcli.issuer import IssuerSettings
    from oauthcli.keys import SigningKey

# Header parameters and the claims that have their own option: --claim can't set these.
_HEADER_PARAMS = {"alg", "typ", "kid", "cty", "crit", "jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256"}
_CLAIM_OPTIONS = {
    "sub": "--sub",
    "scope": "--scope",
    "scopes": "--scope",
    "aud": "--aud",
    "iss": "--iss",
}


def parse_claims(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values are JSON when they parse as JSON, else strings."""
    import json

    claims: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"invalid --claim {output.clean(item, 60)!r}: use KEY=VALUE")
        if name in _HEADER_PARAMS:
            raise UsageError(
                f"--claim {name}: {name!r} is a JOSE header parameter, not a claim; "
                "the header is set from the signing key"
            )
        if name in _CLAIM_OPTIONS:
            raise UsageError(f"--claim {name}: use {_CLAIM_OPTIONS[name]} to set {name!r}")
        if name in claims:
            raise UsageError(f"--claim {name} is given twice")
        try:
            value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
        except ValueError:
            value = raw
        claims[name] = value
    for name in ("exp", "nbf", "iat"):
        if name in claims and (
            isinstance(claims[name], bool) or not isinstance(claims[name], int | float)
        ):
            raise UsageError(f"--claim {name} must be a number (seconds since the epoch)")
    return claims


def _no_constant(name: str) -> Any:
    raise ValueError(name)  # NaN / Infinity are not JSON: keep the text


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)  # 1e999 would be encoded as Infinity, which is not JSON either
    return value


def _issue_settings(store: Path | None) -> "tuple[IssuerSettings, SigningKey]":
    """The store's issuer; with no store named and none in ./, HS256 over OAUTHCLI_SECRET (CI).

    A store that was named (``--store``, ``OAUTHCLI_STORE``) and is missing is an
    error, as for ``verify``: signing with another key would hide the typo.
    """
    from oauthcli import settings
    from oauthcli.issuer import IssuerSettings
    from oauthcli.store import UserStore

    store_path = resolve_store_path(store)
    user_store = UserStore(store_path)
    if not store_is_named(store) and not user_store.exists() and settings.env_secret():
        issuer = IssuerSettings()
        return issuer, issuer.signing_key()
    return load_issuer(store_path, user_store.load())


def issue(
    sub: Annotated[str, typer.Option("--sub", help="Subject (sub claim).", show_default=False)],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            "-s",
            help="Scope to grant (repeatable, or space-separated).",
            show_default=False,
        ),
    ] = None,
    ttl: Annotated[
        str | None,
        typer.Option(
            "--ttl",
            help="Lifetime like 30s, 15m, 2h, 7d (default: the issuer's access_token_ttl).",
            show_default=False,
        ),
    ] = None,
    claim: Annotated[
        list[str] | None,
        typer.Option(
            "--claim",
            "-c",
            help='Extra claim KEY=VALUE (repeatable); VALUE is JSON when it parses (42, true, ["a"]).',
            show_default=False,
        ),
    ] = None,
    aud: Annotated[
        list[str] | None,
        typer.Option(
            "--aud", help="Audience (repeatable; default: the issuer's).", show_default=False
        ),
    ] = None,
    iss: Annotated[
        str | None,
        typer.Option("--iss", help="Issuer (default: the issuer's).", show_default=False),
    ] = None,
    json_output: JsonOption = False,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="text (the token), json, or env: an OAUTHCLI_ACCESS_TOKEN=... line.",
            show_default=False,
            autocompletion=complete.formats,
        ),
    ] = None,
    store: StoreOption = None,
) -> None:
    """Mint an access token without a password, for test fixtures and CI.

    Signed with the key of the store's issuer table (with no store file:
    HS256 and OAUTHCLI_SECRET). Nothing is cached. --claim exp=... / nbf=... / iat=...
    override the times (e.g. to mint an expired token).
    """
    from oauthcli.cli import ci_output
    from oauthcli.durations import parse_duration
    from oauthcli.tokens import TokenService

    fmt = ci_output.resolve_format(fmt, json_output=json_output)
    if not sub:
        raise UsageError("--sub must not be empty")
    scopes = scope_list(scope)  # None: no scope claim at all
    extra = parse_claims(claim or [])
    lifetime = None if ttl is None else parse_duration(ttl, what="--ttl")
    audience: str | list[str] | None = None
    if aud:
        if any(not a.strip() for a in aud):
            raise UsageError("--aud must not be empty (leave it out for the issuer's audience)")
        audience = aud[0] if len(aud) == 1 else list(aud)
    issuer, key = _issue_settings(store)
    service = TokenService(issuer, key)
    token, claims = service.access_token(
        sub, scopes, ttl=lifetime, audience=audience, issuer=iss, extra=extra
    )
    if fmt == "env":
        ci_output.print_env({"access_token": token})
        return
    if fmt == "json":
        import jwt

        ci_output.emit_json(
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": max(0, int(claims["exp"]) - int(time.time())),
                "header": jwt.get_unverified_header(token),
                "payload": claims,
            },
            [token],
        )
        return
    ci_output.emit(token, [token])


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("issue")(issue)
