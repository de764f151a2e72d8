"""Token times for people: ISO-8601 plus "expires in 14 min", and the lifetime bar (``decode``)."""

from __future__ import annotations

import json
from typing import Any

from oauthcli.claims import is_numeric_date
from oauthcli.durations import humanize_delta, iso_time

TIME_CLAIMS = ("exp", "nbf", "iat", "auth_time")


def relative(claim: str, timestamp: float, now: float) -> str:
    """``expires in 14 min`` / ``expired 3 h ago`` / ``issued 2 min ago`` ..."""
    ahead = timestamp >= now
    span_text = humanize_delta(timestamp - now)
    if claim == "exp":
        return f"expires in {span_text}" if ahead else f"expired {span_text} ago"
    if claim == "nbf":
        return f"valid in {span_text}" if ahead else f"valid since {span_text} ago"
    if claim == "iat":
        return f"issued in {span_text} (in the future!)" if ahead else f"issued {span_text} ago"
    if claim == "auth_time":
        return (
            f"authenticated in {span_text} (in the future!)"
            if ahead
            else f"authenticated {span_text} ago"
        )
    return f"in {span_text}" if ahead else f"{span_text} ago"


def describe_time(claim: str, value: Any, now: float) -> str:
    """ISO-8601 plus relative time; a value that is not a NumericDate says so."""
    if not is_numeric_date(value):
        return f"{json.dumps(value)[:80]} (not a NumericDate)"
    return f"{iso_time(value)} ({relative(claim, value, now)})"


def lifetime_bar(start: Any, end: Any, now: float, width: int = 30) -> str | None:
    """``[#########|..........] 45% of 15 min used``, or None without usable iat/nbf and exp."""
    if not (is_numeric_date(start) and is_numeric_date(end)) or end <= start:
        return None
    fraction = (now - start) / (end - start)
    position = min(max(int(fraction * width), 0), width)
    if fraction < 0:
        bar = "|" + "." * width
        state = "not started yet"
    elif fraction >= 1:
        bar = "#" * width + "|"
        state = "expired"
    else:
        bar = "#" * position + "|" + "." * (width - position)
        state = f"{int(fraction * 100)}% used"
    return f"[{bar}] {state} of {humanize_delta(end - start)}"
