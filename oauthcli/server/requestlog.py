"""The control mode's request log: what each request asked for and how it was answered.

One entry per request: ``time`` (the provider's clock), ``method``, ``path``,
``endpoint``, ``grant_type``, ``client_id``, ``user``, ``scope``, ``resource``,
``params`` (every form and query parameter), ``auth`` (``basic``/``bearer``/none),
``status``, ``outcome`` (``ok``, ``error``, ``dropped``: the fault closed the connection,
or ``abandoned``: the client left while a delay fault held it), ``error``, ``fault`` and
``worker`` (the process id of the ``serve`` worker that answered).

Secrets never enter it: passwords, client secrets, codes, verifiers, tokens and
assertions (``SECRET_PARAMS``) are shown as ``sha256:`` and the first 12 hex digits of
their digest, enough to tell two apart or to match one the test knows, never to use.
``user`` and ``client_id`` come from what the request says (``username``, ``client_id``,
Basic credentials' id, a token's ``sub``/``iss`` read without checking it) or, for a
token answer, from the access token it issued.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from oauthcli.jose import b64url_decode, parse_basic_authorization

SECRET_PARAMS = frozenset(
    {
        "password",
        "client_secret",
        "code",
        "code_verifier",
        "refresh_token",
        "access_token",
        "id_token",
        "id_token_hint",
        "token",
        "device_code",
        "client_assertion",
        "assertion",
        "subject_token",
        "actor_token",
        "logout_token",
        "request",
        "csrf",
        "user_code",
    }
)
JWT_PARAMS = ("refresh_token", "token", "subject_token")
MAX_ANSWER = 64 * 1024  # JSON answers read for their error and issued token


def short_hash(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12]


@dataclass
class Request:
    method: str
    path: str
    endpoint: str | None
    params: dict[str, str] = field(default_factory=dict)
    resource: list[str] = field(default_factory=list)
    auth: str | None = None
    client_id: str | None = None
    user: str | None = None


def describe(scope: Any, body: bytes, endpoint: str | None) -> Request:
    """What a request says (``body``: its form, when complete and urlencoded)."""
    pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    content_type = _header(scope, b"content-type") or ""
    if body and content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        with contextlib.suppress(UnicodeDecodeError, ValueError):
            pairs += parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    params: dict[str, str] = {}
    for name, value in pairs:
        params.setdefault(name, value)
    request = Request(
        scope["method"],
        scope["path"],
        endpoint,
        params,
        [value for name, value in pairs if name == "resource"],
    )
    authorization = _header(scope, b"authorization") or ""
    scheme, _, credential = authorization.partition(" ")
    bearer = None
    if scheme.lower() == "basic":
        request.auth = "basic"
        basic = parse_basic_authorization(authorization)
        request.client_id = basic[0] if basic else None
    elif scheme.lower() == "bearer" and credential.strip():
        request.auth, bearer = "bearer", credential.strip()
    request.client_id = request.client_id or params.get("client_id")
    assertion = unverified_claims(params.get("client_assertion"))
    if request.client_id is None and isinstance(assertion.get("sub"), str):
        request.client_id = assertion["sub"]  # RFC 7523 3: sub is the client_id
    request.user = params.get("username")
    for token in (*(params.get(name) for name in JWT_PARAMS), bearer):
        sub = unverified_claims(token).get("sub")
        if request.user is None and isinstance(sub, str):
            request.user = sub
    return request


@dataclass
class Answer:
    """The status, headers and (for JSON, up to ``MAX_ANSWER``) body of the answer sent."""

    status: int | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    dropped: bool = False
    abandoned: bool = False  # the client left before the answer (during a delay fault)

    def watch(self, send: Any) -> Any:
        async def watched(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
                self.headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body" and self._wanted():
                self.body.extend(message.get("body", b""))
            await send(message)

        return watched

    def _wanted(self) -> bool:
        return len(self.body) < MAX_ANSWER and any(
            k.lower() == b"content-type" and b"json" in v.lower() for k, v in self.headers
        )

    def document(self) -> dict[str, Any]:
        try:
            found = json.loads(bytes(self.body)) if self.body else {}
        except ValueError:
            return {}
        return found if isinstance(found, dict) else {}

    def error(self) -> str | None:
        found = self.document().get("error")
        if isinstance(found, str):
            return found
        for name, value in self.headers:  # RFC 6750 3: a protected resource's error
            if name.lower() == b"www-authenticate" and b'error="' in value:
                return value.split(b'error="', 1)[1].split(b'"', 1)[0].decode("latin-1")
        return None


def entry(
    request: Request, answer: Answer, now: float, fault: dict[str, Any] | None
) -> dict[str, Any]:
    params = request.params
    document = answer.document()
    user = request.user
    issued = unverified_claims(document.get("access_token")).get("sub")
    if isinstance(issued, str) and issued != document.get("client_id"):
        user = user or issued
    status = answer.status
    if answer.dropped:
        outcome = "dropped"
    elif answer.abandoned:
        outcome = "abandoned"
    elif status is not None and status < 400:
        outcome = "ok"
    else:
        outcome = "error"
    return {
        "time": round(now, 3),
        "method": request.method,
        "path": request.path,
        "endpoint": request.endpoint,
        "grant_type": params.get("grant_type")
        or ("password" if request.endpoint == "token" and "username" in params else None),
        "client_id": request.client_id,
        "user": user,
        "scope": params["scope"].split() if "scope" in params else None,
        "resource": request.resource,
        "params": {k: short_hash(v) if k in SECRET_PARAMS else v for k, v in params.items()},
        "auth": request.auth,
        "status": status,
        "outcome": outcome,
        "error": answer.error() if outcome == "error" else None,
        "fault": fault,
        "worker": os.getpid(),
    }


def unverified_claims(token: Any) -> dict[str, Any]:
    """A JWT's payload read WITHOUT checking it (for the log's who, never for a decision)."""
    if not isinstance(token, str) or token.count(".") != 2 or len(token) > 16 * 1024:
        return {}
    try:
        found = json.loads(b64url_decode(token.split(".")[1]))
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _header(scope: Any, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None
