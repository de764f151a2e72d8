"""Input helpers and global options shared by the command modules.

No Typer here: the Typer-free start of ``decode`` and ``verify``
(``oauthcli.cli.fastpath``) uses these too. Option types are in ``oauthcli.cli.options``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from oauthcli import settings
from oauthcli.errors import UsageError

if TYPE_CHECKING:  # pathlib is imported where a path is used: decode needs none
    from pathlib import Path

# Set by the root callback on every run: the options given before the command name.
global_options: dict[str, object] = {}


def set_global_options(*, store: Path | None, profile: str | None, debug: bool) -> None:
    """The root callback's work (Typer's, or the fast path's for ``decode``/``verify``)."""
    global_options.clear()
    global_options.update(store=store, profile=profile, debug=debug)


def _global_path(name: str) -> Path | None:
    value = global_options.get(name)
    from pathlib import Path

    return value if isinstance(value, Path) else None


def _global_str(name: str) -> str | None:
    value = global_options.get(name)
    return value if isinstance(value, str) else None


def resolve_store_path(store: Path | None) -> Path:
    """The command's ``--store``, else the global one, else the environment or default."""
    return settings.store_path(store or _global_path("store"))


def store_is_named(store: Path | None) -> bool:
    """True when ``--store`` (here or before the command) or ``$OAUTHCLI_STORE`` chose it."""
    return settings.store_is_named(store or _global_path("store"))


def resolve_profile(profile: str | None) -> str:
    return settings.profile_name(profile or _global_str("profile"))


def read_stdin_line(what: str) -> str:
    line = sys.stdin.readline()
    if not line:
        raise UsageError(
            f"--password-stdin given but standard input is empty (expected the {what})"
        )
    return line.rstrip("\r\n")


CONFIRM_TRIES = 3


def read_password(password_stdin: bool, *, confirm: bool = False, what: str = "password") -> str:
    """The password from stdin or a hidden prompt; never from argv."""
    from oauthcli.client.secret import register  # masked in --debug tracebacks

    if password_stdin:
        return register(read_stdin_line(what))
    if not sys.stdin.isatty():
        raise UsageError(
            f"cannot prompt for the {what}: standard input is not a terminal (use --password-stdin)"
        )
    import getpass

    for attempt in range(1, CONFIRM_TRIES + 1):
        password = getpass.getpass(f"{what.capitalize()}: ")
        if not confirm or getpass.getpass(f"Repeat {what}: ") == password:
            return register(password)
        if attempt < CONFIRM_TRIES:
            sys.stderr.write(f"The two {what}s do not match; try again.\n")
    raise UsageError(f"the two {what}s did not match ({CONFIRM_TRIES} tries)")
