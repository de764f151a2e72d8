"""The verdict on one token: what ``verify --json`` prints and each ``verify --batch`` line holds.

One builder for every path (the CLI's single token, a batch line, the Python
API), so the shape cannot drift::

    {"line": 3,                       only in --batch output
     "valid": false,
     "error": "expired",              a stable reason code (oauthcli.verify.verifier), or null
     "message": "token expired 3 h ago (exp 2024-05-01T12:00:00Z)",
     "header": {...}, "payload": {...},   null when the token could not be decoded
     "expires_in": -10800,            seconds, null without a usable exp
     "warnings": []}                  for a valid token: weak key, unchecked aud, leeway used

The JSON text is built here too (:func:`json_line`), compact and in this field
order, with any header's text reusable across a batch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from oauthcli.claims import is_numeric_date
from oauthcli.errors import TokenError

if TYPE_CHECKING:
    from oauthcli.verify.parse import ParsedToken


class Verified(Protocol):
    """What a verdict reads of a verified token (``verifier.VerifiedToken`` is one).

    A structural type, so that the verifier imports this module and not the reverse.
    """

    @property
    def header(self) -> dict[str, Any]: ...
    @property
    def payload(self) -> dict[str, Any]: ...
    @property
    def expires_in(self) -> int | None: ...
    @property
    def warnings(self) -> list[str]: ...
    def describe(self) -> str: ...


FIELDS = ("valid", "error", "message", "header", "payload", "expires_in", "warnings")

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
# Characters that JSON leaves raw but that str.splitlines() and other readers take as line
# breaks: escaped, so that one verdict is always one line whatever a token holds.
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def dumps(value: Any) -> str:
    """Compact UTF-8 JSON on one line for any reader (U+0085/U+2028/U+2029 escaped)."""
    text = _encode(value)
    if "\x85" in text or "\u2028" in text or "\u2029" in text:
        text = text.translate(_LINE_BREAKS)
    return text


def seconds_until(moment: float, now: float) -> int:
    """Whole seconds, rounded down: half a second past ``exp`` is -1 ("expired"), never 0."""
    return math.floor(moment - now)


def expires_in_of(payload: dict[str, Any], now: float) -> int | None:
    """Whole seconds until ``exp`` (negative once passed); None without a usable exp."""
    exp = payload.get("exp")
    return seconds_until(exp, now) if is_numeric_date(exp) else None


def of_result(result: Verified) -> dict[str, Any]:
    """The verdict on a token that passed every check."""
    return {
        "valid": True,
        "error": None,
        "message": result.describe(),
        "header": result.header,
        "payload": result.payload,
        "expires_in": result.expires_in,
        "warnings": list(result.warnings),
    }


def of_error(error: TokenError, parsed: ParsedToken | None, now: float) -> dict[str, Any]:
    """The verdict on a token that failed; ``parsed`` when it could at least be decoded."""
    return {
        "valid": False,
        "error": error.reason,
        "message": error.message,
        "header": parsed.header if parsed is not None else None,
        "payload": parsed.payload if parsed is not None else None,
        "expires_in": expires_in_of(parsed.payload, now) if parsed is not None else None,
        "warnings": [],
    }


def json_line(
    verdict: dict[str, Any],
    line: int | None = None,
    encode_header: Callable[[dict[str, Any]], str] | None = None,
) -> str:
    """Compact JSON of ``verdict`` (``"line"`` first when given), no newline.

    ``encode_header`` lets a batch encode a header shared by many tokens once.
    """
    parts = [] if line is None else [f'"line":{line}']
    for name in FIELDS:
        value = verdict[name]
        if name == "header" and value is not None and encode_header is not None:
            text = encode_header(value)
        else:
            text = dumps(value)
        parts.append(f'"{name}":{text}')
    return "{" + ",".join(parts) + "}"
