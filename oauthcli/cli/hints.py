"""Command-line hints for core errors: the core says what went wrong, the CLI names the flag.

Core messages name no CLI options (the core is also used from Python); the
commands that talk to servers add the option that helps, keyed by ``reason``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from oauthcli.errors import OAuthCliError, Reason

F = TypeVar("F", bound=Callable[..., Any])

_APPENDED = {
    "plain_http": ", or pass --insecure-http if you accept the risk",
    "tls_verify": " (pass --cacert for a private CA)",
}


def add_flag_hint(exc: OAuthCliError) -> None:
    """Complete ``exc``'s message with the option that helps, in place."""
    hint = _APPENDED.get(exc.reason or "")
    if hint and not exc.message.endswith(hint):
        exc.message += hint
    elif exc.reason == Reason.BAD_TIMEOUT and exc.message.startswith("the timeout"):
        exc.message = "--timeout" + exc.message.removeprefix("the timeout")


def with_flag_hints(command: F) -> F:
    """Wrap a command so that the core errors it lets through name the option that helps."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except OAuthCliError as exc:
            add_flag_hint(exc)
            raise

    return wrapper  # type: ignore[return-value]  # same signature: functools.wraps
