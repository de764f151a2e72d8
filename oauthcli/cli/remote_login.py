"""Remote branch of ``oauthcli login`` and ``oauthcli refresh``: any OAuth2 token endpoint.

``tokens_cmd`` calls these whenever a token endpoint is involved (``login
--url``, ``refresh`` of a profile whose ``source`` is ``"remote"``). Nothing
here prints to stdout: the caller saves the returned ``CacheEntry`` in the
profile and prints it (``--print`` / ``--json`` / summary), so a failed login
caches nothing.

Order of checks in ``login_remote``: everything that can be refused without
the network (URL safety, option combinations, the client secret file) is
refused before the password is read, and the password is sent at most once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from oauthcli.cli.common import read_password
from oauthcli.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from oauthcli.cache import CacheEntry


def read_client_secret(client_secret_file: Path | None) -> str | None:
    """``--client-secret-file`` when given, else ``$OAUTHCLI_CLIENT_SECRET``, else None."""
    from oauthcli import settings

    if client_secret_file is None:
        return settings.env_client_secret()
    try:
        secret = client_secret_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(
            f"cannot read client secret file {client_secret_file}: {reason}"
        ) from None
    if not secret:
        raise ConfigError(f"client secret file {client_secret_file} is empty")
    return secret


def _needs_insecure_http(token_url: str) -> bool:
    """True when the URL is plain http to a host other than this machine."""
    from oauthcli.urls import is_loopback_host

    parts = urlsplit(token_url.strip())
    return parts.scheme.lower() == "http" and not is_loopback_host(parts.hostname or "")


def login_remote(
    *,
    token_url: str,
    username: str | None,
    scopes: list[str],
    password_stdin: bool,
    grant: str,
    client_id: str | None,
    client_secret_file: Path | None,
    client_auth: str,
    cacert: Path | None,
    timeout: float,
    insecure_http: bool,
) -> CacheEntry:
    """Run the password or client-credentials grant against ``token_url``; return the entry to cache."""
    from oauthcli import remote
    from oauthcli.cache import CacheEntry
    from oauthcli.credentials import check_header_safe
    from oauthcli.urls import origin_of

    # Refused before any prompt or connection: a password must not even be typed for these.
    remote.check_url_safe(token_url, insecure_http=insecure_http)
    token_url = token_url.strip()
    if timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    if grant == "client-credentials":
        if username:
            raise UsageError(
                "--grant client-credentials logs the client in, not a user: drop USERNAME"
            )
        if password_stdin:
            raise UsageError("--password-stdin does not apply to --grant client-credentials")
        if not client_id:
            raise UsageError("--grant client-credentials needs --client-id")
    elif grant != "password":
        raise UsageError(f"--grant must be 'password' or 'client-credentials', not {grant!r}")
    if client_secret_file is not None and not client_id:
        raise UsageError("--client-secret-file needs --client-id")
    if client_auth not in ("basic", "post"):
        raise UsageError(f"--client-auth must be 'basic' or 'post', not {client_auth!r}")
    # The secret belongs to a client: without --client-id, $OAUTHCLI_CLIENT_SECRET is not used.
    client_secret = read_client_secret(client_secret_file) if client_id else None
    if grant == "client-credentials" and client_secret is None:
        raise UsageError(
            "--grant client-credentials needs the client secret: "
            "set OAUTHCLI_CLIENT_SECRET or pass --client-secret-file"
        )
    scope_param = remote.scope_string(scopes)

    with remote.make_client(timeout, str(cacert) if cacert is not None else None) as client:
        if grant == "password":
            password = read_password(password_stdin)
            try:
                response = remote.password_grant(
                    client,
                    token_url,
                    username or "",
                    password,
                    scope_param or None,
                    client_id,
                    client_secret,
                    client_auth,  # type: ignore[arg-type]
                    insecure_http=insecure_http,
                )
            finally:
                del password
        else:
            assert client_id is not None and client_secret is not None
            response = remote.client_credentials_grant(
                client,
                token_url,
                client_id,
                client_secret,
                scope_param or None,
                client_auth,  # type: ignore[arg-type]
                insecure_http=insecure_http,
            )

    check_header_safe(response.access_token)
    now = int(time.time())
    # Remembered so that refresh and call keep working over the plain http the user accepted.
    allowed = [origin_of(token_url)] if insecure_http and _needs_insecure_http(token_url) else []
    return CacheEntry(
        access_token=response.access_token,
        token_type=response.token_type.lower(),
        expires_at=now + response.expires_in if response.expires_in is not None else None,
        # RFC 6749 5.1: no scope in the answer means the requested scope was granted.
        refresh_token=response.refresh_token,
        scope=response.scope if response.scope is not None else scope_param,
        source="remote",
        token_url=token_url,
        client_id=client_id,
        client_auth=client_auth if client_id else None,
        client_secret_file=(
            str(client_secret_file.resolve()) if client_secret_file is not None else None
        ),
        username=username if grant == "password" else None,
        allowed_origins=allowed,
        obtained_at=now,
    )


def refresh_entry(
    entry: CacheEntry,
    *,
    scopes: list[str] | None,
    cacert: Path | None,
    timeout: float,
) -> CacheEntry:
    """The refreshed entry, local or remote (rotation honoured); runs under the cache lock."""
    from oauthcli import credentials, remote

    cafile = str(cacert) if cacert is not None else None
    return credentials.refresh(
        entry, scopes=scopes, client_factory=lambda: remote.make_client(timeout, cafile)
    )
