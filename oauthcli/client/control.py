"""Drive a running ``serve --control``: one call per operation of ``oauthcli.control``.

Used by ``oauthcli control`` and the pytest plugin's ``oauthcli_provider``. The token is
read from serve's token file (never argv); the server must be on a loopback address
(the API answers nothing else), so no proxy is ever used (``oauthcli.http``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oauthcli.control import check_params, find
from oauthcli.errors import (
    AuthenticationError,
    ConfigError,
    ExitCode,
    Reason,
    RemoteError,
    UsageError,
    exit_code_for_status,
)
from oauthcli.text import clean, is_header_safe
from oauthcli.urls import is_loopback_url

if TYPE_CHECKING:
    import httpx


def read_token_file(path: Path) -> str:
    """The control token from serve's 0600 token file."""
    from oauthcli.fileio import read_private

    try:
        token = read_private(path, "control token file").decode("utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(
            f"control token file {path} not found (is 'oauthcli serve --control' running?)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"cannot read control token file {path}: {reason}") from None
    if not token:
        raise ConfigError(f"control token file {path} is empty")
    if not is_header_safe(token):
        # it goes in an Authorization header: visible ASCII only (serve writes no other)
        raise ConfigError(f"control token file {path} does not hold a token (visible ASCII)")
    from oauthcli.client.secret import register

    return register(token)  # masked in --debug tracebacks as every secret read


class ControlClient:
    """``call(name, **params)`` on the control API at ``url`` (the server's base URL)."""

    def __init__(self, url: str, token: str, http: httpx.Client | None = None) -> None:
        if not is_loopback_url(url):
            raise UsageError(
                f"the control API is on loopback addresses only; {clean(url)} is not one"
            )
        from oauthcli.http import make_client

        self.url = url.rstrip("/")
        self._token = token
        self.http = http if http is not None else make_client(timeout=60.0)

    def close(self) -> None:
        self.http.close()

    def call(self, name: str, **params: Any) -> dict[str, Any]:
        """Run operation ``name``; its JSON answer. Errors raise ``OAuthCliError``s."""
        import httpx

        from oauthcli.http import transport_error

        op = find(name)
        checked = check_params(op, {k: v for k, v in params.items() if v is not None})
        url = self.url + op.path
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            if op.read_only:
                query = {k: _query_value(v) for k, v in checked.items()}
                response = self.http.get(url, params=query, headers=headers)
            else:
                response = self.http.post(url, json=checked, headers=headers)
        except httpx.RequestError as exc:
            raise transport_error(exc, url, self.http, [self._token]) from exc
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code == 200 and isinstance(answer, dict):
            return answer
        said = ""
        if isinstance(answer, dict) and isinstance(answer.get("error_description"), str):
            said = clean(answer["error_description"], 300, [self._token])
        if exit_code_for_status(response.status_code, refusals=(401,)) == ExitCode.AUTH:
            raise AuthenticationError(
                f"the control API at {self.url} refused the token (a token file of another "
                "serve, or of an earlier run?)",
                reason=Reason.STATUS_401,
            )
        if response.status_code == 400:
            raise UsageError(said or f"the control API refused {op.name}")
        if response.status_code == 404 and not said:
            raise RemoteError(
                f"{self.url} has no control API (start it with 'oauthcli serve --control')",
                reason=Reason.HTTP_STATUS,
            )
        raise RemoteError(
            f"the control API answered {response.status_code} to {op.name}"
            + (f": {said}" if said else ""),
            reason=Reason.HTTP_STATUS,
        )


def _query_value(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)
