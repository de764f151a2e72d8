"""``WWW-Authenticate`` challenges (RFC 9110 section 11.6.1, RFC 6750 section 3).

One parser for what a protected resource says when it refuses a token: the scheme
(``Bearer``, ``DPoP``...) and its auth-params (``error``, ``error_description``, ``scope``,
``resource_metadata``...). Values come from a server: callers clean them before showing
them. Leaf module: imports nothing of oauthcli.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_SCHEME = re.compile(rf"\s*({_TOKEN})(?:\s+|$)")
_PARAM = re.compile(rf'\s*({_TOKEN})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|({_TOKEN}))\s*(,?)')
_TOKEN68 = re.compile(r"\s*[A-Za-z0-9._~+/-]+=*\s*(,|$)")


class Challenge(NamedTuple):
    scheme: str  # as sent; compare case-insensitively
    params: dict[str, str]  # names lower-cased; the first of a repeated name wins

    def param(self, name: str) -> str | None:
        return self.params.get(name.lower())


def parse(header: str) -> list[Challenge]:
    """The challenges of one header value, in order; what cannot be read ends the list."""
    challenges: list[Challenge] = []
    pos = 0
    text = header[:8192]
    while pos < len(text):
        while pos < len(text) and text[pos] in " ,":
            pos += 1
        scheme = _SCHEME.match(text, pos)
        if scheme is None:
            break
        pos = scheme.end()
        params: dict[str, str] = {}
        while pos < len(text):
            param = _PARAM.match(text, pos)
            if param is None:
                token68 = _TOKEN68.match(text, pos)
                if token68 is not None and not params:
                    pos = token68.end()
                break
            name = param.group(1).lower()
            quoted = param.group(2)
            value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else param.group(3)
            params.setdefault(name, value)
            pos = param.end()
            if not param.group(4):  # no comma: the next word starts another challenge
                break
        challenges.append(Challenge(scheme.group(1), params))
    return challenges


def scope_wanted(header: str) -> tuple[str | None, bool]:
    """The ``scope`` a Bearer challenge names, and whether it says ``insufficient_scope``."""
    for challenge in parse(header):
        if challenge.scheme.lower() not in ("bearer", "dpop"):
            continue
        scope, error = challenge.param("scope"), challenge.param("error")
        if scope is not None or error == "insufficient_scope":
            return scope, error == "insufficient_scope"
    return None, False
