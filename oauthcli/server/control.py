"""``serve --control``: the control API under ``/_oauthcli/``, faults, the clock, the request log.

Off by default (the middleware is not installed: ``/_oauthcli/`` is a 404). On:

- **the API**: ``POST /_oauthcli/<operation>`` (``GET`` for read-only ones), the
  operations of ``oauthcli.control.OPERATIONS``, each handled by the function registered
  in ``control_ops`` under its name (``@handles``). Only from a loopback peer (checked per request,
  besides ``serve`` refusing ``--control`` on another address), only with the bearer
  token of the token file (compared in constant time; 401 otherwise). Every change is
  logged as one line, parameters only (they hold no secret).
- **what it changes** is one document in the shared state (``ControlBackend``): queued
  faults, the clock's offset, rotated keys. Every request first reads it (one read), so
  every worker and instance applies the same.
- **the clock**: one ``ProviderClock`` (real time plus the document's offset) is the
  clock of everything the provider decides by time (``create_app`` hands it to the
  token service, the state, the throttle and the flows); ``advance`` moves the offset.
- **the request log**: each request (but the API's) as one entry, secrets as a short
  hash (``requestlog``), kept in the state, the newest ``LOG_LIMIT``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from oauthcli.control import OPERATIONS, PREFIX, check_params, endpoint_of, parse_value
from oauthcli.errors import StateUnavailable, UsageError
from oauthcli.keys import SigningKey
from oauthcli.server import faults as fault_rules
from oauthcli.server import requestlog
from oauthcli.server.context import ServerContext
from oauthcli.server.control_ops import HANDLERS, take_auto_login
from oauthcli.server.lean import json_bytes
from oauthcli.state.contract import ControlBackend
from oauthcli.urls import is_loopback_host

log = logging.getLogger("oauthcli.server")
LOG_LIMIT = 1000  # request log entries kept
MAX_BODY = 64 * 1024  # request bodies read for the log and the fault filters
REALM = 'Bearer realm="oauthcli control"'


class ProviderClock:
    """Seconds since the epoch as the provider sees them: real time plus ``offset``."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass(frozen=True)
class ControlOptions:
    """What ``create_app`` needs to enable the control API."""

    token: str = field(repr=False)
    clock: ProviderClock = field(default_factory=ProviderClock)


def new_token_file(path: Path) -> str:
    """A new random control token, written to ``path`` 0600 (a symbolic link is refused)."""
    from oauthcli.errors import ConfigError
    from oauthcli.fileio import PRIVATE_FILE, atomic_write

    token = secrets.token_urlsafe(32)
    try:
        atomic_write(path, token.encode() + b"\n", PRIVATE_FILE, follow_symlinks=False)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the control token file {path}: {exc.strerror or exc}"
        ) from None
    return token


# ------------------------------------------------------------------ the middleware


