"""What a token endpoint answered: a ``TokenResponse``, or one clear error.

RFC 6749 5.1 answers are accepted with the usual looseness (``expires_in`` as a
numeric string, ``token_type`` in any case, ``scope`` as a list); RFC 6749 5.2
errors and FastAPI's ``{"detail": ...}`` become a one-line ``OAuthCliError``.
Everything a server says is cleaned (``clean``) before it reaches a message:
no control characters, secrets masked, length capped. No network here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from oauthcli.claims import is_numeric_date
from oauthcli.errors import (
    REMOTE_OAUTH_ERRORS,
    AuthenticationError,
    ExitCode,
    Reason,
    RemoteError,
    exit_code_for_status,
)
from oauthcli.http import MAX_SERVER_TEXT
from oauthcli.jose import b64url_decode
from oauthcli.text import clean as text_clean
from oauthcli.text import is_header_safe

YEAR = 365 * 24 * 3600
# Long-lived service tokens exist; anything longer than this is a broken server.
MAX_EXPIRES_IN = 100 * YEAR
NOT_JSON: Any = object()


@dataclass(frozen=True)
class TokenResponse:
    """A successful token endpoint answer (RFC 6749 5.1); tokens are kept out of ``repr``."""

    access_token: str = field(repr=False)
    token_type: str
    expires_in: int | None = None
    refresh_token: str | None = field(default=None, repr=False)
    scope: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def interpret(
    status: int,
    reason: str,
    body: bytes,
    content_type: str,
    *,
    grant: str,
    secrets: tuple[str, ...],
    dpop: bool = False,
) -> TokenResponse:
    """``dpop``: the request carried a DPoP proof, so ``token_type: DPoP`` is expected (RFC 9449 5)."""
    data = _parse_json_object(body)
    if 200 <= status < 300:
        if data is None:
            raise RemoteError(
                f"the token endpoint answered {status} with {describe_body(body, content_type)}; "
                "expected a JSON object",
                reason=Reason.BAD_ANSWER,
            )
        # Some servers report errors with a 200; those go through the error mapping below.
        if "access_token" in data or not isinstance(data.get("error"), str):
            return _token_response(data, secrets, dpop)
    _raise_for_error(status, reason, data, body, content_type, grant=grant, secrets=secrets)
    raise AssertionError("unreachable")  # pragma: no cover


def _parse_json_object(body: bytes) -> dict[str, Any] | None:
    data = loads(body)
    return data if isinstance(data, dict) else None


def loads(body: bytes | str) -> Any:
    """The JSON value in ``body``, or ``NOT_JSON`` for anything else.

    Hostile input is "not JSON", never a crash: deep nesting (``[[[[...``) makes
    the parser recurse past Python's limit, so ``RecursionError`` counts too.
    """
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return NOT_JSON


def describe_body(body: bytes, content_type: str) -> str:
    if not body.strip():
        return "an empty body"
    kind = content_type.split(";")[0].strip().lower()
    if "html" in kind or body.lstrip()[:1] == b"<":
        return "an HTML page"
    if loads(body) is NOT_JSON:
        return f"a non-JSON body ({clean(kind) or 'no content type'})"
    return "JSON that is not an object"


def _token_response(
    data: dict[str, Any], secrets: tuple[str, ...], dpop: bool = False
) -> TokenResponse:
    access_token = data.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise RemoteError(
            "the token endpoint's answer has no access_token", reason=Reason.BAD_ANSWER
        )
    check_header_safe(access_token)
    token_type = data.get("token_type")
    kind = token_type.lower() if isinstance(token_type, str) else None
    # RFC 9449 5: a DPoP token is only had by sending a proof; a server that ignores the
    # proof answers Bearer, which is then used as such.
    if kind not in ("bearer", "dpop") or (kind == "dpop" and not dpop):
        shown = clean(token_type, secrets) if isinstance(token_type, str) else "(missing)"
        supported = "Bearer and DPoP" if dpop else "Bearer"
        raise RemoteError(
            f"unsupported token_type {shown!r}: only {supported} tokens are supported"
            + ("" if kind != "dpop" else " (a DPoP token was sent without asking: use --dpop)"),
            reason=Reason.BAD_ANSWER,
        )
    refresh_token = data.get("refresh_token")
    if refresh_token is not None and not isinstance(refresh_token, str):
        raise RemoteError(
            "the token endpoint's refresh_token is not a string", reason=Reason.BAD_ANSWER
        )
    scope = data.get("scope")
    if isinstance(scope, list) and all(isinstance(s, str) for s in scope):
        scope = " ".join(scope)  # some servers send a list despite RFC 6749 5.1
    elif scope is not None and not isinstance(scope, str):
        raise RemoteError("the token endpoint's scope is not a string", reason=Reason.BAD_ANSWER)
    return TokenResponse(
        access_token=access_token,
        token_type="DPoP" if kind == "dpop" else "Bearer",
        expires_in=_expires_in(data.get("expires_in"), secrets),
        refresh_token=refresh_token or None,
        scope=scope,
        raw=data,
    )


def check_header_safe(token: str, what: str = "access token") -> str:
    """``token`` if it can go in an ``Authorization`` header as is; ``RemoteError`` if not.

    Servers are not trusted here: a token with a line break or a space would
    inject a header into ``curl -H "$(oauthcli header)"`` or a request.
    """
    if not is_header_safe(token):
        raise RemoteError(
            f"the server's {what} contains spaces or control characters: refusing to use it",
            reason=Reason.BAD_ANSWER,
        )
    return token


def _expires_in(value: object, secrets: tuple[str, ...]) -> int | None:
    if value is None:
        return None
    # RFC 6749 says a number, but numeric strings ("3600") are common in the wild.
    numeric_string = isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value)
    number_ok = isinstance(value, int | float) and not isinstance(value, bool)
    number = float(value) if numeric_string or number_ok else None  # type: ignore[arg-type]  # value is a number or numeric string here
    if number is not None and MAX_EXPIRES_IN < number < float("inf"):
        # Checked here, before anything is cached: an expiry past year 9999 breaks every date.
        raise RemoteError(
            f"the token endpoint's expires_in {number:.0f} is beyond {MAX_EXPIRES_IN // YEAR} years",
            reason=Reason.BAD_ANSWER,
        )
    if number is None or not 0 <= number <= MAX_EXPIRES_IN:
        shown = clean(str(value), secrets)
        raise RemoteError(
            f"the token endpoint's expires_in {shown!r} is not a number of seconds",
            reason=Reason.BAD_ANSWER,
        )
    return int(number)


def _raise_for_error(
    status: int,
    reason: str,
    data: dict[str, Any] | None,
    body: bytes,
    content_type: str,
    *,
    grant: str,
    secrets: tuple[str, ...],
) -> None:
    code, description = _error_fields(data, secrets)
    said = f": {description}" if description else ""
    status_text = f"{status} {clean(reason, secrets)}".strip()
    grant_name = f"{grant} grant"

    if code == "invalid_client":
        raise AuthenticationError(
            _prefixed(
                "client authentication failed", description or "check the client id and secret"
            ),
            reason=Reason.INVALID_CLIENT,
        )
    if code == "invalid_scope":
        raise AuthenticationError(
            _prefixed("scope not granted", description or "the server refused it"),
            reason=Reason.INVALID_SCOPE,
        )
    if code == "unauthorized_client":
        raise AuthenticationError(
            f"the client may not use the {grant_name}{said}", reason=Reason.UNAUTHORIZED_CLIENT
        )
    if code == "unsupported_grant_type":
        raise RemoteError(
            f"the server does not support the {grant_name}{said}",
            reason=Reason.UNSUPPORTED_GRANT_TYPE,
        )
    if code == "invalid_request":
        raise RemoteError(
            f"the server rejected the request as malformed{said}", reason=Reason.INVALID_REQUEST
        )
    # RFC 6749 5.2: the token endpoint refuses with 400 (401 for client authentication).
    refused = exit_code_for_status(status, code, refusals=(400, 401)) == ExitCode.AUTH
    if data is None and not (refused and not body.strip()):
        # An HTML page is a proxy, gateway or wrong URL talking, not the token endpoint. (A
        # bare Basic challenge (401), or a refusal with nothing to say (400: glewlwyd answers a
        # refused refresh so) is the client's or the grant's fault, as with a body: below.)
        raise RemoteError(
            f"the token endpoint answered {status_text} with {describe_body(body, content_type)}",
            reason=Reason.BAD_ANSWER,
        )
    if refused:
        # FastAPI apps answer 400/401 {"detail": ...}; an unknown code there is still a refusal.
        raise AuthenticationError(
            _refusal_message(grant, description), reason=_refusal_reason(grant)
        )
    verb = "failed with" if status >= 500 or code in REMOTE_OAUTH_ERRORS else "answered"
    raise RemoteError(f"the token endpoint {verb} {status_text}{said}", reason=Reason.HTTP_STATUS)


def _refusal_reason(grant: str) -> Reason:
    # A client_credentials refusal is the client's secret; any other, the grant itself.
    return Reason.INVALID_CLIENT if grant == "client_credentials" else Reason.INVALID_GRANT


def _refusal_message(grant: str, description: str | None) -> str:
    if grant == "refresh_token":
        said = f" ({description})" if description else ""
        return f"refresh token rejected (expired or revoked): log in again{said}"
    if grant == "client_credentials":
        return _prefixed("client authentication failed", description or "credentials rejected")
    if grant in ("authorization_code", "device_code"):
        return _prefixed("the provider refused the login", description or "the code was refused")
    return description or "incorrect username or password"


def _prefixed(prefix: str, description: str) -> str:
    """``prefix: description``, unless the server's text already says it ("Scope not granted: x")."""
    if description.lower().startswith(prefix.lower()):
        return description
    return f"{prefix}: {description}"


def _error_fields(
    data: dict[str, Any] | None, secrets: tuple[str, ...]
) -> tuple[str | None, str | None]:
    """``(error code, description)`` from an RFC 6749 5.2 or FastAPI ``detail`` body."""
    if data is None:
        return None, None
    code = data.get("error")
    code = code.strip().lower() if isinstance(code, str) and code.strip() else None
    text = data.get("error_description")
    if not isinstance(text, str) or not text.strip():
        text = _detail_text(data.get("detail"))
    description = clean(text, secrets) if text else None
    return (clean(code, secrets) if code else None), (description or None)


def _detail_text(detail: object) -> str | None:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        # FastAPI 422: [{"loc": ["body", "username"], "msg": "Field required", ...}]
        parts = []
        for item in detail[:5]:
            if isinstance(item, dict) and isinstance(item.get("msg"), str):
                loc = item.get("loc")
                where = str(loc[-1]) if isinstance(loc, list) and loc else ""
                parts.append(f"{where}: {item['msg']}" if where else item["msg"])
        return "; ".join(parts) or None
    return None


def expires_at(response: TokenResponse, now: int) -> int | None:
    """When the access token expires: ``now + expires_in``, else the JWT's own ``exp``.

    RFC 6749 5.1 makes ``expires_in`` only RECOMMENDED, and FastAPI's tutorial
    leaves it out although its JWTs carry ``exp`` (RFC 7519 4.1.4); the claim is
    read without verifying the signature, only to know when to refresh.
    """
    if response.expires_in is not None:
        return now + response.expires_in
    exp = jwt_claims(response.access_token).get("exp")
    if is_numeric_date(exp) and 0 < exp <= now + MAX_EXPIRES_IN:
        return int(exp)
    return None


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWS compact token as a dict, unverified; ``{}`` for anything else."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = loads(b64url_decode(parts[1]))
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def clean(text: str, secrets: Iterable[str] = ()) -> str:
    """Server-sent text made safe for a one-line message: no control characters, secrets masked, capped."""
    return text_clean(text, MAX_SERVER_TEXT, secrets)


__all__ = [
    "MAX_SERVER_TEXT",
    "TokenResponse",
    "check_header_safe",
    "clean",
    "describe_body",
    "expires_at",
    "interpret",
    "jwt_claims",
    "loads",
]
