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

    from oauthcli.client.cache import TokenCache

# Set by the root callback on every run: the options given before the command name.
global_options: dict[str, object] = {}


def set_global_options(
    *,
    store: Path | None,
    profile: str | None,
    debug: bool,
    interactive: bool | None = None,
    token_store: str | None = None,
) -> None:
    """The root callback's work (Typer's, or the fast path's for ``decode``/``verify``)."""
    global_options.clear()
    global_options.update(
        store=store, profile=profile, debug=debug, interactive=interactive, token_store=token_store
    )


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


def token_cache() -> TokenCache:
    """The token cache, its tokens kept where ``--token-store``, else
    ``$OAUTHCLI_TOKEN_STORE``, else ``auto`` says (the OS keyring when there is one)."""
    from oauthcli.client.cache import TokenCache
    from oauthcli.client.secretstore import check_choice

    option = _global_str("token_store")
    if option is not None:
        storage = check_choice(option, "--token-store", UsageError)
    else:
        env = settings.token_store()
        storage = check_choice(env, settings.ENV_TOKEN_STORE) if env else "auto"
    return TokenCache(settings.cache_dir(), storage)


def resolve_profile(profile: str | None) -> str:
    return settings.profile_name(profile or _global_str("profile"))


def no_person() -> str | None:
    """Why no person can be asked here (a browser or device login, a password prompt), or
    None when one can: ``--interactive``/``--non-interactive``, else
    ``$OAUTHCLI_INTERACTIVE``, else no CI (``CI=true``) and a terminal on stdin.

    The one place the CLI decides it; a command that would need a person calls
    :func:`require_person` before it starts anything a person would have to finish."""
    chosen = global_options.get("interactive")
    if chosen is None:
        chosen = settings.interactive()
    if chosen is True:
        return None
    if chosen is False:
        return (
            "--non-interactive"
            if global_options.get("interactive") is False
            else (f"{settings.ENV_INTERACTIVE}=0")
        )
    ci = settings.ci()
    if ci is not None:
        return ci
    if not sys.stdin.isatty():
        return "standard input is not a terminal"
    return None


def require_person(what: str, command: list[str] | None = None) -> None:
    """Exit 3 at once, in one line naming the command to run at a terminal, when no person
    can be asked for ``what`` (a CI job must fail, not hang on a browser nobody opens).

    ``command``: the arguments of what to run there; default this very command."""
    why = no_person()
    if why is None:
        return
    from oauthcli.errors import AuthenticationError, Reason

    raise AuthenticationError(
        f"{what} needs a person, and there is none here ({why}): {run_at_terminal(command)}",
        reason=Reason.INTERACTION_REQUIRED,
    )


def require_prompt(what: str = "password") -> None:
    """Exit 3 at once when the ``what`` cannot be typed at a hidden prompt: no person (see
    :func:`no_person`), or no terminal to prompt on. Called before anything else is done
    (no request is sent for a password that cannot be asked for)."""
    why = no_person() or (None if sys.stdin.isatty() else "standard input is not a terminal")
    if why is None:
        return
    from oauthcli.errors import AuthenticationError, Reason

    raise AuthenticationError(
        f"typing the {what} needs a person, and there is none here ({why}): pass it "
        f"with --password-stdin, or {run_at_terminal()}",
        reason=Reason.INTERACTION_REQUIRED,
    )


# The arguments of this run (set by ``cli.main``): what to run at a terminal instead.
invocation: list[str] = []


def run_at_terminal(command: list[str] | None = None) -> str:
    """``at a terminal, run: oauthcli ...``: ``command``, else this run's arguments without
    the options that chose no person (secrets are never on argv), quoted for a shell."""
    import shlex

    from oauthcli.text import clean

    args = invocation if command is None else command
    shown = [a for a in args if a not in ("--non-interactive", "--interactive")]
    return f"at a terminal, run: {clean(shlex.join(['oauthcli', *shown]), 300)}"


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
    require_prompt(what)
    import getpass

    for attempt in range(1, CONFIRM_TRIES + 1):
        password = getpass.getpass(f"{what.capitalize()}: ")
        if not confirm or getpass.getpass(f"Repeat {what}: ") == password:
            return register(password)
        if attempt < CONFIRM_TRIES:
            sys.stderr.write(f"The two {what}s do not match; try again.\n")
    raise UsageError(f"the two {what}s did not match ({CONFIRM_TRIES} tries)")
