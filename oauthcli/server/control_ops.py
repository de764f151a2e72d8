"""The server's side of each control operation (``oauthcli.control.OPERATIONS``).

``@handles(name)`` registers a handler under its operation's name; ``ControlMiddleware``
(``oauthcli.server.control``) runs it in a thread (the state blocks) with the checked
parameters and answers its result as JSON. Every handler reads and writes the shared
control document through the ``ControlBackend`` it is given, never process memory, so
every worker and instance sees what it did.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from oauthcli.control import OPERATIONS
from oauthcli.errors import UsageError
from oauthcli.server import faults as fault_rules
from oauthcli.server.context import ServerContext
from oauthcli.state.contract import ControlBackend

Handler = Callable[[ServerContext, ControlBackend, dict[str, Any]], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}


def handles(name: str) -> Callable[[Handler], Handler]:
    """Register the server's handler of the operation ``name`` (``oauthcli.control``)."""
    if name not in OPERATIONS:
        raise KeyError(f"no control operation {name!r} in oauthcli.control.OPERATIONS")

    def register(handler: Handler) -> Handler:
        HANDLERS[name] = handler
        return handler

    return register


@handles("fail_next")
def _fail_next(
    ctx: ServerContext, backend: ControlBackend, params: dict[str, Any]
) -> dict[str, Any]:
    fault = fault_rules.new_fault(params)
    fault["id"] = uuid.uuid4().hex[:12]
    backend.control_update(lambda doc: doc.setdefault("faults", []).append(fault))
    return {"fault": fault}


@handles("clear_faults")
def _clear_faults(
    ctx: ServerContext, backend: ControlBackend, params: dict[str, Any]
) -> dict[str, Any]:
    return {"cleared": backend.control_update(lambda doc: len(doc.pop("faults", [])))}


@handles("faults")
def _faults(ctx: ServerContext, backend: ControlBackend, params: dict[str, Any]) -> dict[str, Any]:
    return {"faults": backend.control_get().get("faults", [])}


@handles("advance")
def _advance(ctx: ServerContext, backend: ControlBackend, params: dict[str, Any]) -> dict[str, Any]:
    seconds = params["seconds"]
    if not 0 < seconds <= 100 * 365 * 86400:
        raise UsageError("advance: seconds must be positive (and under a century)")

    def change(doc: dict[str, Any]) -> float:
        doc["offset"] = float(doc.get("offset", 0.0)) + seconds
        return float(doc["offset"])

    offset = backend.control_update(change)
    return {"offset": offset, "now": int(time.time() + offset)}


@handles("issue_bad_token")
def _issue_bad_token(
    ctx: ServerContext, backend: ControlBackend, params: dict[str, Any]
) -> dict[str, Any]:
    from oauthcli.server.badtokens import bad_token

    scopes = str(params.get("scope") or "").split() or None
    _, claims = ctx.service.access_token(str(params.get("sub") or "alice"), scopes)
    token = bad_token(ctx.key, claims, params["kind"], ctx.service.clock(), params.get("claim"))
    return {"kind": params["kind"], "token": token}


@handles("rotate_keys")
def _rotate_keys(
    ctx: ServerContext, backend: ControlBackend, params: dict[str, Any]
) -> dict[str, Any]:
    from oauthcli import keys as keyfiles

    keep_old = params.get("keep_old", True)
    algorithm = ctx.key.algorithm
    material = keyfiles.generate(algorithm).decode()
    kid = keyfiles.key_id(material.encode(), algorithm)

    def change(doc: dict[str, Any]) -> dict[str, Any]:
        # The key read at start-up is {"original": true}: every worker has it already.
        rotated = doc.get("keys") or {"generation": 0, "current": {"original": True}}
        doc["keys"] = {
            "generation": int(rotated["generation"]) + 1,
            "current": {"material": material, "kid": kid},
            "previous": [rotated["current"]] if keep_old else [],
        }
        return dict(doc["keys"])

    rotated = backend.control_update(change)
    published = [k.kid for k in ctx.published_keys()]
    return {
        "kid": kid,
        "keep_old": keep_old,
        "generation": rotated["generation"],
        "was": published[0],
    }


@handles("requests")
def _requests(
    ctx: ServerContext, backend: ControlBackend, params: dict[str, Any]
) -> dict[str, Any]:
    entries = backend.log_entries()
    for name in ("endpoint", "grant_type"):
        if params.get(name) is not None:
            entries = [e for e in entries if e.get(name) == params[name]]
    return {"requests": entries}


@handles("clear_requests")
def _clear_requests(
    ctx: ServerContext, backend: ControlBackend, params: dict[str, Any]
) -> dict[str, Any]:
    backend.log_clear()
    return {"cleared": True}


@handles("set_claims")
def _set_claims(
    ctx: ServerContext, backend: ControlBackend, params: dict[str, Any]
) -> dict[str, Any]:
    """The claims go into the document; every request applies them (``_observe``) through
    ``ServerContext.claim_overrides``, which the one claim computation reads."""
    from oauthcli.claims import chosen_claims_problem

    user, claims = params["user"], params["claims"]
    if user not in ctx.live.current().users:
        raise UsageError(f"set_claims: no user {user!r} in the store")
    problem = chosen_claims_problem(claims)
    if problem:
        raise UsageError(f"set_claims: {problem}")

    def change(doc: dict[str, Any]) -> dict[str, Any]:
        merged = {**doc.setdefault("claims", {}).get(user, {}), **claims}
        doc["claims"][user] = merged
        return merged

    return {"user": user, "claims": backend.control_update(change)}


@handles("clear_claims")
def _clear_claims(
    ctx: ServerContext, backend: ControlBackend, params: dict[str, Any]
) -> dict[str, Any]:
    user = params.get("user")

    def change(doc: dict[str, Any]) -> int:
        found = doc.get("claims", {})
        if user is None:
            doc.pop("claims", None)
            return len(found)
        return 1 if found.pop(user, None) is not None else 0

    return {"cleared": backend.control_update(change)}


@handles("auto_login")
def _auto_login(
    ctx: ServerContext, backend: ControlBackend, params: dict[str, Any]
) -> dict[str, Any]:
    user = ctx.live.current().users.get(params["user"])
    if user is None or user.disabled:
        raise UsageError(f"auto_login: no active user {params['user']!r} in the store")
    backend.control_update(lambda doc: doc.__setitem__("auto_login", user.username))
    return {"user": user.username}


def take_auto_login(backend: ControlBackend) -> str | None:
    """Blocking: the user the next /authorize completes as, once (then forgotten)."""
    if not backend.control_get().get("auto_login"):
        return None
    name = backend.control_update(lambda doc: doc.pop("auto_login", None))
    return str(name) if name else None
