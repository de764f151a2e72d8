"""Read a token without verifying it: size limit, ``Bearer`` prefix, JWS/JWE/opaque, strict JSON.

Nothing here imports ``cryptography`` (nor PyJWT, which pulls it in), so
``oauthcli decode`` starts fast. ``oauthcli.verify.verifier`` builds on :func:`parse`.

Parsing is strict, because a verifier and the API behind it must agree on what
a token says: base64url without padding or foreign characters, UTF-8 JSON
objects, and no repeated member names (RFC 7515 section 5.2 lets a parser
reject them; two parsers picking different duplicates is an attack).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NamedTuple

from oauthcli import jose
from oauthcli.errors import Reason, TokenError

MAX_TOKEN_BYTES = 64 * 1024

# "Bearer x", also pasted as a whole header line ("Authorization: Bearer x") or alone
_BEARER = re.compile(r"(?:authorization:\s*)?bearer(?:\s+|$)", re.IGNORECASE)
_INNER_SPACE = re.compile(r"\s")


class ParsedToken(NamedTuple):  # not a dataclass: importing dataclasses costs decode 8 ms
    """A compact JWS split and decoded, signature NOT checked."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def normalize(text: str | bytes) -> str:
    """The bare token: whitespace and a leading ``Bearer `` (or ``Authorization: Bearer ``) removed."""
    if isinstance(text, bytes):
        if len(text) > MAX_TOKEN_BYTES * 2:
            raise _too_large(len(text))
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise TokenError("token contains non-ASCII bytes", Reason.MALFORMED) from None
    if len(text) > MAX_TOKEN_BYTES * 2:
        raise _too_large(len(text))
    token = text.strip()
    match = _BEARER.match(token)
    if match:
        token = token[match.end() :]
    if len(token) > MAX_TOKEN_BYTES:
        raise _too_large(len(token))
    if not token:
        raise TokenError("the token is empty", Reason.MALFORMED)
    if not token.isascii():
        raise TokenError("token contains non-ASCII characters", Reason.MALFORMED)
    if _INNER_SPACE.search(token):
        # "a\nb" is two lines, not an opaque token; no token format allows whitespace
        raise TokenError(
            "token contains a line break or other whitespace: give one token "
            "(verify --batch reads one per line)",
            Reason.MALFORMED,
        )
    return token


def _too_large(size: int) -> TokenError:
    return TokenError(
        f"token is larger than {MAX_TOKEN_BYTES // 1024} KiB ({size} characters); refusing to decode it",
        Reason.TOO_LARGE,
    )


def b64url_decode(segment: str, what: str = "segment") -> bytes:
    """Strict base64url without padding (RFC 7515 section 2); ``TokenError`` otherwise."""
    try:
        return jose.b64url_decode(segment)
    except ValueError:
        raise TokenError(f"token {what} is not valid base64url", Reason.MALFORMED) from None


class _Duplicate(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
    return result


class _Unrepresentable(ValueError):
    """JSON that parses but that no output could show faithfully."""


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    # RFC 8259 6 lets a parser limit the range of numbers. 1e400 would become infinity,
    # which JSON cannot write back (json.dumps prints the non-JSON ``Infinity``).
    value = float(text)
    if value in (math.inf, -math.inf):
        raise _Unrepresentable(f"holds a number out of range ({text[:40]})")
    return value


_DECODER = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_constant=_no_constants, parse_float=_finite
)
# A \uD800-\uDFFF escape: a lone one decodes to a string no UTF-8 output can write.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# Deeper JSON than any claim set needs; refused so that every output path (JSON encoding,
# the terminal view) can show what was parsed without running out of stack.
MAX_DEPTH = 64


