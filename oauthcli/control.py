"""The control operations of ``serve --control``: one registry for the HTTP API, CLI and fixture.

``OPERATIONS`` names each operation, its parameters (type, choices, help) and whether it
only reads. ``serve`` answers ``POST /_oauthcli/<name>`` (``GET`` for read-only ones)
with a JSON object of parameters; ``oauthcli control <name> PARAM=VALUE ...`` and the
pytest fixture's methods send the same. The server's handler of each is registered
under the same name in ``oauthcli.server.control_ops`` (a test checks both lists match).

To add an operation: an ``Operation`` here, a ``@handles(name)`` function there, a
method on the fixture if it deserves one, and a line in the README reference.

Leaf module: the standard library and ``oauthcli.errors`` only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oauthcli.errors import UsageError

PREFIX = "/_oauthcli"
TOKEN_HEADER = "Authorization"

# Endpoints a fault can be queued for, and the request paths each one answers.
ENDPOINT_PATHS: dict[str, tuple[str, ...]] = {
    "token": ("/token",),
    "authorize": ("/authorize",),
    "device_authorization": ("/device_authorization",),
    "userinfo": ("/userinfo",),
    "introspect": ("/introspect",),
    "revoke": ("/revoke",),
    "jwks": ("/.well-known/jwks.json",),
    "discovery": (
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ),
    "users_me": ("/users/me", "/users/me/"),
    "registration": ("/register",),  # serve --registration (RFC 7591)
    "end_session": ("/logout",),  # RP-initiated logout
}
ENDPOINTS = tuple(ENDPOINT_PATHS)

BAD_TOKEN_KINDS = (
    "expired",
    "not_yet_valid",
    "wrong_iss",
    "wrong_aud",
    "unknown_key",
    "bad_signature",
    "missing_claim",
    "alg_none",
)


def token_file_for_store(store_path: Path) -> Path:
    """Where ``serve --control`` writes its token unless ``--control-token-file`` says."""
    return store_path.with_name(store_path.stem + ".control-token")


def endpoint_of(path: str) -> str | None:
    """The endpoint name a request path belongs to (``None``: none of them)."""
    for name, paths in ENDPOINT_PATHS.items():
        if path in paths:
            return name
    return None


@dataclass(frozen=True)
class Param:
    name: str
    kind: type  # str, int, float, bool or dict (a JSON object)
    help: str
    choices: tuple[str, ...] = ()
    required: bool = False


@dataclass(frozen=True)
class Operation:
    name: str
    summary: str
    params: tuple[Param, ...] = ()
    read_only: bool = False

    @property
    def method(self) -> str:
        return "GET" if self.read_only else "POST"

    @property
    def path(self) -> str:
        return f"{PREFIX}/{self.name}"


OPERATIONS: dict[str, Operation] = {}


def operation(op: Operation) -> Operation:
    OPERATIONS[op.name] = op
    return op


_WHO = (
    Param("client", str, "only requests of this client_id"),
    Param("user", str, "only requests of this user (username, or a token's sub)"),
)

operation(
    Operation(
        "fail_next",
        "Queue a fault for the next requests to an endpoint.",
        (
            Param("endpoint", str, "where the fault applies", ENDPOINTS, required=True),
            Param("error", str, "answer this OAuth error code (status per RFC 6749 5.2)"),
            Param("description", str, "the error_description with error"),
            Param("status", int, "answer this HTTP status (alone: a plain-text body)"),
            Param("retry_after", int, "Retry-After seconds on the answer"),
            Param("delay", float, "seconds to wait before answering"),
            Param("body", str, "answer this body (text/html, not JSON)"),
            Param("drop", bool, "close the connection without a complete answer"),
            Param("token_kind", str, "hand out a bad access token of this kind", BAD_TOKEN_KINDS),
            Param("claim", str, "the claim a missing_claim token lacks (default exp)"),
            Param("times", int, "for this many requests (default 1; 0: until cleared)"),
            *_WHO,
        ),
    )
)
operation(Operation("clear_faults", "Forget every queued fault."))
operation(Operation("faults", "List the queued faults.", read_only=True))
operation(
    Operation(
        "issue_bad_token",
        "Mint an access token that is wrong in one way.",
        (
            Param("kind", str, "what is wrong with it", BAD_TOKEN_KINDS, required=True),
            Param("sub", str, "its subject (default alice)"),
            Param("scope", str, "space-separated scopes it carries"),
            Param("claim", str, "for missing_claim: the claim left out (default exp)"),
        ),
    )
)
operation(
    Operation(
        "rotate_keys",
        "Sign with a new key from now on; keep the old one in the JWKS or drop it.",
        (Param("keep_old", bool, "keep publishing and accepting the previous key (default true)"),),
    )
)
operation(
    Operation(
        "advance",
        "Move the provider's clock forward.",
        (Param("seconds", float, "how far (positive)", required=True),),
    )
)
operation(
    Operation(
        "requests",
        "The request log, oldest first.",
        (
            Param("endpoint", str, "only requests to this endpoint", ENDPOINTS),
            Param("grant_type", str, "only token requests of this grant type"),
        ),
        read_only=True,
    )
)
operation(Operation("clear_requests", "Empty the request log."))
operation(
    Operation(
        "set_claims",
        "Give a user chosen claims from now on, over the store's (README: Claims you choose).",
        (
            Param("user", str, "the username", required=True),
            Param("claims", dict, 'the claims, a JSON object: {"roles": ["admin"]}', required=True),
        ),
    )
)
operation(
    Operation(
        "clear_claims",
        "Forget the claims set_claims gave (one user's, or everyone's).",
        (Param("user", str, "only this user's"),),
    )
)
operation(
    Operation(
        "auto_login",
        "Complete the next /authorize as this user, without the login or consent page.",
        (Param("user", str, "the username", required=True),),
    )
)


def check_params(op: Operation, given: Any) -> dict[str, Any]:
    """``given`` (a JSON object) checked against ``op``'s parameters; ``UsageError`` if wrong."""
    if not isinstance(given, dict):
        raise UsageError("the parameters must be a JSON object")
    known = {p.name: p for p in op.params}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise UsageError(f"{op.name} takes no parameter {unknown[0]!r}")
    checked: dict[str, Any] = {}
    for param in op.params:
        value = given.get(param.name)
        if value is None:
            if param.required:
                raise UsageError(f"{op.name} needs {param.name}")
            continue
        if param.kind is bool:
            kind_ok = isinstance(value, bool)
        elif param.kind is dict:
            kind_ok = isinstance(value, dict)
        else:
            types = (int, float) if param.kind is float else (param.kind,)
            kind_ok = isinstance(value, types) and not isinstance(value, bool)
        if not kind_ok:
            raise UsageError(f"{op.name}: {param.name} must be {_kind_name(param.kind)}")
        # float("nan") and "inf" parse, but no JSON number holds them (RFC 8259 6).
        if param.kind is float and not math.isfinite(value):
            raise UsageError(f"{op.name}: {param.name} must be a finite number")
        if param.choices and value not in param.choices:
            raise UsageError(f"{op.name}: {param.name} must be one of {', '.join(param.choices)}")
        checked[param.name] = float(value) if param.kind is float else value
    return checked


def parse_value(op: Operation, name: str, text: str) -> Any:
    """A ``NAME=VALUE`` argument of ``oauthcli control`` as the parameter's type."""
    param = next((p for p in op.params if p.name == name.replace("-", "_")), None)
    if param is None:
        raise UsageError(f"{op.name} takes no parameter {name!r}")
    if param.kind is bool:
        lowered = text.lower()
        if lowered not in ("true", "false", "yes", "no", "1", "0"):
            raise UsageError(f"{op.name}: {name} must be true or false")
        return lowered in ("true", "yes", "1")
    if param.kind in (int, float):
        try:
            return param.kind(text)
        except ValueError:
            raise UsageError(f"{op.name}: {name} must be {_kind_name(param.kind)}") from None
    if param.kind is dict:
        import json

        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise UsageError(f"{op.name}: {name} must be {_kind_name(dict)}")
        return value
    return text


def find(name: str) -> Operation:
    op = OPERATIONS.get(name.replace("-", "_"))
    if op is None:
        raise UsageError(f"no control operation {name!r}; one of: {', '.join(sorted(OPERATIONS))}")
    return op


def _kind_name(kind: type) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    return names.get(kind, 'a JSON object ({"roles": ["admin"]})')
