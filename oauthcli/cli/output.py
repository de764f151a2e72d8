"""All terminal output: plain text and JSON to stdout, diagnostics to stderr.

Rich is imported only when something is drawn for a person on a terminal, so
scripted use (``--json``, ``--print``, pipes) never pays for it.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from oauthcli.errors import Reason
from oauthcli.text import clean as _clean

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from rich.console import Console

    from oauthcli.progress import SlowNotice


def clean(text: str, limit: int | None = 500) -> str:
    """One printable line: escapes and control/bidi characters removed, length capped."""
    return _clean(text, limit)


def echo(text: str = "") -> None:
    sys.stdout.write(text + "\n")


# Whether this command has printed its JSON document: an error after it adds no second one.
json_printed = False


def print_json(data: Any) -> None:
    global json_printed
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    json_printed = True


def wants_json(args: list[str]) -> bool:
    """``--json`` or ``--format json`` among a command's arguments (before any ``--``)."""
    from itertools import pairwise

    args = args[: args.index("--")] if "--" in args else args
    return (
        "--json" in args
        or "--format=json" in args
        or any(a == "--format" and b.lower() == "json" for a, b in pairwise(args))
    )


def json_error(message: str, reason: Reason, exit_code: int) -> None:
    """A failure as the JSON document of a ``--json`` run (stdout), besides the stderr line:
    ``{"error": REASON, "message": TEXT, "exit_code": N}``, ``error`` being the reason code
    ``verify --json`` also uses. Nothing when the command already printed its document."""
    if json_printed:
        return
    print_json({"error": reason, "message": clean(message), "exit_code": exit_code})


def error(message: str) -> None:
    end_waiting()
    sys.stderr.write(f"oauthcli: error: {clean(message)}\n")


def warn(message: str) -> None:
    end_waiting()
    sys.stderr.write(f"oauthcli: warning: {clean(message)}\n")


def note(message: str) -> None:
    end_waiting()
    sys.stderr.write(f"{message}\n")


# A waiting line is on the terminal (stderr): the next line written first clears it.
_waiting_shown = False


def waiting(left: float, what: str) -> None:
    """While a person is awaited: one line on stderr, redrawn in place with the time left;
    only on a terminal (pipes and CI logs get nothing), never on stdout (``--json``)."""
    global _waiting_shown
    if not stderr_is_terminal():
        return
    minutes, seconds = divmod(max(0, int(left)), 60)
    sys.stderr.write(f"\r\x1b[K{clean(what, 80)}... {minutes}:{seconds:02d} left, Ctrl-C to cancel")
    sys.stderr.flush()
    _waiting_shown = True


def slow(what: str, seconds: float) -> None:
    """Something slow is still going on (an HTTP exchange, a bcrypt hash): one line on
    stderr, redrawn in place, cleared by the next line or ``end_waiting``; only on a
    terminal."""
    global _waiting_shown
    if not stderr_is_terminal():
        return
    sys.stderr.write(f"\r\x1b[K{clean(what, 120)} ({int(seconds)} s)")
    sys.stderr.flush()
    _waiting_shown = True


def slow_notice() -> SlowNotice | None:
    """What the core is handed to say it is slow: drawn by ``slow`` on a terminal; None
    (nothing watched, nothing drawn) when stderr is a pipe or a file."""
    if not stderr_is_terminal():
        return None
    from oauthcli.progress import SlowNotice

    return SlowNotice(show=slow, clear=end_waiting)


def working(what: str) -> AbstractContextManager[None]:
    """Around slow local work (a bcrypt hash at a high cost): said on a terminal once it
    takes more than a second, cleared when it ends."""
    from oauthcli.progress import watched

    return watched(slow_notice(), what)


def end_waiting() -> None:
    """Clear the waiting line, if one is shown."""
    global _waiting_shown
    if _waiting_shown:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()
        _waiting_shown = False


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


def table(headers: list[str], rows: list[list[str]], *, fit: bool = False) -> None:
    """Aligned plain-text columns: readable on a terminal, easy to grep and cut.

    Cells are cleaned (they may come from a hand-edited store). With ``fit``, on a
    terminal the widest columns are cut (ending in "…") so each row fits the width;
    into a pipe rows are never cut.
    """
    rows = [[clean(cell, None) for cell in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    if fit and stdout_is_terminal():
        import shutil

        widths = fit_widths(widths, [len(h) for h in headers], shutil.get_terminal_size().columns)
    for line in [headers, *rows]:
        cells = [_cut(cell, width) for cell, width in zip(line, widths, strict=True)]
        echo("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())


def fit_widths(widths: list[int], minimums: list[int], columns: int, gap: int = 2) -> list[int]:
    """Column widths whose sum (with gaps) fits ``columns``: the widest column shrinks first."""
    widths = list(widths)
    budget = columns - gap * (len(widths) - 1)
    while sum(widths) > budget:
        widest = max(range(len(widths)), key=lambda i: widths[i] - minimums[i])
        if widths[widest] <= minimums[widest]:
            break  # even the headers do not fit: let the terminal wrap
        widths[widest] -= 1
    return widths


def _cut(cell: str, width: int) -> str:
    return cell if len(cell) <= width else cell[: max(width - 1, 0)] + "…"
