"""``oauthcli user ...``: manage the TOML user store."""

import json
from pathlib import Path
from typing import Annotated

import typer

from oauthcli.cli import complete, output
from oauthcli.cli.common import read_password, resolve_store_path
from oauthcli.cli.options import ClaimOption, JsonOption, PasswordStdinOption, StoreOption

app = typer.Typer(help="Manage users in the TOML user store.", no_args_is_help=True)

NameArg = Annotated[
    str,
    typer.Argument(
        help="Username.",
        metavar="USERNAME",
        show_default=False,
        autocompletion=complete.usernames,
    ),
]
ScopeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--scope", "-s", help="Scope the user may be granted (repeatable).", show_default=False
    ),
]


def _store(store: Path | None):
    from oauthcli.store import UserStore

    return UserStore(resolve_store_path(store))


def _rounds(data) -> int:
    from oauthcli import settings

    return settings.bcrypt_rounds(data.bcrypt_rounds)


def _new_hash(store_obj, password_stdin: bool) -> str:
    from oauthcli.passwords import check_password_policy, hash_password

    password = read_password(password_stdin, confirm=True)
    check_password_policy(password)
    rounds = _rounds(store_obj.load()) if store_obj.exists() else _rounds_default()
    with output.working(f"hashing the password with bcrypt at cost {rounds}"):
        return hash_password(password, rounds)


def _rounds_default() -> int:
    from oauthcli import settings

    return settings.bcrypt_rounds(None)


@app.command("add")
def add(
    name: NameArg,
    full_name: Annotated[str | None, typer.Option("--full-name", help="Display name.")] = None,
    email: Annotated[str | None, typer.Option("--email", help="E-mail address.")] = None,
    scope: ScopeOption = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create the user disabled.")] = False,
    claim: ClaimOption = None,
    password_stdin: PasswordStdinOption = False,
    store: StoreOption = None,
) -> None:
    """Add a user; the password is prompted for (or read with --password-stdin)."""
    from oauthcli.claims import parse_claim_assignment
    from oauthcli.store import (
        User,
        validate_email,
        validate_full_name,
        validate_name,
        validate_scopes,
    )

    name = validate_name(name)
    scopes = validate_scopes(scope or [])
    claims = dict(parse_claim_assignment(c) for c in claim or [])
    if full_name:
        validate_full_name(full_name)
    if email:
        validate_email(email)
    user_store = _store(store)
    if user_store.exists() and name in user_store.load().users:
        from oauthcli.errors import UsageError

        raise UsageError(f"user {name!r} already exists")
    hashed = _new_hash(user_store, password_stdin)
    from oauthcli import accounts

    accounts.add_user(
        user_store,
        User(
            username=name,
            hashed_password=hashed,
            full_name=full_name or None,
            email=email or None,
            disabled=disabled,
            scopes=scopes,
            claims=claims,
        ),
    )
    output.note(f"added user {output.clean(name)!r} to {user_store.path}")


@app.command("list")
def list_users(json_output: JsonOption = False, store: StoreOption = None) -> None:
    """List users (never their password hashes)."""
    users = list(_store(store).load().users.values())
    if json_output:
        output.print_json([user.public() for user in users])
        return
    output.table(
        ["USERNAME", "FULL NAME", "EMAIL", "STATUS", "SCOPES"],
        fit=True,
        rows=[
            [
                u.username,
                u.full_name or "-",
                u.email or "-",
                "disabled" if u.disabled else "active",
                " ".join(u.scopes) or "-",
            ]
            for u in users
        ],
    )


@app.command("show")
def show(
    name: NameArg,
    json_output: JsonOption = False,
    show_hash: Annotated[
        bool, typer.Option("--show-hash", help="Include the password hash.")
    ] = False,
    store: StoreOption = None,
) -> None:
    """Show one user."""
    user = _store(store).load().user(name)
    data = user.public(include_hash=show_hash)
    if json_output:
        output.print_json(data)
        return
    for key, value in data.items():
        if isinstance(value, list):
            value = " ".join(value) or "-"
        elif isinstance(value, dict):
            value = json.dumps(value, ensure_ascii=False) if value else "-"
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        shown = output.clean(str(value), None) if value is not None else "-"
        output.echo(f"{key + ':':<17}{shown}")


@app.command("passwd")
def passwd(
    name: NameArg, password_stdin: PasswordStdinOption = False, store: StoreOption = None
) -> None:
    """Set a user's password; their refresh tokens stop working."""
    user_store = _store(store)
    user_store.load().user(name)
    hashed = _new_hash(user_store, password_stdin)
    from oauthcli import accounts

    accounts.set_password(user_store, name, hashed)
    output.note(f"password of {name!r} changed")