def parse_json_object(data: bytes, what: str) -> dict[str, Any]:
    """A JSON object from UTF-8 bytes, fit to be shown again on every output path.

    Refused as ``malformed``: invalid UTF-8 or JSON, lone UTF-16 surrogates
    (``"\\ud800"``), numbers beyond the float range, nesting deeper than
    ``MAX_DEPTH``. Repeated member names are ``duplicate_key``.
    """
    try:
        text = data.decode("utf-8")
        value = _DECODER.decode(text)
        if _SURROGATE_ESCAPE.search(text):
            _check_surrogates(value)
        if text.count("[") + text.count("{") > MAX_DEPTH:
            _check_depth(value)
    except _Duplicate as exc:
        raise TokenError(
            f"token {what} repeats the member {exc.key[:100]!r}; refusing an ambiguous token",
            Reason.DUPLICATE_KEY,
        ) from None
    except _Unrepresentable as exc:
        raise TokenError(f"token {what} {exc}", Reason.MALFORMED) from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise TokenError(f"token {what} is not valid JSON", Reason.MALFORMED) from None
    if not isinstance(value, dict):
        raise TokenError(f"token {what} is not a JSON object", Reason.MALFORMED)
    return value


def _check_surrogates(value: Any) -> None:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise _Unrepresentable(
            "holds a lone UTF-16 surrogate (a \\ud800-\\udfff escape): not Unicode text"
        ) from None


def _check_depth(value: Any) -> None:
    """Without recursion: the point is to refuse what recursion could not handle."""
    level: list[Any] = [value]
    for _ in range(MAX_DEPTH):  # after i rounds, ``level`` holds the values at depth i + 1
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return
    raise _Unrepresentable(f"nests deeper than {MAX_DEPTH} levels")


def describe_opaque(token: str) -> str:
    return (
        f"token is opaque ({len(token)} characters, not a JWT): only its issuer can "
        "tell what it means (RFC 7662 token introspection)"
    )


def _encrypted(parts: list[str]) -> TokenError:
    """5 parts: a JWE when the first is a JWE header (RFC 7516 4.1.2: it names ``enc``)."""
    try:
        header = parse_json_object(b64url_decode(parts[0], "header"), "header")
    except TokenError:
        header = {}
    if "enc" not in header:
        return TokenError(
            "token has 5 dot-separated parts but no JWE header (with 'enc'): neither a "
            "JWS nor a JWE",
            Reason.MALFORMED,
        )
    detail = ", ".join(f"{k}={str(header[k])[:40]}" for k in ("alg", "enc", "kid") if k in header)
    return TokenError(
        f"token is encrypted (JWE, 5 parts; {detail}): only the holder of the recipient's key "
        "can read it",
        Reason.ENCRYPTED,
    )


def parse(token: str, *, header_cache: dict[str, dict[str, Any]] | None = None) -> ParsedToken:
    """Split a compact JWS and decode header and payload (no signature check).

    ``header_cache`` lets a batch skip re-parsing the header segment it saw before
    (tokens of one issuer usually share it). Raises ``TokenError`` with reason
    ``opaque``, ``encrypted`` or ``malformed`` / ``duplicate_key``.
    """
    parts = token.split(".")
    if len(parts) != 3:
        if len(parts) == 5:
            raise _encrypted(parts)
        if len(parts) == 1:
            raise TokenError(describe_opaque(token), Reason.OPAQUE)
        raise TokenError(
            f"token has {len(parts)} dot-separated parts; a JWT has 3 (JWS) or 5 (JWE)",
            Reason.MALFORMED,
        )
    head, body, sig = parts
    header = header_cache.get(head) if header_cache is not None else None
    if header is None:
        header = parse_json_object(b64url_decode(head, "header"), "header")
        alg = header.get("alg")
        if not isinstance(alg, str) or not alg:
            raise TokenError("token header has no 'alg'", Reason.MALFORMED)
        if "enc" in header:
            raise TokenError("token header has 'enc': an encrypted token (JWE)", Reason.ENCRYPTED)
        if header_cache is not None and len(header_cache) < 1024:
            header_cache[head] = header
    payload = parse_json_object(b64url_decode(body, "payload"), "payload")
    signature = b64url_decode(sig, "signature")
    return ParsedToken(
        header=header,
        payload=payload,
        signing_input=f"{head}.{body}".encode("ascii"),
        signature=signature,
    )


def decode(text: str) -> ParsedToken:
    """``normalize`` then ``parse``: what ``oauthcli decode`` shows."""
    return parse(normalize(text))