class _QuietDrops(logging.Filter):
    """uvicorn logs an app's exception with its traceback; a dropped connection is asked for."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, fault_rules.DropConnection)


_QUIET_DROPS = _QuietDrops()


class ControlMiddleware:
    """Pure ASGI, inside ``BrowserGuard`` (a rebinding page never reaches the API)."""

    def __init__(
        self, app: Any, ctx: ServerContext, options: ControlOptions, backend: ControlBackend
    ) -> None:
        logging.getLogger("uvicorn.error").addFilter(_QUIET_DROPS)  # once: filters are a set
        self.app, self.ctx, self.backend = app, ctx, backend
        ctx.auto_login = lambda: take_auto_login(backend)
        self.original_key = ctx.key
        self.token = options.token.encode()
        self.clock = options.clock

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == PREFIX or path.startswith(PREFIX + "/"):
            await self._api(scope, receive, send)
            return
        await self._observe(scope, receive, send)

    # -- the API

    async def _api(self, scope: Any, receive: Any, send: Any) -> None:
        peer = scope.get("client")
        if not peer or not is_loopback_host(str(peer[0])):
            await _answer(
                send, 403, _error("access_denied", "the control API answers loopback only")
            )
            return
        given = _header(scope, b"authorization") or ""
        scheme, _, credential = given.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            credential.strip().encode(), self.token
        ):
            await _answer(
                send,
                401,
                _error("invalid_token", "the control API needs the token of serve's token file"),
                [(b"www-authenticate", REALM.encode())],
            )
            return
        op = OPERATIONS.get(scope["path"][len(PREFIX) + 1 :])
        if op is None:
            await _answer(send, 404, _error("not_found", "no such control operation"))
            return
        if scope["method"] != op.method:
            await _answer(
                send,
                405,
                _error("invalid_request", f"{op.name} takes {op.method}"),
                [(b"allow", op.method.encode())],
            )
            return
        body = await _read_body(receive, MAX_BODY)
        try:
            if op.read_only:
                query = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
                raw: Any = {name: parse_value(op, name, value) for name, value in query}
            else:
                import json

                try:
                    raw = json.loads(body or b"{}")
                except ValueError:
                    raise UsageError("the body must be a JSON object") from None
            params = check_params(op, raw)
            result = await asyncio.to_thread(HANDLERS[op.name], self.ctx, self.backend, params)
        except UsageError as exc:
            await _answer(send, 400, _error("invalid_request", exc.message))
            return
        if not op.read_only:
            shown = " ".join(f"{k}={v!r}" for k, v in params.items())
            log.warning("control: %s%s", op.name, f" {shown}" if shown else "")
        await _answer(send, 200, result)

    # -- every other request

    async def _observe(self, scope: Any, receive: Any, send: Any) -> None:
        # The state unreachable (Redis down): the request goes on as if nothing were set
        # (the app answers its own 503 where it needs the state), and is not logged.
        document = await _unless_unavailable(self.backend.control_get, {})
        self.clock.offset = float(document.get("offset", 0.0))
        self.ctx.claim_overrides = document.get("claims") or {}
        rotated = document.get("keys")
        if rotated and rotated.get("generation") != self.ctx.key_generation:
            self._use_keys(rotated)
        endpoint = endpoint_of(scope["path"].rstrip("/") or "/") or endpoint_of(scope["path"])
        body, more = await _buffer(receive, MAX_BODY)
        request = requestlog.describe(scope, b"" if more else body, endpoint)
        fault = None
        if endpoint is not None and document.get("faults"):
            fault = await _unless_unavailable(
                fault_rules.take, None, self.backend, endpoint, request.client_id, request.user
            )
        replay = _replayer(body, more, receive)
        answer = requestlog.Answer()
        entry_fault = None if fault is None else fault_rules.summary(fault)
        try:
            if fault is not None:
                await fault_rules.apply(
                    fault,
                    self.ctx,
                    scope,
                    replay,
                    send,
                    answer,
                    self.app,
                    request,
                    None if more else _disconnected(receive),
                )
            else:
                await self.app(scope, replay, answer.watch(send))
        except fault_rules.DropConnection:
            answer.dropped = True
            raise
        finally:
            entry = requestlog.entry(request, answer, self.clock(), entry_fault)
            await _unless_unavailable(self.backend.log_append, None, entry, LOG_LIMIT)

    def _use_keys(self, rotated: dict[str, Any]) -> None:
        """The keys of the control document's latest rotation (loaded once per worker)."""
        from oauthcli import keys as keyfiles

        algorithm = self.original_key.algorithm

        def load(entry: dict[str, Any]) -> SigningKey:
            if entry.get("original"):
                return self.original_key
            material = str(entry["material"]).encode()
            if keyfiles.family_of(algorithm) == keyfiles.HMAC:
                return keyfiles.hmac_signing_key(material.strip(), algorithm)
            return SigningKey(algorithm, keyfiles.load_pem(material, "a rotated key"), entry["kid"])

        previous = [load(entry) for entry in rotated.get("previous", [])]
        self.ctx.use_keys(load(rotated["current"]), previous, int(rotated["generation"]))


async def _unless_unavailable(call: Callable[..., Any], default: Any, *args: Any) -> Any:
    """``call(*args)`` in a thread (it blocks on the state); ``default`` if the state is down."""
    try:
        return await asyncio.to_thread(call, *args)
    except StateUnavailable:
        return default


def _disconnected(receive: Any) -> Any:
    """Awaits the client leaving (the body was read whole: ``receive`` has nothing else)."""

    async def wait() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    return wait


def _header(scope: Any, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _error(code: str, description: str) -> dict[str, Any]:
    return {"error": code, "error_description": description}


async def _answer(
    send: Any, status: int, document: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json_bytes(document)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Any, limit: int) -> bytes:
    body, more = await _buffer(receive, limit)
    if more:
        raise UsageError("the body is too large")
    return body


async def _buffer(receive: Any, limit: int) -> tuple[bytes, bool]:
    """The request body up to about ``limit`` bytes, and whether more is still to come
    (what was read is replayed to the app, the rest then comes from ``receive``)."""
    chunks = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return bytes(chunks), False  # the client left: the app's receive says so next
        chunks.extend(message.get("body", b""))
        if not message.get("more_body", False):
            return bytes(chunks), False
        if len(chunks) > limit:
            return bytes(chunks), True


def _replayer(body: bytes, more: bool, receive: Any) -> Any:
    """``receive`` for the app: the buffered body first, then the rest of the real one."""
    pending = [body]

    async def replay() -> Any:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": more}
        return await receive()

    return replay
