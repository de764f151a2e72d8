"""``oauthcli status`` (``whoami``) and ``oauthcli profile list|rm``: the token cache's
profiles, whom each is logged in as, where, and whether it can still be used.

Nothing here talks to a server: what a profile knows is what the cache holds, including
what the last server answer said (``revoke``, a refused refresh).
"""

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from oauthcli.cli import complete, output
from oauthcli.cli.common import resolve_profile, token_cache
from oauthcli.cli.options import JsonOption, ProfileOption
from oauthcli.errors import Reason

if TYPE_CHECKING:
    from oauthcli.client.cache import CacheEntry

profile_app = typer.Typer(help="List and remove token cache profiles.", no_args_is_help=True)


def _state(entry: "CacheEntry", now: float) -> tuple[bool, str]:
    """(usable, what a person reads) for one profile."""
    from oauthcli.client.cache import EXPIRY_MARGIN
    from oauthcli.client.refresh import can_refresh

    if entry.revoked:
        return False, f"{entry.revoked}: log in again"
    if not entry.expired(now, margin=EXPIRY_MARGIN):
        return True, "usable"
    if can_refresh(entry):
        return True, "expired, refreshed on next use"
    return False, "expired and cannot be refreshed: log in again"


def describe(
    name: str, entry: "CacheEntry | None", error: str | None, now: float
) -> dict[str, Any]:
    """One profile as ``status --json`` shows it (cleaned: the cache may be hand-edited)."""
    if entry is None:
        return {"profile": name, "usable": False, "state": error or "not logged in"}
    usable, state = _state(entry, now)
    expires_in = None if entry.expires_at is None else int(entry.expires_at - now)
    clean = output.clean
    return {
        "profile": name,
        "subject": clean(entry.subject() or "") or None,
        "client_id": clean(entry.client_id) if entry.client_id else None,
        "provider": clean(entry.provider()),
        "grant": entry.grant or ("password" if entry.username else None),
        "scopes": clean(entry.scope, 2000).split(),
        "expires_at": entry.expires_at,
        "expires_in": expires_in,
        "refresh": bool(entry.refresh_token),
        "allowed_origins": [clean(o) for o in entry.allowed_origins],
        "revoked": clean(entry.revoked) if entry.revoked else None,
        "usable": usable,
        "state": state,
    }


def _profiles(selected: str) -> list[dict[str, Any]]:
    from oauthcli.errors import OAuthCliError

    cache = token_cache()
    now = time.time()
    names = cache.profiles()
    if selected not in names:
        names.append(selected)
    shown = []
    for name in sorted(names):
        try:
            entry, error = cache.load(name), None
        except OAuthCliError as exc:
            entry, error = None, f"unreadable: {exc}"
        described = describe(name, entry, error, now)
        described["selected"] = name == selected
        if entry is not None or name == selected or error:
            shown.append(described)
    return shown


def _print_profile(item: dict[str, Any]) -> None:
    from oauthcli.durations import relative_time

    mark = "*" if item["selected"] else " "
    if "provider" not in item:
        output.echo(f"{mark} {item['profile']}: {item['state']}")
        return
    who = item["subject"] or f"client {item['client_id'] or '?'}"
    output.echo(f"{mark} {item['profile']}: {who} at {item['provider']}")
    how = item["grant"] or "-"
    if item["client_id"] and item["subject"]:
        how += f", client {item['client_id']}"
    output.echo(f"    grant:    {how}")
    output.echo(f"    scopes:   {' '.join(item['scopes']) or '-'}")
    if item["expires_at"] is None:
        output.echo("    expiry:   not stated by the server")
    else:
        now = time.time()
        rel = relative_time(item["expires_at"], now, past="expired {} ago", future="expires in {}")
        output.echo(f"    expiry:   {rel}")
    output.echo(f"    refresh:  {'yes' if item['refresh'] else 'no'}")
    if item["allowed_origins"]:
        output.echo(f"    origins:  {' '.join(item['allowed_origins'])}")
    output.echo(f"    state:    {item['state']}")


def status(profile: ProfileOption = None, json_output: JsonOption = False) -> None:
    """Show every cached profile: who, where, scopes, expiry, and whether it is usable.

    Exit 0 when the selected profile (--profile, else OAUTHCLI_PROFILE, else 'default')
    has a usable token, 3 when it must log in again. No server is asked.
    """
    from oauthcli.errors import AuthenticationError

    selected = resolve_profile(profile)
    from oauthcli.client.cache import validate_profile

    validate_profile(selected)
    items = _profiles(selected)
    chosen = next(i for i in items if i["selected"])
    if json_output:
        output.print_json({"profile": selected, "usable": chosen["usable"], "profiles": items})
    else:
        for item in items:
            _print_profile(item)
    if not chosen["usable"]:
        raise AuthenticationError(
            f"profile {selected!r}: {chosen['state']}"
            + ("; run 'oauthcli login' first" if chosen["state"] == "not logged in" else ""),
            reason=Reason.NOT_LOGGED_IN,
        )


@profile_app.command("list")
def list_profiles(json_output: JsonOption = False) -> None:
    """List the cached profiles, one a line: name, subject, provider, state."""
    items = [
        i
        for i in _profiles(resolve_profile(None))
        if "provider" in i or i.get("state") != "not logged in"
    ]
    if json_output:
        output.print_json(items)
        return
    rows = [
        [
            ("* " if i["selected"] else "  ") + i["profile"],
            i.get("subject") or "-",
            i.get("provider") or "-",
            i["state"],
        ]
        for i in items
    ]
    if rows:
        output.table(["PROFILE", "SUBJECT", "PROVIDER", "STATE"], rows, fit=True)


@profile_app.command("rm")
def remove_profile(
    name: Annotated[
        str,
        typer.Argument(
            metavar="PROFILE",
            help="The profile to forget.",
            show_default=False,
            autocompletion=complete.profiles,
        ),
    ],
) -> None:
    """Forget a profile's cached tokens here (without revoking them: 'logout' does both)."""
    from oauthcli.errors import UsageError

    cache = token_cache()
    if not cache.delete(name):
        raise UsageError(f"no profile {name!r} in the token cache")
    output.note(f"removed profile {name!r} (its tokens were not revoked: 'logout' revokes them)")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("status")(status)
    app.command("whoami")(status)
    app.add_typer(profile_app, name="profile")
