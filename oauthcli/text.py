"""Text from outside made safe to show a person: the one cleaning function.

Everything that came from a server, a token or a hand-edited store goes
through :func:`clean` before it reaches a terminal or a log line: ANSI/OSC
escape sequences are removed whole, other C0/C1 controls and the bidi
controls that reorder text (U+202A-U+202E, U+2066-U+2069, U+200E/U+200F,
U+061C) are dropped, lone surrogates become U+FFFD, and line breaks become
spaces.  ``--json`` output is not cleaned: JSON escapes it exactly.

Leaf module: imports nothing of oauthcli.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from urllib.parse import quote, quote_plus


# ESC-introduced sequences whole (CSI "ESC [ ... final", OSC "ESC ] ... BEL|ST", other
# two-byte escapes), C1 CSI/OSC the same, then any remaining control or bidi character.
# Compiled on first use: printable ASCII (most text) never needs them, and compiling
# them costs every start of the CLI a few milliseconds.
@cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    sequences = re.compile(
        r"\x1b\[[0-?]*[ -/]*[@-~]"
        r"|\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
        r"|\x9b[0-?]*[ -/]*[@-~]"
        r"|\x9d[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
        r"|\x1b[@-_]?"
    )
    controls = re.compile(
        r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
    )
    surrogate = re.compile(r"[\ud800-\udfff]")
    line_breaks = re.compile(r"[\r\n\t\x0b\x0c\u2028\u2029\x85]+")
    return sequences, controls, surrogate, line_breaks


def _is_plain(text: str) -> bool:
    """Printable ASCII: no escape, control, bidi or line-break character to remove."""
    return text.isascii() and text.isprintable()


DEFAULT_LIMIT = 500


def clean(
    text: str,
    limit: int | None = DEFAULT_LIMIT,
    secrets: Iterable[str] = (),
    keep_lines: bool = False,
) -> str:
    """``text`` safe for a terminal: one line (unless ``keep_lines``), no escapes, capped.

    ``secrets`` are replaced by ``***`` before and after cleaning, so that
    stripping a control character cannot join a secret back together.
    """
    hidden = [s for s in secrets if s]
    text = _mask(text, hidden)
    if not _is_plain(text):
        sequences, controls, surrogate, line_breaks = _patterns()
        text = surrogate.sub("\ufffd", sequences.sub("", text))
        if keep_lines:
            text = "\n".join(controls.sub("", line) for line in text.split("\n"))
        else:
            text = controls.sub("", line_breaks.sub(" ", text))
        text = _mask(text, hidden)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def has_controls(text: str) -> bool:
    """True when ``text`` holds anything :func:`clean` would remove (for validating input)."""
    if _is_plain(text):
        return False
    _, controls, _, line_breaks = _patterns()
    return bool(controls.search(text) or line_breaks.search(text))


_MIN_MASKED = 3


def _mask(text: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) < _MIN_MASKED:
            continue  # masking "c" everywhere would garble the message and protect nothing
        # A server echoing the request shows the secret form-encoded ("p%40ss+word").
        for form in dict.fromkeys((secret, quote_plus(secret, safe=""), quote(secret, safe=""))):
            text = text.replace(form, "***")
    return text


def is_header_safe(value: str) -> bool:
    """Visible ASCII only (RFC 9110 token68-ish): nothing that could split or inject a header."""
    return bool(value) and all(0x21 <= ord(c) <= 0x7E for c in value)
