"""All terminal output: plain text and JSON to stdout, diagnostics to stderr.

Rich is imported only when something is drawn for a person on a terminal, so
scripted use (``--json``, ``--print``, pipes) never pays for it.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from oauthcli.text import clean as _clean

if TYPE_CHECKING:
    from rich.console import Console


def clean(text: str, limit: int = 500) -> str:
    """One printable line: escapes and control/bidi characters removed, length capped."""
    return _clean(text, limit)


def echo(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def print_json_line(data: Any) -> None:
    sys.stdout.write(json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n")


def error(message: str) -> None:
    sys.stderr.write(f"oauthcli: error: {clean(message)}\n")


def warn(message: str) -> None:
    sys.stderr.write(f"oauthcli: warning: {clean(message)}\n")


def note(message: str) -> None:
    sys.stderr.write(f"{message}\n")


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def table(headers: list[str], rows: list[list[str]]) -> None:
    """Aligned plain-text columns: readable on a terminal, easy to grep and cut."""
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    for line in [headers, *rows]:
        echo(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )
