"""Durations for people: ``"30s"``, ``"15m"``, ``"1h30m"``, ``"7d"`` <-> seconds; spans and
instants as messages show them (``"14 min"``, ``2024-05-01T12:00:00Z``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from oauthcli.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"([0-9]+)([smhdw])")
_WHOLE = re.compile(r"(?:[0-9]+[smhdw])+")
_SECONDS = re.compile(r"[0-9]+")


def parse_duration(text: object, *, what: str = "duration") -> int:
    """Seconds in ``text``; a bare number is seconds. Raises ``UsageError`` on anything else.

    ``text`` may come from TOML, so anything but a string or a whole number (a float
    like ``1.5``, ``true``, an array) is refused with the rule, not a crash.
    """
    if isinstance(text, bool) or not isinstance(text, str | int):
        # TOML ``true`` is an int to Python; not a duration either.
        shown = str(text).lower() if isinstance(text, bool) else repr(text)
        raise UsageError(
            f"invalid {what} {shown}: use a whole number of seconds or text like '15m' or '1h30m'"
        )
    if isinstance(text, int):
        if text < 0:
            raise UsageError(f"{what} must not be negative")
        return text
    value = text.strip().lower()
    if _SECONDS.fullmatch(value):
        return int(value)
    if not _WHOLE.fullmatch(value):
        raise UsageError(
            f"invalid {what} {text!r}: use a number of seconds or units like 30s, 15m, 2h, 7d, 1h30m"
        )
    return sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(value))


_LONGEST_SPAN = 10_000 * 365 * 86400


def humanize_delta(seconds: float) -> str:
    """Rough size of a span for a person: ``"14 min"``, ``"3 h"``, ``"2 days"``.

    Absurd spans (a token valid for 10^300 days) are kept short.
    """
    seconds = abs(seconds)
    if seconds >= _LONGEST_SPAN:
        return "more than 10,000 years"
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400 * 2:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} days"


def relative_time(when: float, now: float, *, past: str = "{} ago", future: str = "in {}") -> str:
    delta = when - now
    return (future if delta >= 0 else past).format(humanize_delta(delta))


def iso_time(timestamp: float) -> str:
    """``2024-05-01T12:00:00Z``; a timestamp out of range is shown as its number."""
    try:
        moment = datetime.fromtimestamp(timestamp, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return f"{timestamp} (out of range)"
    if moment.microsecond == 0:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0") + "Z"  # exp 1.5: ...:01.5Z
