"""The device authorization grant (RFC 8628): log in on another device, poll here.

``start`` asks the device authorization endpoint for a code; ``poll`` waits
``interval`` seconds (5 when the provider says nothing, 3.2), adds 5 s on
``slow_down`` (3.5), keeps going on ``authorization_pending``, and stops with an
``AuthenticationError`` on ``access_denied`` or ``expired_token`` (or when
``expires_in`` or ``timeout`` has passed on the injected clock): no wait runs past
that deadline, whatever ``interval`` the provider asks for. ``sleep`` and ``clock``
are injected so tests drive the wait without waiting. The verification URIs are
shown to a person to open: only http(s) URLs are accepted (``javascript:``, ``file:``
... are refused, RFC 8628 3.2 makes them URIs for a browser).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oauthcli.client.answer import clean, describe_body
from oauthcli.errors import AuthenticationError, Reason, RemoteError

if TYPE_CHECKING:
    import httpx

    from oauthcli.client.answer import TokenResponse
    from oauthcli.client.assertion import ClientAuthentication
    from oauthcli.client.dpop_key import DPoPSigner

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_INTERVAL = 5
SLOW_DOWN_STEP = 5


@dataclass(frozen=True)
class DeviceAuthorization:
    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int

    def instructions(self) -> str:
        """What to tell the person; the provider's text cleaned (URLs whole, never cut)."""
        from oauthcli.text import clean as clean_text

        code = clean(self.user_code)
        if self.verification_uri_complete:
            uri = clean_text(self.verification_uri_complete, limit=None)
            return f"To log in, open {uri} on any device (code {code})"
        uri = clean_text(self.verification_uri, limit=None)
        return f"To log in, open {uri} on any device and enter the code {code}"


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _positive_int(value: object, default: int | None) -> int | None:
    if value is None:
        return default
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 10**7:
        return int(value)
    return None


def start(
    http: httpx.Client,
    endpoint: str,
    auth: ClientAuthentication,
    *,
    scope: str,
    extra: Mapping[str, str | list[str]],
) -> DeviceAuthorization:
    """RFC 8628 3.1/3.2: the device and user codes."""
    from oauthcli.client import grants as remote
    from oauthcli.client.answer import interpret

    form: dict[str, str | list[str]] = {**extra}
    if scope:
        form["scope"] = scope
    headers = {"Accept": "application/json"}
    secrets = auth.apply(form, headers, endpoint)
    status, reason, body, content_type = remote.post_form(http, endpoint, form, headers, secrets)
    data = _json_object(body)
    if not 200 <= status < 300 or data is None or "error" in data:
        # the same wording as the token endpoint's errors (invalid_client, invalid_scope ...)
        interpret(status, reason, body, content_type, grant="device_code", secrets=secrets)
        raise RemoteError(
            f"the device authorization endpoint answered {status} with "
            f"{describe_body(body, content_type)}"
        )
    strings = {}
    for name in ("device_code", "user_code", "verification_uri"):
        value = data.get(name)
        if not isinstance(value, str) or not value:
            raise RemoteError(f"the device authorization answer has no {name}")
        strings[name] = value
    complete = data.get("verification_uri_complete")
    _check_verification_uri(strings["verification_uri"], "verification_uri")
    if isinstance(complete, str) and complete:
        _check_verification_uri(complete, "verification_uri_complete")
    expires_in = _positive_int(data.get("expires_in"), None)
    interval = _positive_int(data.get("interval"), DEFAULT_INTERVAL)
    if expires_in is None or interval is None:
        raise RemoteError("the device authorization answer has no usable expires_in / interval")
    return DeviceAuthorization(
        device_code=strings["device_code"],
        user_code=strings["user_code"],
        verification_uri=strings["verification_uri"],
        verification_uri_complete=complete if isinstance(complete, str) and complete else None,
        expires_in=expires_in,
        interval=interval,
    )


def _check_verification_uri(uri: str, member: str) -> None:
    """Where the person is sent: an http(s) URL with a host, no credentials (else exit 6)."""
    from oauthcli.client.policy import check_url_safe
    from oauthcli.errors import UsageError

    try:
        # http too: it is the person's browser that goes there, and no secret goes with it
        check_url_safe(uri, insecure_http=True)
    except UsageError as exc:
        raise RemoteError(
            f"the device authorization answer's {member} is refused: {exc}",
            reason=Reason.BAD_ANSWER,
        ) from None


_STOPS = {
    "access_denied": "the login was denied on the device",
    "expired_token": "the device code expired before the login was approved: run login again",
}


def poll(
    http: httpx.Client,
    token_endpoint: str,
    auth: ClientAuthentication,
    device: DeviceAuthorization,
    *,
    extra: Mapping[str, str | list[str]] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    timeout: float | None = None,
    waiting: Callable[[float, str], None] | None = None,
    dpop: DPoPSigner | None = None,
) -> TokenResponse:
    """Poll the token endpoint until the user approves, denies, or the code expires; with
    ``dpop`` each poll carries a proof (RFC 9449 5: every token request)."""
    from oauthcli.client import grants as remote
    from oauthcli.client.answer import interpret
    from oauthcli.client.authcode import token_resource

    interval = device.interval
    limit = device.expires_in if timeout is None else min(device.expires_in, timeout)
    deadline = clock() + limit
    said = "waiting for approval"  # what is shown beside the time left
    while True:
        # never past the deadline: a provider asking for interval 100000 must not hang us;
        # the wait is said second by second when someone is watching
        pause = max(0.0, min(interval, deadline - clock()))
        if waiting is None:
            sleep(pause)
        while waiting is not None and pause > 0:  # counted down, not read off the clock
            waiting(deadline - clock(), said)
            step = min(1.0, pause)
            sleep(step)
            pause -= step
        if clock() >= deadline:
            raise AuthenticationError(
                f"the login was not approved within {limit:g} s: run login again"
            )
        form: dict[str, str | list[str]] = {
            "grant_type": GRANT_TYPE,
            "device_code": device.device_code,
        }
        form.update(token_resource(extra or {}))
        headers = {"Accept": "application/json"}
        secrets = (device.device_code, *auth.apply(form, headers, token_endpoint))
        status, reason, body, content_type = remote.post_form(
            http, token_endpoint, form, headers, secrets, dpop
        )
        data = _json_object(body)
        code = data.get("error") if data is not None and status >= 400 else None
        if code == "authorization_pending":
            said = "not approved yet"
            continue
        if code == "slow_down":
            interval += SLOW_DOWN_STEP
            said = f"asked to slow down: polling every {interval:g} s"
            continue
        if code in _STOPS:
            described = data.get("error_description") if data else None
            text = _STOPS[str(code)]
            if isinstance(described, str) and described.strip() and code == "access_denied":
                text += f" ({clean(described, secrets)})"
            raise AuthenticationError(text)
        return interpret(
            status, reason, body, content_type, grant="device_code", secrets=secrets,
            dpop=dpop is not None,
        )  # fmt: skip
