"""The device_code grant (RFC 8628 3.4/3.5): polling for a code approved at ``/device``."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from oauthcli.server.client_auth import Policy
from oauthcli.server.context import ServerContext
from oauthcli.server.device import remaining
from oauthcli.server.grants.base import Grant, invalid_grant, required
from oauthcli.server.grants.issue import issue_tokens
from oauthcli.server.oauth import Form, OAuthError, invalid_request, target_audience
from oauthcli.server.provider import DEVICE, DEVICE_GRANT, digest
from oauthcli.store import Client

SLOW_DOWN_STEP = 5  # RFC 8628 3.5: the interval grows by 5 seconds


async def handle(
    request: Request, ctx: ServerContext, form: Form, client: Client | None
) -> dict[str, Any]:
    """RFC 8628 3.4/3.5: pending, slow_down, denied, expired, or the tokens (once)."""
    client = required(client)
    device_code = form.get("device_code")
    if device_code is None:
        raise invalid_request("the device_code grant needs device_code")
    key = digest(device_code)
    record = await run_in_threadpool(ctx.records.get, DEVICE, key)
    if record is None or record["client_id"] != client.client_id:
        raise invalid_grant("device code is invalid")
    now = ctx.provider.clock()
    if now >= float(record["expires_at"]):
        await run_in_threadpool(ctx.records.delete, DEVICE, key)
        raise OAuthError("expired_token", "the device code has expired; start again")
    status = record["status"]
    if status == "denied":
        await run_in_threadpool(ctx.records.delete, DEVICE, key)
        raise OAuthError("access_denied", "the user denied the request")
    if status == "pending":
        last, interval = record.get("last_poll"), int(record["interval"])
        record["last_poll"] = now
        too_fast = last is not None and now - float(last) < interval
        if too_fast:
            record["interval"] = interval + SLOW_DOWN_STEP
        await run_in_threadpool(ctx.records.replace, DEVICE, key, record, remaining(record, now))
        if too_fast:
            raise OAuthError(
                "slow_down", f"polling too fast; wait {record['interval']} s between requests"
            )
        raise OAuthError("authorization_pending", "the user has not finished yet")
    # RFC 8707 2.2: resource here narrows what the device authorization asked for.
    aud = target_audience(ctx.settings, form, list(record.get("resources") or []))
    if (
        await run_in_threadpool(ctx.records.take, DEVICE, key) is None
    ):  # another poll redeemed it just now
        raise invalid_grant("device code is invalid")
    body, _ = await issue_tokens(
        request, ctx, client, record["sub"], record["scopes"], record["auth_time"], None,
        audience=aud,
    )  # fmt: skip
    return body


GRANT = Grant(DEVICE_GRANT, Policy.CLIENT, handle)