@app.command("set")
def set_fields(
    name: NameArg,
    full_name: Annotated[str | None, typer.Option("--full-name", help="New display name.")] = None,
    email: Annotated[str | None, typer.Option("--email", help="New e-mail address.")] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope", "-s", help="Replace the scopes with these (repeatable).", show_default=False
        ),
    ] = None,
    add_scope: Annotated[
        list[str] | None,
        typer.Option("--add-scope", help="Grant a scope (repeatable).", show_default=False),
    ] = None,
    remove_scope: Annotated[
        list[str] | None,
        typer.Option("--remove-scope", help="Withdraw a scope (repeatable).", show_default=False),
    ] = None,
    no_scopes: Annotated[bool, typer.Option("--no-scopes", help="Remove every scope.")] = False,
    claim: ClaimOption = None,
    remove_claim: Annotated[
        list[str] | None,
        typer.Option(
            "--remove-claim", help="Remove a chosen claim (repeatable).", show_default=False
        ),
    ] = None,
    store: StoreOption = None,
) -> None:
    """Change a user's name, e-mail, scopes or chosen claims."""
    from oauthcli.errors import UsageError
    from oauthcli.store import validate_scopes

    claims = _claim_changes(claim, remove_claim)
    _check_identity(full_name, email)
    if scope is not None and no_scopes:
        raise UsageError("--scope and --no-scopes contradict each other")
    given = (full_name, email, scope, add_scope, remove_scope, no_scopes, claims, remove_claim)
    if all(value in (None, False, [], {}) for value in given):
        raise UsageError(
            "nothing to change: give --full-name, --email, --scope, --add-scope, --remove-scope, "
            "--no-scopes, --claim or --remove-claim"
        )
    absent: list[str] = []
    with _store(store).edit() as data:
        user = data.user(name)
        if full_name is not None:
            user.full_name = full_name or None
        if email is not None:
            user.email = email or None
        if no_scopes:
            user.scopes = []
        if scope is not None:
            user.scopes = validate_scopes(scope)
        if add_scope:
            user.scopes = validate_scopes([*user.scopes, *add_scope])
        if remove_scope:
            absent = [s for s in dict.fromkeys(remove_scope) if s not in user.scopes]
            user.scopes = [s for s in user.scopes if s not in set(remove_scope)]
        absent_claims = _change_claims(user, claims, remove_claim or [])
    for missing in absent_claims:
        output.note(f"user {name!r} had no claim {output.clean(missing)!r}; nothing to remove")
    for missing in absent:
        output.note(f"user {name!r} had no scope {output.clean(missing)!r}; nothing to remove")
    output.note(f"updated user {name!r}")


def _check_identity(full_name: str | None, email: str | None) -> None:
    from oauthcli.store import validate_email, validate_full_name

    if full_name:
        validate_full_name(full_name)
    if email:
        validate_email(email)


def _claim_changes(claim: list[str] | None, remove: list[str] | None) -> dict:
    """The ``--claim`` assignments, checked (none also named by ``--remove-claim``)."""
    from oauthcli.claims import parse_claim_assignment
    from oauthcli.errors import UsageError

    claims = dict(parse_claim_assignment(c) for c in claim or [])
    both = sorted(set(claims) & set(remove or []))
    if both:
        raise UsageError(f"--claim and --remove-claim both name {both[0]!r}")
    return claims


def _change_claims(user, claims: dict, remove: list[str]) -> list[str]:
    """Set ``claims`` and drop ``remove`` on ``user``; the removed names it did not have."""
    user.claims = {**user.claims, **claims}
    return [gone for gone in dict.fromkeys(remove) if user.claims.pop(gone, None) is None]


def _set_disabled(name: str, disabled: bool, store: Path | None) -> None:
    from oauthcli import accounts

    if not accounts.set_disabled(_store(store), name, disabled):
        output.note(f"user {name!r} is already {'disabled' if disabled else 'enabled'}")
        return
    output.note(f"{'disabled' if disabled else 'enabled'} user {name!r}")


@app.command("disable")
def disable(name: NameArg, store: StoreOption = None) -> None:
    """Disable a user: logins fail and their refresh tokens stop working."""
    _set_disabled(name, True, store)


@app.command("enable")
def enable(name: NameArg, store: StoreOption = None) -> None:
    """Enable a disabled user."""
    _set_disabled(name, False, store)


@app.command("remove")
def remove(name: NameArg, store: StoreOption = None) -> None:
    """Remove a user from the store."""
    user_store = _store(store)
    from oauthcli import accounts

    accounts.remove_user(user_store, name)
    output.note(f"removed user {name!r}")
