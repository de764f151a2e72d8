"""Dynamic client registration: ``POST /register`` (RFC 7591), and ``GET``/``DELETE
/register/{client_id}`` with the registration access token (RFC 7592 2.1 and 2.3).

Off unless ``serve --registration open|token``: then discovery names
``registration_endpoint``. With ``token``, a request must carry the initial access token
(RFC 7591 3: ``Authorization: Bearer``), read at start-up from a 0600 file, never argv.
Registered clients are kept in the server state (``registered.REGISTERED`` records, every
worker and instance sees them), not in the TOML store, for ``--registration-ttl``; the
one client lookup (``ServerContext.find_client``/``with_registered``) finds them for
client authentication, ``/authorize``, the device flow and logout alike.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from oauthcli.server.context import ServerContext
from oauthcli.server.oauth import NO_STORE
from oauthcli.server.provider import digest
from oauthcli.server.registered import REGISTERED, InvalidMetadata, validate_metadata

log = logging.getLogger("oauthcli.server")

REGISTER_PATH = "/register"
MAX_METADATA_BYTES = 64 * 1024
MODES = ("open", "token")


def discovery_fields(ctx: ServerContext, base: str) -> dict[str, Any]:
    """``registration_endpoint`` (RFC 8414 2) when registration is on."""
    if ctx.provider.registration is None:
        return {}
    return {"registration_endpoint": base + REGISTER_PATH}


def _error(error: str, description: str, status: int = 400) -> JSONResponse:
    """RFC 7591 3.2.2 (and RFC 6750 3 for a refused bearer token)."""
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = f'Bearer error="{error}"'
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def _bearer(http: Request) -> str | None:
    scheme, _, token = http.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def _json_body(http: Request) -> Any:
    content_type = http.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise InvalidMetadata("invalid_client_metadata", "send the metadata as application/json")
    body = bytearray()
    async for chunk in http.stream():
        body.extend(chunk)
        if len(body) > MAX_METADATA_BYTES:
            raise InvalidMetadata("invalid_client_metadata", "the metadata is too large")
    try:
        return json.loads(body)
    except ValueError:
        raise InvalidMetadata("invalid_client_metadata", "the body is not JSON") from None


def _new_client(ctx: ServerContext, metadata: dict[str, Any], base: str) -> dict[str, Any]:
    """Blocking (the state): store the client; the RFC 7591 3.2.1 response."""
    from oauthcli.passwords import generate_secret, hash_generated_secret

    data = ctx.live.current()
    while True:
        client_id = "dyn-" + secrets.token_urlsafe(16)
        if client_id not in data.clients and client_id not in data.users:
            break
    issued = int(ctx.provider.clock())
    expires = issued + ctx.provider.registration_ttl
    access_token = secrets.token_urlsafe(32)
    record = {"client_id": client_id, "client_id_issued_at": issued, **metadata,
              "registration_token": digest(access_token)}  # fmt: skip
    answer: dict[str, Any] = {"client_id": client_id, "client_id_issued_at": issued}
    if metadata["token_endpoint_auth_method"] in ("client_secret_basic", "client_secret_post"):
        secret = generate_secret()
        record["hashed_secret"] = hash_generated_secret(secret)
        # 3.2.1: when the secret expires: with the registration (--registration-ttl).
        answer.update({"client_secret": secret, "client_secret_expires_at": expires})
    if not ctx.records.add(REGISTERED, client_id, record, ctx.provider.registration_ttl):
        raise RuntimeError("a new client id was taken")  # 128 random bits: never
    log.info("registered client %s (%s)", client_id, metadata["token_endpoint_auth_method"])
    return {
        **answer,
        "registration_access_token": access_token,
        "registration_client_uri": f"{base}{REGISTER_PATH}/{client_id}",
        **metadata,
    }


async def register(http: Request, ctx: ServerContext) -> Response:
    """RFC 7591 3.1: register a client; 201 with its id, secret and metadata."""
    if ctx.provider.registration == "token":
        given = _bearer(http)
        expected = ctx.provider.registration_token or ""
        if given is None or not expected or not secrets.compare_digest(given, expected):
            return _error("invalid_token", "an initial access token is required", 401)
    try:
        metadata = validate_metadata(await _json_body(http), ["openid", *ctx.live.scopes()])
    except InvalidMetadata as exc:
        return _error(exc.error, exc.description)
    answer = await run_in_threadpool(_new_client, ctx, metadata, ctx.public_base(http))
    return JSONResponse(answer, status_code=201, headers=NO_STORE)


def _authorized(ctx: ServerContext, http: Request, client_id: str) -> dict[str, Any] | None:
    """Blocking: the client's record when the request carries its registration access token."""
    token = _bearer(http)
    record = ctx.records.get(REGISTERED, client_id) if len(client_id) <= 128 else None
    if token is None or record is None:
        return None
    if not secrets.compare_digest(digest(token), str(record.get("registration_token", ""))):
        return None
    return record


_HIDDEN = ("registration_token", "hashed_secret")


async def read(http: Request, ctx: ServerContext, client_id: str) -> Response:
    """RFC 7592 2.1: the client's metadata (never its secret: it is kept hashed)."""
    record = await run_in_threadpool(_authorized, ctx, http, client_id)
    if record is None:
        return _error("invalid_token", "the registration access token is not valid", 401)
    shown = {k: v for k, v in record.items() if k not in _HIDDEN}
    shown["registration_client_uri"] = f"{ctx.public_base(http)}{REGISTER_PATH}/{client_id}"
    return JSONResponse(shown, headers=NO_STORE)


async def delete(http: Request, ctx: ServerContext, client_id: str) -> Response:
    """RFC 7592 2.3: forget the client; 204."""
    record = await run_in_threadpool(_authorized, ctx, http, client_id)
    if record is None:
        return _error("invalid_token", "the registration access token is not valid", 401)
    await run_in_threadpool(ctx.records.delete, REGISTERED, client_id)
    log.info("deleted registered client %s", client_id)
    return Response(status_code=204, headers=NO_STORE)


def install(app: FastAPI, ctx: ServerContext) -> None:
    """The registration routes, when ``--registration`` turned them on."""
    if ctx.provider.registration is None:
        return

    @app.post(REGISTER_PATH, tags=["registration"], status_code=201)
    async def registration_endpoint(request: Request) -> Response:
        """Dynamic client registration (RFC 7591)."""
        return await register(request, ctx)

    @app.get(REGISTER_PATH + "/{client_id}", tags=["registration"])
    async def read_registration(request: Request, client_id: str) -> Response:
        """The registered client's metadata (RFC 7592), with its registration access token."""
        return await read(request, ctx, client_id)

    @app.delete(REGISTER_PATH + "/{client_id}", tags=["registration"], status_code=204)
    async def delete_registration(request: Request, client_id: str) -> Response:
        """Forget the registered client (RFC 7592)."""
        return await delete(request, ctx, client_id)
